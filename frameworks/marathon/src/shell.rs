//! The thin shell around the core: the scheduler callbacks (offers, status updates,
//! reconciliation after every (re-)registration, a periodic convergence step), turning
//! launch plans into `TaskInfo`s written to the store before they are launched.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use frameworks::cli;
use frameworks::scheduler::{Scheduler, SchedulerDriver, SchedulerProcess};
use libproc::ProcessRef;
use proto::{
    CommandInfo, ContainerInfo, Environment, Filters, FrameworkId, HealthCheck, HealthCheckKind,
    HttpCheck, KillPolicy, Label, Labels, MasterInfo, Offer, OfferId, Resources, TaskInfo,
    TaskState, TaskStatus, TcpCheck, Uri,
};
use serde_json::Value;

use crate::app::AppDef;
use crate::constraints::Place;
use crate::core::{Core, LaunchPlan, OfferView, StatusEffect, StoreOp, FRAMEWORK_ID_KEY};
use crate::store::Store;

/// How often the convergence step runs.
const STEP_INTERVAL: Duration = Duration::from_secs(1);
/// Offers nobody needs are refused for this long (a revive brings them back at once).
const IDLE_REFUSE_SECONDS: f64 = 5.0;

/// Static facts shown by `/v2/info`.
#[derive(Debug, Clone, Default)]
pub struct Info {
    /// `--master`.
    pub master: String,
    /// `--zk` (empty: in-memory state).
    pub zk: String,
    /// `--http_port`.
    pub http_port: u16,
    /// This instance's `host:port`.
    pub me: String,
    /// `--framework_name`.
    pub framework_name: String,
}

/// State shared by the scheduler and the HTTP server (one thread).
pub struct Shared {
    /// The core.
    pub core: RefCell<Core>,
    /// Where intent is written first.
    pub store: Rc<dyn Store>,
    /// Serialises API writes (plan, write, commit).
    pub api_lock: tokio::sync::Mutex<()>,
    /// The running driver (leader only).
    pub driver: RefCell<Option<ProcessRef<SchedulerProcess<Marathon>>>>,
    /// Static info.
    pub info: Info,
    /// `host:port` of the leading instance, if known.
    pub leader: RefCell<Option<String>>,
    /// Event stream subscribers.
    pub events: crate::events::Bus,
    /// The leadership lease (with `--zk`): run out, this instance must not act — a leader
    /// paused past its ZooKeeper session (SIGSTOP, a long GC-like stall) wakes up with it
    /// run out and changes nothing before its contender reports the loss and it exits.
    pub lease: RefCell<Option<detector::contender::Lease>>,
    /// The clock the scheduler and the API read, in seconds since the epoch (the wall
    /// clock; a simulation passes its own).
    pub clock: Clock,
}

/// A clock in seconds since the epoch.
pub type Clock = Rc<dyn Fn() -> f64>;

impl Shared {
    /// A shared state around `core` and `store`.
    pub fn new(core: Core, store: Rc<dyn Store>, info: Info) -> Rc<Shared> {
        Shared::with_clock(core, store, info, Rc::new(now))
    }

    /// A shared state around `core` and `store` that reads time from `clock`.
    pub fn with_clock(core: Core, store: Rc<dyn Store>, info: Info, clock: Clock) -> Rc<Shared> {
        Rc::new(Shared {
            core: RefCell::new(core),
            store,
            api_lock: tokio::sync::Mutex::new(()),
            driver: RefCell::new(None),
            info,
            leader: RefCell::new(None),
            events: crate::events::Bus::default(),
            lease: RefCell::new(None),
            clock,
        })
    }

    /// Now, by this instance's clock (seconds since the epoch).
    pub fn now(&self) -> f64 {
        (self.clock)()
    }

    /// Whether this instance may act as leader now: no lease (no `--zk`), or a valid one.
    pub fn may_act(&self) -> bool {
        self.lease
            .borrow()
            .as_ref()
            .is_none_or(detector::contender::Lease::valid)
    }

