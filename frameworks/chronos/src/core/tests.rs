//! Virtual-time tests of the pure scheduler: the clock is a value the test advances, so a
//! year of schedules runs in milliseconds.

use super::*;
use crate::iso8601::{local_date, parse_datetime, Zone};
use proptest::prelude::*;

fn utc(s: &str) -> DateTime<Utc> {
    parse_datetime(s).unwrap().with_timezone(&Utc)
}

/// A tiny simulated cluster: one big agent, every record written at once, tasks that
/// run for `duration` (per job) and then finish (or fail, per job).
struct Sim {
    c: Chronos,
    now: DateTime<Utc>,
    /// task id → (job, end time).
    running: BTreeMap<String, (String, DateTime<Utc>)>,
    durations: BTreeMap<String, Duration>,
    failing: BTreeSet<String>,
    /// Every launch: (job, task id, due, launch time).
    launched: Vec<(String, String, DateTime<Utc>, DateTime<Utc>)>,
    /// Max concurrent runs seen per job.
    max_overlap: BTreeMap<String, usize>,
}

impl Sim {
    fn new(now: DateTime<Utc>) -> Sim {
        let mut c = Chronos::new();
        c.reconciled();
        Sim {
            c,
            now,
            running: BTreeMap::new(),
            durations: BTreeMap::new(),
            failing: BTreeSet::new(),
            launched: Vec::new(),
            max_overlap: BTreeMap::new(),
        }
    }

    fn put(&mut self, def: JobDef) {
        self.c.put(def, self.now).unwrap();
        self.persist();
    }

    fn persist(&mut self) {
        for (name, rev, _) in self.c.dirty(&BTreeSet::new()) {
            self.c.written(&name, rev);
        }
    }

    /// One scheduling round at the current time.
    fn round(&mut self) {
        // Tasks that end by now.
        let ended: Vec<(String, String)> = self
            .running
            .iter()
            .filter(|(_, (_, end))| *end <= self.now)
            .map(|(t, (j, _))| (t.clone(), j.clone()))
            .collect();
        for (t, j) in ended {
            self.running.remove(&t);
            let (end, state) = if self.failing.contains(&j) {
                (TaskEnd::Failed, "TASK_FAILED")
            } else {
                (TaskEnd::Finished, "TASK_FINISHED")
            };
            self.c.status(&t, end, state, "", self.now);
        }
        self.c.tick(self.now);
        self.persist();
        let launches = self.c.match_offer("agent-1", 100.0, 1e6, 1e6, self.now);
        self.persist();
        for l in launches {
            assert!(self.c.launchable(&l));
            let d = self
                .durations
                .get(&l.job)
                .copied()
                .unwrap_or(Duration::seconds(1));
            assert!(
                !self.running.contains_key(&l.task_id),
                "task id {} launched twice",
                l.task_id
            );
            self.running
                .insert(l.task_id.clone(), (l.job.clone(), self.now + d));
            self.c
                .status(&l.task_id, TaskEnd::Alive, "TASK_RUNNING", "", self.now);
            let due = self.c.find(&l.task_id).map(|(_, r)| r.due).unwrap();
            self.launched
                .push((l.job.clone(), l.task_id, due, self.now));
            let n = self.running.values().filter(|(j, _)| *j == l.job).count();
            let m = self.max_overlap.entry(l.job).or_default();
            *m = (*m).max(n);
        }
        self.persist();
    }

    /// Advances to `until`, waking at every instant the scheduler or a task asks for.
    fn run_until(&mut self, until: DateTime<Utc>) {
        loop {
            self.round();
            let next_task = self.running.values().map(|(_, e)| *e).min();
            let next = [self.c.next_wakeup(self.now), next_task]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => self.now = t.max(self.now),
                _ => {
                    self.now = until;
                    self.round();
                    return;
                }
            }
        }
    }

    fn runs_of(&self, job: &str) -> Vec<DateTime<Utc>> {
        self.launched
            .iter()
            .filter(|(j, _, _, _)| j == job)
            .map(|(_, _, due, _)| *due)
            .collect()
    }
}

