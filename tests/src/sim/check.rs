//! The invariants a simulation run is held to, checked after every fault and at the end:
//!
//! * no task launched twice (launches counted per task id where executors receive them);
//! * with several masters, at most one acts as leader at any moment (elected, leading and
//!   its ZooKeeper lease valid: `Acting::Act`), checked at every instant: at each change
//!   that can start a master acting (see [`super::acting`]);
//! * what the framework saw: offer batches within an agent's resources, each task's status
//!   updates in order (see [`super::workload`]);
//! * liveness: once faults stop, within the settle bound the cluster converges: every
//!   intent has exactly one task, `TASK_RUNNING` in the framework's, the master's and its
//!   agent's eyes; no other task of the framework is live anywhere; and every task ever
//!   launched that is not current ended with a terminal status the framework received
//!   (no task lost without a status);
//! * the master's books (see [`Sim::check_master_offers`]): on every agent, what is offered
//!   plus what its tasks use fits in the agent's total; and once converged, no offer of the
//!   framework stays outstanding while the scheduler answers every offer at once (an offer
//!   sent to a scheduler instance that failed over must be rescinded, as Mesos'
//!   `Master::failoverFramework` does).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proto::{AgentId, OfferId, Resources, TaskId, TaskState};
use tokio::time::Instant;

use super::{Sim, SimConfig};

/// A snapshot of who thinks what runs.
#[derive(Debug, Default)]
struct Views {
    /// The master's non-terminal tasks of the framework: id → (state, agent).
    master: BTreeMap<TaskId, (TaskState, AgentId)>,
    /// Every agent's non-terminal tasks: (agent index, id, state).
    agents: Vec<(usize, TaskId, TaskState)>,
    /// The framework's current tasks and their latest state.
    framework: Vec<(usize, Option<TaskId>, Option<TaskState>)>,
    /// How the master sees the framework and the agents (for failure messages).
    master_notes: String,
}

