//! The master's actor shell: feeds messages, link breaks and timers into the pure
//! [`Master`](crate::core::Master) core and carries its effects out (sends, allocator
//! calls, links, timers). Also serves the operator HTTP routes and publishes metrics.

use std::time::Duration;

use libproc::{Ctx, Handlers, HttpRequest, HttpResponse, Message, Pid, Process};
use proto::messages::*;
use proto::OfferId;

use crate::allocator::protocol::Offers;
use crate::config::MasterConfig;
use crate::core::{Effect, Master, Sink};
use crate::json;

/// The process id of the master (`master@ip:port`).
pub const MASTER_ID: &str = "master";
/// The process id of the allocator.
pub const ALLOCATOR_ID: &str = "allocator";

/// How often the metrics gauges are refreshed.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// The master process.
pub struct MasterProcess {
    core: Master,
    allocator: Pid,
    flags: serde_json::Value,
    ping_interval: Duration,
    node_label: String,
    started: Option<tokio::time::Instant>,
}

struct CtxSink<'a, 'b>(&'a Ctx<'b, MasterProcess>);

impl Sink for CtxSink<'_, '_> {
    fn send<M: Message>(&mut self, to: &Pid, msg: M) {
        self.0.send(to, msg);
    }
}

impl MasterProcess {
    /// A master that will run as `pid` and talk to the allocator at `allocator`.
    pub fn new(config: MasterConfig, pid: Pid, allocator: Pid) -> MasterProcess {
        let flags = config.to_flags_json();
        let ping_interval = config.agent_ping_timeout;
        let node_label = pid.addr().to_string();
        MasterProcess {
            core: Master::new(config, pid),
            allocator,
            flags,
            ping_interval,
            node_label,
            started: None,
        }
    }

    /// The pure core (for inspection in tests).
    pub fn core(&self) -> &Master {
        &self.core
    }

    fn apply(&mut self, ctx: &mut Ctx<'_, Self>, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Send(to, msg) => msg.deliver(&to, &mut CtxSink(ctx)),
                Effect::Allocator(msg) => msg.deliver(&self.allocator, &mut CtxSink(ctx)),
                Effect::Link(pid) => ctx.link(&pid),
                Effect::Unlink(pid) => ctx.unlink(&pid),
                Effect::FailoverTimer {
                    framework_id,
                    epoch,
                    after,
                } => {
                    ctx.after(after, move |me: &mut MasterProcess, ctx| {
                        let fx = me.core.failover_expired(&framework_id, epoch);
                        me.apply(ctx, fx);
                    });
                }
                Effect::OfferTimer { offer_id, after } => {
                    ctx.after(after, move |me: &mut MasterProcess, ctx| {
                        me.offer_expired(ctx, offer_id);
                    });
                }
            }
        }
    }

    fn offer_expired(&mut self, ctx: &mut Ctx<'_, Self>, id: OfferId) {
        let fx = self.core.offer_expired(&id);
        self.apply(ctx, fx);
    }

    fn count(&self, name: &'static str) {
        metrics::counter!(name, "node" => self.node_label.clone()).increment(1);
    }

    fn ping_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        let fx = self.core.ping_tick();
        self.apply(ctx, fx);
        ctx.after(self.ping_interval, |me: &mut MasterProcess, ctx| {
            me.ping_tick(ctx)
        });
    }

    fn metrics_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.publish_metrics();
        ctx.after(METRICS_INTERVAL, |me: &mut MasterProcess, ctx| {
            me.metrics_tick(ctx)
        });
    }

    /// Copies the core's figures into the metrics registry.
    fn publish_metrics(&self) {
        let node = self.node_label.clone();
        let gauge = |name: String, v: f64| metrics::gauge!(name, "node" => node.clone()).set(v);
        let core = &self.core;
        let active = core.agents().values().filter(|a| a.connected).count();
        gauge("master/elected".into(), 1.0);
        if let Some(s) = self.started {
            gauge("master/uptime_secs".into(), s.elapsed().as_secs_f64());
        }
        gauge("master/slaves_active".into(), active as f64);
        gauge("master/slaves_connected".into(), active as f64);
        gauge(
            "master/slaves_disconnected".into(),
            (core.agents().len() - active) as f64,
        );
        gauge(
            "master/slaves_inactive".into(),
            (core.agents().len() - active) as f64,
        );
        gauge(
            "master/slaves_unreachable".into(),
            core.unreachable_agents().len() as f64,
        );
        let fw_active = core.frameworks().values().filter(|f| f.active).count();
        let fw_connected = core.frameworks().values().filter(|f| f.connected).count();
        gauge("master/frameworks_active".into(), fw_active as f64);
        gauge(
            "master/frameworks_inactive".into(),
            (core.frameworks().len() - fw_active) as f64,
        );
        gauge("master/frameworks_connected".into(), fw_connected as f64);
        gauge(
            "master/frameworks_disconnected".into(),
            (core.frameworks().len() - fw_connected) as f64,
        );
        gauge(
            "master/outstanding_offers".into(),
            core.offers().len() as f64,
        );
        let counts = core.task_state_counts();
        for s in [
            proto::TaskState::Staging,
            proto::TaskState::Starting,
            proto::TaskState::Running,
            proto::TaskState::Killing,
            proto::TaskState::Unreachable,
        ] {
            let v = counts.get(&s).copied().unwrap_or(0);
            gauge(format!("master/tasks_{}", s.metric_suffix()), v as f64);
        }
        for s in proto::TaskState::ALL.iter().filter(|s| s.is_terminal()) {
            let v = core.terminal_counts.get(s).copied().unwrap_or(0);
            metrics::counter!(format!("master/tasks_{}", s.metric_suffix()), "node" => node.clone()).absolute(v);
        }
    }

    fn http_state(&mut self, _ctx: &mut Ctx<'_, Self>, _req: &HttpRequest) -> HttpResponse {
        HttpResponse::json(&json::state(&self.core, &self.flags))
    }
}

