//! The shell's side of the v1 operator API (`POST /api/v1`): getters answered from the
//! core's state (the large ones, GET_STATE, GET_TASKS, GET_FRAMEWORKS, GET_AGENTS and
//! GET_EXECUTORS, rendered off the master's thread from a snapshot), changes (weights, quota, reservations, teardown, agents marked gone)
//! made through the same core calls as the v0 endpoints and answered once written, and
//! SUBSCRIBE streams that get SUBSCRIBED (the whole state), then the
//! events of every effect carried out ([`crate::http_api::operator::events`]) and a
//! HEARTBEAT every 15 s. A subscriber that goes away or cannot keep up is dropped.

use libproc::http::{body_channel, BodySender};
use libproc::{Ctx, HttpRequest, HttpResponse, Responder};
use proto::{AgentId, FrameworkId};

use super::MasterProcess;
use crate::core::Effect;
use crate::http_api::operator::{self, Call};
use crate::http_api::scheduler::{frame, heartbeat};

/// How many events a subscriber may fall behind before it is dropped.
const STREAM_CAPACITY: usize = 10_000;

/// How an operator call is answered.
enum Answer {
    /// At once.
    Now(HttpResponse),
    /// Once everything decided before it is written.
    InOrder(HttpResponse),
    /// A state getter: rendered from a snapshot off the master's thread, then in order.
    Render(Call),
}

/// The operator SUBSCRIBE streams.
#[derive(Default)]
pub(super) struct Subscribers {
    list: Vec<(u64, BodySender)>,
    opened: u64,
}

impl Subscribers {
    /// How many streams are open (`master/operator_event_stream_subscribers`).
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }
}

impl MasterProcess {
    /// `POST /api/v1`: answered once everything decided before it is written (a getter
    /// after a change sees it durable; a change is answered only once it is written),
    /// except SUBSCRIBE, whose stream starts at once.
    pub(super) fn operator_api_deferred(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        req: HttpRequest,
        responder: Responder,
    ) {
        match self.operator_api(ctx, &req) {
            Answer::Now(response) => responder.respond(response),
            Answer::InOrder(response) => self.reply_in_order(ctx, responder, response),
            Answer::Render(getter) => {
                // The state getters are large at scale: rendered off the master's thread
                // from a snapshot taken now (as `/master/state`), answered in order.
                let mut snapshot = self.core.clone();
                let flags = self.flags.clone();
                let principal = req.principal.clone();
                let render = libproc::offload::offload(move || {
                    let acls = snapshot.config.acls.clone();
                    crate::authorization::hide_unviewable(
                        &mut snapshot,
                        &acls,
                        principal.as_deref(),
                    );
                    let none = || serde_json::Value::Null;
                    operator::answer(&getter, &snapshot, &flags, none)
                        .and_then(|v| serde_json::to_vec(&v).ok())
                });
                ctx.spawn(render, move |me: &mut MasterProcess, ctx, body| {
                    let response = match body {
                        Ok(Some(body)) => HttpResponse::new(200, "application/json", body),
                        _ => HttpResponse::unavailable("the state could not be rendered"),
                    };
                    me.reply_in_order(ctx, responder, response);
                });
            }
        }
    }

