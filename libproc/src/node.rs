//! The node: one per OS process (or several in a test), one listening address, many
//! processes. It owns the process registry, the outbound connection to each peer node, the
//! link table, the filters, and the accept loop that sniffs each inbound connection into
//! the actor protocol or HTTP.

use std::collections::{HashMap, HashSet};
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

/// How a node is set up.
#[derive(Clone)]
pub struct NodeConfig {
    /// Address to listen on (port 0 picks a free port).
    pub bind: SocketAddr,
    /// Address other nodes should use to reach this one, if not the bound address
    /// (libprocess `LIBPROCESS_ADVERTISE_IP/PORT`).
    pub advertise: Option<SocketAddr>,
    /// Where streams come from.
    pub transport: Arc<dyn Transport>,
    /// The filter set consulted on every delivery (share one between test nodes).
    pub filters: Filters,
    /// Largest frame accepted from a peer; a larger one closes that connection.
    pub max_frame_bytes: usize,
    /// Largest HTTP request body accepted.
    pub max_http_body_bytes: usize,
    /// How long opening a connection to a peer may take; then the peer counts as
    /// unreachable (queued messages dropped, linkers get `exited`).
    pub connect_timeout: Duration,
    /// How long one write to a peer may stall (a peer that stopped reading, a dead host);
    /// then the connection is broken and linkers get `exited`.
    pub write_timeout: Duration,
    /// Bytes that may wait in one peer's outbound queue. A send that would exceed it
    /// breaks that connection: the message and everything queued are dropped (counted) and
    /// linkers get `exited`; the next send reconnects.
    pub max_outbound_queue_bytes: usize,
    /// Inbound connections (actor protocol and HTTP) open at once; more are closed as
    /// soon as they are accepted (counted as `connections_refused`).
    pub max_inbound_connections: usize,
    /// How long an inbound connection may take to finish what it started: the 4-byte
    /// protocol sniff and the handshake, a frame once its first byte arrived, HTTP request
    /// headers (also the idle time between HTTP requests) and an HTTP request body.
    pub inbound_timeout: Duration,
    /// Bytes all inbound connections together may hold in partial frames and HTTP request
    /// bodies being received. A connection whose bytes do not fit is closed (HTTP: `503`),
    /// counted as `connections_over_budget`.
    pub max_inbound_buffered_bytes: usize,
}

/// Defaults of the transport's limits (see `RUNTIME.md`).
pub mod defaults {
    use std::time::Duration;
    /// [`NodeConfig::connect_timeout`](super::NodeConfig::connect_timeout).
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// [`NodeConfig::write_timeout`](super::NodeConfig::write_timeout).
    pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
    /// [`NodeConfig::max_outbound_queue_bytes`](super::NodeConfig::max_outbound_queue_bytes).
    pub const MAX_OUTBOUND_QUEUE_BYTES: usize = 64 * 1024 * 1024;
    /// [`NodeConfig::max_inbound_connections`](super::NodeConfig::max_inbound_connections).
    pub const MAX_INBOUND_CONNECTIONS: usize = 8192;
    /// [`NodeConfig::inbound_timeout`](super::NodeConfig::inbound_timeout).
    pub const INBOUND_TIMEOUT: Duration = Duration::from_secs(30);
    /// [`NodeConfig::max_inbound_buffered_bytes`](super::NodeConfig::max_inbound_buffered_bytes).
    pub const MAX_INBOUND_BUFFERED_BYTES: usize = 64 * 1024 * 1024;
    /// First pause of the accept loop after an accept error (doubling up to the max).
    pub const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
    /// Longest pause of the accept loop after accept errors.
    pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
}

impl NodeConfig {
    /// Listens on `bind` over TCP with default limits.
    pub fn new(bind: SocketAddr) -> NodeConfig {
        NodeConfig {
            bind,
            advertise: None,
            transport: Arc::new(TcpTransport::default()),
            filters: Filters::new(),
            max_frame_bytes: wire::DEFAULT_MAX_FRAME,
            max_http_body_bytes: wire::DEFAULT_MAX_FRAME,
            connect_timeout: defaults::CONNECT_TIMEOUT,
            write_timeout: defaults::WRITE_TIMEOUT,
            max_outbound_queue_bytes: defaults::MAX_OUTBOUND_QUEUE_BYTES,
            max_inbound_connections: defaults::MAX_INBOUND_CONNECTIONS,
            inbound_timeout: defaults::INBOUND_TIMEOUT,
            max_inbound_buffered_bytes: defaults::MAX_INBOUND_BUFFERED_BYTES,
        }
    }

