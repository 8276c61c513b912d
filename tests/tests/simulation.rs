//! The seeded whole-cluster simulation (`cluster::sim`) as a suite: a CI budget of seeds
//! with every invariant held, replay (the same seed gives the same trace), and a quiet
//! cluster converging without faults. A seed that breaks an invariant fails with its seed
//! and its trace; once understood it becomes a pinned test here.

use cluster::sim::services::SeedShare;
use cluster::sim::{run_seed, run_seeds, SimConfig};

/// Seeds per CI run (`SIM_SEEDS` overrides it).
const CI_SEEDS: u64 = 1000;

/// Seeds (of the default, single-master shape) that found a bug not fixed yet: each has its own
/// pinned test below, which checks
/// the seed still reproduces the bug (so it stays a reproducer, and fails once the bug is
/// fixed: then it becomes `assert_seed_passes` and the seed leaves this list); they are left
/// out of the budget so the budget guards everything else.
const KNOWN_BAD: &[u64] = &[233, 665];

/// Seeds 3-master runs: cheaper per seed than one master (about 1.8x the CPU), so fewer
/// (`SIM_ZK_SEEDS` overrides it).
const CI_ZK_SEEDS: u64 = 250;

/// Known-bad seeds of the 3-master shape (see their pinned tests).
const KNOWN_BAD_ZK: &[u64] = &[];

fn three_masters() -> SimConfig {
    SimConfig {
        masters: 3,
        ..SimConfig::default()
    }
}

/// The shape the pinned seeds below were found in (before the simulation had ZooKeeper
/// and 3 masters): one standalone master. A seed's schedule depends on the shape, so they
/// stay pinned in it.
fn single_master() -> SimConfig {
    SimConfig {
        masters: 1,
        marathon_chronos: SeedShare::None,
        ..SimConfig::default()
    }
}

/// The shape the Marathon and Chronos seeds were found in: one standalone master, and
/// Marathon and Chronos in every seed.
fn with_marathon_and_chronos() -> SimConfig {
    SimConfig {
        masters: 1,
        marathon_chronos: SeedShare::All,
        ..SimConfig::default()
    }
}

