//! Process identity: the `Pid` (`id@ip:port`) that names every process on every node, and
//! the per-node id generator that hands out `slave(1)`, `slave(2)`, … as libprocess does.

use crate::fxhash::FxHashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::node::ProcessEntry;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The address of a process: its id on a node plus the node's listening address.
///
/// Printed as `id@ip:port` (IPv6 as `id@[::1]:port`). Cheap to clone: the id is shared.
/// Ordering is by address, then id, as in libprocess.
#[derive(Clone)]
pub struct Pid {
    inner: Arc<PidInner>,
}

struct PidInner {
    addr: SocketAddr,
    /// The whole `id@ip:port` text, made once so sends never format it again.
    text: Box<str>,
    /// Length of the id prefix of `text`.
    id_len: usize,
    /// The local process this PID was last delivered to (libprocess keeps the same
    /// "reference" in a UPID): a local send through a PID that has it skips the registry.
    route: OnceLock<Weak<ProcessEntry>>,
}

/// Why a string is not a valid [`Pid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PidParseError {
    /// No `@` between id and address.
    #[error(
        "invalid PID '{0}': expected 'id@ip:port' (e.g. 'master@127.0.0.1:5050'), found no '@'"
    )]
    MissingAt(String),
    /// Nothing before the `@`.
    #[error("invalid PID '{0}': the id before '@' is empty (expected 'id@ip:port')")]
    EmptyId(String),
    /// The part after `@` is not an IP literal with a port.
    #[error("invalid PID '{0}': '{1}' is not 'ip:port' (IPv4 like 10.0.0.1:5050 or IPv6 like [::1]:5050)")]
    BadAddress(String, String),
    /// Port zero cannot be reached.
    #[error("invalid PID '{0}': port 0 is not a reachable port")]
    ZeroPort(String),
}

impl Pid {
    /// A PID for process `id` on the node listening at `addr`.
    pub fn new(id: &str, addr: SocketAddr) -> Pid {
        Pid {
            inner: Arc::new(PidInner {
                addr,
                text: format!("{id}@{addr}").into(),
                id_len: id.len(),
                route: OnceLock::new(),
            }),
        }
    }

    /// The process id on its node (`master`, `slave(1)`, …).
    pub fn id(&self) -> &str {
        &self.inner.text[..self.inner.id_len]
    }

    /// The `id@ip:port` text.
    pub fn as_str(&self) -> &str {
        &self.inner.text
    }

    /// The node's listening address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The cached local process, if this PID has one and it is still alive.
    #[inline]
    pub(crate) fn cached_route(&self) -> Option<Arc<ProcessEntry>> {
        self.inner.route.get().and_then(Weak::upgrade)
    }

    /// Remembers the local process this PID names (first one wins; a dead one is ignored
    /// by [`cached_route`](Pid::cached_route) and the registry is asked instead).
    pub(crate) fn cache_route(&self, entry: &Arc<ProcessEntry>) {
        let _ = self.inner.route.set(Arc::downgrade(entry));
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.text)
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Pid {
    type Err = PidParseError;

    fn from_str(s: &str) -> Result<Pid, PidParseError> {
        // Split at the first '@', as libprocess does; ids never contain '@'.
        let (id, addr) = s
            .split_once('@')
            .ok_or_else(|| PidParseError::MissingAt(s.to_string()))?;
        if id.is_empty() {
            return Err(PidParseError::EmptyId(s.to_string()));
        }
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| PidParseError::BadAddress(s.to_string(), addr.to_string()))?;
        if addr.port() == 0 {
            return Err(PidParseError::ZeroPort(s.to_string()));
        }
        Ok(Pid::new(id, addr))
    }
}

impl PartialEq for Pid {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) || self.inner.text == other.inner.text
    }
}

impl Eq for Pid {}

impl std::hash::Hash for Pid {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.inner.text.hash(h)
    }
}

impl PartialOrd for Pid {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pid {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.addr()
            .cmp(&other.addr())
            .then_with(|| self.id().cmp(other.id()))
    }
}

impl Serialize for Pid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Pid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pid, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Hands out ids unique on one node: `generate("slave")` gives `slave(1)`, then `slave(2)`.
#[derive(Default)]
pub struct IdGenerator {
    next: Mutex<FxHashMap<String, u64>>,
}

impl IdGenerator {
    /// The next id with this prefix.
    pub fn generate(&self, prefix: &str) -> String {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let n = next.entry(prefix.to_string()).or_insert(0);
        *n += 1;
        format!("{prefix}({n})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_ipv4() {
        let pid: Pid = "master@127.0.0.1:5050".parse().unwrap();
        assert_eq!(pid.id(), "master");
        assert_eq!(pid.addr().port(), 5050);
        assert_eq!(pid.to_string(), "master@127.0.0.1:5050");
    }

    #[test]
    fn parses_and_prints_bracketed_ipv6() {
        let pid: Pid = "slave(1)@[::1]:5051".parse().unwrap();
        assert_eq!(pid.id(), "slave(1)");
        assert_eq!(pid.to_string(), "slave(1)@[::1]:5051");
    }

    #[test]
    fn malformed_pids_are_errors() {
        assert!(matches!(
            "master".parse::<Pid>(),
            Err(PidParseError::MissingAt(_))
        ));
        assert!(matches!(
            "@1.2.3.4:5".parse::<Pid>(),
            Err(PidParseError::EmptyId(_))
        ));
        assert!(matches!(
            "m@host:5".parse::<Pid>(),
            Err(PidParseError::BadAddress(..))
        ));
        assert!(matches!(
            "m@::1:5".parse::<Pid>(),
            Err(PidParseError::BadAddress(..))
        ));
        assert!(matches!(
            "m@1.2.3.4:0".parse::<Pid>(),
            Err(PidParseError::ZeroPort(_))
        ));
        assert!(matches!(
            "m@1.2.3.4:70000".parse::<Pid>(),
            Err(PidParseError::BadAddress(..))
        ));
        let msg = "m@1.2.3.4".parse::<Pid>().unwrap_err().to_string();
        assert!(msg.contains("ip:port"), "{msg}");
    }

    #[test]
    fn serde_uses_the_string_form() {
        let pid: Pid = "a@10.0.0.1:1".parse().unwrap();
        let json = serde_json::to_string(&pid).unwrap();
        assert_eq!(json, "\"a@10.0.0.1:1\"");
        let back: Pid = serde_json::from_str(&json).unwrap();
        assert_eq!(back, pid);
        assert!(serde_json::from_str::<Pid>("\"nope\"").is_err());
        let bytes = rmp_serde::to_vec_named(&pid).unwrap();
        assert_eq!(rmp_serde::from_slice::<Pid>(&bytes).unwrap(), pid);
    }

    #[test]
    fn generator_counts_per_prefix() {
        let g = IdGenerator::default();
        assert_eq!(g.generate("slave"), "slave(1)");
        assert_eq!(g.generate("slave"), "slave(2)");
        assert_eq!(g.generate("executor"), "executor(1)");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = s.parse::<Pid>();
        }

        #[test]
        fn display_round_trips(id in "[a-z][a-z0-9()_-]{0,20}", a: [u8; 4], v6: [u16; 8], port in 1u16.., six: bool) {
            let ip: std::net::IpAddr = if six { std::net::Ipv6Addr::from(v6).into() } else { std::net::Ipv4Addr::from(a).into() };
            let pid = Pid::new(id.as_str(), SocketAddr::new(ip, port));
            prop_assert_eq!(pid.to_string().parse::<Pid>().unwrap(), pid);
        }
    }
}
