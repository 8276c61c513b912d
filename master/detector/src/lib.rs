//! Who leads? Master detection for agents, schedulers and tools, and leadership
//! contention for masters — Mesos's `src/master/detector` and `src/master/contender`.
//!
//! A master is given as `host:port`, `id@ip:port`, or `zk://host1:port1,host2:port2/path`.
//! A [`DetectorProcess`] follows the leader and tells one process about every change with
//! a [`NewMasterDetected`] message (`master: None` while no leader is known). Masters
//! contend through ZooKeeper by creating an ephemeral sequential `json.info_NNNNNNNNNN`
//! znode holding their `MasterInfo` JSON (the form Mesos writes, so existing tools that
//! find a Mesos leader in ZooKeeper work unchanged); the lowest sequence leads.
//!
//! Modules: [`session`] (the seam: the ZooKeeper operations used here, on a real
//! ZooKeeper or on [`zk_model`], an in-memory ensemble for the simulation, chosen by the
//! servers string), [`zk`] (shared ZooKeeper plumbing and the leader-following loop),
//! [`contender`] (a master's candidacy and its [`contender::Lease`]), [`zk_store`] (a
//! chunked blob in ZooKeeper, for the registry), [`zk_test_server`] (a real ZooKeeper for
//! tests), [`tcp_proxy`] (a TCP proxy that tests cut, blackhole and restore, between a node
//! and ZooKeeper or anything else). The ZooKeeper client runs inside futures spawned with `Ctx::spawn`, so it stops
//! with the process that owns it; nothing here creates actix Systems or Arbiters.

pub mod contender;
pub mod fenced;
pub mod session;
pub mod tcp_proxy;
pub mod zk;
pub mod zk_model;
pub mod zk_store;
pub mod zk_test_server;

use std::fmt;
use std::net::ToSocketAddrs;
use std::str::FromStr;
use std::time::Duration;

use libproc::{Ctx, Handlers, Node, Pid, Process, ProcessRef, SpawnError};
use proto::MasterInfo;
use serde::{Deserialize, Serialize};

/// Where to find the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterAddress {
    /// One fixed master.
    Standalone(Pid),
    /// The leader among the masters contending under `path` on these ZooKeeper servers.
    ZooKeeper(ZkUrl),
}

/// A `zk://host:port[,host:port…]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// Comma-separated `host:port` list, as ZooKeeper clients take it.
    pub servers: String,
    /// The znode path masters contend under (e.g. `/mesos`), never empty, no trailing `/`.
    pub path: String,
}

impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zk://{}{}", self.servers, self.path)
    }
}

/// Why a master address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid master '{text}': {reason} (expected host:port, id@ip:port, or zk://host:port[,host:port]/path)")]
pub struct MasterAddressError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for ZkUrl {
    type Err = MasterAddressError;
    fn from_str(text: &str) -> Result<ZkUrl, MasterAddressError> {
        let err = |reason: &str| MasterAddressError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let rest = text
            .strip_prefix("zk://")
            .ok_or_else(|| err("a ZooKeeper URL starts with zk://"))?;
        // Credentials (`zk://user:pass@host`) are not supported.
        if rest.contains('@') {
            return Err(err("ZooKeeper credentials are not supported"));
        }
        let (servers, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => {
                return Err(err(
                    "missing the znode path after the servers (e.g. zk://127.0.0.1:2181/mesos)",
                ))
            }
        };
        let path = path.trim_end_matches('/');
        if servers.is_empty() {
            return Err(err("no ZooKeeper servers"));
        }
        for s in servers.split(',') {
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| err("each server needs host:port"))?;
            if host.is_empty() || port.parse::<u16>().map(|p| p == 0).unwrap_or(true) {
                return Err(err(
                    "each server needs host:port with a port from 1 to 65535",
                ));
            }
        }
        if path.is_empty() {
            return Err(err("the znode path must not be /"));
        }
        Ok(ZkUrl {
            servers: servers.to_string(),
            path: path.to_string(),
        })
    }
}