    /// A node on `127.0.0.1` with a free port.
    pub fn local() -> NodeConfig {
        NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Uses another transport (e.g. a [`MemNetwork`](crate::MemNetwork)).
    pub fn transport(mut self, t: impl Transport) -> NodeConfig {
        self.transport = Arc::new(t);
        self
    }

    /// Uses this filter set.
    pub fn filters(mut self, f: Filters) -> NodeConfig {
        self.filters = f;
        self
    }

    /// Sets the frame size limit.
    pub fn max_frame_bytes(mut self, n: usize) -> NodeConfig {
        self.max_frame_bytes = n;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, d: Duration) -> NodeConfig {
        self.connect_timeout = d;
        self
    }

    /// Sets [`write_timeout`](Self::write_timeout).
    pub fn write_timeout(mut self, d: Duration) -> NodeConfig {
        self.write_timeout = d;
        self
    }

    /// Sets [`max_outbound_queue_bytes`](Self::max_outbound_queue_bytes).
    pub fn max_outbound_queue_bytes(mut self, n: usize) -> NodeConfig {
        self.max_outbound_queue_bytes = n;
        self
    }

    /// Sets [`max_inbound_connections`](Self::max_inbound_connections).
    pub fn max_inbound_connections(mut self, n: usize) -> NodeConfig {
        self.max_inbound_connections = n;
        self
    }

    /// Sets [`inbound_timeout`](Self::inbound_timeout).
    pub fn inbound_timeout(mut self, d: Duration) -> NodeConfig {
        self.inbound_timeout = d;
        self
    }

    /// Sets [`max_inbound_buffered_bytes`](Self::max_inbound_buffered_bytes).
    pub fn max_inbound_buffered_bytes(mut self, n: usize) -> NodeConfig {
        self.max_inbound_buffered_bytes = n;
        self
    }
}

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

/// Counters of one node (see [`Node::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Messages sent by this node's processes (local and remote) and by `post`.
    pub messages_sent: u64,
    /// Messages handed to a process's handler table.
    pub messages_received: u64,
    /// Messages to a process id that does not exist here.
    pub dropped_unknown_process: u64,
    /// Messages whose name the target process has no handler for.
    pub dropped_unknown_name: u64,
    /// Messages whose body did not decode as the handler's type.
    pub dropped_undecodable: u64,
    /// Messages queued for a peer whose connection failed or broke.
    pub dropped_unreachable: u64,
    /// Frames written to peers.
    pub frames_out: u64,
    /// Frames read from peers.
    pub frames_in: u64,
    /// Bytes written to peers (frames and handshakes).
    pub bytes_out: u64,
    /// Bytes read from peers.
    pub bytes_in: u64,
    /// Actor-protocol connections opened (both directions).
    pub connections_opened: u64,
    /// Actor-protocol connections closed.
    pub connections_closed: u64,
    /// Connections closed for a malformed or oversized frame or handshake.
    pub connections_malformed: u64,
    /// HTTP requests served.
    pub http_requests: u64,
    /// Messages dropped because their peer's outbound queue was full.
    pub dropped_queue_full: u64,
    /// Outbound connections broken because their queue overflowed.
    pub outbound_overflows: u64,
    /// Outbound connections that timed out connecting or writing.
    pub outbound_timeouts: u64,
    /// Bytes waiting in outbound queues now (all peers).
    pub outbound_queued_bytes: u64,
    /// Failed `accept` calls (e.g. out of file descriptors).
    pub accept_errors: u64,
    /// Inbound connections closed at once because `max_inbound_connections` were open.
    pub connections_refused: u64,
    /// Inbound connections closed for not finishing a sniff, handshake, frame or HTTP
    /// request body within `inbound_timeout` (hyper closes slow HTTP heads uncounted).
    pub connections_timed_out: u64,
    /// Inbound connections closed because their partial frame did not fit the budget.
    pub connections_over_budget: u64,
    /// Inbound connections open now (actor protocol, HTTP, not yet sniffed).
    pub inbound_connections: u64,
    /// Bytes of partial frames held by inbound connections now.
    pub inbound_buffered_bytes: u64,
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
    by_linkee: HashMap<Pid, HashSet<Pid>>,
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
    next_generation: AtomicU64,
    links: Mutex<Links>,
    delegate: Mutex<Option<String>>,
    counters: Counters,
    /// Partial inbound frames of every connection together.
    inbound_budget: ByteBudget,
    /// Inbound connections open (any protocol).
    inbound_open: AtomicUsize,
    runtime: tokio::runtime::Handle,
    shutdown: CancellationToken,
}

