//! `mesos-chaos`: apply fault rules to a running cluster through each node's
//! `/fault/rules` endpoint (nodes started with `--enable_fault_injection`). The commands and
//! named scenarios are parsed here ([`Command::parse`]) and planned as plain data
//! ([`plan`]: which rule goes to which node), then carried out by [`run`].
//!
//! ```text
//! mesos-chaos add <node> '<rule json>'
//! mesos-chaos list <node>
//! mesos-chaos remove <node> <id>
//! mesos-chaos clear <node> [<node> ...]
//! mesos-chaos scenario <name> [--master=H:P] [--agent=H:P] [--masters=H:P,H:P] [--seconds=N] [--count=N]
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use libproc::testing::http_request;
use serde_json::{json, Value};

/// How to call `mesos-chaos` (printed with every usage error).
pub const USAGE: &str = "usage:
  mesos-chaos add <node host:port> '<rule json>'     install a rule (see docs/fault-injection.md)
  mesos-chaos list <node>                            the node's rules
  mesos-chaos remove <node> <id>                     remove one rule
  mesos-chaos clear <node> [<node> ...]              remove every rule
  mesos-chaos scenario <name> [options]              apply a named scenario
scenarios:
  partition-agent       --master=H:P --agent=H:P   cut the agent and the master off from each other
  drop-status-updates   --master=H:P               the master drops status updates from agents
  drop-acknowledgements --master=H:P               the master drops the acknowledgements it relays to agents
  fail-registry-writes  --master=H:P [--count=N]   the next N registry writes fail
  fail-checkpoints      --agent=H:P  [--count=N]   the agent's next N checkpoint writes fail
  stall-master          --master=H:P --seconds=N   the master process blocks for N seconds
  leader-isolation      --masters=H:P,H:P,...      cut the leading master off from the other masters and every agent
options:
  --seconds=N   keep the scenario's rules N seconds, then remove them (0, the default: leave them; `clear` removes)
  --count=N     how many writes fail (default 1)";

/// A named scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Partition one agent from the master (rules on both).
    PartitionAgent,
    /// The master drops `StatusUpdateMessage`s.
    DropStatusUpdates,
    /// The master drops the `StatusUpdateAcknowledgementMessage`s it relays to agents (the
    /// master→agent leg only: it still hears the scheduler's acknowledgement).
    DropAcknowledgements,
    /// The master's next registry writes fail.
    FailRegistryWrites,
    /// The agent's next checkpoint writes fail.
    FailCheckpoints,
    /// The master process stalls.
    StallMaster,
    /// The leading master is cut off from the other masters and the agents.
    LeaderIsolation,
}

impl Scenario {
    fn parse(name: &str) -> Option<Scenario> {
        Some(match name {
            "partition-agent" => Scenario::PartitionAgent,
            "drop-status-updates" => Scenario::DropStatusUpdates,
            "drop-acknowledgements" => Scenario::DropAcknowledgements,
            "fail-registry-writes" => Scenario::FailRegistryWrites,
            "fail-checkpoints" => Scenario::FailCheckpoints,
            "stall-master" => Scenario::StallMaster,
            "leader-isolation" => Scenario::LeaderIsolation,
            _ => return None,
        })
    }
}

/// Options of `scenario`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioArgs {
    /// `--master`.
    pub master: Option<String>,
    /// `--agent`.
    pub agent: Option<String>,
    /// `--masters`.
    pub masters: Vec<String>,
    /// `--seconds` (0: leave the rules in place).
    pub seconds: u64,
    /// `--count`.
    pub count: u64,
}

/// One `mesos-chaos` invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `add <node> <json>`.
    Add(String, String),
    /// `list <node>`.
    List(String),
    /// `remove <node> <id>`.
    Remove(String, u64),
    /// `clear <node>...`.
    Clear(Vec<String>),
    /// `scenario <name> ...`.
    Scenario(Scenario, ScenarioArgs),
}

