//! The pure scheduler: jobs, their schedules, dependency graph, runs, retries and
//! concurrency. No I/O and no clock of its own: every method takes `now`, and the shell
//! carries out what it asks (persist a job, launch on an offer, kill, acknowledge).
//!
//! Exactly once rests on three rules.
//!
//! * **Decide, write, speak.** Each job's record (definition and state: the next undecided
//!   instant, the runs in flight with their task ids and agents, which parent runs were
//!   counted, stats) carries a revision. A run gets its deterministic task id
//!   `ct:<due ms>:<attempt>:<job>:<trigger>` and its agent when it is matched with an offer;
//!   the shell launches it only once the record with that task id is durable
//!   ([`Chronos::launchable`]). A terminal status update is acknowledged only once its outcome
//!   (and the children it triggered) is durable.
//! * **Instants are decided from durable state.** A new leader recomputes the undecided
//!   instants from the stored `next`; runs recorded with a task id are asked about
//!   (explicit reconciliation, with their agent) and never relaunched while the master may
//!   still know them.
//! * **Parent runs count once.** A child remembers the task id of each parent run it
//!   counted, so an outcome delivered twice (after a failover) triggers it once.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::constraints::{AgentFacts, Constraint};
use crate::iso8601::{format_instant, Schedule};
use crate::job::{Invalid, JobDef};

/// How many missed instants and finished runs a job keeps for display.
pub const HISTORY: usize = 50;

/// What started a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Trigger {
    /// Instant `index` of the schedule.
    Scheduled {
        /// Its 0-based index.
        index: u64,
    },
    /// All parents succeeded (the `seq`-th time).
    Dependency {
        /// Trigger counter.
        seq: u64,
    },
    /// Run now (`PUT /job/{name}`).
    Manual {
        /// Trigger counter.
        seq: u64,
    },
}

impl Trigger {
    fn tag(&self) -> String {
        match self {
            Trigger::Scheduled { index } => format!("s{index}"),
            Trigger::Dependency { seq } => format!("d{seq}"),
            Trigger::Manual { seq } => format!("m{seq}"),
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunState {
    /// Waiting for an offer (no task id yet).
    Queued,
    /// Matched with an offer: task id and agent recorded; launched once durable.
    Launched,
    /// The task was reported alive.
    Running,
}

/// One run of a job (queued or in flight).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// What started it.
    pub trigger: Trigger,
    /// When it was due.
    pub due: DateTime<Utc>,
    /// 0 for the first try, then each retry.
    pub attempt: u32,
    /// Where it stands.
    pub state: RunState,
    /// The task id (once matched).
    #[serde(default)]
    pub task_id: Option<String>,
    /// The agent (once matched).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Arguments appended (`PUT /job/{name}?arguments=`).
    #[serde(default)]
    pub arguments: Vec<String>,
    /// A kill was asked for: its end is not retried.
    #[serde(default)]
    pub killing: bool,
    /// When the task was first reported alive.
    #[serde(default)]
    pub started: Option<DateTime<Utc>>,
}

/// An instant that did not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Missed {
    /// Index of the instant.
    pub index: u64,
    /// When it was due.
    pub due: DateTime<Utc>,
    /// When it was given up.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The task id.
    pub task_id: String,
    /// When it was due.
    pub due: DateTime<Utc>,
    /// When it ended.
    pub ended: DateTime<Utc>,
    /// The final Mesos state (`TASK_FINISHED`, …).
    pub state: String,
    /// The message of the last update.
    #[serde(default)]
    pub message: String,
    /// When it was first reported alive (its run time is `ended - started`).
    #[serde(default)]
    pub started: Option<DateTime<Utc>>,
}

/// A job's durable state (stored with its definition).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    /// The start of a schedule given without one ("now" when the job was added).
    #[serde(default)]
    pub anchor: Option<DateTime<Utc>>,
    /// The schedule text `next` counts instants of (a changed schedule starts again).
    #[serde(default)]
    pub anchored_schedule: String,
    /// The first instant not yet decided.
    #[serde(default)]
    pub next: u64,
    /// Queued and in-flight runs.
    #[serde(default)]
    pub runs: Vec<Run>,
    /// Parent → task id of that parent's last successful run counted here.
    #[serde(default)]
    pub counted: BTreeMap<String, String>,
    /// Parents that succeeded since this job was last triggered.
    #[serde(default)]
    pub parents_done: BTreeSet<String>,
    /// Counter for dependency and manual triggers.
    #[serde(default)]
    pub triggers: u64,
    /// Successful runs.
    #[serde(default)]
    pub success_count: u64,
    /// Failed runs (each failed attempt).
    #[serde(default)]
    pub error_count: u64,
    /// Failed attempts since the last success.
    #[serde(default)]
    pub errors_since_last_success: u64,
    /// When the last success ended.
    #[serde(default)]
    pub last_success: Option<DateTime<Utc>>,
    /// When the last failure ended.
    #[serde(default)]
    pub last_error: Option<DateTime<Utc>>,
    /// Instants that did not run.
    #[serde(default)]
    pub missed_count: u64,
    /// The last missed instants.
    #[serde(default)]
    pub missed: VecDeque<Missed>,
    /// The last finished runs.
    #[serde(default)]
    pub history: VecDeque<Outcome>,
}