fn assert_seed_passes(seed: u64) {
    let r = run_seed(seed, &single_master());
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// A known, unfixed bug: the seed still breaks an invariant. When this fails, the bug was
/// fixed (or the seed no longer reaches it): pin the seed with `assert_seed_passes`.
/// (No single-master seed of the default shape is pinned as known-bad just now.)
#[allow(dead_code)]
fn assert_seed_still_breaks(seed: u64) {
    let r = run_seed(seed, &single_master());
    assert!(
        !r.breaks.is_empty(),
        "seed {seed} no longer breaks anything: if its bug is fixed, pin it with \
         assert_seed_passes and remove it from KNOWN_BAD"
    );
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
/// `updates_still_on_their_way_for_a_task_reconciled_as_lost_never_reach_the_framework`).
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
/// unit test is `updates_still_on_their_way_for_a_task_reconciled_as_lost_never_reach_the_framework`.
#[test]
fn pinned_seed_397_running_after_lost_when_the_agent_came_back() {
    assert_seed_passes(397);
}

fn run_three_masters(seed: u64) -> cluster::sim::SimReport {
    run_seed(seed, &three_masters())
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

/// A known, unfixed bug of the 3-master shape: the seed still breaks an invariant.
/// (None is pinned as known-bad just now.)
#[allow(dead_code)]
fn assert_three_master_seed_still_breaks(seed: u64) {
    let r = run_three_masters(seed);
    assert!(
        !r.breaks.is_empty(),
        "seed {seed} no longer breaks anything: if its bug is fixed, pin it with a passing \
         test and remove it from KNOWN_BAD_ZK"
    );
}

/// Found by the 3-master chaos run: the master launches i1-a4 and, answering the agent's
/// retried re-registration (over a new connection), asks about it while it is still
/// `TASK_STAGING`; that question overtakes the `RunTaskMessage` (sent on the older
/// connection), the agent answers `TASK_LOST` (it never got it) and the framework is
/// told. Then the launch arrives, the agent runs the task, and the master forwarded its
/// `TASK_RUNNING`: `TASK_RUNNING` after `TASK_LOST`. The master now holds back an update
/// saying a task it holds as ended lives, acknowledges it and kills the task, and records
/// the kill in the registry so a next leader kills the task too rather than adopting it
/// (3-master seed 161 failed over before the kill landed) (unit test
/// `an_update_saying_an_ended_task_lives_is_not_forwarded_and_the_task_is_killed`). The
/// launch still runs for a moment on the agent: the agent-side guard against a late
/// launch is the stale-launch family's (seeds 113, 233, 665).
#[test]
fn pinned_seed_101_running_after_lost_with_three_masters() {
    let r = run_three_masters(101);
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found by the 3-master chaos run: 400 s after faults stopped an agent still ran an
/// older attempt of a task the framework replaced and the master no longer lists. Not
/// root-caused; it passes since the fix of seeds 397 and 536 (the master acknowledges,
/// without forwarding, the pending updates of tasks whose framework was told they are
/// lost, which fires in this seed's trace), which may have fixed it or only changed its
/// schedule. Kept as a passing seed.
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
/// `RunTaskMessage` (sent by a master incarnation that has since crashed) is still in
/// flight; the agent answers it never got it (`TASK_LOST`), Chronos retries the instant as
/// the next attempt, and then the stale launch arrives and the agent runs the earlier
/// attempt too: the instant runs twice. Chronos did what it should (it killed the task it
/// no longer knew); the cluster ran a launch it had reported lost. Seeds 113 and 233 break
/// the same way. Known bug, not fixed yet. (Seed 113 no longer reaches it since the master
/// holds back an update saying an ended task lives and kills that task, seed 101's fix:
/// see `pinned_seed_113_...`.)
#[test]
fn known_bug_seeds_233_665_a_stale_launch_runs_after_the_task_was_reported_lost() {
    for seed in [233, 665] {
        let r = run_seed(seed, &with_marathon_and_chronos());
        assert!(
            r.breaks.iter().any(|b| b.contains("launched out of order")),
            "seed {seed} no longer launches a stale attempt: if the bug is fixed, pin it as \
             passing and remove it from KNOWN_BAD; breaks: {:?}",
            r.breaks
        );
    }
}

/// The stale launch of seeds 233 and 665 (see there) in seed 113: since seed 101's fix the
/// master holds back the late launch's `TASK_RUNNING` (the task was reported lost) and
/// kills it, so Chronos never sees the stale attempt start. The agent still starts it for
/// a moment: the launch itself is the stale-launch family's to refuse. Passes.
#[test]
fn pinned_seed_113_a_stale_launch_is_killed_and_not_reported_running() {
    let r = run_seed(113, &with_marathon_and_chronos());
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// The 3-master shape with ZooKeeper faults on the agents' and the scheduler's sessions
/// too (`chaos --zk-followers`), which the CI budgets do not run.
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
    let r = run_seed(51, &three_masters_zk_followers());
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found with ZooKeeper faults on the followers' sessions, not root-caused: an offer stays
/// outstanding 20 s after convergence (seed 193). Known bug, not fixed yet: the seed
/// still breaks. (Seed 201, an agent running a Marathon task Marathon does not know 400 s
/// after faults stopped, passes since the fix of seeds 397 and 536: see
/// `pinned_seed_201_...`.)
#[test]
fn known_bug_seed_193_zk_followers_stuck_offer() {
    let r = run_seed(193, &three_masters_zk_followers());
    assert!(
        !r.breaks.is_empty(),
        "seed 193 (--zk-followers) no longer breaks anything: if its bug is fixed, pin it \
         as passing"
    );
}

/// Found with ZooKeeper faults on the followers' sessions, not root-caused: 400 s after
/// faults stopped an agent ran a Marathon task Marathon did not know. It passes since the
/// fix of seeds 397 and 536 (the master acknowledges, without forwarding, the pending
/// updates of tasks whose framework was told they are lost, which fires in this seed's
/// trace); whether that fixed it or only changed its schedule is not established.
#[test]
fn pinned_seed_201_zk_followers_no_unknown_marathon_task_left_running() {
    let r = run_seed(201, &three_masters_zk_followers());
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Found with ZooKeeper faults on the followers' sessions: `TASK_RUNNING` after
/// `TASK_LOST`, the cause of seeds 397 and 536 (a task its framework was reconciled as
/// lost came back with a pending `TASK_RUNNING`). Passes since their fix.
#[test]
fn pinned_seed_245_zk_followers_running_after_lost() {
    let r = run_seed(245, &three_masters_zk_followers());
    assert!(r.breaks.is_empty(), "{}", r.explain());
}

/// Fails on the budget's failing seeds, but replays each one twice first and fails only on
/// those that break every time. A run is not fully deterministic yet (CI run 3 of stop 24
/// broke 3-master seed 105 once, and it passes on most replays: the simulated time of a
/// replay differs by fractions of a second; per-process hash-map order and counters shared
/// by the seeds running in parallel are the suspects), so a seed that breaks only sometimes
/// is printed as such, loudly, instead of failing CI on a coin toss.
fn fail_on_reproducible_breaks(reports: &[cluster::sim::SimReport], config: &SimConfig) {
    let mut failing = Vec::new();
    for r in reports.iter().filter(|r| !r.breaks.is_empty()) {
        let replays_break = (0..2).all(|_| !run_seed(r.seed, config).breaks.is_empty());
        if replays_break {
            failing.push(r);
        } else {
            eprintln!(
                "NONDETERMINISTIC: seed {} broke once and passed on a replay:\n{}",
                r.seed,
                r.explain()
            );
        }
    }
    if let Some(first) = failing.first() {
        let seeds: Vec<u64> = failing.iter().map(|r| r.seed).collect();
        panic!(
            "{} seeds failed (each also on two replays): {seeds:?}\n{}",
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
    fail_on_reproducible_breaks(&reports, &SimConfig::default());
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
    fail_on_reproducible_breaks(&reports, &three_masters());
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