impl Command {
    /// Parses the arguments (without the program name); the error says what is wrong.
    pub fn parse(args: &[String]) -> Result<Command, String> {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["add", node, rule] => {
                serde_json::from_str::<Value>(rule)
                    .map_err(|e| format!("the rule is not JSON: {e}"))?;
                Ok(Command::Add(node.to_string(), rule.to_string()))
            }
            ["list", node] => Ok(Command::List(node.to_string())),
            ["remove", node, id] => id
                .parse()
                .map(|id| Command::Remove(node.to_string(), id))
                .map_err(|_| format!("'{id}' is not a rule id (a number from `list`)")),
            ["clear", nodes @ ..] if !nodes.is_empty() => Ok(Command::Clear(
                nodes.iter().map(|n| n.to_string()).collect(),
            )),
            ["scenario", name, opts @ ..] => {
                let s =
                    Scenario::parse(name).ok_or_else(|| format!("unknown scenario '{name}'"))?;
                let mut sa = ScenarioArgs {
                    count: 1,
                    ..ScenarioArgs::default()
                };
                for o in opts {
                    let (k, v) = o
                        .strip_prefix("--")
                        .and_then(|o| o.split_once('='))
                        .ok_or_else(|| format!("'{o}' is not --name=value"))?;
                    let number = |v: &str| {
                        v.parse::<u64>()
                            .map_err(|_| format!("--{k}='{v}' is not a whole number"))
                    };
                    match k {
                        "master" => sa.master = Some(v.to_string()),
                        "agent" => sa.agent = Some(v.to_string()),
                        "masters" => sa.masters = v.split(',').map(str::to_string).collect(),
                        "seconds" => sa.seconds = number(v)?,
                        "count" => sa.count = number(v)?.max(1),
                        _ => return Err(format!("unknown option --{k}")),
                    }
                }
                let need = |what: &Option<String>, flag: &str| {
                    what.as_ref()
                        .map(|_| ())
                        .ok_or_else(|| format!("scenario '{name}' needs --{flag}=host:port"))
                };
                match s {
                    Scenario::PartitionAgent => {
                        need(&sa.master, "master")?;
                        need(&sa.agent, "agent")?;
                    }
                    Scenario::DropStatusUpdates
                    | Scenario::DropAcknowledgements
                    | Scenario::FailRegistryWrites => need(&sa.master, "master")?,
                    Scenario::StallMaster => {
                        need(&sa.master, "master")?;
                        if sa.seconds == 0 {
                            return Err("stall-master needs --seconds=N (N > 0)".into());
                        }
                    }
                    Scenario::FailCheckpoints => need(&sa.agent, "agent")?,
                    Scenario::LeaderIsolation if sa.masters.len() < 2 => {
                        return Err(
                            "leader-isolation needs --masters=H:P,H:P[,...] (two or more)".into(),
                        )
                    }
                    Scenario::LeaderIsolation => {}
                }
                Ok(Command::Scenario(s, sa))
            }
            [] => Err("no command".into()),
            [cmd, ..] => Err(format!("'{cmd}' with these arguments is not a command")),
        }
    }
}

/// The addresses a scenario's rules name, as the nodes themselves see them (their PIDs'
/// addresses), found out from the running cluster by [`run`].
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// The master (or the leading master) `host:port` the user gave, and its PID address.
    pub master: Option<(String, SocketAddr)>,
    /// The agent `host:port` the user gave, and its PID address.
    pub agent: Option<(String, SocketAddr)>,
    /// The other masters (leader-isolation), as given and as PID addresses.
    pub other_masters: Vec<(String, SocketAddr)>,
    /// Every agent's PID address (leader-isolation).
    pub agents: Vec<SocketAddr>,
}

