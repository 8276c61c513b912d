//! The simulation's network: [`SimNet`] wraps libproc's in-memory [`MemNetwork`] and puts a
//! seeded pump between the two ends of every connection, which sees each actor-protocol
//! frame and may lose, duplicate or delay it, loses everything across a partition (one-way
//! or two-way), and can sever connections between two nodes.
//!
//! Loss is modelled as TCP has it: a lost frame resets the connections between the two
//! nodes, both ways (linkers on both sides get `exited`; frames queued behind it are gone
//! too), never a silent gap in a live stream. Both ways, because TCP cannot live through
//! loss in one direction either: data or its acknowledgements stop, and each end's
//! connection times out. A one-way partition therefore loses the frames it blocks and
//! breaks both directions' connections on the first one, while new connections the other
//! way still work. Duplication is stronger than TCP (a frame delivered twice in a row): it stands
//! for retries and replays at the protocol level, which every handler must survive.
//!
//! Nodes are told apart by IP (every simulated node has its own). A connection's source is
//! learnt from the handshake the connecting node writes first. Delays keep a connection's
//! frames in order (a stream is a stream) but differ between connections, so messages on
//! different connections overtake each other. The reverse direction of a connection (only
//! HTTP answers use it) is copied as it is.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use libproc::rng::SplitMix64;
use libproc::transport::{BoxFuture, BoxStream, Listener};
use libproc::{MemNetwork, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

/// How lossy the network is right now (probabilities per frame).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Weather {
    /// Chance a frame is lost.
    pub drop: f64,
    /// Chance a frame is delivered twice.
    pub duplicate: f64,
    /// Chance a frame is held back (up to `max_delay`, keeping the connection's order).
    pub delay: f64,
    /// The longest hold.
    pub max_delay: Duration,
}

/// The simulated network shared by every node of a run (clone it into each node).
#[derive(Clone)]
pub struct SimNet {
    mem: MemNetwork,
    state: Arc<Mutex<NetState>>,
}

struct NetState {
    rng: SplitMix64,
    weather: Weather,
    /// Directed pairs (from, to) whose frames are lost.
    blocked: BTreeSet<(IpAddr, IpAddr)>,
    /// Open connections: (from, to, a way to cut it).
    conns: Vec<(IpAddr, IpAddr, Weak<Notify>)>,
    /// Faults the network applied, by kind.
    counts: BTreeMap<&'static str, u64>,
    /// A running digest of every frame offered to the network (when, between whom, which
    /// message, how long): two runs of a seed are the same run only if these agree.
    digest: u64,
    /// With `SIM_NET_LOG` set: one line per frame, to find where two replays part.
    log: Option<Vec<String>>,
    start: tokio::time::Instant,
}

