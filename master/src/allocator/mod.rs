//! The allocator: hierarchical DRF deciding which framework is offered which resources.
//!
//! [`Allocator`] is the pure state machine (events in, [`protocol::Allocation`]s out,
//! time passed in); [`AllocatorProcess`] is its thin libproc shell: it feeds the
//! [`protocol`] (and [`quota_messages`]) messages from the master into the core, runs a batch
//! allocation every `allocation_interval` and soon after events that add or free
//! resources (coalesced: at most one extra run pending), and sends the results to the
//! master as [`protocol::Offers`].
//!
//! The master can inspect the allocator through
//! `ProcessRef<AllocatorProcess>::call(|p, _| p.allocator().roles_json())`.

pub mod drf;
pub mod protocol;
pub mod quantities;
pub mod quota_messages;

use std::time::{Duration, Instant as StdInstant};

use libproc::{Ctx, Handlers, Pid, Process};
use tokio::time::Instant;

pub use self::drf::{Allocator, AllocatorStats};
use self::protocol::{
    ActivateAgent, ActivateFramework, AddAgent, AddFramework, AllocatorConfig, DeactivateAgent,
    DeactivateFramework, Offers, RecoverResources, RemoveAgent, RemoveFramework, ReviveOffers,
    SuppressOffers, UpdateAgent, UpdateAllocation, UpdateFramework, UpdateWeights,
};
use self::quota_messages::{RemoveQuota, SetQuota};

/// The allocator process: a libproc shell around [`Allocator`].
pub struct AllocatorProcess {
    core: Allocator,
    master: Pid,
    start: Option<Instant>,
    /// An event-triggered run is already scheduled.
    pending: bool,
}

impl AllocatorProcess {
    /// An allocator that sends its offers to `master`.
    pub fn new(config: AllocatorConfig, master: Pid) -> AllocatorProcess {
        AllocatorProcess {
            core: Allocator::new(config),
            master,
            start: None,
            pending: false,
        }
    }

    /// The core state machine (for introspection: `/roles`, tests).
    pub fn allocator(&self) -> &Allocator {
        &self.core
    }

    /// The core state machine, mutably (for the master or tests to drive directly).
    pub fn allocator_mut(&mut self) -> &mut Allocator {
        &mut self.core
    }

    /// The `/roles` JSON model.
    pub fn roles_json(&self) -> serde_json::Value {
        self.core.roles_json()
    }

    /// The allocator's clock: time since the process started (tokio time, so a paused
    /// test clock controls it).
    fn now(&self) -> Duration {
        self.start
            .map(|s| Instant::now().saturating_duration_since(s))
            .unwrap_or_default()
    }

    /// Runs one batch allocation now and sends the result to the master.
    pub fn run(&mut self, ctx: &mut Ctx<'_, Self>) {
        let started = StdInstant::now();
        let allocations = self.core.allocate(self.now());
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        metrics::counter!("allocator/mesos/allocation_runs").increment(1);
        metrics::histogram!("allocator/mesos/allocation_run_ms").record(ms);
        // Mesos shows a timer as its last value plus /count, /p50, …
        metrics::gauge!("allocator/mesos/allocation_run_ms").set(ms);
        metrics::counter!("allocator/mesos/offers").increment(allocations.len() as u64);
        let stats = self.core.stats();
        metrics::gauge!("allocator/mesos/offer_filters/active").set(stats.filters as f64);
        let depth = ctx.node().mailbox_depth(ctx.pid().id()).unwrap_or(0);
        metrics::gauge!("allocator/mesos/event_queue_dispatches").set(depth as f64);
        self.publish_role_metrics();
        if !allocations.is_empty() {
            tracing::debug!(count = allocations.len(), ms, "allocation run");
            ctx.send(&self.master, Offers { allocations });
        }
    }

    fn tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.run(ctx);
        let interval = self.core.config().allocation_interval;
        ctx.after(interval, |p: &mut Self, ctx| p.tick(ctx));
    }

    /// Per-role gauges, as Mesos names them: `allocator/mesos/roles/<role>/shares/dominant`
    /// and the role's weight, refreshed after every run.
    fn publish_role_metrics(&self) {
        for (role, share) in self.core.role_shares() {
            metrics::gauge!(format!("allocator/mesos/roles/{role}/shares/dominant")).set(share);
            metrics::gauge!(format!("allocator/mesos/roles/{role}/weight"))
                .set(self.core.weight(&role));
        }
        for (name, v) in self.core.resource_metrics() {
            metrics::gauge!(name).set(v);
        }
        let stats = self.core.stats();
        metrics::gauge!("allocator/mesos/agents").set(stats.agents as f64);
        metrics::gauge!("allocator/mesos/frameworks").set(stats.frameworks as f64);
    }

    /// Schedules a run soon (coalesced with any already pending).
    fn soon(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.pending {
            return;
        }
        self.pending = true;
        ctx.after(Duration::ZERO, |p: &mut Self, ctx| {
            p.pending = false;
            p.run(ctx);
        });
    }
}

