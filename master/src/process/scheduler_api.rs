//! The shell's side of the v1 scheduler API (`POST /api/v1/scheduler`): each SUBSCRIBE
//! opens an event stream with its own PID (see [`crate::http_api`]); calls on it go to
//! the core as that PID's messages, and what the core sends that PID goes out on the
//! stream as v1 events. A stream that is closed by its client, or cannot keep up, is a
//! broken link to the core (the framework is disconnected and its failover timeout runs);
//! one the core unlinks (failover to a newer stream, removal) is closed after its last
//! event. Heartbeats go out every 15 s.

use libproc::fxhash::FxHashMap;

use libproc::http::{body_channel, BodySender};
use libproc::{Ctx, HttpRequest, HttpResponse, Pid};
use proto::messages::{FrameworkErrorMessage, RegisterFrameworkMessage, ShutdownExecutorMessage};
use proto::FrameworkId;

use super::MasterProcess;
use crate::core::Outbound;
use crate::http_api::scheduler::{self, Call};
use crate::http_api::stream_pid;

/// How many events a stream holds for a slow client before it is dropped.
const STREAM_CAPACITY: usize = 10_000;

/// The open scheduler streams.
#[derive(Default)]
pub(super) struct Streams {
    by_pid: FxHashMap<Pid, Stream>,
    by_id: FxHashMap<String, Pid>,
    opened: u64,
}

struct Stream {
    id: String,
    sender: BodySender,
}

impl Streams {
    /// A new stream id, unique to this master.
    fn new_id(&mut self, master_id: &str) -> String {
        self.opened += 1;
        proto::v1::stream_id(master_id, self.opened)
    }

    fn remove(&mut self, pid: &Pid) -> bool {
        match self.by_pid.remove(pid) {
            Some(s) => {
                self.by_id.remove(&s.id);
                true
            }
            None => false,
        }
    }
}

impl MasterProcess {
    /// `POST /api/v1/scheduler`.
    pub(super) fn scheduler_api(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        req: &HttpRequest,
    ) -> HttpResponse {
        if req.method != "POST" {
            return super::method_not_allowed(&req.method, "POST");
        }
        if let Some(r) = self.not_leader_response(ctx, req) {
            return r;
        }
        let ctype = req.header("content-type").unwrap_or("application/json");
        if !ctype.starts_with("application/json") {
            return HttpResponse::text(
                415,
                format!("content type '{ctype}' is not supported; send application/json\n"),
            );
        }
        let decoded = match scheduler::decode_call(&req.body) {
            Ok(d) => d,
            Err(why) => {
                return HttpResponse::bad_request(format!("Failed to validate call: {why}"))
            }
        };
        if let Call::Subscribe(mut info) = decoded.call {
            if let Err(refused) = self.subscriber_principal(req, &mut info) {
                self.refuse_registration(&refused);
                return HttpResponse::text(403, format!("{refused}\n"));
            }
            return self.subscribe(ctx, info);
        }
        let Some(framework_id) = decoded.framework_id else {
            return HttpResponse::bad_request("'framework_id' is required for this call type");
        };
        let pid = match self.stream_of(req, &framework_id) {
            Ok(pid) => pid,
            Err(why) => return HttpResponse::text(403, format!("{why}\n")),
        };
        self.count("master/messages_scheduler_calls");
        let fx = match decoded.call {
            Call::Subscribe(_) => Vec::new(),
            Call::Teardown(m) => {
                let fx = self.core.unregister_framework(&pid, m);
                self.apply(ctx, fx);
                self.close_stream(&pid);
                return HttpResponse::text(202, "");
            }
            Call::Accept(m) => self.core.accept(&pid, m),
            Call::Decline(m) => self.core.decline(&pid, m),
            Call::Revive(m) => self.core.revive(&pid, m),
            Call::Suppress(m) => self.core.suppress(&pid, m),
            Call::Kill(m) => self.core.kill_task(&pid, m),
            Call::Acknowledge(m) => self.core.acknowledge(&pid, m),
            Call::Reconcile(m) => self.core.reconcile(&pid, m),
            Call::Message(m) => self.core.framework_to_executor(&pid, m),
            Call::Shutdown {
                executor_id,
                agent_id,
            } => {
                match self.core.agents().get(&agent_id) {
                    Some(a) if a.connected => ctx.send(
                        &a.pid,
                        ShutdownExecutorMessage {
                            executor_id,
                            framework_id,
                        },
                    ),
                    _ => {
                        tracing::warn!(agent = %agent_id, "SHUTDOWN for an unknown or disconnected agent; dropped")
                    }
                }
                Vec::new()
            }
            Call::UpdateFramework(info) => match self.core.update_framework(&pid, info) {
                Ok(fx) => fx,
                Err(why) => {
                    return HttpResponse::bad_request(format!("Failed to update framework: {why}"))
                }
            },
            Call::Ignored(ty) => {
                tracing::debug!(call = %ty, framework = %framework_id, "scheduler call accepted and ignored");
                Vec::new()
            }
        };
        self.apply(ctx, fx);
        HttpResponse::text(202, "")
    }

    /// The stream PID of a call: its `Mesos-Stream-Id` must name an open stream on which
    /// `framework_id` is the subscribed framework.
    fn stream_of(&self, req: &HttpRequest, framework_id: &FrameworkId) -> Result<Pid, String> {
        let Some(id) = req.header("mesos-stream-id") else {
            return Err("all non-subscribe calls must carry the 'Mesos-Stream-Id' header".into());
        };
        let Some(pid) = self.http.by_id.get(id.trim()) else {
            return Err(format!("stream '{id}' is not open on this master"));
        };
        let connected = self
            .core
            .frameworks()
            .get(framework_id)
            .and_then(|f| f.connected_pid());
        if connected != Some(pid) {
            return Err(format!(
                "framework {framework_id} is not subscribed on stream '{id}'"
            ));
        }
        Ok(pid.clone())
    }