impl Sim {
    /// The invariants that hold at every moment.
    pub(super) fn check_now(&mut self) {
        let twice: Vec<String> = self
            .launches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(t, n)| format!("task {t} launched {n} times"))
            .collect();
        let mut mem = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<String> = twice;
        found.append(&mut mem.breaks);
        found.append(&mut self.acting.take_breaks());
        drop(mem);
        for b in found {
            if !self.breaks.contains(&b) {
                self.trace.note(format!("BREAK {b}"));
                self.breaks.push(b);
            }
        }
    }

    /// Records `b` unless it is already known.
    fn record_break(&mut self, b: String) {
        if !self.breaks.contains(&b) {
            self.trace.note(format!("BREAK {b}"));
            self.breaks.push(b);
        }
    }

    /// The master's offer books, read from its state: on every agent, the resources of
    /// outstanding offers plus those of non-terminal tasks fit in the agent's total (an
    /// offer that outlives its purpose, or one made twice, shows up here).
    pub(super) async fn check_master_offers(&mut self) {
        let Some(m) = self.leader() else { return };
        let over = m
            .master
            .call(|m, _| {
                let core = m.core();
                core.agents()
                    .values()
                    .filter_map(|a| {
                        let offered = core.offered_on_agent(a);
                        let used = core
                            .used_on_agent(&a.id)
                            .values()
                            .fold(Resources::new(), |sum, r| sum + r);
                        let total = &a.info.resources;
                        (!total.contains(&(offered.clone() + &used))).then(|| {
                            format!(
                                "master: agent {} has offers of {offered} and tasks using \
                                 {used}, beyond its total {total}",
                                a.id
                            )
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
        for b in over {
            self.record_break(b);
        }
    }

    /// The offers outstanding at the master (the sim's one framework holds them all).
    async fn outstanding_offers(&self) -> BTreeSet<OfferId> {
        let Some(m) = self.leader() else {
            return BTreeSet::new();
        };
        m.master
            .call(|m, _| m.core().offers().keys().cloned().collect())
            .await
            .unwrap_or_default()
    }

    /// Once converged: the scheduler answers every offer as it arrives and the network is
    /// calm, so an offer still outstanding `STUCK_AFTER` later was sent to no live
    /// scheduler (say, one that failed over) and holds its resources for good.
    async fn check_no_stuck_offers(&mut self) {
        const STUCK_AFTER: Duration = Duration::from_secs(20);
        let before = self.outstanding_offers().await;
        tokio::time::sleep(STUCK_AFTER).await;
        let after = self.outstanding_offers().await;
        let stuck: Vec<&OfferId> = before.intersection(&after).collect();
        if !stuck.is_empty() {
            self.record_break(format!(
                "liveness: offers {stuck:?} outstanding for {STUCK_AFTER:?} after \
                 convergence, to a scheduler that answers every offer at once"
            ));
        }
    }

    async fn views(&self) -> Views {
        let mut v = Views::default();
        let fid = self
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .framework_id
            .clone();
        if let (Some(m), Some(fid)) = (self.leader(), fid.clone()) {
            let got = m
                .master
                .call(move |m, _| {
                    m.core()
                        .frameworks()
                        .get(&fid)
                        .map(|f| {
                            f.tasks
                                .iter()
                                .filter(|(_, t)| !t.state.is_terminal())
                                .map(|(id, t)| (id.clone(), (t.state, t.agent_id.clone())))
                                .collect::<BTreeMap<_, _>>()
                        })
                        .unwrap_or_default()
                })
                .await;
            v.master = got.unwrap_or_default();
        }
        if let (Some(m), Some(fid)) = (self.leader(), fid.clone()) {
            let notes = m
                .master
                .call(move |m, _| {
                    let f = m.core().frameworks().get(&fid).map(|f| {
                        format!(
                            "framework pid={:?} active={} connected={} offers={}",
                            f.pid.as_ref().map(|p| p.to_string()),
                            f.active,
                            f.connected,
                            f.offers.len()
                        )
                    });
                    let agents: Vec<String> = m
                        .core()
                        .agents()
                        .values()
                        .map(|a| {
                            format!(
                                "{}@{} connected={} offers={}",
                                a.id,
                                a.pid,
                                a.connected,
                                a.offers.len()
                            )
                        })
                        .collect();
                    format!("{f:?}; agents {agents:?}")
                })
                .await;
            v.master_notes = notes.unwrap_or_default();
        }
        for (i, slot) in self.agents.iter().enumerate() {
            let Some(h) = &slot.handle else { continue };
            let fid = fid.clone();
            let got = h
                .process
                .call(move |a, _| {
                    a.frameworks()
                        .iter()
                        .filter(|(id, _)| Some(*id) == fid.as_ref())
                        .flat_map(|(_, f)| f.executors.values())
                        .flat_map(|e| e.launched.values())
                        .filter(|t| !t.state.is_terminal())
                        .map(|t| (t.task_id.clone(), t.state))
                        .collect::<Vec<_>>()
                })
                .await;
            for (id, s) in got.unwrap_or_default() {
                v.agents.push((i, id, s));
            }
        }
        let mem = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        v.framework = mem
            .intents
            .iter()
            .enumerate()
            .map(|(k, i)| {
                (
                    k,
                    i.current.clone(),
                    i.current.as_ref().and_then(|t| mem.latest(t)),
                )
            })
            .collect();
        v
    }

    /// Why the views do not agree yet (`None`: converged).
    fn diverges(&self, v: &Views) -> Option<String> {
        if self.leader().is_none() {
            return Some("no master leads".into());
        }
        let mut current = BTreeSet::new();
        for (k, task, state) in &v.framework {
            match (task, state) {
                (Some(t), Some(TaskState::Running)) => {
                    current.insert(t.clone());
                }
                _ => return Some(format!("intent {k}: framework has {task:?} in {state:?}")),
            }
        }
        for t in &current {
            match v.master.get(t) {
                Some((TaskState::Running, _)) => {}
                other => return Some(format!("task {t}: master has {other:?}")),
            }
            let on: Vec<_> = v.agents.iter().filter(|(_, id, _)| id == t).collect();
            if on.len() != 1 || on[0].2 != TaskState::Running {
                return Some(format!("task {t}: agents have {on:?}"));
            }
        }
        if let Some(t) = v.master.keys().find(|t| !current.contains(*t)) {
            return Some(format!("master still has a non-current task {t}"));
        }
        if let Some(t) = v.agents.iter().find(|(_, t, _)| !current.contains(t)) {
            return Some(format!("an agent still runs a non-current task {t:?}"));
        }
        None
    }

    /// With faults stopped: waits (bounded, simulated time) for convergence, asking the
    /// master to reconcile now and then; then checks that no task vanished silently.
    pub(super) async fn settle(&mut self, config: &SimConfig) {
        let deadline = Instant::now() + config.settle_bound;
        let mut last_reconcile = Instant::now();
        let mut why;
        loop {
            self.repair_due(true).await;
            let v = self.views().await;
            match self.diverges(&v) {
                None => {
                    self.trace.note("converged".into());
                    self.check_no_stuck_offers().await;
                    break;
                }
                Some(w) => why = w,
            }
            if Instant::now() >= deadline {
                let b = format!(
                    "liveness: not converged {:?} after faults stopped: {why}; views: {v:?}",
                    config.settle_bound
                );
                self.trace.note(format!("BREAK {b}"));
                self.breaks.push(b);
                return;
            }
            if last_reconcile.elapsed() >= Duration::from_secs(30) {
                last_reconcile = Instant::now();
                self.reconcile().await;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        // Every task launched and not current ended with a terminal status.
        let launched: Vec<TaskId> = self
            .launches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        let mem = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        let current: BTreeSet<TaskId> = mem
            .intents
            .iter()
            .filter_map(|i| i.current.clone())
            .collect();
        let mut lost = Vec::new();
        for t in launched {
            if !current.contains(&t) && !mem.latest(&t).is_some_and(|s| s.is_terminal()) {
                lost.push(format!(
                    "task {t} is gone without a terminal status (framework last saw {:?})",
                    mem.latest(&t)
                ));
            }
        }
        drop(mem);
        for b in lost {
            self.trace.note(format!("BREAK {b}"));
            self.breaks.push(b);
        }
    }

    /// What a careful framework does periodically: explicit reconciliation of its current
    /// tasks, naming their agents (unknown ones come back `TASK_LOST` and are relaunched),
    /// then implicit reconciliation (a live task it no longer counts on is killed).
    pub(super) async fn reconcile(&self) {
        let Some(d) = &self.driver else { return };
        let statuses: Vec<proto::TaskStatus> = {
            let mem = self.memory.lock().unwrap_or_else(|p| p.into_inner());
            mem.intents
                .iter()
                .filter_map(|i| i.current.clone())
                .map(|t| {
                    let s = mem.latest(&t).unwrap_or(TaskState::Staging);
                    let agent = mem.agent_of.get(&t).cloned();
                    let mut status = proto::TaskStatus::new(t, s);
                    status.agent_id = agent;
                    status
                })
                .collect()
        };
        self.trace
            .note(format!("reconcile {} tasks", statuses.len()));
        let _ = d
            .process
            .call(move |p, ctx| {
                p.with_driver(ctx, |_, d| {
                    d.reconcile(statuses);
                    d.reconcile_all();
                })
            })
            .await;
    }
}
