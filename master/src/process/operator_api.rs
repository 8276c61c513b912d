//! The shell's side of the v1 operator API (`POST /api/v1`): getters answered from the
//! core's state, and SUBSCRIBE streams that get SUBSCRIBED (the whole state), then the
//! events of every effect carried out ([`crate::http_api::operator::events`]) and a
//! HEARTBEAT every 15 s. A subscriber that goes away or cannot keep up is dropped.

use libproc::http::{body_channel, BodySender};
use libproc::{Ctx, HttpRequest, HttpResponse};

use super::MasterProcess;
use crate::core::Effect;
use crate::http_api::operator::{self, Call};
use crate::http_api::scheduler::{frame, heartbeat};

/// How many events a subscriber may fall behind before it is dropped.
const STREAM_CAPACITY: usize = 10_000;

/// The operator SUBSCRIBE streams.
#[derive(Default)]
pub(super) struct Subscribers {
    list: Vec<(u64, BodySender)>,
    opened: u64,
}

impl MasterProcess {
    /// `POST /api/v1`.
    pub(super) fn operator_api(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        req: &HttpRequest,
    ) -> HttpResponse {
        if req.method != "POST" {
            return super::method_not_allowed(&req.method, "POST");
        }
        let ctype = req.header("content-type").unwrap_or("application/json");
        if !ctype.starts_with("application/json") {
            return HttpResponse::text(
                415,
                format!("content type '{ctype}' is not supported; send application/json\n"),
            );
        }
        let call = match operator::decode_call(&req.body) {
            Ok(c) => c,
            Err(why) => {
                return HttpResponse::bad_request(format!("Failed to validate call: {why}"))
            }
        };
        // Health, flags, version and metrics are this master's own; the rest the leader's.
        let local = matches!(
            call,
            Call::GetHealth | Call::GetFlags | Call::GetVersion | Call::GetMetrics
        );
        if !local {
            if let Some(r) = self.not_leader_response(ctx, req) {
                return r;
            }
        }
        if call == Call::Subscribe {
            return self.operator_subscribe(ctx);
        }
        if call == Call::GetMetrics {
            self.publish_metrics();
        }
        let node = self.node_label.clone();
        let answer = operator::answer(call, &self.core, &self.flags, || {
            libproc::metrics::registry().snapshot_json(Some(&node))
        });
        match answer {
            Some(v) => HttpResponse::json(&v),
            None => HttpResponse::bad_request("this call has no answer"),
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
