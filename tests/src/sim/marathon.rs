//! Marathon in the simulation: our Marathon (`frameworks/marathon`) as a second framework,
//! on its own simulated node, running [`APPS`] (created once through its `/v2/apps` API,
//! in-process) on its node's wall clock (see [`super::clocks`]). Its state store is a [`MemStore`] that outlives the
//! scheduler, so a crashed Marathon restarts as a real one does: it loads the store and
//! fails over with the stored FrameworkID.
//!
//! Converged (after faults stop) means: each app has exactly `instances` instances, all
//! `TASK_RUNNING` in Marathon's eyes, and the master's and the agents' live tasks of
//! Marathon's framework are exactly those instances, running, each on one agent (so no task
//! of Marathon's is left running that Marathon does not know).

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use frameworks::scheduler::{self, MasterAddress, SchedulerConfig, SchedulerHandle};
use libproc::Node;
use marathon::api::{route, Reply};
use marathon::core::Core;
use marathon::shell::{Info, Marathon, Shared};
use marathon::store::{MemStore, Store};
use proto::{FrameworkId, FrameworkInfo, TaskState};

use super::Trace;

/// The apps Marathon keeps running: (id, instances).
pub const APPS: &[(&str, u32)] = &[("/web", 2), ("/api", 2)];
/// Each instance's resources (small: everything fits beside the other frameworks).
const APP_CPUS: f64 = 0.1;
const APP_MEM: f64 = 32.0;

/// Marathon's id prefix of task ids is its app id with `/` turned into `_`: `web.<uuid>`.
pub fn is_marathon_task(task: &str) -> bool {
    APPS.iter()
        .any(|(id, _)| task.starts_with(&format!("{}.", id.trim_start_matches('/'))))
}

/// One Marathon: its node, its durable store, and (while up) its scheduler.
pub struct MarathonSim {
    /// Its simulated node.
    pub node: Node,
    /// Its state store (survives crashes).
    pub store: MemStore,
    /// Its shared state, while up.
    pub shared: Option<Rc<Shared>>,
    /// Its driver, while up.
    pub handle: Option<SchedulerHandle<Marathon>>,
    /// Schedulers started so far.
    pub started: u64,
    /// Whether the apps were created.
    pub apps_created: bool,
}

/// Marathon's view: per app, its instances and their states.
pub type MarathonView = BTreeMap<String, Vec<(String, TaskState)>>;

impl MarathonSim {
    /// A Marathon, not started yet, on `node`.
    pub fn new(node: Node) -> MarathonSim {
        MarathonSim {
            node,
            store: MemStore::default(),
            shared: None,
            handle: None,
            started: 0,
            apps_created: false,
        }
    }

    /// Starts a scheduler from the store (its FrameworkID and apps), as a restarted
    /// Marathon does; the first time, creates the apps through the API.
    pub async fn start(
        &mut self,
        seed: u64,
        master: MasterAddress,
        clock: marathon::shell::Clock,
        trace: &Trace,
    ) -> Result<(), String> {
        let entries = self.store.load().await?;
        let mut core = Core::new(seed);
        core.load(entries)?;
        let fid = core.framework_id.clone();
        let shared = Shared::with_clock(core, Rc::new(self.store.clone()), Info::default(), clock);
        let mut info = FrameworkInfo::new("marathon", "root");
        info.checkpoint = true;
        info.failover_timeout = 7.0 * 24.0 * 3600.0;
        info.id = fid.clone().map(FrameworkId::from);
        self.started += 1;
        let config = SchedulerConfig {
            seed,
            reconcile_on_registration: true,
            registration_backoff_max: Duration::from_secs(10),
            ..SchedulerConfig::default()
        };
        let sched = Marathon::new(shared.clone(), Duration::from_secs(60));
        let handle = scheduler::run_with(&self.node, master, info, sched, config)
            .map_err(|e| format!("marathon cannot start: {e}"))?;
        *shared.driver.borrow_mut() = Some(handle.process.clone());
        trace.note(format!(
            "marathon {} started (failover: {})",
            handle.pid(),
            fid.is_some()
        ));
        self.shared = Some(shared.clone());
        self.handle = Some(handle);
        if !self.apps_created {
            for (id, instances) in APPS {
                let body = serde_json::json!({
                    "id": id, "cmd": "sleep 1000000", "instances": instances,
                    "cpus": APP_CPUS, "mem": APP_MEM, "portDefinitions": [],
                });
                match route(
                    &shared,
                    "POST",
                    "/v2/apps",
                    &[],
                    body.to_string().as_bytes(),
                )
                .await
                {
                    Reply::Json(201, _) => trace.note(format!("marathon app {id} created")),
                    other => return Err(format!("marathon refused app {id}: {other:?}")),
                }
            }
            self.apps_created = true;
        }
        Ok(())
    }