/// An accepted connection's place under `max_inbound_connections`; freed when dropped.
struct InboundSlot(Arc<NodeInner>);

impl Drop for InboundSlot {
    fn drop(&mut self) {
        self.0.inbound_open.fetch_sub(1, Ordering::AcqRel);
    }
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
        let inner = Arc::new(NodeInner {
            addr,
            anonymous: Pid::new("anonymous", addr),
            config,
            ids: IdGenerator::default(),
            processes: DashMap::default(),
            peers: DashMap::new(),
            inbound: DashMap::new(),
            next_generation: AtomicU64::new(1),
            links: Mutex::new(Links::default()),
            delegate: Mutex::new(None),
            counters: Counters::default(),
            inbound_budget: ByteBudget::new(budget),
            inbound_open: AtomicUsize::new(0),
            runtime: tokio::runtime::Handle::current(),
            shutdown: CancellationToken::new(),
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
                    _ = stop.cancelled() => break,
                    a = listener.accept() => a,
                };
                let Some(node) = weak.upgrade() else { break };
                match accepted {
                    Ok((stream, peer)) => {
                        backoff.succeeded();
                        let Some(slot) = node.admit() else {
                            inc(&node.counters.refused);
                            tracing::debug!(%peer, "too many inbound connections; closing");
                            drop(stream);
                            continue;
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

    /// The PIDs of the processes on this node.
    pub fn processes(&self) -> Vec<Pid> {
        self.inner
            .processes
            .iter()
            .map(|e| e.value().pid.clone())
            .collect()
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

    pub(crate) fn max_http_body(&self) -> usize {
        self.config.max_http_body_bytes
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

    /// Routes one message: locally without encoding, remotely as a frame.
    pub(crate) fn send_message<M: Message>(self: &Arc<Self>, from: &Pid, to: &Pid, msg: M) {
        if to.addr() == self.addr {
            self.deliver(Envelope {
                from: from.clone(),
                to: to.clone(),
                name: MessageName::Static(M::NAME),
                payload: Payload::local(msg),
            });
            return;
        }
        match wire::encode_frame_vec(from.as_str(), to.id(), M::NAME, |buf| {
            rmp_serde::encode::write_named(buf, &msg)
        }) {
            Ok(frame) => self.send_frame(to.addr(), frame),
            Err(e) => {
                inc(&self.counters.undecodable);
                tracing::warn!(name = M::NAME, %to, error = %e, "could not encode message; dropped");
            }
        }
    }

    fn send_frame(self: &Arc<Self>, addr: SocketAddr, frame: Vec<u8>) {
        // Usually the connection exists: send under the map's read guard (no sender clone).
        let frame = match self.peers.get(&addr) {
            Some(p) => {
                self.queue_frame(addr, &p, frame);
                return;
            }
            None => frame,
        };
        self.peer(addr, false);
        match self.peers.get(&addr) {
            Some(p) => self.queue_frame(addr, &p, frame),
            None => inc(&self.counters.unreachable),
        }
    }

    /// Queues a frame on a peer's connection, within `max_outbound_queue_bytes`: a frame
    /// that does not fit breaks the connection (see `RUNTIME.md`).
    fn queue_frame(&self, addr: SocketAddr, p: &Peer, frame: Vec<u8>) {
        let len = frame.len();
        let before = p.queued.fetch_add(len, Ordering::AcqRel);
        // One frame always fits an empty queue (frames are bounded by the frame limit).
        if before > 0 && before.saturating_add(len) > self.config.max_outbound_queue_bytes {
            p.queued.fetch_sub(len, Ordering::AcqRel);
            inc(&self.counters.queue_full);
            if !p.cancel.is_cancelled() {
                inc(&self.counters.overflows);
                tracing::warn!(peer = %addr, queued = before, max = self.config.max_outbound_queue_bytes,
                    "outbound queue full; breaking the connection");
                p.cancel.cancel();
            }
            return;
        }
        if p.tx.send(frame).is_err() {
            p.queued.fetch_sub(len, Ordering::AcqRel);
            inc(&self.counters.unreachable);
        }
    }

    /// Makes sure an outbound connection to `addr` exists, opening one if needed (or a
    /// fresh one replacing the current if `fresh`).
    fn peer(self: &Arc<Self>, addr: SocketAddr, fresh: bool) {
        if !fresh && self.peers.contains_key(&addr) {
            return;
        }
        match self.peers.entry(addr) {
            dashmap::Entry::Occupied(_) if !fresh => {}
            e => {
                let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = mpsc::unbounded_channel();
                let cancel = self.shutdown.child_token();
                let queued = Arc::new(AtomicUsize::new(0));
                let peer = Peer {
                    generation,
                    tx,
                    queued: queued.clone(),
                    cancel: cancel.clone(),
                };
                match e {
                    dashmap::Entry::Occupied(mut o) => {
                        // Swapped out: the old connection drains, then ends without exited.
                        o.insert(peer);
                    }
                    dashmap::Entry::Vacant(v) => {
                        v.insert(peer);
                    }
                }
                let node = self.clone();
                self.runtime.spawn(async move {
                    node.run_outbound(addr, generation, rx, queued, cancel)
                        .await
                });
            }
        }
    }

    /// Writes `bytes` within the write timeout (a stalled write breaks the connection).
    async fn write_bounded<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        wr: &mut W,
        bytes: &[u8],
    ) -> io::Result<()> {
        match tokio::time::timeout(self.config.write_timeout, wr.write_all(bytes)).await {
            Ok(r) => r,
            Err(_) => {
                inc(&self.counters.out_timeouts);
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("write stalled for {:?}", self.config.write_timeout),
                ))
            }
        }
    }

    async fn run_outbound(
        self: Arc<Self>,
        addr: SocketAddr,
        generation: u64,
        mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
        queued: Arc<AtomicUsize>,
        cancel: CancellationToken,
    ) {
        let result: io::Result<()> = async {
            let stream = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                s = tokio::time::timeout(self.config.connect_timeout, self.config.transport.connect(addr)) => match s {
                    Ok(s) => s?,
                    Err(_) => {
                        inc(&self.counters.out_timeouts);
                        return Err(io::Error::new(io::ErrorKind::TimedOut, format!("connect took over {:?}", self.config.connect_timeout)));
                    }
                },
            };
            let (mut rd, mut wr) = tokio::io::split(stream);
            let hello = wire::handshake(self.addr);
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                r = self.write_bounded(&mut wr, &hello) => r?,
            }
            inc(&self.counters.conns_opened);
            self.counters
                .bytes_out
                .fetch_add(hello.len() as u64, Ordering::Relaxed);
            let mut probe = [0u8; 64];
            let mut batch = BytesMut::with_capacity(64 * 1024);
            loop {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Ok(()),
                    r = rd.read(&mut probe) => match r {
                        Ok(0) => return Ok(()),
                        Ok(_) => {} // peers never write on our connection; ignore
                        Err(e) => return Err(e),
                    },
                    m = rx.recv() => {
                        let Some(first) = m else { return Ok(()) };
                        batch.clear();
                        batch.extend_from_slice(&first);
                        let mut frames = 1u64;
                        while batch.len() < 256 * 1024 {
                            match rx.try_recv() {
                                Ok(f) => { batch.extend_from_slice(&f); frames += 1; }
                                Err(_) => break,
                            }
                        }
                        queued.fetch_sub(batch.len(), Ordering::AcqRel);
                        tokio::select! {
                            _ = cancel.cancelled() => return Ok(()),
                            r = self.write_bounded(&mut wr, &batch) => r?,
                        }
                        self.counters.frames_out.fetch_add(frames, Ordering::Relaxed);
                        self.counters.bytes_out.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    }
                }
            }
        }
        .await;
        if let Err(e) = &result {
            tracing::debug!(peer = %addr, error = %e, "outbound connection failed");
        }
        rx.close();
        let mut lost = 0;
        while let Ok(f) = rx.try_recv() {
            queued.fetch_sub(f.len(), Ordering::AcqRel);
            lost += 1;
        }
        self.counters.unreachable.fetch_add(lost, Ordering::Relaxed);
        self.peer_broken(addr, generation);
    }

