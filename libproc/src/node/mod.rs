//! The node: one per OS process (or several in a test), one listening address, many
//! processes. It owns the process registry, the outbound connection to each peer node, the
//! link table, the filters, and the accept loop that sniffs each inbound connection into
//! the actor protocol or HTTP.
//!
//! Split by direction: `config` (how it is set up), `outbound` (to peers), `inbound`
//! (from peers and HTTP clients), `links` (exit notification) and `stats`.

use crate::fxhash::{FxHashMap, FxHashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::filter::{Filters, Verdict};
use crate::http::{self, HttpRequest, HttpResponse};
use crate::limits::{Backoff, ByteBudget, Charge, LogLimiter};
use crate::message::{Envelope, Message, MessageName, Payload};
use crate::pid::{IdGenerator, Pid};
use crate::process::{HttpCall, Mailbox, Process, ProcessActor, ProcessRef};
use crate::transport::{BoxStream, TcpTransport, Transport};
use crate::wire;

mod config;
mod fault_endpoint;
mod inbound;
mod links;
mod outbound;
mod stats;

pub use config::{defaults, NodeConfig};
pub use stats::NodeStats;

/// How [`Node::link`] treats an existing connection to the linkee's node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// Use the existing connection if there is one.
    Reuse,
    /// Open a fresh connection and swap it in (libprocess `RECONNECT`).
    Reconnect,
}

/// Spawning failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// Another process on this node has the id.
    #[error("a process with id '{0}' already exists on this node")]
    DuplicateId(String),
    /// Ids cannot be empty or contain '@' or '/'.
    #[error("invalid process id '{0}': it must be non-empty and contain no '@' or '/'")]
    InvalidId(String),
}

#[repr(align(64))]
#[derive(Default)]
struct Padded(AtomicU64);

/// A registered process as the node sees it.
pub(crate) struct ProcessEntry {
    pub(crate) pid: Pid,
    /// Whether messages from other nodes may reach it ([`Process::REACH`]).
    reach: crate::process::Reach,
    mailbox: std::sync::OnceLock<Box<dyn Mailbox>>,
    terminating: AtomicBool,
    handled: Padded,
    sent: Padded,
}