    /// Kills the scheduler (its memory goes; the store stays).
    pub fn crash(&mut self, trace: &Trace) -> bool {
        let Some(h) = self.handle.take() else {
            return false;
        };
        trace.note(format!("crash marathon {}", h.pid()));
        self.node.terminate(h.pid());
        self.shared = None;
        true
    }

    /// Whether its driver stopped by itself.
    pub fn stopped_by_itself(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.process.is_alive())
    }

    /// The FrameworkID Marathon stored.
    pub fn framework_id(&self) -> Option<FrameworkId> {
        let data = self.store.data.lock().unwrap_or_else(|p| p.into_inner());
        data.get(marathon::core::FRAMEWORK_ID_KEY)
            .and_then(|v| String::from_utf8(v.clone()).ok())
            .map(FrameworkId::from)
    }

    /// Marathon's view of its instances (None while it is down).
    pub fn view(&self) -> Option<MarathonView> {
        let shared = self.shared.as_ref()?;
        let core = shared.core.borrow();
        let mut v: MarathonView = APPS.iter().map(|(a, _)| (a.to_string(), vec![])).collect();
        for i in core.instances.values() {
            v.entry(i.rec.app_id.clone())
                .or_default()
                .push((i.rec.task_id.clone(), i.state));
        }
        Some(v)
    }
}

/// Why Marathon's, the master's and the agents' views do not agree yet (`None`: converged).
/// `master` and `agents` hold the live tasks of Marathon's framework.
pub fn diverges(
    marathon: Option<&MarathonView>,
    master: &BTreeMap<String, TaskState>,
    agents: &[(usize, String, TaskState)],
) -> Option<String> {
    let Some(view) = marathon else {
        return Some("marathon is down".into());
    };
    let mut known = BTreeSet::new();
    for (app, wanted) in APPS {
        let got = view.get(*app).cloned().unwrap_or_default();
        let running = got.iter().filter(|(_, s)| *s == TaskState::Running).count();
        if got.len() != *wanted as usize || running != *wanted as usize {
            return Some(format!(
                "marathon app {app}: {running} of {} running, wanted {wanted}: {got:?}",
                got.len()
            ));
        }
        known.extend(got.into_iter().map(|(t, _)| t));
    }
    for t in &known {
        if master.get(t) != Some(&TaskState::Running) {
            return Some(format!("marathon task {t}: master has {:?}", master.get(t)));
        }
        let on: Vec<_> = agents.iter().filter(|(_, id, _)| id == t).collect();
        if on.len() != 1 || on[0].2 != TaskState::Running {
            return Some(format!("marathon task {t}: agents have {on:?}"));
        }
    }
    if let Some(t) = master.keys().find(|t| !known.contains(*t)) {
        return Some(format!(
            "master has a marathon task {t} marathon does not know"
        ));
    }
    if let Some(t) = agents.iter().find(|(_, t, _)| !known.contains(t)) {
        return Some(format!(
            "an agent runs a marathon task marathon does not know: {t:?}"
        ));
    }
    None
}