    /// The outbound connection `generation` to `addr` ended: forget it and tell every
    /// linker of a process at that address (unless a newer connection replaced it).
    fn peer_broken(&self, addr: SocketAddr, generation: u64) {
        let removed = self
            .peers
            .remove_if(&addr, |_, p| p.generation == generation)
            .is_some();
        if !removed {
            return;
        }
        inc(&self.counters.conns_closed);
        let notices: Vec<(Pid, Pid)> = {
            let mut links = self.lock_links();
            let linkees: Vec<Pid> = links
                .by_linkee
                .keys()
                .filter(|p| p.addr() == addr)
                .cloned()
                .collect();
            linkees
                .into_iter()
                .flat_map(|linkee| {
                    let linkers = links.by_linkee.remove(&linkee).unwrap_or_default();
                    linkers.into_iter().map(move |l| (l, linkee.clone()))
                })
                .collect()
        };
        for (linker, linkee) in notices {
            self.notify_exited(&linker, linkee);
        }
    }

    fn notify_exited(&self, linker: &Pid, linkee: Pid) {
        if let Some(e) = self.entry(linker.id()) {
            if let Some(m) = e.mailbox() {
                m.exited(linkee);
            }
        }
    }

    fn link(self: &Arc<Self>, linker: &Pid, linkee: &Pid, mode: LinkMode) {
        {
            let mut links = self.lock_links();
            links
                .by_linkee
                .entry(linkee.clone())
                .or_default()
                .insert(linker.clone());
        }
        if linkee.addr() == self.addr {
            // A local linkee that is not (or no longer) here exits at once.
            if !self.processes.contains_key(linkee.id()) {
                let present = {
                    let mut links = self.lock_links();
                    let had = links
                        .by_linkee
                        .get_mut(linkee)
                        .map(|s| s.remove(linker))
                        .unwrap_or(false);
                    if links.by_linkee.get(linkee).is_some_and(|s| s.is_empty()) {
                        links.by_linkee.remove(linkee);
                    }
                    had
                };
                if present {
                    self.notify_exited(linker, linkee.clone());
                }
            }
        } else {
            self.peer(linkee.addr(), mode == LinkMode::Reconnect);
        }
    }

