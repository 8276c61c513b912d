//! Chronos in the simulation: our Chronos (`frameworks/chronos`) as a third framework, on
//! its own simulated node, with one repeating job [`JOB`] every [`PERIOD_S`] seconds of
//! simulated time (its wall clock is its node's: the simulated time from a fixed base wall
//! time, plus its offset, which a clock fault steps; see [`super::clocks`]). Its runs
//! are short: the test containerizer finishes each after a few seconds, and fails the first
//! attempt of every fifth instant (so retries happen). Its store ([`SimStore`]) is a
//! `MemStore` that outlives the scheduler: a crashed Chronos restarts from it and fails
//! over with the stored FrameworkID. With [`super::FaultKinds::All`] the store turns slow
//! for a while (each write takes a seeded 0.2-5 s of simulated time, applied in order): the
//! window between a run matched with an offer and its launch, sent once its record is
//! durable, is open that long.
//!
//! What is checked is Chronos's documented contract (its README, "Semantics"): every
//! instant is decided once — run, or recorded as missed with a reason when it was decided
//! later than `epsilon` after it was due (scheduler down, or the previous run still
//! running); a run's attempts follow each other (a retry only after a terminal status of
//! the previous attempt, counted where the agents launch them); no task id is launched
//! twice; an instant succeeds at most once in Chronos's books. After faults stop: every
//! instant decided, every launched run known to Chronos with an outcome, nothing in flight
//! longer than a bound, and no instant due well after the faults stopped is missed.
//! And no attempt is launched on an agent after Chronos recorded its end as unknown to the
//! master (and so retried its instant): that launch runs the instant a second time
//! ([`stale_launches`]).
//! Not checked: that an instant's task ran only once on the agents — for a framework that
//! is not partition-aware, `TASK_LOST` from a partitioned agent lets Chronos retry while
//! the first attempt, launched before, may still finish there (Mesos's at-least-once under
//! partitions).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use chronos::api::Route;
use chronos::core::{Chronos, JobRecord, HISTORY};
use chronos::framework::{ApiReply, ApiRequest, ChronosScheduler, Clock};
use chronos::store::{Fut, MemStore, Store, StoreResult};
use frameworks::scheduler::{self, MasterAddress, SchedulerConfig, SchedulerHandle};
use libproc::rng::SplitMix64;
use libproc::Node;
use proto::{FrameworkId, FrameworkInfo, TaskState};
use slave::containerizer::TaskOutcome;
use tokio::time::Instant;

use super::services::ServiceLaunches;
use super::Trace;

/// The job's name.
pub const JOB: &str = "tick";
/// Its period, seconds.
pub const PERIOD_S: u64 = 30;
/// Its epsilon, seconds (Chronos's default is 60: shorter, so a settled run is short too).
pub const EPSILON_S: u64 = 30;
/// How long a run takes on the test containerizer.
const RUN_TIME: Duration = Duration::from_secs(5);

/// Whether `task` is a Chronos task id (`ct:<due ms>:<attempt>:<job>:<trigger>`).
pub fn is_chronos_task(task: &str) -> bool {
    task.starts_with("ct:")
}

/// `(due ms, attempt, trigger)` of a Chronos task id.
pub fn parse_task(task: &str) -> Option<(i64, u32, String)> {
    let mut p = task.strip_prefix("ct:")?.splitn(4, ':');
    let due = p.next()?.parse().ok()?;
    let attempt = p.next()?.parse().ok()?;
    let _job = p.next()?;
    Some((due, attempt, p.next()?.to_string()))
}

/// What the test containerizer does with a Chronos task: it finishes after [`RUN_TIME`];
/// the first attempt of every fifth scheduled instant fails instead (a retry follows).
pub fn outcome(task: &str) -> TaskOutcome {
    let first_try_fails = parse_task(task).is_some_and(|(_, attempt, trigger)| {
        attempt == 0
            && trigger
                .strip_prefix('s')
                .and_then(|k| k.parse::<u64>().ok())
                .is_some_and(|k| k % 5 == 3)
    });
    if first_try_fails {
        TaskOutcome::fails_after(RUN_TIME / 2)
    } else {
        TaskOutcome::finishes_after(RUN_TIME)
    }
}