    /// The answer to an operator call.
    fn operator_api(&mut self, ctx: &mut Ctx<'_, Self>, req: &HttpRequest) -> Answer {
        if let Some(refused) = proto::v1::operator::refuse_request(req) {
            return Answer::Now(refused);
        }
        let call = match operator::decode_call(&req.body) {
            Ok(c) => c,
            Err(why) => {
                return Answer::Now(HttpResponse::bad_request(format!(
                    "Failed to validate call: {why}"
                )))
            }
        };
        // Health, flags, version, metrics and logging are this master's own; the rest
        // the leader's.
        let local = matches!(
            call,
            Call::GetHealth
                | Call::GetFlags
                | Call::GetVersion
                | Call::GetMetrics
                | Call::GetLoggingLevel
                | Call::SetLoggingLevel { .. }
        );
        if !local {
            if let Some(r) = self.not_leader_response(ctx, req) {
                return Answer::Now(r);
            }
        }
        if let Err(denied) = self.authorize_operator_call(req, &call) {
            return Answer::Now(denied);
        }
        let response = match call {
            Call::Subscribe => return Answer::Now(self.operator_subscribe(ctx)),
            Call::GetState
            | Call::GetTasks
            | Call::GetFrameworks
            | Call::GetAgents
            | Call::GetExecutors => return Answer::Render(call),
            Call::SetLoggingLevel {
                level,
                duration_secs,
            } => {
                libproc::logging::set_verbosity(
                    level,
                    libproc::duration::secs_clamped(duration_secs),
                );
                HttpResponse::new(200, "text/plain", "")
            }
            // Changes: the same core paths as the v0 endpoints.
            Call::UpdateWeights(w) => self.operator_call(ctx, req, 200, |m, _| m.set_weights(w)),
            Call::UpdateQuota { force, configs } => {
                self.operator_call(ctx, req, 200, |m, _| m.update_quota(force, &configs))
            }
            Call::SetQuota(q) => self.operator_call(ctx, req, 200, |m, _| m.set_quota_json(&q)),
            Call::RemoveQuota(role) => {
                self.operator_call(ctx, req, 200, |m, _| m.remove_quota(&role))
            }
            Call::ReserveResources {
                agent_id,
                resources,
            } => self.operator_call(ctx, req, 202, |m, _| {
                m.reserve_resources(AgentId::new(agent_id), resources)
            }),
            Call::UnreserveResources {
                agent_id,
                resources,
            } => self.operator_call(ctx, req, 202, |m, _| {
                m.unreserve_resources(AgentId::new(agent_id), resources)
            }),
            Call::Teardown(id) => self.operator_call(ctx, req, 200, |m, _| {
                m.operator_teardown(&FrameworkId::new(id))
            }),
            Call::MarkAgentGone(id) => {
                self.operator_call(ctx, req, 200, |m, _| m.mark_agent_gone(&AgentId::new(id)))
            }
            getter => {
                if getter == Call::GetMetrics {
                    self.publish_metrics();
                }
                let node = self.node_label.clone();
                let answer = operator::answer(&getter, &self.core, &self.flags, || {
                    libproc::metrics::registry().snapshot_json(Some(&node))
                });
                match answer {
                    Some(v) => HttpResponse::json(&v),
                    None => HttpResponse::bad_request("this call has no answer"),
                }
            }
        };
        Answer::InOrder(response)
    }

    /// `--acls` on the calls that change the cluster (and GET_QUOTA), as on their v0
    /// endpoints.
    fn authorize_operator_call(&self, req: &HttpRequest, call: &Call) -> Result<(), HttpResponse> {
        use proto::acls::Action;
        let roles = |roles: Vec<String>, action| {
            self.authorize_http(req, action, roles.iter().map(|r| Some(r.as_str())))
        };
        match call {
            Call::Teardown(id) => self.authorize_teardown(req, &FrameworkId::new(id.clone())),
            Call::UpdateWeights(w) => roles(
                w.iter().map(|(r, _)| r.clone()).collect(),
                Action::UpdateWeight,
            ),
            Call::UpdateQuota { configs, .. } => {
                roles(crate::authorization::roles_of(configs), Action::UpdateQuota)
            }
            Call::SetQuota(q) => roles(
                crate::authorization::roles_of(std::slice::from_ref(q)),
                Action::UpdateQuota,
            ),
            Call::RemoveQuota(role) => roles(vec![role.clone()], Action::UpdateQuota),
            Call::GetQuota => self.authorize_http(req, Action::GetQuota, [None]),
            Call::ReserveResources { resources, .. } => roles(
                resources.roles().into_iter().collect(),
                Action::ReserveResources,
            ),
            Call::UnreserveResources { .. } => {
                self.authorize_http(req, Action::UnreserveResources, [None])
            }
            _ => Ok(()),
        }
    }

    fn operator_subscribe(&mut self, ctx: &mut Ctx<'_, Self>) -> HttpResponse {
        let (sender, _closed, body) = body_channel(STREAM_CAPACITY);
        let secs = self.core.config.http_heartbeat_interval.as_secs_f64();
        let _ = sender.send(frame(&operator::subscribed(&self.core, secs)));
        self.operators.opened += 1;
        let id = self.operators.opened;
        self.operators.list.push((id, sender));
        tracing::info!(subscriber = id, "operator API subscriber");
        self.arm_operator_heartbeat(ctx, id);
        HttpResponse::streaming(200, "application/json", body)
    }

    fn arm_operator_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>, id: u64) {
        ctx.after(
            self.core.config.http_heartbeat_interval,
            move |me: &mut MasterProcess, ctx| {
                let beat = frame(&heartbeat());
                let mut alive = false;
                me.operators.list.retain(|(i, s)| {
                    if *i != id {
                        return true;
                    }
                    alive = s.send(beat.clone()).is_ok();
                    alive
                });
                if alive {
                    me.arm_operator_heartbeat(ctx, id);
                }
            },
        );
    }

    /// Tells every operator subscriber what `effect` stands for.
    pub(super) fn observe_for_operators(&mut self, effect: &Effect) {
        if self.operators.list.is_empty() {
            return;
        }
        let events = operator::events(effect, &self.core);
        for event in events {
            let bytes = frame(&event);
            self.operators.list.retain(|(id, s)| match s.send(bytes.clone()) {
                Ok(()) => true,
                Err(e) => {
                    tracing::info!(subscriber = id, error = %e, "dropping operator API subscriber");
                    false
                }
            });
        }
    }
}