    /// Whether this instance leads (runs the driver).
    pub fn is_leader(&self) -> bool {
        self.driver.borrow().is_some()
    }

    /// Runs a convergence step on the driver now (after an API change).
    pub async fn kick(&self) {
        let driver = self.driver.borrow().clone();
        if let Some(p) = driver {
            let _ = p
                .call(|me: &mut SchedulerProcess<Marathon>, ctx| {
                    me.with_driver(ctx, |s, d| s.step(d))
                })
                .await;
        }
    }
}

/// The scheduler.
pub struct Marathon {
    shared: Rc<Shared>,
    wanted: Cell<bool>,
    reconciliation_interval: Duration,
    stepping: bool,
    readiness: crate::readiness::Pacer,
}

/// Now by the wall clock, in seconds since the epoch.
pub fn now() -> f64 {
    cli::wall_clock()
}

impl Marathon {
    /// A scheduler on `shared`.
    pub fn new(shared: Rc<Shared>, reconciliation_interval: Duration) -> Marathon {
        Marathon {
            shared,
            wanted: Cell::new(false),
            reconciliation_interval,
            stepping: false,
            readiness: crate::readiness::Pacer::default(),
        }
    }

    fn write(&self, d: &mut SchedulerDriver<'_, '_, Self>, ops: Vec<StoreOp>) {
        if ops.is_empty() {
            return;
        }
        let fut = self.shared.store.apply(ops);
        d.spawn(fut, |_s, _d, r| {
            if let Err(e) = r {
                tracing::warn!(error = %e, "state store write failed");
            }
        });
    }

    /// One convergence step: kills, finished deployments, offer wishes.
    pub fn step(&mut self, d: &mut SchedulerDriver<'_, '_, Self>) {
        if !self.shared.may_act() {
            tracing::warn!("leadership lease run out: not acting");
            return;
        }
        let t = self.shared.now();
        let actions = self.shared.core.borrow_mut().step(t);
        for k in &actions.kills {
            tracing::info!(task = %k, "killing");
            d.kill(k.as_str().into());
        }
        for id in &actions.finished {
            tracing::info!(deployment = %id, "deployment finished");
            self.shared.events.publish(
                "deployment_success",
                serde_json::json!({"id": id, "timestamp": crate::app::iso_time(t)}),
            );
        }
        self.write(d, actions.ops);
        if actions.wants_offers && !self.wanted.get() {
            d.revive();
        }
        self.wanted.set(actions.wants_offers);
    }

    /// Explicit reconciliation of the instances the core knows (on `agent`, if given).
    fn reconcile_known(&self, d: &mut SchedulerDriver<'_, '_, Self>, agent: Option<&str>) {
        let statuses: Vec<TaskStatus> = self
            .shared
            .core
            .borrow()
            .known_tasks()
            .into_iter()
            .filter(|(_, a)| agent.is_none_or(|x| x == a))
            .map(|(task, agent)| {
                let mut s = TaskStatus::new(task.as_str().into(), TaskState::Staging);
                s.agent_id = Some(agent.as_str().into());
                s
            })
            .collect();
        if !statuses.is_empty() {
            d.reconcile(statuses);
        }
    }

    fn tick(&mut self, d: &mut SchedulerDriver<'_, '_, Self>) {
        self.probe_readiness(d);
        self.step(d);
        d.after(STEP_INTERVAL, |s, d| s.tick(d));
    }