    /// A local process stopped: unregister it and tell its linkers.
    pub(crate) fn process_terminated(&self, pid: &Pid) {
        if let Some((_, e)) = self.processes.remove(pid.id()) {
            self.counters
                .sent_by_gone
                .fetch_add(e.sent.0.load(Ordering::Relaxed), Ordering::Relaxed);
            self.counters
                .received_by_gone
                .fetch_add(e.handled.0.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        let linkers = {
            let mut links = self.lock_links();
            let linkers = links.by_linkee.remove(pid).unwrap_or_default();
            for set in links.by_linkee.values_mut() {
                set.remove(pid);
            }
            links.by_linkee.retain(|_, s| !s.is_empty());
            linkers
        };
        for l in linkers {
            self.notify_exited(&l, pid.clone());
        }
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
        self.deliver_unfiltered(env);
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

    /// A place for one more inbound connection, if fewer than the cap are open.
    fn admit(self: &Arc<Self>) -> Option<InboundSlot> {
        let max = self.config.max_inbound_connections;
        self.inbound_open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| InboundSlot(self.clone()))
    }

    /// Reads the first bytes of an inbound connection and hands it to the actor protocol
    /// or to HTTP. The sniff and the handshake must finish within `inbound_timeout`.
    async fn sniff(self: Arc<Self>, mut stream: BoxStream, peer: SocketAddr, _slot: InboundSlot) {
        let mut head = [0u8; 4];
        let sniffed = async {
            let mut got = 0;
            while got < 4 {
                match stream.read(&mut head[got..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            got
        };
        let got = tokio::select! {
            _ = self.shutdown.cancelled() => return,
            r = tokio::time::timeout(self.config.inbound_timeout, sniffed) => match r {
                Ok(got) => got,
                Err(_) => {
                    inc(&self.counters.in_timeouts);
                    tracing::debug!(%peer, "no protocol sniff within the inbound timeout; closing");
                    return;
                }
            },
        };
        if got == 0 {
            return;
        }
        if got == 4 && &head == wire::MAGIC {
            let hello = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                r = tokio::time::timeout(self.config.inbound_timeout, read_handshake(&mut stream)) => r,
            };
            match hello {
                Ok(Some(peer_node)) => self.run_inbound(stream, peer, peer_node).await,
                Ok(None) => {
                    inc(&self.counters.malformed);
                    tracing::debug!(%peer, "bad handshake; closing");
                }
                Err(_) => {
                    inc(&self.counters.in_timeouts);
                    tracing::debug!(%peer, "no handshake within the inbound timeout; closing");
                }
            }
        } else {
            let stream = http::Rewind::new(Bytes::copy_from_slice(&head[..got]), stream);
            http::serve(self, stream, peer).await;
        }
    }

    async fn run_inbound(
        self: Arc<Self>,
        mut stream: BoxStream,
        socket_peer: SocketAddr,
        peer_node: SocketAddr,
    ) {
        inc(&self.counters.conns_opened);
        let cancel = self.shutdown.child_token();
        self.inbound
            .entry(peer_node)
            .or_default()
            .push(cancel.clone());
        let mut reader = InboundReader::new(&self);
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        // Bytes of the partial frame in `buf`, charged to the node's inbound budget.
        let mut charge = Charge::new(&self.inbound_budget);
        // When the partial frame in `buf` must be complete.
        let partial_deadline = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(partial_deadline);
        let mut partial = false;
        'conn: loop {
            let n = tokio::select! {
                // Bytes that are there win over the deadline (a clock advanced in a test
                // must not close a connection whose data already arrived).
                biased;
                _ = cancel.cancelled() => break,
                n = stream.read_buf(&mut buf) => n,
                _ = &mut partial_deadline, if partial => {
                    inc(&self.counters.in_timeouts);
                    tracing::warn!(peer = %peer_node, %socket_peer, held = buf.len(), timeout = ?self.config.inbound_timeout, "frame not complete within the inbound timeout; closing connection");
                    break;
                }
            };
            match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.counters
                        .bytes_in
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            // Frames are counted once per read, not once each.
            let mut frames = 0u64;
            let bad = loop {
                match wire::split_frame(&mut buf, self.config.max_frame_bytes) {
                    Ok(Some(frame)) => {
                        frames += 1;
                        if let Err(e) = reader.deliver(&self, frame) {
                            inc(&self.counters.malformed);
                            tracing::warn!(peer = %peer_node, error = %e, "malformed frame; closing connection");
                            break true;
                        }
                    }
                    Ok(None) => break false,
                    Err(len) => {
                        inc(&self.counters.malformed);
                        tracing::warn!(peer = %peer_node, len, max = self.config.max_frame_bytes, "oversized frame; closing connection");
                        break true;
                    }
                }
            };
            self.counters.frames_in.fetch_add(frames, Ordering::Relaxed);
            if bad {
                break 'conn;
            }
            if !charge.set(buf.len()) {
                inc(&self.counters.over_budget);
                tracing::warn!(peer = %peer_node, %socket_peer, held = buf.len(), budget = self.config.max_inbound_buffered_bytes,
                    "partial frames of all connections exceed the inbound budget; closing connection");
                break 'conn;
            }
            if buf.is_empty() {
                partial = false;
            } else if !partial || frames > 0 {
                // A new frame started: it has `inbound_timeout` to arrive whole.
                partial = true;
                partial_deadline
                    .as_mut()
                    .reset(tokio::time::Instant::now() + self.config.inbound_timeout);
            }
            // Room for the next read; a frame's buffer grows with the bytes that arrive,
            // never from its announced length.
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(READ_CHUNK);
            }
        }
        drop(charge);
        inc(&self.counters.conns_closed);
        if let Some(mut list) = self.inbound.get_mut(&peer_node) {
            list.retain(|t| !t.is_cancelled() && !std::ptr::eq(t, &cancel));
        }
        cancel.cancel();
    }

    /// Routes one HTTP request.
    pub(crate) async fn route_http(self: Arc<Self>, req: HttpRequest) -> HttpResponse {
        inc(&self.counters.http);
        match req.path.as_str() {
            "/metrics/snapshot" => {
                self.publish_metrics();
                return HttpResponse::json(
                    &crate::metrics::registry().snapshot_json(Some(&self.addr.to_string())),
                );
            }
            "/metrics" => {
                self.publish_metrics();
                return HttpResponse::new(
                    200,
                    "text/plain; version=0.0.4",
                    crate::metrics::registry().render_prometheus(),
                );
            }
            "/__processes__" => {
                let list = self
                    .processes
                    .iter()
                    .map(|e| (e.key().to_string(), e.value().depth()))
                    .collect();
                return HttpResponse::json(&http::processes_json(list));
            }
            _ => {}
        }
        let (first, rest) = http::split_path(&req.path);
        // A libprocess-style message: POST /<id>/<name> with Libprocess-From.
        if req.method == "POST" {
            if let Some(from) = req.header("libprocess-from") {
                let Ok(from) = from.parse::<Pid>() else {
                    return HttpResponse::bad_request(
                        "Libprocess-From is not a PID (expected id@ip:port)",
                    );
                };
                let Some(entry) = self.entry(&first) else {
                    return HttpResponse::not_found();
                };
                self.deliver(Envelope {
                    from,
                    to: entry.pid.clone(),
                    name: MessageName::Owned(rest.as_str().into()),
                    payload: Payload::Remote(req.body.clone()),
                });
                return HttpResponse::text(202, "");
            }
        }
        let (target, route) = match self.entry(&first) {
            Some(e) => (e, rest),
            None => {
                let delegate = self
                    .delegate
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                match delegate.and_then(|d| self.entry(&d)) {
                    Some(e) => (e, req.path.trim_matches('/').to_string()),
                    None => return HttpResponse::not_found(),
                }
            }
        };
        let (tx, rx) = oneshot::channel();
        if let Some(m) = target.mailbox() {
            m.http(HttpCall {
                route,
                request: req,
                reply: tx,
            });
        }
        rx.await
            .unwrap_or_else(|_| HttpResponse::unavailable("the process did not answer"))
    }

    pub(crate) fn stats(&self) -> NodeStats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (mut sent, mut received) = (l(&c.sent_by_gone), l(&c.received_by_gone));
        for e in self.processes.iter() {
            sent += e.value().sent.0.load(Ordering::Relaxed);
            received += e.value().handled.0.load(Ordering::Relaxed);
        }
        NodeStats {
            messages_sent: sent + l(&c.posted),
            messages_received: received,
            dropped_unknown_process: l(&c.unknown_process),
            dropped_unknown_name: l(&c.unknown_name),
            dropped_undecodable: l(&c.undecodable),
            dropped_unreachable: l(&c.unreachable),
            frames_out: l(&c.frames_out),
            frames_in: l(&c.frames_in),
            bytes_out: l(&c.bytes_out),
            bytes_in: l(&c.bytes_in),
            connections_opened: l(&c.conns_opened),
            connections_closed: l(&c.conns_closed),
            connections_malformed: l(&c.malformed),
            http_requests: l(&c.http),
            dropped_queue_full: l(&c.queue_full),
            outbound_overflows: l(&c.overflows),
            outbound_timeouts: l(&c.out_timeouts),
            outbound_queued_bytes: self
                .peers
                .iter()
                .map(|p| p.queued.load(Ordering::Relaxed) as u64)
                .sum(),
            accept_errors: l(&c.accept_errors),
            connections_refused: l(&c.refused),
            connections_timed_out: l(&c.in_timeouts),
            connections_over_budget: l(&c.over_budget),
            inbound_connections: self.inbound_open.load(Ordering::Relaxed) as u64,
            inbound_buffered_bytes: self.inbound_budget.used() as u64,
        }
    }

    /// Copies the node's counters into the metrics registry, labelled with this node.
    fn publish_metrics(&self) {
        let s = self.stats();
        let node = self.addr.to_string();
        let set = |name: &'static str, v: u64| {
            metrics::counter!(name, "node" => node.clone()).absolute(v);
        };
        set("libproc/messages_sent", s.messages_sent);
        set("libproc/messages_received", s.messages_received);
        set(
            "libproc/messages_dropped",
            s.dropped_unknown_process
                + s.dropped_unknown_name
                + s.dropped_undecodable
                + s.dropped_unreachable
                + s.dropped_queue_full,
        );
        set(
            "libproc/messages_dropped_unknown_process",
            s.dropped_unknown_process,
        );
        set(
            "libproc/messages_dropped_unknown_name",
            s.dropped_unknown_name,
        );
        set(
            "libproc/messages_dropped_undecodable",
            s.dropped_undecodable,
        );
        set(
            "libproc/messages_dropped_unreachable",
            s.dropped_unreachable,
        );
        set("libproc/frames_in", s.frames_in);
        set("libproc/frames_out", s.frames_out);
        set("libproc/bytes_in", s.bytes_in);
        set("libproc/bytes_out", s.bytes_out);
        set("libproc/connections_opened", s.connections_opened);
        set("libproc/connections_closed", s.connections_closed);
        set("libproc/connections_malformed", s.connections_malformed);
        set("libproc/http_requests", s.http_requests);
        set("libproc/messages_dropped_queue_full", s.dropped_queue_full);
        set("libproc/outbound_overflows", s.outbound_overflows);
        set("libproc/outbound_timeouts", s.outbound_timeouts);
        set("libproc/accept_errors", s.accept_errors);
        set("libproc/connections_refused", s.connections_refused);
        set("libproc/connections_timed_out", s.connections_timed_out);
        set("libproc/connections_over_budget", s.connections_over_budget);
        let gauge = |name: &'static str, v: u64| {
            metrics::gauge!(name, "node" => node.clone()).set(v as f64);
        };
        gauge("libproc/outbound_queued_bytes", s.outbound_queued_bytes);
        gauge("libproc/inbound_connections", s.inbound_connections);
        gauge("libproc/inbound_buffered_bytes", s.inbound_buffered_bytes);
        metrics::gauge!("libproc/connections_active", "node" => node.clone())
            .set(s.connections_opened.saturating_sub(s.connections_closed) as f64);
        metrics::gauge!("libproc/processes", "node" => node.clone())
            .set(self.processes.len() as f64);
        for e in self.processes.iter() {
            metrics::gauge!("libproc/mailbox_depth", "node" => node.clone(), "process" => e.key().to_string())
                .set(e.value().depth() as f64);
        }
    }
}

