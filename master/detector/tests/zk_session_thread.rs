//! A ZooKeeper session survives a busy caller: the session's heartbeats run on a thread of
//! their own (`detector::zk::connect`), so an actor thread that computes for longer than the
//! session timeout (a master rendering `/master/state` for 10,000 tasks in a debug build
//! took 1.5 s) does not get its session expired and its master stepped down. Skipped with a
//! message when Debian's `zookeeper` package is missing.

use std::time::{Duration, Instant};

use detector::zk_test_server::ZkServer;

/// The session timeout of the client (ZooKeeper allows 0.4 s and up with its 200 ms tick).
const SESSION: Duration = Duration::from_millis(800);

#[tokio::test(flavor = "current_thread")]
async fn a_session_outlives_a_caller_busy_past_the_session_timeout() {
    let Some(zk) = ZkServer::start().await else {
        return;
    };
    let client = detector::zk::connect(&zk.servers(), Duration::from_secs(5))
        .await
        .expect("connect");
    // Re-connect with the short session (the first connect above warms ZooKeeper up).
    drop(client);
    let client = detector::zk::connect(&zk.servers(), SESSION)
        .await
        .expect("connect");
    client.list_children("/").await.expect("a working session");
    // The caller's only thread computes for 4 session timeouts (the fault injected: a busy
    // actor, not a wait).
    let busy = Instant::now();
    let mut spins: u64 = 0;
    while busy.elapsed() < SESSION * 4 {
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
    // The session is still alive.
    let after = tokio::time::timeout(Duration::from_secs(10), client.list_children("/")).await;
    assert!(
        matches!(after, Ok(Ok(_))),
        "the session did not survive a busy caller: {after:?} (state {:?})",
        client.state()
    );
}
