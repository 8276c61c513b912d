//! An HTTP executor (v1 executor API) whose connection breaks: a real agent, a real
//! executor process (a bash script speaking HTTP over `/dev/tcp`) that subscribes, closes
//! its stream and stays alive. As in Mesos, the agent shuts it down at once when its
//! framework does not checkpoint, and only after the recovery timeout when it does.

mod common;

use std::time::{Duration, Instant};

use common::{test_dir, Cluster, Ev};
use libproc::testing::within;
use libproc::{Node, NodeConfig};
use proto::messages::{ExitedExecutorMessage, RunTaskMessage};
use proto::{
    AgentId, CommandInfo, Environment, ExecutorInfo, FrameworkId, FrameworkInfo, Resources, TaskId,
    TaskInfo,
};

/// Subscribes through the agent's executor API, reads up to SUBSCRIBED, closes the
/// connection and sleeps on (only the agent can end it now).
const EXECUTOR: &str = r#"
set -e
host=${MESOS_AGENT_ENDPOINT%:*}
port=${MESOS_AGENT_ENDPOINT##*:}
agent=${MESOS_SLAVE_PID%@*}
body="{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"$MESOS_FRAMEWORK_ID\"},\"executor_id\":{\"value\":\"$MESOS_EXECUTOR_ID\"},\"subscribe\":{}}"
exec 3<>"/dev/tcp/$host/$port"
printf 'POST /%s/api/v1/executor HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
  "$agent" "$MESOS_AGENT_ENDPOINT" "${#body}" "$body" >&3
while read -r line <&3; do
  case "$line" in *SUBSCRIBED*) break ;; esac
done
exec 3>&- 3<&-
echo "stream closed"
exec sleep 1000
"#;

fn run_http_executor_task(c: &Cluster, fw: &str, checkpoint: bool) {
    let mut framework = FrameworkInfo::new("http-exec-fw", "nobody");
    framework.id = Some(FrameworkId::new(fw));
    framework.checkpoint = checkpoint;
    let mut command = CommandInfo::shell("exec bash -c \"$HTTP_EXECUTOR\"");
    command.environment = Environment::default().with("HTTP_EXECUTOR", EXECUTOR);
    let mut executor = ExecutorInfo::new(format!("{fw}-exec").as_str().into(), command);
    executor.framework_id = Some(FrameworkId::new(fw));
    executor.resources = "cpus:0.1;mem:32".parse::<Resources>().unwrap();
    let mut task = TaskInfo::command_task(
        "t",
        TaskId::new(format!("{fw}-task")),
        AgentId::new("S1"),
        "cpus:0.1;mem:32".parse::<Resources>().unwrap(),
        CommandInfo::shell("true"),
    );
    task.command = None;
    task.executor = Some(executor);
    c.node.send(
        c.master.pid(),
        c.agent.pid(),
        RunTaskMessage {
            framework,
            framework_id: FrameworkId::new(fw),
            task,
            pid: None,
        },
    );
}

async fn next_exit(c: &mut Cluster, limit: Duration) -> ExitedExecutorMessage {
    within(limit, "ExitedExecutorMessage", async {
        loop {
            match c.events.recv().await {
                Some(Ev::ExitedExecutor(m)) => return m,
                Some(_) => continue,
                None => panic!("fake master gone"),
            }
        }
    })
    .await
}

#[actix_rt::test]
async fn a_broken_executor_stream_shuts_down_a_non_checkpointing_frameworks_executor() {
    let recovery = Duration::from_secs(3);
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let mut c = Cluster::start(node, test_dir("http-exec-closed"), |cfg| {
        cfg.recovery_timeout = recovery;
    })
    .await;

    // No checkpointing: the executor cannot come back, so it is shut down (and, not
    // answering, destroyed after the 1 s grace period).
    run_http_executor_task(&c, "F1", false);
    let exited = next_exit(&mut c, Duration::from_secs(20)).await;
    assert_eq!(exited.executor_id.as_str(), "F1-exec");

    // Checkpointing: it may re-subscribe until the recovery timeout, then it goes too.
    let started = Instant::now();
    run_http_executor_task(&c, "F2", true);
    let exited = next_exit(&mut c, Duration::from_secs(30)).await;
    assert_eq!(exited.executor_id.as_str(), "F2-exec");
    assert!(
        started.elapsed() >= recovery,
        "shut down after {:?}, before the recovery timeout",
        started.elapsed()
    );
    c.agent.shutdown().await;
}