/// Per-connection decoding state. Frames on one connection mostly repeat the same sender,
/// target and names, so the reader keeps what it decoded last and compares raw bytes before
/// validating or looking anything up again.
struct InboundReader {
    last_from: Option<(Bytes, Pid)>,
    last_to: Option<(Bytes, std::sync::Weak<ProcessEntry>)>,
    names: crate::fxhash::FxHashMap<Box<[u8]>, MessageName>,
}

/// Names cached per connection at most (a peer cannot grow it without bound).
const NAME_CACHE: usize = 4096;

/// How much an inbound connection's buffer grows by for the next read.
const READ_CHUNK: usize = 64 * 1024;

/// Reads the rest of a handshake (after the magic): the version byte and the peer node's
/// address. `None` if it is malformed or the stream ends.
async fn read_handshake(stream: &mut BoxStream) -> Option<SocketAddr> {
    let mut hdr = [0u8; 3];
    stream.read_exact(&mut hdr).await.ok()?;
    if hdr[0] != wire::VERSION {
        return None;
    }
    // At most u16::MAX bytes: the length field bounds the allocation.
    let len = u16::from_be_bytes([hdr[1], hdr[2]]) as usize;
    let mut addr = vec![0u8; len];
    stream.read_exact(&mut addr).await.ok()?;
    wire::parse_handshake_addr(&addr)
}

