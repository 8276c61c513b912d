//! An in-memory ZooKeeper ensemble for the seeded simulation: the same [`ZkSession`] seam
//! as a real ZooKeeper, on the caller's tokio clock (a paused one included) and thread, and
//! deterministic (no randomness, no threads, no real time).
//!
//! Modelled: a tree of znodes with versions; persistent and ephemeral sequential nodes (a
//! per-parent sequence counter); one-shot child and data/existence watches; sessions with a
//! timeout. A session is *connected* or *disconnected*: a request issued while
//! disconnected waits for the reconnection (the real client queues it), one in flight when
//! the connection drops fails with `ConnectionLoss` (its effect may have been applied, as
//! with the real server). The server expires a session disconnected for longer than its
//! timeout: its ephemerals are deleted and their watches fire; the client learns of the
//! expiry only when it reconnects (as the real client). Watches survive disconnections
//! (the real client re-arms them on reconnection); an event that happened meanwhile is
//! delivered once reconnected. Dropping the last handle on a session closes it at once if
//! it is connected; if it is not, the close cannot reach the server and the session
//! lingers until it expires (a crashed process).
//!
//! Faults (for the simulation): [`Ensemble::disconnect`] a client's sessions for a while,
//! [`Ensemble::expire`] them (never sooner than a real server would: the session timeout
//! after the client was last heard), [`Ensemble::partition`] a client from the ensemble until
//! [`Ensemble::heal`], [`Ensemble::restart`] the ensemble (every session disconnected;
//! data and sessions persist, and the session timeouts start again once it is back: what a
//! real ensemble does when it loses its quorum and regains it), and make it
//! [`Ensemble::slow`] (a stalled disk: requests applied late, in order per session), and
//! make a follower [`Ensemble::lag`] behind the leader (a client's sessions opened meanwhile
//! read stale state until they [`ZkSession::sync`] or it catches up: every committed
//! change gets an index, and the tree after each is kept while a follower lags).
//!
//! Selection: [`Ensemble::new`] registers the ensemble under its name (names start with
//! `sim-ensemble-`); [`crate::session::open`] reaches it for a servers string whose first
//! host is `<name>` or `<client>.<name>` (`zk://m1.sim-ensemble-7:2181/mesos`), `<client>`
//! being the label faults address. The registry is process-wide and keyed by name, so
//! seeds on different threads each use their own ensemble.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::session::{
    BoxFuture, CreateMode, Error, MultiError, MultiOp, SessionState, StateStream, Watch,
    WatchEvent, ZkResult, ZkSession,
};

/// How long a request takes to reach the server and its reply to come back.
const LATENCY: Duration = Duration::from_millis(1);

/// How often a disconnected client tries to reconnect.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// The prefix of every ensemble's name.
pub const NAME_PREFIX: &str = "sim-ensemble-";

type Shared = Arc<Mutex<State>>;

fn registry() -> &'static Mutex<BTreeMap<String, Weak<Mutex<State>>>> {
    static REGISTRY: std::sync::OnceLock<Mutex<BTreeMap<String, Weak<Mutex<State>>>>> =
        std::sync::OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The ensemble a host names (`<name>` or `<client>.<name>`), with the client label.
pub fn lookup(host: &str) -> Option<(Ensemble, String)> {
    let at = host.find(NAME_PREFIX)?;
    let (client, name) = host.split_at(at);
    let state = lock(registry()).get(name)?.upgrade()?;
    Some((
        Ensemble {
            name: name.to_string(),
            state,
        },
        client.trim_end_matches('.').to_string(),
    ))
}

#[derive(Clone)]
struct Znode {
    data: Vec<u8>,
    version: i32,
    owner: Option<u64>,
    next_seq: i64,
}

impl Znode {
    fn new(data: Vec<u8>, owner: Option<u64>) -> Znode {
        Znode {
            data,
            version: 0,
            owner,
            next_seq: 0,
        }
    }
}

struct Sess {
    client: String,
    timeout: Duration,
    /// What the client sees.
    state: watch::Sender<SessionState>,
    /// The connection's generation: a reply is lost if it changed while in flight.
    conn: u64,
    connected: bool,
    /// The server expired or closed it (the client may not know yet).
    ended: Option<SessionState>,
    /// When the server expires it if it stays disconnected.
    expire_at: Option<Instant>,
    /// Kept disconnected until then (a fault).
    held_until: Option<Instant>,
    /// A fault: the connection drops while the next request is in flight (it is applied,
    /// its reply lost), and stays down this long.
    cut_next: Option<Duration>,
    /// Every handle was dropped.
    abandoned: bool,
    /// When its latest request is applied: its requests are applied in the order sent.
    applied_until: Instant,
    /// It reached a lagging follower (a fault), until the follower catches up.
    lag: Option<Lag>,
    /// The latest change (its index) the session has seen: its reads never go back past it.
    seen: u64,
}