/// The slowness of a [`SimStore`] and what it saw written.
struct StoreState {
    /// Writes issued before this take a drawn time each (`None`: fast).
    slow_until: Option<Instant>,
    /// Draws each slow write's time.
    rng: SplitMix64,
    /// When the last write issued is applied (writes apply in order).
    tail: Instant,
    /// Writes made slow so far.
    slowed: u64,
    /// Task id → how many service launches the agents had made when a record was first
    /// written ending it as unknown to the master ([`UNKNOWN`]): a launch of that task at
    /// that position or later came after Chronos recorded that end.
    unknown_at: BTreeMap<String, usize>,
}

/// Chronos's durable store in the simulation: a [`MemStore`] whose writes can turn slow
/// for a while ([`SimStore::slow_for`]: each takes a seeded 0.2-5 s of simulated time, and
/// writes apply in the order issued), which notes when Chronos first wrote each task's end
/// as unknown to the master (for [`stale_launches`]). A write in flight when Chronos crashes is lost with it.
#[derive(Clone)]
pub struct SimStore {
    inner: MemStore,
    state: Rc<RefCell<StoreState>>,
    launches: ServiceLaunches,
}

/// The quickest and slowest write of a slow store, ms.
const SLOW_WRITE_MS: (u64, u64) = (200, 5_000);

impl SimStore {
    /// A fast store; `launches` are the agents' service launches, in order.
    pub fn new(launches: ServiceLaunches) -> SimStore {
        SimStore {
            inner: MemStore::new(),
            state: Rc::new(RefCell::new(StoreState {
                slow_until: None,
                rng: SplitMix64::new(0),
                tail: Instant::now(),
                slowed: 0,
                unknown_at: BTreeMap::new(),
            })),
            launches,
        }
    }

    /// Writes issued during the next `lasting` take 0.2-5 s each (drawn from `seed`).
    pub fn slow_for(&self, lasting: Duration, seed: u64) {
        let mut s = self.state.borrow_mut();
        s.slow_until = Some(Instant::now() + lasting);
        s.rng = SplitMix64::new(seed);
    }

    /// Fast again (writes already issued still apply in order).
    pub fn heal(&self) {
        self.state.borrow_mut().slow_until = None;
    }

    /// Writes made slow so far.
    pub fn slowed(&self) -> u64 {
        self.state.borrow().slowed
    }

    /// Task id → how many service launches the agents had made when Chronos first wrote
    /// its end as unknown to the master.
    pub fn unknown_at(&self) -> BTreeMap<String, usize> {
        self.state.borrow().unknown_at.clone()
    }

    /// When a write issued now is applied (`None`: at once, as a `MemStore`'s).
    fn schedule(&self) -> Option<Instant> {
        let mut s = self.state.borrow_mut();
        let now = Instant::now();
        let slow = s.slow_until.is_some_and(|u| now < u);
        if !slow && s.tail <= now {
            return None;
        }
        let mut at = s.tail.max(now);
        if slow {
            let (lo, hi) = SLOW_WRITE_MS;
            at += Duration::from_millis(lo + s.rng.next_u64() % (hi - lo + 1));
            s.slowed += 1;
        }
        s.tail = at;
        Some(at)
    }

    /// `inner`, applied at `at`.
    fn later<T: 'static>(at: Option<Instant>, inner: Fut<T>) -> Fut<T> {
        match at {
            None => inner,
            Some(at) => Box::pin(async move {
                tokio::time::sleep_until(at).await;
                inner.await
            }),
        }
    }
}

impl Store for SimStore {
    fn load(&self) -> Fut<StoreResult<Vec<JobRecord>>> {
        self.inner.load()
    }

    fn put(&self, name: String, record: Option<JobRecord>) -> Fut<StoreResult<()>> {
        if let Some(r) = &record {
            let n = self
                .launches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len();
            let mut s = self.state.borrow_mut();
            for o in r
                .state
                .history
                .iter()
                .filter(|o| o.message.starts_with(UNKNOWN))
            {
                s.unknown_at.entry(o.task_id.clone()).or_insert(n);
            }
        }
        let at = self.schedule();
        Self::later(at, self.inner.put(name, record))
    }

    fn framework_id(&self) -> Fut<StoreResult<Option<String>>> {
        self.inner.framework_id()
    }

    fn set_framework_id(&self, id: String) -> Fut<StoreResult<()>> {
        let at = self.schedule();
        Self::later(at, self.inner.set_framework_id(id))
    }
}

