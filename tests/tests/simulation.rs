//! The seeded whole-cluster simulation (`cluster::sim`) as a suite: a CI budget of seeds
//! with every invariant held, replay (the same seed gives the same trace), and a quiet
//! cluster converging without faults. A seed that breaks an invariant fails with its seed
//! and its trace; once understood it becomes a pinned test here.

use std::collections::BTreeSet;

use cluster::sim::services::SeedShare;
use cluster::sim::{run_seed, run_seeds, FaultKinds, SimConfig};

/// Seeds per CI run (`SIM_SEEDS` overrides it).
const CI_SEEDS: u64 = 1000;

/// Seeds (of the default, single-master shape) that found a bug not fixed yet: each gets
/// its own test asserting the seed still breaks (so it stays a reproducer, and fails once
/// the bug is fixed: then it is pinned as passing and leaves this list); they are left out
/// of the budget so the budget guards everything else. (None now.)
const KNOWN_BAD: &[u64] = &[];

/// Seeds 3-master runs: cheaper per seed than one master (about 1.8x the CPU), so fewer
/// (`SIM_ZK_SEEDS` overrides it).
const CI_ZK_SEEDS: u64 = 250;

/// Known-bad seeds of the 3-master shape (see their pinned tests).
const KNOWN_BAD_ZK: &[u64] = &[];

/// Seeds of the 3-master shape with ZooKeeper faults on the followers' sessions too
/// (`chaos --zk-followers`) per CI run (`SIM_ZK_FOLLOWER_SEEDS` overrides it).
const CI_ZK_FOLLOWER_SEEDS: u64 = 100;

/// Known-bad seeds of the `--zk-followers` shape within its budget (none now; seed 245,
/// beyond it, breaks with the "TASK_RUNNING after TASK_LOST" bug of seed 101).
const KNOWN_BAD_ZK_FOLLOWERS: &[u64] = &[];

fn three_masters() -> SimConfig {
    SimConfig {
        masters: 3,
        ..SimConfig::default()
    }
}

/// `config` without the fault kinds added since the pinned seeds were found
/// (`SimConfig::fault_kinds`): a pinned seed replays the run it was found in.
fn pinned(config: SimConfig) -> SimConfig {
    SimConfig {
        fault_kinds: FaultKinds::Stop25,
        ..config
    }
}

/// The shape the pinned seeds below were found in (before the simulation had ZooKeeper
/// and 3 masters): one standalone master. A seed's schedule depends on the shape, so they
/// stay pinned in it.
fn single_master() -> SimConfig {
    pinned(SimConfig {
        masters: 1,
        marathon_chronos: SeedShare::None,
        ..SimConfig::default()
    })
}

/// The shape the Marathon and Chronos seeds were found in: one standalone master, and
/// Marathon and Chronos in every seed.
fn with_marathon_and_chronos() -> SimConfig {
    pinned(SimConfig {
        masters: 1,
        marathon_chronos: SeedShare::All,
        ..SimConfig::default()
    })
}

/// The fault kinds seeds 27, 137 and 759 were found with (per-node wall clocks, before the
/// later kinds), on the branch that added them: other code changed since reshapes their runs
/// too, so each fix also has a unit test.
fn with_clock_steps(config: SimConfig) -> SimConfig {
    SimConfig {
        fault_kinds: FaultKinds::WallClockSteps,
        ..config
    }
}

