//! Inbound: admitting connections, sniffing each into the actor protocol or HTTP,
//! decoding frames into deliveries, and routing HTTP requests to processes.

use super::*;
use crate::process::Reach;

/// An accepted connection's place under `max_inbound_connections` and its peer's
/// `max_connections_per_peer`; freed when dropped.
pub(super) struct InboundSlot(Arc<NodeInner>, std::net::IpAddr);

impl Drop for InboundSlot {
    fn drop(&mut self) {
        self.0.inbound_open.fetch_sub(1, Ordering::AcqRel);
        self.0.inbound_per_peer.remove_if_mut(&self.1, |_, n| {
            *n -= 1;
            *n == 0
        });
    }
}

/// Why an accepted connection gets no place.
pub(super) enum Refusal {
    /// `max_inbound_connections` are open.
    Full,
    /// Its peer holds `max_connections_per_peer`.
    PeerFull,
}

impl NodeInner {
    /// A place for one more inbound connection from `peer`, if fewer than the caps are open.
    pub(super) fn admit(self: &Arc<Self>, peer: std::net::IpAddr) -> Result<InboundSlot, Refusal> {
        let max = self.config.max_inbound_connections;
        self.inbound_open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| Refusal::Full)?;
        let mut held = self.inbound_per_peer.entry(peer).or_insert(0);
        if *held >= self.config.max_connections_per_peer {
            drop(held);
            self.inbound_open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::PeerFull);
        }
        *held += 1;
        drop(held);
        Ok(InboundSlot(self.clone(), peer))
    }

    /// Reads the first bytes of an inbound connection and hands it to the actor protocol
    /// or to HTTP; with TLS enabled, a TLS connection is accepted and its plaintext sniffed
    /// the same way, and a plain one refused unless downgrade is supported. The sniff, the
    /// TLS handshake and the actor handshake must each finish within `inbound_timeout`.
    pub(super) async fn sniff(
        self: Arc<Self>,
        mut stream: BoxStream,
        peer: SocketAddr,
        _slot: InboundSlot,
    ) {
        let Some((head, got)) = self.read_head(&mut stream, peer).await else {
            return;
        };
        let Some(tls) = self.tls.clone() else {
            return self.dispatch(stream, peer, head, got).await;
        };
        if !crate::tls::is_client_hello(&head[..got]) {
            if tls.support_downgrade() {
                return self.dispatch(stream, peer, head, got).await;
            }
            inc(&self.counters.refused_plaintext);
            tracing::debug!(%peer, "plain connection to a node that requires TLS; closing");
            return;
        }
        let replayed = Box::new(http::Rewind::new(
            Bytes::copy_from_slice(&head[..got]),
            stream,
        ));
        let accepted = tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => return,
            r = tokio::time::timeout(self.config.inbound_timeout, tls.accept(replayed)) => r,
        };
        let mut stream = match accepted {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                inc(&self.counters.tls_failures);
                tracing::info!(%peer, error = %e, "inbound TLS handshake failed; closing");
                return;
            }
            Err(_) => {
                inc(&self.counters.in_timeouts);
                tracing::debug!(%peer, "no TLS handshake within the inbound timeout; closing");
                return;
            }
        };
        let Some((head, got)) = self.read_head(&mut stream, peer).await else {
            return;
        };
        self.dispatch(stream, peer, head, got).await
    }

    /// The first (up to) 4 bytes of a stream, within `inbound_timeout`; `None` if the
    /// stream ended first, timed out or the node is shutting down.
    async fn read_head(
        &self,
        stream: &mut BoxStream,
        peer: SocketAddr,
    ) -> Option<([u8; 4], usize)> {
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
            biased;
            _ = self.shutdown.cancelled() => return None,
            r = tokio::time::timeout(self.config.inbound_timeout, sniffed) => match r {
                Ok(got) => got,
                Err(_) => {
                    inc(&self.counters.in_timeouts);
                    tracing::debug!(%peer, "no protocol sniff within the inbound timeout; closing");
                    return None;
                }
            },
        };
        (got > 0).then_some((head, got))
    }

    /// Hands a sniffed stream (`head` read off it) to the actor protocol or to HTTP.
    async fn dispatch(
        self: Arc<Self>,
        mut stream: BoxStream,
        peer: SocketAddr,
        head: [u8; 4],
        got: usize,
    ) {
        if got == 4 && &head == wire::MAGIC {
            let hello = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return,
                r = tokio::time::timeout(self.config.inbound_timeout, read_handshake(&mut stream)) => r,
            };
            match hello {
                Ok(Some(peer_node)) if self.fault.refuses(peer_node) => {
                    tracing::debug!(%peer, %peer_node, "partitioned by a fault rule; closing");
                }
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

    pub(super) async fn run_inbound(
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
        let mut reader = InboundReader::new(self.connections.open());
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
        self.connections.close(reader.connection);
        inc(&self.counters.conns_closed);
        if let Some(mut list) = self.inbound.get_mut(&peer_node) {
            list.retain(|t| !t.is_cancelled() && !std::ptr::eq(t, &cancel));
        }
        cancel.cancel();
    }

    /// Whether a message from the network, claiming to come from `from`, may reach
    /// `entry`: not if the process is [`Reach::LocalOnly`], nor if `from` claims a process
    /// of this node (a local process never speaks over the network). A refusal is counted.
    fn admits_remote(&self, from: &Pid, entry: &ProcessEntry, name: &str) -> bool {
        if entry.reach == Reach::LocalOnly {
            inc(&self.counters.local_only);
            tracing::debug!(%from, to = %entry.pid, name, "dropped a message from the network to a local-only process");
            return false;
        }
        if self.is_own_addr(from.addr()) {
            inc(&self.counters.forged_local);
            tracing::debug!(%from, to = %entry.pid, name, "dropped a message from the network claiming a sender of this node");
            return false;
        }
        true
    }

    /// Whether `addr` names this node: its advertised or bound address, or its port on the
    /// wildcard address. Other nodes of the same host have other ports.
    pub(super) fn is_own_addr(&self, addr: SocketAddr) -> bool {
        addr == self.addr
            || (addr == self.config.bind && addr.port() != 0)
            || (addr.port() == self.addr.port() && addr.ip().is_unspecified())
    }

    /// Routes one HTTP request.
    pub(crate) async fn route_http(self: Arc<Self>, mut req: HttpRequest) -> HttpResponse {
        inc(&self.counters.http);
        let builtin = match req.path.as_str() {
            "/metrics/snapshot" | "/metrics" | "/__processes__" => Some(true),
            "/logging/toggle" => Some(false),
            _ => None,
        };
        if let Some(readonly) = builtin {
            let realms = self.realms.builtins();
            let realm = if readonly {
                realms.readonly
            } else {
                realms.readwrite
            };
            if let Err(refused) = self.admit_http(realm.as_deref(), &mut req) {
                return refused;
            }
        }
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
            "/logging/toggle" => {
                return match crate::logging::toggle_request(
                    req.query("level"),
                    req.query("duration"),
                ) {
                    Ok((level, duration)) => {
                        crate::logging::set_verbosity(level, duration);
                        HttpResponse::new(200, "text/plain", "")
                    }
                    Err(why) => HttpResponse::bad_request(why),
                };
            }
            "/fault/rules" => return self.fault_rules(&req, None),
            p if p.starts_with("/fault/rules/") => {
                let id = &p["/fault/rules/".len()..];
                return self.fault_rules(&req, Some(id));
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
                if !self.admits_remote(&from, &entry, &rest) {
                    return HttpResponse::text(
                        403,
                        "this process accepts no message from the network claiming that sender",
                    );
                }
                self.deliver(Envelope {
                    from,
                    to: entry.pid.clone(),
                    name: MessageName::Owned(rest.as_str().into()),
                    payload: Payload::Remote(req.body.clone()),
                    connection: Some(self.connections.one_shot()),
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
}

/// Per-connection decoding state. Frames on one connection mostly repeat the same sender,
/// target and names, so the reader keeps what it decoded last and compares raw bytes before
/// validating or looking anything up again.
struct InboundReader {
    /// This connection, on every delivery.
    connection: crate::connection::ConnectionId,
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
    fn new(connection: crate::connection::ConnectionId) -> Self {
        InboundReader {
            connection,
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
        if !node.admits_remote(&from, &entry, name.as_str()) {
            return Ok(());
        }
        let env = Envelope {
            from,
            to: entry.pid.clone(),
            name,
            payload: Payload::Remote(f.body),
            connection: Some(self.connection),
        };
        if node.config.filters.active() || node.fault.active() {
            node.deliver(env);
        } else {
            NodeInner::enqueue(&entry, env);
        }
        Ok(())
    }
}
