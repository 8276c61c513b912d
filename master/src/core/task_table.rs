//! A framework's tasks on reachable agents, indexed by agent, with what its live
//! (non-terminal) tasks use on each agent kept up to date as tasks come, change and go.
//!
//! `/master/state` shows each agent's `used_resources` and each framework's; computing
//! them per request meant adding up 100,000 tasks' resources on every render, and the
//! code that needs a framework's tasks on one agent (offers, agent removal and
//! re-registration) scanned all its tasks. Every change goes through this type's methods
//! (reads go through [`Deref`] to the map; there is no mutable access to it), so the
//! figures cannot fall behind the tasks.
//!
//! Resources add exactly; subtracting a task's scalars is exact too, but ranges and sets
//! add as unions (two tasks overlapping on one port count it once), so when a task with
//! ranges or sets leaves (or stops being live), its agent's figure is added up again from
//! that agent's tasks.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::sync::Arc;

use proto::{AgentId, Resources, TaskId};

use super::TaskRecord;

/// A framework's tasks by id, with the per-agent index and figures.
#[derive(Debug, Clone, Default)]
pub struct TaskTable {
    tasks: BTreeMap<TaskId, Arc<TaskRecord>>,
    agents: BTreeMap<AgentId, OnAgent>,
    /// Changes so far (insertions and removals; an update is both).
    changes: u64,
}

/// A framework's tasks on one agent, and what its live ones use.
#[derive(Debug, Clone, Default)]
struct OnAgent {
    ids: BTreeSet<TaskId>,
    used: Resources,
}

/// What a task adds to its agent's figure: its resources while it is live.
fn counted(t: &TaskRecord) -> Option<&Resources> {
    (!t.state.is_terminal()).then_some(&t.resources)
}

impl TaskTable {
    /// An empty table.
    pub fn new() -> TaskTable {
        TaskTable::default()
    }

    /// Records `task` (replacing a task with its id, which is returned).
    pub fn insert(&mut self, task: Arc<TaskRecord>) -> Option<Arc<TaskRecord>> {
        let old = self.remove(&task.task_id);
        self.changes += 1;
        if !self.agents.contains_key(&task.agent_id) {
            self.agents
                .insert(task.agent_id.clone(), OnAgent::default());
        }
        if let Some(on) = self.agents.get_mut(&task.agent_id) {
            on.ids.insert(task.task_id.clone());
            if let Some(r) = counted(&task) {
                on.used += r;
            }
        }
        self.tasks.insert(task.task_id.clone(), task);
        old
    }

    /// Forgets the task `id`, returning it.
    pub fn remove(&mut self, id: &TaskId) -> Option<Arc<TaskRecord>> {
        let task = self.tasks.remove(id)?;
        self.changes += 1;
        if let Some(on) = self.agents.get_mut(&task.agent_id) {
            on.ids.remove(id);
        }
        self.uncount(&task);
        Some(task)
    }

    /// Changes the task `id` through `change` (copying its record if a snapshot shares
    /// it), keeping the figures right whatever it changed; `None` if there is no such task.
    pub fn update<R>(
        &mut self,
        id: &TaskId,
        change: impl FnOnce(&mut TaskRecord) -> R,
    ) -> Option<R> {
        let mut task = self.remove(id)?;
        let out = change(Arc::make_mut(&mut task));
        self.insert(task);
        Some(out)
    }