macro_rules! handle {
    ($h:ident, $msg:ty, $metric:literal, $method:ident) => {
        $h.on(
            |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, from: Pid, m: $msg| {
                me.count($metric);
                let fx = me.core.$method(&from, m);
                me.apply(ctx, fx);
            },
        );
    };
}

impl Process for MasterProcess {
    fn install(h: &mut Handlers<Self>) {
        handle!(
            h,
            RegisterSlaveMessage,
            "master/messages_register_slave",
            register_agent
        );
        handle!(
            h,
            ReregisterSlaveMessage,
            "master/messages_reregister_slave",
            reregister_agent
        );
        handle!(
            h,
            UnregisterSlaveMessage,
            "master/messages_unregister_slave",
            unregister_agent
        );
        handle!(
            h,
            RegisterFrameworkMessage,
            "master/messages_register_framework",
            register_framework
        );
        handle!(
            h,
            ReregisterFrameworkMessage,
            "master/messages_reregister_framework",
            reregister_framework
        );
        handle!(
            h,
            UnregisterFrameworkMessage,
            "master/messages_unregister_framework",
            unregister_framework
        );
        handle!(
            h,
            DeactivateFrameworkMessage,
            "master/messages_deactivate_framework",
            deactivate_framework
        );
        handle!(h, AcceptOffersMessage, "master/messages_accept", accept);
        handle!(
            h,
            DeclineOffersMessage,
            "master/messages_decline_offers",
            decline
        );
        handle!(h, KillTaskMessage, "master/messages_kill_task", kill_task);
        handle!(
            h,
            StatusUpdateMessage,
            "master/messages_status_update",
            status_update
        );
        handle!(
            h,
            StatusUpdateAcknowledgementMessage,
            "master/messages_status_update_acknowledgement",
            acknowledge
        );
        handle!(
            h,
            ReconcileTasksMessage,
            "master/messages_reconcile_tasks",
            reconcile
        );
        handle!(
            h,
            ReviveOffersMessage,
            "master/messages_revive_offers",
            revive
        );
        handle!(
            h,
            SuppressOffersMessage,
            "master/messages_suppress_offers",
            suppress
        );
        handle!(
            h,
            FrameworkToExecutorMessage,
            "master/messages_framework_to_executor",
            framework_to_executor
        );
        handle!(
            h,
            ExecutorToFrameworkMessage,
            "master/messages_executor_to_framework",
            executor_to_framework
        );
        handle!(
            h,
            ExitedExecutorMessage,
            "master/messages_exited_executor",
            executor_exited
        );
        h.on(
            |me: &mut MasterProcess,
             ctx: &mut Ctx<MasterProcess>,
             from: Pid,
             _m: PongSlaveMessage| {
                me.count("master/messages_pong_slave");
                let fx = me.core.pong(&from);
                me.apply(ctx, fx);
            },
        );
        h.on(
            |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, from: Pid, m: Offers| {
                if from != me.allocator {
                    tracing::warn!(%from, "ignoring offers not from the allocator");
                    return;
                }
                let fx = me.core.offers_from_allocator(m);
                me.apply(ctx, fx);
            },
        );
        h.route("state", MasterProcess::http_state);
        h.route("state.json", MasterProcess::http_state);
        h.route(
            "health",
            |_me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, _req| {
                HttpResponse::new(200, "text/plain", "")
            },
        );
        h.route(
            "redirect",
            |me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, _req| {
                // This master is the leader (no contender yet): redirect to itself.
                let info = me.core.info();
                let host = if info.hostname.is_empty() {
                    info.address.ip.clone()
                } else {
                    info.hostname.clone()
                };
                HttpResponse::redirect(&format!("//{host}:{}", info.port))
            },
        );
        h.route(
            "frameworks",
            |me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, _req| {
                HttpResponse::json(&json::frameworks(&me.core))
            },
        );
        h.route(
            "slaves",
            |me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, _req| {
                HttpResponse::json(&json::slaves(&me.core))
            },
        );
        h.route(
            "tasks",
            |me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, _req| {
                HttpResponse::json(&json::tasks(&me.core))
            },
        );
        h.route(
            "flags",
            |me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, _req| {
                HttpResponse::json(&serde_json::json!({ "flags": me.flags }))
            },
        );
    }

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.started = Some(tokio::time::Instant::now());
        tracing::info!(pid = %ctx.pid(), id = %self.core.info().id, "master started (leading)");
        self.publish_metrics();
        ctx.after(self.ping_interval, |me: &mut MasterProcess, ctx| {
            me.ping_tick(ctx)
        });
        ctx.after(METRICS_INTERVAL, |me: &mut MasterProcess, ctx| {
            me.metrics_tick(ctx)
        });
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: Pid) {
        let fx = self.core.exited(&pid);
        self.apply(ctx, fx);
    }
}