/// Which rule goes to which node (`host:port` as given) for a scenario.
pub fn plan(s: Scenario, args: &ScenarioArgs, c: &Cluster) -> Vec<(String, Value)> {
    let partition = |peers: Vec<SocketAddr>| json!({"kind": "partition", "peers": peers.iter().map(|p| p.to_string()).collect::<Vec<_>>()});
    let mut out = Vec::new();
    match s {
        Scenario::PartitionAgent => {
            if let (Some((m, ma)), Some((a, aa))) = (&c.master, &c.agent) {
                out.push((m.clone(), partition(vec![*aa])));
                out.push((a.clone(), partition(vec![*ma])));
            }
        }
        Scenario::DropStatusUpdates => {
            if let Some((m, _)) = &c.master {
                out.push((
                    m.clone(),
                    json!({"kind": "drop", "name": "mesos.internal.StatusUpdateMessage"}),
                ));
            }
        }
        Scenario::DropAcknowledgements => {
            if let Some((m, _)) = &c.master {
                // `to` an agent: the rule passes the scheduler's acknowledgement into the
                // master and drops the copy the master sends on.
                out.push((
                    m.clone(),
                    json!({"kind": "drop", "name": "mesos.internal.StatusUpdateAcknowledgementMessage", "to": "slave(*)@*"}),
                ));
            }
        }
        Scenario::FailRegistryWrites => {
            if let Some((m, _)) = &c.master {
                out.push((
                    m.clone(),
                    json!({"kind": "fail_disk_writes", "target": "registry", "count": args.count}),
                ));
            }
        }
        Scenario::FailCheckpoints => {
            if let Some((a, _)) = &c.agent {
                out.push((
                    a.clone(),
                    json!({"kind": "fail_disk_writes", "target": "checkpoint", "count": args.count}),
                ));
            }
        }
        Scenario::StallMaster => {
            if let Some((m, _)) = &c.master {
                out.push((
                    m.clone(),
                    json!({"kind": "stall", "process": "master", "ms": args.seconds * 1000}),
                ));
            }
        }
        Scenario::LeaderIsolation => {
            if let Some((l, la)) = &c.master {
                let mut cut: Vec<SocketAddr> = c.other_masters.iter().map(|(_, a)| *a).collect();
                cut.extend(c.agents.iter().copied());
                out.push((l.clone(), partition(cut)));
                for (m, _) in &c.other_masters {
                    out.push((m.clone(), partition(vec![*la])));
                }
            }
        }
    }
    out
}

async fn resolve(node: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(node)
        .await
        .map_err(|e| format!("cannot resolve '{node}': {e} (expected host:port)"))?
        .next()
        .ok_or_else(|| format!("'{node}' resolves to no address"))
}

/// `METHOD path` on `node`; the body on 2xx, else an error naming the node and the answer.
async fn call(node: &str, method: &str, path: &str, body: &[u8]) -> Result<String, String> {
    let addr = resolve(node).await?;
    let (status, text) = http_request(addr, method, path, body)
        .await
        .map_err(|e| format!("{node}: {e}"))?;
    if (200..300).contains(&status) {
        Ok(text)
    } else {
        Err(format!("{node} answered {status}: {}", text.trim()))
    }
}

fn pid_addr(v: &Value) -> Option<SocketAddr> {
    let pid: libproc::Pid = v.as_str()?.parse().ok()?;
    Some(pid.addr())
}

async fn master_state(node: &str) -> Result<Value, String> {
    let text = call(node, "GET", "/master/state", b"").await?;
    serde_json::from_str(&text).map_err(|e| format!("{node}: /master/state is not JSON: {e}"))
}

/// The agents' PID addresses in a master's state.
fn agent_addrs(state: &Value) -> Vec<SocketAddr> {
    state["slaves"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| pid_addr(&s["pid"])).collect())
        .unwrap_or_default()
}