/// What is stored per job (one znode each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The definition.
    pub def: JobDef,
    /// The state.
    pub state: JobState,
}

/// A job in memory.
#[derive(Debug, Clone)]
pub struct Job {
    /// Definition.
    pub def: JobDef,
    /// State.
    pub state: JobState,
    schedule: Option<Schedule>,
    epsilon: Duration,
    constraints: Vec<Constraint>,
    /// Revision of the in-memory record.
    rev: u64,
    /// The revision known to be stored.
    durable: u64,
}

impl Job {
    fn new(def: JobDef, state: JobState, rev: u64, now: DateTime<Utc>) -> Result<Job, Invalid> {
        let mut state = state;
        let schedule = if def.is_dependent() {
            None
        } else {
            let s = def.parsed_schedule()?;
            if state.anchored_schedule != def.schedule || state.anchor.is_none() {
                // A new or changed schedule counts its instants afresh.
                state.anchored_schedule = def.schedule.clone();
                state.anchor = Some(s.start.unwrap_or(now));
                let anchored = s.clone().anchored(now);
                state.next = anchored.first_at_or_after(now);
                if s.start.is_none() {
                    state.next = 0;
                }
            }
            let anchor = state.anchor.unwrap_or(now);
            Some(s.anchored(anchor))
        };
        let epsilon = def.epsilon_period()?.approx();
        let constraints = crate::constraints::parse_all(&def.constraints).map_err(Invalid)?;
        Ok(Job {
            def,
            state,
            schedule,
            epsilon,
            constraints,
            rev,
            durable: 0,
        })
    }

    /// The record to store.
    pub fn record(&self) -> JobRecord {
        JobRecord {
            def: self.def.clone(),
            state: self.state.clone(),
        }
    }

    /// The parsed schedule (anchored), if scheduled.
    pub fn schedule(&self) -> Option<&Schedule> {
        self.schedule.as_ref()
    }

    /// The next instant this job will run at, if any.
    pub fn next_instant(&self) -> Option<DateTime<Utc>> {
        self.schedule.as_ref()?.instant(self.state.next)
    }

    fn active(&self) -> usize {
        self.state
            .runs
            .iter()
            .filter(|r| r.state != RunState::Queued)
            .count()
    }

    /// Whether a run is queued or in flight.
    pub fn busy(&self) -> bool {
        !self.state.runs.is_empty()
    }

