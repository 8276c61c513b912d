//! A Mesos-DNS-style reader of `/master/state`: the A and SRV records Mesos-DNS would serve,
//! by its documented naming rules, so tests can check that our state feeds it.
//!
//! * `<task>.<framework>.<domain>` A: the task's IP (IP sources in Mesos-DNS's default order:
//!   the latest running status's `container_status.network_infos` address, then its
//!   `MesosContainerizer.NetworkSettings.IPAddress` label, then the agent's host), and
//!   `<task>.<framework>.slave.<domain>` A: the agent's IP.
//! * `_<task>._tcp.<framework>.<domain>` and `_udp` SRV: `<task>.<framework>.slave.<domain>`
//!   and each port of the task's `resources.ports`.
//! * `leader.<domain>` and `master.<domain>` A: the leader's IP (from `leader`, a UPID);
//!   `_leader._tcp.<domain>`/`_udp` SRV: `leader.<domain>` and its port.
//! * `slave.<domain>` A: every agent's IP; `_slave._tcp.<domain>` SRV: its port.
//!
//! Only `TASK_RUNNING` tasks get records; the task name is `discovery.name` when set; labels
//! are lower-cased with anything but `[a-z0-9-]` turned into `-`. As Mesos-DNS does, every
//! framework `pid` present must parse as a UPID (`name@ip:port`), or the whole state is
//! refused.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The records built from one state document.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Records {
    /// Name to IPs.
    pub a: BTreeMap<String, BTreeSet<String>>,
    /// Name to (target host, port).
    pub srv: BTreeMap<String, BTreeSet<(String, u16)>>,
}

/// A DNS label from a task or framework name.
pub fn label(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches('-').to_string()
}

/// The `ip:port` of a UPID `name@ip:port`.
fn upid(pid: &str) -> Result<(String, u16), String> {
    let (_, addr) = pid
        .split_once('@')
        .ok_or_else(|| format!("'{pid}' is not a UPID (name@ip:port)"))?;
    let (ip, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("'{pid}' has no port"))?;
    let port = port.parse().map_err(|_| format!("'{pid}': bad port"))?;
    if ip.is_empty() {
        return Err(format!("'{pid}' has no host"));
    }
    Ok((ip.to_string(), port))
}

/// Ports of a `"[a-b, c-d]"` ranges string.
fn ports(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for r in text.trim_matches(|c| c == '[' || c == ']').split(',') {
        let Some((a, b)) = r.trim().split_once('-') else {
            continue;
        };
        if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
            out.extend(a..=b.min(a.saturating_add(1000)));
        }
    }
    out
}

/// The task's IP by Mesos-DNS's default IP sources (netinfo, mesos, host).
fn task_ip(task: &Value, agent_ip: &str) -> String {
    let running = task["statuses"]
        .as_array()
        .and_then(|s| s.iter().rev().find(|s| s["state"] == "TASK_RUNNING"));
    if let Some(s) = running {
        let netinfo = s["container_status"]["network_infos"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|n| n["ip_addresses"].as_array().into_iter().flatten())
            .find_map(|a| a["ip_address"].as_str());
        if let Some(ip) = netinfo {
            return ip.to_string();
        }
        let label = s["labels"].as_array().into_iter().flatten().find_map(|l| {
            (l["key"] == "MesosContainerizer.NetworkSettings.IPAddress")
                .then(|| l["value"].as_str())
                .flatten()
        });
        if let Some(ip) = label {
            return ip.to_string();
        }
    }
    agent_ip.to_string()
}