#[test]
fn a_year_of_daily_runs_across_two_dst_changes_keeps_the_wall_clock() {
    let mut sim = Sim::new(utc("2021-01-01T00:00:00Z"));
    let mut def = JobDef::scheduled("daily", "true", "R/2021-01-01T09:00:00Z/P1D");
    def.schedule_time_zone = "America/New_York".into();
    sim.put(def);
    sim.run_until(utc("2022-01-01T00:00:00Z"));
    let runs = sim.runs_of("daily");
    assert_eq!(runs.len(), 365, "one run a day, none twice, none missed");
    let zone = Zone::named("America/New_York").unwrap();
    let mut offsets = BTreeSet::new();
    for (i, r) in runs.iter().enumerate() {
        let (_, _, _, wall) = local_date(*r, &zone);
        assert_eq!(
            wall, "09:00:00",
            "run {i} at {r} is not at 09:00 New York time"
        );
        offsets.insert(r.format("%H").to_string());
    }
    // EST (UTC-5, 14:00Z) in winter and EDT (UTC-4, 13:00Z) in summer: both DST changes
    // (2021-03-14 and 2021-11-07) were crossed.
    assert_eq!(
        offsets,
        BTreeSet::from(["13".to_string(), "14".to_string()])
    );
    // The launches were on time (virtual time: no drift at all).
    assert_eq!(sim.c.drift.max_ms, 0);
    assert_eq!(sim.c.job("daily").unwrap().state.missed_count, 0);
}

#[test]
fn r5_stops_after_five() {
    let mut sim = Sim::new(utc("2021-01-01T00:00:00Z"));
    sim.put(JobDef::scheduled(
        "five",
        "true",
        "R5/2021-01-01T00:00:10Z/PT10S",
    ));
    sim.run_until(utc("2021-01-01T01:00:00Z"));
    assert_eq!(sim.runs_of("five").len(), 5);
    let j = sim.c.job("five").unwrap();
    assert_eq!(j.state.success_count, 5);
    assert_eq!(j.next_instant(), None);
    assert_eq!(sim.c.next_wakeup(sim.now), None);
}

#[test]
fn non_concurrent_runs_never_overlap_and_late_ones_are_recorded_as_missed() {
    let mut sim = Sim::new(utc("2021-01-01T00:00:00Z"));
    let mut def = JobDef::scheduled("slow", "sleep 25", "R/2021-01-01T00:00:10Z/PT10S");
    def.epsilon = "PT5S".into();
    sim.durations.insert("slow".into(), Duration::seconds(25));
    sim.put(def);
    sim.run_until(utc("2021-01-01T00:10:00Z"));
    assert_eq!(sim.max_overlap["slow"], 1, "runs overlapped");
    let j = sim.c.job("slow").unwrap();
    assert!(j.state.missed_count > 0);
    assert!(
        j.state.missed[0].reason.contains("concurrent: false"),
        "{:?}",
        j.state.missed[0]
    );
    // Every instant is accounted for: run or missed, never both, none skipped.
    let ran: BTreeSet<u64> = j
        .state
        .history
        .iter()
        .map(|o| o.due)
        .chain(sim.runs_of("slow"))
        .map(|d| ((d - utc("2021-01-01T00:00:10Z")).num_seconds() / 10) as u64)
        .collect();
    let missed: BTreeSet<u64> = j.state.missed.iter().map(|m| m.index).collect();
    assert!(ran.is_disjoint(&missed));
    let all: BTreeSet<u64> = ran.union(&missed).copied().collect();
    assert_eq!(all, (0..j.state.next).collect::<BTreeSet<u64>>());
    // A concurrent job with the same timing overlaps.
    let mut sim = Sim::new(utc("2021-01-01T00:00:00Z"));
    let mut def = JobDef::scheduled("fast", "sleep 25", "R/2021-01-01T00:00:10Z/PT10S");
    def.concurrent = true;
    sim.durations.insert("fast".into(), Duration::seconds(25));
    sim.put(def);
    sim.run_until(utc("2021-01-01T00:10:00Z"));
    assert!(sim.max_overlap["fast"] > 1);
    assert_eq!(sim.c.job("fast").unwrap().state.missed_count, 0);
}