impl ProcessEntry {
    fn mailbox(&self) -> Option<&dyn Mailbox> {
        self.mailbox.get().map(|b| b.as_ref())
    }
    pub(crate) fn is_terminating(&self) -> bool {
        self.terminating.load(Ordering::Relaxed)
    }
    /// Counts a send. Only the process itself sends as itself, from its own thread, so a
    /// plain load and store suffice (no locked read-modify-write on the message path);
    /// readers elsewhere see a value at most a few messages old.
    #[inline]
    pub(crate) fn count_sent(&self) {
        let c = &self.sent.0;
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
    /// Counts a handled message; single writer, like [`count_sent`](Self::count_sent).
    #[inline]
    pub(crate) fn count_handled(&self) {
        let c = &self.handled.0;
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
    fn depth(&self) -> u64 {
        let queued = self.mailbox().map_or(0, |m| m.messages());
        queued.saturating_sub(self.handled.0.load(Ordering::Relaxed))
    }
}

#[derive(Default)]
struct Counters {
    posted: AtomicU64,
    sent_by_gone: AtomicU64,
    received_by_gone: AtomicU64,
    unknown_process: AtomicU64,
    unknown_name: AtomicU64,
    undecodable: AtomicU64,
    unreachable: AtomicU64,
    frames_out: AtomicU64,
    frames_in: AtomicU64,
    bytes_out: AtomicU64,
    bytes_in: AtomicU64,
    conns_opened: AtomicU64,
    conns_closed: AtomicU64,
    malformed: AtomicU64,
    http: AtomicU64,
    queue_full: AtomicU64,
    overflows: AtomicU64,
    out_timeouts: AtomicU64,
    accept_errors: AtomicU64,
    refused: AtomicU64,
    in_timeouts: AtomicU64,
    over_budget: AtomicU64,
    local_only: AtomicU64,
    refused_per_peer: AtomicU64,
    forged_local: AtomicU64,
    refused_plaintext: AtomicU64,
    tls_failures: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

struct Peer {
    generation: u64,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes in `tx`'s queue, not yet taken by the writer.
    queued: Arc<AtomicUsize>,
    cancel: CancellationToken,
}

#[derive(Default)]
struct Links {
    /// linkee → its local linkers.
    by_linkee: FxHashMap<Pid, FxHashSet<Pid>>,
}

/// Shared state of a node; [`Node`] is a cheap handle on it.
pub struct NodeInner {
    addr: SocketAddr,
    anonymous: Pid,
    config: NodeConfig,
    ids: IdGenerator,
    processes: DashMap<Box<str>, Arc<ProcessEntry>, crate::fxhash::FxBuild>,
    peers: DashMap<SocketAddr, Peer>,
    inbound: DashMap<SocketAddr, Vec<CancellationToken>>,
    /// Ids of inbound connections, and which are open (see [`crate::connection`]).
    connections: crate::connection::OpenConnections,
    next_generation: AtomicU64,
    links: Mutex<Links>,
    delegate: Mutex<Option<String>>,
    /// Authenticators of guarded HTTP realms.
    realms: crate::http_auth::Realms,
    counters: Counters,
    /// Partial inbound frames of every connection together.
    inbound_budget: ByteBudget,
    /// Inbound connections open (any protocol).
    inbound_open: AtomicUsize,
    /// Inbound connections open per peer IP address.
    inbound_per_peer: DashMap<std::net::IpAddr, usize>,
    runtime: tokio::runtime::Handle,
    shutdown: CancellationToken,
    /// TLS for every connection, if enabled.
    tls: Option<Arc<crate::tls::Tls>>,
    /// Live fault rules (`/fault/rules`).
    fault: Arc<crate::fault::Injector>,
}

/// A node: the handle every API call goes through. Clone freely.
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.inner.addr)
    }
}