/// A follower that falls behind the leader (see [`Ensemble::lag`]): from `from` it applies
/// each change `behind` after the leader committed it, until `until`, when it catches up.
#[derive(Clone, Copy)]
struct Lag {
    from: Instant,
    behind: Duration,
    until: Instant,
}

/// Which watches a change fires.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Data and existence watches on the path.
    Node,
    /// Child watches on the path.
    Children,
}

/// A committed change, kept while a follower lags: the tree after it, and the watches it
/// fired.
struct Committed {
    zxid: u64,
    at: Instant,
    tree: Arc<BTreeMap<String, Znode>>,
    fired: Vec<(Kind, String)>,
}

/// A watch event a lagging session hears once its view reaches change `index`.
struct Pending {
    sid: u64,
    index: u64,
    tx: oneshot::Sender<WatchEvent>,
}

type Watchers = BTreeMap<String, Vec<(u64, oneshot::Sender<WatchEvent>)>>;

struct State {
    nodes: BTreeMap<String, Znode>,
    sessions: BTreeMap<u64, Sess>,
    next_session: u64,
    child_watches: Watchers,
    node_watches: Watchers,
    down_until: Option<Instant>,
    partitioned: BTreeSet<String>,
    /// A slow ensemble (a stalled disk): until the instant, each request is applied this
    /// much later.
    slow: Option<(Instant, Duration)>,
    /// The index of the latest committed change (its zxid).
    zxid: u64,
    /// The request being applied changed the tree (all its changes get one index).
    dirty: bool,
    /// Clients whose new sessions reach a lagging follower (see [`Ensemble::lag`]).
    lags: BTreeMap<String, Lag>,
    /// While a follower lags: every change committed since it fell behind.
    history: Vec<Committed>,
    /// The watches the request being applied fires (recorded while a follower lags).
    touched: Vec<(Kind, String)>,
    /// Watch events waiting for a lagging session's view to reach their change.
    pending: Vec<Pending>,
    /// Itself, for the timers that deliver pending events.
    me: Weak<Mutex<State>>,
}

fn parent_of(path: &str) -> Option<&str> {
    let i = path.rfind('/')?;
    Some(if i == 0 { "/" } else { &path[..i] })
}

fn valid(path: &str) -> ZkResult<()> {
    if !path.starts_with('/') || (path.len() > 1 && path.ends_with('/')) || path.contains("//") {
        return Err(Error::BadArguments(&"invalid path"));
    }
    Ok(())
}

