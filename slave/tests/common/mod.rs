//! Test fixtures: a fake master process that records what the agent sends, a cluster
//! helper, and a raw HTTP GET.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use libproc::testing::within;
use libproc::{Ctx, Handlers, Node, Pid, Process, ProcessRef};
use proto::messages::*;
use proto::{
    AgentId, CommandInfo, FrameworkId, FrameworkInfo, Resources, StatusUuid, TaskId, TaskInfo,
};
use slave::{AgentConfig, AgentHandle};
use tokio::sync::mpsc;

/// What the fake master saw.
#[derive(Debug, Clone)]
pub enum Ev {
    Register(RegisterSlaveMessage),
    Reregister(ReregisterSlaveMessage),
    Update(StatusUpdateMessage),
    ExitedExecutor(ExitedExecutorMessage),
    Pong,
}

/// Records agent messages; answers registrations with agent id `S1`.
pub struct FakeMaster {
    pub out: mpsc::UnboundedSender<Ev>,
}

impl Process for FakeMaster {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: RegisterSlaveMessage| {
                let _ = me.out.send(Ev::Register(m));
                ctx.send(
                    &from,
                    SlaveRegisteredMessage {
                        slave_id: AgentId::new("S1"),
                        connection: None,
                    },
                );
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ReregisterSlaveMessage| {
                let id = m.slave.id.clone().unwrap_or_default();
                let _ = me.out.send(Ev::Reregister(m));
                ctx.send(
                    &from,
                    SlaveReregisteredMessage {
                        slave_id: id,
                        connection: None,
                        reconciliations: Vec::new(),
                    },
                );
            },
        );
        h.on(
            |me: &mut Self, _ctx: &mut Ctx<Self>, _from: Pid, m: StatusUpdateMessage| {
                let _ = me.out.send(Ev::Update(m));
            },
        );
        h.on(
            |me: &mut Self, _ctx: &mut Ctx<Self>, _from: Pid, m: ExitedExecutorMessage| {
                let _ = me.out.send(Ev::ExitedExecutor(m));
            },
        );
        h.on(
            |me: &mut Self, _ctx: &mut Ctx<Self>, _from: Pid, _m: PongSlaveMessage| {
                let _ = me.out.send(Ev::Pong);
            },
        );
    }
}

/// Acknowledges an update to `agent` as the master (agent id `S1`) would.
pub fn ack_from(node: &Node, master: &Pid, agent: &Pid, u: &StatusUpdate) {
    node.send(
        master,
        agent,
        StatusUpdateAcknowledgementMessage {
            agent_id: AgentId::new("S1"),
            framework_id: u.framework_id.clone(),
            task_id: u.status.task_id.clone(),
            uuid: u.status.uuid.unwrap_or(StatusUuid::from_u128(0)),
        },
    );
}

