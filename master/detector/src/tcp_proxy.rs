//! Test support: a TCP proxy to put between a node and a server (ZooKeeper, a master) and
//! break on demand, for fault tests in-process and across processes.
//!
//! * [`TcpProxy::cut`] closes every connection and refuses new ones (accepted, then closed
//!   at once): the peer sees the connection drop, as when a server is killed.
//! * [`TcpProxy::blackhole`] keeps connections open (new ones too) but forwards nothing:
//!   bytes in flight are lost and nothing answers, as in a network partition; a request
//!   sent meanwhile stays in flight until the client gives up on the connection.
//! * [`TcpProxy::refuse_new`] keeps forwarding on open connections but refuses new ones
//!   (a client's session stays up, its second connection cannot be made).
//! * [`TcpProxy::restore`] forwards again. Connections that were blackholed are closed
//!   then (their byte streams lost data), so clients reconnect through the proxy.
//!
//! The proxy runs on a thread of its own (a single-threaded tokio runtime), so it works
//! under any test runtime, a paused clock included, and stops when dropped.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Open,
    /// Close every connection; refuse new ones.
    Cut,
    /// Keep connections, forward nothing.
    Blackhole,
    /// Forward on open connections; refuse new ones.
    RefuseNew,
}

/// A running proxy; stops (closing every connection) when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    target: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicU64>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards each connection to `target`.
    pub fn start(target: SocketAddr) -> io::Result<TcpProxy> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (mode, rx) = watch::channel(Mode::Open);
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("tcp-proxy-{}", addr.port()))
            .spawn(move || {
                rt.block_on(async move {
                    match TcpListener::from_std(std_listener) {
                        Ok(listener) => accept_loop(listener, target, rx, count).await,
                        Err(e) => tracing::error!(error = %e, "tcp proxy cannot listen"),
                    }
                })
            })?;
        Ok(TcpProxy {
            addr,
            target,
            mode,
            accepted,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>` of [`addr`](TcpProxy::addr), as a connect string.
    pub fn servers(&self) -> String {
        self.addr.to_string()
    }

    /// Where the proxy forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Closes every connection and refuses new ones until [`restore`](TcpProxy::restore).
    pub fn cut(&self) {
        self.set(Mode::Cut);
    }

    /// Stops forwarding (connections stay open) until [`restore`](TcpProxy::restore).
    pub fn blackhole(&self) {
        self.set(Mode::Blackhole);
    }

    /// Keeps forwarding on open connections but refuses new ones until
    /// [`restore`](TcpProxy::restore).
    pub fn refuse_new(&self) {
        self.set(Mode::RefuseNew);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.set(Mode::Open);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// How many connections were accepted so far (refused ones included): a client that
    /// gave up a dead connection shows up as a new one.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    fn set(&self, mode: Mode) {
        tracing::info!(proxy = %self.addr, target = %self.target, ?mode, "tcp proxy");
        self.mode.send_replace(mode);
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    accepted: Arc<AtomicU64>,
) {
    loop {
        tokio::select! {
            biased;
            changed = mode.changed() => {
                if changed.is_err() {
                    return; // the proxy was dropped
                }
            }
            conn = listener.accept() => {
                let Ok((client, _)) = conn else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                if matches!(*mode.borrow(), Mode::Cut | Mode::RefuseNew) {
                    drop(client);
                    continue;
                }
                tokio::spawn(relay(client, target, mode.clone()));
            }
        }
    }
}

/// Forwards one connection until either side closes it or the mode says to stop.
async fn relay(client: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    let mut holed = false;
    loop {
        match *mode.borrow_and_update() {
            Mode::Cut => return,
            Mode::Blackhole => holed = true,
            Mode::Open | Mode::RefuseNew if holed => return,
            Mode::Open | Mode::RefuseNew => {}
        }
        tokio::select! {
            biased;
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            r = client_rx.read(&mut up) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) if !holed => {
                    if server_tx.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
            },
            r = server_rx.read(&mut down) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) if !holed => {
                    if client_tx.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut TcpStream) -> io::Result<Vec<u8>> {
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    const LIMIT: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn forwards_cuts_blackholes_and_restores() {
        let proxy = TcpProxy::start(echo_server().await).unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut s).await.unwrap(), b"ping");

        // Cut: the open connection is closed, new ones are closed at once.
        proxy.cut();
        let mut buf = [0u8; 4];
        let r = tokio::time::timeout(LIMIT, s.read(&mut buf)).await.unwrap();
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        let mut s2 = TcpStream::connect(proxy.addr()).await.unwrap();
        let r = tokio::time::timeout(LIMIT, roundtrip(&mut s2))
            .await
            .unwrap();
        assert!(r.is_err(), "{r:?}");

        // Restored: new connections work.
        proxy.restore();
        let mut s3 = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut s3).await.unwrap(), b"ping");

        // Blackhole: the connection stays open but nothing comes back...
        proxy.blackhole();
        let mut s4 = TcpStream::connect(proxy.addr()).await.unwrap();
        for s in [&mut s3, &mut s4] {
            let r = tokio::time::timeout(Duration::from_millis(300), roundtrip(s)).await;
            assert!(r.is_err(), "an answer through a blackhole: {r:?}");
        }
        // ...and restoring closes the blackholed connections, not the new ones after.
        proxy.restore();
        let r = tokio::time::timeout(LIMIT, s3.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        let mut s5 = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut s5).await.unwrap(), b"ping");

        // Refusing new connections keeps the open one working.
        proxy.refuse_new();
        let mut s6 = TcpStream::connect(proxy.addr()).await.unwrap();
        let r = tokio::time::timeout(LIMIT, roundtrip(&mut s6))
            .await
            .unwrap();
        assert!(r.is_err(), "{r:?}");
        assert_eq!(roundtrip(&mut s5).await.unwrap(), b"ping");
        proxy.restore();
        assert_eq!(roundtrip(&mut s5).await.unwrap(), b"ping");
        assert_eq!(proxy.accepted(), 6);
        assert_eq!(proxy.mode(), Mode::Open);
    }
}