    /// With `--authenticate_http_frameworks` a subscriber is the principal it
    /// authenticated as (Basic): a `FrameworkInfo.principal` naming another is refused, an
    /// unset one is filled in, and, as for a driver, only the principal a framework
    /// registered as may fail it over.
    fn subscriber_principal(
        &self,
        req: &HttpRequest,
        info: &mut proto::FrameworkInfo,
    ) -> Result<(), String> {
        let Some(authenticated) = req.principal.as_deref() else {
            return Ok(());
        };
        match info.principal.as_deref() {
            Some(p) if p != authenticated => {
                return Err(format!(
                    "Authenticated principal '{authenticated}' does not match principal '{p}' set in FrameworkInfo"
                ))
            }
            Some(_) => {}
            None => info.principal = Some(authenticated.to_string()),
        }
        if let Some(f) = info
            .id
            .as_ref()
            .and_then(|id| self.core.frameworks().get(id))
        {
            if f.info.principal.as_deref() != Some(authenticated) {
                return Err(format!(
                    "Framework {} was registered by principal '{}'; principal '{authenticated}' may not fail it over",
                    f.id,
                    f.info.principal.as_deref().unwrap_or("")
                ));
            }
        }
        Ok(())
    }

    fn subscribe(&mut self, ctx: &mut Ctx<'_, Self>, info: proto::FrameworkInfo) -> HttpResponse {
        let id = self.http.new_id(&self.core.info().id);
        let pid = stream_pid(&id, ctx.pid().addr());
        let (sender, closed, body) = body_channel(STREAM_CAPACITY);
        self.http.by_id.insert(id.clone(), pid.clone());
        self.http.by_pid.insert(
            pid.clone(),
            Stream {
                id: id.clone(),
                sender,
            },
        );
        tracing::info!(stream = %id, framework = ?info.id, name = %info.name, "scheduler subscribing over HTTP");
        let watched = pid.clone();
        ctx.spawn(closed, move |me: &mut MasterProcess, ctx, ()| {
            if me.http.remove(&watched) {
                tracing::info!(%watched, "scheduler stream closed by its client");
                me.when_acting(ctx, move |me, ctx| {
                    let fx = me.core.exited(&watched);
                    me.apply(ctx, fx);
                });
            }
        });
        if let Err(denied) = crate::authorization::may_register(&self.core.config.acls, &info) {
            // Refused as Mesos refuses an HTTP framework: an ERROR event, then the end of
            // the stream.
            tracing::warn!(stream = %id, "{denied}");
            self.count("master/messages_register_framework");
            self.send_to_stream(
                ctx,
                &pid,
                Outbound::FrameworkErrorMessage(FrameworkErrorMessage { message: denied.0 }),
            );
            return HttpResponse::streaming(200, "application/json", body)
                .with_header("Mesos-Stream-Id", &id);
        }
        self.arm_heartbeat(ctx, pid.clone());
        self.count("master/messages_register_framework");
        let fx = self
            .core
            .register_framework(&pid, RegisterFrameworkMessage { framework: info });
        self.apply(ctx, fx);
        HttpResponse::streaming(200, "application/json", body).with_header("Mesos-Stream-Id", &id)
    }

    fn arm_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>, pid: Pid) {
        ctx.after(
            self.core.config.http_heartbeat_interval,
            move |me: &mut MasterProcess, ctx| {
                if me.http.by_pid.contains_key(&pid) {
                    me.push_event(ctx, &pid, &scheduler::heartbeat());
                    me.arm_heartbeat(ctx, pid);
                }
            },
        );
    }

    /// Sends one event on a stream; a stream whose client is gone or too slow is
    /// dropped, which the core sees as the scheduler's link breaking.
    fn push_event(&mut self, ctx: &mut Ctx<'_, Self>, pid: &Pid, event: &serde_json::Value) {
        let Some(s) = self.http.by_pid.get(pid) else {
            return;
        };
        if let Err(e) = s.sender.send(scheduler::frame(event)) {
            tracing::warn!(%pid, error = %e, "dropping scheduler stream");
            self.http.remove(pid);
            let pid = pid.clone();
            self.when_acting(ctx, move |me, ctx| {
                let fx = me.core.exited(&pid);
                me.apply(ctx, fx);
            });
        }
    }

    /// Carries out a core send to a stream PID.
    pub(super) fn send_to_stream(&mut self, ctx: &mut Ctx<'_, Self>, pid: &Pid, msg: Outbound) {
        let secs = self.core.config.http_heartbeat_interval.as_secs_f64();
        let Some(event) = scheduler::event(&msg, secs) else {
            tracing::debug!(%pid, message = msg.name(), "no v1 event for this message; dropped");
            return;
        };
        self.push_event(ctx, pid, &event);
        if matches!(msg, Outbound::FrameworkErrorMessage(_)) {
            // An error ends the subscription (Mesos closes the stream after ERROR).
            self.close_stream(pid);
        }
    }

    /// Ends a stream (its body finishes once what is queued is sent).
    pub(super) fn close_stream(&mut self, pid: &Pid) {
        if self.http.remove(pid) {
            tracing::debug!(%pid, "scheduler stream closed by the master");
        }
    }
}