#[test]
fn instants_older_than_epsilon_are_missed_with_a_reason_and_younger_ones_run() {
    let mut sim = Sim::new(utc("2021-01-01T00:00:00Z"));
    let mut def = JobDef::scheduled("j", "true", "R/2021-01-01T00:00:00Z/PT1M");
    def.epsilon = "PT90S".into();
    sim.put(def);
    // The scheduler was down for five minutes: instants 0..=3 are older than 90 s.
    sim.now = utc("2021-01-01T00:05:00Z");
    sim.run_until(utc("2021-01-01T00:05:30Z"));
    let j = sim.c.job("j").unwrap();
    let missed: Vec<u64> = j.state.missed.iter().map(|m| m.index).collect();
    assert_eq!(missed, vec![0, 1, 2, 3]);
    assert!(j.state.missed[0].reason.contains("epsilon PT90S"));
    // 00:04 (60 s late) and 00:05 (on time) still run.
    assert_eq!(
        sim.runs_of("j"),
        vec![utc("2021-01-01T00:04:00Z"), utc("2021-01-01T00:05:00Z")]
    );
}

#[test]
fn a_child_runs_once_after_each_time_all_its_parents_succeeded() {
    let mut sim = Sim::new(utc("2021-01-01T00:00:00Z"));
    sim.put(JobDef::scheduled(
        "a",
        "true",
        "R/2021-01-01T00:00:00Z/PT10S",
    ));
    sim.put(JobDef::scheduled(
        "b",
        "true",
        "R/2021-01-01T00:00:00Z/PT20S",
    ));
    sim.put(JobDef::dependent("c", "true", &["a", "b"]));
    sim.run_until(utc("2021-01-01T00:01:00Z"));
    // b ran 4 times (00, 20, 40, 60 s); a ran each time before b finished too.
    let b = sim.runs_of("b").len();
    assert_eq!(b, 4);
    let c = sim.runs_of("c").len();
    assert!(
        c == 3 || c == 4,
        "child ran {c} times for 4 runs of its slower parent"
    );
    // Every child launch came after a success of each parent since the previous one.
    let launches = sim.launched.clone();
    let mut since: BTreeSet<String> = BTreeSet::new();
    for (job, _, _, at) in &launches {
        if job == "c" {
            for p in ["a", "b"] {
                let ok = sim
                    .c
                    .job(p)
                    .unwrap()
                    .state
                    .history
                    .iter()
                    .any(|o| o.ended <= *at);
                assert!(ok);
            }
            since.clear();
        }
    }
    // A cycle is refused, as is an unknown parent.
    assert!(sim
        .c
        .put(JobDef::dependent("a", "true", &["c"]), sim.now)
        .unwrap_err()
        .0
        .contains("cycle"));
    assert!(sim
        .c
        .put(JobDef::dependent("d", "true", &["zz"]), sim.now)
        .unwrap_err()
        .0
        .contains("does not exist"));
}

/// A scheduler with job `p` (one instant, due at the returned time) and its child `k`.
fn parent_and_child() -> (Chronos, DateTime<Utc>) {
    let now = utc("2021-01-01T00:00:00Z");
    let mut c = Chronos::new();
    c.reconciled();
    c.put(
        JobDef::scheduled("p", "true", "R1/2021-01-01T00:00:00Z/PT1M"),
        now,
    )
    .unwrap();
    c.put(JobDef::dependent("k", "true", &["p"]), now).unwrap();
    (c, now)
}

#[test]
fn a_repeated_parent_outcome_triggers_the_child_once() {
    let (mut c, now) = parent_and_child();
    c.tick(now);
    let l = c.match_offer("a1", 10.0, 1e5, 1e5, now);
    assert_eq!(l.len(), 1);
    let t = l[0].task_id.clone();
    assert_eq!(t, format!("ct:{}:0:p:s0", now.timestamp_millis()));
    c.status(&t, TaskEnd::Finished, "TASK_FINISHED", "", now);
    assert_eq!(c.job("k").unwrap().state.runs.len(), 1);
    // The same outcome again (as a new leader would hear it): already counted.
    let rec: Vec<JobRecord> = c.jobs().values().map(|j| j.record()).collect();
    let (mut c2, problems) = Chronos::recover(rec, now);
    assert!(problems.is_empty());
    // Simulate the parent's run still recorded as launched.
    c2.jobs.get_mut("p").unwrap().state.runs.push(Run {
        trigger: Trigger::Scheduled { index: 0 },
        due: now,
        attempt: 0,
        state: RunState::Launched,
        task_id: Some(t.clone()),
        agent_id: Some("a1".into()),
        arguments: vec![],
        killing: false,
        started: None,
    });
    c2.status(&t, TaskEnd::Finished, "TASK_FINISHED", "", now);
    assert_eq!(c2.job("k").unwrap().state.runs.len(), 1, "counted twice");
}

