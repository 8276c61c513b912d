//! A task as the core keeps it: the task itself and, computed once when first asked
//! for, its operator JSON (what `/master/state`, `/master/frameworks` and `/master/tasks`
//! show of it).
//!
//! At 100,000 tasks, writing each task's JSON on every `/master/state` request was most of
//! the request's cost, though few tasks change between two requests. A record is shared
//! (`Arc`) between the core and the snapshots the views render, so a rendering caches the
//! bytes for the next one. Any change goes through `&mut` (`Arc::make_mut`, then
//! [`DerefMut`]), which drops the cache, and a copy starts without one: a cached rendering
//! is never stale.

use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use proto::messages::Task;
use proto::state_json::TaskJson;
use serde_json::value::RawValue;

/// A task and its cached operator JSON.
#[derive(Debug)]
pub struct TaskRecord {
    task: Task,
    json: OnceLock<RenderedTask>,
}

/// A task's JSON, and the user it was rendered with (a task without its own user shows
/// its framework's).
#[derive(Debug)]
struct RenderedTask {
    user: Option<Box<str>>,
    json: Box<RawValue>,
}

impl TaskRecord {
    /// A record of `task`, nothing rendered yet.
    pub fn new(task: Task) -> TaskRecord {
        TaskRecord {
            task,
            json: OnceLock::new(),
        }
    }

    /// The task.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The task's operator JSON ([`TaskJson`]) with `framework_user` for a task without
    /// its own user: rendered on the first call, the same bytes after that until the task
    /// changes. `None` when it was cached for another framework user (a framework's user
    /// does not change; the caller renders it afresh then).
    pub fn json(&self, framework_user: Option<&str>) -> Option<&RawValue> {
        let user = self.task.user.as_deref().or(framework_user);
        let rendered = self.json.get_or_init(|| RenderedTask {
            user: user.map(Box::from),
            json: self.render(framework_user),
        });
        (rendered.user.as_deref() == user).then_some(&*rendered.json)
    }

    /// [`TaskJson`] into a fresh buffer, uncached.
    pub fn render(&self, framework_user: Option<&str>) -> Box<RawValue> {
        let view = TaskJson {
            task: &self.task,
            framework_user,
        };
        // Serializing a borrowed view of plain data cannot fail (were it to, `null`
        // keeps the output JSON).
        serde_json::value::to_raw_value(&view).unwrap_or_default()
    }

    /// Whether its JSON is cached.
    pub fn is_rendered(&self) -> bool {
        self.json.get().is_some()
    }
}

impl From<Task> for TaskRecord {
    fn from(task: Task) -> TaskRecord {
        TaskRecord::new(task)
    }
}

/// A copy starts without a cache: it is copied to be changed.
impl Clone for TaskRecord {
    fn clone(&self) -> TaskRecord {
        TaskRecord::new(self.task.clone())
    }
}

impl PartialEq for TaskRecord {
    fn eq(&self, other: &TaskRecord) -> bool {
        self.task == other.task
    }
}

impl Deref for TaskRecord {
    type Target = Task;

    fn deref(&self) -> &Task {
        &self.task
    }
}

/// Mutable access drops the cached JSON: whatever is changed through it, the next
/// rendering shows.
impl DerefMut for TaskRecord {
    fn deref_mut(&mut self) -> &mut Task {
        self.json.take();
        &mut self.task
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{AgentId, CommandInfo, FrameworkId, Resources, TaskId, TaskInfo, TaskState};

    fn record() -> TaskRecord {
        let info = TaskInfo::command_task(
            "web",
            TaskId::new("t1"),
            AgentId::new("a1"),
            Resources::new(),
            CommandInfo::shell("true"),
        );
        Task::from_info(&info, FrameworkId::new("f1"), None).into()
    }

    fn shown(r: &TaskRecord, user: Option<&str>) -> serde_json::Value {
        let json = r.json(user).expect("rendered for this user");
        serde_json::from_str(json.get()).expect("JSON")
    }

    #[test]
    fn the_json_is_rendered_once_and_dropped_by_any_change() {
        let mut r = record();
        assert!(!r.is_rendered());
        assert_eq!(shown(&r, Some("alice"))["state"], "TASK_STAGING");
        assert!(r.is_rendered());
        let first: *const RawValue = r.json(Some("alice")).expect("cached");
        assert!(std::ptr::eq(first, r.json(Some("alice")).expect("cached")));

        r.state = TaskState::Running;
        assert!(!r.is_rendered());
        let v = shown(&r, Some("alice"));
        assert_eq!(v["state"], "TASK_RUNNING");
        assert_eq!(v, proto::state_json::task_json(&r, Some("alice")));
    }

    #[test]
    fn a_copy_starts_unrendered_and_another_user_is_not_served_from_the_cache() {
        let r = record();
        assert_eq!(shown(&r, Some("alice"))["user"], "alice");
        assert!(!r.clone().is_rendered());
        assert_eq!(r.clone(), r);
        assert!(r.json(Some("bob")).is_none());
        let bob: serde_json::Value =
            serde_json::from_str(r.render(Some("bob")).get()).expect("JSON");
        assert_eq!(bob["user"], "bob");
    }
}