fn children_in(nodes: &BTreeMap<String, Znode>, path: &str) -> Vec<String> {
    let prefix = if path == "/" {
        "/".to_string()
    } else {
        format!("{path}/")
    };
    nodes
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .filter_map(|(p, _)| {
            let rest = &p[prefix.len()..];
            (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
        })
        .collect()
}

/// Checks `op` of a transaction against `tree`, and applies it there.
fn dry_run(tree: &mut BTreeMap<String, Znode>, op: &MultiOp) -> ZkResult<()> {
    let version_ok = |tree: &BTreeMap<String, Znode>, path: &str, version: Option<i32>| {
        let n = tree.get(path).ok_or(Error::NoNode)?;
        match version {
            Some(v) if v != -1 && v != n.version => Err(Error::BadVersion),
            _ => Ok(()),
        }
    };
    match op {
        MultiOp::Check { path, version } => version_ok(tree, path, Some(*version)),
        MultiOp::SetData { path, version, .. } => {
            version_ok(tree, path, *version)?;
            if let Some(n) = tree.get_mut(path) {
                n.version += 1;
            }
            Ok(())
        }
        MultiOp::Create { path, data } => {
            valid(path)?;
            let parent = parent_of(path).ok_or(Error::BadArguments(&"no parent"))?;
            if tree.get(parent).ok_or(Error::NoNode)?.owner.is_some() {
                return Err(Error::NoChildrenForEphemerals);
            }
            if tree.contains_key(path) {
                return Err(Error::NodeExists);
            }
            tree.insert(path.clone(), Znode::new(data.clone(), None));
            Ok(())
        }
        MultiOp::Delete { path, version } => {
            if path == "/" {
                return Err(Error::BadArguments(&"cannot delete /"));
            }
            version_ok(tree, path, *version)?;
            if !children_in(tree, path).is_empty() {
                return Err(Error::NotEmpty);
            }
            tree.remove(path);
            Ok(())
        }
    }
}

impl State {
    /// How much later than now a request sent now is applied.
    fn commit_delay(&self, now: Instant) -> Duration {
        match self.slow {
            Some((until, extra)) if now < until => extra,
            _ => Duration::ZERO,
        }
    }

    fn reachable(&self, s: &Sess, now: Instant) -> bool {
        self.down_until.is_none_or(|t| now >= t)
            && !self.partitioned.contains(&s.client)
            && s.held_until.is_none_or(|t| now >= t)
    }

    fn children(&self, path: &str) -> Vec<String> {
        children_in(&self.nodes, path)
    }

    /// Whether a follower lags now (changes are kept for it).
    fn keeping(&self, now: Instant) -> bool {
        self.lags.values().any(|l| now < l.until)
    }

    /// Session `sid`'s follower lag, while it lasts.
    fn lag_of(&self, sid: u64, now: Instant) -> Option<Lag> {
        self.sessions
            .get(&sid)
            .and_then(|s| s.lag)
            .filter(|l| now < l.until)
    }

    /// The change `sid`'s reads are answered at now: the head, or, on a lagging follower,
    /// the latest change it applied (one committed `behind` ago), never below what the
    /// session has seen.
    fn view(&self, sid: u64, now: Instant) -> u64 {
        let Some(l) = self.lag_of(sid, now) else {
            return self.zxid;
        };
        let cutoff = now.checked_sub(l.behind).map_or(l.from, |t| t.max(l.from));
        let applied = self
            .history
            .iter()
            .rev()
            .find(|c| c.at <= cutoff)
            .map_or(self.zxid, |c| c.zxid);
        let seen = self.sessions.get(&sid).map_or(0, |s| s.seen);
        seen.max(applied)
    }

    /// The tree after change `index` (the head's, when it is not kept).
    fn tree_at(&self, index: u64) -> &BTreeMap<String, Znode> {
        if index == self.zxid {
            return &self.nodes;
        }
        self.history
            .iter()
            .find(|c| c.zxid == index)
            .map_or(&self.nodes, |c| &*c.tree)
    }

    /// `sid` sees its view (or, with `head`, the head: its writes and syncs go through the
    /// leader), and hears the pending events its view has reached. Returns its view.
    fn advance(&mut self, sid: u64, head: bool, now: Instant) -> u64 {
        let v = if head { self.zxid } else { self.view(sid, now) };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return v;
        };
        s.seen = s.seen.max(v);
        let seen = s.seen;
        let (due, later): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.sid == sid && p.index <= seen);
        self.pending = later;
        for p in due {
            let _ = p.tx.send(WatchEvent::Node);
        }
        seen
    }

    /// Holds `tx` until `sid`'s view reaches change `index` (committed at `at`).
    fn defer(&mut self, sid: u64, index: u64, at: Instant, tx: oneshot::Sender<WatchEvent>) {
        let now = Instant::now();
        // (No runtime: a session dropped as its runtime shuts down; nothing will listen.)
        let (Some(l), Ok(rt)) = (self.lag_of(sid, now), tokio::runtime::Handle::try_current())
        else {
            let _ = tx.send(WatchEvent::Node);
            return;
        };
        self.pending.push(Pending { sid, index, tx });
        let due = (at + l.behind).min(l.until).max(now);
        let weak = self.me.clone();
        rt.spawn(async move {
            tokio::time::sleep_until(due).await;
            if let Some(shared) = weak.upgrade() {
                lock(&shared).advance(sid, false, Instant::now());
            }
        });
    }

    /// The tree changed at `path`: the change gets the request's index, and fires the
    /// watches `kind` on `path` (a lagging session's when its view reaches the change).
    fn fire(&mut self, kind: Kind, path: &str) {
        if !self.dirty {
            self.dirty = true;
            self.zxid += 1;
        }
        let now = Instant::now();
        if self.keeping(now) {
            self.touched.push((kind, path.to_string()));
        }
        let watchers = match kind {
            Kind::Node => &mut self.node_watches,
            Kind::Children => &mut self.child_watches,
        }
        .remove(path)
        .unwrap_or_default();
        for (sid, tx) in watchers {
            if self.lag_of(sid, now).is_some() {
                self.defer(sid, self.zxid, now, tx);
            } else {
                let _ = tx.send(WatchEvent::Node);
            }
        }
    }

    /// Ends the request being applied: its changes are committed, and kept while a
    /// follower lags.
    fn commit(&mut self, now: Instant) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let fired = std::mem::take(&mut self.touched);
        if self.keeping(now) {
            self.history.push(Committed {
                zxid: self.zxid,
                at: now,
                tree: Arc::new(self.nodes.clone()),
                fired,
            });
        } else {
            self.history.clear();
            self.lags.clear();
        }
    }

    /// A watch `kind` on `path` for `sid`, which read it at change `view`: one of the
    /// changes since (which its follower has yet to apply) fires it when the view reaches
    /// it.
    fn watch_at(
        &mut self,
        kind: Kind,
        sid: u64,
        path: &str,
        view: u64,
    ) -> oneshot::Receiver<WatchEvent> {
        let (tx, rx) = oneshot::channel();
        let missed = self
            .history
            .iter()
            .find(|c| c.zxid > view && c.fired.iter().any(|(k, p)| *k == kind && p == path))
            .map(|c| (c.zxid, c.at));
        if let (true, Some((index, at))) = (view < self.zxid, missed) {
            self.defer(sid, index, at, tx);
            return rx;
        }
        let watchers = match kind {
            Kind::Node => &mut self.node_watches,
            Kind::Children => &mut self.child_watches,
        };
        watchers
            .entry(path.to_string())
            .or_default()
            .push((sid, tx));
        rx
    }

    fn create(&mut self, sid: u64, path: &str, data: &[u8], mode: CreateMode) -> ZkResult<String> {
        valid(path)?;
        let parent = parent_of(path).ok_or(Error::BadArguments(&"no parent"))?;
        let p = self.nodes.get_mut(parent).ok_or(Error::NoNode)?;
        if p.owner.is_some() {
            return Err(Error::NoChildrenForEphemerals);
        }
        let (name, seq, owner) = match mode {
            CreateMode::Persistent => (path.to_string(), String::new(), None),
            CreateMode::EphemeralSequential => {
                let seq = format!("{:010}", p.next_seq);
                p.next_seq += 1;
                (format!("{path}{seq}"), seq, Some(sid))
            }
        };
        if self.nodes.contains_key(&name) {
            return Err(Error::NodeExists);
        }
        self.nodes
            .insert(name.clone(), Znode::new(data.to_vec(), owner));
        self.fire(Kind::Node, &name);
        self.fire(Kind::Children, parent);
        Ok(seq)
    }

    fn mkdir(&mut self, sid: u64, path: &str) -> ZkResult<()> {
        valid(path)?;
        if self.nodes.contains_key(path) {
            return Err(Error::NodeExists);
        }
        let mut at = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            if !self.nodes.contains_key(&at) {
                self.create(sid, &at, &[], CreateMode::Persistent)?;
            }
        }
        Ok(())
    }

    fn check_version(&self, path: &str, version: Option<i32>) -> ZkResult<&Znode> {
        let n = self.nodes.get(path).ok_or(Error::NoNode)?;
        match version {
            Some(v) if v != -1 && v != n.version => Err(Error::BadVersion),
            _ => Ok(n),
        }
    }

    fn set_data(&mut self, path: &str, data: &[u8], version: Option<i32>) -> ZkResult<()> {
        self.check_version(path, version)?;
        if let Some(n) = self.nodes.get_mut(path) {
            n.data = data.to_vec();
            n.version += 1;
        }
        self.fire(Kind::Node, path);
        Ok(())
    }

    fn delete(&mut self, path: &str, version: Option<i32>) -> ZkResult<()> {
        if path == "/" {
            return Err(Error::BadArguments(&"cannot delete /"));
        }
        self.check_version(path, version)?;
        if !self.children(path).is_empty() {
            return Err(Error::NotEmpty);
        }
        self.nodes.remove(path);
        self.fire(Kind::Node, path);
        if let Some(parent) = parent_of(path) {
            self.fire(Kind::Children, parent);
        }
        Ok(())
    }

    /// Applies all of `ops` or none: each is checked against the tree as the ones before
    /// it left it (on a copy), then all are applied.
    fn multi(&mut self, sid: u64, ops: &[MultiOp]) -> Result<(), MultiError> {
        let mut tree = self.nodes.clone();
        for (index, op) in ops.iter().enumerate() {
            dry_run(&mut tree, op).map_err(|source| MultiError::Operation { index, source })?;
        }
        for op in ops {
            match op {
                MultiOp::Check { .. } => Ok(()),
                MultiOp::SetData {
                    path,
                    data,
                    version,
                } => self.set_data(path, data, *version),
                MultiOp::Create { path, data } => self
                    .create(sid, path, data, CreateMode::Persistent)
                    .map(|_| ()),
                MultiOp::Delete { path, version } => self.delete(path, *version),
            }
            .map_err(MultiError::Request)?;
        }
        Ok(())
    }

    /// The server ends session `sid` (`Expired` or `Closed`): its ephemerals go, its
    /// watches fire with the session's end.
    fn end(&mut self, sid: u64, how: SessionState) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.ended.is_some() {
            return;
        }
        s.ended = Some(how);
        s.expire_at = None;
        tracing::debug!(session = sid, client = %s.client, ?how, "simulated ZooKeeper ends a session");
        let mine: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.owner == Some(sid))
            .map(|(p, _)| p.clone())
            .collect();
        for p in mine {
            let _ = self.delete(&p, None);
        }
        for watchers in [&mut self.child_watches, &mut self.node_watches] {
            for list in watchers.values_mut() {
                list.retain_mut(|(owner, _)| *owner != sid);
            }
        }
        self.pending.retain(|p| p.sid != sid);
        self.commit(Instant::now());
        // The dropped senders wake the session's watches, which then report its end
        // (once the client knows it).
    }

    /// The client of `sid` loses its connection; the server starts the expiry clock.
    fn disconnect(&mut self, shared: &Shared, sid: u64, now: Instant) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if !s.connected || s.ended.is_some() {
            return;
        }
        s.connected = false;
        s.conn += 1;
        s.state.send_replace(SessionState::Disconnected);
        let from = self.down_until.filter(|t| *t > now).unwrap_or(now);
        let deadline = from + s.timeout;
        s.expire_at = Some(deadline);
        spawn_expiry(shared, sid, deadline);
        spawn_reconnector(shared, sid);
    }

    /// The client of `sid` reaches the server again: connected, or told it expired.
    fn reconnect(&mut self, sid: u64) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        match s.ended {
            Some(how) => {
                s.state.send_replace(how);
                if s.abandoned {
                    self.sessions.remove(&sid);
                }
            }
            None => {
                s.connected = true;
                s.expire_at = None;
                s.state.send_replace(SessionState::SyncConnected);
            }
        }
    }
}