/// How the master's answer to an explicit reconciliation begins when it does not know the
/// task (`TASK_GONE`, or `TASK_LOST` to a framework that is not partition-aware, as
/// Chronos is here): the agent is registered and has no such task, or the agent is
/// unknown. Not a partition's `TASK_LOST` (its agent unreachable), after which a launch
/// sent before may still run (Mesos's at-least-once).
pub const UNKNOWN: &str = "Reconciliation: Task is unknown";

/// Launches of Chronos tasks (`launched`: the service launches, in the agents' order) made
/// after Chronos had written the task's end as unknown to the master (`unknown_at`, see
/// [`SimStore::unknown_at`]): the master said it had no such task, Chronos retried the
/// instant, and the task ran all the same: the instant ran twice (e.g. a launch that went
/// out after its run was reconciled, before its launch was sent, and answered unknown).
pub fn stale_launches(launched: &[String], unknown_at: &BTreeMap<String, usize>) -> Vec<String> {
    launched
        .iter()
        .enumerate()
        .filter(|(_, t)| is_chronos_task(t))
        .filter_map(|(i, t)| {
            let at = *unknown_at.get(t)?;
            (i >= at).then(|| {
                format!(
                    "chronos: task {t} was launched on an agent after Chronos recorded its end as unknown to the master (launch #{i}, that end written at #{at}): its instant ran twice"
                )
            })
        })
        .collect()
}

/// One Chronos: its node, its durable store, and (while up) its scheduler.
pub struct ChronosSim {
    /// Its simulated node.
    pub node: Node,
    /// Its store (survives crashes).
    pub store: SimStore,
    /// Its driver, while up.
    pub handle: Option<SchedulerHandle<ChronosScheduler>>,
    /// Whether the job was added.
    pub job_added: bool,
}

/// What Chronos knows at the end: its job's record and whether it finished reconciling.
#[derive(Debug, Clone)]
pub struct ChronosView {
    /// The job.
    pub record: JobRecord,
    /// Its instants `0..next` (the decided ones), by index.
    pub instants: Vec<DateTime<Utc>>,
    /// Reconciling still (launches held back).
    pub reconciling: bool,
}

impl ChronosSim {
    /// A Chronos, not started yet, on `node`; `launches`: the agents' service launches.
    pub fn new(node: Node, launches: ServiceLaunches) -> ChronosSim {
        ChronosSim {
            node,
            store: SimStore::new(launches),
            handle: None,
            job_added: false,
        }
    }

    /// Starts a scheduler recovered from the store, as a restarted Chronos does; the first
    /// time, adds the job through its API.
    pub async fn start(
        &mut self,
        seed: u64,
        master: MasterAddress,
        clock: Clock,
        trace: &Trace,
    ) -> Result<(), String> {
        let records = self.store.load().await?;
        let fid = self.store.framework_id().await?;
        let (core, problems) = Chronos::recover(records, clock());
        if let Some(p) = problems.first() {
            return Err(format!("chronos cannot recover: {p}"));
        }
        let sched =
            ChronosScheduler::new(core, Rc::new(self.store.clone()), clock, Rc::new(|| true));
        let mut info = FrameworkInfo::new("chronos", "root");
        info.checkpoint = true;
        info.failover_timeout = 7.0 * 24.0 * 3600.0;
        info.id = fid.clone().map(FrameworkId::from);
        let config = SchedulerConfig {
            seed,
            reconcile_on_registration: true,
            implicit_acknowledgements: false,
            registration_backoff_max: Duration::from_secs(10),
            ..SchedulerConfig::default()
        };
        let handle = scheduler::run_with(&self.node, master, info, sched, config)
            .map_err(|e| format!("chronos cannot start: {e}"))?;
        trace.note(format!(
            "chronos {} started (failover: {})",
            handle.pid(),
            fid.is_some()
        ));
        if !self.job_added {
            let body = serde_json::json!({
                "name": JOB, "command": "true", "schedule": format!("R//PT{PERIOD_S}S"),
                "epsilon": format!("PT{EPSILON_S}S"), "cpus": 0.1, "mem": 32, "disk": 0,
                "retries": 2,
            });
            let req = ApiRequest {
                route: Route::AddScheduled,
                query: Vec::new(),
                body: Bytes::from(body.to_string()),
            };
            let reply = handle
                .process
                .call(move |p, ctx| p.with_driver(ctx, |s, d| s.api(req, d)))
                .await
                .map_err(|_| "chronos went away while adding its job".to_string())?;
            let status = match reply {
                ApiReply::Now(r) => r.status,
                ApiReply::Later(rx) => rx.await.map(|r| r.status).unwrap_or(0),
            };
            if status != 204 {
                return Err(format!("chronos refused its job: {status}"));
            }
            trace.note(format!("chronos job {JOB} added"));
            self.job_added = true;
        }
        self.handle = Some(handle);
        Ok(())
    }

