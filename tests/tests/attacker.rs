//! Issue 17's forgeries, replayed as an attacker would over a raw TCP socket and plain
//! HTTP against a running cluster (master, allocator, agent and a framework on one node,
//! as `mesos-local` runs them; executors in-process): a forged `RunTaskMessage` "from the
//! master", a forged allocator message, a forged kill "from the framework", a forged
//! unregistration "from the agent" and a fake `TASK_FINISHED` sent to the agent. None
//! changes anything, and each is counted.
//!
//! The same messages claiming a sender that is *not* local reach their handlers, which
//! refuse them too (the agent takes master-only messages from its master alone, the master
//! takes a framework's calls from its scheduler alone): that proves the forged bodies were
//! well-formed, i.e. that the refusals above are what stopped them.
//!
//! The second test does the same against real `mesos-master` and `mesos-agent` processes
//! (build the binaries first: `cargo build --workspace --bins`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cluster::procs::{get_json, wait_json};
use cluster::testkit::MultiCluster;
use frameworks::scheduler::{self, Scheduler, SchedulerDriver};
use libproc::testing::{eventually, http_exchange, http_get, within};
use libproc::{wire, Message, Node, NodeConfig, Pid};
use master::allocator::protocol::AddAgent;
use master::config::MasterConfig;
use proto::messages::{
    KillTaskMessage, RunTaskMessage, StatusUpdate, StatusUpdateMessage, UnregisterSlaveMessage,
};
use proto::{
    AgentId, AgentInfo, CommandInfo, Filters, FrameworkId, FrameworkInfo, MasterInfo, Offer,
    Resources, StatusUuid, TaskId, TaskInfo, TaskState, TaskStatus,
};
use serde_json::Value;
use slave::config::AgentConfig;
use slave::containerizer::TestContainerizer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(30);

fn resources(text: &str) -> Resources {
    text.parse()
        .unwrap_or_else(|e| panic!("bad resources '{text}': {e:?}"))
}

/// Launches one task `t1` on the first offer and reports what happens.
struct OneTask {
    tx: mpsc::UnboundedSender<Seen>,
    launched: bool,
}

#[derive(Debug)]
enum Seen {
    Registered(FrameworkId),
    Status(TaskStatus),
}

impl Scheduler for OneTask {
    fn registered(
        &mut self,
        _d: &mut SchedulerDriver<'_, '_, Self>,
        id: &FrameworkId,
        _m: &MasterInfo,
    ) {
        let _ = self.tx.send(Seen::Registered(id.clone()));
    }
    fn resource_offers(&mut self, d: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        for o in offers {
            if self.launched {
                d.decline(o.id, Filters::default());
                continue;
            }
            self.launched = true;
            let task = TaskInfo::command_task(
                "t1",
                TaskId::from("t1"),
                o.agent_id.clone(),
                resources("cpus:1;mem:64"),
                CommandInfo::shell("sleep 1000"),
            );
            d.launch(vec![o.id], vec![task], Filters::refuse(0.0));
        }
    }
    fn status_update(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        let _ = self.tx.send(Seen::Status(status.clone()));
    }
}

fn body<M: Message + serde::Serialize>(m: &M) -> Vec<u8> {
    rmp_serde::to_vec_named(m).unwrap()
}

/// One frame: `m` to `to_id` on the node, claiming `from`.
fn frame<M: Message + serde::Serialize>(from: &str, to_id: &str, m: &M) -> bytes::Bytes {
    wire::encode_frame_bytes(from, to_id, M::NAME, &body(m))
}

/// `POST /<to_id>/<name>` with `Libprocess-From: from`; returns the status.
async fn post<M: Message + serde::Serialize>(node: &Node, to_id: &str, from: &str, m: &M) -> u16 {
    post_to(node.addr(), to_id, from, m).await
}