/// Found by the Jepsen test (a ZooKeeper restart during the writes): the parent's success
/// was stored, the child's trigger was not, the leader failed over, and the next one,
/// hearing the success again, found the run gone and triggered nothing: the child ran once
/// fewer than its parent. The child's record is now written first.
#[test]
fn a_parent_is_stored_only_after_the_trigger_it_gave_its_child() {
    let (mut c, now) = parent_and_child();
    let store_all = |c: &mut Chronos| {
        for (n, rev, _) in c.dirty(&BTreeSet::new()) {
            c.written(&n, rev);
        }
    };
    store_all(&mut c);
    store_all(&mut c);
    c.tick(now);
    let l = c.match_offer("a1", 10.0, 1e5, 1e5, now);
    store_all(&mut c);
    c.status(&l[0].task_id, TaskEnd::Finished, "TASK_FINISHED", "", now);
    let names = |c: &Chronos| -> Vec<String> {
        c.dirty(&BTreeSet::new())
            .into_iter()
            .map(|(n, _, _)| n)
            .collect()
    };
    assert_eq!(
        names(&c),
        vec!["k".to_string()],
        "the child's trigger first"
    );
    // While the child's write is in flight, the parent still waits.
    let in_flight: BTreeSet<String> = ["k".to_string()].into();
    assert!(c.dirty(&in_flight).is_empty());
    store_all(&mut c);
    assert_eq!(
        names(&c),
        vec!["p".to_string()],
        "then the parent's success"
    );
}

#[test]
fn retries_then_gives_up_and_lost_launches_do_not_count() {
    let now = utc("2021-01-01T00:00:00Z");
    let mut c = Chronos::new();
    c.reconciled();
    let mut def = JobDef::scheduled("f", "false", "R1/2021-01-01T00:00:00Z/PT1M");
    def.retries = 2;
    c.put(def, now).unwrap();
    c.tick(now);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let l = c.match_offer("a1", 10.0, 1e5, 1e5, now);
        let Some(l) = l.into_iter().next() else { break };
        ids.push(l.task_id.clone());
        c.status(&l.task_id, TaskEnd::Failed, "TASK_FAILED", "boom", now);
    }
    assert_eq!(ids.len(), 3, "one try and two retries: {ids:?}");
    assert!(ids[2].starts_with(&format!("ct:{}:2:f:", now.timestamp_millis())));
    let j = c.job("f").unwrap();
    assert_eq!(j.state.error_count, 3);
    assert!(j.state.runs.is_empty());
    // A lost launch is retried without using a retry.
    c.run_now("f", vec![], now).unwrap();
    let l = c.match_offer("a1", 10.0, 1e5, 1e5, now).remove(0);
    c.status(&l.task_id, TaskEnd::Lost, "TASK_LOST", "", now);
    assert_eq!(c.job("f").unwrap().state.error_count, 3);
    assert_eq!(c.job("f").unwrap().state.runs.len(), 1);
}

#[test]
fn disabled_jobs_do_not_run_and_nothing_launches_before_reconciliation_or_durability() {
    let now = utc("2021-01-01T00:00:00Z");
    let mut c = Chronos::new();
    let mut def = JobDef::scheduled("off", "true", "R/2021-01-01T00:00:00Z/PT1M");
    def.disabled = true;
    c.put(def, now).unwrap();
    c.put(
        JobDef::scheduled("on", "true", "R/2021-01-01T00:00:00Z/PT1M"),
        now,
    )
    .unwrap();
    c.tick(now + Duration::seconds(30));
    assert!(
        c.match_offer("a", 10.0, 1e5, 1e5, now).is_empty(),
        "launched while reconciling"
    );
    c.reconciled();
    let l = c.match_offer("a", 10.0, 1e5, 1e5, now);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].job, "on");
    assert!(
        !c.launchable(&l[0]),
        "launchable before its record is written"
    );
    let d = c.dirty(&BTreeSet::new());
    for (n, r, _) in d {
        c.written(&n, r);
    }
    assert!(c.launchable(&l[0]));
    // Offers too small launch nothing.
    c.run_now("on", vec![], now).unwrap();
    assert!(c.match_offer("a", 0.01, 1e5, 1e5, now).is_empty());
}

