//! `mesos-execute`: runs one command as a task on the cluster and reports how it went.
//!
//! ```text
//! mesos-execute --master=127.0.0.1:5050 --name=hello --command='echo hi'
//! mesos-execute --master=127.0.0.1:5050 --name=boxed --docker_image=busybox --command='echo hi'
//! ```
//!
//! With `--docker_image` the task gets a DOCKER `ContainerInfo` (host networking), which an
//! agent run with `--containerizers=mesos,docker` launches through the Docker engine.
//!
//! Subscribes a framework, takes the first offer that holds `--resources`, launches the
//! command as task `<name>`, declines every other offer, prints each status update as it
//! arrives, and exits 0 on `TASK_FINISHED`, 1 on any other terminal state (printing the
//! reason and the task's last stderr lines that the command executor put in the message),
//! and 2 on bad flags.

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use frameworks::cli;
use frameworks::scheduler::{self, Scheduler, SchedulerConfig, SchedulerDriver, StopReason};
use libproc::flags::Flag;
use libproc::{Node, NodeConfig};
use proto::{
    CommandInfo, ContainerInfo, Environment, Filters, FrameworkCapability, FrameworkId,
    FrameworkInfo, MasterInfo, Offer, Resources, TaskInfo, TaskState, TaskStatus,
};

const FLAGS: &[Flag] = &[
    Flag::required(
        "master",
        "The master to use: host:port (e.g. 127.0.0.1:5050), or zk://host:port[,host:port]/path to follow the leader.",
    ),
    Flag::required("name", "Name (and id) of the task."),
    Flag::required("command", "Shell command to run, e.g. 'echo hello'."),
    Flag::new("resources", "cpus:0.1;mem:32", "Resources of the task."),
    Flag::new(
        "checkpoint",
        "false",
        "Whether the framework checkpoints (tasks survive agent restarts).",
    ),
    Flag::new("role", "*", "Role to subscribe with."),
    Flag::new(
        "framework_name",
        "mesos-execute instance",
        "Name of the framework.",
    ),
    Flag::optional(
        "env",
        "Environment of the command as a JSON object, e.g. {\"A\":\"1\"}.",
    ),
    Flag::optional("kill_after", "Kill the task after this long, e.g. 10secs."),
    Flag::optional(
        "principal",
        "Principal to authenticate to the master with (and register as).",
    ),
    Flag::optional(
        "secret",
        "Secret of --principal (visible to ps: prefer the MESOS_SECRET environment variable).",
    ),
    Flag::optional(
        "docker_image",
        "Run the command in a Docker container of this image (needs an agent with --containerizers=docker).",
    ),
    libproc::fault::FLAG,
];

/// Declined offers are not offered again for this long.
const DECLINE_SECONDS: f64 = 3600.0;

struct Execute {
    name: String,
    command: CommandInfo,
    container: Option<ContainerInfo>,
    resources: Resources,
    role: String,
    kill_after: Option<Duration>,
    launched: bool,
    outcome: Option<TaskState>,
    /// The terminal state, shared with `main` for the exit code.
    result: Rc<Cell<Option<TaskState>>>,
}

impl Execute {
    fn fits(&self, offer: &Offer) -> bool {
        offer
            .resources
            .allocatable_to(&self.role)
            .contains(&self.resources)
    }
}

impl Scheduler for Execute {
    fn registered(
        &mut self,
        _d: &mut SchedulerDriver<'_, '_, Self>,
        framework_id: &FrameworkId,
        _m: &MasterInfo,
    ) {
        println!("Subscribed with ID {framework_id}");
    }

    fn disconnected(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>) {
        println!("Disconnected from the master; re-subscribing");
    }

