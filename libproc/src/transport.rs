//! The connect/listen seam: how a node gets byte streams.
//!
//! Nodes never touch sockets directly; they ask a [`Transport`]. [`TcpTransport`] is the
//! real one (tokio TCP, `TCP_NODELAY` on, TCP keepalive and `TCP_USER_TIMEOUT` set on every
//! socket so a peer that vanished without a FIN/RST is noticed by the kernel). [`MemNetwork`] is an in-memory network of
//! duplex pipes for deterministic tests on one thread and a paused clock: no OS sockets, no
//! timing from the kernel. A simulator backend (e.g. turmoil) plugs in the same way.

use crate::fxhash::FxHashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

/// A bidirectional byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A boxed byte stream.
pub type BoxStream = Box<dyn Stream>;
/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Accepts inbound streams.
pub trait Listener: Send + 'static {
    /// The next inbound stream and the peer's address.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxStream, SocketAddr)>>;
    /// The address actually bound (port 0 resolved).
    fn local_addr(&self) -> SocketAddr;
}

/// Opens listeners and outbound streams.
pub trait Transport: Send + Sync + 'static {
    /// Binds a listener.
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>>;
    /// Connects to a listener.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>>;
}

/// TCP keepalive probing: after `idle` without traffic the kernel sends a probe every
/// `interval`; `retries` unanswered probes (or `TCP_USER_TIMEOUT`, whichever comes first)
/// reset the connection, which the node reports as the peer having exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is reset.
    pub retries: u32,
}

impl Default for Keepalive {
    fn default() -> Keepalive {
        Keepalive {
            idle: Duration::from_secs(30),
            interval: Duration::from_secs(10),
            retries: 3,
        }
    }
}

/// Real TCP through tokio, with keepalive and `TCP_USER_TIMEOUT` on every socket (outbound
/// and accepted). `TcpTransport::default()` probes after 30 s idle every 10 s, 3 probes,
/// and gives up on data unacknowledged for 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpTransport {
    /// Keepalive probing (`None`: the OS default, usually off).
    pub keepalive: Option<Keepalive>,
    /// `TCP_USER_TIMEOUT` (Linux): how long written data may stay unacknowledged before the
    /// kernel resets the connection (`None`: the OS default, ~15 minutes of retransmits).
    pub user_timeout: Option<Duration>,
}

impl Default for TcpTransport {
    fn default() -> TcpTransport {
        TcpTransport {
            keepalive: Some(Keepalive::default()),
            user_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl TcpTransport {
    /// Applies `TCP_NODELAY`, keepalive and the user timeout to a socket. Failures are
    /// logged, not fatal: the connection still works without them.
    pub fn tune(&self, s: &tokio::net::TcpStream) {
        let _ = s.set_nodelay(true);
        let sock = socket2::SockRef::from(s);
        if let Some(k) = self.keepalive {
            let params = socket2::TcpKeepalive::new()
                .with_time(k.idle)
                .with_interval(k.interval);
            #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
            let params = params.with_retries(k.retries);
            if let Err(e) = sock.set_tcp_keepalive(&params) {
                tracing::debug!(error = %e, "could not set TCP keepalive");
            }
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(t) = self.user_timeout {
            if let Err(e) = sock.set_tcp_user_timeout(Some(t)) {
                tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT");
            }
        }
    }
}

struct TcpListener(tokio::net::TcpListener, SocketAddr, TcpTransport);

impl Listener for TcpListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxStream, SocketAddr)>> {
        Box::pin(async move {
            let (s, peer) = self.0.accept().await?;
            self.2.tune(&s);
            Ok((Box::new(s) as BoxStream, peer))
        })
    }
    fn local_addr(&self) -> SocketAddr {
        self.1
    }
}

impl Transport for TcpTransport {
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let l = tokio::net::TcpListener::bind(addr).await?;
            let local = l.local_addr()?;
            Ok(Box::new(TcpListener(l, local, *self)) as Box<dyn Listener>)
        })
    }
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            self.tune(&s);
            Ok(Box::new(s) as BoxStream)
        })
    }
}

type Inbox = mpsc::UnboundedSender<(BoxStream, SocketAddr)>;

/// An in-memory network: listeners keyed by address, connections as duplex pipes.
/// Clone it into every node of a test; all clones are one network.
#[derive(Clone, Default)]
pub struct MemNetwork {
    inner: Arc<Mutex<MemState>>,
}

#[derive(Default)]
struct MemState {
    listeners: FxHashMap<SocketAddr, Inbox>,
    next_port: u16,
}

struct MemListener {
    rx: mpsc::UnboundedReceiver<(BoxStream, SocketAddr)>,
    addr: SocketAddr,
    net: MemNetwork,
}

impl Drop for MemListener {
    fn drop(&mut self) {
        if let Ok(mut s) = self.net.inner.lock() {
            s.listeners.remove(&self.addr);
        }
    }
}

impl Listener for MemListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxStream, SocketAddr)>> {
        Box::pin(async move {
            self.rx
                .recv()
                .await
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "network gone"))
        })
    }
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl MemNetwork {
    /// A new, empty network.
    pub fn new() -> MemNetwork {
        MemNetwork::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ephemeral(state: &mut MemState, ip: std::net::IpAddr) -> SocketAddr {
        loop {
            state.next_port = state.next_port.wrapping_add(1).max(1);
            let a = SocketAddr::new(ip, 40000u16.wrapping_add(state.next_port).max(1));
            if !state.listeners.contains_key(&a) {
                return a;
            }
        }
    }
}

impl Transport for MemNetwork {
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let mut s = self.lock();
            let addr = if addr.port() == 0 {
                MemNetwork::ephemeral(&mut s, addr.ip())
            } else {
                addr
            };
            if s.listeners.contains_key(&addr) {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, addr.to_string()));
            }
            let (tx, rx) = mpsc::unbounded_channel();
            s.listeners.insert(addr, tx);
            Ok(Box::new(MemListener {
                rx,
                addr,
                net: self.clone(),
            }) as Box<dyn Listener>)
        })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move {
            let mut s = self.lock();
            let inbox = s.listeners.get(&addr).cloned().ok_or_else(|| {
                io::Error::new(io::ErrorKind::ConnectionRefused, addr.to_string())
            })?;
            let local = MemNetwork::ephemeral(&mut s, addr.ip());
            drop(s);
            let (a, b) = tokio::io::duplex(256 * 1024);
            inbox
                .send((Box::new(b), local))
                .map_err(|_| io::Error::new(io::ErrorKind::ConnectionRefused, addr.to_string()))?;
            Ok(Box::new(a) as BoxStream)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_sockets_get_keepalive_and_user_timeout() {
        let t = TcpTransport {
            keepalive: Some(Keepalive {
                idle: Duration::from_secs(7),
                interval: Duration::from_secs(3),
                retries: 4,
            }),
            user_timeout: Some(Duration::from_millis(1500)),
        };
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = tokio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        t.tune(&s);
        let sock = socket2::SockRef::from(&s);
        assert!(sock.keepalive().unwrap());
        assert!(s.nodelay().unwrap());
        #[cfg(target_os = "linux")]
        {
            assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(7));
            assert_eq!(
                sock.tcp_keepalive_interval().unwrap(),
                Duration::from_secs(3)
            );
            assert_eq!(sock.tcp_keepalive_retries().unwrap(), 4);
            assert_eq!(
                sock.tcp_user_timeout().unwrap(),
                Some(Duration::from_millis(1500))
            );
        }
    }
}
