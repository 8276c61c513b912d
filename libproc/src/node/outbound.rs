//! Outbound: routing a message locally or as a frame to its peer node, one connection
//! (and one writer task with a bounded queue) per peer, and what happens when it breaks.

use super::*;

impl NodeInner {
    /// Routes one message: locally without encoding, remotely as a frame.
    pub(crate) fn send_message<M: Message>(self: &Arc<Self>, from: &Pid, to: &Pid, msg: M) {
        // Everything that names this node is delivered here (never over a connection to
        // itself, which it would refuse as a forged local sender).
        if self.is_own_addr(to.addr()) {
            self.deliver(Envelope {
                from: from.clone(),
                to: to.clone(),
                name: MessageName::Static(M::NAME),
                payload: Payload::local(msg),
                connection: None,
            });
            return;
        }
        let verdict = if self.fault.active() {
            self.fault.decide(M::NAME, from, to)
        } else {
            crate::fault::Verdict::Pass
        };
        match wire::encode_frame_vec(from.as_str(), to.id(), M::NAME, |buf| {
            rmp_serde::encode::write_named(buf, &msg)
        }) {
            Ok(frame) => self.send_frame_with(to.addr(), frame, verdict),
            Err(e) => {
                inc(&self.counters.undecodable);
                tracing::warn!(name = M::NAME, %to, error = %e, "could not encode message; dropped");
            }
        }
    }

    pub(super) fn send_frame(self: &Arc<Self>, addr: SocketAddr, frame: Vec<u8>) {
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
    pub(super) fn queue_frame(&self, addr: SocketAddr, p: &Peer, frame: Vec<u8>) {
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
    pub(super) fn peer(self: &Arc<Self>, addr: SocketAddr, fresh: bool) {
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
    pub(super) async fn write_bounded<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        wr: &mut W,
        bytes: &[u8],
    ) -> io::Result<()> {
        // Flushed too: a TLS stream may hold written records until flushed (a TCP
        // stream's flush does nothing).
        let write = async {
            wr.write_all(bytes).await?;
            wr.flush().await
        };
        match tokio::time::timeout(self.config.write_timeout, write).await {
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

    /// Opens the stream to `addr`, each attempt within `connect_timeout`: TCP, then the
    /// TLS handshake when TLS is enabled. Under downgrade support a failed handshake is
    /// retried in plain, as libprocess does (a peer not yet on TLS in a rolling upgrade).
    /// `None`: cancelled meanwhile.
    async fn open_stream(
        &self,
        addr: SocketAddr,
        cancel: &CancellationToken,
    ) -> io::Result<Option<BoxStream>> {
        let Some(stream) = self.connect_plain(addr, cancel).await? else {
            return Ok(None);
        };
        let Some(tls) = &self.tls else {
            return Ok(Some(stream));
        };
        let handshake = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(None),
            s = tokio::time::timeout(self.config.connect_timeout, tls.connect(addr, stream)) => s,
        };
        match handshake {
            Ok(Ok(s)) => Ok(Some(s)),
            Ok(Err(e)) => {
                inc(&self.counters.tls_failures);
                if tls.support_downgrade() {
                    tracing::info!(peer = %addr, error = %e, "outbound TLS failed; downgrading to a plain connection");
                    return self.connect_plain(addr, cancel).await;
                }
                tracing::warn!(peer = %addr, error = %e, "outbound TLS connection failed");
                Err(e)
            }
            Err(_) => {
                inc(&self.counters.out_timeouts);
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TLS handshake took over {:?}", self.config.connect_timeout),
                ))
            }
        }
    }

    /// A plain stream to `addr` within `connect_timeout`; `None`: cancelled meanwhile.
    async fn connect_plain(
        &self,
        addr: SocketAddr,
        cancel: &CancellationToken,
    ) -> io::Result<Option<BoxStream>> {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Ok(None),
            s = tokio::time::timeout(self.config.connect_timeout, self.config.transport.connect(addr)) => match s {
                Ok(s) => s.map(Some),
                Err(_) => {
                    inc(&self.counters.out_timeouts);
                    Err(io::Error::new(io::ErrorKind::TimedOut, format!("connect took over {:?}", self.config.connect_timeout)))
                }
            },
        }
    }

    pub(super) async fn run_outbound(
        self: Arc<Self>,
        addr: SocketAddr,
        generation: u64,
        mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
        queued: Arc<AtomicUsize>,
        cancel: CancellationToken,
    ) {
        let result: io::Result<()> = async {
            let Some(stream) = self.open_stream(addr, &cancel).await? else {
                return Ok(());
            };
            let (mut rd, mut wr) = tokio::io::split(stream);
            let hello = wire::handshake(self.addr);
            tokio::select! {
                biased;
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
                            biased;
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
    pub(super) fn peer_broken(&self, addr: SocketAddr, generation: u64) {
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
}