fn spawn_expiry(shared: &Shared, sid: u64, deadline: Instant) {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::time::sleep_until(deadline).await;
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let mut st = lock(&shared);
        let due = st
            .sessions
            .get(&sid)
            .is_some_and(|s| !s.connected && s.expire_at == Some(deadline));
        if due {
            st.end(sid, SessionState::Expired);
            if st.sessions.get(&sid).is_some_and(|s| s.abandoned) {
                st.sessions.remove(&sid);
            }
        }
    });
}

fn spawn_reconnector(shared: &Shared, sid: u64) {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(RECONNECT_PAUSE).await;
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let mut st = lock(&shared);
            let now = Instant::now();
            let Some(s) = st.sessions.get(&sid) else {
                return;
            };
            if s.connected || s.abandoned {
                return;
            }
            if st.reachable(s, now) {
                st.reconnect(sid);
                return;
            }
        }
    });
}

/// An in-memory ZooKeeper ensemble (see the module docs). Clones share it.
#[derive(Clone)]
pub struct Ensemble {
    name: String,
    state: Shared,
}

impl Ensemble {
    /// A new, empty ensemble registered under `name` (which must start with
    /// [`NAME_PREFIX`]; one already registered and alive gets a `-N` suffix: see
    /// [`Ensemble::name`]).
    pub fn new(name: &str) -> Ensemble {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Znode::new(Vec::new(), None));
        let state = Arc::new_cyclic(|me| {
            Mutex::new(State {
                nodes,
                sessions: BTreeMap::new(),
                next_session: 1,
                child_watches: BTreeMap::new(),
                node_watches: BTreeMap::new(),
                down_until: None,
                partitioned: BTreeSet::new(),
                slow: None,
                zxid: 0,
                dirty: false,
                lags: BTreeMap::new(),
                history: Vec::new(),
                touched: Vec::new(),
                pending: Vec::new(),
                me: me.clone(),
            })
        });
        let mut reg = lock(registry());
        reg.retain(|_, w| w.strong_count() > 0);
        let base = if name.starts_with(NAME_PREFIX) {
            name.to_string()
        } else {
            format!("{NAME_PREFIX}{name}")
        };
        let mut name = base.clone();
        let mut n = 1;
        while reg.contains_key(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        reg.insert(name.clone(), Arc::downgrade(&state));
        Ensemble { name, state }
    }

