//! Master descriptions (`MasterInfo`) as published for leader detection.
//!
//! The JSON form matches what Mesos writes into ZooKeeper `json.info_*`
//! znodes, so Mesos-aware tools can read our leader records.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// A network address as Mesos's `Address` message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Address {
    /// Host name.
    #[serde(default)]
    pub hostname: String,
    /// Dotted IPv4 address text.
    pub ip: String,
    /// Port.
    pub port: u16,
}

/// Describes a master. Fields are in Mesos's JSON order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MasterInfo {
    /// Structured address.
    pub address: Address,
    /// Host name.
    #[serde(default)]
    pub hostname: String,
    /// Unique ID of this master instance.
    pub id: String,
    /// IPv4 address as Mesos stores it: the network-order octets read as a
    /// little-endian `u32` (127.0.0.1 is 16777343).
    pub ip: u32,
    /// The master's process ID, `master@ip:port`.
    pub pid: String,
    /// Port.
    pub port: u16,
    /// Software version, e.g. `1.11.0`.
    #[serde(default)]
    pub version: String,
}

impl MasterInfo {
    /// Describes the master process `master@ip:port`.
    pub fn new(
        id: impl Into<String>,
        ip: Ipv4Addr,
        port: u16,
        hostname: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        let hostname = hostname.into();
        MasterInfo {
            address: Address {
                hostname: hostname.clone(),
                ip: ip.to_string(),
                port,
            },
            hostname,
            id: id.into(),
            ip: u32::from_le_bytes(ip.octets()),
            pid: format!("master@{ip}:{port}"),
            port,
            version: version.into(),
        }
    }

    /// The IPv4 address decoded from the `ip` field.
    pub fn ipv4(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.ip.to_le_bytes())
    }

    /// The JSON text Mesos stores in a `json.info_*` znode.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON of a `json.info_*` znode.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn from_json_never_panics(s in "\\PC*") {
            let _ = MasterInfo::from_json(&s);
        }
    }

    #[test]
    fn zookeeper_json() {
        let m = MasterInfo::new(
            "m-1",
            Ipv4Addr::new(127, 0, 0, 1),
            5050,
            "localhost",
            "1.11.0",
        );
        assert_eq!(
            m.to_json(),
            r#"{"address":{"hostname":"localhost","ip":"127.0.0.1","port":5050},"hostname":"localhost","id":"m-1","ip":16777343,"pid":"master@127.0.0.1:5050","port":5050,"version":"1.11.0"}"#
        );
        assert_eq!(MasterInfo::from_json(&m.to_json()).unwrap(), m);
        assert_eq!(m.ipv4(), Ipv4Addr::new(127, 0, 0, 1));
        let other = MasterInfo::new("x", Ipv4Addr::new(10, 0, 0, 2), 1, "h", "v");
        assert_eq!(other.ip, 0x0200_000a);
        assert!(MasterInfo::from_json("{").is_err());
    }
}
