//! Counters of a node ([`NodeStats`]) and their publication as metrics.

use super::*;

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
    /// Inbound connections closed at once because their peer IP address held
    /// `max_connections_per_peer`.
    pub connections_refused_per_peer: u64,
    /// Inbound connections closed for not finishing a sniff, handshake, frame or HTTP
    /// request body within `inbound_timeout` (hyper closes slow HTTP heads uncounted).
    pub connections_timed_out: u64,
    /// Inbound connections closed because their partial frame did not fit the budget.
    pub connections_over_budget: u64,
    /// Messages from the network (frames or HTTP posts) to a [`Reach::LocalOnly`]
    /// process, dropped.
    ///
    /// [`Reach::LocalOnly`]: crate::process::Reach::LocalOnly
    pub dropped_local_only: u64,
    /// Messages from the network whose sender PID claims a process of this node, dropped.
    pub dropped_forged_local: u64,
    /// Plain (non-TLS) inbound connections closed because this node requires TLS.
    pub connections_refused_plaintext: u64,
    /// TLS handshakes that failed (inbound and outbound), e.g. on an untrusted certificate.
    pub tls_handshake_failures: u64,
    /// Inbound connections open now (actor protocol, HTTP, not yet sniffed).
    pub inbound_connections: u64,
    /// Bytes of partial frames held by inbound connections now.
    pub inbound_buffered_bytes: u64,
}

impl NodeInner {
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
            connections_refused_per_peer: l(&c.refused_per_peer),
            connections_timed_out: l(&c.in_timeouts),
            connections_over_budget: l(&c.over_budget),
            connections_refused_plaintext: l(&c.refused_plaintext),
            tls_handshake_failures: l(&c.tls_failures),
            dropped_local_only: l(&c.local_only),
            dropped_forged_local: l(&c.forged_local),
            inbound_connections: self.inbound_open.load(Ordering::Relaxed) as u64,
            inbound_buffered_bytes: self.inbound_budget.used() as u64,
        }
    }

    /// Copies the node's counters into the metrics registry, labelled with this node.
    pub(super) fn publish_metrics(&self) {
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
                + s.dropped_queue_full
                + s.dropped_local_only
                + s.dropped_forged_local,
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
        set(
            "libproc/connections_refused_per_peer",
            s.connections_refused_per_peer,
        );
        set("libproc/connections_timed_out", s.connections_timed_out);
        set("libproc/connections_over_budget", s.connections_over_budget);
        set(
            "libproc/connections_refused_plaintext",
            s.connections_refused_plaintext,
        );
        set("libproc/tls_handshake_failures", s.tls_handshake_failures);
        set("libproc/messages_dropped_local_only", s.dropped_local_only);
        set(
            "libproc/messages_dropped_forged_local",
            s.dropped_forged_local,
        );
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
        self.publish_fault_metrics(&node);
        publish_system_metrics(&node);
    }
}

/// Mesos's `system/*` gauges (libprocess's `System` process): the machine's CPUs, load
/// averages and memory, read from `/proc` when a snapshot is rendered; zero if unreadable.
fn publish_system_metrics(node: &str) {
    let gauge = |name: &'static str, v: f64| {
        metrics::gauge!(name, "node" => node.to_string()).set(v);
    };
    let load = crate::procfs::load_avg();
    let mem = crate::procfs::machine_memory();
    gauge(
        "system/cpus_total",
        crate::procfs::cpus().unwrap_or(0) as f64,
    );
    gauge("system/load_1min", load.map_or(0.0, |l| l.one));
    gauge("system/load_5min", load.map_or(0.0, |l| l.five));
    gauge("system/load_15min", load.map_or(0.0, |l| l.fifteen));
    gauge(
        "system/mem_total_bytes",
        mem.map_or(0.0, |m| m.total_bytes as f64),
    );
    gauge(
        "system/mem_free_bytes",
        mem.map_or(0.0, |m| m.free_bytes as f64),
    );
}