#[test]
fn constrained_runs_go_only_to_agents_whose_attributes_match() {
    use crate::constraints::AgentFacts;
    let now = utc("2021-01-01T00:00:00Z");
    let mut c = Chronos::new();
    c.reconciled();
    let mut def = JobDef::scheduled("r1-only", "true", "R/2021-01-01T00:00:00Z/PT1M");
    def.constraints = vec![vec!["rack".into(), "EQUALS".into(), "r1".into()]];
    c.put(def, now).unwrap();
    let mut def = JobDef::scheduled("not-r1", "true", "R/2021-01-01T00:00:00Z/PT1M");
    def.constraints = vec![vec!["rack".into(), "UNLIKE".into(), "r1".into()]];
    c.put(def, now).unwrap();
    // Bad constraints are refused with the reason.
    let mut bad = JobDef::scheduled("bad", "true", "R//PT1M");
    bad.constraints = vec![vec!["rack".into(), "CLUSTER".into(), "r1".into()]];
    assert!(c
        .put(bad, now)
        .unwrap_err()
        .0
        .contains("EQUALS, LIKE, UNLIKE"));
    c.tick(now);
    let r2 = AgentFacts::of(&[("rack", "r2"), ("hostname", "h2")]);
    let r1 = AgentFacts::of(&[("rack", "r1"), ("hostname", "h1")]);
    // An agent without attributes takes neither; r2 takes only "not-r1".
    assert!(c.match_offer("a0", 10.0, 1e5, 1e5, now).is_empty());
    let l = c.match_offer_with("a2", &r2, 10.0, 1e5, 1e5, now);
    assert_eq!(
        l.iter().map(|l| l.job.as_str()).collect::<Vec<_>>(),
        ["not-r1"]
    );
    assert!(c
        .match_offer_with("a2", &r2, 10.0, 1e5, 1e5, now)
        .is_empty());
    let l = c.match_offer_with("a1", &r1, 10.0, 1e5, 1e5, now);
    assert_eq!(
        l.iter().map(|l| l.job.as_str()).collect::<Vec<_>>(),
        ["r1-only"]
    );
    assert_eq!(l[0].agent_id, "a1");
}

/// A run matched with an offer is launched only once its record is durable. Explicit
/// reconciliation meanwhile (every `RECONCILE_EVERY`) must not name it: the master, which
/// has not seen the launch yet, answers `TASK_GONE`; the run would be retried as lost, and
/// the launch sent once the record is durable would run the instant a second time (the
/// Jepsen test saw `j05 s7 ran 2 times`). Once the launch went out, it is reconciled.
#[test]
fn a_run_whose_launch_has_not_gone_out_is_not_reconciled() {
    let t0 = utc("2021-01-01T00:00:00Z");
    let mut c = Chronos::new();
    c.reconciled();
    let mut def = JobDef::scheduled("j", "true", "R/2021-01-01T00:00:00Z/PT10S");
    def.concurrent = true;
    c.put(def, t0).unwrap();
    c.tick(t0);
    let l0 = c.match_offer("a", 10.0, 1e5, 1e5, t0).remove(0);
    assert_eq!(c.in_flight(), vec![], "its record is still being written");
    for (n, r, _) in c.dirty(&BTreeSet::new()) {
        c.written(&n, r);
    }
    assert!(c.launchable(&l0));
    c.sent(&l0.task_id);
    assert_eq!(c.in_flight(), vec![(l0.task_id.clone(), Some("a".into()))]);
    // A launch given back (the offer went) and matched again is unsent again.
    let t1 = t0 + Duration::seconds(10);
    c.tick(t1);
    let l1 = c.match_offer("a", 10.0, 1e5, 1e5, t1).remove(0);
    c.unmatch(&l1.job, &l1.task_id);
    let l1 = c.match_offer("a", 10.0, 1e5, 1e5, t1).remove(0);
    assert_eq!(c.in_flight().len(), 1, "only instant 0's run went out");
    // A new leader may find runs its predecessor sent: every recorded one is reconciled.
    for (n, r, _) in c.dirty(&BTreeSet::new()) {
        c.written(&n, r);
    }
    let stored: Vec<JobRecord> = c.jobs().values().map(|j| j.record()).collect();
    let (c2, _) = Chronos::recover(stored, t1);
    let mut asked: Vec<String> = c2.in_flight().into_iter().map(|(t, _)| t).collect();
    asked.sort();
    let mut want = vec![l0.task_id, l1.task_id];
    want.sort();
    assert_eq!(asked, want);
}

