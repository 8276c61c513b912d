//! How a node is set up: [`NodeConfig`] and the defaults of its limits.

use super::*;
use crate::tls::TlsSetup;

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
    /// Inbound connections one peer IP address may hold open at once (within
    /// `max_inbound_connections`), so one host cannot take every place; more from it are
    /// closed as soon as they are accepted (counted as `connections_refused_per_peer`).
    pub max_connections_per_peer: usize,
    /// Header fields one HTTP request may have; more get `431`.
    pub max_http_headers: usize,
    /// TLS for the actor protocol and HTTP (default: from the `LIBPROCESS_SSL_*`
    /// environment when the node binds; see [`crate::tls`]).
    pub tls: TlsSetup,
    /// Whether `/fault/rules` accepts fault rules (`--enable_fault_injection`).
    pub fault_injection: bool,
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
    /// [`NodeConfig::max_connections_per_peer`](super::NodeConfig::max_connections_per_peer).
    pub const MAX_CONNECTIONS_PER_PEER: usize = 1024;
    /// [`NodeConfig::max_http_headers`](super::NodeConfig::max_http_headers).
    pub const MAX_HTTP_HEADERS: usize = 100;
    /// First pause of the accept loop after an accept error (doubling up to the max).
    pub const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
    /// Longest pause of the accept loop after accept errors.
    pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
}

impl NodeConfig {
    /// Advertises `ip` and/or `port` (Mesos's `--advertise_ip`/`--advertise_port`) instead
    /// of the bound address; the other part is the bound one.
    pub fn advertising(mut self, ip: Option<std::net::IpAddr>, port: Option<u16>) -> Self {
        if ip.is_some() || port.is_some() {
            self.advertise = Some(SocketAddr::new(
                ip.unwrap_or_else(|| match self.bind.ip() {
                    any if any.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
                    bound => bound,
                }),
                port.unwrap_or_else(|| self.bind.port()),
            ));
        }
        self
    }

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
            max_connections_per_peer: defaults::MAX_CONNECTIONS_PER_PEER,
            max_http_headers: defaults::MAX_HTTP_HEADERS,
            tls: TlsSetup::FromEnvironment,
            fault_injection: false,
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

    /// Sets [`max_connections_per_peer`](Self::max_connections_per_peer).
    pub fn max_connections_per_peer(mut self, n: usize) -> NodeConfig {
        self.max_connections_per_peer = n;
        self
    }

    /// Sets [`tls`](Self::tls).
    pub fn tls(mut self, t: TlsSetup) -> NodeConfig {
        self.tls = t;
        self
    }

    /// Sets [`max_http_headers`](Self::max_http_headers).
    pub fn max_http_headers(mut self, n: usize) -> NodeConfig {
        self.max_http_headers = n;
        self
    }

    /// Sets [`fault_injection`](Self::fault_injection).
    pub fn fault_injection(mut self, enabled: bool) -> NodeConfig {
        self.fault_injection = enabled;
        self
    }
}