impl Process for AllocatorProcess {
    /// Only the master (on its node) talks to the allocator; Mesos never lets the network
    /// reach it, so a forged allocation cannot skip the master's validation.
    const REACH: libproc::Reach = libproc::Reach::LocalOnly;
    fn install(h: &mut Handlers<Self>) {
        h.on(|p: &mut Self, ctx: &mut Ctx<Self>, _, m: AddFramework| {
            p.core
                .add_framework(&m.framework_id, &m.info, &m.used, m.active);
            p.soon(ctx);
        });
        h.on(|p: &mut Self, ctx: &mut Ctx<Self>, _, m: RemoveFramework| {
            p.core.remove_framework(&m.framework_id);
            p.soon(ctx);
        });
        h.on(
            |p: &mut Self, ctx: &mut Ctx<Self>, _, m: ActivateFramework| {
                p.core.activate_framework(&m.framework_id);
                p.soon(ctx);
            },
        );
        h.on(
            |p: &mut Self, _: &mut Ctx<Self>, _, m: DeactivateFramework| {
                p.core.deactivate_framework(&m.framework_id);
            },
        );
        h.on(|p: &mut Self, ctx: &mut Ctx<Self>, _, m: UpdateFramework| {
            p.core.update_framework(&m.framework_id, &m.info);
            p.soon(ctx);
        });
        h.on(|p: &mut Self, ctx: &mut Ctx<Self>, _, m: AddAgent| {
            p.core.add_agent(&m.agent_id, &m.info, &m.total, &m.used);
            p.soon(ctx);
        });
        h.on(|p: &mut Self, _: &mut Ctx<Self>, _, m: RemoveAgent| {
            p.core.remove_agent(&m.agent_id);
        });
        h.on(|p: &mut Self, ctx: &mut Ctx<Self>, _, m: ActivateAgent| {
            p.core.activate_agent(&m.agent_id);
            p.soon(ctx);
        });
        h.on(|p: &mut Self, _: &mut Ctx<Self>, _, m: DeactivateAgent| {
            p.core.deactivate_agent(&m.agent_id);
        });
        h.on(|p: &mut Self, ctx: &mut Ctx<Self>, _, m: UpdateAgent| {
            p.core.update_agent(&m.agent_id, &m.total);
            p.soon(ctx);
        });
        h.on(
            |p: &mut Self, ctx: &mut Ctx<Self>, _, m: RecoverResources| {
                let now = p.now();
                p.core.recover_resources(
                    &m.framework_id,
                    &m.agent_id,
                    &m.resources,
                    m.filters.as_ref(),
                    now,
                );
                // A decline with a zero filter waits for the next batch run, so a framework
                // declining in a loop cannot make the allocator spin.
                let zero_filter = m
                    .filters
                    .as_ref()
                    .is_some_and(|f| f.effective_refuse_seconds() <= 0.0);
                if !zero_filter {
                    p.soon(ctx);
                }
            },
        );
        h.on(|p: &mut Self, _: &mut Ctx<Self>, _, m: SuppressOffers| {
            p.core.suppress_offers(&m.framework_id, &m.roles);
        });
        h.on(|p: &mut Self, ctx: &mut Ctx<Self>, _, m: ReviveOffers| {
            p.core.revive_offers(&m.framework_id, &m.roles);
            p.soon(ctx);
        });
        h.on(
            |p: &mut Self, ctx: &mut Ctx<Self>, _, m: UpdateAllocation| {
                p.core.update_allocation(
                    &m.framework_id,
                    &m.agent_id,
                    &m.role,
                    &m.from,
                    &m.to,
                    &m.total,
                );
                p.soon(ctx);
            },
        );
        h.on(|p: &mut Self, ctx: &mut Ctx<Self>, _, m: UpdateWeights| {
            p.core.update_weights(&m.weights);
            p.soon(ctx);
        });
        h.on(|p: &mut Self, ctx: &mut Ctx<Self>, _, m: SetQuota| {
            p.core.set_quota(&m.role, &m.guarantee, m.limit.as_ref());
            p.soon(ctx);
        });
        h.on(|p: &mut Self, ctx: &mut Ctx<Self>, _, m: RemoveQuota| {
            p.core.remove_quota(&m.role);
            p.soon(ctx);
        });
    }

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.start = Some(Instant::now());
        // Mesos's names from start-up, zero until the first run.
        metrics::counter!("allocator/mesos/allocation_runs").increment(0);
        metrics::gauge!("allocator/mesos/allocation_run_ms").set(0.0);
        metrics::gauge!("allocator/mesos/event_queue_dispatches").set(0.0);
        metrics::gauge!("allocator/mesos/offer_filters/active").set(0.0);
        self.publish_role_metrics();
        let interval = self.core.config().allocation_interval;
        ctx.after(interval, |p: &mut Self, ctx| p.tick(ctx));
    }
}