#[test]
fn a_new_leader_neither_reruns_nor_skips_instants() {
    // Leader 1 decides and launches instants, then dies; some writes never happened.
    let t0 = utc("2021-01-01T00:00:00Z");
    let mut c = Chronos::new();
    c.reconciled();
    let mut def = JobDef::scheduled("j", "true", "R/2021-01-01T00:00:00Z/PT10S");
    def.epsilon = "PT30S".into();
    def.concurrent = true;
    c.put(def, t0).unwrap();
    c.tick(t0);
    let l0 = c.match_offer("a", 10.0, 1e5, 1e5, t0).remove(0);
    for (n, r, _) in c.dirty(&BTreeSet::new()) {
        c.written(&n, r);
    }
    let stored: Vec<JobRecord> = c.jobs().values().map(|j| j.record()).collect();
    // Instant 1 is decided and matched but its record is never written: not launched.
    let t1 = t0 + Duration::seconds(10);
    c.tick(t1);
    let l1 = c.match_offer("a", 10.0, 1e5, 1e5, t1).remove(0);
    assert!(!c.launchable(&l1));
    // Leader 2, 15 s later (within epsilon for instant 1 and 2).
    let t2 = t0 + Duration::seconds(25);
    let (mut c2, _) = Chronos::recover(stored, t2);
    assert_eq!(c2.in_flight(), vec![(l0.task_id.clone(), Some("a".into()))]);
    // Reconciliation: the master knows instant 0's task (still running).
    c2.status(&l0.task_id, TaskEnd::Alive, "TASK_RUNNING", "", t2);
    c2.reconciled();
    c2.tick(t2);
    let launched: Vec<String> = c2
        .match_offer("a", 10.0, 1e5, 1e5, t2)
        .into_iter()
        .map(|l| l.task_id)
        .collect();
    // Instant 0 is not relaunched; 1 (with the same deterministic id) and 2 run.
    assert_eq!(launched.len(), 2, "{launched:?}");
    assert_eq!(launched[0], l1.task_id);
    assert!(launched[1].contains(":j:s2"));
    assert!(c2.job("j").unwrap().state.missed.is_empty());
}

proptest! {
    /// Whatever the schedule and however irregularly the scheduler wakes, every instant up
    /// to the end is decided exactly once: run or missed.
    #[test]
    fn every_instant_is_run_or_missed_exactly_once(
        period in 1u64..120,
        eps in 0u64..200,
        gaps in proptest::collection::vec(1i64..400, 1..60),
        repeat in proptest::option::of(1u64..50),
    ) {
        let t0 = utc("2021-06-01T00:00:00Z");
        let mut c = Chronos::new();
        c.reconciled();
        let r = repeat.map(|n| n.to_string()).unwrap_or_default();
        let mut def = JobDef::scheduled("j", "true", &format!("R{r}/2021-06-01T00:00:00Z/PT{period}S"));
        def.epsilon = format!("PT{eps}S");
        def.concurrent = true;
        c.put(def, t0).unwrap();
        let mut now = t0;
        let mut ran = Vec::new();
        for g in gaps {
            now += Duration::seconds(g);
            c.tick(now);
            for l in c.match_offer("a", 1e3, 1e7, 1e7, now) {
                let due = c.find(&l.task_id).unwrap().1.due;
                prop_assert!(now - due <= Duration::seconds(eps as i64));
                ran.push(due);
                c.status(&l.task_id, TaskEnd::Finished, "TASK_FINISHED", "", now);
            }
        }
        let j = c.job("j").unwrap();
        let s = j.schedule().unwrap();
        let decided = j.state.next;
        let expected = s.first_at_or_after(now + Duration::milliseconds(1)).min(repeat.unwrap_or(u64::MAX));
        prop_assert_eq!(decided, expected);
        let missed = j.state.missed_count;
        prop_assert_eq!(ran.len() as u64 + missed, decided);
        let distinct: BTreeSet<_> = ran.iter().collect();
        prop_assert_eq!(distinct.len(), ran.len());
    }
}