    /// Starts the readiness probes that are due; a ready answer marks the instance ready
    /// and runs a step (a deployment may move on).
    fn probe_readiness(&mut self, d: &mut SchedulerDriver<'_, '_, Self>) {
        let probes = self.shared.core.borrow().readiness_probes();
        for p in self.readiness.due(probes, self.shared.now()) {
            let fut = async move {
                let r = crate::readiness::probe(&p).await;
                (p, r)
            };
            d.spawn(fut, |s: &mut Marathon, d, (p, r)| match r {
                Ok(answer) => {
                    let status = answer.status;
                    let ready = crate::readiness::is_ready(&p, status);
                    s.shared
                        .core
                        .borrow_mut()
                        .record_readiness(&p.task_id, answer, ready);
                    if ready {
                        tracing::info!(task = %p.task_id, status, "ready");
                        s.step(d);
                    } else {
                        tracing::debug!(task = %p.task_id, status, "not ready yet");
                    }
                }
                Err(e) => tracing::debug!(task = %p.task_id, error = %e, "readiness probe failed"),
            });
        }
    }

    fn reconcile_tick(&mut self, d: &mut SchedulerDriver<'_, '_, Self>) {
        if d.connected() {
            d.reconcile_all();
        }
        let every = self.reconciliation_interval;
        d.after(every, |s, d| s.reconcile_tick(d));
    }
}

fn offer_view(o: &Offer) -> OfferView {
    let unreserved = o.resources.unreserved();
    OfferView {
        agent_id: o.agent_id.to_string(),
        place: Place {
            hostname: o.hostname.clone(),
            attributes: o
                .attributes
                .iter()
                .map(|a| (a.name.clone(), a.value.to_string()))
                .collect(),
        },
        cpus: unreserved.cpus(),
        mem: unreserved.mem(),
        disk: unreserved.disk(),
        ports: unreserved
            .ports()
            .iter()
            .map(|r| (r.begin, r.end))
            .collect(),
    }
}

