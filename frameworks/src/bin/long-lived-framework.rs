//! `long-lived-framework`: keeps `--instances` copies of a command running, relaunching any
//! that end. Runs until interrupted.
//!
//! ```text
//! long-lived-framework --master=127.0.0.1:5050 --instances=3 --command='sleep 3600'
//! long-lived-framework --master=zk://127.0.0.1:2181/mesos --instances=2 \
//!     --framework_id_file=/var/tmp/llf.id --failover_timeout=600
//! ```
//!
//! With `--framework_id_file` it survives its own death: the framework id is written there
//! after registration, and a restarted instance (within `--failover_timeout`) re-subscribes
//! with it as a failover scheduler, asks the master for every task it has (implicit
//! reconciliation) and adopts the ones still running instead of launching new ones. It
//! launches nothing until that reconciliation is complete.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use frameworks::cli;
use frameworks::scheduler::{self, Scheduler, SchedulerConfig, SchedulerDriver};
use libproc::flags::Flag;
use libproc::{Node, NodeConfig};
use proto::{
    CommandInfo, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer, Resources, TaskInfo,
    TaskState, TaskStatus,
};

const FLAGS: &[Flag] = &[
    Flag::required(
        "master",
        "The master: host:port, or zk://host:port[,host:port]/path to follow the leader.",
    ),
    Flag::new("instances", "1", "How many copies to keep running."),
    Flag::new("command", "sleep 3600", "Shell command of each task."),
    Flag::new(
        "task_resources",
        "cpus:0.1;mem:32",
        "Resources of each task.",
    ),
    Flag::new("name", "long-lived-framework", "Framework name."),
    Flag::optional(
        "framework_id_file",
        "File holding the framework id: written after registration; if present at start, \
         the framework fails over to this instance and adopts its running tasks.",
    ),
    Flag::new(
        "failover_timeout",
        "0",
        "Seconds the master keeps the framework and its tasks after this scheduler goes away.",
    ),
    libproc::fault::FLAG,
];

/// How long offers are turned down while the scheduler does not yet know its tasks.
const NOT_READY_REFUSE_SECONDS: f64 = 5.0;

/// What to do with a task the master reports that the fleet did not know.
#[derive(Debug, PartialEq, Eq)]
enum Adoption {
    /// Already part of the fleet.
    Known,
    /// Taken into the fleet.
    Adopted,
    /// The fleet is full: kill it.
    Surplus,
}

/// The pure bookkeeping: which tasks are alive, what the next task id is, and whether the
/// scheduler knows enough (reconciliation done) to launch.
#[derive(Debug, Default)]
struct Fleet {
    instances: usize,
    active: BTreeSet<String>,
    next: u64,
    relaunched: u64,
    /// Launches wait until the tasks the master knows have been reported.
    ready: bool,
}

impl Fleet {
    fn missing(&self) -> usize {
        if self.ready {
            self.instances.saturating_sub(self.active.len())
        } else {
            0
        }
    }

    fn new_task_id(&mut self) -> String {
        let mut id = format!("instance-{}", self.next);
        while self.active.contains(&id) {
            self.next += 1;
            id = format!("instance-{}", self.next);
        }
        self.next += 1;
        self.active.insert(id.clone());
        id
    }

    /// A live task the master reports (after a failover): keep it if there is room.
    fn adopt(&mut self, id: &str) -> Adoption {
        if self.active.contains(id) {
            return Adoption::Known;
        }
        if self.active.len() >= self.instances {
            return Adoption::Surplus;
        }
        if let Some(n) = id
            .strip_prefix("instance-")
            .and_then(|n| n.parse::<u64>().ok())
        {
            self.next = self.next.max(n.saturating_add(1));
        }
        self.active.insert(id.to_string());
        Adoption::Adopted
    }

    /// Returns true if a live task ended (so a replacement is needed).
    fn ended(&mut self, id: &str) -> bool {
        let was = self.active.remove(id);
        if was {
            self.relaunched += 1;
        }
        was
    }
}

struct LongLived {
    command: String,
    each: Resources,
    fleet: Fleet,
    id_file: Option<PathBuf>,
}