/// Builds the records of `state` under `domain`.
pub fn records(state: &Value, domain: &str) -> Result<Records, String> {
    let mut r = Records::default();
    let mut a = |name: String, ip: &str| {
        r.a.entry(name).or_default().insert(ip.to_string());
    };
    let leader = state["leader"].as_str().ok_or("no leader in the state")?;
    let (leader_ip, leader_port) = upid(leader)?;
    a(format!("leader.{domain}"), &leader_ip);
    a(format!("master.{domain}"), &leader_ip);
    let mut agents: BTreeMap<String, (String, u16)> = BTreeMap::new();
    for s in state["slaves"].as_array().into_iter().flatten() {
        let id = s["id"].as_str().ok_or("an agent without id")?;
        let (ip, port) = upid(s["pid"].as_str().ok_or("an agent without pid")?)?;
        a(format!("slave.{domain}"), &ip);
        agents.insert(id.to_string(), (ip, port));
    }
    let mut srv: Vec<(String, (String, u16))> = Vec::new();
    for proto in ["tcp", "udp"] {
        srv.push((
            format!("_leader._{proto}.{domain}"),
            (format!("leader.{domain}"), leader_port),
        ));
    }
    for (_, port) in agents.values() {
        srv.push((
            format!("_slave._tcp.{domain}"),
            (format!("slave.{domain}"), *port),
        ));
    }
    for f in state["frameworks"].as_array().into_iter().flatten() {
        if let Some(pid) = f.get("pid") {
            upid(pid.as_str().ok_or("a framework pid that is not a string")?)?;
        }
        let fw = label(f["name"].as_str().unwrap_or_default());
        for t in f["tasks"].as_array().into_iter().flatten() {
            if t["state"] != "TASK_RUNNING" {
                continue;
            }
            let name = t["discovery"]["name"]
                .as_str()
                .or(t["name"].as_str())
                .unwrap_or_default();
            let task = label(name);
            let Some((agent_ip, _)) = t["slave_id"].as_str().and_then(|id| agents.get(id)) else {
                continue;
            };
            a(format!("{task}.{fw}.{domain}"), &task_ip(t, agent_ip));
            a(format!("{task}.{fw}.slave.{domain}"), agent_ip);
            let target = format!("{task}.{fw}.slave.{domain}");
            for port in ports(t["resources"]["ports"].as_str().unwrap_or_default()) {
                for proto in ["tcp", "udp"] {
                    srv.push((
                        format!("_{task}._{proto}.{fw}.{domain}"),
                        (target.clone(), port),
                    ));
                }
            }
        }
    }
    for (name, target) in srv {
        r.srv.entry(name).or_default().insert(target);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state() -> Value {
        json!({
            "leader": "master@10.0.0.1:5050",
            "slaves": [{"id": "S1", "pid": "slave(1)@10.0.0.2:5051"}],
            "frameworks": [{
                "name": "Marathon", "pid": "scheduler-1@10.0.0.9:1",
                "tasks": [
                    {"name": "web.app", "state": "TASK_RUNNING", "slave_id": "S1",
                     "resources": {"ports": "[31000-31001]"},
                     "statuses": [{"state": "TASK_RUNNING", "container_status":
                        {"network_infos": [{"ip_addresses": [{"ip_address": "172.17.0.5"}]}]}}]},
                    {"name": "gone", "state": "TASK_FINISHED", "slave_id": "S1", "resources": {}},
                    {"name": "x", "discovery": {"name": "Search"}, "state": "TASK_RUNNING",
                     "slave_id": "S1", "resources": {}, "statuses": []}
                ]
            }, {"name": "http-fw", "tasks": []}]
        })
    }

    #[test]
    fn builds_records_by_mesos_dns_rules() {
        let r = records(&state(), "mesos").unwrap();
        let ips = |n: &str| r.a.get(n).cloned().unwrap_or_default();
        assert_eq!(
            ips("leader.mesos"),
            BTreeSet::from(["10.0.0.1".to_string()])
        );
        assert_eq!(ips("slave.mesos"), BTreeSet::from(["10.0.0.2".to_string()]));
        assert_eq!(
            ips("web-app.marathon.mesos"),
            BTreeSet::from(["172.17.0.5".to_string()])
        );
        assert_eq!(
            ips("web-app.marathon.slave.mesos"),
            BTreeSet::from(["10.0.0.2".to_string()])
        );
        assert_eq!(
            ips("search.marathon.mesos"),
            BTreeSet::from(["10.0.0.2".to_string()])
        );
        assert!(!r.a.contains_key("gone.marathon.mesos"));
        let srv = &r.srv["_web-app._tcp.marathon.mesos"];
        assert!(srv.contains(&("web-app.marathon.slave.mesos".to_string(), 31001)));
        assert_eq!(srv.len(), 2);
        assert!(r.srv["_leader._tcp.mesos"].contains(&("leader.mesos".to_string(), 5050)));
    }

    #[test]
    fn an_empty_framework_pid_fails_the_parse_as_in_mesos_dns() {
        let mut s = state();
        s["frameworks"][1]["pid"] = json!("");
        assert!(records(&s, "mesos").unwrap_err().contains("UPID"));
    }
}
