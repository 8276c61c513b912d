//! The master's actor shell: feeds messages, link breaks and timers into the pure
//! [`Master`](crate::core::Master) core and carries its effects out (sends, allocator
//! calls, links, timers, registry writes). Also serves the operator HTTP routes and
//! publishes metrics.
//!
//! Leadership: without `--zk` the master leads from the start (after reading a file
//! registry, if any). With `--zk` it contends ([`detector::contender::contend`], run
//! inside a `Ctx::spawn` future) and, until elected, drops framework and agent messages
//! (counted in `master/dropped_messages`); elected, it keeps those that come while it
//! recovers the registry and handles them once it leads; it answers leader-only HTTP
//! with `307` to the leader (or `503` if none is known). Before acting on anything, a
//! ZooKeeper leader checks its [`Lease`]: while it has run out (for less than the session
//! timeout) the master acts on nothing, delaying timers and broken links until the
//! contender renews it; when it ran out longer ago, or the contender reports the candidacy
//! lost, the master stops at once (the binary then exits).
//!
//! Registry writes: effects queue behind an [`Effect::PersistRegistry`] until the write
//! (off the actor thread for the file and ZooKeeper stores) succeeds, so a decision is
//! durable before it is announced; consecutive writes are coalesced. A new leader writes
//! once before saying anything. A failed write stops the master (Mesos's registrar
//! aborts): nothing that waited for it is said, and another master takes over.

use std::sync::Arc;
use std::time::Duration;

use detector::contender::{contend, ContenderEvent, Lease, LeaseState};
use libproc::http::Responder;
use libproc::{Ctx, Handlers, HttpRequest, HttpResponse, Message, Pid, Process};
use proto::authentication::{AuthenticateMessage, AuthenticationStepMessage};
use proto::http_authentication::{MASTER_READONLY, MASTER_READWRITE, MASTER_SCHEDULER};
use proto::messages::*;
use proto::{FrameworkId, MasterInfo, OfferId, OfferOperation};

use crate::allocator::protocol::Offers;
use crate::authentication::Admission;
use crate::config::MasterConfig;
use crate::core::{Courier, Effect, Master, Outbound, ToAllocator};
use crate::http_api::is_stream_pid;
use crate::leadership::{Acting, ActingProbe, Leadership, MessageFate, NotLeading};
use crate::operator::OpError;
use crate::registry::{RegistryError, RegistryStore};
use crate::state_json;
use crate::write_queue::{Next, WriteQueue};

mod operator_api;
mod scheduler_api;

/// The process id of the master (`master@ip:port`).
pub const MASTER_ID: &str = "master";
/// The process id of the allocator.
pub const ALLOCATOR_ID: &str = "allocator";

/// How often the metrics gauges are refreshed.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);
/// How many messages a recovering master keeps for after recovery. Mesos drops them
/// all: agents and schedulers retry with a randomized backoff (up to 2 s for a
/// scheduler), which made every failover about a second slower on average.
const MAX_DEFERRED: usize = 10_000;
/// How often a timer or a broken link that came while the lease was suspended is tried
/// again.
const SUSPENDED_RETRY: Duration = Duration::from_millis(100);

/// How long between two attempts to read the registry after election.
const REGISTRY_RETRY: Duration = Duration::from_secs(1);
/// How many times reading the registry is tried after election before giving up.
const REGISTRY_LOAD_ATTEMPTS: u32 = 5;

