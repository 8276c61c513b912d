//! The agent's side of the v1 executor API (`POST /api/v1/executor`): a SUBSCRIBE opens
//! an event stream with a PID of its own ([`proto::v1::stream_pid`]) that registers with
//! the core like a libprocess executor; what the core sends that PID (SUBSCRIBED, LAUNCH,
//! KILL, SHUTDOWN) and the agent's acknowledgements and framework messages go down the
//! stream as v1 events. UPDATE and MESSAGE calls are the executor's status updates and
//! framework messages. A stream its client closes is a broken connection to that
//! executor: it is shut down unless its framework checkpoints, in which case it has the
//! recovery timeout to re-subscribe.
//! A SUBSCRIBE from an executor that was subscribed before (its connection broke, or the
//! agent restarted and recovered it) goes the core's re-registration way: its
//! unacknowledged updates are recorded, tasks it never received are lost, and its earlier
//! stream is closed.

use libproc::fxhash::FxHashMap;
use std::time::Duration;

use libproc::http::{body_channel, BodySender};
use libproc::{Ctx, HttpRequest, HttpResponse, Pid};
use proto::messages::{
    ExecutorToFrameworkMessage, FrameworkToExecutorMessage, StatusUpdateAcknowledgementMessage,
    StatusUpdateMessage,
};

use super::core::Disconnected;
use super::{AgentProcess, ToExecutor};
use crate::v1_executor::{self as v1, Call};

/// How many events a stream holds for a slow executor before it is dropped.
const STREAM_CAPACITY: usize = 10_000;
/// Seconds between HEARTBEAT events.
const HEARTBEAT_SECS: u64 = 15;

/// The open executor streams.
#[derive(Default)]
pub(super) struct Streams {
    by_pid: FxHashMap<Pid, BodySender>,
    opened: u64,
}

impl AgentProcess {
    /// `POST /api/v1/executor`.
    pub(super) fn executor_api(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        req: &HttpRequest,
    ) -> HttpResponse {
        if req.method != "POST" {
            return HttpResponse::text(405, "method not allowed; use POST\n")
                .with_header("Allow", "POST");
        }
        let ctype = req.header("content-type").unwrap_or("application/json");
        if !ctype.starts_with("application/json") {
            return HttpResponse::text(
                415,
                format!("content type '{ctype}' is not supported; send application/json\n"),
            );
        }
        let call = match v1::decode_call(&req.body) {
            Ok(c) => c,
            Err(why) => {
                return HttpResponse::bad_request(format!("Failed to validate call: {why}"))
            }
        };
        let Some((fid, eid)) = call.ids().map(|(f, e)| (f.clone(), e.clone())) else {
            return HttpResponse::bad_request("the call names no executor");
        };
        if let Call::Subscribe(msg) = call {
            return self.subscribe_executor(ctx, msg);
        }
        let pid = self
            .core
            .frameworks
            .get(&fid)
            .and_then(|f| f.executors.get(&eid))
            .and_then(|e| e.pid.clone())
            .filter(|p| self.http.by_pid.contains_key(p));
        let Some(pid) = pid else {
            return HttpResponse::text(
                403,
                format!("executor {eid} of framework {fid} is not subscribed\n"),
            );
        };
        match call {
            Call::Subscribe(_) => {}
            Call::Update(update) => self.status_update(
                ctx,
                pid,
                StatusUpdateMessage {
                    update: *update,
                    pid: None,
                },
            ),
            Call::Message { data, .. } => {
                let agent_id = self.info.id.clone().unwrap_or_default();
                self.send_master(
                    ctx,
                    ExecutorToFrameworkMessage {
                        agent_id,
                        framework_id: fid,
                        executor_id: eid,
                        data,
                    },
                );
            }
        }
        HttpResponse::text(202, "")
    }