/// A fresh, empty directory for one test.
pub fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("slave-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A copy of `binary` in a directory every user may enter (under the system's temporary
/// directory, mode 0755), shared by every test process of one build of `binary` (the
/// directory is named after its path, size and modification time, so a rebuild gets a fresh
/// copy and repeated runs add nothing). When the tests run as root, tasks run as `nobody`
/// (`--switch_user`), and nobody must be able to execute their executor; the checkout (and
/// so `target/`) may sit below a directory only root may enter, as in a CI clone under a
/// private temporary directory.
pub fn reachable_copy(binary: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(binary).unwrap();
    let built = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    let identity = format!("{}:{}:{}", binary.display(), meta.len(), built.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "slave-test-bin-{:016x}",
        libproc::rng::hash_str(0, &identity)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let name = binary.file_name().expect("a binary's path names a file");
    let dest = dir.join(name);
    if !dest.exists() {
        // Copy, then rename into place: tests of this and other processes may ask at the
        // same time, and a rename never shows a half-written file.
        let tmp = dir.join(format!(
            "{}.{}.{:?}",
            name.to_string_lossy(),
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::copy(binary, &tmp).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, &dest).unwrap();
    }
    dest
}

/// A config with short timers and the test executor as the command executor.
pub fn config(master: &Pid, dir: &Path) -> AgentConfig {
    let mut c = AgentConfig::new(master.clone(), dir);
    c.resources = "cpus:2;mem:1024;disk:1024;ports:[31000-32000]"
        .parse()
        .unwrap();
    c.hostname = "test-host".into();
    c.command_executor = Some(reachable_copy(Path::new(env!(
        "CARGO_BIN_EXE_test-executor"
    ))));
    c.registration_backoff_factor = Duration::from_millis(10);
    c.status_update_retry_interval_min = Duration::from_millis(300);
    c.status_update_retry_interval_max = Duration::from_secs(2);
    c.executor_shutdown_grace_period = Duration::from_secs(1);
    c.executor_registration_timeout = Duration::from_secs(20);
    // Sandboxes are never removed early because of how full this machine's disk is.
    c.gc.disk_usage = slave::gc::DiskUsage::fixed(0.0);
    // Tasks run as their framework's user (nobody) when the tests run as root, as on CI;
    // elsewhere they cannot switch and run as the tester.
    c.switch_user = slave::user::can_switch();
    c
}

pub struct Cluster {
    pub node: Node,
    pub master: ProcessRef<FakeMaster>,
    pub agent: AgentHandle,
    pub events: mpsc::UnboundedReceiver<Ev>,
    pub dir: PathBuf,
}

impl Cluster {
    /// Node with a fake master and an agent; waits until the agent registered.
    pub async fn start(node: Node, dir: PathBuf, tweak: impl FnOnce(&mut AgentConfig)) -> Cluster {
        let (tx, mut events) = mpsc::unbounded_channel();
        let master = node.spawn("master", FakeMaster { out: tx }).unwrap();
        let mut c = config(master.pid(), &dir);
        tweak(&mut c);
        let agent = slave::spawn(&node, c).unwrap();
        match within(Duration::from_secs(10), "registration", events.recv()).await {
            Some(Ev::Register(m)) => assert_eq!(m.slave.hostname, "test-host"),
            other => panic!("expected a registration, got {other:?}"),
        }
        wait_registered(&agent).await;
        Cluster {
            node,
            master,
            agent,
            events,
            dir,
        }
    }

    /// The next status update the master gets (skipping other events).
    pub async fn next_update(&mut self) -> StatusUpdate {
        loop {
            match within(
                Duration::from_secs(20),
                "a status update",
                self.events.recv(),
            )
            .await
            {
                Some(Ev::Update(m)) => return m.update,
                Some(_) => continue,
                None => panic!("fake master gone"),
            }
        }
    }

    /// Acknowledges an update as the master would.
    pub fn ack(&self, u: &StatusUpdate) {
        ack_from(&self.node, self.master.pid(), self.agent.pid(), u);
    }

    /// Sends a command task as the master would.
    pub fn run_task(&self, task_id: &str, command: CommandInfo) {
        let mut framework = FrameworkInfo::new("test-fw", "nobody");
        framework.id = Some(FrameworkId::new("F1"));
        let task = TaskInfo::command_task(
            task_id,
            TaskId::new(task_id),
            AgentId::new("S1"),
            "cpus:0.5;mem:64".parse::<Resources>().unwrap(),
            command,
        );
        self.node.send(
            self.master.pid(),
            self.agent.pid(),
            RunTaskMessage {
                framework,
                framework_id: FrameworkId::new("F1"),
                task,
                pid: None,
            },
        );
    }

    /// The sandbox of the command executor of `task_id`.
    pub async fn sandbox(&self, task_id: &str) -> PathBuf {
        let task_id = task_id.to_string();
        self.agent
            .process
            .call(move |me, _| {
                me.frameworks()
                    .values()
                    .flat_map(|f| f.executors.values().chain(f.completed_executors.iter()))
                    .find(|e| e.info.executor_id.as_str() == task_id)
                    .map(|e| e.directory.clone())
            })
            .await
            .unwrap()
            .expect("executor known")
    }
}

/// Waits (bounded) until the agent reports itself registered.
pub async fn wait_registered(agent: &AgentHandle) {
    within(Duration::from_secs(10), "agent registered", async {
        while !agent
            .process
            .call(|me, _| me.is_registered())
            .await
            .unwrap()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// `GET path` over plain HTTP/1.0; returns (status, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    within(
        Duration::from_secs(10),
        "http response",
        libproc::testing::http_get(addr, path),
    )
    .await
    .expect("HTTP exchange")
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The next status update the fake master receives (other events are skipped); panics
/// with `what` after 60 s (virtual time under a paused clock).
pub async fn next_update(events: &mut mpsc::UnboundedReceiver<Ev>, what: &str) -> StatusUpdate {
    loop {
        match within(Duration::from_secs(60), what, events.recv()).await {
            Some(Ev::Update(m)) => return m.update,
            Some(_) => continue,
            None => panic!("fake master gone"),
        }
    }
}

/// Pings the agent every 15 s from `master`, as a live master does, so it never decides
/// the master is gone and re-registers. Drop (abort) the handle to stop.
pub fn keep_pinging(node: &Node, master: &Pid, agent: &Pid) -> tokio::task::JoinHandle<()> {
    let (n, m, a) = (node.clone(), master.clone(), agent.clone());
    tokio::task::spawn_local(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(15)).await;
            n.send(&m, &a, PingSlaveMessage { connected: true });
        }
    })
}