/// Finds out the addresses the scenario's rules must name.
async fn discover(s: Scenario, args: &ScenarioArgs) -> Result<Cluster, String> {
    let mut c = Cluster::default();
    if s == Scenario::LeaderIsolation {
        let mut leader = None;
        for m in &args.masters {
            if let Ok(state) = master_state(m).await {
                leader = pid_addr(&state["leader"]);
                c.agents = agent_addrs(&state);
                if leader.is_some() && !c.agents.is_empty() {
                    break;
                }
            }
        }
        let leader = leader.ok_or("no master named a leader")?;
        for m in &args.masters {
            // A standby redirects /master/state to the leader (307): it is known by the
            // address given.
            let state = master_state(m).await.unwrap_or(Value::Null);
            let own = match pid_addr(&state["pid"]) {
                Some(a) => a,
                None => resolve(m).await?,
            };
            if own == leader {
                c.master = Some((m.clone(), own));
            } else {
                c.other_masters.push((m.clone(), own));
            }
        }
        if c.master.is_none() {
            return Err(format!("the leader {leader} is none of --masters"));
        }
        return Ok(c);
    }
    if let Some(m) = &args.master {
        let state = if s == Scenario::FailCheckpoints {
            Value::Null
        } else {
            master_state(m).await?
        };
        let own = pid_addr(&state["pid"]).unwrap_or(resolve(m).await?);
        c.master = Some((m.clone(), own));
        if let Some(a) = &args.agent {
            let given = resolve(a).await?;
            let known = agent_addrs(&state);
            // The agent as the master knows it: the same address, else the one agent on
            // that port (a host name the master does not see).
            let same_port: Vec<_> = known.iter().filter(|k| k.port() == given.port()).collect();
            let own = if known.contains(&given) {
                given
            } else if same_port.len() == 1 {
                *same_port[0]
            } else {
                given
            };
            c.agent = Some((a.clone(), own));
        }
    } else if let Some(a) = &args.agent {
        c.agent = Some((a.clone(), resolve(a).await?));
    }
    Ok(c)
}