    fn subscribe_executor(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        msg: proto::messages::ReregisterExecutorMessage,
    ) -> HttpResponse {
        self.http.opened += 1;
        let id = proto::v1::stream_id(&ctx.pid().to_string(), self.http.opened);
        let pid = proto::v1::stream_pid("executor", &id, ctx.pid().addr());
        let (sender, closed, body) = body_channel(STREAM_CAPACITY);
        self.http.by_pid.insert(pid.clone(), sender);
        tracing::info!(executor = %msg.executor_id, framework = %msg.framework_id, stream = %id, "executor subscribing over HTTP");
        let watched = pid.clone();
        ctx.spawn(closed, move |me: &mut AgentProcess, ctx, ()| {
            if me.http.by_pid.remove(&watched).is_some() {
                tracing::info!(%watched, "executor stream closed by its client");
                me.executor_stream_broke(ctx, &watched);
            }
        });
        self.arm_executor_heartbeat(ctx, pid.clone());
        // A retried or re-opened subscription replaces the executor's old stream, which
        // closes (Mesos closes the earlier connection too).
        let old = self
            .core
            .frameworks
            .get(&msg.framework_id)
            .and_then(|f| f.executors.get(&msg.executor_id))
            .and_then(|e| e.pid.clone())
            .filter(|p| *p != pid);
        self.resubscribe_executor(ctx, pid.clone(), msg);
        if let Some(old) = old {
            if self.http.by_pid.contains_key(&old)
                && self
                    .core
                    .frameworks
                    .values()
                    .flat_map(|f| f.executors.values())
                    .all(|e| e.pid.as_ref() != Some(&old))
            {
                tracing::info!(%old, "closing the executor's earlier stream");
                self.http.by_pid.remove(&old);
            }
        }
        HttpResponse::streaming(200, "application/json", body).with_header("Mesos-Stream-Id", &id)
    }

    /// The stream of the executor at `pid` is gone: Mesos shuts down the executor of a
    /// framework that does not checkpoint (it cannot reconnect), and gives that of a
    /// checkpointing one the recovery timeout to re-subscribe.
    fn executor_stream_broke(&mut self, ctx: &mut Ctx<'_, Self>, pid: &Pid) {
        self.executor_link_broke(ctx, pid);
        let grace = self.config.executor_shutdown_grace_period;
        match self.core.executor_disconnected(pid, grace) {
            Disconnected::Unknown => {}
            Disconnected::Shutdown(e) => self.apply(e, ctx),
            Disconnected::AwaitResubscription {
                framework_id,
                executor_id,
            } => {
                let pid = pid.clone();
                ctx.after(self.config.recovery_timeout, move |me: &mut Self, ctx| {
                    let grace = me.config.executor_shutdown_grace_period;
                    let e = me.core.executor_reconnect_expired(
                        &framework_id,
                        &executor_id,
                        &pid,
                        grace,
                    );
                    me.apply(e, ctx);
                });
            }
        }
    }

    fn arm_executor_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>, pid: Pid) {
        ctx.after(
            Duration::from_secs(HEARTBEAT_SECS),
            move |me: &mut AgentProcess, ctx| {
                if me.http.by_pid.contains_key(&pid) {
                    me.push_executor_event(ctx, &pid, &v1::heartbeat());
                    me.arm_executor_heartbeat(ctx, pid);
                }
            },
        );
    }

    fn push_executor_event(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        pid: &Pid,
        event: &serde_json::Value,
    ) {
        let Some(s) = self.http.by_pid.get(pid) else {
            tracing::debug!(%pid, "event for a closed executor stream; dropped");
            return;
        };
        if let Err(e) = s.send(v1::frame(event)) {
            tracing::warn!(%pid, error = %e, "dropping executor stream");
            self.http.by_pid.remove(pid);
            self.executor_stream_broke(ctx, pid);
        }
    }

    /// Carries out a core send to an executor stream.
    pub(super) fn send_to_executor_stream(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        pid: &Pid,
        msg: &ToExecutor,
    ) {
        self.push_executor_event(ctx, pid, &v1::event(msg));
    }

    /// ACKNOWLEDGED for an update an HTTP executor sent.
    pub(super) fn ack_executor_stream(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        pid: &Pid,
        ack: &StatusUpdateAcknowledgementMessage,
    ) {
        self.push_executor_event(ctx, pid, &v1::acknowledged(ack));
    }

    /// MESSAGE from the scheduler to an HTTP executor.
    pub(super) fn message_executor_stream(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        pid: &Pid,
        m: &FrameworkToExecutorMessage,
    ) {
        self.push_executor_event(ctx, pid, &v1::message(m));
    }
}