/// Writes `id` to `path` atomically (a temporary file renamed over it).
fn write_id_file(path: &Path, id: &FrameworkId) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{id}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Reads the framework id from `path`: `Ok(None)` when the file does not exist.
fn read_id_file(path: &Path) -> Result<Option<FrameworkId>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let id = text.trim();
            if id.is_empty() {
                Ok(None)
            } else if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err(format!(
                    "--framework_id_file={}: '{id}' is not a framework id; delete the file to register a new framework",
                    path.display()
                ))
            } else {
                Ok(Some(FrameworkId::from(id)))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "--framework_id_file={}: cannot read: {e}",
            path.display()
        )),
    }
}

impl Scheduler for LongLived {
    fn registered(
        &mut self,
        _d: &mut SchedulerDriver<'_, '_, Self>,
        id: &FrameworkId,
        _m: &MasterInfo,
    ) {
        println!("Registered with framework ID {id}");
        if let Some(path) = &self.id_file {
            if let Err(e) = write_id_file(path, id) {
                eprintln!(
                    "long-lived-framework: cannot write the framework id to {}: {e}",
                    path.display()
                );
            }
        }
    }

    fn reregistered(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, _m: &MasterInfo) {
        let id = driver
            .framework_id()
            .map(|i| i.to_string())
            .unwrap_or_default();
        println!("Re-registered with framework ID {id}");
    }

    fn disconnected(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>) {
        println!("Disconnected from the master");
        // Learn what happened meanwhile before launching again.
        self.fleet.ready = false;
    }

    fn reconciled(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>) {
        self.fleet.ready = true;
        println!(
            "Reconciled: {} task(s) running: {:?}",
            self.fleet.active.len(),
            self.fleet.active
        );
        if self.fleet.missing() > 0 {
            driver.revive();
        }
    }