/// Carries out a command; returns what to print.
pub async fn run(cmd: Command) -> Result<String, String> {
    match cmd {
        Command::Add(node, rule) => call(&node, "POST", "/fault/rules", rule.as_bytes()).await,
        Command::List(node) => call(&node, "GET", "/fault/rules", b"").await,
        Command::Remove(node, id) => {
            call(&node, "DELETE", &format!("/fault/rules/{id}"), b"").await
        }
        Command::Clear(nodes) => {
            let mut out = String::new();
            for n in nodes {
                out.push_str(&format!(
                    "{n}: {}\n",
                    call(&n, "DELETE", "/fault/rules", b"").await?.trim()
                ));
            }
            Ok(out)
        }
        Command::Scenario(s, args) => {
            let cluster = discover(s, &args).await?;
            let mut installed = Vec::new();
            let mut out = String::new();
            for (node, rule) in plan(s, &args, &cluster) {
                let answer =
                    call(&node, "POST", "/fault/rules", rule.to_string().as_bytes()).await?;
                out.push_str(&format!("{node}: {}\n", answer.trim()));
                let id = serde_json::from_str::<Value>(&answer)
                    .ok()
                    .and_then(|v| v["id"].as_u64());
                if let Some(id) = id {
                    installed.push((node, id));
                }
            }
            if args.seconds > 0 && s != Scenario::StallMaster {
                tokio::time::sleep(Duration::from_secs(args.seconds)).await;
                for (node, id) in installed {
                    // A rule that retired on its own (count reached) is gone already.
                    let _ = call(&node, "DELETE", &format!("/fault/rules/{id}"), b"").await;
                    out.push_str(&format!("{node}: removed rule {id}\n"));
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn commands_parse_and_bad_ones_say_what_is_wrong() {
        assert_eq!(
            Command::parse(&args("list 127.0.0.1:5050")),
            Ok(Command::List("127.0.0.1:5050".into()))
        );
        assert_eq!(
            Command::parse(&args("remove m:5050 3")),
            Ok(Command::Remove("m:5050".into(), 3))
        );
        let Ok(Command::Scenario(Scenario::PartitionAgent, sa)) = Command::parse(&args(
            "scenario partition-agent --master=m:5050 --agent=a:5051 --seconds=5",
        )) else {
            panic!()
        };
        assert_eq!((sa.seconds, sa.count), (5, 1));
        for (bad, says) in [
            ("", "no command"),
            ("add m:5050 {x", "not JSON"),
            ("remove m:5050 x", "not a rule id"),
            ("scenario explode", "unknown scenario"),
            ("scenario partition-agent --master=m:1", "needs --agent"),
            ("scenario stall-master --master=m:1", "--seconds"),
            ("scenario drop-acknowledgements", "needs --master"),
            ("scenario leader-isolation --masters=a:1", "two or more"),
            (
                "scenario drop-status-updates --master=m:1 --seconds=x",
                "whole number",
            ),
            (
                "scenario drop-status-updates --master=m:1 --bogus=1",
                "unknown option",
            ),
            ("frobnicate", "not a command"),
        ] {
            let e = Command::parse(&args(bad)).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn plans_put_each_rule_on_its_node() {
        let c = Cluster {
            master: Some(("m:5050".into(), "10.0.0.1:5050".parse().unwrap())),
            agent: Some(("a:5051".into(), "10.0.0.2:5051".parse().unwrap())),
            other_masters: vec![("m2:5050".into(), "10.0.0.3:5050".parse().unwrap())],
            agents: vec!["10.0.0.2:5051".parse().unwrap()],
        };
        let sa = ScenarioArgs {
            count: 2,
            seconds: 3,
            ..ScenarioArgs::default()
        };
        let p = plan(Scenario::PartitionAgent, &sa, &c);
        assert_eq!(
            p[0],
            (
                "m:5050".into(),
                json!({"kind":"partition","peers":["10.0.0.2:5051"]})
            )
        );
        assert_eq!(
            p[1],
            (
                "a:5051".into(),
                json!({"kind":"partition","peers":["10.0.0.1:5050"]})
            )
        );
        let p = plan(Scenario::LeaderIsolation, &sa, &c);
        assert_eq!(p[0].1["peers"], json!(["10.0.0.3:5050", "10.0.0.2:5051"]));
        assert_eq!(
            p[1],
            (
                "m2:5050".into(),
                json!({"kind":"partition","peers":["10.0.0.1:5050"]})
            )
        );
        assert_eq!(plan(Scenario::FailCheckpoints, &sa, &c)[0].1["count"], 2);
        assert_eq!(plan(Scenario::StallMaster, &sa, &c)[0].1["ms"], 3000);
        // drop-acknowledgements: the master's rule drops the acknowledgement it relays to an
        // agent and lets the scheduler's (to the master itself) through.
        let p = plan(Scenario::DropAcknowledgements, &sa, &c);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "m:5050");
        let inj = libproc::fault::Injector::new(true);
        inj.add(libproc::fault::RuleSpec::parse(p[0].1.to_string().as_bytes()).unwrap());
        let pid = |s: &str| s.parse::<libproc::Pid>().unwrap();
        let (master, agent) = (pid("master@10.0.0.1:5050"), pid("slave(1)@10.0.0.2:5051"));
        let scheduler = pid("scheduler-1@10.0.0.9:4000");
        let ack = "mesos.internal.StatusUpdateAcknowledgementMessage";
        use libproc::fault::Verdict;
        assert_eq!(inj.decide(ack, &master, &agent), Verdict::Drop);
        assert_eq!(inj.decide(ack, &scheduler, &master), Verdict::Pass);
        let update = "mesos.internal.StatusUpdateMessage";
        assert_eq!(inj.decide(update, &agent, &master), Verdict::Pass);
        assert_eq!(inj.decide(update, &master, &scheduler), Verdict::Pass);
        // Every planned rule is one the nodes accept.
        for s in [
            Scenario::PartitionAgent,
            Scenario::DropStatusUpdates,
            Scenario::DropAcknowledgements,
            Scenario::FailRegistryWrites,
            Scenario::FailCheckpoints,
            Scenario::StallMaster,
            Scenario::LeaderIsolation,
        ] {
            for (_, rule) in plan(s, &sa, &c) {
                libproc::fault::RuleSpec::parse(rule.to_string().as_bytes())
                    .unwrap_or_else(|e| panic!("{s:?}: {e}"));
            }
        }
    }
}
