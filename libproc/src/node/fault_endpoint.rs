//! The node's side of live fault injection: the `/fault/rules` endpoint, carrying out what
//! the rules decide for a message (drop, deliver late, deliver twice), the one-off actions
//! (sever, stall), and the `fault/*` metrics. The rules themselves are [`crate::fault`].

use super::*;
use crate::fault::{rule::Action, RuleSpec, Verdict, DISABLED};

impl NodeInner {
    /// Serves `/fault/rules` (`id`: the part after `/fault/rules/`).
    pub(super) fn fault_rules(
        self: &Arc<Self>,
        req: &HttpRequest,
        id: Option<&str>,
    ) -> HttpResponse {
        if !self.fault.enabled() {
            return HttpResponse::text(403, DISABLED);
        }
        match (req.method.as_str(), id) {
            ("GET", None) => HttpResponse::json(&serde_json::json!({
                "rules": self.fault.rules_json(),
            })),
            ("POST", None) => match RuleSpec::parse(&req.body) {
                Ok(spec) => self.apply_fault_rule(spec),
                Err(why) => HttpResponse::bad_request(why),
            },
            ("DELETE", None) => {
                let n = self.fault.clear();
                tracing::info!(removed = n, "fault rules cleared");
                HttpResponse::json(&serde_json::json!({ "removed": n }))
            }
            ("DELETE", Some(id)) => match id.parse::<u64>() {
                Ok(n) if self.fault.remove(n) => {
                    tracing::info!(id = n, "fault rule removed");
                    HttpResponse::json(&serde_json::json!({ "removed": 1 }))
                }
                Ok(n) => HttpResponse::text(404, format!("no fault rule {n} on this node\n")),
                Err(_) => HttpResponse::bad_request(format!(
                    "'{id}' is not a rule id: DELETE /fault/rules/<id> with a number from GET /fault/rules"
                )),
            },
            _ => HttpResponse::text(
                405,
                "use GET /fault/rules, POST /fault/rules (a JSON rule), DELETE /fault/rules or DELETE /fault/rules/<id>\n",
            )
            .with_header("allow", "GET, POST, DELETE"),
        }
    }

    /// Installs a rule, or carries out a one-off action, and answers the POST.
    fn apply_fault_rule(self: &Arc<Self>, spec: RuleSpec) -> HttpResponse {
        let rule = spec.to_json();
        match &spec.action {
            Action::Sever { peer } => {
                Node {
                    inner: self.clone(),
                }
                .sever(*peer);
                inc(&self.fault.counters.severs);
            }
            Action::Stall { process, ms } => {
                let Some(entry) = self.entry(process) else {
                    return HttpResponse::text(
                        404,
                        format!("no process '{process}' on this node\n"),
                    );
                };
                if let Some(m) = entry.mailbox() {
                    m.stall(Duration::from_millis(*ms));
                }
                inc(&self.fault.counters.stalls);
            }
            Action::Partition { peers } => {
                // Cut what is open now; the rule keeps new connections and messages out.
                let node = Node {
                    inner: self.clone(),
                };
                for addr in peers.iter().filter_map(|p| p.node()) {
                    node.sever(addr);
                }
            }
            _ => {}
        }
        let one_off = spec.action.is_one_off();
        let id = self.fault.add(spec);
        tracing::warn!(id, %rule, "fault rule applied");
        let mut body = serde_json::json!({ "rule": rule });
        if !one_off {
            body["id"] = id.into();
        }
        HttpResponse::json(&body)
    }

    /// Delivers a (filtered) envelope as the fault rules say.
    pub(super) fn deliver_with_faults(self: &Arc<Self>, env: Envelope) {
        match self.fault.decide(env.name.as_str(), &env.from, &env.to) {
            Verdict::Pass => self.deliver_unfiltered(env),
            Verdict::Drop | Verdict::Partitioned => {}
            Verdict::Delay(d) => {
                let node = self.clone();
                self.runtime.spawn(async move {
                    tokio::time::sleep(d).await;
                    node.deliver_unfiltered(env);
                });
            }
            Verdict::Duplicate(copies) => {
                if let Some(bytes) = env.payload.to_bytes() {
                    for _ in 0..copies {
                        self.deliver_unfiltered(Envelope {
                            from: env.from.clone(),
                            to: env.to.clone(),
                            name: env.name.clone(),
                            payload: Payload::Remote(bytes.clone()),
                            // A copy arrived over the same connection as the original.
                            connection: env.connection,
                        });
                    }
                }
                self.deliver_unfiltered(env);
            }
        }
    }

    /// Sends a frame to a peer as the fault rules decided for its message.
    pub(super) fn send_frame_with(
        self: &Arc<Self>,
        addr: SocketAddr,
        frame: Vec<u8>,
        verdict: Verdict,
    ) {
        match verdict {
            Verdict::Pass => self.send_frame(addr, frame),
            Verdict::Drop | Verdict::Partitioned => {}
            Verdict::Delay(d) => {
                let node = self.clone();
                self.runtime.spawn(async move {
                    tokio::time::sleep(d).await;
                    node.send_frame(addr, frame);
                });
            }
            Verdict::Duplicate(copies) => {
                for _ in 0..copies {
                    self.send_frame(addr, frame.clone());
                }
                self.send_frame(addr, frame);
            }
        }
    }

    /// Publishes the `fault/*` metrics (only on a node that has fault injection on).
    pub(super) fn publish_fault_metrics(&self, node: &str) {
        if !self.fault.enabled() {
            return;
        }
        let c = &self.fault.counters;
        let set = |name: &'static str, v: &AtomicU64| {
            metrics::counter!(name, "node" => node.to_string()).absolute(v.load(Ordering::Relaxed));
        };
        set("fault/messages_dropped", &c.messages_dropped);
        set("fault/messages_partitioned", &c.messages_partitioned);
        set("fault/messages_delayed", &c.messages_delayed);
        set("fault/messages_duplicated", &c.messages_duplicated);
        set("fault/connections_refused", &c.connections_refused);
        set("fault/severs", &c.severs);
        set("fault/stalls", &c.stalls);
        set("fault/disk_writes_failed", &c.disk_writes_failed);
        metrics::gauge!("fault/rules_active", "node" => node.to_string())
            .set(self.fault.len() as f64);
    }
}