    /// Kills the scheduler (its memory goes; the store stays).
    pub fn crash(&mut self, trace: &Trace) -> bool {
        let Some(h) = self.handle.take() else {
            return false;
        };
        trace.note(format!("crash chronos {}", h.pid()));
        self.node.terminate(h.pid());
        true
    }

    /// Whether its driver stopped by itself.
    pub fn stopped_by_itself(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.process.is_alive())
    }

    /// The FrameworkID Chronos stored.
    pub async fn framework_id(&self) -> Option<FrameworkId> {
        self.store
            .framework_id()
            .await
            .ok()
            .flatten()
            .map(FrameworkId::from)
    }

    /// Chronos's view of its job (None while it is down).
    pub async fn view(&self) -> Option<ChronosView> {
        let h = self.handle.as_ref()?;
        h.process
            .call(|p, _| {
                let core = &p.scheduler().core;
                let job = core.job(JOB)?;
                let instants = (0..job.state.next)
                    .filter_map(|k| job.schedule()?.instant(k))
                    .collect();
                Some(ChronosView {
                    record: job.record(),
                    instants,
                    reconciling: core.reconciling,
                })
            })
            .await
            .ok()
            .flatten()
    }
}

/// Why Chronos has not settled yet at `now` (`None`: settled): it is up and reconciled,
/// and no run due more than `bound` ago is still queued or in flight.
pub fn unsettled(
    view: Option<&ChronosView>,
    now: DateTime<Utc>,
    bound: Duration,
) -> Option<String> {
    let Some(v) = view else {
        return Some("chronos is down".into());
    };
    if v.reconciling {
        return Some("chronos is reconciling".into());
    }
    let bound = chrono::Duration::from_std(bound).unwrap_or_default();
    v.record
        .state
        .runs
        .iter()
        .find(|r| r.due + bound < now)
        .map(|r| {
            format!(
                "chronos run due {} still {:?} ({:?})",
                r.due, r.state, r.task_id
            )
        })
}