    fn task_id(&self, run: &Run) -> String {
        format!(
            "ct:{}:{}:{}:{}",
            run.due.timestamp_millis(),
            run.attempt,
            self.def.name,
            run.trigger.tag()
        )
    }
}

/// A task the shell should launch (once [`Chronos::launchable`] says so).
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// Job name.
    pub job: String,
    /// Task id.
    pub task_id: String,
    /// Agent.
    pub agent_id: String,
    /// The job's definition at match time.
    pub def: JobDef,
    /// Extra arguments of a manual run.
    pub arguments: Vec<String>,
    /// The revision that recorded it.
    pub rev: u64,
}

/// What a status update means for the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusEffect {
    /// Acknowledge once these jobs are durable at these revisions (empty: now).
    AckAfter(Vec<(String, u64)>),
    /// Not a task of any job: acknowledge, and kill it if it is alive.
    Unknown {
        /// Kill it (it is alive).
        kill: bool,
    },
}

/// Scheduling figures for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Drift {
    /// Scheduled runs matched with an offer.
    pub count: u64,
    /// Sum of (match time − due), ms.
    pub sum_ms: i64,
    /// Largest, ms.
    pub max_ms: i64,
    /// Last, ms.
    pub last_ms: i64,
}

/// A Mesos task state as the core needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEnd {
    /// Staging, starting, running.
    Alive,
    /// Finished.
    Finished,
    /// Failed, killed, error.
    Failed,
    /// Lost, dropped, gone, unknown: the launch or the task was lost (not the command's fault).
    Lost,
}

/// The scheduler's state.
#[derive(Debug, Default)]
pub struct Chronos {
    jobs: BTreeMap<String, Job>,
    /// Deleted jobs whose znode is not removed yet: name → revision.
    tombstones: BTreeMap<String, u64>,
    rev: u64,
    /// Until reconciliation is done, nothing launches.
    pub reconciling: bool,
    /// Drift figures.
    pub drift: Drift,
    /// Instants given up.
    pub missed_total: u64,
    /// Task ids this process matched with an offer and has not handed to the driver yet
    /// (their records are being written). The master cannot know them yet: asked about
    /// one (explicit reconciliation), it answers `TASK_GONE`, and the launch that follows
    /// the answer would run the task while its run is retried as lost. A new leader has
    /// none: its predecessor may have sent any run it recorded.
    unsent: BTreeSet<String>,
}

impl Chronos {
    /// An empty scheduler; nothing launches until [`Self::reconciled`].
    pub fn new() -> Chronos {
        Chronos {
            reconciling: true,
            ..Default::default()
        }
    }

    /// A scheduler with the stored jobs; nothing launches until [`Self::reconciled`].
    pub fn recover(records: Vec<JobRecord>, now: DateTime<Utc>) -> (Chronos, Vec<String>) {
        let mut c = Chronos {
            reconciling: true,
            ..Default::default()
        };
        let mut problems = Vec::new();
        for r in records {
            c.rev += 1;
            let name = r.def.name.clone();
            match Job::new(r.def, r.state, c.rev, now) {
                Ok(mut j) => {
                    j.durable = j.rev;
                    c.jobs.insert(name, j);
                }
                Err(e) => problems.push(format!("stored job '{name}' is invalid: {e}")),
            }
        }
        (c, problems)
    }

    fn bump(&mut self, name: &str) -> u64 {
        self.rev += 1;
        let rev = self.rev;
        if let Some(j) = self.jobs.get_mut(name) {
            j.rev = rev;
        }
        rev
    }

    /// The jobs, by name.
    pub fn jobs(&self) -> &BTreeMap<String, Job> {
        &self.jobs
    }

