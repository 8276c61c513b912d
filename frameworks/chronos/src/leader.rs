//! Leader election among `chronos` processes: each contends through ZooKeeper (the
//! `detector` crate's contender, as masters do) with a candidacy znode holding its HTTP
//! address. The leader acts only while its [`Lease`] holds (renewed by every round trip to
//! ZooKeeper, valid no longer than its session could live), so a partitioned or paused
//! leader stops scheduling before a successor can be elected; when leadership is lost for
//! good the process exits and its supervisor restarts it as a follower.

use std::net::Ipv4Addr;
use std::time::Duration;

use detector::contender::{contend, ContenderEvent, Lease};
use detector::ZkUrl;
use proto::MasterInfo;
use tokio::sync::mpsc;

/// The candidacy data: this process's HTTP address.
pub fn candidacy(id: &str, ip: Ipv4Addr, http_port: u16, hostname: &str) -> MasterInfo {
    MasterInfo::new(id, ip, http_port, hostname, env!("CARGO_PKG_VERSION"))
}

/// `host:port` of a candidate's HTTP server.
pub fn http_address(info: &MasterInfo) -> String {
    let host = if info.address.hostname.is_empty() {
        info.address.ip.clone()
    } else {
        info.address.hostname.clone()
    };
    format!("{host}:{}", info.address.port)
}

/// Starts contending under `url` (on the current local task set); events arrive on the
/// returned channel.
pub fn start(
    url: ZkUrl,
    session_timeout: Duration,
    info: MasterInfo,
    lease: Lease,
) -> mpsc::UnboundedReceiver<ContenderEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::task::spawn_local(async move {
        let tx2 = tx.clone();
        contend(url, session_timeout, info, lease, move |e| {
            let _ = tx2.send(e);
        })
        .await;
        let _ = tx.send(ContenderEvent::Lost("contender ended".into()));
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidacy_names_the_http_address() {
        let i = candidacy("c1", Ipv4Addr::LOCALHOST, 4400, "");
        assert_eq!(http_address(&i), "127.0.0.1:4400");
        let i = candidacy("c1", Ipv4Addr::LOCALHOST, 4401, "box");
        assert_eq!(http_address(&i), "box:4401");
    }
}