impl InboundReader {
    fn new(_: &Arc<NodeInner>) -> Self {
        InboundReader {
            last_from: None,
            last_to: None,
            names: Default::default(),
        }
    }

    fn deliver(&mut self, node: &Arc<NodeInner>, frame: Bytes) -> Result<(), wire::FrameError> {
        let f = wire::decode_frame_raw(&frame)?;
        let from = match &self.last_from {
            Some((text, pid)) if text.as_ref() == f.from => pid.clone(),
            _ => {
                let text = std::str::from_utf8(f.from)
                    .map_err(|_| wire::FrameError::Malformed("sender is not UTF-8"))?;
                let pid: Pid = text.parse().map_err(|e: crate::pid::PidParseError| {
                    wire::FrameError::BadFrom(e.to_string())
                })?;
                self.last_from = Some((Bytes::copy_from_slice(f.from), pid.clone()));
                pid
            }
        };
        let cached = match &self.last_to {
            Some((id, weak)) if id.as_ref() == f.to_id => weak.upgrade(),
            _ => None,
        };
        let entry = match cached {
            Some(e) => e,
            None => {
                let found = std::str::from_utf8(f.to_id)
                    .ok()
                    .and_then(|id| node.entry(id));
                let Some(e) = found else {
                    inc(&node.counters.unknown_process);
                    tracing::debug!(to = %String::from_utf8_lossy(f.to_id), "dropped message to unknown process");
                    return Ok(());
                };
                self.last_to = Some((Bytes::copy_from_slice(f.to_id), Arc::downgrade(&e)));
                e
            }
        };
        let name = match self.names.get(f.name) {
            Some(n) => n.clone(),
            None => {
                let text = std::str::from_utf8(f.name)
                    .map_err(|_| wire::FrameError::Malformed("name is not UTF-8"))?;
                let n = MessageName::from_wire(text);
                if self.names.len() < NAME_CACHE {
                    self.names.insert(f.name.into(), n.clone());
                }
                n
            }
        };
        let env = Envelope {
            from,
            to: entry.pid.clone(),
            name,
            payload: Payload::Remote(f.body),
        };
        if node.config.filters.active() {
            node.deliver(env);
        } else {
            NodeInner::enqueue(&entry, env);
        }
        Ok(())
    }
}