/// The invariants over Chronos's books at the end and the launches the agents saw (in
/// order). `quiet_since`: when faults stopped; an instant due `grace` after it must not be
/// missed.
pub fn breaks(
    view: &ChronosView,
    launched: &[String],
    quiet_since: DateTime<Utc>,
    grace: Duration,
) -> Vec<String> {
    let mut out = Vec::new();
    let s = &view.record.state;
    // At most one success per instant in Chronos's books.
    let mut successes: BTreeMap<DateTime<Utc>, u32> = BTreeMap::new();
    for o in &s.history {
        if o.state == TaskState::Finished.as_str() {
            *successes.entry(o.due).or_default() += 1;
        }
    }
    for (due, n) in successes.iter().filter(|(_, n)| **n > 1) {
        out.push(format!(
            "chronos: the instant due {due} succeeded {n} times"
        ));
    }
    // A retry only after a terminal status of the previous attempt: the agents launch the
    // attempts of one instant in order. (Chronos sends attempt n+1 only once told attempt n
    // ended; an agent launching attempt n after n+1 ran a launch the cluster had already
    // reported lost: a stale launch.)
    let mut by_due: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for t in launched {
        if let Some((due, attempt, _)) = parse_task(t) {
            by_due.entry(due).or_default().push(attempt);
        }
    }
    let ended: BTreeMap<&str, &str> = s
        .history
        .iter()
        .map(|o| (o.task_id.as_str(), o.state.as_str()))
        .collect();
    let complete = s.history.len() < HISTORY && s.missed.len() < HISTORY;
    for (due, attempts) in &by_due {
        if attempts.windows(2).any(|w| w[1] <= w[0]) {
            out.push(format!(
                "chronos: attempts of the instant due {due} ms launched out of order: {attempts:?} (a stale launch of an attempt reported lost)"
            ));
        }
    }
    if complete {
        // Every run launched is known: ended in the history, or in flight.
        for t in launched {
            let in_flight = s.runs.iter().any(|r| r.task_id.as_deref() == Some(t));
            if !in_flight && !ended.contains_key(t.as_str()) {
                out.push(format!(
                    "chronos: task {t} was launched but Chronos has no outcome for it"
                ));
            }
        }
        for (due, attempts) in &by_due {
            for a in attempts.iter().take(attempts.len().saturating_sub(1)) {
                let t = launched
                    .iter()
                    .find(|t| parse_task(t).is_some_and(|(d, x, _)| d == *due && x == *a));
                if let Some(t) = t {
                    if ended.get(t.as_str()) == Some(&TaskState::Finished.as_str()) {
                        out.push(format!(
                            "chronos: task {t} finished, yet its instant was retried"
                        ));
                    }
                }
            }
        }
        // Every decided instant ran (an outcome or a run) or was missed, not both.
        for (k, at) in view.instants.iter().enumerate() {
            let missed = s.missed.iter().any(|m| m.index == k as u64);
            let ran = s.history.iter().any(|o| o.due == *at) || s.runs.iter().any(|r| r.due == *at);
            if missed == ran {
                out.push(format!(
                    "chronos: instant {k} due {at}: missed={missed} ran={ran} (decided once, exactly one of them)"
                ));
            }
        }
    }
    let grace = chrono::Duration::from_std(grace).unwrap_or_default();
    for m in &s.missed {
        if m.due > quiet_since + grace {
            out.push(format!(
                "chronos: instant {} due {} missed after faults stopped: {}",
                m.index, m.due, m.reason
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_parse_and_every_fifth_first_try_fails() {
        assert_eq!(
            parse_task("ct:1000:1:tick:s3"),
            Some((1000, 1, "s3".to_string()))
        );
        assert!(matches!(
            outcome("ct:1000:0:tick:s3"),
            TaskOutcome::Ends {
                state: TaskState::Failed,
                ..
            }
        ));
        assert!(matches!(
            outcome("ct:1000:1:tick:s3"),
            TaskOutcome::Ends {
                state: TaskState::Finished,
                ..
            }
        ));
        assert!(!is_chronos_task("i0-a1"));
    }

    /// A slow store applies each write 0.2-5 s of simulated time after the previous one,
    /// in order; healed, a new write waits only for those still in flight.
    #[tokio::test(start_paused = true)]
    async fn a_slow_store_applies_writes_late_and_in_order() {
        let store = SimStore::new(ServiceLaunches::default());
        let t0 = Instant::now();
        store.slow_for(Duration::from_secs(60), 7);
        let first = store.set_framework_id("a".into());
        let second = store.set_framework_id("b".into());
        store.heal();
        let third = store.set_framework_id("c".into());
        first.await.unwrap();
        let t1 = t0.elapsed();
        assert!(
            t1 >= Duration::from_millis(200) && t1 <= Duration::from_secs(5),
            "{t1:?}"
        );
        assert_eq!(store.framework_id().await.unwrap().as_deref(), Some("a"));
        second.await.unwrap();
        let t2 = t0.elapsed();
        assert!(t2 >= t1 + Duration::from_millis(200), "{t1:?} {t2:?}");
        third.await.unwrap();
        assert_eq!(
            t0.elapsed(),
            t2,
            "the third waits for the second, no longer"
        );
        assert_eq!(store.framework_id().await.unwrap().as_deref(), Some("c"));
        assert_eq!(store.slowed(), 2);
    }

    /// A task launched after Chronos wrote its end as unknown to the master ran its
    /// instant twice; one launched before that end (the answer came later, as after a
    /// partition) did not break this rule.
    #[test]
    fn a_launch_after_the_master_said_the_task_was_unknown_is_a_break() {
        let launched: Vec<String> = ["ct:1:0:tick:s0", "ct:2:0:tick:s1", "ct:2:1:tick:s1"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        let before = BTreeMap::from([("ct:1:0:tick:s0".to_string(), 1)]);
        assert_eq!(stale_launches(&launched, &before), Vec::<String>::new());
        let after = BTreeMap::from([("ct:2:0:tick:s1".to_string(), 1)]);
        let b = stale_launches(&launched, &after);
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(b[0].contains("ct:2:0:tick:s1"), "{b:?}");
    }
}
