//! The simulation's framework: a service scheduler on the SDK that keeps one task running
//! per *intent* (think of an app's instance). Each launch is a fresh task id
//! `i<intent>-a<attempt>`; a terminal status frees the intent for the next attempt. Its
//! bookkeeping lives in a [`Memory`] that outlives the driver (as a real framework keeps it
//! in its own store), so a failover scheduler carries on where its predecessor stopped.
//!
//! It also checks what only a framework sees: each offer batch within the agents'
//! resources, and every task's status updates in order (nothing non-terminal after a
//! terminal state, from an update or a reconciliation answer; no update repeated after a
//! newer one).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use frameworks::scheduler::{Scheduler, SchedulerDriver};
use proto::{AgentId, Filters, FrameworkId, MasterInfo, Offer, Resources, TaskId, TaskStatus};

/// What the framework remembers across scheduler failovers.
#[derive(Debug, Default)]
pub struct Memory {
    /// The id the master gave the framework.
    pub framework_id: Option<FrameworkId>,
    /// Per intent: the current attempt and its task, if one is (believed) live.
    pub intents: Vec<Intent>,
    /// Per task: the status updates received, in order (state, uuid).
    pub updates: BTreeMap<TaskId, Vec<(proto::TaskState, Option<proto::StatusUuid>)>>,
    /// The agent each task was launched on.
    pub agent_of: BTreeMap<TaskId, AgentId>,
    /// Invariant breaks the framework saw.
    pub breaks: Vec<String>,
}

/// One intent's progress.
#[derive(Debug, Default, Clone)]
pub struct Intent {
    /// Launches so far.
    pub attempts: u32,
    /// The task believed live.
    pub current: Option<TaskId>,
}

impl Memory {
    /// The latest state the framework knows for `task`.
    pub fn latest(&self, task: &TaskId) -> Option<proto::TaskState> {
        self.updates.get(task).and_then(|u| u.last()).map(|u| u.0)
    }
}

/// Shared handle on the framework's memory.
pub type SharedMemory = Arc<Mutex<Memory>>;

/// The scheduler (see the module doc).
pub struct Keeper {
    /// Its memory.
    pub memory: SharedMemory,
    /// Each task's resources.
    pub task_resources: Resources,
    /// Each agent's total resources (the bound an offer batch must respect).
    pub agent_total: Resources,
    /// Simulated now, for the trace.
    pub log: crate::sim::Trace,
}

fn intent_of(task: &TaskId) -> Option<usize> {
    let s = task.as_str().strip_prefix('i')?;
    s.split_once("-a")?.0.parse().ok()
}

impl Keeper {
    fn mem(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Scheduler for Keeper {
    fn registered(
        &mut self,
        _d: &mut SchedulerDriver<'_, '_, Self>,
        framework_id: &FrameworkId,
        _m: &MasterInfo,
    ) {
        self.log
            .note(format!("framework registered as {framework_id}"));
        self.mem().framework_id = Some(framework_id.clone());
    }

    fn resource_offers(&mut self, d: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        let mut per_agent: BTreeMap<AgentId, Resources> = BTreeMap::new();
        for o in &offers {
            *per_agent.entry(o.agent_id.clone()).or_default() += &o.resources;
        }
        for (agent, sum) in &per_agent {
            if !self.agent_total.contains(sum) {
                let b = format!("offers for agent {agent} exceed its resources: {sum}");
                self.mem().breaks.push(b);
            }
        }
        for offer in offers {
            let mut free = offer.resources.clone();
            let mut tasks = Vec::new();
            let mut agent_of = Vec::new();
            {
                let mut mem = self.mem();
                for (k, intent) in mem.intents.iter_mut().enumerate() {
                    if intent.current.is_some() || !free.contains(&self.task_resources) {
                        continue;
                    }
                    intent.attempts += 1;
                    let id = TaskId::new(format!("i{k}-a{}", intent.attempts));
                    let built = frameworks::task::TaskBuilder::shell("sleep 1000000")
                        .id(id.clone())
                        .resources(self.task_resources.clone())
                        .build_for(&offer);
                    if let Ok(task) = built {
                        free = free.clone() - self.task_resources.clone();
                        intent.current = Some(id.clone());
                        tasks.push(task);
                        agent_of.push((id, offer.agent_id.clone()));
                    }
                }
                mem.agent_of.extend(agent_of);
            }
            if tasks.is_empty() {
                d.decline(
                    offer.id,
                    Filters {
                        refuse_seconds: 5.0,
                    },
                );
            } else {
                let names: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
                self.log
                    .note(format!("launch {names:?} on {}", offer.agent_id));
                d.launch(
                    vec![offer.id],
                    tasks,
                    Filters {
                        refuse_seconds: 5.0,
                    },
                );
            }
        }
    }

    fn status_update(&mut self, d: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        let mut mem = self.mem();
        let seen = mem.updates.entry(status.task_id.clone()).or_default();
        if let Some(uuid) = status.uuid {
            let earlier = seen.iter().position(|(_, u)| *u == Some(uuid));
            let newer_since =
                earlier.is_some_and(|i| seen[i + 1..].iter().any(|(_, u)| u.is_some()));
            if newer_since {
                let b = format!(
                    "task {}: update {uuid:?} re-delivered after a newer one",
                    status.task_id
                );
                mem.breaks.push(b);
                return;
            }
            if earlier.is_some() {
                return;
            }
        }
        // A terminal state is final (this framework is not partition-aware): nothing, not
        // an update nor a reconciliation answer, may say the task lives again.
        let ended = seen.iter().find(|(s, _)| s.is_terminal()).map(|(s, _)| *s);
        if let (Some(ended), false) = (ended, status.state.is_terminal()) {
            let b = format!(
                "task {}: {:?} after the framework was told {ended:?}",
                status.task_id, status.state
            );
            mem.breaks.push(b);
        }
        let seen = mem.updates.entry(status.task_id.clone()).or_default();
        seen.push((status.state, status.uuid));
        let Some(k) = intent_of(&status.task_id) else {
            return;
        };
        if status.state.is_terminal() {
            if let Some(intent) = mem.intents.get_mut(k) {
                if intent.current.as_ref() == Some(&status.task_id) {
                    intent.current = None;
                    drop(mem);
                    self.log
                        .note(format!("task {} is {:?}", status.task_id, status.state));
                    d.revive();
                }
            }
        } else if mem.intents.get(k).and_then(|i| i.current.as_ref()) != Some(&status.task_id) {
            // A task this framework no longer counts on (an older attempt) says it lives:
            // kill it, as a careful framework does.
            drop(mem);
            self.log.note(format!(
                "task {} ({:?}) is not current: killing it",
                status.task_id, status.state
            ));
            d.kill(status.task_id.clone());
        }
    }
}