impl FromStr for MasterAddress {
    type Err = MasterAddressError;
    fn from_str(text: &str) -> Result<MasterAddress, MasterAddressError> {
        let text = text.trim();
        if text.starts_with("zk://") {
            return text.parse().map(MasterAddress::ZooKeeper);
        }
        let err = |reason: String| MasterAddressError {
            text: text.to_string(),
            reason,
        };
        if text.contains('@') {
            return text
                .parse::<Pid>()
                .map(MasterAddress::Standalone)
                .map_err(|e| err(e.to_string()));
        }
        let addr = text
            .to_socket_addrs()
            .map_err(|e| err(format!("cannot resolve: {e}")))?
            .min_by_key(|a| !a.is_ipv4())
            .ok_or_else(|| err("resolves to no address".into()))?;
        if addr.port() == 0 {
            return Err(err("port 0 is not a reachable port".into()));
        }
        Ok(MasterAddress::Standalone(Pid::new("master", addr)))
    }
}

/// Sent by a [`DetectorProcess`] to the process it serves whenever the leader changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMasterDetected {
    /// The leading master's PID, or `None` while no master leads.
    #[serde(default)]
    pub master: Option<Pid>,
    /// Its `MasterInfo` (as read from ZooKeeper), when known.
    #[serde(default)]
    pub info: Option<MasterInfo>,
}
libproc::message!(NewMasterDetected, "mesos.internal.NewMasterDetectedMessage");

/// Follows the leading master and tells `notify` about every change.
pub struct DetectorProcess {
    address: MasterAddress,
    notify: Pid,
    session_timeout: Duration,
    current: Option<NewMasterDetected>,
}

impl DetectorProcess {
    /// A detector for `address` reporting to `notify` (ZooKeeper session timeout: Mesos's
    /// default 10 s).
    pub fn new(address: MasterAddress, notify: Pid) -> DetectorProcess {
        DetectorProcess {
            address,
            notify,
            session_timeout: zk::DEFAULT_SESSION_TIMEOUT,
            current: None,
        }
    }

    /// Uses this ZooKeeper session timeout (how long a disconnection is tolerated before
    /// the leader is reported unknown).
    pub fn with_session_timeout(mut self, timeout: Duration) -> DetectorProcess {
        self.session_timeout = timeout;
        self
    }

    /// The last report sent (`None` before the first).
    pub fn current(&self) -> Option<&NewMasterDetected> {
        self.current.as_ref()
    }

    fn report(&mut self, ctx: &mut Ctx<'_, Self>, info: Option<MasterInfo>) {
        let msg = detected(info);
        if self.current.as_ref() == Some(&msg) {
            return;
        }
        match &msg.master {
            Some(pid) => tracing::info!(leader = %pid, "new leading master detected"),
            None => tracing::info!("no leading master detected"),
        }
        self.current = Some(msg.clone());
        ctx.send(&self.notify, msg);
    }
}

/// The PID of the master `info` describes: its `pid` field, else `master@ip:port`.
pub fn master_pid(info: &MasterInfo) -> Option<Pid> {
    info.pid.parse::<Pid>().ok().or_else(|| {
        let addr = std::net::SocketAddr::new(info.ipv4().into(), info.port);
        (info.port != 0).then(|| Pid::new("master", addr))
    })
}

/// The report for a leader (or none).
pub fn detected(info: Option<MasterInfo>) -> NewMasterDetected {
    match info {
        Some(info) => match master_pid(&info) {
            Some(pid) => NewMasterDetected {
                master: Some(pid),
                info: Some(info),
            },
            None => {
                tracing::warn!(pid = %info.pid, "leader's MasterInfo has no usable PID; ignoring it");
                NewMasterDetected {
                    master: None,
                    info: None,
                }
            }
        },
        None => NewMasterDetected {
            master: None,
            info: None,
        },
    }
}