impl Node {
    /// Binds the listener and starts serving. Must run inside a tokio runtime (an actix
    /// `System`, an `Arbiter`, or a test's current-thread runtime with a `LocalSet`); the
    /// node's connection tasks run on that runtime.
    pub async fn bind(config: NodeConfig) -> io::Result<Node> {
        // Certificate problems fail start-up, before anything listens.
        let tls = config.tls.resolve()?;
        let mut listener = config.transport.listen(config.bind).await?;
        let bound = listener.local_addr();
        let addr = config.advertise.unwrap_or_else(|| {
            // Advertise something reachable: 0.0.0.0 becomes loopback.
            if bound.ip().is_unspecified() {
                SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), bound.port())
            } else {
                bound
            }
        });
        let budget = config.max_inbound_buffered_bytes;
        let fault = crate::fault::Injector::new(config.fault_injection);
        let inner = Arc::new(NodeInner {
            addr,
            anonymous: Pid::new("anonymous", addr),
            config,
            ids: IdGenerator::default(),
            processes: DashMap::default(),
            peers: DashMap::new(),
            inbound: DashMap::new(),
            connections: Default::default(),
            next_generation: AtomicU64::new(1),
            links: Mutex::new(Links::default()),
            delegate: Mutex::new(None),
            realms: Default::default(),
            counters: Counters::default(),
            inbound_budget: ByteBudget::new(budget),
            inbound_open: AtomicUsize::new(0),
            inbound_per_peer: DashMap::new(),
            runtime: tokio::runtime::Handle::current(),
            shutdown: CancellationToken::new(),
            tls,
            fault,
        });
        crate::metrics::registry();
        let weak = Arc::downgrade(&inner);
        let stop = inner.shutdown.clone();
        inner.runtime.spawn(async move {
            // An accept error (EMFILE, ENFILE, ENOBUFS...) leaves the pending connection
            // in the backlog, so retrying at once would spin: back off, and log rarely.
            let mut backoff = Backoff::new(
                defaults::ACCEPT_BACKOFF_FIRST,
                defaults::ACCEPT_BACKOFF_MAX,
            );
            let mut log = LogLimiter::new(Duration::from_secs(5));
            loop {
                let accepted = tokio::select! {
                    biased;
                    _ = stop.cancelled() => break,
                    a = listener.accept() => a,
                };
                let Some(node) = weak.upgrade() else { break };
                match accepted {
                    Ok((stream, peer)) => {
                        backoff.succeeded();
                        let slot = match node.admit(peer.ip()) {
                            Ok(slot) => slot,
                            Err(inbound::Refusal::Full) => {
                                inc(&node.counters.refused);
                                tracing::debug!(%peer, "too many inbound connections; closing");
                                continue;
                            }
                            Err(inbound::Refusal::PeerFull) => {
                                inc(&node.counters.refused_per_peer);
                                tracing::debug!(%peer, "too many inbound connections from this peer; closing");
                                continue;
                            }
                        };
                        let n = node.clone();
                        node.runtime
                            .spawn(async move { n.sniff(stream, peer, slot).await });
                    }
                    Err(e) => {
                        inc(&node.counters.accept_errors);
                        let pause = backoff.failed();
                        if let Some(suppressed) = log.allow(tokio::time::Instant::now()) {
                            tracing::warn!(error = %e, ?pause, suppressed, "accept failed; backing off");
                        }
                        drop(node);
                        tokio::select! {
                            biased;
                            _ = stop.cancelled() => break,
                            _ = tokio::time::sleep(pause) => {}
                        }
                    }
                }
            }
        });
        tracing::debug!(%addr, "node listening");
        Ok(Node { inner })
    }

    pub(crate) fn inner(&self) -> &Arc<NodeInner> {
        &self.inner
    }

    /// The node's TLS, if enabled: HTTP clients of other nodes connect with it.
    pub fn tls(&self) -> Option<&Arc<crate::tls::Tls>> {
        self.inner.tls.as_ref()
    }

    /// The address peers reach this node at.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The PID a process with this id has (or would have) here.
    pub fn pid(&self, id: &str) -> Pid {
        Pid::new(id, self.inner.addr)
    }

    /// A fresh id unique on this node: `generate_id("slave")` → `slave(1)`, `slave(2)`, …
    pub fn generate_id(&self, prefix: &str) -> String {
        self.inner.ids.generate(prefix)
    }

    /// The filter set consulted on every delivery to this node's processes.
    pub fn filters(&self) -> &Filters {
        &self.inner.config.filters
    }

    /// The live fault rules of this node (what `/fault/rules` edits).
    pub fn faults(&self) -> &crate::fault::Injector {
        &self.inner.fault
    }

    /// Spawns a process under `id` on the current arbiter (or the test's `LocalSet`).
    pub fn spawn<P: Process>(&self, id: &str, process: P) -> Result<ProcessRef<P>, SpawnError> {
        self.spawn_with(id, move |entry, events| {
            let node = self.clone();
            actix::Actor::create(move |_| ProcessActor::new(process, node, entry, events))
        })
    }

    /// Spawns a process on another arbiter (its own thread), as a binary does with a
    /// CPU-heavy process such as the allocator. `make` runs on that arbiter.
    pub fn spawn_on<P: Process>(
        &self,
        arbiter: &actix::ArbiterHandle,
        id: &str,
        make: impl FnOnce() -> P + Send + 'static,
    ) -> Result<ProcessRef<P>, SpawnError> {
        self.spawn_with(id, move |entry, events| {
            let node = self.clone();
            <ProcessActor<P> as actix::Actor>::start_in_arbiter(arbiter, move |_| {
                ProcessActor::new(make(), node, entry, events)
            })
        })
    }

    fn spawn_with<P: Process>(
        &self,
        id: &str,
        start: impl FnOnce(
            Arc<ProcessEntry>,
            Arc<crate::process::Queue<P>>,
        ) -> actix::Addr<ProcessActor<P>>,
    ) -> Result<ProcessRef<P>, SpawnError> {
        if id.is_empty() || id.contains('@') || id.contains('/') {
            return Err(SpawnError::InvalidId(id.to_string()));
        }
        let pid = Pid::new(id, self.inner.addr);
        // Hold the id's registry slot while the actor starts: nothing can be delivered to
        // it (nor can another spawn take the id) until its mailbox is in place.
        let slot = match self.inner.processes.entry(id.into()) {
            dashmap::Entry::Occupied(_) => return Err(SpawnError::DuplicateId(id.to_string())),
            dashmap::Entry::Vacant(v) => v,
        };
        let entry = Arc::new(ProcessEntry {
            pid: pid.clone(),
            reach: P::REACH,
            mailbox: std::sync::OnceLock::new(),
            terminating: AtomicBool::new(false),
            handled: Padded::default(),
            sent: Padded::default(),
        });
        let events = crate::process::Queue::new();
        let addr = start(entry.clone(), events.clone());
        let _ = entry.mailbox.set(Box::new(crate::process::ChannelMailbox {
            events: events.clone(),
            addr: addr.clone(),
        }));
        pid.cache_route(&entry);
        slot.insert(entry);
        Ok(ProcessRef::new(pid, addr, events))
    }

    /// Sends `msg` from `from` (which should be a process on this node) to `to`.
    pub fn send<M: Message>(&self, from: &Pid, to: &Pid, msg: M) {
        inc(&self.inner.counters.posted);
        self.inner.send_message(from, to, msg);
    }

    /// Sends `msg` to `to` from no process (libprocess `post`); the sender PID is
    /// `anonymous@<this node>`, and replies to it are dropped.
    pub fn post<M: Message>(&self, to: &Pid, msg: M) {
        inc(&self.inner.counters.posted);
        let from = self.inner.anonymous.clone();
        self.inner.send_message(&from, to, msg);
    }

    /// Links `linker` (a process here) to `linkee` (anywhere).
    pub fn link(&self, linker: &Pid, linkee: &Pid, mode: LinkMode) {
        self.inner.link(linker, linkee, mode);
    }

    /// Removes a link.
    pub fn unlink(&self, linker: &Pid, linkee: &Pid) {
        let mut links = self.inner.lock_links();
        if let Some(set) = links.by_linkee.get_mut(linkee) {
            set.remove(linker);
            if set.is_empty() {
                links.by_linkee.remove(linkee);
            }
        }
    }

    /// Asks a local process to stop. It handles nothing queued after this call; its
    /// linkers get `exited`. Returns false if no such process is here.
    pub fn terminate(&self, pid: &Pid) -> bool {
        if pid.addr() != self.inner.addr {
            return false;
        }
        match self.inner.entry(pid.id()) {
            Some(e) => {
                e.terminating.store(true, Ordering::SeqCst);
                if let Some(m) = e.mailbox() {
                    m.terminate();
                }
                true
            }
            None => false,
        }
    }

    /// Resolves once the inbound connection `id` has closed (at once if it is closed
    /// already, or was an HTTP post). See [`crate::connection`].
    pub fn connection_closed(
        &self,
        id: crate::connection::ConnectionId,
    ) -> impl std::future::Future<Output = ()> + 'static {
        self.inner.connections.closed(id)
    }

    /// Cuts this node off from the node at `peer`: closes the outbound connection (linkers
    /// of processes there get `exited`) and every inbound connection from it. The next send
    /// reconnects.
    pub fn sever(&self, peer: SocketAddr) {
        if let Some(p) = self.inner.peers.get(&peer) {
            p.cancel.cancel();
        }
        if let Some((_, tokens)) = self.inner.inbound.remove(&peer) {
            for t in tokens {
                t.cancel();
            }
        }
    }

    /// Makes the process `id` the owner of top-level HTTP paths (the master owns `/state`).
    pub fn set_delegate(&self, id: &str) {
        *self
            .inner
            .delegate
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(id.to_string());
    }

    /// Guards the HTTP routes of `realm` with `authenticator` (`None`: opens them again).
    /// See [`crate::http_auth`].
    pub fn set_http_authenticator(
        &self,
        realm: &str,
        authenticator: Option<Arc<dyn crate::http_auth::HttpAuthenticator>>,
    ) {
        self.inner.realms.set(realm, authenticator);
    }

    /// Sets the authorizer every HTTP request passes after authentication (see
    /// [`crate::http_auth`]), unless a component of the node set one already.
    pub fn set_http_authorizer(&self, authorizer: Arc<dyn crate::http_auth::HttpAuthorizer>) {
        self.inner.realms.set_authorizer(authorizer);
    }

    /// Puts the node's own read-only endpoints (`/metrics/snapshot`, `/metrics`,
    /// `/__processes__`) in realm `readonly` and `/logging/toggle` in `readwrite`, unless
    /// a component of the node named their realms already.
    pub fn protect_builtins(&self, readonly: &str, readwrite: &str) {
        self.inner.realms.protect_builtins(readonly, readwrite);
    }

    /// The PIDs of the processes on this node.
    pub fn processes(&self) -> Vec<Pid> {
        self.inner
            .processes
            .iter()
            .map(|e| e.value().pid.clone())
            .collect()
    }

    /// Pauses the processes of this node that `which` picks for `d` of the runtime's time
    /// (virtual under a paused clock), each in its turn among its events: meanwhile it
    /// handles nothing, its timers and the futures it spawned wait too, and what reaches it
    /// queues. Its connections stay open, as with a stopped OS process (SIGSTOP, a long GC
    /// pause) whose peers see nothing wrong until it answers late. The simulation's
    /// stand-in for stopping a program; the live `stall` rule blocks the thread instead.
    pub fn pause(&self, d: Duration, which: impl Fn(&Pid) -> bool) {
        let mut entries: Vec<Arc<ProcessEntry>> = self
            .inner
            .processes
            .iter()
            .map(|e| e.value().clone())
            .filter(|e| which(&e.pid))
            .collect();
        // In a fixed order, so a seeded run wakes them the same way every time.
        entries.sort_by(|a, b| a.pid.id().cmp(b.pid.id()));
        for e in entries {
            if let Some(m) = e.mailbox() {
                m.pause(d);
            }
        }
    }

    /// Messages waiting in the mailbox of process `id` (None: no such process).
    pub fn mailbox_depth(&self, id: &str) -> Option<u64> {
        self.inner.processes.get(id).map(|e| e.value().depth())
    }

    /// This node's counters.
    pub fn stats(&self) -> NodeStats {
        self.inner.stats()
    }

    /// Yields until every local mailbox is empty: the paused-clock equivalent of libprocess
    /// `Clock::settle`. A test hook.
    ///
    /// # Panics
    ///
    /// If the mailboxes are still busy after 10 000 rounds (a process that keeps sending
    /// itself messages never settles): an "absent" assertion after a settle that gave up
    /// would prove nothing, so giving up fails the test loudly, naming the busy processes.
    pub async fn settle(&self) {
        self.settle_within(10_000).await
    }

    /// [`settle`](Node::settle) with a bound of `rounds` instead of 10 000.
    ///
    /// # Panics
    ///
    /// If the mailboxes are still busy after `rounds` rounds.
    pub async fn settle_within(&self, rounds: usize) {
        for _ in 0..rounds {
            tokio::task::yield_now().await;
            let busy = self.inner.processes.iter().any(|e| e.value().depth() > 0);
            if !busy {
                // A few more turns for anything those handlers started.
                for _ in 0..16 {
                    tokio::task::yield_now().await;
                }
                if !self.inner.processes.iter().any(|e| e.value().depth() > 0) {
                    return;
                }
            }
        }
        let busy: Vec<String> = self
            .inner
            .processes
            .iter()
            .filter(|e| e.value().depth() > 0)
            .map(|e| format!("{} ({} queued)", e.value().pid, e.value().depth()))
            .collect();
        panic!(
            "Node::settle gave up after {rounds} rounds: mailboxes still busy: {}",
            busy.join(", ")
        );
    }

    /// Stops the node: closes the listener and every connection and terminates every
    /// process (as if the OS process died, but in-process).
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
        for e in self.inner.processes.iter() {
            e.value().terminating.store(true, Ordering::SeqCst);
            if let Some(m) = e.value().mailbox() {
                m.terminate();
            }
        }
        let peers: Vec<SocketAddr> = self.inner.peers.iter().map(|p| *p.key()).collect();
        for p in peers {
            self.sever(p);
        }
    }
}