    /// Keeps only the tasks `keep` says to.
    pub fn retain(&mut self, mut keep: impl FnMut(&TaskRecord) -> bool) {
        let gone: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| !keep(t))
            .map(|t| t.task_id.clone())
            .collect();
        for id in gone {
            self.remove(&id);
        }
    }

    /// Empties the table, returning its tasks.
    pub fn take(&mut self) -> BTreeMap<TaskId, Arc<TaskRecord>> {
        self.changes += 1;
        self.agents.clear();
        std::mem::take(&mut self.tasks)
    }

    /// How many changes the table has seen (it only grows): a reader can tell whether
    /// anything changed since it last looked.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The tasks on `agent`, by id.
    pub fn on_agent<'a>(
        &'a self,
        agent: &AgentId,
    ) -> impl Iterator<Item = &'a Arc<TaskRecord>> + 'a {
        self.agents
            .get(agent)
            .into_iter()
            .flat_map(|on| on.ids.iter())
            .filter_map(|id| self.tasks.get(id))
    }

    /// What the live tasks on `agent` use (empty if none).
    pub fn used_on(&self, agent: &AgentId) -> Option<&Resources> {
        self.agents
            .get(agent)
            .map(|on| &on.used)
            .filter(|r| !r.is_empty())
    }

    /// What the live tasks use, per agent (agents where they use nothing are left out).
    pub fn used_by_agent(&self) -> impl Iterator<Item = (&AgentId, &Resources)> {
        self.agents
            .iter()
            .map(|(a, on)| (a, &on.used))
            .filter(|(_, r)| !r.is_empty())
    }

    /// What the live tasks use, all agents together.
    pub fn used(&self) -> Resources {
        self.used_by_agent()
            .fold(Resources::new(), |acc, (_, r)| acc + r)
    }

    /// Takes a task that left the table out of its agent's figure (and drops the
    /// agent's entry once it has no tasks).
    fn uncount(&mut self, task: &TaskRecord) {
        let Some(on) = self.agents.get_mut(&task.agent_id) else {
            return;
        };
        if on.ids.is_empty() {
            self.agents.remove(&task.agent_id);
            return;
        }
        let Some(r) = counted(task) else {
            return;
        };
        if r.is_scalar_only() {
            on.used -= r;
        } else {
            on.used = on
                .ids
                .iter()
                .filter_map(|id| self.tasks.get(id))
                .filter_map(|t| counted(t))
                .fold(Resources::new(), |acc, r| acc + r);
        }
    }
}

impl Deref for TaskTable {
    type Target = BTreeMap<TaskId, Arc<TaskRecord>>;

    fn deref(&self) -> &BTreeMap<TaskId, Arc<TaskRecord>> {
        &self.tasks
    }
}

impl PartialEq for TaskTable {
    fn eq(&self, other: &TaskTable) -> bool {
        self.tasks == other.tasks
    }
}