/// A message kept for after recovery.
type Deferred = Box<dyn FnOnce(&mut MasterProcess, &mut Ctx<'_, MasterProcess>)>;

/// The master process.
pub struct MasterProcess {
    core: Master,
    allocator: Pid,
    flags: serde_json::Value,
    ping_interval: Duration,
    node_label: String,
    started: Option<tokio::time::Instant>,
    /// [`Master::task_changes`] when the tasks' JSON was last warmed, and whether a
    /// warm-up is running (see [`MasterProcess::warm_task_json`]).
    warmed_changes: u64,
    warming: Arc<std::sync::atomic::AtomicBool>,
    leadership: Leadership,
    /// The leader as last seen by the contender (ZooKeeper mode).
    leader: Option<MasterInfo>,
    lease: Lease,
    /// Mirrors `leadership` (and reads `lease`) for observers outside the actor.
    probe: ActingProbe,
    /// This master's candidacy znode (fences registry writes).
    fence: Option<String>,
    store: RegistryStore,
    /// Effects (and operator replies) waiting for a registry write.
    writes: WriteQueue<(Responder, HttpResponse)>,
    /// Messages that came while this master, elected, was recovering the registry or,
    /// leading, had its lease suspended: handled in order once it may act (at most
    /// [`MAX_DEFERRED`]; more are dropped). See [`Leadership::on_message`].
    deferred: Vec<Deferred>,
    lost_reason: Option<String>,
    dropped: u64,
    /// Open v1 scheduler API streams.
    http: scheduler_api::Streams,
    /// v1 operator API subscribers.
    operators: operator_api::Subscribers,
    /// Who authenticated, and who may register.
    admission: Admission,
}

struct CtxCourier<'a, 'b>(&'a Ctx<'b, MasterProcess>);

impl Courier for CtxCourier<'_, '_> {
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
        let store = config.registry_store();
        let admission = Admission::new(
            config.credentials.clone(),
            config.authenticate_frameworks,
            config.authenticate_agents,
        );
        let lease = Lease::new();
        let zk_lease = config.zk.is_some();
        let zk_timeout = config.zk_session_timeout;
        MasterProcess {
            admission,
            core: Master::new(config, pid),
            allocator,
            flags,
            ping_interval,
            node_label,
            started: None,
            warmed_changes: 0,
            warming: Arc::default(),
            leadership: Leadership::Contending,
            leader: None,
            lease: lease.clone(),
            probe: ActingProbe::new(zk_lease.then_some((lease, zk_timeout))),
            fence: None,
            store,
            writes: WriteQueue::new(),
            deferred: Vec::new(),
            lost_reason: None,
            dropped: 0,
            http: scheduler_api::Streams::default(),
            operators: operator_api::Subscribers::default(),
        }
    }

    /// How many messages wait for the end of recovery or of a suspended lease (see
    /// `deferred`).
    pub fn deferred_messages(&self) -> u64 {
        self.deferred.len() as u64
    }

    /// The pure core (for inspection in tests).
    pub fn core(&self) -> &Master {
        &self.core
    }

    /// Replaces the core: for benchmarks that build a cluster of simulated agents and
    /// tasks through the core's calls (`examples/state_bench.rs`), not for serving.
    #[doc(hidden)]
    pub fn replace_core(&mut self, core: Master) {
        self.core = core;
    }

    /// A thread-safe view of whether this master may act (see [`ActingProbe`]).
    pub fn acting_probe(&self) -> ActingProbe {
        self.probe.clone()
    }

    /// Where this master stands in leader election.
    pub fn leadership(&self) -> Leadership {
        self.leadership
    }

    /// The leader as this master knows it (itself when leading).
    pub fn leader(&self) -> Option<&MasterInfo> {
        if self.leadership == Leadership::Leading {
            Some(self.core.info())
        } else {
            self.leader.as_ref()
        }
    }

    /// Why leadership was lost (set once the master stops for that reason).
    pub fn lost_reason(&self) -> Option<&str> {
        self.lost_reason.as_deref()
    }

    /// Messages dropped because this master does not lead.
    pub fn dropped_messages(&self) -> u64 {
        self.dropped
    }

    fn zk_mode(&self) -> bool {
        self.core.config.zk.is_some()
    }

    /// Whether this master may act as leader now. A ZooKeeper leader whose lease ran out
    /// acts on nothing until its contender renews it (its session came back: a ZooKeeper
    /// restart, a short partition) or reports it lost; one whose lease ran out longer than
    /// the session timeout ago (paused or partitioned past it) stops here, before acting.
    fn may_act(&mut self, ctx: &mut Ctx<'_, Self>) -> bool {
        match self.leadership.may_act(self.lease_state()) {
            Acting::Act => true,
            Acting::Wait => {
                tracing::debug!(
                    "ZooKeeper lease ran out; waiting for the session to come back before acting"
                );
                false
            }
            Acting::GiveUp => {
                self.lose_leadership(
                    ctx,
                    "no successful ZooKeeper round trip within the session timeout (the session may have expired while this master was paused or partitioned)".into(),
                );
                false
            }
            Acting::NotLeading => false,
        }
    }

    /// The ZooKeeper lease as it stands now (always valid without ZooKeeper).
    fn lease_state(&self) -> LeaseState {
        if self.zk_mode() {
            self.lease.state(self.core.config.zk_session_timeout)
        } else {
            LeaseState::Valid
        }
    }

    /// Whether this leader's lease ran out but may still be renewed (see
    /// [`LeaseState::Suspended`]).
    fn suspended(&self) -> bool {
        self.leadership.may_act(self.lease_state()) == Acting::Wait
    }

    /// Runs `f` once this master may act: now, or (while its lease is suspended) once it
    /// is renewed; never if leadership is lost. For events that are not repeated (timers,
    /// broken links), so that a suspension delays them instead of losing them.
    fn when_acting<F>(&mut self, ctx: &mut Ctx<'_, Self>, f: F)
    where
        F: FnOnce(&mut MasterProcess, &mut Ctx<'_, MasterProcess>) + 'static,
    {
        if self.may_act(ctx) {
            f(self, ctx);
        } else if self.suspended() {
            ctx.after(SUSPENDED_RETRY, move |me: &mut MasterProcess, ctx| {
                me.when_acting(ctx, f)
            });
        }
    }

    fn drop_message(&mut self, from: &Pid, name: &str) {
        self.dropped += 1;
        metrics::counter!("master/dropped_messages", "node" => self.node_label.clone())
            .increment(1);
        tracing::debug!(%from, message = name, leadership = ?self.leadership, "dropping message: this master is not the leader");
    }

    /// Leadership (or the candidacy) is gone: stop now. Nothing more is handled.
    fn lose_leadership(&mut self, ctx: &mut Ctx<'_, Self>, why: String) {
        let news = self.leadership.lose();
        self.probe.set(self.leadership);
        if !news {
            return;
        }
        tracing::error!(pid = %ctx.pid(), "lost leadership: {why}; stopping the master so that two masters never act at once");
        // Whatever waited for a registry write is never said.
        self.writes.clear();
        self.lease.revoke();
        self.lost_reason = Some(why);
        metrics::gauge!("master/elected", "node" => self.node_label.clone()).set(0.0);
        ctx.stop();
    }

    fn on_contender(&mut self, ctx: &mut Ctx<'_, Self>, event: ContenderEvent) {
        match event {
            ContenderEvent::Contending(znode) => {
                tracing::info!(%znode, "candidacy created; waiting to be elected");
                self.fence = Some(znode);
            }
            ContenderEvent::Leader(info) => {
                match &info {
                    Some(i) => tracing::info!(leader = %i.pid, "leading master is {}", i.pid),
                    None => tracing::info!("no leading master"),
                }
                self.leader = info;
            }
            ContenderEvent::Elected => {
                let elected = self.leadership.elected();
                self.probe.set(self.leadership);
                if elected {
                    tracing::info!(pid = %ctx.pid(), "elected leader; recovering the registry from {}", self.store.describe());
                    self.load_registry(ctx, 1);
                }
            }
            ContenderEvent::Lost(why) => self.lose_leadership(ctx, why),
        }
    }

    fn load_registry(&mut self, ctx: &mut Ctx<'_, Self>, attempt: u32) {
        let store = self.store.clone();
        ctx.spawn(
            async move { store.load().await },
            move |me: &mut MasterProcess, ctx, result| {
                if me.leadership != Leadership::Recovering {
                    return;
                }
                match result {
                    Ok(registry) => {
                        if me.zk_mode() && !me.lease.valid() {
                            me.lose_leadership(
                                ctx,
                                "ZooKeeper lease ran out while recovering the registry".into(),
                            );
                            return;
                        }
                        me.become_leader(ctx, registry);
                    }
                    Err(e) if attempt < REGISTRY_LOAD_ATTEMPTS => {
                        tracing::warn!(attempt, error = %e, "cannot read the registry; retrying");
                        ctx.after(REGISTRY_RETRY, move |me: &mut MasterProcess, ctx| {
                            me.load_registry(ctx, attempt + 1)
                        });
                    }
                    Err(e) => me.lose_leadership(ctx, format!("cannot recover the registry: {e}")),
                }
            },
        );
    }

    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>, registry: crate::registry::Registry) {
        self.core.elect();
        let recovered = self.core.recover(registry);
        self.leadership.lead();
        self.probe.set(self.leadership);
        tracing::info!(pid = %ctx.pid(), id = %self.core.info().id, "acting as the leading master");
        // Like Mesos's registrar, a new leader first proves it can write the registry:
        // nothing it says goes out before that write, and if it fails the master stops.
        let mut fx = vec![Effect::PersistRegistry];
        fx.extend(recovered);
        self.apply(ctx, fx);
        self.handle_deferred(ctx, "recovery");
        self.publish_metrics();
    }

    /// `AcceptOffersMessage` from `from`, once this master may act.
    fn accept_offers(&mut self, ctx: &mut Ctx<'_, Self>, from: &Pid, m: AcceptOffersMessage) {
        self.count("master/messages_accept");
        if m.operations
            .iter()
            .any(|o| matches!(o, OfferOperation::Launch { .. }))
        {
            self.count("master/messages_launch_tasks");
        }
        let fx = self.core.accept(from, m);
        self.apply(ctx, fx);
    }

    /// Handles the kept messages (see `deferred`), in the order they came.
    fn handle_deferred(&mut self, ctx: &mut Ctx<'_, Self>, during: &str) {
        let deferred = std::mem::take(&mut self.deferred);
        if !deferred.is_empty() {
            tracing::info!(
                count = deferred.len(),
                "handling the messages that came during {during}"
            );
        }
        for handle in deferred {
            handle(self, ctx);
        }
    }

    /// What a message for the leader gets now. Messages kept while the lease was
    /// suspended are handled first once it holds again, so none is overtaken.
    fn message_fate(&mut self, ctx: &mut Ctx<'_, Self>) -> MessageFate {
        let fate = self.leadership.on_message(self.lease_state());
        if fate == MessageFate::Handle && !self.deferred.is_empty() {
            self.handle_deferred(ctx, "a suspended lease");
        }
        fate
    }

    /// Whether a message for the leader is to be kept now (see `deferred`): its fate is
    /// [`MessageFate::Defer`] and there is room.
    fn keeps_messages(&mut self, ctx: &mut Ctx<'_, Self>) -> bool {
        self.message_fate(ctx) == MessageFate::Defer && self.deferred.len() < MAX_DEFERRED
    }

    /// Keeps a message for when this master may act (see `deferred`). Kept while the
    /// lease is suspended, it is handled once the lease is renewed.
    fn defer(&mut self, ctx: &mut Ctx<'_, Self>, handle: Deferred) {
        if self.deferred.is_empty() && self.leadership == Leadership::Leading {
            self.when_acting(ctx, |me, ctx| me.handle_deferred(ctx, "a suspended lease"));
        }
        self.deferred.push(handle);
    }

    /// Starts writing the registry as it stands (every event up to `upto` is in it).
    /// Queued effects wait until [`MasterProcess::written`]. The in-memory store is
    /// written at once; the file and ZooKeeper stores off the actor thread.
    fn start_write(&mut self, ctx: &mut Ctx<'_, Self>, upto: u64) {
        let bytes = self.core.registry().encode();
        if let Some(result) = self.store.store_now(&bytes) {
            self.written(ctx, upto, result);
            return;
        }
        let store = self.store.clone();
        let fence = self.fence.clone();
        ctx.spawn(
            async move { store.store(bytes, fence).await },
            move |me: &mut MasterProcess, ctx, result| {
                me.written(ctx, upto, result);
                me.drain(ctx);
            },
        );
    }

    /// A registry write covering every event up to `upto` finished. A failed write
    /// stops the master (Mesos's registrar aborts): what waited for it is never said,
    /// and a new leader recovers from the last good registry.
    fn written(&mut self, ctx: &mut Ctx<'_, Self>, upto: u64, result: Result<(), RegistryError>) {
        self.writes.written(upto, result.is_ok());
        match result {
            Ok(()) => {}
            Err(RegistryError::Zk(detector::zk_store::StoreError::Fenced(f))) => {
                self.lose_leadership(ctx, format!("registry write fenced: candidacy {f} is gone"));
            }
            Err(e) => {
                self.lose_leadership(
                    ctx,
                    format!("cannot write the registry ({}): {e}", self.store.describe()),
                );
            }
        }
    }

    /// Carries out queued effects in order, stopping at a registry write still to be
    /// made (or under way).
    fn drain(&mut self, ctx: &mut Ctx<'_, Self>) {
        while self.leadership != Leadership::Lost {
            let Some(next) = self.writes.pop() else {
                return;
            };
            match next {
                Next::Write { upto } => self.start_write(ctx, upto),
                Next::CarryOut(effect) => self.carry_out(ctx, effect),
                Next::Reply((responder, response)) => responder.respond(response),
            }
        }
    }

    /// For leader-only routes: `None` if this master leads, else the answer (redirect to
    /// the leader, or 503).
    fn not_leader_response(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        req: &HttpRequest,
    ) -> Option<HttpResponse> {
        if self.may_act(ctx) {
            return None;
        }
        Some(
            match self
                .leadership
                .not_leading(self.leader.as_ref(), self.core.info())
            {
                NotLeading::Redirect(l) => {
                    HttpResponse::redirect(&format!("{}{}", leader_location(l), req.path))
                }
                NotLeading::Unavailable(why) => HttpResponse::unavailable(why),
            },
        )
    }

    /// Carries out the effects of one event, in order; those after a
    /// [`Effect::PersistRegistry`] (and every later event's) wait for the registry write.
    fn apply(&mut self, ctx: &mut Ctx<'_, Self>, effects: Vec<Effect>) {
        if effects.is_empty() || self.leadership == Leadership::Lost {
            return;
        }
        self.count_admissions(&effects);
        self.writes.push(effects);
        self.drain(ctx);
    }

    /// Answers an operator request after everything queued before it, so that an
    /// answer about a change goes out only once the change is written.
    fn reply_in_order(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        responder: Responder,
        response: HttpResponse,
    ) {
        if let Some((responder, response)) = self.writes.reply((responder, response)) {
            responder.respond(response);
            return;
        }
        self.drain(ctx);
    }

    fn carry_out(&mut self, ctx: &mut Ctx<'_, Self>, effect: Effect) {
        self.observe_for_operators(&effect);
        {
            match effect {
                // An HTTP scheduler's "PID" is its event stream.
                Effect::Send(to, msg) if is_stream_pid(&to) => self.send_to_stream(ctx, &to, msg),
                Effect::Link(pid) | Effect::Relink(pid) if is_stream_pid(&pid) => {}
                Effect::Unlink(pid) if is_stream_pid(&pid) => self.close_stream(&pid),
                Effect::Send(to, msg) => msg.deliver(&to, &mut CtxCourier(ctx)),
                Effect::Allocator(msg) => msg.deliver(&self.allocator, &mut CtxCourier(ctx)),
                Effect::Link(pid) => ctx.link(&pid),
                Effect::Relink(pid) => ctx.relink(&pid),
                Effect::Unlink(pid) => ctx.unlink(&pid),
                Effect::FailoverTimer {
                    framework_id,
                    epoch,
                    after,
                } => {
                    ctx.after(after, move |me: &mut MasterProcess, ctx| {
                        me.when_acting(ctx, move |me, ctx| {
                            let fx = me.core.failover_expired(&framework_id, epoch);
                            me.apply(ctx, fx);
                        })
                    });
                }
                Effect::OfferTimer { offer_id, after } => {
                    ctx.after(after, move |me: &mut MasterProcess, ctx| {
                        me.offer_expired(ctx, offer_id);
                    });
                }
                // Never here: the write queue turns it into `Next::Write`.
                Effect::PersistRegistry => {}
                Effect::ReregisterTimer { after } => {
                    ctx.after(after, |me: &mut MasterProcess, ctx| {
                        me.when_acting(ctx, |me, ctx| {
                            let fx = me.core.reregister_timeout();
                            me.apply(ctx, fx);
                        })
                    });
                }
            }
        }
    }

    /// No admission check (every message but the registrations).
    fn admit_any<M>(&mut self, _ctx: &mut Ctx<'_, Self>, _from: &Pid, _m: &mut M) -> bool {
        true
    }

    pub(super) fn refuse_registration(&self, why: &str) {
        tracing::warn!("{why}");
        self.count("master/registrations_refused_authentication");
    }

    fn admit_agent(&mut self, from: &Pid) -> bool {
        match self.admission.admit_agent(from) {
            Ok(()) => true,
            Err(why) => {
                // Dropped, as Mesos does: the agent authenticates and retries.
                self.refuse_registration(&why);
                false
            }
        }
    }

    fn admit_register_agent(
        &mut self,
        _ctx: &mut Ctx<'_, Self>,
        from: &Pid,
        _m: &mut RegisterSlaveMessage,
    ) -> bool {
        self.admit_agent(from)
    }

    fn admit_reregister_agent(
        &mut self,
        _ctx: &mut Ctx<'_, Self>,
        from: &Pid,
        _m: &mut ReregisterSlaveMessage,
    ) -> bool {
        self.admit_agent(from)
    }

    fn admit_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: &Pid,
        info: &mut proto::FrameworkInfo,
    ) -> bool {
        let registered = info
            .id
            .as_ref()
            .and_then(|id| self.core.frameworks().get(id))
            .map(|f| f.info.principal.as_deref());
        let admitted = self
            .admission
            .admit_framework(from, info, registered)
            .and_then(|()| {
                crate::authorization::may_register(&self.core.config.acls, info).map_err(|d| d.0)
            });
        match admitted {
            Ok(()) => true,
            Err(why) => {
                self.refuse_registration(&why);
                ctx.send(from, FrameworkErrorMessage { message: why });
                false
            }
        }
    }

    fn admit_register_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: &Pid,
        m: &mut RegisterFrameworkMessage,
    ) -> bool {
        self.admit_framework(ctx, from, &mut m.framework)
    }

    fn admit_reregister_framework(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: &Pid,
        m: &mut ReregisterFrameworkMessage,
    ) -> bool {
        self.admit_framework(ctx, from, &mut m.framework)
    }

    fn offer_expired(&mut self, ctx: &mut Ctx<'_, Self>, id: OfferId) {
        self.when_acting(ctx, move |me, ctx| {
            let fx = me.core.offer_expired(&id);
            me.apply(ctx, fx);
        });
    }

    /// Whether a message claiming `from` over the connection it arrived on may be handled
    /// (PIDs bound to their authenticated connections, see [`crate::bound_pids`]); a
    /// refusal is logged and counted in `master/messages_refused_connection`.
    fn admit_connection(
        &self,
        ctx: &Ctx<'_, Self>,
        from: &Pid,
        name: &str,
        authenticating: bool,
    ) -> bool {
        match self
            .admission
            .admit_sender(from, ctx.connection(), authenticating)
        {
            Ok(()) => true,
            Err(refusal) => {
                tracing::warn!(%from, message = name, connection = ?ctx.connection(), reason = refusal.reason(), "dropping message");
                self.count("master/messages_refused_connection");
                false
            }
        }
    }

    fn count(&self, name: &'static str) {
        metrics::counter!(name, "node" => self.node_label.clone()).increment(1);
    }

    /// Mesos's `valid_*`/`invalid_*` counters: a message is valid when its sender is
    /// known for it (a registered agent; for a scheduler's, a known framework).
    fn count_validity(&self, from: &Pid, m: &dyn std::any::Any) {
        let agent = || self.core.is_agent(from);
        let framework = |id: &FrameworkId| self.core.frameworks().contains_key(id);
        let (what, valid) = if let Some(u) = m.downcast_ref::<StatusUpdateMessage>() {
            (
                "status_updates",
                agent() && framework(&u.update.framework_id),
            )
        } else if let Some(a) = m.downcast_ref::<StatusUpdateAcknowledgementMessage>() {
            ("status_update_acknowledgements", framework(&a.framework_id))
        } else if let Some(x) = m.downcast_ref::<FrameworkToExecutorMessage>() {
            ("framework_to_executor_messages", framework(&x.framework_id))
        } else if let Some(x) = m.downcast_ref::<ExecutorToFrameworkMessage>() {
            (
                "executor_to_framework_messages",
                agent() && framework(&x.framework_id),
            )
        } else {
            return;
        };
        let prefix = if valid { "valid" } else { "invalid" };
        metrics::counter!(format!("master/{prefix}_{what}"), "node" => self.node_label.clone())
            .increment(1);
    }

    /// Mesos's agent admission counters, from what the core decided.
    fn count_admissions(&self, effects: &[Effect]) {
        for e in effects {
            let name = match e {
                Effect::Send(_, Outbound::SlaveRegisteredMessage(_)) => {
                    "master/slave_registrations"
                }
                Effect::Send(_, Outbound::SlaveReregisteredMessage(_)) => {
                    "master/slave_reregistrations"
                }
                Effect::Allocator(ToAllocator::RemoveAgent(_)) => "master/slave_removals",
                _ => continue,
            };
            self.count(name);
        }
    }

    fn ping_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.may_act(ctx) {
            let fx = self.core.ping_tick();
            self.apply(ctx, fx);
        }
        ctx.after(self.ping_interval, |me: &mut MasterProcess, ctx| {
            me.ping_tick(ctx)
        });
    }

    fn metrics_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.publish_metrics();
        self.warm_task_json();
        let depth = ctx.node().mailbox_depth(ctx.pid().id()).unwrap_or(0);
        metrics::gauge!("master/event_queue_messages", "node" => self.node_label.clone())
            .set(depth as f64);
        ctx.after(METRICS_INTERVAL, |me: &mut MasterProcess, ctx| {
            me.metrics_tick(ctx)
        });
    }

    /// When tasks changed since the last time, renders the JSON of those whose records
    /// cache none ([`state_json::warm_task_json`]) on a blocking thread, from a copy of
    /// the frameworks map taken here (it shares the records, so the caches it fills are
    /// the core's).
    /// Then the next `/master/state`, even the first after this master took over
    /// 100,000 tasks, writes cached bytes instead of rendering them all in one request.
    fn warm_task_json(&mut self) {
        use std::sync::atomic::Ordering;
        let changes = self.core.task_changes();
        if self.leadership != Leadership::Leading
            || changes == self.warmed_changes
            || self.warming.load(Ordering::Acquire)
        {
            return;
        }
        self.warmed_changes = changes;
        self.warming.store(true, Ordering::Release);
        let frameworks = self.core.frameworks().clone();
        let warming = self.warming.clone();
        libproc::offload::offload(move || {
            let n = state_json::warm_task_json(&frameworks);
            tracing::debug!(tasks = n, "rendered the JSON of changed tasks");
            warming.store(false, Ordering::Release);
        });
    }

    /// Copies the core's figures into the metrics registry.
    fn publish_metrics(&self) {
        let node = self.node_label.clone();
        let gauge = |name: String, v: f64| metrics::gauge!(name, "node" => node.clone()).set(v);
        let core = &self.core;
        let active = core.agents().values().filter(|a| a.connected).count();
        gauge(
            "master/elected".into(),
            if self.leadership == Leadership::Leading {
                1.0
            } else {
                0.0
            },
        );
        if let Some(s) = self.started {
            gauge("master/uptime_secs".into(), s.elapsed().as_secs_f64());
        }
        gauge(
            "master/operator_event_stream_subscribers".into(),
            self.operators.len() as f64,
        );
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
        metrics::counter!("master/messages_refused_sender", "node" => node.clone())
            .absolute(core.refused_senders());
        for (name, v) in crate::metrics::resource_gauges(core) {
            gauge(name, v);
        }
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

    /// Runs a leader-only operator call that changes state: its effects are carried out
    /// and `ok` is the answer; a refused call is answered with its status and message.
    fn operator_call(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        req: &HttpRequest,
        ok: u16,
        call: impl FnOnce(&mut Master, &HttpRequest) -> Result<Vec<Effect>, OpError>,
    ) -> HttpResponse {
        if let Some(r) = self.not_leader_response(ctx, req) {
            return r;
        }
        match call(&mut self.core, req) {
            Ok(fx) => {
                self.apply(ctx, fx);
                HttpResponse::new(ok, "text/plain", "")
            }
            Err(e) => HttpResponse::text(e.status, e.message),
        }
    }

    /// Whether the caller of `req` may do `action` on each of `objects` (`--acls`): the
    /// `403` with the reason if not.
    fn authorize_http<'a>(
        &self,
        req: &HttpRequest,
        action: proto::acls::Action,
        objects: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<(), HttpResponse> {
        crate::authorization::may_do(
            &self.core.config.acls,
            req.principal.as_deref(),
            action,
            objects,
        )
        .map_err(|d| {
            tracing::warn!(peer = %req.peer, path = %req.path, "{d}");
            HttpResponse::text(403, format!("{d}\n"))
        })
    }

    /// The principal of framework `id` (`None`: unknown, or it has none).
    fn framework_principal(&self, id: &FrameworkId) -> Option<String> {
        self.core
            .frameworks()
            .get(id)
            .and_then(|f| f.info.principal.clone())
    }

    /// `teardown_frameworks` on framework `id`.
    fn authorize_teardown(&self, req: &HttpRequest, id: &FrameworkId) -> Result<(), HttpResponse> {
        let owner = self.framework_principal(id);
        self.authorize_http(
            req,
            proto::acls::Action::TeardownFramework,
            [owner.as_deref()],
        )
    }

    /// `reserve_resources` (each role reserved for) or `unreserve_resources` (on the
    /// reservations' principal, which this master does not record: `ANY`).
    fn authorize_reservation(&self, req: &HttpRequest, reserve: bool) -> Result<(), HttpResponse> {
        use proto::acls::Action;
        if !reserve {
            return self.authorize_http(req, Action::UnreserveResources, [None]);
        }
        let roles = crate::operator::reservation_roles(&req.body);
        self.authorize_http(
            req,
            Action::ReserveResources,
            roles.iter().map(|r| Some(r.as_str())),
        )
    }

    fn http_weights(&mut self, ctx: &mut Ctx<'_, Self>, req: &HttpRequest) -> HttpResponse {
        match req.method.as_str() {
            "GET" => match self.not_leader_response(ctx, req) {
                Some(r) => r,
                None => HttpResponse::json(&self.core.weights_json()),
            },
            "PUT" | "POST" => {
                let roles = crate::authorization::roles_in_weights(&req.body);
                let objects = roles.iter().map(|r| Some(r.as_str()));
                if let Err(denied) =
                    self.authorize_http(req, proto::acls::Action::UpdateWeight, objects)
                {
                    return denied;
                }
                self.operator_call(ctx, req, 200, |m, r| m.update_weights(&r.body))
            }
            other => method_not_allowed(other, "GET, PUT"),
        }
    }

    fn http_quota(&mut self, ctx: &mut Ctx<'_, Self>, req: &HttpRequest) -> HttpResponse {
        // The role of `DELETE /quota/<role>` (or `/master/quota/<role>`); roles nest.
        let path = req.path.trim_matches('/');
        let path = path.strip_prefix("master/").unwrap_or(path);
        let role = path
            .strip_prefix("quota")
            .unwrap_or("")
            .trim_start_matches('/');
        let role = libproc::http::percent_decode(role, false);
        let body_role = || {
            let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
            crate::authorization::roles_of(std::slice::from_ref(&v))
        };
        let checked = match (req.method.as_str(), role.is_empty()) {
            ("GET", _) => self.authorize_http(req, proto::acls::Action::GetQuota, [None]),
            ("POST" | "PUT", true) => {
                let roles = body_role();
                let objects = roles.iter().map(|r| Some(r.as_str()));
                self.authorize_http(req, proto::acls::Action::UpdateQuota, objects)
            }
            ("DELETE", false) => {
                self.authorize_http(req, proto::acls::Action::UpdateQuota, [Some(role.as_str())])
            }
            _ => Ok(()),
        };
        if let Err(denied) = checked {
            return denied;
        }
        match (req.method.as_str(), role.is_empty()) {
            ("GET", true) => match self.not_leader_response(ctx, req) {
                Some(r) => r,
                None => HttpResponse::json(&self.core.quota_json()),
            },
            ("POST" | "PUT", true) => {
                self.operator_call(ctx, req, 200, |m, r| m.set_quota(&r.body))
            }
            ("DELETE", false) => {
                self.operator_call(ctx, req, 200, move |m, _| m.remove_quota(&role))
            }
            ("DELETE", true) => HttpResponse::bad_request("DELETE needs a role: /quota/<role>"),
            (other, _) => method_not_allowed(other, "GET, POST, DELETE /quota/<role>"),
        }
    }

    /// A JSON view of the state (`/master/state` and its kin): the core is cloned on this
    /// thread (a consistent snapshot; its agent, framework and task records and its
    /// registry are shared, so this copies pointers), then rendered into bytes on a
    /// blocking thread, so a large cluster's state does not hold up the master's messages.
    fn http_state_view(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        req: HttpRequest,
        responder: Responder,
        render: state_json::Render,
    ) {
        if let Some(r) = self.not_leader_response(ctx, &req) {
            responder.respond(r);
            return;
        }
        let mut snapshot = self.core.clone();
        let flags = self.flags.clone();
        libproc::offload::offload(move || {
            let acls = snapshot.config.acls.clone();
            crate::authorization::hide_unviewable(&mut snapshot, &acls, req.principal.as_deref());
            let body = render(&snapshot, &flags);
            responder.respond(HttpResponse::new(200, "application/json", body));
        });
    }
}

