//! Two OS processes over real TCP: typed messages both ways, and SIGKILL → `exited`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{next, Event, Ping, Recorder};
use libproc::testing::within;
use libproc::{Node, NodeConfig, Pid};

struct Server {
    child: Child,
    pid: Pid,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_libproc-node"))
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn libproc-node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read listening line");
    let pid = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("a PID");
    Server { child, pid }
}

#[actix_rt::test]
async fn typed_messages_flow_both_ways_between_os_processes() {
    let server = start_server();
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (rec, mut events) = Recorder::new();
    let me = node.spawn("client", rec).unwrap();
    for seq in 1..=100 {
        node.send(
            me.pid(),
            &server.pid,
            Ping {
                seq,
                text: format!("hi {seq}"),
            },
        );
    }
    // The server answers over its own connection back to us: order holds per pair.
    for seq in 1..=100 {
        assert_eq!(
            next(&mut events).await,
            Event::Pong(server.pid.clone(), seq)
        );
    }
    let stats = node.stats();
    assert_eq!(stats.frames_out, 100);
    assert_eq!(stats.frames_in, 100);
}

#[actix_rt::test]
async fn sigkill_of_the_peer_delivers_exited_within_a_second() {
    let mut server = start_server();
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    let (rec, mut events) = Recorder::new();
    let me = node.spawn("linker", rec).unwrap();
    node.link(me.pid(), &server.pid, libproc::LinkMode::Reuse);
    // Prove the connection is up before the kill.
    node.send(
        me.pid(),
        &server.pid,
        Ping {
            seq: 1,
            text: "up?".into(),
        },
    );
    assert_eq!(next(&mut events).await, Event::Pong(server.pid.clone(), 1));

    server.child.kill().expect("SIGKILL");
    let started = std::time::Instant::now();
    let ev = within(
        Duration::from_secs(1),
        "exited after SIGKILL",
        events.recv(),
    )
    .await;
    assert_eq!(ev, Some(Event::Exited(server.pid.clone())));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[actix_rt::test]
async fn linking_to_an_unreachable_node_exits_at_once() {
    let node = Node::bind(NodeConfig::local()).await.unwrap();
    // Bind then drop a listener to get a port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ghost = Pid::new("ghost", free);
    let (rec, mut events) = Recorder::new();
    let me = node.spawn("linker", rec).unwrap();
    node.link(me.pid(), &ghost, libproc::LinkMode::Reuse);
    assert_eq!(next(&mut events).await, Event::Exited(ghost));
}

#[test]
fn ping_binary_talks_to_serve_binary() {
    let server = start_server();
    let out = Command::new(env!("CARGO_BIN_EXE_libproc-node"))
        .args(["ping", &format!("--to={}", server.pid), "--count=5"])
        .output()
        .expect("run ping");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ping failed: {stdout}");
    assert!(stdout.contains("pong 5: pong to ping 5"), "{stdout}");
    assert!(stdout.trim_end().ends_with("done"), "{stdout}");
}

#[test]
fn bad_flags_say_what_is_wrong() {
    let out = Command::new(env!("CARGO_BIN_EXE_libproc-node"))
        .args(["ping", "--to=nope"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("id@ip:port"), "{err}");
}

#[actix_rt::test]
async fn a_sigstopped_peer_exits_within_the_write_timeout_once_it_stops_reading() {
    let server = start_server();
    let write_timeout = Duration::from_millis(500);
    let node = Node::bind(NodeConfig::local().write_timeout(write_timeout))
        .await
        .unwrap();
    let (rec, mut events) = Recorder::new();
    let me = node.spawn("linker", rec).unwrap();
    node.link(me.pid(), &server.pid, libproc::LinkMode::Reuse);
    node.send(
        me.pid(),
        &server.pid,
        Ping {
            seq: 0,
            text: "up?".into(),
        },
    );
    assert_eq!(next(&mut events).await, Event::Pong(server.pid.clone(), 0));

    // The peer's process stops; its kernel keeps the socket (no FIN, no RST).
    let child = libc::pid_t::try_from(server.child.id()).expect("pid fits");
    // SAFETY: sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child, libc::SIGSTOP) }, 0);
    let started = std::time::Instant::now();
    // 16 MiB: more than the socket buffers on both sides hold.
    for seq in 1..=64 {
        node.send(
            me.pid(),
            &server.pid,
            Ping {
                seq,
                text: "x".repeat(256 * 1024),
            },
        );
    }
    let ev = within(
        Duration::from_secs(10),
        "exited from a stopped peer",
        events.recv(),
    )
    .await;
    assert_eq!(ev, Some(Event::Exited(server.pid.clone())));
    let took = started.elapsed();
    eprintln!("exited {took:?} after the peer stopped (write timeout {write_timeout:?})");
    assert!(
        took < write_timeout + Duration::from_secs(5),
        "took {took:?}"
    );
    assert_eq!(node.stats().outbound_timeouts, 1);
    // Drop SIGKILLs the stopped child.
}
