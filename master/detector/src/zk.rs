//! ZooKeeper plumbing shared by the detector, the contender and the registry store:
//! connecting with a session timeout, finding the leader among the `json.info_*`
//! children of the masters' path, reading its `MasterInfo`, and waiting for a change of
//! the children or of the session.
//!
//! Sessions are declared lost by us, not only by ZooKeeper: a client reports expiry only
//! when it reconnects, so a client that stays disconnected longer than the session
//! timeout is treated as expired (as Mesos does).
//!
//! Nothing here waits without a bound: every request is bounded by [`bounded`] (a request
//! issued while disconnected is queued by the client until it reconnects, and one in
//! flight when the connection drops fails), and every wait on the session ends when the
//! session comes back ([`Wake::Reconnected`]), is lost, or a deadline passes.

use std::time::Duration;

use proto::MasterInfo;
use tokio::time::Instant;
use zookeeper_client as zk;

use crate::session::{self, Watch, WatchEvent, ZkSession};

/// Mesos's `MASTER_INFO_JSON_LABEL` plus the separator: masters' znodes are
/// `<path>/json.info_NNNNNNNNNN`.
pub const LABEL: &str = "json.info_";

/// Mesos's default `--zk_session_timeout`.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The runtime ZooKeeper sessions run on: a thread of its own, so that a busy actor thread
/// (a master rendering `/state` for 10,000 tasks, or re-admitting 1,000 agents) cannot
/// starve a session's heartbeats until ZooKeeper expires it and the master steps down.
/// `None` if the thread cannot be started: sessions then run on the caller's runtime.
fn session_runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("zk-sessions")
                .enable_all()
                .build()
                .map_err(|e| tracing::warn!(error = %e, "no ZooKeeper session thread; sessions share the caller's"))
                .ok()
        })
        .as_ref()
}

/// Connects to `servers` with a session of `timeout`, giving up after `timeout`. The
/// session's I/O and heartbeats run on [`session_runtime`]; the client works from any
/// runtime.
pub async fn connect(servers: &str, timeout: Duration) -> Result<zk::Client, zk::Error> {
    let servers = servers.to_string();
    let attempt = async move {
        let fut = zk::Client::connector()
            .with_session_timeout(timeout)
            .with_connection_timeout(timeout.min(Duration::from_secs(5)))
            .connect(&servers);
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(zk::Error::Timeout),
        }
    };
    match session_runtime() {
        Some(rt) => rt
            .spawn(attempt)
            .await
            .unwrap_or(Err(zk::Error::ConnectionLoss)),
        None => attempt.await,
    }
}

/// Runs one ZooKeeper request, giving up with [`zk::Error::Timeout`] (a transient error:
/// retry once connected) after `limit`.
pub async fn bounded<T>(
    limit: Duration,
    request: impl std::future::Future<Output = Result<T, zk::Error>>,
) -> Result<T, zk::Error> {
    tokio::time::timeout(limit, request)
        .await
        .unwrap_or(Err(zk::Error::Timeout))
}