/// Runs `fut` on the process (dropped when it stops); every value it sends on the
/// channel it is given is handed to `on` on the process, in order. This is how the
/// ZooKeeper loops (plain futures) talk to their processes.
pub fn spawn_reporting<P, T, F>(
    ctx: &mut Ctx<'_, P>,
    make: impl FnOnce(tokio::sync::mpsc::UnboundedSender<T>) -> F,
    on: fn(&mut P, &mut Ctx<'_, P>, T),
) where
    P: Process,
    T: 'static,
    F: std::future::Future<Output = ()> + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    ctx.spawn(make(tx), |_p: &mut P, _ctx: &mut Ctx<'_, P>, ()| {});
    pump(ctx, rx, on);
}

fn pump<P: Process, T: 'static>(
    ctx: &mut Ctx<'_, P>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<T>,
    on: fn(&mut P, &mut Ctx<'_, P>, T),
) {
    ctx.spawn(
        async move {
            let v = rx.recv().await;
            (v, rx)
        },
        move |p: &mut P, ctx: &mut Ctx<'_, P>, (v, rx)| {
            if let Some(v) = v {
                on(p, ctx, v);
                pump(ctx, rx, on);
            }
        },
    );
}

impl Process for DetectorProcess {
    /// Talks to ZooKeeper and to processes of its own node only.
    const REACH: libproc::Reach = libproc::Reach::LocalOnly;
    fn install(_h: &mut Handlers<Self>) {}

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self.address.clone() {
            MasterAddress::Standalone(pid) => {
                let msg = NewMasterDetected {
                    master: Some(pid),
                    info: None,
                };
                self.current = Some(msg.clone());
                ctx.send(&self.notify, msg);
            }
            MasterAddress::ZooKeeper(url) => {
                tracing::info!(%url, "detecting the leading master through ZooKeeper");
                let timeout = self.session_timeout;
                spawn_reporting(
                    ctx,
                    move |tx| {
                        zk::follow(url.servers, url.path, timeout, move |info| {
                            let _ = tx.send(info);
                        })
                    },
                    |me: &mut DetectorProcess, ctx, info| me.report(ctx, info),
                );
            }
        }
    }
}

/// Spawns a detector (id `detector(N)`) on `node` reporting to `notify`.
pub fn spawn(
    node: &Node,
    address: MasterAddress,
    notify: Pid,
) -> Result<ProcessRef<DetectorProcess>, SpawnError> {
    let id = node.generate_id("detector");
    node.spawn(&id, DetectorProcess::new(address, notify))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            "127.0.0.1:5050".parse::<MasterAddress>().unwrap(),
            MasterAddress::Standalone("master@127.0.0.1:5050".parse().unwrap())
        );
        assert_eq!(
            "master@10.0.0.1:5050".parse::<MasterAddress>().unwrap(),
            MasterAddress::Standalone("master@10.0.0.1:5050".parse().unwrap())
        );
        assert_eq!(
            "zk://h1:2181,h2:2182/mesos/"
                .parse::<MasterAddress>()
                .unwrap(),
            MasterAddress::ZooKeeper(ZkUrl {
                servers: "h1:2181,h2:2182".into(),
                path: "/mesos".into()
            })
        );
        for bad in [
            "zk://",
            "zk://h:1",
            "zk://h/mesos",
            "zk://h:0/x",
            "zk://h:1/",
            "master@nohost",
            "127.0.0.1:0",
        ] {
            let e = bad.parse::<MasterAddress>().unwrap_err().to_string();
            assert!(e.contains("expected host:port"), "{bad}: {e}");
        }
    }

    proptest! {
        #[test]
        // Digits only in host positions: a name would make the resolver ask DNS.
        fn never_panics(s in "(zk://)?[0-9.:,/@\\[\\]]{0,30}") {
            let _ = s.parse::<MasterAddress>();
        }
    }
}