    /// One job.
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.get(name)
    }

    /// Adds or replaces a job (`POST /iso8601`, `POST /dependency`). Parents must exist
    /// and the graph stay acyclic. Returns the revision to wait for before answering.
    pub fn put(&mut self, def: JobDef, now: DateTime<Utc>) -> Result<u64, Invalid> {
        for p in &def.parents {
            if !self.jobs.contains_key(p) {
                return Err(Invalid(format!(
                    "job '{}': parent '{p}' does not exist",
                    def.name
                )));
            }
        }
        if self.creates_cycle(&def) {
            return Err(Invalid(format!(
                "job '{}': parents {:?} would make a dependency cycle",
                def.name, def.parents
            )));
        }
        let name = def.name.clone();
        let (state, durable) = match self.jobs.remove(&name) {
            Some(old) => (old.state, old.durable),
            None => (JobState::default(), 0),
        };
        self.rev += 1;
        let mut job = Job::new(def, state, self.rev, now)?;
        job.durable = durable;
        if job.def.is_dependent() {
            // Only parents still listed count.
            let parents: BTreeSet<String> = job.def.parents.iter().cloned().collect();
            job.state.parents_done.retain(|p| parents.contains(p));
        }
        self.tombstones.remove(&name);
        self.jobs.insert(name, job);
        Ok(self.rev)
    }

    fn creates_cycle(&self, def: &JobDef) -> bool {
        // Walk up from the new parents: reaching the job itself closes a cycle.
        let mut stack: Vec<&str> = def.parents.iter().map(String::as_str).collect();
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if n == def.name {
                return true;
            }
            if !seen.insert(n.to_string()) {
                continue;
            }
            if let Some(j) = self.jobs.get(n) {
                stack.extend(j.def.parents.iter().map(String::as_str));
            }
        }
        false
    }

    /// The jobs that list `name` as a parent.
    pub fn children(&self, name: &str) -> Vec<String> {
        self.jobs
            .values()
            .filter(|j| j.def.parents.iter().any(|p| p == name))
            .map(|j| j.def.name.clone())
            .collect()
    }

    /// Deletes a job; its children lose it as a parent, and children left with no parent
    /// are deleted too. Returns the task ids to kill and the deleted names.
    pub fn delete(&mut self, name: &str) -> Option<(Vec<String>, Vec<String>)> {
        self.jobs.get(name)?;
        let mut kills = Vec::new();
        let mut deleted = Vec::new();
        let mut todo = vec![name.to_string()];
        while let Some(n) = todo.pop() {
            let Some(job) = self.jobs.remove(&n) else {
                continue;
            };
            kills.extend(job.state.runs.iter().filter_map(|r| r.task_id.clone()));
            self.rev += 1;
            self.tombstones.insert(n.clone(), self.rev);
            deleted.push(n.clone());
            for child in self.children(&n) {
                let rev = self.bump(&child);
                if let Some(c) = self.jobs.get_mut(&child) {
                    c.def.parents.retain(|p| p != &n);
                    c.state.parents_done.remove(&n);
                    c.rev = rev;
                    if c.def.parents.is_empty() {
                        todo.push(child.clone());
                    }
                }
            }
        }
        Some((kills, deleted))
    }

    /// Decides every instant that is due: runs it (queued), or records it as missed when
    /// it is later than epsilon. Returns whether anything changed.
    pub fn tick(&mut self, now: DateTime<Utc>) -> bool {
        let names: Vec<String> = self.jobs.keys().cloned().collect();
        let mut changed = false;
        for name in names {
            let mut missed = 0;
            let Some(job) = self.jobs.get_mut(&name) else {
                continue;
            };
            let Some(schedule) = job.schedule.clone() else {
                continue;
            };
            let mut touched = false;
            while let Some(at) = schedule.instant(job.state.next) {
                if at > now {
                    break;
                }
                let index = job.state.next;
                if job.def.disabled {
                    job.state.next += 1;
                    touched = true;
                    continue;
                }
                let late = now - at;
                let waiting = !job.def.concurrent && job.busy();
                if late > job.epsilon {
                    let reason = if waiting {
                        format!(
                            "the previous run was still running (concurrent: false) until {}s past the instant, longer than epsilon {}",
                            late.num_seconds(),
                            job.def.epsilon
                        )
                    } else {
                        format!(
                            "not started within epsilon {}: decided {} ms late (scheduler down or not leading)",
                            job.def.epsilon,
                            late.num_milliseconds()
                        )
                    };
                    job.state.missed_count += 1;
                    job.state.missed.push_back(Missed {
                        index,
                        due: at,
                        at: now,
                        reason,
                    });
                    while job.state.missed.len() > HISTORY {
                        job.state.missed.pop_front();
                    }
                    job.state.next += 1;
                    missed += 1;
                    touched = true;
                    continue;
                }
                if waiting {
                    break;
                }
                job.state.runs.push(Run {
                    trigger: Trigger::Scheduled { index },
                    due: at,
                    attempt: 0,
                    state: RunState::Queued,
                    task_id: None,
                    agent_id: None,
                    arguments: Vec::new(),
                    killing: false,
                    started: None,
                });
                job.state.next += 1;
                touched = true;
            }
            self.missed_total += missed;
            if touched {
                self.bump(&name);
                changed = true;
            }
        }
        changed
    }

    /// When [`Self::tick`] next has something to decide.
    pub fn next_wakeup(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.jobs
            .values()
            .filter_map(|j| {
                let at = j.next_instant()?;
                Some(if at > now {
                    at
                } else {
                    // Waiting for a previous run: re-decide when epsilon runs out.
                    (at + j.epsilon + Duration::milliseconds(1)).max(now)
                })
            })
            .min()
    }

    /// Run now (`PUT /job/{name}`): queues a manual run.
    pub fn run_now(
        &mut self,
        name: &str,
        arguments: Vec<String>,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        let job = self.jobs.get_mut(name)?;
        job.state.triggers += 1;
        let seq = job.state.triggers;
        job.state.runs.push(Run {
            trigger: Trigger::Manual { seq },
            due: now,
            attempt: 0,
            state: RunState::Queued,
            task_id: None,
            agent_id: None,
            arguments,
            killing: false,
            started: None,
        });
        Some(self.bump(name))
    }

    /// Kills a job's runs (`DELETE /task/kill/{name}`): queued ones are dropped, the task
    /// ids of the others returned.
    pub fn kill(&mut self, name: &str) -> Option<(Vec<String>, u64)> {
        let job = self.jobs.get_mut(name)?;
        job.state.runs.retain(|r| r.state != RunState::Queued);
        let mut ids = Vec::new();
        for r in &mut job.state.runs {
            r.killing = true;
            ids.extend(r.task_id.clone());
        }
        Some((ids, self.bump(name)))
    }

    /// Marks the job's last run as a success by hand (`PUT /job/success/{name}`): counts a
    /// success and triggers the children.
    pub fn mark_success(&mut self, name: &str, now: DateTime<Utc>) -> Option<Vec<(String, u64)>> {
        let job = self.jobs.get_mut(name)?;
        job.state.triggers += 1;
        let token = format!("manual-success-{}", job.state.triggers);
        job.state.success_count += 1;
        job.state.errors_since_last_success = 0;
        job.state.last_success = Some(now);
        let mut revs = vec![(name.to_string(), self.bump(name))];
        revs.extend(self.parent_succeeded(name, &token, now));
        Some(revs)
    }

    fn parent_succeeded(
        &mut self,
        parent: &str,
        task_id: &str,
        now: DateTime<Utc>,
    ) -> Vec<(String, u64)> {
        let mut revs = Vec::new();
        for child in self.children(parent) {
            let Some(c) = self.jobs.get_mut(&child) else {
                continue;
            };
            if c.state.counted.get(parent).map(String::as_str) == Some(task_id) {
                continue; // already counted (an outcome delivered again)
            }
            c.state
                .counted
                .insert(parent.to_string(), task_id.to_string());
            c.state.parents_done.insert(parent.to_string());
            if c.def
                .parents
                .iter()
                .all(|p| c.state.parents_done.contains(p))
            {
                c.state.parents_done.clear();
                if !c.def.disabled {
                    c.state.triggers += 1;
                    let seq = c.state.triggers;
                    c.state.runs.push(Run {
                        trigger: Trigger::Dependency { seq },
                        due: now,
                        attempt: 0,
                        state: RunState::Queued,
                        task_id: None,
                        agent_id: None,
                        arguments: Vec::new(),
                        killing: false,
                        started: None,
                    });
                }
            }
            let rev = self.bump(&child);
            revs.push((child, rev));
        }
        revs
    }

    /// Matches queued runs with an offer of `cpus`/`mem`/`disk` on `agent` (with no
    /// attributes: jobs with constraints never match); see [`Self::match_offer_with`].
    pub fn match_offer(
        &mut self,
        agent: &str,
        cpus: f64,
        mem: f64,
        disk: f64,
        now: DateTime<Utc>,
    ) -> Vec<Launch> {
        self.match_offer_with(agent, &AgentFacts::default(), cpus, mem, disk, now)
    }

    /// Matches queued runs with an offer of `cpus`/`mem`/`disk` on `agent`, whose
    /// attributes are `facts`: each run whose job's constraints hold there gets its task
    /// id and agent (the record changes; launch once [`Self::launchable`]).
    pub fn match_offer_with(
        &mut self,
        agent: &str,
        facts: &AgentFacts,
        mut cpus: f64,
        mut mem: f64,
        mut disk: f64,
        now: DateTime<Utc>,
    ) -> Vec<Launch> {
        if self.reconciling {
            return Vec::new();
        }
        let mut out = Vec::new();
        let names: Vec<String> = self.jobs.keys().cloned().collect();
        // Oldest due first, across jobs.
        let mut queue: Vec<(DateTime<Utc>, String, usize)> = Vec::new();
        for name in &names {
            let j = &self.jobs[name];
            for (i, r) in j.state.runs.iter().enumerate() {
                if r.state == RunState::Queued {
                    queue.push((r.due, name.clone(), i));
                }
            }
        }
        queue.sort();
        for (_, name, i) in queue {
            let Some(job) = self.jobs.get_mut(&name) else {
                continue;
            };
            if !job.def.concurrent && job.active() > 0 {
                continue;
            }
            if !job.constraints.iter().all(|c| c.holds(facts)) {
                continue;
            }
            let d = &job.def;
            if d.cpus > cpus + 1e-9 || d.mem > mem + 1e-9 || d.disk > disk + 1e-9 {
                continue;
            }
            cpus -= d.cpus;
            mem -= d.mem;
            disk -= d.disk.min(disk);
            let mut run = job.state.runs[i].clone();
            let id = job.task_id(&run);
            run.task_id = Some(id.clone());
            run.agent_id = Some(agent.to_string());
            run.state = RunState::Launched;
            if let Trigger::Scheduled { .. } = run.trigger {
                let ms = (now - run.due).num_milliseconds();
                self.drift.count += 1;
                self.drift.sum_ms += ms;
                self.drift.max_ms = self.drift.max_ms.max(ms);
                self.drift.last_ms = ms;
            }
            let def = job.def.clone();
            let arguments = run.arguments.clone();
            job.state.runs[i] = run;
            self.unsent.insert(id.clone());
            let rev = self.bump(&name);
            out.push(Launch {
                job: name.clone(),
                task_id: id,
                agent_id: agent.to_string(),
                def,
                arguments,
                rev,
            });
        }
        out
    }

    /// Whether the task `launch` is recorded durably (safe to launch) and still wanted.
    pub fn launchable(&self, launch: &Launch) -> bool {
        self.jobs.get(&launch.job).is_some_and(|j| {
            j.durable >= launch.rev
                && j.state.runs.iter().any(|r| {
                    r.task_id.as_deref() == Some(launch.task_id.as_str())
                        && r.state == RunState::Launched
                })
        })
    }

    /// The launch of `task_id` goes to the driver now: from here on the master may know
    /// it, and it is reconciled with the other runs in flight.
    pub fn sent(&mut self, task_id: &str) {
        self.unsent.remove(task_id);
    }

    /// A launch could not happen (the record could not be written, or the offer went):
    /// the run waits for another offer.
    pub fn unmatch(&mut self, job: &str, task_id: &str) {
        self.unsent.remove(task_id);
        if let Some(j) = self.jobs.get_mut(job) {
            if let Some(r) =
                j.state.runs.iter_mut().find(|r| {
                    r.task_id.as_deref() == Some(task_id) && r.state == RunState::Launched
                })
            {
                r.state = RunState::Queued;
                r.task_id = None;
                r.agent_id = None;
                self.bump(job);
            }
        }
    }

    /// Whether a run waits for an offer (queued). A run in flight needs none: asking for
    /// offers then (a revive) only brings offers that are declined at once.
    pub fn wants_offers(&self) -> bool {
        self.jobs
            .values()
            .flat_map(|j| j.state.runs.iter())
            .any(|r| r.state == RunState::Queued)
    }

    /// Where the run of `task_id` is, if any.
    pub fn find(&self, task_id: &str) -> Option<(&str, &Run)> {
        self.jobs.values().find_map(|j| {
            j.state
                .runs
                .iter()
                .find(|r| r.task_id.as_deref() == Some(task_id))
                .map(|r| (j.def.name.as_str(), r))
        })
    }

    /// Every run with a task id whose launch may have gone out (by this process, or by a
    /// predecessor that recorded it): (task id, agent), for explicit reconciliation.
    pub fn in_flight(&self) -> Vec<(String, Option<String>)> {
        self.jobs
            .values()
            .flat_map(|j| j.state.runs.iter())
            .filter_map(|r| r.task_id.clone().map(|t| (t, r.agent_id.clone())))
            .filter(|(t, _)| !self.unsent.contains(t))
            .collect()
    }

    /// Reconciliation is over: launches may start.
    pub fn reconciled(&mut self) {
        self.reconciling = false;
    }

    /// A status update for `task_id`.
    pub fn status(
        &mut self,
        task_id: &str,
        end: TaskEnd,
        state: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> StatusEffect {
        let Some((name, idx)) = self.jobs.iter().find_map(|(n, j)| {
            j.state
                .runs
                .iter()
                .position(|r| r.task_id.as_deref() == Some(task_id))
                .map(|i| (n.clone(), i))
        }) else {
            return StatusEffect::Unknown {
                kill: end == TaskEnd::Alive,
            };
        };
        let Some(job) = self.jobs.get_mut(&name) else {
            return StatusEffect::AckAfter(Vec::new());
        };
        if end == TaskEnd::Alive {
            let run = &mut job.state.runs[idx];
            run.state = RunState::Running;
            run.started.get_or_insert(now);
            return StatusEffect::AckAfter(Vec::new());
        }
        let run = job.state.runs.remove(idx);
        self.unsent.remove(task_id);
        job.state.history.push_back(Outcome {
            task_id: task_id.to_string(),
            due: run.due,
            ended: now,
            state: state.to_string(),
            message: message.to_string(),
            started: run.started,
        });
        while job.state.history.len() > HISTORY {
            job.state.history.pop_front();
        }
        let mut revs = Vec::new();
        match end {
            TaskEnd::Finished => {
                job.state.success_count += 1;
                job.state.errors_since_last_success = 0;
                job.state.last_success = Some(now);
                revs.push((name.clone(), self.bump(&name)));
                revs.extend(self.parent_succeeded(&name, task_id, now));
            }
            TaskEnd::Failed | TaskEnd::Lost => {
                let retry_free = end == TaskEnd::Lost;
                if !retry_free {
                    job.state.error_count += 1;
                    job.state.errors_since_last_success += 1;
                    job.state.last_error = Some(now);
                }
                let again = !run.killing && (retry_free || run.attempt < job.def.retries);
                if again {
                    job.state.runs.push(Run {
                        attempt: run.attempt + 1,
                        state: RunState::Queued,
                        task_id: None,
                        agent_id: None,
                        started: None,
                        ..run
                    });
                }
                revs.push((name.clone(), self.bump(&name)));
            }
            TaskEnd::Alive => {}
        }
        StatusEffect::AckAfter(revs)
    }

    /// Records to write: (name, revision, record or `None` for a deletion), for every job
    /// whose record changed since it was last stored, skipping `in_flight` names. A job
    /// waits while one of its children has changes not stored yet: a parent's success and
    /// the trigger it gave its child are two records, and a leader that fails over between
    /// the two writes must not have stored the success alone (the success, heard again by
    /// the next leader, would find its run gone and trigger nothing). Stored child first,
    /// the success heard again finds the trigger already counted.
    pub fn dirty(&self, in_flight: &BTreeSet<String>) -> Vec<(String, u64, Option<JobRecord>)> {
        let unstored = |n: &str| self.jobs.get(n).is_some_and(|j| j.rev > j.durable);
        let mut out: Vec<(String, u64, Option<JobRecord>)> = self
            .jobs
            .iter()
            .filter(|(n, j)| j.rev > j.durable && !in_flight.contains(*n))
            .filter(|(n, _)| !self.children(n).iter().any(|c| unstored(c)))
            .map(|(n, j)| (n.clone(), j.rev, Some(j.record())))
            .collect();
        out.extend(
            self.tombstones
                .iter()
                .filter(|(n, _)| !in_flight.contains(*n) && !self.jobs.contains_key(*n))
                .map(|(n, r)| (n.clone(), *r, None)),
        );
        out
    }

    /// The write of `name` at `rev` succeeded.
    pub fn written(&mut self, name: &str, rev: u64) {
        if let Some(j) = self.jobs.get_mut(name) {
            j.durable = j.durable.max(rev);
        }
        if self.tombstones.get(name).is_some_and(|r| *r <= rev) {
            self.tombstones.remove(name);
        }
    }

    /// Whether `name` is stored at `rev` or later (a deleted job: its deletion is).
    pub fn durable(&self, name: &str, rev: u64) -> bool {
        match self.jobs.get(name) {
            Some(j) => j.durable >= rev,
            None => !self.tombstones.contains_key(name),
        }
    }

    /// A job as `GET /jobs` shows it: the definition plus Chronos's stats fields.
    pub fn job_json(&self, job: &Job) -> serde_json::Value {
        let mut v = serde_json::to_value(&job.def).unwrap_or_default();
        let s = &job.state;
        let t = |x: Option<DateTime<Utc>>| x.map(format_instant).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("successCount".into(), s.success_count.into());
            o.insert("errorCount".into(), s.error_count.into());
            o.insert(
                "errorsSinceLastSuccess".into(),
                s.errors_since_last_success.into(),
            );
            o.insert("lastSuccess".into(), t(s.last_success).into());
            o.insert("lastError".into(), t(s.last_error).into());
            o.insert("missedCount".into(), s.missed_count.into());
            o.insert("nextRun".into(), t(job.next_instant()).into());
            o.insert("running".into(), (job.active() as u64).into());
            o.insert("queued".into(), (s.runs.len() - job.active()).into());
            o.insert("async".into(), false.into());
            o.insert("softError".into(), false.into());
            o.insert("highPriority".into(), false.into());
            o.insert("dataProcessingJobType".into(), false.into());
            if job.def.is_dependent() {
                o.remove("schedule");
                o.remove("scheduleTimeZone");
            } else {
                o.remove("parents");
            }
        }
        v
    }
}

#[cfg(test)]
mod tests;
