//! `mesos-master --zk` ×2 as real processes with a real ZooKeeper (skipped with a message
//! when Debian's `zookeeper` package is missing): SIGKILL the leader and the other takes
//! over; SIGSTOP a leader past its session timeout and, once resumed, it exits (code 3)
//! instead of acting.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use detector::zk_test_server::ZkServer;
use libproc::testing::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);

struct MasterProc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for MasterProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(zk: &ZkServer, port: u16, name: &str) -> MasterProc {
    let log = std::fs::File::create(zk.dir().join(format!("{name}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_mesos-master"))
        .arg("--ip=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--zk=zk://{}/mesos", zk.servers()))
        .arg("--zk_session_timeout=2secs")
        .arg("--registry=zookeeper")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start mesos-master");
    MasterProc {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

fn signal(p: &MasterProc, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(p.child.id().to_string())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} failed");
}

/// `(status, lower-cased head, body)`, or `None` if the connection failed.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String, String)> {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Some((status, head.to_ascii_lowercase(), body.to_string()))
}

/// Waits until `p` answers `/master/state` as the leader.
async fn until_leader(p: &MasterProc, what: &str) {
    let me = format!("master@{}", p.addr);
    within(LIMIT, what, async {
        loop {
            if let Some((200, _, body)) = get(p.addr, "/master/state").await {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                if v["leader"] == me.as_str() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

async fn until_redirects_to(p: &MasterProc, leader: SocketAddr, what: &str) {
    let want = format!("location: //127.0.0.1:{}/master/state", leader.port());
    within(LIMIT, what, async {
        loop {
            if let Some((307, head, _)) = get(p.addr, "/master/state").await {
                if head.contains(&want) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_the_leader_and_the_other_takes_over() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let (pa, pb) = (free_port(), free_port());
    let mut a = start(&zk, pa, "a");
    until_leader(&a, "A leads").await;
    let mut b = start(&zk, pb, "b");
    until_redirects_to(&b, a.addr, "B redirects to A").await;

    // SIGKILL the leader: B is elected once A's session expires.
    let killed = Instant::now();
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    until_leader(&b, "B leads").await;
    let took = killed.elapsed();
    eprintln!("FAILOVER: SIGKILL of the leader to a new leader serving /master/state: {took:?} (--zk_session_timeout=2secs)");
    let (status, head, _) = get(b.addr, "/master/redirect").await.unwrap();
    assert_eq!(status, 307);
    assert!(
        head.contains(&format!("location: //127.0.0.1:{pb}\r\n")),
        "{head}"
    );

    // A restarts as a non-leader; B is paused past its session timeout: A takes over,
    // and B, resumed, exits (code 3) rather than act.
    drop(a);
    let a2 = start(&zk, pa, "a2");
    until_redirects_to(&a2, b.addr, "A' redirects to B").await;
    signal(&b, "STOP");
    let stopped = Instant::now();
    until_leader(&a2, "A' leads while B is paused").await;
    eprintln!(
        "FAILOVER: SIGSTOP of the leader to a new leader: {:?}",
        stopped.elapsed()
    );
    signal(&b, "CONT");
    let status = within(LIMIT, "paused leader exits", async {
        loop {
            if let Some(s) = b.child.try_wait().unwrap() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(status.code(), Some(3), "{status}");
    until_leader(&a2, "A' still leads").await;
}