/// Found once wall clocks were per node, by the schedule that change made (no clock step
/// matters: with every step made a no-op it breaks the same): the scheduler was wedged for
/// good. The standalone master held the framework as disconnected (its side of the link
/// to the scheduler broke) while the driver's side never did, so the driver, connected in
/// its own eyes, never re-registered; the master ignored each of its calls ("not from the
/// framework's connected scheduler") and sent it nothing. The master now answers a call
/// from a disconnected framework's own PID with `FrameworkErrorMessage("Framework
/// disconnected")`, as Mesos does, and the driver re-registers on it (Mesos's aborts)
/// (unit tests `a_call_from_a_disconnected_frameworks_scheduler_is_answered_with_an_error`
/// and `framework_disconnected_error_makes_the_driver_reregister`).
#[test]
fn pinned_seed_759_a_scheduler_the_master_holds_as_disconnected_is_told() {
    let r = run_seed(759, &with_clock_steps(SimConfig::default()));
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

fn assert_seed_passes(seed: u64) {
    let r = run_seed(seed, &single_master());
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found by the chaos run: a standalone master crashes and comes back on the same PID; a
/// `FrameworkReregisteredMessage` the dead incarnation sent (held up on the network) reached
/// the scheduler after it saw the link break and asked the new incarnation (still
/// recovering: it dropped the request) to re-register. The driver took the stale reply as
/// the answer, stopped retrying and believed it was connected, while the new master never
/// heard from it: no offers, no updates, for good. After a link break the driver now takes
/// such a reply only provisionally and re-registers until a reply confirms it (see
/// `frameworks::scheduler::registration`).
#[test]
fn pinned_seed_244_stale_reregistration_reply_from_a_dead_master() {
    assert_seed_passes(244);
}

/// The same wedge as seed 244, reached another way (see there).
#[test]
fn pinned_seed_436_stale_reregistration_reply_from_a_dead_master() {
    assert_seed_passes(436);
}

/// Found once the registry disk could fail: the master gives up leading on a failed
/// registry write and is restarted (on the same PID) while the scheduler is connected. The
/// scheduler driver never sees its link break (no `disconnected` after its one
/// re-registration), stays "connected" to a master incarnation that is gone, and the new
/// master knows the framework only from its agents (`pid=None connected=false`): it ignores
/// the driver's reconciliations; no offers, for good. Not the stale-reply wedge of seed 244
/// (no reply was taken provisionally): the link's exit was not reported. Suspects: a link
/// made while the master's node was down (the driver re-links on every retry) not watching
/// the connection that later carried the re-registration, or the window in which the
/// stopped master's node still accepts connections. Since the simulation gained its offer
/// and acknowledgement checks and its acting-leader sampler, this seed's schedule no longer
/// reaches that state, and it passes; whether the missed exit itself is fixed is not
/// established (no other seed of the budget reaches it now). Kept as a passing seed.
#[test]
fn pinned_seed_385_a_driver_misses_the_exit_of_a_master_that_stopped_itself() {
    assert_seed_passes(385);
}

/// Found after the 3-master, acknowledgement and offer checks were merged (the schedules
/// changed): a new leader marks agent 1 unreachable (it did not re-register in time) and
/// answers the framework's reconciliation of i1-a2 there with `TASK_LOST`. Agent 1 comes
/// back; i1-a2 has ended meanwhile (its executor crashed) but agent 1 still holds its
/// unacknowledged `TASK_RUNNING`, so it reports the task ended with that update at the
/// head of its stream. The master killed only *live* tasks the framework was told are
/// lost and adopted this one, then forwarded the `TASK_RUNNING`: `TASK_RUNNING` after
/// `TASK_LOST`. Now a task its framework was told is lost is never adopted, ended or not,
/// and its updates are acknowledged by the master, not forwarded (unit test
/// `updates_saying_a_task_reconciled_as_lost_lives_never_reach_the_framework`).
#[test]
fn pinned_seed_536_running_after_a_reconciliation_said_lost() {
    assert_seed_passes(536);
}

/// Found once checkpoint and registry writes could fail: an agent kept stopping (failed
/// checkpoints) and was removed as unreachable; the framework was told `TASK_LOST` for its
/// four tasks. When the agent came back the master killed the three still live (i0, i1,
/// i3) and adopted i2-a1, which had ended meanwhile but whose `TASK_RUNNING` the agent
/// still held unacknowledged; the agent then re-sent the pending `TASK_RUNNING` of i2-a1
/// (adopted) and of i3-a1 (killed, so unknown to the master, which forwarded updates of
/// unknown tasks as they came): `TASK_RUNNING` after `TASK_LOST` for both. Not the
/// registry (the suspect first noted): the same cause as seed 536, fixed with it; the
/// unit test is `updates_saying_a_task_reconciled_as_lost_lives_never_reach_the_framework`.
#[test]
fn pinned_seed_397_running_after_lost_when_the_agent_came_back() {
    assert_seed_passes(397);
}

fn run_three_masters(seed: u64) -> cluster::sim::SimReport {
    run_seed(seed, &pinned(three_masters()))
}

/// Found by the 3-master chaos run (seed 71 first; after later merges changed the
/// schedules, 71 stopped reaching it and seed 100 reproduced it — 100 fails without the
/// fix, 71 is kept as a passing seed): a
/// leader whose ZooKeeper lease lapsed for a moment (it acts on nothing until the session
/// is back) dropped the allocator's offers; the allocator still counted those resources as
/// offered, so the leader, its agents connected and its framework active, never offered
/// them again. The master now holds the allocator's offers until its lease is renewed
/// (`MasterProcess::when_acting`); the core gives back whatever went stale meanwhile.
#[test]
fn pinned_seed_71_offers_made_while_the_lease_lapsed_are_not_lost() {
    let r = run_three_masters(71);
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// The same bug as seed 71, reached after a scheduler's re-registration to confirm a
/// provisional reply (see there).
#[test]
fn pinned_seed_100_offers_made_while_the_lease_lapsed_are_not_lost() {
    let r = run_three_masters(100);
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found by the 3-master chaos run once wall clocks were per node (its schedule changed;
/// Chronos's clock never stepped here): Chronos wedged "reconciling" for good. After a link
/// break its driver took a re-registration reply provisionally (it may have been stale) and
/// started the implicit reconciliation at once; the master, which counted the framework as
/// disconnected until the confirming re-registration, ignored it, and the confirmation did
/// not send it again: Chronos waited for the answer and launched nothing. The driver now
/// reconciles again once a provisional connection is confirmed (unit test
/// `a_confirmed_provisional_connection_reconciles_again`).
#[test]
fn pinned_seed_137_chronos_reconciles_again_after_a_provisional_reregistration() {
    let r = run_seed(137, &with_clock_steps(three_masters()));
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found by the 3-master chaos run: the framework is sent `TASK_RUNNING` for a task it was
/// already told was `TASK_LOST`. Root cause: the stale launch of seeds 113, 233, 665 (see
/// there): the master launched the task, then, answering the agent's re-registration on a
/// fresh connection, asked about it while it was still `TASK_STAGING`; the question
/// overtook the `RunTaskMessage` on the replaced connection, the agent answered that it
/// never got the task, then the launch arrived and ran. The agent now refuses a launch of
/// a task it has reported lost (unit test
/// `a_launch_arriving_after_the_agent_reported_the_task_lost_is_refused`); and the master,
/// a second guard, holds back an update saying a task it holds as ended lives,
/// acknowledges it, kills the task and records the kill in the registry, so a next leader
/// kills it too (unit test
/// `an_update_saying_an_ended_task_lives_is_not_forwarded_and_the_task_is_killed`).
#[test]
fn pinned_seed_101_a_stale_launch_after_the_task_was_reported_lost_with_three_masters() {
    let r = run_three_masters(101);
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found by the 3-master chaos run: 400 s after faults stopped an agent still ran an
/// older attempt of a task the framework replaced and the master no longer listed. The
/// task came back with its agent after its framework was told `TASK_LOST`; the master
/// killed it, the link broke and the kill was lost; the agent re-registered and the
/// master killed it again, but sent that kill before relinking to the agent, on the
/// connection the relink replaced, and it was lost too; the agent, answered, never
/// re-registered again. The master now relinks first, as Mesos does (unit test
/// `a_reregistering_agent_is_relinked_before_it_is_told_anything`).
#[test]
fn pinned_seed_243_an_agent_keeps_running_a_replaced_task() {
    let r = run_three_masters(243);
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found by running Marathon and Chronos in the simulation (before seed 244's fix): a
/// standalone master comes back on the same PID and a framework's driver believes it is
/// registered while the master does not count it as connected; Marathon's or Chronos's
/// reconciliation was ignored ("not from the framework's connected scheduler"): Chronos
/// stayed in its reconciling state and launched nothing (609), Marathon's tasks were
/// unknown to the master (785, 969). Fixed with seed 244's family; they stay pinned.
#[test]
fn pinned_seeds_609_785_969_marathon_and_chronos_wedged_after_a_master_restart() {
    for seed in [609, 785, 969] {
        let r = run_seed(seed, &with_marathon_and_chronos());
        assert!(r.breaks.is_empty(), "{}", r.explain());
    }
}

/// Found by running Chronos in the simulation: the master asks an agent about a task whose
/// `RunTaskMessage` is still in flight on a connection the master no longer uses (it
/// re-linked to the agent when the agent re-registered, seed 113; or it crashed and came
/// back on the same PID); the question, sent on the new connection, overtakes the launch;
/// the agent answers it never got the task (`TASK_LOST`), Chronos retries the instant as
/// the next attempt, and then the stale launch arrived and the agent ran the earlier
/// attempt too: the instant ran twice. The agent now remembers the tasks it reported it
/// never got and refuses (reports lost again) a launch of one that arrives afterwards
/// (`slave::agent::core::reported_lost`, unit test
/// `a_launch_arriving_after_the_agent_reported_the_task_lost_is_refused`).
#[test]
fn pinned_seeds_113_233_665_a_stale_launch_after_the_task_was_reported_lost_is_refused() {
    for seed in [113, 233, 665] {
        let r = run_seed(seed, &with_marathon_and_chronos());
        assert!(r.breaks.is_empty(), "{}", r.explain());
    }
}

/// The 3-master shape with ZooKeeper faults on the agents' and the scheduler's sessions
/// too (`chaos --zk-followers`), which the CI budgets do not run.
/// Found by the 3-master chaos run with Marathon and Chronos once the master answered a
/// disconnected framework's calls with an error (which changed the schedule): offers on an
/// agent beyond its total. The agent re-registered on a fresh connection without a task
/// whose `RunTaskMessage` was still on the older one; the master answered `TASK_LOST` and
/// the allocator got the resources back. The launch then arrived, the agent ran the task
/// and reported it at its next re-registration, and the master adopted it: used in the
/// master's books, free in the allocator's, which offered them. Such a task is now killed
/// and recorded with the agent's kills of lost tasks, not adopted (unit test
/// `a_task_reported_by_a_reregistering_agent_after_it_ended_there_is_killed_not_adopted`).
#[test]
fn pinned_seed_27_a_task_lost_then_reported_by_its_agent_is_not_adopted() {
    let config = SimConfig {
        marathon_chronos: SeedShare::All,
        ..three_masters()
    };
    let r = run_seed(27, &with_clock_steps(config));
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

fn three_masters_zk_followers() -> SimConfig {
    SimConfig {
        zk_faults_on_followers: true,
        ..three_masters()
    }
}

/// Guards the detector's wait on a reconnection (the "wedged after a reconnect" bug):
/// with `docs/chaos-bugs/zk-wedged-after-reconnect.patch` applied, the scheduler's
/// request cut in flight at 93 s leaves its detector waiting for good, and the cluster
/// never converges. Passes on the real code.
#[test]
fn pinned_seed_51_zk_followers_a_detector_comes_back_after_a_request_cut_in_flight() {
    let r = run_seed(51, &pinned(three_masters_zk_followers()));
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found with ZooKeeper faults on the followers' sessions: an offer stayed outstanding
/// 20 s after convergence. Chronos declined it while the leader's ZooKeeper lease was
/// suspended, and the leader dropped the DECLINE (a scheduler never repeats one). A
/// leader with a suspended lease now keeps leader messages for when the lease is renewed
/// (unit test `a_leader_keeps_messages_while_its_lease_is_suspended`).
#[test]
fn pinned_seed_193_zk_followers_a_decline_during_a_suspended_lease_is_not_lost() {
    let r = run_seed(193, &pinned(three_masters_zk_followers()));
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found with ZooKeeper faults on the followers' sessions: `TASK_RUNNING` after
/// `TASK_LOST`, the cause of seeds 397 and 536 (a task its framework was reconciled as
/// lost came back with a pending `TASK_RUNNING`). Passes since their fix.
#[test]
fn pinned_seed_245_zk_followers_running_after_lost() {
    let r = run_seed(245, &pinned(three_masters_zk_followers()));
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found with ZooKeeper faults on the followers' sessions: an agent ran a Marathon task
/// Marathon did not know 400 s after faults stopped: seed 243's bug (a kill sent to a
/// re-registering agent before the relink was lost).
#[test]
fn pinned_seed_201_zk_followers_an_unknown_marathon_task_is_killed() {
    let r = run_seed(201, &pinned(three_masters_zk_followers()));
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found by the follower-lag fault (`zk_stale_reads`) with the registry store's sync
/// removed: master 2, elected while its new registry session was on a lagging follower,
/// read an old manifest; its first store rewrote the chunks of the current generation,
/// then failed its switch on the manifest's version, and every master after it found the
/// registry corrupt ("expected 787 bytes, read 750"): none led again. The store now syncs
/// before reading the manifest (unit tests
/// `a_load_on_a_lagging_follower_returns_another_sessions_latest_store` and
/// `a_store_on_a_lagging_follower_keeps_the_current_generation_intact`). Every fault kind:
/// it needs the lag fault.
#[test]
fn pinned_seed_10_a_registry_read_from_a_lagging_follower_is_synced_first() {
    let r = run_seed(10, &three_masters());
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found by the slow Chronos store (`chronos_store_slow`): Chronos sends a matched run's
/// launch only once its record is durable, and its store took seconds per write. Chronos
/// re-registered meanwhile and reconciled its runs in flight, among them
/// `ct:1800000030000:0:tick:s1`, whose launch had not gone out; the master, which had
/// never seen it, answered `TASK_LOST` ("Reconciliation: Task is unknown to the agent";
/// `TASK_GONE` to a partition-aware Chronos), Chronos retried the instant as lost, and
/// the launch of attempt 0 went out all the same: the instant ran twice. Chronos no longer
/// reconciles a run whose launch has not gone out (`Chronos::in_flight` skips the ones
/// not `Chronos::sent` yet; unit test `a_run_whose_launch_has_not_gone_out_is_not_reconciled`).
/// Every fault kind: it needs the slow store.
#[test]
fn pinned_seed_175_chronos_never_reconciles_a_run_whose_launch_has_not_gone_out() {
    let config = SimConfig {
        masters: 1,
        marathon_chronos: SeedShare::All,
        ..SimConfig::default()
    };
    let r = run_seed(175, &config);
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Fails on the budget's failing seeds. A seed replays exactly (`sim_determinism.rs`), so
/// a seed that breaks once breaks on every replay: no second chance.
/// The fault names the wall-clock kinds added to stop 25's ([`FaultKinds::WallClockSteps`]).
const ADDED_BY_WALL_CLOCK_STEPS: &[&str] = &["wall_clock_step_back", "wall_clock_step_forward"];

/// The fault names the kinds after those added ([`FaultKinds::All`]).
const ADDED_BY_ALL: &[&str] = &[
    "checkpoint_disk_slow",
    "zk_slow",
    "pause_master",
    "pause_agent",
    "pause_scheduler",
    "pause_executors",
    "zk_stale_reads",
    "chronos_store_slow",
];

/// A pinned seed replays the run it was found in only while its set of fault kinds draws
/// nothing added later: each set is checked on 20 3-master seeds (the shape with
/// every kind), and every set's additions are seen drawn, so the names stay the
/// simulation's.
#[test]
fn a_set_of_fault_kinds_draws_no_kind_added_after_it() {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let drawn = |kinds: FaultKinds| -> BTreeSet<String> {
        let config = SimConfig {
            fault_kinds: kinds,
            ..three_masters()
        };
        run_seeds(0..20, &config, workers)
            .into_iter()
            .flat_map(|r| r.faults.into_iter().filter(|(_, n)| *n > 0).map(|(k, _)| k))
            .collect()
    };
    let later = |names: &[&str], set: &BTreeSet<String>| -> Vec<String> {
        names
            .iter()
            .filter(|k| set.contains(**k))
            .map(|k| k.to_string())
            .collect()
    };

    let all = drawn(FaultKinds::All);
    for k in ADDED_BY_WALL_CLOCK_STEPS.iter().chain(ADDED_BY_ALL) {
        assert!(all.contains(*k), "every kind drew no {k}: {all:?}");
    }
    let steps = drawn(FaultKinds::WallClockSteps);
    assert!(
        !later(ADDED_BY_WALL_CLOCK_STEPS, &steps).is_empty(),
        "wall-clock-steps drew no clock step: {steps:?}"
    );
    assert_eq!(later(ADDED_BY_ALL, &steps), Vec::<String>::new());
    let stop25 = drawn(FaultKinds::Stop25);
    assert_eq!(
        later(ADDED_BY_WALL_CLOCK_STEPS, &stop25),
        Vec::<String>::new()
    );
    assert_eq!(later(ADDED_BY_ALL, &stop25), Vec::<String>::new());
    assert!(
        stop25.contains("clock_jump"),
        "stop25 drew no clock fault: {stop25:?}"
    );
}

fn fail_on_breaks(reports: &[cluster::sim::SimReport]) {
    let failing: Vec<&cluster::sim::SimReport> =
        reports.iter().filter(|r| !r.breaks.is_empty()).collect();
    if let Some(first) = failing.first() {
        let seeds: Vec<u64> = failing.iter().map(|r| r.seed).collect();
        panic!(
            "{} seeds failed: {seeds:?}\n{}",
            failing.len(),
            first.explain()
        );
    }
}

#[test]
fn a_ci_budget_of_seeds_keeps_every_invariant() {
    let n = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_SEEDS);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut reports = run_seeds(0..n, &SimConfig::default(), workers);
    assert_eq!(reports.len() as u64, n);
    reports.retain(|r| !KNOWN_BAD.contains(&r.seed));
    let faults: u64 = reports.iter().flat_map(|r| r.faults.values()).sum();
    assert!(
        faults > n,
        "the seeds injected faults ({faults} in {n} seeds)"
    );
    fail_on_breaks(&reports);
}

/// The 3-master shape (ZooKeeper model, leader election, ZooKeeper faults): every
/// invariant, "at most one acting leader" included, over its own budget of seeds.
#[test]
fn a_ci_budget_of_three_master_seeds_keeps_every_invariant() {
    let n = std::env::var("SIM_ZK_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_ZK_SEEDS);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut reports = run_seeds(0..n, &three_masters(), workers);
    assert_eq!(reports.len() as u64, n);
    reports.retain(|r| !KNOWN_BAD_ZK.contains(&r.seed));
    let zk_faults: u64 = reports
        .iter()
        .flat_map(|r| r.faults.iter())
        .filter(|(k, _)| k.starts_with("zk_"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        zk_faults > n / 4,
        "the seeds injected ZooKeeper faults ({zk_faults} in {n} seeds)"
    );
    fail_on_breaks(&reports);
}

/// The `--zk-followers` shape (ZooKeeper faults on the agents', the schedulers' and
/// Marathon's and Chronos's sessions too): every invariant over its own budget of seeds.
#[test]
fn a_ci_budget_of_zk_follower_seeds_keeps_every_invariant() {
    let n = std::env::var("SIM_ZK_FOLLOWER_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_ZK_FOLLOWER_SEEDS);
    let config = three_masters_zk_followers();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut reports = run_seeds(0..n, &config, workers);
    assert_eq!(reports.len() as u64, n);
    reports.retain(|r| !KNOWN_BAD_ZK_FOLLOWERS.contains(&r.seed));
    let follower_faults: u64 = reports
        .iter()
        .flat_map(|r| r.faults.iter())
        .filter(|(k, _)| k.starts_with("zk_") && k.ends_with("_follower"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        follower_faults > n / 4,
        "the seeds injected ZooKeeper faults on followers ({follower_faults} in {n} seeds)"
    );
    fail_on_breaks(&reports);
}

#[test]
fn the_same_seed_replays_the_same_trace() {
    let config = SimConfig::default();
    let a = run_seed(7, &config);
    let b = run_seed(7, &config);
    assert!(a.trace.len() > 20, "a run with faults: {:?}", a.trace);
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.faults, b.faults);
    assert_eq!(a.simulated, b.simulated);
    let c = run_seed(8, &config);
    assert_ne!(a.trace, c.trace, "another seed, another schedule");
}

#[test]
fn without_faults_the_cluster_converges_with_every_intent_running() {
    let config = SimConfig {
        faults: false,
        marathon_chronos: SeedShare::None,
        ..SimConfig::default()
    };
    let r = run_seed(1, &config);
    assert!(r.breaks.is_empty(), "{}", r.explain());
    assert!(r.faults.values().all(|n| *n == 0), "{:?}", r.faults);
    assert!(
        r.trace.iter().any(|l| l.ends_with("converged")),
        "{:?}",
        r.trace
    );
    assert!(
        r.simulated < std::time::Duration::from_secs(60),
        "{:?}",
        r.simulated
    );
}

/// Found by the chaos run: the framework is told `TASK_LOST` for its tasks (their agent
/// was unreachable) and relaunches them; the agent comes back and the master kills the
/// lost tasks, but the kill does not land (dropped, or the agent restarts) before the
/// master fails over. Re-admission had erased the agent's unreachable entry, so the new
/// leader adopted the tasks as running. The kills are now in the registry until the
/// agent stops reporting the tasks. Seeds 323, 370, 437, 600, 875 and 912 broke the same
/// way and are back in the budget.
#[test]
fn pinned_seed_312_lost_tasks_come_back_running() {
    assert_seed_passes(312);
}

/// Found by the chaos run: an `AcceptOffersMessage` delivered twice (the simulated network
/// duplicates frames) made the master answer the second copy, whose offer is used up,
/// with `TASK_ERROR` for task ids that the first copy launched and that now run: the
/// framework was told a running task failed. The master no longer sends `TASK_ERROR` for
/// a task id the framework already has.
#[test]
fn pinned_seed_210_a_duplicated_accept_reports_running_tasks_as_errors() {
    assert_seed_passes(210);
}

/// Marathon and Chronos beside the Keeper, no faults: every app's instances run in
/// Marathon's, the master's and the agents' eyes, and Chronos runs its job's instants (none
/// missed, each once).
#[test]
fn without_faults_marathon_and_chronos_converge_and_run_every_instant() {
    let config = SimConfig {
        faults: false,
        marathon_chronos: SeedShare::All,
        ..SimConfig::default()
    };
    let r = run_seed(2, &config);
    assert!(r.breaks.is_empty(), "{}", r.explain());
    assert!(
        r.trace.iter().any(|l| l.ends_with("marathon converged")),
        "{:?}",
        r.trace
    );
    let settled = r
        .trace
        .iter()
        .find(|l| l.contains("chronos settled"))
        .unwrap_or_else(|| panic!("chronos never settled: {:?}", r.trace));
    assert!(settled.ends_with(", 0 missed"), "{settled}");
}

/// A seed with Marathon and Chronos replays the same trace: their clocks are the simulated
/// one, their ids seeded.
#[test]
fn a_seed_with_marathon_and_chronos_replays_the_same_trace() {
    let config = SimConfig {
        marathon_chronos: SeedShare::All,
        ..SimConfig::default()
    };
    let a = run_seed(9, &config);
    let b = run_seed(9, &config);
    assert!(
        a.faults.contains_key("crash_marathon")
            || a.faults.contains_key("crash_chronos")
            || a.faults.contains_key("partition_service"),
        "{:?}",
        a.faults
    );
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.simulated, b.simulated);
}

/// Found by the chaos run once checkpoint writes could fail: the agent logged a failed
/// checkpoint of a status update and ran on; after a crash it recovered from a checkpoint
/// lagging what it had done, and a task the master had killed came back running on it for
/// good. A failed checkpoint write now stops the agent, as Mesos aborts, and the executor
/// re-sends the update the restarted agent never recorded.
#[test]
fn pinned_seed_40_an_agent_running_on_after_a_failed_checkpoint() {
    assert_seed_passes(40);
}

/// Found while adding the acknowledgement invariant: an agent that stopped itself (a
/// failed checkpoint) still had its handle in the run, and its silence read as every
/// pending update acknowledged. Only agents that answer count.
#[test]
fn pinned_seed_7_a_stopped_agent_acknowledges_nothing() {
    assert_seed_passes(7);
}
