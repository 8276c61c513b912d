//! Unit tests of the in-memory ensemble, on a paused clock.

use super::*;

const T: Duration = Duration::from_secs(10);

async fn session(e: &Ensemble, client: &str) -> ModelSession {
    e.connect(client, T).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn ephemeral_sequential_nodes_count_per_parent_and_go_with_their_session() {
    let e = Ensemble::new("unit-seq");
    let a = session(&e, "a").await;
    let b = session(&e, "b").await;
    a.mkdir("/mesos").await.unwrap();
    assert_eq!(a.mkdir("/mesos").await, Err(Error::NodeExists));
    let s1 = a
        .create("/mesos/json.info_", b"a", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    let s2 = b
        .create("/mesos/json.info_", b"b", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    assert_eq!((s1.as_str(), s2.as_str()), ("0000000000", "0000000001"));
    let (children, w) = b.watch_children("/mesos").await.unwrap();
    assert_eq!(
        children,
        vec!["json.info_0000000000", "json.info_0000000001"]
    );
    drop(a);
    assert_eq!(w.await, WatchEvent::Node, "the close deleted a's znode");
    assert_eq!(e.children("/mesos"), vec!["json.info_0000000001"]);
    // The counter does not go back.
    let c = session(&e, "c").await;
    let s3 = c
        .create("/mesos/json.info_", b"c", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    assert_eq!(s3, "0000000002");
    assert_eq!(
        b.get_data("/mesos/json.info_0000000001").await.unwrap(),
        (b"b".to_vec(), 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_disconnected_session_expires_after_its_timeout_and_learns_it_on_reconnection() {
    let e = Ensemble::new("unit-expiry");
    let a = session(&e, "a").await;
    let b = session(&e, "b").await;
    a.mkdir("/m").await.unwrap();
    a.create("/m/n_", b"", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    let (_, w) = b.watch_children("/m").await.unwrap();
    let mut states = a.states();
    e.partition("a");
    assert_eq!(a.state(), SessionState::Disconnected);
    // A request while disconnected waits (bounded by the caller).
    let r = tokio::time::timeout(Duration::from_secs(1), a.get_data("/m")).await;
    assert!(r.is_err(), "queued while disconnected");
    tokio::time::sleep(T - Duration::from_millis(1500)).await;
    assert_eq!(e.children("/m").len(), 1, "not expired before the timeout");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        e.children("/m").is_empty(),
        "expired: its ephemeral is gone"
    );
    assert_eq!(w.await, WatchEvent::Node);
    assert_eq!(
        a.state(),
        SessionState::Disconnected,
        "the client does not know yet"
    );
    assert_eq!(states.state(), SessionState::Disconnected);
    e.heal("a");
    assert_eq!(states.changed().await, SessionState::Expired);
    assert_eq!(a.get_data("/m").await, Err(Error::SessionExpired));
}

#[tokio::test(start_paused = true)]
async fn a_short_disconnection_keeps_the_session_and_its_watches() {
    let e = Ensemble::new("unit-short");
    let a = session(&e, "a").await;
    let b = session(&e, "b").await;
    a.mkdir("/m").await.unwrap();
    let (_, w) = a.watch_children("/m").await.unwrap();
    assert_eq!(e.disconnect("a", Duration::from_secs(3)), 1);
    // A change while a is away is delivered once it is back.
    b.create("/m/x", b"", CreateMode::Persistent).await.unwrap();
    let w = tokio::spawn(w);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!w.is_finished(), "not delivered while disconnected");
    assert_eq!(w.await.unwrap(), WatchEvent::Node);
    assert_eq!(a.state(), SessionState::SyncConnected);
    assert_eq!(a.list_children("/m").await.unwrap(), vec!["x"]);
}

#[tokio::test(start_paused = true)]
async fn a_request_in_flight_when_the_connection_drops_fails_with_connection_loss() {
    let e = Ensemble::new("unit-inflight");
    let a = session(&e, "a").await;
    let req = tokio::spawn(a.create("/x", b"", CreateMode::Persistent));
    tokio::task::yield_now().await;
    e.disconnect("a", Duration::from_secs(1));
    assert_eq!(req.await.unwrap(), Err(Error::ConnectionLoss));
    // It was applied all the same, as a real server may have.
    assert!(e.data("/x").is_some());
}

#[tokio::test(start_paused = true)]
async fn a_slow_ensemble_applies_each_request_later_in_the_order_its_session_sent_them() {
    let e = Ensemble::new("unit-slow");
    let a = session(&e, "a").await;
    a.mkdir("/r").await.unwrap();
    let start = Instant::now();
    e.slow(Duration::from_secs(3), Duration::from_secs(1));
    let first = tokio::spawn(a.set_data("/r", b"1", None));
    tokio::task::yield_now().await;
    // Sent once the ensemble is fast again, but after the first: it waits behind it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        e.data("/r") == Some(Vec::new()),
        "not applied before its time"
    );
    let second = a.set_data("/r", b"2", None).await;
    assert_eq!(second, Ok(()));
    assert_eq!(first.await.unwrap(), Ok(()));
    assert_eq!(
        e.data("/r"),
        Some(b"2".to_vec()),
        "applied in the order sent"
    );
    assert!(start.elapsed() >= Duration::from_secs(3));
    // Fast again: answered at once.
    let t = Instant::now();
    a.get_data("/r").await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn a_request_waiting_on_a_slow_ensemble_when_the_connection_drops_is_not_applied() {
    let e = Ensemble::new("unit-slow-drop");
    let a = session(&e, "a").await;
    e.slow(Duration::from_secs(3), Duration::from_secs(10));
    let req = tokio::spawn(a.create("/x", b"", CreateMode::Persistent));
    tokio::time::sleep(Duration::from_secs(1)).await;
    e.disconnect("a", Duration::from_secs(1));
    assert_eq!(req.await.unwrap(), Err(Error::ConnectionLoss));
    assert!(e.data("/x").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_cut_next_request_is_applied_its_reply_lost_and_the_session_comes_back() {
    let e = Ensemble::new("unit-cut");
    let a = session(&e, "a").await;
    assert_eq!(e.cut_next_request("a", Duration::from_secs(2)), 1);
    let mut states = a.states();
    assert_eq!(
        a.create("/x", b"", CreateMode::Persistent).await,
        Err(Error::ConnectionLoss)
    );
    assert!(e.data("/x").is_some(), "applied on the server");
    assert_eq!(a.state(), SessionState::Disconnected);
    // Only the next request: once back, requests answer again.
    while states.changed().await != SessionState::SyncConnected {}
    assert_eq!(a.mkdir("/y").await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_forced_expiry_waits_for_the_timeout_and_fires_the_watches_on_reconnection() {
    let e = Ensemble::new("unit-expire");
    let a = session(&e, "a").await;
    a.mkdir("/m").await.unwrap();
    a.create("/m/n_", b"", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    let (_, w) = a.watch_exists("/m/other").await.unwrap();
    assert_eq!(e.expire("a"), 1);
    assert_eq!(a.state(), SessionState::Disconnected);
    // Never sooner than a real server would: the session timeout after last contact.
    tokio::time::sleep(T - Duration::from_millis(10)).await;
    assert_eq!(e.children("/m").len(), 1);
    assert_eq!(w.await, WatchEvent::Session(SessionState::Expired));
    assert!(e.children("/m").is_empty());
    assert_eq!(a.state(), SessionState::Expired);
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_data_and_sessions_that_come_back_in_time() {
    let e = Ensemble::new("unit-restart");
    let a = session(&e, "a").await;
    a.mkdir("/m").await.unwrap();
    a.create("/m/n_", b"", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    e.restart(Duration::from_secs(15));
    assert_eq!(a.state(), SessionState::Disconnected);
    // Down longer than the timeout, but the clock starts when it is back.
    tokio::time::sleep(Duration::from_secs(16)).await;
    assert_eq!(a.state(), SessionState::SyncConnected);
    assert_eq!(e.children("/m").len(), 1);
    // A client partitioned across the restart expires timeout after the ensemble is back.
    e.partition("a");
    e.restart(Duration::from_secs(5));
    tokio::time::sleep(Duration::from_secs(14)).await;
    assert_eq!(e.children("/m").len(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(e.children("/m").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_session_dropped_while_disconnected_lingers_until_it_expires() {
    let e = Ensemble::new("unit-crash");
    let a = session(&e, "a").await;
    a.mkdir("/m").await.unwrap();
    a.create("/m/n_", b"", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    e.partition("a");
    drop(a);
    e.heal("a");
    tokio::time::sleep(T - Duration::from_secs(1)).await;
    assert_eq!(
        e.children("/m").len(),
        1,
        "a crashed client's znode lingers"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(e.children("/m").is_empty());
    assert_eq!(e.live_sessions(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_fenced_transaction_applies_nothing() {
    let e = Ensemble::new("unit-multi");
    let a = session(&e, "a").await;
    a.mkdir("/r").await.unwrap();
    let ops = |fence: &str| {
        vec![
            MultiOp::Check {
                path: fence.into(),
                version: -1,
            },
            MultiOp::SetData {
                path: "/r".into(),
                data: b"x".to_vec(),
                version: Some(0),
            },
        ]
    };
    assert_eq!(
        a.multi(ops("/gone")).await,
        Err(MultiError::Operation {
            index: 0,
            source: Error::NoNode
        })
    );
    assert_eq!(e.data("/r"), Some(Vec::new()));
    a.multi(ops("/r")).await.unwrap();
    assert_eq!(a.get_data("/r").await.unwrap(), (b"x".to_vec(), 1));
    assert_eq!(
        a.multi(ops("/r")).await,
        Err(MultiError::Operation {
            index: 1,
            source: Error::BadVersion
        })
    );
}

#[test]
fn hosts_name_an_ensemble_and_a_client() {
    let e = Ensemble::new("sim-ensemble-unit-lookup");
    assert_eq!(e.servers("m1"), format!("m1.{}:2181", e.name()));
    let (found, client) = lookup(&format!("m1.{}", e.name())).unwrap();
    assert_eq!((found.name(), client.as_str()), (e.name(), "m1"));
    let again = Ensemble::new("sim-ensemble-unit-lookup");
    assert_ne!(again.name(), e.name(), "a live name is not reused");
    assert!(lookup("zk1.example").is_none());
    drop((e, found));
    assert!(lookup("sim-ensemble-unit-lookup").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_session_on_a_lagging_follower_reads_old_state_until_it_syncs() {
    let e = Ensemble::new("unit-lag-sync");
    let a = session(&e, "a").await;
    a.mkdir("/r").await.unwrap();
    a.set_data("/r", b"1", None).await.unwrap();
    e.lag("b", Duration::from_secs(5), Duration::from_secs(60));
    let b = session(&e, "b").await;
    let fresh = session(&e, "b").await;
    a.set_data("/r", b"2", None).await.unwrap();
    a.create("/r/c", b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(b.get_data("/r").await.unwrap(), (b"1".to_vec(), 1), "stale");
    assert_eq!(b.list_children("/r").await.unwrap(), Vec::<String>::new());
    // A versioned write goes to the leader: against the stale version it fails.
    assert_eq!(
        b.set_data("/r", b"x", Some(1)).await,
        Err(Error::BadVersion)
    );
    // That error's reply came once the follower had caught up to it: nothing older after.
    assert_eq!(b.get_data("/r").await.unwrap(), (b"2".to_vec(), 2));
    // A sync makes the other session's reads current; without one they stay behind.
    let c = session(&e, "c").await;
    assert_eq!(c.get_data("/r").await.unwrap().0, b"2", "not lagging");
    assert_eq!(fresh.get_data("/r").await.unwrap().0, b"1");
    fresh.sync("/r").await.unwrap();
    assert_eq!(fresh.get_data("/r").await.unwrap().0, b"2");
    assert_eq!(fresh.list_children("/r").await.unwrap(), vec!["c"]);
}

#[tokio::test(start_paused = true)]
async fn a_lagging_follower_applies_changes_late_and_catches_up_when_the_lag_ends() {
    let e = Ensemble::new("unit-lag-late");
    let a = session(&e, "a").await;
    a.mkdir("/r").await.unwrap();
    e.lag("b", Duration::from_secs(5), Duration::from_secs(20));
    let b = session(&e, "b").await;
    let start = Instant::now();
    a.set_data("/r", b"1", None).await.unwrap();
    assert_eq!(b.get_data("/r").await.unwrap().0, b"");
    // Its watch, set on the old state, fires when the follower applies the change.
    let (exists, w) = b.watch_exists("/r").await.unwrap();
    assert!(exists);
    let w = tokio::spawn(w);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!w.is_finished(), "not before the follower applied it");
    assert_eq!(w.await.unwrap(), WatchEvent::Node);
    assert!(start.elapsed() >= Duration::from_secs(5));
    assert_eq!(b.get_data("/r").await.unwrap().0, b"1");
    // A change after the watch was set fires it late too.
    let (_, w) = b.watch_children("/r").await.unwrap();
    let at = Instant::now();
    a.create("/r/c", b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(w.await, WatchEvent::Node);
    assert!(at.elapsed() >= Duration::from_secs(5));
    assert_eq!(b.list_children("/r").await.unwrap(), vec!["c"]);
    // Its own write it sees at once (and all before it).
    a.set_data("/r", b"2", None).await.unwrap();
    b.create("/r/d", b"", CreateMode::Persistent).await.unwrap();
    assert_eq!(b.get_data("/r").await.unwrap().0, b"2");
    // Once the lag is over the follower is current.
    tokio::time::sleep_until(start + Duration::from_secs(20)).await;
    a.set_data("/r", b"3", None).await.unwrap();
    assert_eq!(b.get_data("/r").await.unwrap().0, b"3");
}

#[tokio::test(start_paused = true)]
async fn a_transaction_creates_and_deletes_in_order_or_not_at_all() {
    let e = Ensemble::new("unit-multi-create");
    let a = session(&e, "a").await;
    a.mkdir("/j").await.unwrap();
    let create = |p: &str| MultiOp::Create {
        path: p.into(),
        data: b"x".to_vec(),
    };
    let delete = |p: &str| MultiOp::Delete {
        path: p.into(),
        version: None,
    };
    a.multi(vec![create("/j/a"), create("/j/b")]).await.unwrap();
    // Each operation sees what the ones before it did.
    assert_eq!(
        a.multi(vec![delete("/j/a"), create("/j/a"), create("/j/a")])
            .await,
        Err(MultiError::Operation {
            index: 2,
            source: Error::NodeExists
        })
    );
    assert_eq!(e.children("/j"), vec!["a", "b"]);
    assert_eq!(
        a.multi(vec![delete("/j/a"), delete("/j/b"), delete("/j")])
            .await,
        Ok(())
    );
    assert_eq!(e.data("/j"), None);
}