/// The task for a launch plan: resources, command, environment (`$PORT0…`, `$HOST`),
/// fetch URIs, health check, kill policy, labels.
pub fn task_info(plan: &LaunchPlan, agent_id: &proto::AgentId) -> Result<TaskInfo, String> {
    let def: &AppDef = &plan.app.def;
    let ports = &plan.rec.ports;
    let mut res = format!("cpus:{};mem:{}", def.cpus, def.mem);
    if def.disk > 0.0 {
        res.push_str(&format!(";disk:{}", def.disk));
    }
    if !ports.is_empty() {
        let list: Vec<String> = ports.iter().map(|p| format!("{p}-{p}")).collect();
        res.push_str(&format!(";ports:[{}]", list.join(",")));
    }
    let resources: Resources = res.parse().map_err(|e| format!("resources {res}: {e}"))?;
    let mut env = Environment::default();
    for (k, v) in &def.env {
        env = env.with(k.clone(), v.clone());
    }
    for (i, p) in ports.iter().enumerate() {
        env = env.with(format!("PORT{i}"), p.to_string());
        if let Some(pd) = def.port_definitions.get(i) {
            if pd.port != 0 {
                env = env.with(format!("PORT_{}", pd.port), p.to_string());
            }
            if let Some(name) = &pd.name {
                env = env.with(format!("PORT_{}", name.to_ascii_uppercase()), p.to_string());
            }
        }
    }
    if let Some(p) = ports.first() {
        env = env.with("PORT", p.to_string());
    }
    env = env
        .with(
            "PORTS",
            ports
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
        .with("HOST", plan.rec.host.clone())
        .with("MARATHON_APP_ID", def.id.clone())
        .with("MARATHON_APP_VERSION", plan.app.config_version.clone())
        .with("MESOS_TASK_ID", plan.rec.task_id.clone());
    let mut command = match (&def.cmd, &def.args) {
        (Some(cmd), _) => CommandInfo::shell(cmd.clone()),
        (None, Some(args)) => CommandInfo {
            value: args.first().cloned(),
            shell: false,
            arguments: args.clone(),
            ..Default::default()
        },
        (None, None) => CommandInfo {
            shell: false,
            ..Default::default()
        },
    };
    command.environment = env;
    command.user = def.user.clone();
    command.uris = def
        .fetch
        .iter()
        .map(|f| Uri {
            value: f.uri.clone(),
            executable: f.executable,
            extract: f.extract,
            cache: f.cache,
            output_file: f.output_file.clone(),
        })
        .collect();
    let name = def.id.trim_start_matches('/').replace('/', ".");
    let mut task = TaskInfo::command_task(
        name,
        plan.rec.task_id.as_str().into(),
        agent_id.clone(),
        resources,
        command,
    );
    if let Some(image) = def
        .container
        .as_ref()
        .and_then(|c| c.pointer("/docker/image"))
        .and_then(Value::as_str)
    {
        task.container = Some(ContainerInfo::docker(image));
    }
    if let Some(h) = def.health_checks.first() {
        let port = h
            .port
            .or_else(|| ports.get(h.port_index.unwrap_or(0)).copied())
            .unwrap_or(0) as u32;
        let (kind, http, tcp, cmd) = match h.protocol.as_str() {
            "MESOS_HTTP" | "HTTP" => (
                HealthCheckKind::Http,
                Some(HttpCheck {
                    scheme: None,
                    port,
                    path: Some(h.path.clone()),
                    statuses: vec![],
                }),
                None,
                None,
            ),
            "MESOS_TCP" | "TCP" => (HealthCheckKind::Tcp, None, Some(TcpCheck { port }), None),
            _ => (
                HealthCheckKind::Command,
                None,
                None,
                h.command
                    .as_ref()
                    .map(|c| CommandInfo::shell(c.value.clone())),
            ),
        };
        task.health_check = Some(HealthCheck {
            kind,
            delay_seconds: h.delay_seconds,
            interval_seconds: h.interval_seconds,
            timeout_seconds: h.timeout_seconds,
            // The executor probes and reports; Marathon kills (after a replacement runs).
            consecutive_failures: 0,
            grace_period_seconds: h.grace_period_seconds,
            http,
            tcp,
            command: cmd,
        });
    }
    if let Some(g) = def.task_kill_grace_period_seconds {
        task.kill_policy = Some(KillPolicy {
            grace_period_secs: Some(g),
        });
    }
    task.labels = Labels(
        def.labels
            .iter()
            .map(|(k, v)| Label {
                key: k.clone(),
                value: Some(v.clone()),
            })
            .collect(),
    );
    Ok(task)
}

impl Scheduler for Marathon {
    fn registered(
        &mut self,
        d: &mut SchedulerDriver<'_, '_, Self>,
        id: &FrameworkId,
        _m: &MasterInfo,
    ) {
        tracing::info!(framework_id = %id, "registered");
        self.shared.core.borrow_mut().framework_id = Some(id.to_string());
        self.shared.core.borrow_mut().ready = false;
        self.write(
            d,
            vec![StoreOp::Put(
                FRAMEWORK_ID_KEY.into(),
                id.to_string().into_bytes(),
            )],
        );
        if !self.stepping {
            self.stepping = true;
            self.tick(d);
            let every = self.reconciliation_interval;
            d.after(every, |s, d| s.reconcile_tick(d));
        }
    }

    fn reregistered(&mut self, d: &mut SchedulerDriver<'_, '_, Self>, _m: &MasterInfo) {
        tracing::info!("re-registered");
        self.shared.core.borrow_mut().ready = false;
        if !self.stepping {
            self.stepping = true;
            self.tick(d);
            let every = self.reconciliation_interval;
            d.after(every, |s, d| s.reconcile_tick(d));
        }
    }

    fn disconnected(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>) {
        tracing::warn!("disconnected from the master");
        self.shared.core.borrow_mut().ready = false;
    }

    fn reconciled(&mut self, d: &mut SchedulerDriver<'_, '_, Self>) {
        // Implicit reconciliation is in: every task the master knows has been seen (and
        // unknown ones killed). Now ask about each task we know, explicitly: the master
        // answers TASK_LOST/UNKNOWN for the ones it does not have, which get replaced.
        let known = self.shared.core.borrow().known_tasks().len();
        tracing::info!(tasks = known, "reconciled; launching may start");
        self.shared.core.borrow_mut().ready = true;
        self.reconcile_known(d, None);
        self.wanted.set(false);
        self.step(d);
    }

    /// An agent is gone (unreachable or removed): ask about every instance on it, so the
    /// master answers TASK_LOST for them and the core applies each app's
    /// `unreachableStrategy` (default 0/0: replaced at once, killed as unknown if the agent
    /// comes back; otherwise replaced after `inactiveAfterSeconds`, and a surplus killed
    /// when the old one returns before `expungeAfterSeconds`).
    fn agent_lost(&mut self, d: &mut SchedulerDriver<'_, '_, Self>, agent_id: &proto::AgentId) {
        tracing::warn!(agent = %agent_id.as_str(), "agent lost; reconciling its instances");
        self.reconcile_known(d, Some(agent_id.as_str()));
    }

    fn resource_offers(&mut self, d: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        if !self.shared.may_act() {
            for offer in offers {
                d.decline(offer.id.clone(), Filters::default());
            }
            return;
        }
        let t = self.shared.now();
        for offer in offers {
            let plans = self
                .shared
                .core
                .borrow_mut()
                .match_offer(&offer_view(&offer), t);
            if plans.is_empty() {
                d.decline(offer.id, Filters::refuse(IDLE_REFUSE_SECONDS));
                continue;
            }
            let mut tasks = Vec::new();
            let mut ops = Vec::new();
            let mut ids = Vec::new();
            for p in &plans {
                ids.push(p.rec.task_id.clone());
                match task_info(p, &offer.agent_id) {
                    Ok(t) => {
                        ops.push(StoreOp::Put(
                            crate::core::instance_key(&p.rec.task_id),
                            serde_json::to_vec(&p.rec).unwrap_or_default(),
                        ));
                        tasks.push(t);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot build task"),
                }
            }
            // Decide, write, then launch: a launched task is always one we know.
            let fut = self.shared.store.apply(ops);
            let offer_id: OfferId = offer.id.clone();
            d.spawn(fut, move |s: &mut Marathon, d, r| match r {
                Ok(()) if !tasks.is_empty() => {
                    tracing::info!(tasks = ?ids, "launching");
                    s.shared.core.borrow_mut().sent(&ids);
                    d.launch(vec![offer_id], tasks, Filters::default());
                }
                other => {
                    if let Err(e) = other {
                        tracing::warn!(error = %e, "instance records not written; not launching");
                    }
                    s.shared.core.borrow_mut().forget(&ids);
                    d.decline(offer_id, Filters::default());
                }
            });
        }
    }

    fn status_update(&mut self, d: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        let t = self.shared.now();
        let msg = status.message.clone().unwrap_or_default();
        let effect = self.shared.core.borrow_mut().status(
            status.task_id.as_str(),
            status.state,
            status.healthy,
            &msg,
            t,
        );
        self.shared.events.publish(
            "status_update_event",
            serde_json::json!({
                "taskId": status.task_id.as_str(),
                "taskStatus": status.state.as_str(),
                "message": msg,
                "healthy": status.healthy,
                "timestamp": crate::app::iso_time(t),
            }),
        );
        match effect {
            StatusEffect::None => {}
            StatusEffect::KillUnknown if !self.shared.may_act() => {}
            StatusEffect::KillUnknown => {
                tracing::warn!(task = %status.task_id, "killing a task Marathon does not know");
                d.kill(status.task_id.clone());
            }
            StatusEffect::Ended(op) => {
                self.write(d, vec![op]);
                self.step(d);
            }
        }
    }

    fn error(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, message: &str) {
        tracing::error!(%message, "framework error");
    }
}