/// Found by the whole-cluster simulation: the shell revived offers whenever a job was busy,
/// so while a run was in flight each offer was declined and revived at once (a revive
/// clears the decline filter), and the master offered again at once: an endless
/// offer/decline loop. Offers are wanted only while a run is queued.
#[test]
fn offers_are_wanted_while_a_run_is_queued_not_while_it_is_in_flight() {
    let t0 = utc("2026-01-01T00:00:00Z");
    let mut c = Chronos::new();
    c.reconciled();
    c.put(
        JobDef::scheduled("j", "true", "R/2026-01-01T00:00:00Z/PT1M"),
        t0,
    )
    .unwrap();
    for (n, r, _) in c.dirty(&BTreeSet::new()) {
        c.written(&n, r);
    }
    assert!(!c.wants_offers(), "nothing is due yet");
    c.tick(t0);
    assert!(c.wants_offers(), "the first instant is queued");
    let l = c.match_offer("a", 1.0, 1024.0, 1024.0, t0);
    assert_eq!(l.len(), 1);
    assert!(c.job("j").is_some_and(Job::busy));
    assert!(!c.wants_offers(), "launched: in flight, no offer needed");
    c.status(&l[0].task_id, TaskEnd::Alive, "TASK_RUNNING", "", t0);
    assert!(!c.wants_offers(), "running: no offer needed");
    c.status(&l[0].task_id, TaskEnd::Lost, "TASK_LOST", "", t0);
    assert!(c.wants_offers(), "lost: the retry is queued");
}

proptest! {
    /// The host's wall clock steps backwards and forwards (NTP, a VM resumed): every
    /// instant up to the latest time the clock showed is still decided exactly once — a
    /// step back never decides an instant again (nor runs it twice), a step forward decides
    /// the instants it stepped over, each run or missed — and a first attempt starts within
    /// epsilon of its instant by the clock that launched it.
    #[test]
    fn every_instant_is_decided_once_when_the_clock_steps_back_and_forth(
        period in 1u64..120,
        eps in 0u64..200,
        steps in proptest::collection::vec(-120i64..400, 1..60),
        retry_lost in any::<bool>(),
    ) {
        let t0 = utc("2021-06-01T00:00:00Z");
        let mut c = Chronos::new();
        c.reconciled();
        let mut def = JobDef::scheduled("j", "true", &format!("R/2021-06-01T00:00:00Z/PT{period}S"));
        def.epsilon = format!("PT{eps}S");
        def.concurrent = true;
        c.put(def, t0).unwrap();
        // `latest`: the latest time the clock showed when the scheduler looked.
        let (mut now, mut latest) = (t0, t0 - Duration::days(1));
        let mut ran = Vec::new();
        for s in steps {
            now += Duration::seconds(s);
            latest = latest.max(now);
            c.tick(now);
            for l in c.match_offer("a", 1e3, 1e7, 1e7, now) {
                let (_, run) = c.find(&l.task_id).unwrap();
                let due = run.due;
                if run.attempt == 0 {
                    prop_assert!(now - due <= Duration::seconds(eps as i64));
                }
                if retry_lost && run.attempt == 0 {
                    // A lost first attempt is retried for the same instant, not re-decided.
                    c.status(&l.task_id, TaskEnd::Lost, "TASK_LOST", "", now);
                    continue;
                }
                ran.push(due);
                c.status(&l.task_id, TaskEnd::Finished, "TASK_FINISHED", "", now);
            }
        }
        let j = c.job("j").unwrap();
        let decided = j.state.next;
        let expected = j.schedule().unwrap().first_at_or_after(latest + Duration::milliseconds(1));
        prop_assert_eq!(decided, expected);
        let queued = j.state.runs.len() as u64;
        prop_assert_eq!(ran.len() as u64 + j.state.missed_count + queued, decided);
        let distinct: BTreeSet<_> = ran.iter().collect();
        prop_assert_eq!(distinct.len(), ran.len(), "an instant ran twice");
    }
}