impl SimNet {
    /// A fault-free network whose choices are drawn from `seed`.
    pub fn new(seed: u64) -> SimNet {
        SimNet {
            mem: MemNetwork::new(),
            state: Arc::new(Mutex::new(NetState {
                rng: SplitMix64::new(seed),
                weather: Weather::default(),
                blocked: BTreeSet::new(),
                conns: Vec::new(),
                counts: BTreeMap::new(),
                digest: 0,
                log: std::env::var_os("SIM_NET_LOG").map(|_| Vec::new()),
                start: tokio::time::Instant::now(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the per-frame fault probabilities.
    pub fn set_weather(&self, w: Weather) {
        self.lock().weather = w;
    }

    /// Frames from `from` to `to` are lost until [`SimNet::heal`].
    pub fn block(&self, from: IpAddr, to: IpAddr) {
        self.lock().blocked.insert((from, to));
    }

    /// Lifts every partition.
    pub fn heal(&self) {
        self.lock().blocked.clear();
    }

    /// Lifts the partition from `from` to `to`.
    pub fn unblock(&self, from: IpAddr, to: IpAddr) {
        self.lock().blocked.remove(&(from, to));
    }

    /// Closes every open connection between `a` and `b` (both directions), as a reset does.
    pub fn sever(&self, a: IpAddr, b: IpAddr) {
        let mut s = self.lock();
        s.conns.retain(|(f, t, n)| {
            let Some(n) = n.upgrade() else { return false };
            if (*f == a && *t == b) || (*f == b && *t == a) {
                n.notify_one();
            }
            true
        });
    }

    /// Faults applied so far, by kind (`drop`, `duplicate`, `delay`, `partition_drop`).
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.lock().counts.clone()
    }

    /// The digest of every frame so far (see `NetState::digest`).
    pub fn digest(&self) -> u64 {
        self.lock().digest
    }

    /// The frame log (empty unless `SIM_NET_LOG` is set).
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone().unwrap_or_default()
    }

    /// What to do with one frame from `from` to `to`.
    fn decide(&self, from: IpAddr, to: IpAddr, frame: &bytes::Bytes) -> Fate {
        let mut s = self.lock();
        let micros = s.start.elapsed().as_micros() as u64;
        let name = libproc::wire::decode_frame_raw(frame)
            .map(|r| String::from_utf8_lossy(r.name).into_owned())
            .unwrap_or_default();
        let line = format!("{micros} {from}->{to} {name} {}", frame.len());
        s.digest = libproc::rng::hash_str(s.digest, &line);
        if let Some(log) = s.log.as_mut() {
            log.push(line);
        }
        if s.blocked.contains(&(from, to)) {
            *s.counts.entry("partition_drop").or_default() += 1;
            return Fate::Drop;
        }
        let w = s.weather;
        if w.drop > 0.0 && s.rng.next_f64() < w.drop {
            *s.counts.entry("drop").or_default() += 1;
            return Fate::Drop;
        }
        let copies = if w.duplicate > 0.0 && s.rng.next_f64() < w.duplicate {
            *s.counts.entry("duplicate").or_default() += 1;
            2
        } else {
            1
        };
        let delay = if w.delay > 0.0 && s.rng.next_f64() < w.delay {
            *s.counts.entry("delay").or_default() += 1;
            w.max_delay.mul_f64(s.rng.next_f64())
        } else {
            Duration::ZERO
        };
        Fate::Deliver { copies, delay }
    }
}

enum Fate {
    Drop,
    Deliver { copies: usize, delay: Duration },
}

impl Transport for SimNet {
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<Box<dyn Listener>>> {
        self.mem.listen(addr)
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move {
            let server = self.mem.connect(addr).await?;
            let (app, pump_end) = tokio::io::duplex(256 * 1024);
            tokio::spawn(pump(self.clone(), addr.ip(), pump_end, server));
            Ok(Box::new(app) as BoxStream)
        })
    }
}

/// Carries one connection: frames from the connecting side through [`SimNet::decide`],
/// bytes back as they are.
async fn pump(net: SimNet, to: IpAddr, client: tokio::io::DuplexStream, server: BoxStream) {
    let (mut c_read, mut c_write) = tokio::io::split(client);
    let (mut s_read, mut s_write) = tokio::io::split(server);
    let back = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut s_read, &mut c_write).await;
        let _ = c_write.shutdown().await;
    });
    let cut = Arc::new(Notify::new());
    let forward = async {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        // The handshake: magic, version, u16 length, the sender's address.
        while buf.len() < 7 {
            if c_read.read_buf(&mut buf).await.ok()? == 0 {
                return None::<()>;
            }
        }
        if &buf[..4] != libproc::wire::MAGIC {
            // Not the actor protocol (HTTP): copy as is.
            s_write.write_all(&buf).await.ok()?;
            tokio::io::copy(&mut c_read, &mut s_write).await.ok()?;
            return None;
        }
        let len = u16::from_be_bytes([buf[5], buf[6]]) as usize;
        while buf.len() < 7 + len {
            if c_read.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        }
        let from = libproc::wire::parse_handshake_addr(&buf[7..7 + len])?.ip();
        net.lock().conns.push((from, to, Arc::downgrade(&cut)));
        let hello = buf.split_to(7 + len);
        s_write.write_all(&hello).await.ok()?;
        let mut last = tokio::time::Instant::now();
        loop {
            match libproc::wire::split_frame(&mut buf, libproc::wire::DEFAULT_MAX_FRAME) {
                Err(_) => return None,
                Ok(Some(frame)) => {
                    let Fate::Deliver { copies, delay } = net.decide(from, to, &frame) else {
                        // Lost: a stream loses data only by breaking (TCP), so the
                        // connections between the two nodes reset (see the module doc).
                        net.sever(from, to);
                        return None;
                    };
                    let due = (tokio::time::Instant::now() + delay).max(last);
                    tokio::time::sleep_until(due).await;
                    last = due;
                    let mut out = BytesMut::with_capacity((4 + frame.len()) * copies);
                    for _ in 0..copies {
                        out.put_u32(frame.len() as u32);
                        out.put_slice(&frame);
                    }
                    s_write.write_all(&out).await.ok()?;
                }
                Ok(None) => {
                    if c_read.read_buf(&mut buf).await.ok()? == 0 {
                        return None;
                    }
                }
            }
        }
    };
    tokio::select! {
        biased;
        _ = cut.notified() => {}
        _ = forward => {}
    }
    back.abort();
}