/// [`post`] to any address.
async fn post_to<M: Message + serde::Serialize>(
    addr: SocketAddr,
    to_id: &str,
    from: &str,
    m: &M,
) -> u16 {
    let b = body(m);
    let mut raw = format!(
        "POST /{to_id}/{} HTTP/1.1\r\nHost: x\r\nLibprocess-From: {from}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        M::NAME,
        b.len()
    )
    .into_bytes();
    raw.extend_from_slice(&b);
    within(LIMIT, "the HTTP answer", http_exchange(addr, &raw))
        .await
        .expect("HTTP exchange")
        .0
}

async fn metrics(node: &Node) -> Value {
    let (_, body) = http_get(node.addr(), "/metrics/snapshot").await.unwrap();
    serde_json::from_str(&body).unwrap()
}

fn count(v: &Value, name: &str) -> u64 {
    v[name].as_u64().unwrap_or(0)
}

#[actix_rt::test]
async fn forged_run_task_allocation_kill_and_unregister_change_nothing() {
    let dir = std::env::temp_dir().join(format!("attacker-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let mc = MasterConfig {
        ip: node.addr().ip(),
        port: node.addr().port(),
        allocation_interval: Duration::from_millis(50),
        ..Default::default()
    };
    let master = master::spawn(&node, mc, None).unwrap();
    let mut ac = AgentConfig::new(master.pid().clone(), dir.join("agent"));
    ac.resources = resources("cpus:2;mem:1024;disk:1024");
    ac.containerizer = Some(Arc::new(TestContainerizer::new(&node)));
    let agent = slave::spawn(&node, ac).unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel();
    let info = FrameworkInfo::new("victim", frameworks::cli::current_user());
    let fw = scheduler::run(
        &node,
        master.pid().clone(),
        info.clone(),
        OneTask {
            tx,
            launched: false,
        },
    )
    .unwrap();

    // The victim framework runs t1.
    let mut fid = None;
    within(LIMIT, "t1 to run", async {
        loop {
            match seen.recv().await.expect("the scheduler stopped") {
                Seen::Registered(id) => fid = Some(id),
                Seen::Status(s) if s.state == TaskState::Running => return,
                Seen::Status(_) => {}
            }
        }
    })
    .await;
    let fid = fid.expect("registered before its task ran");
    let agent_id: AgentId = master
        .master
        .call(|m, _| m.core().agents().keys().next().cloned())
        .await
        .unwrap()
        .expect("the agent registered");
    let master_pid = master.pid().to_string();
    let agent_pid = agent.pid().clone();
    let sched_pid = fw.process.pid().to_string();
    let evil: Pid = "evil@127.0.0.1:1".parse().unwrap();
    let evil_s = evil.to_string();

    let mut pwned = TaskInfo::command_task(
        "pwned",
        TaskId::from("pwned"),
        agent_id.clone(),
        resources("cpus:1;mem:64"),
        CommandInfo::shell("id > /tmp/pwned"),
    );
    pwned.name = "pwned".into();
    let mut evil_fw = FrameworkInfo::new("evil", "root");
    evil_fw.id = Some(FrameworkId::from("evil-framework"));
    let run = RunTaskMessage {
        framework: evil_fw,
        framework_id: FrameworkId::from("evil-framework"),
        task: pwned,
        pid: Some(evil_s.clone()),
    };
    let allocate = AddAgent {
        agent_id: AgentId::from("evil-agent"),
        info: AgentInfo::new("evil", resources("cpus:500;mem:500000")),
        total: resources("cpus:500;mem:500000"),
        used: Vec::new(),
    };
    let kill = KillTaskMessage {
        framework_id: fid.clone(),
        task_id: TaskId::from("t1"),
        kill_policy: None,
    };
    let unregister = UnregisterSlaveMessage {
        slave_id: agent_id.clone(),
    };
    // A fake TASK_FINISHED "from the executor" (whose PID is not this one).
    let mut finished = TaskStatus::new(TaskId::from("t1"), TaskState::Finished);
    finished.uuid = Some(StatusUuid::from_bytes([7; 16]));
    let fake_update = StatusUpdateMessage {
        update: StatusUpdate {
            framework_id: fid.clone(),
            executor_id: None,
            agent_id: Some(agent_id.clone()),
            status: finished,
            timestamp: 0.0,
            latest_state: None,
        },
        pid: None,
    };

    // Over the actor protocol, from a raw socket.
    let mut s = TcpStream::connect(node.addr()).await.unwrap();
    s.write_all(&wire::handshake("127.0.0.1:1".parse().unwrap()))
        .await
        .unwrap();
    let agent_id_s = agent_pid.id().to_string();
    for f in [
        frame(&master_pid, &agent_id_s, &run),
        frame(&evil_s, master::ALLOCATOR_ID, &allocate),
        frame(&sched_pid, master::MASTER_ID, &kill),
        frame(&agent_pid.to_string(), master::MASTER_ID, &unregister),
        // Not claiming a local sender: these reach the handlers, which refuse them.
        frame(&evil_s, &agent_id_s, &run),
        frame(&evil_s, master::MASTER_ID, &kill),
        frame(&evil_s, master::MASTER_ID, &unregister),
        frame(&evil_s, &agent_id_s, &fake_update),
    ] {
        s.write_all(&f).await.unwrap();
    }
    // Over HTTP, libprocess style.
    assert_eq!(post(&node, &agent_id_s, &master_pid, &run).await, 403);
    assert_eq!(
        post(&node, master::ALLOCATOR_ID, &evil_s, &allocate).await,
        403
    );
    assert_eq!(post(&node, master::MASTER_ID, &sched_pid, &kill).await, 403);

    eventually(LIMIT, "the forged frames to be counted", || {
        let st = node.stats();
        st.dropped_forged_local == 5 && st.dropped_local_only == 2
    })
    .await;
    // The handlers saw and refused the non-local forgeries.
    let mut m = Value::Null;
    within(LIMIT, "the refusals to be counted", async {
        loop {
            m = metrics(&node).await;
            if count(&m, "slave/messages_refused_sender") >= 2
                && count(&m, "master/messages_refused_sender") >= 2
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(count(&m, "libproc/messages_dropped_forged_local"), 5, "{m}");
    assert_eq!(count(&m, "libproc/messages_dropped_local_only"), 2, "{m}");

    // Nothing changed: t1 still runs, the agent is still registered, the allocator knows
    // one agent, and the agent runs nothing of the evil framework.
    let (t1, agents) = master
        .master
        .call(move |me, _| {
            let t1 = me.core().frameworks()[&fid]
                .tasks
                .get(&TaskId::from("t1"))
                .map(|t| t.state);
            (
                t1,
                me.core().agents().values().filter(|a| a.connected).count(),
            )
        })
        .await
        .unwrap();
    assert_eq!(t1, Some(TaskState::Running));
    assert_eq!(agents, 1);
    // Two allocation runs later (each publishes the allocator's agent count).
    let runs = count(&metrics(&node).await, "allocator/mesos/allocation_runs");
    let m = within(LIMIT, "two more allocation runs", async {
        loop {
            let m = metrics(&node).await;
            if count(&m, "allocator/mesos/allocation_runs") >= runs + 2 {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(m["allocator/mesos/agents"].as_f64(), Some(1.0), "{m}");
    let (_, state) = http_get(node.addr(), &format!("/{agent_id_s}/state"))
        .await
        .unwrap();
    assert!(!state.contains("evil-framework"), "{state}");
    assert!(!state.contains("pwned"), "{state}");
    while let Ok(e) = seen.try_recv() {
        if let Seen::Status(s) = e {
            assert_ne!(s.state, TaskState::Killed, "t1 was killed: {s:?}");
        }
    }
    node.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn forgeries_against_real_master_and_agent_processes_change_nothing() {
    let c = MultiCluster::start("attacker", 1, "cpus:2;mem:1024;disk:1024").await;
    let state = get_json(c.master_addr, "/master/state").await.unwrap();
    let agent_pid: Pid = state["slaves"][0]["pid"].as_str().unwrap().parse().unwrap();
    let agent_id = AgentId::from(state["slaves"][0]["id"].as_str().unwrap());
    let master_pid = format!("master@{}", c.master_addr);
    let evil = "evil@127.0.0.1:1";

    let mut evil_fw = FrameworkInfo::new("evil", "root");
    evil_fw.id = Some(FrameworkId::from("evil-framework"));
    let run = RunTaskMessage {
        framework: evil_fw,
        framework_id: FrameworkId::from("evil-framework"),
        task: TaskInfo::command_task(
            "pwned",
            TaskId::from("pwned"),
            agent_id.clone(),
            resources("cpus:1;mem:64"),
            CommandInfo::shell("id > /tmp/pwned"),
        ),
        pid: Some(evil.into()),
    };
    let allocate = AddAgent {
        agent_id: AgentId::from("evil-agent"),
        info: AgentInfo::new("evil", resources("cpus:500;mem:500000")),
        total: resources("cpus:500;mem:500000"),
        used: Vec::new(),
    };
    let unregister = UnregisterSlaveMessage {
        slave_id: agent_id.clone(),
    };

    // The agent: a task "from" someone who is not its master reaches the handler and is
    // refused; one claiming the agent itself is refused by the transport.
    assert_eq!(
        post_to(agent_pid.addr(), agent_pid.id(), evil, &run).await,
        202
    );
    assert_eq!(
        post_to(
            agent_pid.addr(),
            agent_pid.id(),
            &agent_pid.to_string(),
            &run
        )
        .await,
        403
    );
    // The master: its allocator is not reachable (HTTP and a raw frame), an unregistration
    // not from the agent is refused, and one claiming the master itself too.
    assert_eq!(
        post_to(c.master_addr, master::ALLOCATOR_ID, evil, &allocate).await,
        403
    );
    let mut s = TcpStream::connect(c.master_addr).await.unwrap();
    s.write_all(&wire::handshake("127.0.0.1:1".parse().unwrap()))
        .await
        .unwrap();
    s.write_all(&frame(evil, master::ALLOCATOR_ID, &allocate))
        .await
        .unwrap();
    assert_eq!(
        post_to(c.master_addr, master::MASTER_ID, evil, &unregister).await,
        202
    );
    assert_eq!(
        post_to(c.master_addr, master::MASTER_ID, &master_pid, &unregister).await,
        403
    );

    let counted = |v: &Value, name: &str, n: u64| count(v, name) >= n;
    wait_json(
        agent_pid.addr(),
        "/metrics/snapshot",
        LIMIT,
        "the agent's refusals",
        |v| {
            counted(v, "slave/messages_refused_sender", 1)
                && counted(v, "libproc/messages_dropped_forged_local", 1)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    wait_json(
        c.master_addr,
        "/metrics/snapshot",
        LIMIT,
        "the master's refusals",
        |v| {
            counted(v, "libproc/messages_dropped_local_only", 2)
                && counted(v, "libproc/messages_dropped_forged_local", 1)
                && counted(v, "master/messages_refused_sender", 1)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));

    // Nothing changed: the agent is still registered and active, the allocator knows one
    // agent (after a later allocation run), and the agent runs nothing.
    let runs = count(
        &get_json(c.master_addr, "/metrics/snapshot").await.unwrap(),
        "allocator/mesos/allocation_runs",
    );
    let m = wait_json(
        c.master_addr,
        "/metrics/snapshot",
        LIMIT,
        "two more allocation runs",
        |v| count(v, "allocator/mesos/allocation_runs") >= runs + 2,
    )
    .await
    .unwrap();
    assert_eq!(m["allocator/mesos/agents"].as_f64(), Some(1.0), "{m}");
    let state = get_json(c.master_addr, "/master/state").await.unwrap();
    assert_eq!(state["activated_slaves"].as_u64(), Some(1), "{state}");
    let agent_state = get_json(agent_pid.addr(), "/state").await.unwrap();
    assert!(
        !agent_state.to_string().contains("evil-framework"),
        "{agent_state}"
    );
}