/// Creates `path` and its parents (persistent), tolerating existing nodes; gives up after
/// `limit`.
pub async fn ensure_path(
    client: &zk::Client,
    path: &str,
    limit: Duration,
) -> Result<(), zk::Error> {
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    match bounded(limit, client.mkdir(path, &opts)).await {
        Ok(()) | Err(zk::Error::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// [`ensure_path`] through the [`ZkSession`] seam.
pub async fn ensure_path_in(
    session: &dyn ZkSession,
    path: &str,
    limit: Duration,
) -> Result<(), zk::Error> {
    match bounded(limit, session.mkdir(path)).await {
        Ok(()) | Err(zk::Error::NodeExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The sequence number of a `json.info_NNNNNNNNNN` child name, if it is one.
pub fn sequence_of(child: &str) -> Option<u64> {
    let digits = child.strip_prefix(LABEL)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The leading child: the `json.info_*` member with the lowest sequence.
pub fn leader_of(children: &[String]) -> Option<&str> {
    children
        .iter()
        .filter_map(|c| sequence_of(c).map(|s| (s, c.as_str())))
        .min()
        .map(|(_, c)| c)
}

/// What reading the leader found.
#[allow(clippy::large_enum_variant)] // short-lived, one at a time
pub(crate) enum Read {
    /// The leader (or none), with the watcher that fires when the children change.
    Leader(Option<(String, MasterInfo)>, Watch, Vec<String>),
    /// The path does not exist yet; the watcher fires when it appears.
    NoPath(Watch),
    /// Something raced (the leader's znode vanished between listing and reading): read
    /// again.
    Retry,
}

/// Lists the children of `path` with a watch and reads the leader's `MasterInfo`, each
/// request bounded by `limit`. `own` is a contender's child name and `MasterInfo`: when it
/// leads, its data is not read back (one round trip less between the old leader's
/// session expiring and the new one acting).
pub(crate) async fn read_leader(
    client: &dyn ZkSession,
    path: &str,
    limit: Duration,
    own: Option<(&str, &MasterInfo)>,
) -> Result<Read, zk::Error> {
    let (children, watcher) = match bounded(limit, client.watch_children(path)).await {
        Ok(v) => v,
        Err(zk::Error::NoNode) => {
            let (exists, watcher) = bounded(limit, client.watch_exists(path)).await?;
            return Ok(match exists {
                true => Read::Retry,
                false => Read::NoPath(watcher),
            });
        }
        Err(e) => return Err(e),
    };
    let Some(leader) = leader_of(&children).map(str::to_string) else {
        return Ok(Read::Leader(None, watcher, children));
    };
    if let Some((name, info)) = own.filter(|(name, _)| *name == leader) {
        return Ok(Read::Leader(
            Some((name.to_string(), info.clone())),
            watcher,
            children,
        ));
    }
    let data = match bounded(limit, client.get_data(&format!("{path}/{leader}"))).await {
        Ok((data, _)) => data,
        Err(zk::Error::NoNode) => return Ok(Read::Retry),
        Err(e) => return Err(e),
    };
    let info = String::from_utf8(data)
        .ok()
        .and_then(|text| MasterInfo::from_json(&text).ok());
    match info {
        Some(info) => Ok(Read::Leader(Some((leader, info)), watcher, children)),
        None => {
            tracing::warn!(znode = %format!("{path}/{leader}"), "leader's znode holds no valid MasterInfo JSON; treating as no leader");
            Ok(Read::Leader(None, watcher, children))
        }
    }
}

/// Why a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The watched node changed (or the watch was reset): read again.
    Changed,
    /// The session is gone (expired, closed, or disconnected past the session timeout).
    SessionLost(String),
    /// The periodic tick elapsed (only when a tick was asked for).
    Tick,
    /// The connection came back after a disconnection, within the session timeout: the
    /// session lives on, but what was read before may be stale (and a request in flight at
    /// the disconnection failed): read again.
    Reconnected,
}

/// What one observed session state means.
enum Noted {
    /// Nothing to act on (still connected, or still disconnected within the timeout).
    Nothing,
    /// Connected again after a disconnection.
    Reconnected,
    /// The session is gone, and why.
    Lost(String),
}

/// Tracks the session state and the "disconnected since" deadline.
pub(crate) struct SessionGuard {
    states: Box<dyn session::StateStream>,
    timeout: Duration,
    deadline: Option<Instant>,
}

impl SessionGuard {
    pub(crate) fn new(client: &dyn ZkSession, timeout: Duration) -> SessionGuard {
        let states = client.states();
        let mut g = SessionGuard {
            states,
            timeout,
            deadline: None,
        };
        let s = g.states.state();
        g.note(s);
        g
    }

    /// Records a state: a disconnection starts the session-timeout deadline, a connection
    /// ends it.
    fn note(&mut self, s: zk::SessionState) -> Noted {
        use zk::SessionState::*;
        match s {
            Disconnected => {
                if self.deadline.is_none() {
                    tracing::warn!(timeout = ?self.timeout, "disconnected from ZooKeeper; waiting for the session to come back");
                    self.deadline = Some(Instant::now() + self.timeout);
                }
                Noted::Nothing
            }
            SyncConnected | ConnectedReadOnly => {
                if self.deadline.take().is_some() {
                    tracing::info!("reconnected to ZooKeeper within the session timeout");
                    Noted::Reconnected
                } else {
                    Noted::Nothing
                }
            }
            Expired => Noted::Lost("ZooKeeper session expired".into()),
            Closed => Noted::Lost("ZooKeeper session closed".into()),
            AuthFailed => Noted::Lost("ZooKeeper authentication failed".into()),
        }
    }

    /// Waits for the first of: the watcher firing, the session coming back after a
    /// disconnection, the session being lost, `tick`.
    pub(crate) async fn wait(&mut self, watcher: Option<Watch>, tick: Option<Duration>) -> Wake {
        let changed = async move {
            match watcher {
                Some(w) => w.await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(changed);
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let tick_at = tick.map(|t| Instant::now() + t).unwrap_or(far);
        enum Ev {
            Watch(WatchEvent),
            State(zk::SessionState),
            Deadline,
            Tick,
        }
        loop {
            let has_deadline = self.deadline.is_some();
            let deadline = self.deadline.unwrap_or(far);
            // `biased`: when several are ready at one instant (a paused clock makes that
            // common), they are taken in this order, the same on every run.
            let ev = tokio::select! {
                biased;
                ev = &mut changed => Ev::Watch(ev),
                s = self.states.changed() => Ev::State(s),
                _ = tokio::time::sleep_until(deadline), if has_deadline => Ev::Deadline,
                _ = tokio::time::sleep_until(tick_at), if tick.is_some() => Ev::Tick,
            };
            match ev {
                Ev::Watch(ev) => {
                    if let WatchEvent::Session(state) = ev {
                        if let Noted::Lost(why) = self.note(state) {
                            return Wake::SessionLost(why);
                        }
                    }
                    return Wake::Changed;
                }
                Ev::State(s) => match self.note(s) {
                    Noted::Lost(why) => return Wake::SessionLost(why),
                    Noted::Reconnected => return Wake::Reconnected,
                    Noted::Nothing => {}
                },
                Ev::Deadline => {
                    return Wake::SessionLost(format!(
                        "disconnected from ZooKeeper for longer than the session timeout ({:?})",
                        self.timeout
                    ));
                }
                Ev::Tick => return Wake::Tick,
            }
        }
    }

    /// Waits until connected (at once if connected now), or the session is lost: at most
    /// the session timeout after the disconnection was first seen.
    pub(crate) async fn reconnected(&mut self) -> Result<(), String> {
        let s = self.states.state();
        if let Noted::Lost(why) = self.note(s) {
            return Err(why);
        }
        if matches!(
            s,
            zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly
        ) {
            return Ok(());
        }
        loop {
            match self.wait(None, None).await {
                Wake::SessionLost(why) => return Err(why),
                Wake::Reconnected => return Ok(()),
                // No watcher and no tick: only a state change wakes the wait.
                Wake::Changed | Wake::Tick => {}
            }
        }
    }
}

/// Whether an error means "try again once reconnected" rather than "session gone":
/// everything but expiry, authentication failure and a closed client (an I/O error such
/// as a broken pipe is a connection problem; the session may well be alive).
pub(crate) fn transient(e: &zk::Error) -> bool {
    !matches!(
        e,
        zk::Error::SessionExpired | zk::Error::AuthFailed | zk::Error::ClientClosed
    )
}

/// Pause before retrying after a transient error, so a persistent one cannot spin.
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Follows the leader under `path` forever, calling `report` with every change (and
/// `None` while no leader is known: no member, no connection, or the session lost).
/// Reconnects with a new session after expiry. Drop the future to stop.
pub async fn follow(
    servers: String,
    path: String,
    timeout: Duration,
    mut report: impl FnMut(Option<MasterInfo>),
) {
    let mut last: Option<Option<MasterInfo>> = None;
    let mut emit = |v: Option<MasterInfo>| {
        if last.as_ref() != Some(&v) {
            last = Some(v.clone());
            report(v);
        }
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        let client = match session::open(&servers, timeout).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(%servers, error = %e, "cannot connect to ZooKeeper; retrying");
                emit(None);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let mut guard = SessionGuard::new(&*client, timeout);
        let why = loop {
            // Any wake but a lost session reads again (a reconnection included: the
            // leader may have changed while the connection was down).
            match read_leader(&*client, &path, timeout, None).await {
                Ok(Read::Leader(leader, watcher, _)) => {
                    emit(leader.map(|(_, info)| info));
                    if let Wake::SessionLost(why) = guard.wait(Some(watcher), None).await {
                        break why;
                    }
                }
                Ok(Read::NoPath(watcher)) => {
                    emit(None);
                    if let Wake::SessionLost(why) = guard.wait(Some(watcher), None).await {
                        break why;
                    }
                }
                Ok(Read::Retry) => {}
                Err(e) if transient(&e) => {
                    tracing::debug!(error = %e, "ZooKeeper request failed; retrying once connected");
                    tokio::time::sleep(RETRY_PAUSE).await;
                    if let Err(why) = guard.reconnected().await {
                        break why;
                    }
                }
                Err(e) => break format!("ZooKeeper error: {e}"),
            }
        };
        tracing::warn!(%servers, %path, "detector lost its ZooKeeper session ({why}); reconnecting");
        emit(None);
        drop(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp_proxy::TcpProxy;
    use crate::zk_test_server::ZkServer;
    use libproc::testing::within;

    /// A wait for the connection must end when the connection is back: before, it saw
    /// `SyncConnected`, logged "reconnected" and kept waiting for good.
    #[tokio::test]
    async fn waiting_for_the_connection_ends_when_it_is_back() {
        let Some(zk) = ZkServer::start().await else {
            return;
        };
        let proxy = TcpProxy::start(([127, 0, 0, 1], zk.port()).into()).unwrap();
        // The client library reconnects on its own schedule (its backoff doubles while the
        // proxy refuses) and, rarely on a loaded machine, declares the session expired
        // before its reconnect lands: then our wait rightly ends with "lost", which proves
        // nothing about reconnection. So up to 3 fresh sessions; one must come back and end
        // the wait with Ok. (On main, every attempt waited for good.)
        let t = Duration::from_secs(8);
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            let client = connect(&proxy.servers(), t).await.unwrap();
            let mut guard = SessionGuard::new(&session::RealSession(client.clone()), t);
            let mut states = client.state_watcher();
            // Cut while a request is in flight: it fails, and the client is disconnected.
            let request = client.list_children("/");
            proxy.cut();
            let failed = within(2 * t, "the request in flight fails", bounded(t, request)).await;
            assert!(failed.as_ref().is_err_and(transient), "{failed:?}");
            within(t, "the client sees the disconnection", async {
                while states.state() != zk::SessionState::Disconnected {
                    states.changed().await;
                }
            })
            .await;
            let waiting = guard.reconnected();
            proxy.restore();
            let back = within(2 * t, "the wait to end once reconnected", waiting).await;
            if back.is_ok() {
                assert!(bounded(t, client.list_children("/")).await.is_ok());
            }
            outcomes.push(back);
            if outcomes.last().is_some_and(|b| b.is_ok()) {
                break;
            }
        }
        assert!(
            outcomes.last().is_some_and(|b| b.is_ok()),
            "no session came back: {outcomes:?}"
        );
        // Cut past the session timeout: the wait ends, with the session lost (a second
        // client with a short session, so the test does not wait 20 s).
        let t = Duration::from_secs(2);
        let client = connect(&proxy.servers(), t).await.unwrap();
        let mut guard = SessionGuard::new(&session::RealSession(client.clone()), t);
        let mut states = client.state_watcher();
        proxy.cut();
        within(t, "the client sees the disconnection", async {
            while states.state() != zk::SessionState::Disconnected {
                states.changed().await;
            }
        })
        .await;
        let lost = within(
            2 * t,
            "the session to be declared lost",
            guard.reconnected(),
        )
        .await;
        assert!(lost.is_err(), "{lost:?}");
    }

    #[test]
    fn lowest_sequence_leads() {
        let c: Vec<String> = [
            "json.info_0000000012",
            "registry",
            "json.info_0000000003",
            "info_0000000001",
            "json.info_x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(leader_of(&c), Some("json.info_0000000003"));
        assert_eq!(leader_of(&[]), None);
        assert_eq!(sequence_of("json.info_"), None);
        assert_eq!(sequence_of("json.info_+1"), None);
    }
}