    fn resource_offers(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        for offer in offers {
            if !self.fleet.ready {
                driver.decline(offer.id, Filters::refuse(NOT_READY_REFUSE_SECONDS));
                continue;
            }
            let mut left = offer.resources.clone();
            let mut tasks = Vec::new();
            while self.fleet.missing() > 0 && left.contains(&self.each) {
                left = &left - &self.each;
                let id = self.fleet.new_task_id();
                tasks.push(TaskInfo::command_task(
                    id.clone(),
                    id.as_str().into(),
                    offer.agent_id.clone(),
                    self.each.clone(),
                    CommandInfo::shell(self.command.clone()),
                ));
            }
            if tasks.is_empty() {
                driver.decline(offer.id, Filters::refuse(60.0));
            } else {
                println!(
                    "Launching {} task(s) on agent {}: {:?}",
                    tasks.len(),
                    offer.agent_id,
                    tasks.iter().map(|t| t.task_id.as_str()).collect::<Vec<_>>()
                );
                driver.launch(vec![offer.id], tasks, Filters::default());
            }
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        println!("Task {} is in state {}", status.task_id, status.state);
        let id = status.task_id.as_str();
        if status.state.is_terminal() {
            if self.fleet.ended(id) {
                println!(
                    "Task {} ended; relaunching ({} relaunches so far)",
                    status.task_id, self.fleet.relaunched
                );
                driver.revive();
            }
            return;
        }
        if matches!(
            status.state,
            TaskState::Staging | TaskState::Starting | TaskState::Running
        ) {
            match self.fleet.adopt(id) {
                Adoption::Known => {}
                Adoption::Adopted => println!("Adopted task {id} ({})", status.state),
                Adoption::Surplus => {
                    println!("Killing surplus task {id}");
                    driver.kill(status.task_id.clone());
                }
            }
        }
    }

    fn error(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, message: &str) {
        eprintln!("long-lived-framework: framework error: {message}");
        if let Some(path) = &self.id_file {
            eprintln!(
                "long-lived-framework: if the framework was removed, delete {} to register anew",
                path.display()
            );
        }
    }
}

fn main() -> ExitCode {
    let flags = cli::flags_or_exit("long-lived-framework", FLAGS);
    let fault_injection = cli::fault_injection_or_exit("long-lived-framework", &flags);
    let bad = |m: String| -> ! { cli::usage_error("long-lived-framework", &m) };
    let master =
        cli::parse_master(flags.str("master").unwrap_or_default()).unwrap_or_else(|e| bad(e));
    let instances: usize = flags
        .get("instances")
        .unwrap_or_else(|e| bad(e.to_string()));
    let each: Resources = flags
        .str("task_resources")
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| bad(format!("--task_resources: {e}")));
    if each.cpus() <= 0.0 || each.mem() <= 0.0 {
        bad("--task_resources needs cpus > 0 and mem > 0".to_string());
    }
    let failover_timeout: f64 = flags
        .get("failover_timeout")
        .unwrap_or_else(|e| bad(e.to_string()));
    if !failover_timeout.is_finite() || failover_timeout < 0.0 {
        bad(format!(
            "--failover_timeout={failover_timeout}: must be a number of seconds >= 0"
        ));
    }
    let id_file = flags.str("framework_id_file").map(PathBuf::from);
    let command = flags.str("command").unwrap_or("sleep 3600").to_string();
    let mut framework = FrameworkInfo::new(
        flags.str("name").unwrap_or("long-lived-framework"),
        cli::current_user(),
    );
    framework.checkpoint = true;
    framework.failover_timeout = failover_timeout;
    if let Some(path) = &id_file {
        match read_id_file(path) {
            Ok(Some(id)) => {
                println!("Failing over framework {id} (from {})", path.display());
                framework.id = Some(id);
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("long-lived-framework: {e}");
                return ExitCode::from(1);
            }
        }
    }
    cli::init_logging("warn");
    actix::System::new().block_on(async move {
        let bind = cli::listen_addr_for_master(&master);
        let node = match Node::bind(NodeConfig::new(bind).fault_injection(fault_injection)).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("long-lived-framework: cannot listen on {bind}: {e}");
                return ExitCode::from(1);
            }
        };
        let sched = LongLived {
            command,
            each,
            fleet: Fleet {
                instances,
                ..Default::default()
            },
            id_file,
        };
        let config = SchedulerConfig {
            seed: cli::os_seed(),
            reconcile_on_registration: true,
            ..Default::default()
        };
        let handle = match scheduler::run_with(&node, master, framework, sched, config) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("long-lived-framework: {e}");
                return ExitCode::from(1);
            }
        };
        let reason = handle.stopped().await;
        eprintln!("long-lived-framework: driver stopped: {reason:?}");
        node.shutdown();
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_count() {
        let mut f = Fleet {
            instances: 2,
            ready: true,
            ..Default::default()
        };
        assert_eq!(f.missing(), 2);
        let a = f.new_task_id();
        f.new_task_id();
        assert_eq!(f.missing(), 0);
        assert!(f.ended(&a));
        assert!(
            !f.ended(&a),
            "a duplicate terminal update does not count twice"
        );
        assert_eq!(f.missing(), 1);
        assert_eq!(f.new_task_id(), "instance-2");
    }

    #[test]
    fn launches_wait_for_reconciliation_and_adopt_running_tasks() {
        let mut f = Fleet {
            instances: 2,
            ..Default::default()
        };
        assert_eq!(f.missing(), 0, "nothing launches before reconciliation");
        assert_eq!(f.adopt("instance-4"), Adoption::Adopted);
        assert_eq!(f.adopt("instance-4"), Adoption::Known);
        assert_eq!(f.adopt("instance-1"), Adoption::Adopted);
        assert_eq!(f.adopt("instance-7"), Adoption::Surplus);
        f.ready = true;
        assert_eq!(f.missing(), 0);
        assert!(f.ended("instance-1"));
        assert_eq!(f.missing(), 1);
        // New ids never collide with adopted ones.
        assert_eq!(f.new_task_id(), "instance-5");
        // A foreign task id is adopted too.
        let mut g = Fleet {
            instances: 1,
            ..Default::default()
        };
        assert_eq!(g.adopt("other"), Adoption::Adopted);
        assert_eq!(g.next, 0);
    }

    #[test]
    fn id_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("llf-id-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("id");
        assert_eq!(read_id_file(&path), Ok(None));
        write_id_file(&path, &"F-42".into()).unwrap();
        assert_eq!(read_id_file(&path), Ok(Some("F-42".into())));
        std::fs::write(&path, "a b").unwrap();
        assert!(read_id_file(&path).unwrap_err().contains("delete the file"));
        std::fs::write(&path, "\n").unwrap();
        assert_eq!(read_id_file(&path), Ok(None));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