impl FromIterator<Arc<TaskRecord>> for TaskTable {
    fn from_iter<I: IntoIterator<Item = Arc<TaskRecord>>>(tasks: I) -> TaskTable {
        let mut table = TaskTable::new();
        for t in tasks {
            table.insert(t);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libproc::rng::SplitMix64;
    use proto::messages::Task;
    use proto::{CommandInfo, FrameworkId, TaskInfo, TaskState};

    const AGENTS: u64 = 3;
    const IDS: u64 = 10;
    const STATES: [TaskState; 5] = [
        TaskState::Staging,
        TaskState::Running,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Lost,
    ];
    // Scalars (plain and reserved), and ranges and sets that overlap between tasks.
    const RESOURCES: [&str; 7] = [
        "cpus:0.5;mem:32",
        "cpus:1.25;mem:128;disk:10",
        "cpus(web):1;mem(web):64",
        "cpus:0.1;ports:[31000-31005]",
        "ports:[31003-31010,31020-31020]",
        "zones:{a,b}",
        "cpus:2;zones:{b,c}",
    ];

    fn pick<T: Copy>(rng: &mut SplitMix64, from: &[T]) -> T {
        from[(rng.next_u64() % from.len() as u64) as usize]
    }

    fn task(rng: &mut SplitMix64) -> TaskRecord {
        let id = TaskId::new(format!("t{}", rng.next_u64() % IDS));
        let agent = AgentId::new(format!("a{}", rng.next_u64() % AGENTS));
        let resources: Resources = pick(rng, &RESOURCES).parse().expect("resources");
        let info = TaskInfo::command_task("t", id, agent, resources, CommandInfo::shell("true"));
        let mut t = Task::from_info(&info, FrameworkId::new("f"), None);
        t.state = pick(rng, &STATES);
        t.into()
    }

    /// The figures recomputed from the tasks, as the views did before this table.
    fn assert_matches_recomputed(table: &TaskTable, seed: u64, step: usize) {
        for a in 0..AGENTS {
            let agent = AgentId::new(format!("a{a}"));
            let live = table
                .values()
                .filter(|t| t.agent_id == agent && !t.state.is_terminal());
            let want = live.fold(Resources::new(), |acc, t| acc + &t.resources);
            let got = table.used_on(&agent).cloned().unwrap_or_default();
            assert_eq!(got, want, "seed {seed} step {step} agent {agent}");
            let want_ids: Vec<&TaskId> = table
                .values()
                .filter(|t| t.agent_id == agent)
                .map(|t| &t.task_id)
                .collect();
            let got_ids: Vec<&TaskId> = table.on_agent(&agent).map(|t| &t.task_id).collect();
            assert_eq!(got_ids, want_ids, "seed {seed} step {step} agent {agent}");
        }
        let all = table
            .values()
            .filter(|t| !t.state.is_terminal())
            .fold(Resources::new(), |acc, t| acc + &t.resources);
        assert_eq!(table.used(), all, "seed {seed} step {step}");
        assert!(table.agents.values().all(|on| !on.ids.is_empty()));
    }

    #[test]
    fn every_change_is_counted() {
        let mut rng = SplitMix64::new(1);
        let mut table = TaskTable::new();
        let t = Arc::new(task(&mut rng));
        let id = t.task_id.clone();
        table.insert(t);
        let after_insert = table.changes();
        assert!(after_insert > 0);
        table.update(&id, |t| t.state = TaskState::Finished);
        assert!(table.changes() > after_insert);
        let after_update = table.changes();
        table.remove(&id);
        assert!(table.changes() > after_update);
        let after_remove = table.changes();
        table.take();
        assert!(table.changes() > after_remove);
    }

    #[test]
    fn the_kept_figures_equal_the_recomputed_ones_after_any_sequence_of_changes() {
        for seed in 0..200 {
            let mut rng = SplitMix64::new(seed);
            let mut table = TaskTable::new();
            // A snapshot shares the records: changes must not reach it.
            let mut snapshot = None;
            for step in 0..200 {
                let id = TaskId::new(format!("t{}", rng.next_u64() % IDS));
                match rng.next_u64() % 10 {
                    0..=3 => {
                        table.insert(Arc::new(task(&mut rng)));
                    }
                    4 => {
                        table.remove(&id);
                    }
                    5..=7 => {
                        let other = task(&mut rng);
                        let what = rng.next_u64() % 3;
                        table.update(&id, |t| match what {
                            0 => t.state = other.state,
                            1 => t.resources = other.resources.clone(),
                            _ => t.agent_id = other.agent_id.clone(),
                        });
                    }
                    8 => {
                        let bit = rng.next_u64() % 2;
                        table.retain(|t| (t.task_id.as_str().len() as u64 + bit) % 2 == 0);
                    }
                    _ if step % 50 == 0 => {
                        table.take();
                    }
                    _ => snapshot = Some(table.clone()),
                }
                assert_matches_recomputed(&table, seed, step);
                if let Some(s) = &snapshot {
                    assert_matches_recomputed(s, seed, step);
                }
            }
        }
    }

    #[test]
    fn an_overlap_counted_once_is_not_taken_away_twice() {
        let mut rng = SplitMix64::new(7);
        let mut ports = |range: &str, id: &str| {
            let mut t = task(&mut rng);
            t.task_id = TaskId::new(id);
            t.agent_id = AgentId::new("a0");
            t.state = TaskState::Running;
            t.resources = range.parse().expect("ports");
            Arc::new(t)
        };
        let mut table = TaskTable::new();
        table.insert(ports("ports:[31000-31005]", "x"));
        table.insert(ports("ports:[31003-31010]", "y"));
        table.remove(&TaskId::new("x"));
        let want: Resources = "ports:[31003-31010]".parse().expect("ports");
        assert_eq!(table.used_on(&AgentId::new("a0")), Some(&want));
    }
}