fn method_not_allowed(method: &str, allowed: &str) -> HttpResponse {
    HttpResponse::text(
        405,
        format!("method {method} is not allowed; use {allowed}"),
    )
    .with_header("Allow", allowed)
}

/// `//host:port` of a master (its hostname, else its IP), as Mesos's redirects use.
pub fn leader_location(info: &MasterInfo) -> String {
    let host = if info.hostname.is_empty() {
        info.address.ip.clone()
    } else {
        info.hostname.clone()
    };
    format!("//{host}:{}", info.port)
}

macro_rules! handle {
    ($h:ident, $msg:ty, $metric:literal, $method:ident) => {
        handle!($h, $msg, $metric, $method, MasterProcess::admit_any);
    };
    ($h:ident, $msg:ty, $metric:literal, $method:ident, $admit:path) => {
        $h.on(
            |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, from: Pid, m: $msg| {
                /// Counts, admits and handles the message: now, or once the master may act.
                fn act(
                    me: &mut MasterProcess,
                    ctx: &mut Ctx<'_, MasterProcess>,
                    from: Pid,
                    mut m: $msg,
                ) {
                    me.count($metric);
                    if !$admit(me, ctx, &from, &mut m) {
                        return;
                    }
                    me.count_validity(&from, &m);
                    let fx = me.core.$method(&from, m);
                    me.apply(ctx, fx);
                }
                if !me.admit_connection(ctx, &from, <$msg as Message>::NAME, false) {
                    return;
                }
                // Elected and recovering, or leading with a suspended lease: a leader's
                // message, kept for when it may act (Mesos, without leases, drops it
                // while recovering, and the sender's retry backoff costs up to seconds;
                // some, like a DECLINE, are never repeated).
                if me.keeps_messages(ctx) {
                    me.defer(
                        ctx,
                        Box::new(move |me, ctx| {
                            if me.may_act(ctx) {
                                act(me, ctx, from, m);
                            }
                        }),
                    );
                    return;
                }
                if !me.may_act(ctx) {
                    me.drop_message(&from, <$msg as Message>::NAME);
                    return;
                }
                act(me, ctx, from, m);
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
            register_agent,
            MasterProcess::admit_register_agent
        );
        handle!(
            h,
            ReregisterSlaveMessage,
            "master/messages_reregister_slave",
            reregister_agent,
            MasterProcess::admit_reregister_agent
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
            register_framework,
            MasterProcess::admit_register_framework
        );
        handle!(
            h,
            ReregisterFrameworkMessage,
            "master/messages_reregister_framework",
            reregister_framework,
            MasterProcess::admit_reregister_framework
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
        // An ACCEPT that does not decode (a negative or NaN resource) is answered with
        // TASK_ERROR and its offers released, not dropped.
        h.on_or_undecodable(
            |me: &mut MasterProcess,
             ctx: &mut Ctx<MasterProcess>,
             from: Pid,
             m: AcceptOffersMessage| {
                if !me.admit_connection(ctx, &from, AcceptOffersMessage::NAME, false) {
                    return;
                }
                // Kept like the other leader messages (see `handle!`): a scheduler does
                // not repeat an ACCEPT, and its offers would stay outstanding.
                if me.keeps_messages(ctx) {
                    me.defer(
                        ctx,
                        Box::new(move |me, ctx| {
                            if me.may_act(ctx) {
                                me.accept_offers(ctx, &from, m);
                            }
                        }),
                    );
                    return;
                }
                if !me.may_act(ctx) {
                    me.drop_message(&from, AcceptOffersMessage::NAME);
                    return;
                }
                me.accept_offers(ctx, &from, m);
            },
            |me: &mut MasterProcess,
             ctx: &mut Ctx<MasterProcess>,
             from: Pid,
             bytes: &[u8],
             e: &libproc::message::DecodeError| {
                if !me.admit_connection(ctx, &from, AcceptOffersMessage::NAME, false)
                    || !me.may_act(ctx)
                {
                    return;
                }
                let Some(skeleton) = crate::undecodable::AcceptSkeleton::read(bytes) else {
                    return;
                };
                me.count("master/messages_accept");
                let why = match e {
                    libproc::message::DecodeError::Body { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                let fx = me.core.accept_undecodable(&from, skeleton, &why);
                me.apply(ctx, fx);
            },
        );
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
             m: AuthenticateMessage| {
                if !me.admit_connection(ctx, &from, AuthenticateMessage::NAME, true) {
                    return;
                }
                me.count("master/messages_authenticate");
                let challenge = me.admission.authenticate(&from, m);
                ctx.send(&from, challenge);
            },
        );
        h.on(
            |me: &mut MasterProcess,
             ctx: &mut Ctx<MasterProcess>,
             from: Pid,
             m: AuthenticationStepMessage| {
                if !me.admit_connection(ctx, &from, AuthenticationStepMessage::NAME, true) {
                    return;
                }
                let master = ctx.pid().clone();
                let connection = ctx.connection();
                match me.admission.step(&master, &from, connection, m) {
                    Ok((done, newly_bound)) => {
                        me.count("master/authentication_successes");
                        ctx.send(&from, done);
                        if let (true, Some(c)) = (newly_bound, connection) {
                            // Forget who authenticated over it when it closes.
                            let closed = ctx.node().connection_closed(c);
                            ctx.spawn(closed, move |me: &mut MasterProcess, _ctx, ()| {
                                let gone = me.admission.connection_closed(c);
                                tracing::info!(connection = %c, pids = ?gone, "authenticated connection closed; its PIDs must authenticate again");
                            });
                        }
                    }
                    Err(failed) => {
                        me.count("master/authentication_failures");
                        ctx.send(&from, failed);
                    }
                }
            },
        );
        h.on(
            |me: &mut MasterProcess,
             ctx: &mut Ctx<MasterProcess>,
             from: Pid,
             _m: PongSlaveMessage| {
                if !me.admit_connection(ctx, &from, <PongSlaveMessage as Message>::NAME, false) {
                    return;
                }
                if !me.may_act(ctx) {
                    me.drop_message(&from, <PongSlaveMessage as Message>::NAME);
                    return;
                }
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
                // The allocator counts these resources as offered: dropping them would
                // keep them from every framework for good. While the lease is suspended
                // they wait (the core gives back whatever went stale meanwhile); if
                // leadership is lost, the master and its allocator stop anyway.
                me.when_acting(ctx, move |me, ctx| {
                    let fx = me.core.offers_from_allocator(m);
                    me.apply(ctx, fx);
                });
            },
        );
        h.in_realm(MASTER_SCHEDULER, |h| {
            h.route("api/v1/scheduler", MasterProcess::scheduler_api);
        });

        h.in_realm(MASTER_READWRITE, |h| {
            for path in ["api/v1", "api/v1/operator"] {
                h.route_deferred(path, MasterProcess::operator_api_deferred);
            }
        });

        // The web UI: served by every master, leading or not (see `webui`).
        for path in ["", "index.html", "static/*"] {
            h.route(
                path,
                |me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, req| {
                    if req.method != "GET" && req.method != "HEAD" {
                        return method_not_allowed(&req.method, "GET");
                    }
                    let route = req.path.trim_start_matches('/');
                    crate::webui::serve(route, me.core.config.webui_dir.as_deref())
                },
            );
        }
        // The leader's read-only JSON through a standby, for a browser that cannot reach
        // the leader's advertised address (see `leader_proxy`).
        h.in_realm(MASTER_READONLY, |h| {
h.route_deferred(
            "webui/leader/*",
            |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, req, responder| {
                let route = req.path.trim_start_matches('/');
                let Some(path) = crate::leader_proxy::proxied_path(route) else {
                    responder.respond(HttpResponse::not_found());
                    return;
                };
                if req.method != "GET" {
                    responder.respond(method_not_allowed(&req.method, "GET"));
                    return;
                }
                // Only a standby that knows another leader (the one it would redirect to).
                let leader = match me.leadership.not_leading(me.leader.as_ref(), me.core.info()) {
                    NotLeading::Redirect(l) => detector::master_pid(l),
                    NotLeading::Unavailable(_) => None,
                };
                match leader {
                    Some(pid) => {
                        let tls = ctx.node().tls().cloned();
                        ctx.spawn(
                            crate::leader_proxy::forward(pid.addr(), path, tls),
                            move |_me: &mut MasterProcess, _ctx, response| {
                                responder.respond(response)
                            },
                        );
                    }
                    None => responder.respond(HttpResponse::unavailable(
                        "this master is not a standby that knows another leader; read its own endpoints",
                    )),
                }
            },
        );

});
        h.in_realm(MASTER_READONLY, |h| {
            let views: [(&str, state_json::Render); 6] = [
                ("state", state_json::render_state),
                ("state.json", state_json::render_state),
                ("state-summary", state_json::render_state_summary),
                ("frameworks", state_json::render_frameworks),
                ("slaves", state_json::render_slaves),
                ("tasks", state_json::render_tasks),
            ];
            for (path, render) in views {
                h.route_deferred(
                    path,
                    move |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, req, responder| {
                        me.http_state_view(ctx, req, responder, render)
                    },
                );
            }
        });
        h.route(
            "version",
            |_me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, _req| {
                HttpResponse::json(&state_json::version())
            },
        );
        h.route(
            "health",
            |_me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, _req| {
                HttpResponse::new(200, "text/plain", "")
            },
        );
        h.route(
            "redirect",
            |me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, _req| {
                // To the leader as this master knows it (itself when leading).
                match me.leader() {
                    Some(info) => HttpResponse::redirect(&leader_location(info)),
                    None => HttpResponse::unavailable("no leading master is known; retry shortly"),
                }
            },
        );
        h.in_realm(MASTER_READWRITE, |h| {
            h.route_deferred(
                "weights",
                |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, req, responder| {
                    let r = me.http_weights(ctx, &req);
                    me.reply_in_order(ctx, responder, r);
                },
            );
            for path in ["quota", "quota/*"] {
                h.route_deferred(
                    path,
                    |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, req, responder| {
                        let r = me.http_quota(ctx, &req);
                        me.reply_in_order(ctx, responder, r);
                    },
                );
            }
            h.route_deferred(
                "reserve",
                |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, req, responder| {
                    let r = if req.method != "POST" {
                        method_not_allowed(&req.method, "POST")
                    } else if let Err(denied) = me.authorize_reservation(&req, true) {
                        denied
                    } else {
                        me.operator_call(ctx, &req, 202, |m, r| m.operator_reserve(&r.body))
                    };
                    me.reply_in_order(ctx, responder, r);
                },
            );
            h.route_deferred(
                "teardown",
                |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, req, responder| {
                    let r = if req.method != "POST" {
                        method_not_allowed(&req.method, "POST")
                    } else if let Some(Err(denied)) = crate::operator::teardown_request(&req.body)
                        .ok()
                        .map(|id| me.authorize_teardown(&req, &id))
                    {
                        denied
                    } else {
                        me.operator_call(ctx, &req, 200, |m, r| {
                            m.operator_teardown(&crate::operator::teardown_request(&r.body)?)
                        })
                    };
                    me.reply_in_order(ctx, responder, r);
                },
            );
            h.route_deferred(
                "unreserve",
                |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, req, responder| {
                    let r = if req.method != "POST" {
                        method_not_allowed(&req.method, "POST")
                    } else if let Err(denied) = me.authorize_reservation(&req, false) {
                        denied
                    } else {
                        me.operator_call(ctx, &req, 202, |m, r| m.operator_unreserve(&r.body))
                    };
                    me.reply_in_order(ctx, responder, r);
                },
            );
        });

        h.in_realm(MASTER_READONLY, |h| {
            h.route(
                "roles",
                |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, req| {
                    if let Some(r) = me.not_leader_response(ctx, req) {
                        return r;
                    }
                    HttpResponse::json(&me.core.roles_json())
                },
            );
            h.route(
                "roles.json",
                |me: &mut MasterProcess, ctx: &mut Ctx<MasterProcess>, req| {
                    if let Some(r) = me.not_leader_response(ctx, req) {
                        return r;
                    }
                    HttpResponse::json(&me.core.roles_json())
                },
            );
            h.route(
                "flags",
                |me: &mut MasterProcess, _ctx: &mut Ctx<MasterProcess>, _req| {
                    HttpResponse::json(&serde_json::json!({ "flags": me.flags }))
                },
            );
        });
    }

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.started = Some(tokio::time::Instant::now());
        match self.core.config.zk.clone() {
            None => {
                tracing::info!(pid = %ctx.pid(), id = %self.core.info().id, registry = %self.store.describe(), "master started (standalone: leading)");
                // Standalone: elected at once.
                self.leadership.elected();
                self.probe.set(self.leadership);
                match self.store.load_now() {
                    Some(Ok(registry)) => self.become_leader(ctx, registry),
                    Some(Err(e)) => {
                        self.lose_leadership(ctx, format!("cannot recover the registry: {e}"))
                    }
                    None => self.load_registry(ctx, 1),
                }
            }
            Some(url) => {
                tracing::info!(pid = %ctx.pid(), id = %self.core.info().id, %url, registry = %self.store.describe(), "master started; contending for leadership");
                let timeout = self.core.config.zk_session_timeout;
                let info = self.core.info().clone();
                let lease = self.lease.clone();
                detector::spawn_reporting(
                    ctx,
                    move |tx| {
                        contend(url, timeout, info, lease, move |e| {
                            let _ = tx.send(e);
                        })
                    },
                    |me: &mut MasterProcess, ctx, e| me.on_contender(ctx, e),
                );
            }
        }
        crate::metrics::declare(&self.node_label);
        self.publish_metrics();
        ctx.after(self.ping_interval, |me: &mut MasterProcess, ctx| {
            me.ping_tick(ctx)
        });
        ctx.after(METRICS_INTERVAL, |me: &mut MasterProcess, ctx| {
            me.metrics_tick(ctx)
        });
    }

    fn exited(&mut self, ctx: &mut Ctx<'_, Self>, pid: Pid) {
        self.when_acting(ctx, move |me, ctx| {
            let fx = me.core.exited(&pid);
            me.apply(ctx, fx);
        });
    }
}
