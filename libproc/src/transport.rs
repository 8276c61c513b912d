//! The connect/listen seam: how a node gets byte streams.
//!
//! Nodes never touch sockets directly; they ask a [`Transport`]. [`TcpTransport`] is the
//! real one (tokio TCP, `TCP_NODELAY` on). [`MemNetwork`] is an in-memory network of
//! duplex pipes for deterministic tests on one thread and a paused clock: no OS sockets, no
//! timing from the kernel. A simulator backend (e.g. turmoil) plugs in the same way.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

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

/// Real TCP through tokio.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpTransport;

struct TcpListener(tokio::net::TcpListener, SocketAddr);

impl Listener for TcpListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(BoxStream, SocketAddr)>> {
        Box::pin(async move {
            let (s, peer) = self.0.accept().await?;
            let _ = s.set_nodelay(true);
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
            Ok(Box::new(TcpListener(l, local)) as Box<dyn Listener>)
        })
    }
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            let _ = s.set_nodelay(true);
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
    listeners: HashMap<SocketAddr, Inbox>,
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