    fn resource_offers(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        for offer in offers {
            if self.launched || !self.fits(&offer) {
                driver.decline(offer.id, Filters::refuse(DECLINE_SECONDS));
                continue;
            }
            self.launched = true;
            let mut task = TaskInfo::command_task(
                self.name.clone(),
                self.name.as_str().into(),
                offer.agent_id.clone(),
                self.resources.clone(),
                self.command.clone(),
            );
            task.container = self.container.clone();
            println!(
                "Submitted task '{}' to agent '{}'",
                self.name, offer.agent_id
            );
            driver.launch(vec![offer.id], vec![task], Filters::refuse(DECLINE_SECONDS));
            if let Some(after) = self.kill_after {
                driver.after(after, |me: &mut Self, d| {
                    if me.outcome.is_none() {
                        println!("Killing task '{}' after --kill_after", me.name);
                        d.kill(me.name.as_str().into());
                    }
                });
            }
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        if status.task_id.as_str() != self.name {
            return;
        }
        println!(
            "Received status update {} for task '{}'",
            status.state, self.name
        );
        if let Some(m) = &status.message {
            println!("  message: '{m}'");
        }
        if let Some(s) = status.source {
            println!("  source: {s}");
        }
        if let Some(r) = status.reason {
            println!("  reason: {r}");
        }
        if status.state.is_terminal() && self.outcome.is_none() {
            self.outcome = Some(status.state);
            self.result.set(Some(status.state));
            if status.state != TaskState::Finished {
                eprintln!(
                    "Task '{}' ended in {}{}",
                    self.name,
                    status.state,
                    status.reason.map(|r| format!(" ({r})")).unwrap_or_default()
                );
                if let Some(m) = &status.message {
                    eprintln!("{m}");
                }
            }
            driver.stop(false);
        }
    }

    fn error(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, message: &str) {
        eprintln!("Framework error: {message}");
    }
}

fn main() -> ExitCode {
    let flags = cli::flags_or_exit("mesos-execute", FLAGS);
    let fault_injection = cli::fault_injection_or_exit("mesos-execute", &flags);
    let bad = |m: String| -> ! { cli::usage_error("mesos-execute", &m) };
    let master =
        cli::parse_master(flags.str("master").unwrap_or_default()).unwrap_or_else(|e| bad(e));
    let name = flags.str("name").unwrap_or_default().to_string();
    if name.is_empty() || name.contains('/') || name.chars().any(char::is_whitespace) {
        bad(format!(
            "--name='{name}' must be a non-empty task id without '/' or whitespace"
        ));
    }
    let resources: Resources = flags
        .str("resources")
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| bad(format!("--resources: {e}")));
    let checkpoint = flags
        .bool("checkpoint")
        .unwrap_or_else(|e| bad(e.to_string()));
    let kill_after = flags.has("kill_after").then(|| {
        flags
            .duration("kill_after")
            .unwrap_or_else(|e| bad(e.to_string()))
    });
    let mut environment = Environment::default();
    if let Some(text) = flags.str("env") {
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| {
            bad(format!(
                "--env is not JSON ({e}); expected an object like {{\"A\":\"1\"}}"
            ))
        });
        let Some(obj) = value.as_object() else {
            bad("--env must be a JSON object like {\"A\":\"1\"}".to_string())
        };
        for (k, v) in obj {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            environment = environment.with(k.clone(), v);
        }
    }
    let mut command = CommandInfo::shell(flags.str("command").unwrap_or_default());
    command.environment = environment;
    let container = match flags.str("docker_image").map(str::trim) {
        Some("") => cli::usage_error("mesos-execute", "--docker_image is empty"),
        Some(image) => Some(ContainerInfo::docker(image)),
        None => None,
    };
    let role = flags.str("role").unwrap_or("*").to_string();
    let mut framework = FrameworkInfo::new(
        flags
            .str("framework_name")
            .unwrap_or("mesos-execute instance"),
        cli::current_user(),
    );
    framework.checkpoint = checkpoint;
    framework.principal = flags.str("principal").map(String::from);
    let credential = match (flags.str("principal"), flags.str("secret")) {
        (Some(principal), Some(secret)) => Some(proto::authentication::Credential {
            principal: principal.to_string(),
            secret: secret.to_string(),
        }),
        (None, Some(_)) => bad("--secret needs --principal".to_string()),
        _ => None,
    };
    framework.role = Some(role.clone());
    framework
        .capabilities
        .push(FrameworkCapability::TaskKillingState);

    cli::init_logging("warn");
    actix::System::new().block_on(async move {
        let bind = cli::listen_addr_for_master(&master);
        let node = match Node::bind(NodeConfig::new(bind).fault_injection(fault_injection)).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("mesos-execute: cannot listen on {bind}: {e}");
                return ExitCode::from(1);
            }
        };
        let result = Rc::new(Cell::new(None));
        let sched = Execute {
            name,
            command,
            container,
            resources,
            role,
            kill_after,
            launched: false,
            outcome: None,
            result: result.clone(),
        };
        let config = SchedulerConfig {
            seed: cli::os_seed(),
            credential,
            ..Default::default()
        };
        let handle = match scheduler::run_with(&node, master, framework, sched, config) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("mesos-execute: {e}");
                return ExitCode::from(1);
            }
        };
        let reason = handle.stopped().await;
        let code = match reason {
            StopReason::Stopped { .. } if result.get() == Some(TaskState::Finished) => 0,
            StopReason::Stopped { .. } => 1,
            StopReason::Error(m) => {
                eprintln!("mesos-execute: the master reported an error: {m}");
                1
            }
            _ => 1,
        };
        node.shutdown();
        ExitCode::from(code)
    })
}