impl NodeInner {
    fn lock_links(&self) -> std::sync::MutexGuard<'_, Links> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry(&self, id: &str) -> Option<Arc<ProcessEntry>> {
        self.processes.get(id).map(|e| e.value().clone())
    }

    /// Authenticates `request` for a route of `realm` and authorizes it (see
    /// [`crate::http_auth`]); sets its principal.
    pub(crate) fn admit_http(
        &self,
        realm: Option<&str>,
        request: &mut HttpRequest,
    ) -> Result<(), HttpResponse> {
        self.realms.admit(realm, request)
    }

    pub(crate) fn max_http_body(&self) -> usize {
        self.config.max_http_body_bytes
    }

    pub(crate) fn max_http_headers(&self) -> usize {
        self.config.max_http_headers
    }

    pub(crate) fn inbound_timeout(&self) -> Duration {
        self.config.inbound_timeout
    }

    pub(crate) fn inbound_budget(&self) -> &ByteBudget {
        &self.inbound_budget
    }

    pub(crate) fn count_inbound_timeout(&self) {
        inc(&self.counters.in_timeouts);
    }

    pub(crate) fn count_over_budget(&self) {
        inc(&self.counters.over_budget);
    }

    pub(crate) fn count_undecodable(&self) {
        inc(&self.counters.undecodable);
    }

    pub(crate) fn count_unknown_name(&self) {
        inc(&self.counters.unknown_name);
    }

    /// Delivers through the filters.
    pub(crate) fn deliver(self: &Arc<Self>, env: Envelope) {
        let env = if self.config.filters.active() {
            match self.config.filters.check(env, self) {
                Verdict::Pass(e) => e,
                Verdict::Taken => return,
            }
        } else {
            env
        };
        if self.fault.active() {
            self.deliver_with_faults(env);
        } else {
            self.deliver_unfiltered(env);
        }
    }

    /// Delivers past the filters.
    pub(crate) fn deliver_unfiltered(&self, env: Envelope) {
        match self.route(&env.to) {
            Some(e) => Self::enqueue(&e, env),
            None => {
                inc(&self.counters.unknown_process);
                tracing::debug!(to = %env.to, name = %env.name, "dropped message to unknown process");
            }
        }
    }

    #[inline]
    fn enqueue(e: &ProcessEntry, env: Envelope) {
        if let Some(m) = e.mailbox() {
            m.deliver(env);
        }
    }

    /// The live local process a PID names: from the PID's cached route, else the registry
    /// (caching the answer in the PID).
    #[inline]
    fn route(&self, to: &Pid) -> Option<Arc<ProcessEntry>> {
        if let Some(e) = to.cached_route() {
            return Some(e);
        }
        let e = self.processes.get(to.id()).map(|e| e.value().clone())?;
        to.cache_route(&e);
        Some(e)
    }
}