    /// Its registered name: the host to give clients (`<client>.<name>:2181`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A servers string for `client` (`<client>.<name>:2181`).
    pub fn servers(&self, client: &str) -> String {
        if client.is_empty() {
            format!("{}:2181", self.name)
        } else {
            format!("{client}.{}:2181", self.name)
        }
    }

    /// Opens a session for `client`, waiting while the ensemble is unreachable from it
    /// (callers bound the wait).
    pub async fn connect(&self, client: &str, timeout: Duration) -> ZkResult<ModelSession> {
        loop {
            let opened = {
                let mut st = lock(&self.state);
                let now = Instant::now();
                let up = st.down_until.is_none_or(|t| now >= t) && !st.partitioned.contains(client);
                let lag = st.lags.get(client).copied().filter(|l| now < l.until);
                up.then(|| {
                    let sid = st.next_session;
                    st.next_session += 1;
                    let (tx, _) = watch::channel(SessionState::SyncConnected);
                    st.sessions.insert(
                        sid,
                        Sess {
                            client: client.to_string(),
                            timeout,
                            state: tx,
                            conn: 0,
                            connected: true,
                            ended: None,
                            expire_at: None,
                            held_until: None,
                            cut_next: None,
                            abandoned: false,
                            applied_until: now,
                            lag,
                            seen: 0,
                        },
                    );
                    sid
                })
            };
            if let Some(sid) = opened {
                tokio::time::sleep(LATENCY).await;
                return Ok(ModelSession {
                    state: self.state.clone(),
                    sid,
                });
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }

    fn sessions_of(st: &State, client: &str) -> Vec<u64> {
        st.sessions
            .iter()
            .filter(|(_, s)| s.client == client && s.ended.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Disconnects `client`'s sessions for `outage`; returns how many.
    pub fn disconnect(&self, client: &str, outage: Duration) -> usize {
        let mut st = lock(&self.state);
        let now = Instant::now();
        let ids = Self::sessions_of(&st, client);
        for sid in &ids {
            if let Some(s) = st.sessions.get_mut(sid) {
                s.held_until = Some(now + outage);
            }
            st.disconnect(&self.state, *sid, now);
        }
        ids.len()
    }

    /// Drops `client`'s connection while its next request is in flight (the request is
    /// applied on the server; the client gets `ConnectionLoss`), keeping it down for
    /// `outage`: the case that wedged our detector once (it logged the reconnection and
    /// went on waiting). Returns how many sessions are armed.
    pub fn cut_next_request(&self, client: &str, outage: Duration) -> usize {
        let mut st = lock(&self.state);
        let ids = Self::sessions_of(&st, client);
        for sid in &ids {
            if let Some(s) = st.sessions.get_mut(sid) {
                s.cut_next = Some(outage);
            }
        }
        ids.len()
    }

    /// Makes the server expire `client`'s sessions: as a real server does only for a
    /// client it has not heard from for the session timeout (a long pause, a lost
    /// connection), the client is cut off until its sessions expire, then reconnects and
    /// learns it. Returns how many.
    pub fn expire(&self, client: &str) -> usize {
        let mut st = lock(&self.state);
        let now = Instant::now();
        let ids = Self::sessions_of(&st, client);
        for sid in &ids {
            if let Some(s) = st.sessions.get_mut(sid) {
                s.held_until = Some(now + s.timeout + RECONNECT_PAUSE);
            }
            st.disconnect(&self.state, *sid, now);
        }
        ids.len()
    }

    /// Cuts `client` off the ensemble until [`Ensemble::heal`]: its sessions disconnect
    /// (and expire if it lasts), its new sessions wait.
    pub fn partition(&self, client: &str) {
        let mut st = lock(&self.state);
        st.partitioned.insert(client.to_string());
        let now = Instant::now();
        for sid in Self::sessions_of(&st, client) {
            st.disconnect(&self.state, sid, now);
        }
    }

    /// Ends [`Ensemble::partition`] of `client`.
    pub fn heal(&self, client: &str) {
        lock(&self.state).partitioned.remove(client);
    }

    /// Ends every partition.
    pub fn heal_all(&self) {
        lock(&self.state).partitioned.clear();
    }

    /// Restarts the ensemble: down for `outage` (every session disconnected, new ones
    /// wait), then back with its data and sessions; a session expires if it stays
    /// disconnected for its timeout after the ensemble is back.
    pub fn restart(&self, outage: Duration) {
        let mut st = lock(&self.state);
        let now = Instant::now();
        st.down_until = Some(now + outage);
        let ids: Vec<u64> = st.sessions.keys().copied().collect();
        for sid in ids {
            let disconnected = st.sessions.get(&sid).is_some_and(|s| !s.connected);
            if disconnected {
                // Already out: its expiry clock starts again once the ensemble is back.
                if let Some(s) = st.sessions.get_mut(&sid) {
                    if s.ended.is_none() {
                        let deadline = now + outage + s.timeout;
                        s.expire_at = Some(deadline);
                        spawn_expiry(&self.state, sid, deadline);
                    }
                }
            } else {
                st.disconnect(&self.state, sid, now);
            }
        }
    }

    /// Makes the ensemble slow for `lasting` (its disk stalls, as a ZooKeeper whose
    /// transaction log shares a busy disk): each request sent meanwhile is applied `extra`
    /// later, in the order its session sent it, and answered then. One whose connection
    /// drops while it waits fails with `ConnectionLoss`, not applied.
    pub fn slow(&self, extra: Duration, lasting: Duration) {
        lock(&self.state).slow = Some((Instant::now() + lasting, extra));
    }

    /// A follower falls `behind` the leader for `lasting`, and the sessions `client` opens
    /// meanwhile reach it (a real client picks a server per connection, so one process's
    /// sessions may be on different servers). Their reads are answered from the follower's
    /// state: each change shows `behind` after it was committed, never older than what the
    /// session has seen (its own writes' results, its earlier reads), at once after a
    /// [`ZkSession::sync`]; their watches fire when the follower applies the change. Their
    /// writes go to the leader as ever. When it ends the follower has caught up.
    pub fn lag(&self, client: &str, behind: Duration, lasting: Duration) {
        let mut st = lock(&self.state);
        let now = Instant::now();
        if !st.keeping(now) {
            st.history.clear();
        }
        if st.history.last().map(|c| c.zxid) != Some(st.zxid) {
            let tree = Arc::new(st.nodes.clone());
            let zxid = st.zxid;
            st.history.push(Committed {
                zxid,
                at: now,
                tree,
                fired: Vec::new(),
            });
        }
        let until = now + lasting;
        st.lags.insert(
            client.to_string(),
            Lag {
                from: now,
                behind,
                until,
            },
        );
    }

    /// The data of `path`, if it exists (for checks).
    pub fn data(&self, path: &str) -> Option<Vec<u8>> {
        lock(&self.state).nodes.get(path).map(|n| n.data.clone())
    }

    /// The children of `path` (for checks).
    pub fn children(&self, path: &str) -> Vec<String> {
        lock(&self.state).children(path)
    }

    /// Sessions the server holds (alive, connected or not).
    pub fn live_sessions(&self) -> usize {
        lock(&self.state)
            .sessions
            .values()
            .filter(|s| s.ended.is_none())
            .count()
    }
}

/// A session on an [`Ensemble`]; dropping it closes the session (see the module docs).
pub struct ModelSession {
    state: Shared,
    sid: u64,
}

impl Drop for ModelSession {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        let Some(s) = st.sessions.get_mut(&self.sid) else {
            return;
        };
        s.abandoned = true;
        if s.connected {
            s.state.send_replace(SessionState::Closed);
            st.end(self.sid, SessionState::Closed);
            st.sessions.remove(&self.sid);
        } else if s.ended.is_some() {
            st.sessions.remove(&self.sid);
        }
        // Disconnected and alive: the close cannot reach the server; it expires.
    }
}

/// Runs `op` on the server once the session is connected; its reply is lost (connection
/// loss) if the connection drops while it travels back.
async fn request<T: Send + 'static>(
    shared: Shared,
    sid: u64,
    write: bool,
    op: impl FnOnce(&mut State, u64) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let mut op = Some(op);
    let mut states = {
        let st = lock(&shared);
        match st.sessions.get(&sid) {
            Some(s) => s.state.subscribe(),
            None => return Err(Error::ClientClosed),
        }
    };
    // The connection and instant it was sent on, once sent while the ensemble is slow.
    let mut queued: Option<(u64, Instant)> = None;
    loop {
        if let Some((conn, at)) = queued.take() {
            tokio::time::sleep_until(at).await;
            let same = lock(&shared)
                .sessions
                .get(&sid)
                .is_some_and(|s| s.connected && s.conn == conn);
            if !same {
                return Err(Error::ConnectionLoss);
            }
            // Applied now, below, whatever the ensemble's speed by now.
            queued = Some((conn, Instant::now()));
        }
        // Some((connection, reply)) once sent; None while disconnected.
        let sent = {
            let mut st = lock(&shared);
            let now = Instant::now();
            let delay = st.commit_delay(now);
            let Some(s) = st.sessions.get_mut(&sid) else {
                return Err(Error::ClientClosed);
            };
            match *s.state.borrow() {
                SessionState::Expired => return Err(Error::SessionExpired),
                SessionState::Closed => return Err(Error::ClientClosed),
                SessionState::AuthFailed => return Err(Error::AuthFailed),
                _ => {}
            }
            let due = if queued.take().is_some() {
                now
            } else if s.applied_until > now {
                // Behind a request still waiting: a tick after it (timers of one instant
                // wake in no promised order).
                (now + delay).max(s.applied_until + LATENCY)
            } else {
                now + delay
            };
            if s.connected && due > now {
                // Slow, or behind an earlier request of the session: wait to be applied.
                s.applied_until = due;
                queued = Some((s.conn, due));
                continue;
            }
            if s.connected {
                let conn = s.conn;
                let reply = op_once(&mut op, &mut st, sid);
                st.commit(now);
                if write {
                    st.advance(sid, true, now);
                }
                if let Some(outage) = st.sessions.get_mut(&sid).and_then(|s| s.cut_next.take()) {
                    if let Some(s) = st.sessions.get_mut(&sid) {
                        s.held_until = Some(now + outage);
                    }
                    st.disconnect(&shared, sid, now);
                }
                Some((conn, reply))
            } else {
                None
            }
        };
        if let Some((conn, r)) = sent {
            tokio::time::sleep(LATENCY).await;
            let same = lock(&shared)
                .sessions
                .get(&sid)
                .is_some_and(|s| s.connected && s.conn == conn);
            return if same { r } else { Err(Error::ConnectionLoss) };
        }
        if states.changed().await.is_err() {
            return Err(Error::ClientClosed);
        }
    }
}

fn op_once<T>(
    op: &mut Option<impl FnOnce(&mut State, u64) -> Result<T, Error>>,
    st: &mut State,
    sid: u64,
) -> Result<T, Error> {
    match op.take() {
        Some(f) => f(st, sid),
        None => Err(Error::ConnectionLoss),
    }
}

/// A watch's future: the event, once the client is connected to hear it (or knows the
/// session ended).
fn deliver(shared: &Shared, sid: u64, rx: oneshot::Receiver<WatchEvent>) -> Watch {
    let states = lock(shared).sessions.get(&sid).map(|s| s.state.subscribe());
    Box::pin(async move {
        let fired = rx.await.ok();
        let Some(mut states) = states else {
            return WatchEvent::Session(SessionState::Closed);
        };
        loop {
            let now = *states.borrow_and_update();
            match now {
                SessionState::Disconnected => {}
                SessionState::SyncConnected | SessionState::ConnectedReadOnly => {
                    if let Some(ev) = fired {
                        return ev;
                    }
                }
                terminal => return WatchEvent::Session(terminal),
            }
            if states.changed().await.is_err() {
                return WatchEvent::Session(SessionState::Closed);
            }
        }
    })
}

struct ModelStates(watch::Receiver<SessionState>);

impl StateStream for ModelStates {
    fn state(&mut self) -> SessionState {
        *self.0.borrow_and_update()
    }
    fn changed(&mut self) -> BoxFuture<'_, SessionState> {
        Box::pin(async move {
            match self.0.changed().await {
                Ok(()) => *self.0.borrow_and_update(),
                // The session is gone for good: like the real client, nothing more comes.
                Err(_) => std::future::pending().await,
            }
        })
    }
}

impl ZkSession for ModelSession {
    fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
    ) -> BoxFuture<'static, ZkResult<String>> {
        let (path, data) = (path.to_string(), data.to_vec());
        Box::pin(request(
            self.state.clone(),
            self.sid,
            true,
            move |st, sid| st.create(sid, &path, &data, mode),
        ))
    }
    fn mkdir(&self, path: &str) -> BoxFuture<'static, ZkResult<()>> {
        let path = path.to_string();
        Box::pin(request(
            self.state.clone(),
            self.sid,
            true,
            move |st, sid| st.mkdir(sid, &path),
        ))
    }
    fn get_data(&self, path: &str) -> BoxFuture<'static, ZkResult<(Vec<u8>, i32)>> {
        let path = path.to_string();
        Box::pin(request(
            self.state.clone(),
            self.sid,
            false,
            move |st, sid| {
                let view = st.advance(sid, false, Instant::now());
                st.tree_at(view)
                    .get(&path)
                    .map(|n| (n.data.clone(), n.version))
                    .ok_or(Error::NoNode)
            },
        ))
    }
    fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> BoxFuture<'static, ZkResult<()>> {
        let (path, data) = (path.to_string(), data.to_vec());
        Box::pin(request(self.state.clone(), self.sid, true, move |st, _| {
            st.set_data(&path, &data, version)
        }))
    }
    fn delete(&self, path: &str, version: Option<i32>) -> BoxFuture<'static, ZkResult<()>> {
        let path = path.to_string();
        Box::pin(request(self.state.clone(), self.sid, true, move |st, _| {
            st.delete(&path, version)
        }))
    }
    fn list_children(&self, path: &str) -> BoxFuture<'static, ZkResult<Vec<String>>> {
        let path = path.to_string();
        Box::pin(request(
            self.state.clone(),
            self.sid,
            false,
            move |st, sid| {
                let view = st.advance(sid, false, Instant::now());
                let tree = st.tree_at(view);
                tree.get(&path).ok_or(Error::NoNode)?;
                Ok(children_in(tree, &path))
            },
        ))
    }
    fn watch_children(&self, path: &str) -> BoxFuture<'static, ZkResult<(Vec<String>, Watch)>> {
        let path = path.to_string();
        let shared = self.state.clone();
        let sid = self.sid;
        Box::pin(async move {
            let (children, rx) = request(shared.clone(), sid, false, move |st, sid| {
                let view = st.advance(sid, false, Instant::now());
                let tree = st.tree_at(view);
                tree.get(&path).ok_or(Error::NoNode)?;
                let children = children_in(tree, &path);
                Ok((children, st.watch_at(Kind::Children, sid, &path, view)))
            })
            .await?;
            Ok((children, deliver(&shared, sid, rx)))
        })
    }
    fn watch_exists(&self, path: &str) -> BoxFuture<'static, ZkResult<(bool, Watch)>> {
        let path = path.to_string();
        let shared = self.state.clone();
        let sid = self.sid;
        Box::pin(async move {
            let (exists, rx) = request(shared.clone(), sid, false, move |st, sid| {
                let view = st.advance(sid, false, Instant::now());
                let exists = st.tree_at(view).contains_key(&path);
                Ok((exists, st.watch_at(Kind::Node, sid, &path, view)))
            })
            .await?;
            Ok((exists, deliver(&shared, sid, rx)))
        })
    }
    fn multi(&self, ops: Vec<MultiOp>) -> BoxFuture<'static, Result<(), MultiError>> {
        let shared = self.state.clone();
        let sid = self.sid;
        Box::pin(async move {
            match request(shared, sid, true, move |st, sid| Ok(st.multi(sid, &ops))).await {
                Ok(r) => r,
                Err(e) => Err(MultiError::Request(e)),
            }
        })
    }
    fn sync(&self, path: &str) -> BoxFuture<'static, ZkResult<()>> {
        let path = path.to_string();
        // Through the leader, as a write: the session's view reaches the head.
        Box::pin(request(self.state.clone(), self.sid, true, move |_, _| {
            valid(&path)
        }))
    }
    fn state(&self) -> SessionState {
        lock(&self.state)
            .sessions
            .get(&self.sid)
            .map(|s| *s.state.borrow())
            .unwrap_or(SessionState::Closed)
    }
    fn states(&self) -> Box<dyn StateStream> {
        let rx = lock(&self.state)
            .sessions
            .get(&self.sid)
            .map(|s| s.state.subscribe());
        match rx {
            Some(rx) => Box::new(ModelStates(rx)),
            None => Box::new(ModelStates(watch::channel(SessionState::Closed).1)),
        }
    }
}

#[cfg(test)]
mod tests;
