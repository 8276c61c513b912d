//! A `TaskInfo` builder with named settings instead of positional arguments.
//!
//! Shell commands ([`TaskBuilder::shell`]) run as `/bin/sh -c '<command>'` in the task's
//! sandbox, as in Mesos; [`TaskBuilder::exec`] runs a program with its argv and no shell.
//! [`TaskBuilder::build`] checks the result as the master would (ids, resources with
//! cpus and mem, exactly one of command or executor) and says what is wrong.
//!
//! ```
//! use frameworks::task::TaskBuilder;
//!
//! let resources: proto::Resources = "cpus:0.1;mem:32".parse().unwrap();
//! let task = TaskBuilder::shell("echo hello; exit 0")
//!     .id("hello-1")
//!     .name("hello")
//!     .resources(resources)
//!     .env("GREETING", "hi")
//!     .label("team", "docs")
//!     .build("agent-1".into())
//!     .unwrap();
//! assert_eq!(task.command.unwrap().value.as_deref(), Some("echo hello; exit 0"));
//! assert_eq!(task.name, "hello");
//! ```

use proto::task::{KillPolicy, TaskValidationError};
use proto::{
    AgentId, CommandInfo, ContainerInfo, DiscoveryInfo, ExecutorInfo, HealthCheck, Labels, Offer,
    Resources, TaskId, TaskInfo, Uri,
};

/// Builds a [`TaskInfo`]: start with what runs ([`shell`](Self::shell),
/// [`exec`](Self::exec) or [`executor`](Self::executor)), name its parts, then
/// [`build`](Self::build) it for an agent (or [`build_for`](Self::build_for) an offer).
#[derive(Debug, Clone)]
#[must_use]
pub struct TaskBuilder {
    id: Option<TaskId>,
    name: Option<String>,
    resources: Resources,
    command: Option<CommandInfo>,
    executor: Option<ExecutorInfo>,
    container: Option<ContainerInfo>,
    health_check: Option<HealthCheck>,
    kill_grace_secs: Option<f64>,
    labels: Labels,
    discovery: Option<DiscoveryInfo>,
    data: Option<Vec<u8>>,
}

impl TaskBuilder {
    fn with(command: Option<CommandInfo>, executor: Option<ExecutorInfo>) -> Self {
        TaskBuilder {
            id: None,
            name: None,
            resources: Resources::new(),
            command,
            executor,
            container: None,
            health_check: None,
            kill_grace_secs: None,
            labels: Labels::new(),
            discovery: None,
            data: None,
        }
    }

    /// A task running `command` through `/bin/sh -c` under the command executor.
    pub fn shell(command: impl Into<String>) -> Self {
        Self::with(Some(CommandInfo::shell(command)), None)
    }

    /// A task running `program` with `args` (argv\[1..\]) and no shell.
    pub fn exec(program: impl Into<String>, args: impl IntoIterator<Item = String>) -> Self {
        let program = program.into();
        let argv = std::iter::once(program.clone()).chain(args).collect();
        Self::with(Some(CommandInfo::exec(program, argv)), None)
    }

    /// A task for the framework's own executor.
    pub fn executor(executor: ExecutorInfo) -> Self {
        Self::with(None, Some(executor))
    }

    /// The task id (required; unique within the framework).
    pub fn id(mut self, id: impl Into<TaskId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// A human-readable name (defaults to the id).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The resources the task uses (e.g. from [`crate::offers::OfferPacker::take`]).
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    fn command_mut(&mut self) -> &mut CommandInfo {
        match (&mut self.command, &mut self.executor) {
            (_, Some(e)) => &mut e.command,
            (c, None) => c.get_or_insert_with(CommandInfo::default),
        }
    }

    /// Sets an environment variable of the command (of the executor, for an executor task).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let c = self.command_mut();
        c.environment = std::mem::take(&mut c.environment).with(name, value);
        self
    }

    /// Fetches `uri` into the sandbox before the command runs.
    pub fn uri(mut self, uri: Uri) -> Self {
        self.command_mut().uris.push(uri);
        self
    }

    /// Runs the command as `user` (default: the framework's user).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.command_mut().user = Some(user.into());
        self
    }

    /// Runs the task in a container (e.g. a Docker image).
    pub fn container(mut self, container: ContainerInfo) -> Self {
        self.container = Some(container);
        self
    }

    /// A health check the executor runs.
    pub fn health_check(mut self, check: HealthCheck) -> Self {
        self.health_check = Some(check);
        self
    }

    /// Seconds between SIGTERM and SIGKILL when the task is killed.
    pub fn kill_grace_period(mut self, secs: f64) -> Self {
        self.kill_grace_secs = Some(secs);
        self
    }

    /// Adds a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels = std::mem::take(&mut self.labels).with(key, value);
        self
    }

    /// How service discovery (Mesos-DNS and friends) should name and publish the task.
    pub fn discovery(mut self, discovery: DiscoveryInfo) -> Self {
        self.discovery = Some(discovery);
        self
    }

    /// Opaque data for the executor.
    pub fn data(mut self, data: Vec<u8>) -> Self {
        self.data = Some(data);
        self
    }

    /// The task for `agent_id`, checked as the master would check it.
    pub fn build(self, agent_id: AgentId) -> Result<TaskInfo, TaskValidationError> {
        let task_id = self.id.unwrap_or_else(|| TaskId::from(""));
        let task = TaskInfo {
            name: self.name.unwrap_or_else(|| task_id.as_str().to_owned()),
            task_id,
            agent_id,
            resources: self.resources,
            executor: self.executor,
            command: self.command,
            container: self.container,
            health_check: self.health_check,
            kill_policy: self.kill_grace_secs.map(|s| KillPolicy {
                grace_period_secs: Some(s),
            }),
            labels: self.labels,
            discovery: self.discovery,
            data: self.data,
        };
        task.validate_shape()?;
        Ok(task)
    }

    /// The task for `offer`'s agent.
    pub fn build_for(self, offer: &Offer) -> Result<TaskInfo, TaskValidationError> {
        self.build(offer.agent_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_parts_are_named_errors_not_panics() {
        let no_id = TaskBuilder::shell("true")
            .resources("cpus:1;mem:1".parse().unwrap())
            .build("a".into());
        assert!(no_id.is_err());
        let no_resources = TaskBuilder::shell("true").id("t").build("a".into());
        assert!(no_resources.is_err());
    }

    #[test]
    fn exec_keeps_argv_and_executor_tasks_get_env_on_the_executor() {
        let t = TaskBuilder::exec("/bin/echo", ["a".to_string()])
            .id("t")
            .resources("cpus:1;mem:1".parse().unwrap())
            .kill_grace_period(3.0)
            .build("a".into())
            .unwrap();
        let c = t.command.unwrap();
        assert!(!c.shell);
        assert_eq!(c.arguments, vec!["/bin/echo", "a"]);
        assert_eq!(t.kill_policy.unwrap().grace_period_secs, Some(3.0));
        assert_eq!(t.name, "t");
        let e = ExecutorInfo::new("e".into(), CommandInfo::shell("./exec"));
        let t = TaskBuilder::executor(e)
            .id("t")
            .env("K", "V")
            .resources("cpus:1;mem:1".parse().unwrap())
            .build("a".into())
            .unwrap();
        assert!(t.command.is_none());
        assert_eq!(t.executor.unwrap().command.environment.get("K"), Some("V"));
    }
}
