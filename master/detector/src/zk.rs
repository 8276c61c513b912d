//! ZooKeeper plumbing shared by the detector, the contender and the registry store:
//! connecting with a session timeout, finding the leader among the `json.info_*`
//! children of the masters' path, reading its `MasterInfo`, and waiting for a change of
//! the children or of the session.
//!
//! Sessions are declared lost by us, not only by ZooKeeper: a client reports expiry only
//! when it reconnects, so a client that stays disconnected longer than the session
//! timeout is treated as expired (as Mesos does).

use std::time::Duration;

use proto::MasterInfo;
use tokio::time::Instant;
use zookeeper_client as zk;

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

/// Creates `path` and its parents (persistent), tolerating existing nodes.
pub async fn ensure_path(client: &zk::Client, path: &str) -> Result<(), zk::Error> {
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    match client.mkdir(path, &opts).await {
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
    Leader(
        Option<(String, MasterInfo)>,
        zk::OneshotWatcher,
        Vec<String>,
    ),
    /// The path does not exist yet; the watcher fires when it appears.
    NoPath(zk::OneshotWatcher),
    /// Something raced (the leader's znode vanished between listing and reading): read
    /// again.
    Retry,
}

/// Lists the children of `path` with a watch and reads the leader's `MasterInfo`.
pub(crate) async fn read_leader(client: &zk::Client, path: &str) -> Result<Read, zk::Error> {
    let (children, _stat, watcher) = match client.get_and_watch_children(path).await {
        Ok(v) => v,
        Err(zk::Error::NoNode) => {
            let (stat, watcher) = client.check_and_watch_stat(path).await?;
            return Ok(match stat {
                Some(_) => Read::Retry,
                None => Read::NoPath(watcher),
            });
        }
        Err(e) => return Err(e),
    };
    let Some(leader) = leader_of(&children).map(str::to_string) else {
        return Ok(Read::Leader(None, watcher, children));
    };
    let data = match client.get_data(&format!("{path}/{leader}")).await {
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
}

/// Tracks the session state and the "disconnected since" deadline.
pub(crate) struct SessionGuard {
    states: zk::StateWatcher,
    timeout: Duration,
    deadline: Option<Instant>,
}

impl SessionGuard {
    pub(crate) fn new(client: &zk::Client, timeout: Duration) -> SessionGuard {
        let states = client.state_watcher();
        let mut g = SessionGuard {
            states,
            timeout,
            deadline: None,
        };
        let s = g.states.state();
        g.note(s);
        g
    }

    /// Records a state; returns why the session is lost if it is.
    fn note(&mut self, s: zk::SessionState) -> Option<String> {
        use zk::SessionState::*;
        match s {
            Disconnected => {
                if self.deadline.is_none() {
                    tracing::warn!(timeout = ?self.timeout, "disconnected from ZooKeeper; waiting for the session to come back");
                    self.deadline = Some(Instant::now() + self.timeout);
                }
                None
            }
            SyncConnected | ConnectedReadOnly => {
                if self.deadline.take().is_some() {
                    tracing::info!("reconnected to ZooKeeper within the session timeout");
                }
                None
            }
            Expired => Some("ZooKeeper session expired".into()),
            Closed => Some("ZooKeeper session closed".into()),
            AuthFailed => Some("ZooKeeper authentication failed".into()),
        }
    }

    /// Waits for the first of: the watcher firing, the session being lost, `tick`.
    pub(crate) async fn wait(
        &mut self,
        watcher: Option<zk::OneshotWatcher>,
        tick: Option<Duration>,
    ) -> Wake {
        let changed = async move {
            match watcher {
                Some(w) => w.changed().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(changed);
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let tick_at = tick.map(|t| Instant::now() + t).unwrap_or(far);
        enum Ev {
            Watch(zk::WatchedEvent),
            State(zk::SessionState),
            Deadline,
            Tick,
        }
        loop {
            let has_deadline = self.deadline.is_some();
            let deadline = self.deadline.unwrap_or(far);
            let ev = tokio::select! {
                ev = &mut changed => Ev::Watch(ev),
                s = self.states.changed() => Ev::State(s),
                _ = tokio::time::sleep_until(deadline), if has_deadline => Ev::Deadline,
                _ = tokio::time::sleep_until(tick_at), if tick.is_some() => Ev::Tick,
            };
            match ev {
                Ev::Watch(ev) => {
                    if ev.event_type == zk::EventType::Session {
                        if let Some(why) = self.note(ev.session_state) {
                            return Wake::SessionLost(why);
                        }
                    }
                    return Wake::Changed;
                }
                Ev::State(s) => {
                    if let Some(why) = self.note(s) {
                        return Wake::SessionLost(why);
                    }
                }
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

    /// Waits until connected again (after a connection loss), or the session is lost.
    pub(crate) async fn reconnected(&mut self) -> Result<(), String> {
        loop {
            let s = self.states.peek_state();
            if let Some(why) = self.note(s) {
                return Err(why);
            }
            if matches!(
                s,
                zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly
            ) {
                return Ok(());
            }
            match self.wait(None, None).await {
                Wake::SessionLost(why) => return Err(why),
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
        let client = match connect(&servers, timeout).await {
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
        let mut guard = SessionGuard::new(&client, timeout);
        let why = loop {
            match read_leader(&client, &path).await {
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
