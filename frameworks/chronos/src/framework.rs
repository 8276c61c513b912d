//! The shell around [`Chronos`]: a Mesos scheduler on the SDK's driver. It ticks the core
//! at every instant it asks for, writes changed job records to the [`Store`] (one write per
//! job at a time), launches a matched run only once its record is durable, acknowledges a
//! status update only once its outcome is durable, and answers API requests that change
//! jobs only once the change is durable (decide, write, speak). Offers are declined while
//! the scheduler reconciles after (re-)registration; runs in flight are reconciled
//! explicitly (with their agents) then and every [`RECONCILE_EVERY`].

use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use frameworks::scheduler::{Scheduler, SchedulerDriver};
use libproc::http::HttpResponse;
use libproc::TimerId;
use proto::{
    AgentId, CommandInfo, ContainerInfo, Environment, Filters, FrameworkId, MasterInfo, Offer,
    OfferId, Resources, TaskId, TaskInfo, TaskState, TaskStatus, Uri,
};
use serde_json::json;
use tokio::sync::oneshot;

use crate::api::{self, Route};
use crate::constraints::AgentFacts;
use crate::core::{Chronos, Launch, StatusEffect, TaskEnd};
use crate::job::JobDef;
use crate::store::Store;

/// How often runs in flight are reconciled explicitly.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(15);
/// How long an offer is held for its records to be written before it is given back.
pub const HOLD_OFFER: Duration = Duration::from_secs(10);
/// Retry pause after a failed store write.
pub const STORE_RETRY: Duration = Duration::from_millis(500);
/// The longest the scheduler sleeps before it reads the wall clock again. Its timers run on
/// the monotonic clock: a sleep until an instant hours away, armed before the host's clock
/// stepped forwards (NTP, a VM resumed), would end late by the whole step and find the
/// instant later than epsilon — missed though the scheduler was up all along. Waking at
/// least this often notices a step within this long.
pub const WALL_CHECK: Duration = Duration::from_secs(1);

/// The clock the scheduler reads (injected: tests may pass a virtual one).
pub type Clock = Rc<dyn Fn() -> DateTime<Utc>>;

/// The wall clock.
pub fn wall_clock() -> Clock {
    Rc::new(Utc::now)
}

/// An API request as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// The route.
    pub route: Route,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

/// The scheduler's answer: now, or once a write is durable.
pub enum ApiReply {
    /// Answer now.
    Now(HttpResponse),
    /// Answer when the receiver fires.
    Later(oneshot::Receiver<HttpResponse>),
}

struct Waiter {
    revs: Vec<(String, u64)>,
    reply: oneshot::Sender<HttpResponse>,
    ok: HttpResponse,
}

/// An offer held while the records of the launches matched to it are written: launched
/// once they are durable, given back once it was held [`HOLD_OFFER`].
struct HeldOffer {
    offer: OfferId,
    launches: Vec<Launch>,
    tasks: Vec<TaskInfo>,
    /// When it is given back, on the monotonic clock: a wall clock stepped back while the
    /// offer is held would otherwise hold it for the step as well.
    until: tokio::time::Instant,
}

impl HeldOffer {
    fn new(offer: OfferId, launches: Vec<Launch>, tasks: Vec<TaskInfo>) -> HeldOffer {
        HeldOffer {
            offer,
            launches,
            tasks,
            until: tokio::time::Instant::now() + HOLD_OFFER,
        }
    }

    /// Whether it was held long enough to give it back.
    fn overdue(&self) -> bool {
        tokio::time::Instant::now() >= self.until
    }
}

/// The Chronos framework.
pub struct ChronosScheduler {
    /// The pure core.
    pub core: Chronos,
    store: Rc<dyn Store>,
    clock: Clock,
    writing: BTreeSet<String>,
    held: Vec<HeldOffer>,
    acks: Vec<(TaskStatus, Vec<(String, u64)>)>,
    waiters: Vec<Waiter>,
    tick_timer: Option<TimerId>,
    retry_armed: bool,
    reconcile_armed: bool,
    /// Whether this process may act (the leader's lease holds).
    may_act: Rc<dyn Fn() -> bool>,
    /// Whether the FrameworkID still has to be stored.
    framework_id_stored: bool,
    /// Whether offers were asked for (revived) since a run was last queued: a revive is
    /// sent when a run starts waiting, not at every pump (a revive clears the filters of
    /// declined offers, so reviving at each offer while a run is in flight makes the
    /// master offer again at once: an offer/decline loop).
    revived: bool,
    /// Task ids launched by this process (for tests and logs).
    pub launched: Vec<String>,
    /// Store failures seen.
    pub store_errors: u64,
}

fn ms(d: chrono::Duration) -> Duration {
    Duration::from_millis(d.num_milliseconds().max(0) as u64)
}

/// How long to sleep at `now` (wall) before ticking again for `at` (the next wakeup the
/// core asks for): until then, but never longer than [`WALL_CHECK`].
pub fn tick_wait(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    ms(at - now).clamp(Duration::from_millis(1), WALL_CHECK)
}

impl ChronosScheduler {
    /// A scheduler over `core` (fresh or recovered), writing to `store`, reading `clock`,
    /// acting only while `may_act` holds.
    pub fn new(
        core: Chronos,
        store: Rc<dyn Store>,
        clock: Clock,
        may_act: Rc<dyn Fn() -> bool>,
    ) -> ChronosScheduler {
        ChronosScheduler {
            core,
            store,
            clock,
            writing: BTreeSet::new(),
            held: Vec::new(),
            acks: Vec::new(),
            waiters: Vec::new(),
            tick_timer: None,
            retry_armed: false,
            reconcile_armed: false,
            may_act,
            framework_id_stored: false,
            revived: false,
            launched: Vec::new(),
            store_errors: 0,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Decide, write, speak: tick, write what changed, launch what is durable, acknowledge
    /// and answer what is durable, and arm the next tick.
    pub fn pump(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>) {
        if !(self.may_act)() {
            // Not leading right now (the lease is suspended): look again soon.
            if !self.retry_armed {
                self.retry_armed = true;
                driver.after(STORE_RETRY, |s: &mut Self, d| {
                    s.retry_armed = false;
                    s.pump(d);
                });
            }
            return;
        }
        let now = self.now();
        self.core.tick(now);
        // Writes.
        for (name, rev, record) in self.core.dirty(&self.writing) {
            self.writing.insert(name.clone());
            let fut = self.store.put(name.clone(), record);
            driver.spawn(fut, move |s: &mut Self, d, result| {
                s.writing.remove(&name);
                match result {
                    Ok(()) => s.core.written(&name, rev),
                    Err(e) => {
                        s.store_errors += 1;
                        tracing::warn!(job = %name, error = %e, "cannot store job; retrying");
                        if !s.retry_armed {
                            s.retry_armed = true;
                            d.after(STORE_RETRY, |s: &mut Self, d| {
                                s.retry_armed = false;
                                s.pump(d);
                            });
                        }
                        return;
                    }
                }
                s.pump(d);
            });
        }
        // Launches whose records are durable; offers held too long go back.
        let held = std::mem::take(&mut self.held);
        for h in held {
            if h.launches.iter().all(|l| self.core.launchable(l)) {
                tracing::info!(tasks = ?h.launches.iter().map(|l| &l.task_id).collect::<Vec<_>>(), "launching");
                self.launched
                    .extend(h.launches.iter().map(|l| l.task_id.clone()));
                for l in &h.launches {
                    self.core.sent(&l.task_id);
                    if l.def.max_completion_time > 0 {
                        // maxCompletionTime (ms): kill a run that outlives it.
                        let task = l.task_id.clone();
                        let limit = Duration::from_millis(l.def.max_completion_time);
                        driver.after(limit, move |s: &mut Self, d| {
                            if s.core.find(&task).is_some() {
                                tracing::warn!(task = %task, "maxCompletionTime reached; killing");
                                d.kill(TaskId::from(task));
                            }
                        });
                    }
                }
                driver.launch(vec![h.offer], h.tasks, Filters::default());
            } else if h.overdue() {
                for l in &h.launches {
                    self.core.unmatch(&l.job, &l.task_id);
                }
                driver.decline(h.offer, Filters::default());
            } else {
                self.held.push(h);
            }
        }
        // Acknowledgements and API answers whose writes are durable.
        let acks = std::mem::take(&mut self.acks);
        for (status, revs) in acks {
            if revs.iter().all(|(n, r)| self.core.durable(n, *r)) {
                driver.acknowledge(&status);
            } else {
                self.acks.push((status, revs));
            }
        }
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            if w.revs.iter().all(|(n, r)| self.core.durable(n, *r)) {
                let _ = w.reply.send(w.ok);
            } else if w.reply.is_closed() {
                // The client went away; the write still happens.
            } else {
                self.waiters.push(w);
            }
        }
        let wants = self.core.wants_offers();
        if wants && !self.revived {
            driver.revive();
        }
        self.revived = wants;
        // The next tick.
        if let Some(t) = self.tick_timer.take() {
            driver.cancel(t);
        }
        if let Some(at) = self.core.next_wakeup(now) {
            let wait = tick_wait(at, now);
            self.tick_timer = Some(driver.after(wait, |s: &mut Self, d| {
                s.tick_timer = None;
                s.pump(d);
            }));
        }
        if !self.held.is_empty() && !self.retry_armed {
            self.retry_armed = true;
            driver.after(Duration::from_millis(200), |s: &mut Self, d| {
                s.retry_armed = false;
                s.pump(d);
            });
        }
    }

    fn reconcile_in_flight(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>) {
        let statuses: Vec<TaskStatus> = self
            .core
            .in_flight()
            .into_iter()
            .map(|(t, a)| {
                let mut s = TaskStatus::new(TaskId::from(t), TaskState::Staging);
                s.agent_id = a.map(AgentId::from);
                s
            })
            .collect();
        if !statuses.is_empty() {
            driver.reconcile(statuses);
        }
        if !self.reconcile_armed {
            self.reconcile_armed = true;
            driver.after(RECONCILE_EVERY, |s: &mut Self, d| {
                s.reconcile_armed = false;
                if d.connected() && !s.core.reconciling {
                    s.reconcile_in_flight(d);
                }
            });
        }
    }

    fn task_info(l: &Launch, agent: &AgentId) -> TaskInfo {
        let d = &l.def;
        let mut cmd = if d.shell {
            let mut line = d.command.clone();
            for a in &l.arguments {
                line.push(' ');
                line.push_str(a);
            }
            CommandInfo::shell(line)
        } else {
            let mut c = CommandInfo::shell(d.command.clone());
            c.shell = false;
            c.arguments = std::iter::once(d.command.clone())
                .chain(d.arguments.iter().cloned())
                .chain(l.arguments.iter().cloned())
                .collect();
            c
        };
        let mut env = Environment::default();
        for v in &d.environment_variables {
            env = env.with(v.name.clone(), v.value.clone());
        }
        env = env
            .with("CHRONOS_JOB_NAME", d.name.clone())
            .with("CHRONOS_JOB_OWNER", d.owner.clone());
        cmd.environment = env;
        for u in &d.uris {
            cmd.uris.push(Uri::new(u.clone()));
        }
        for f in &d.fetch {
            let mut u = Uri::new(f.uri.clone());
            u.executable = f.executable;
            u.extract = f.extract;
            u.cache = f.cache;
            cmd.uris.push(u);
        }
        if !d.run_as_user.is_empty() {
            cmd.user = Some(d.run_as_user.clone());
        }
        let resources: Resources = format!("cpus:{};mem:{};disk:{}", d.cpus, d.mem, d.disk)
            .parse()
            .unwrap_or_else(|_| Resources::cpus_mem(d.cpus, d.mem).unwrap_or_default());
        let mut t = TaskInfo::command_task(
            format!("ChronosTask:{}", d.name),
            TaskId::from(l.task_id.clone()),
            agent.clone(),
            resources,
            cmd,
        );
        if let Some(c) = &d.container {
            let kind = c.get("type").and_then(|v| v.as_str()).unwrap_or("DOCKER");
            if let Some(image) = c.get("image").and_then(|v| v.as_str()) {
                if kind.eq_ignore_ascii_case("docker") {
                    t.container = Some(ContainerInfo::docker(image));
                }
            }
        }
        t
    }

    /// Carries out an API request (on the leader).
    pub fn api(&mut self, req: ApiRequest, driver: &mut SchedulerDriver<'_, '_, Self>) -> ApiReply {
        let now = self.now();
        let no_job = |n: &str| HttpResponse::text(404, format!("job '{n}' not found"));
        let no_content = HttpResponse::new(204, "text/plain", "");
        let revs: Vec<(String, u64)> = match req.route {
            Route::Jobs => {
                let v: Vec<_> = self
                    .core
                    .jobs()
                    .values()
                    .map(|j| self.core.job_json(j))
                    .collect();
                return ApiReply::Now(HttpResponse::json(&json!(v)));
            }
            Route::Search => {
                let v: Vec<_> = api::search(&self.core, &req.query)
                    .into_iter()
                    .map(|j| self.core.job_json(j))
                    .collect();
                return ApiReply::Now(HttpResponse::json(&json!(v)));
            }
            Route::Summary => {
                let v: Vec<_> = self
                    .core
                    .jobs()
                    .values()
                    .map(|j| {
                        json!({
                            "name": j.def.name,
                            "status": api::last_status(j),
                            "state": if j.busy() { "running" } else { "idle" },
                            "schedule": j.def.schedule,
                            "parents": j.def.parents,
                            "disabled": j.def.disabled,
                        })
                    })
                    .collect();
                return ApiReply::Now(HttpResponse::json(&json!({ "jobs": v })));
            }
            Route::GetJob(n) => {
                return ApiReply::Now(match self.core.job(&n) {
                    Some(j) => HttpResponse::json(&self.core.job_json(j)),
                    None => no_job(&n),
                })
            }
            Route::Stat(n) => {
                return ApiReply::Now(match self.core.job(&n) {
                    Some(j) => HttpResponse::json(&json!({
                        "name": n,
                        "successCount": j.state.success_count,
                        "errorCount": j.state.error_count,
                        "missedCount": j.state.missed_count,
                        "missed": j.state.missed,
                        "history": j.state.history,
                        "runs": j.state.runs,
                        "nextRun": j.next_instant().map(crate::iso8601::format_instant),
                        "histogram": api::histogram(j),
                    })),
                    None => no_job(&n),
                })
            }
            Route::GraphDot => {
                return ApiReply::Now(HttpResponse::new(
                    200,
                    "text/plain",
                    api::graph_dot(&self.core),
                ))
            }
            Route::Stats(which) => {
                return ApiReply::Now(match api::stats(&self.core, &which) {
                    Ok(v) => HttpResponse::json(&v),
                    Err(e) => bad(&e),
                })
            }
            Route::GraphCsv => {
                return ApiReply::Now(HttpResponse::new(
                    200,
                    "text/plain",
                    api::graph_csv(&self.core),
                ))
            }
            Route::AddScheduled | Route::AddDependent => {
                let dependent = req.route == Route::AddDependent;
                let def = match JobDef::from_json(&req.body, dependent) {
                    Ok(d) => d,
                    Err(e) => return ApiReply::Now(bad(&e.0)),
                };
                let name = def.name.clone();
                match self.core.put(def, now) {
                    Ok(rev) => vec![(name, rev)],
                    Err(e) => return ApiReply::Now(bad(&e.0)),
                }
            }
            Route::RunNow(n) => {
                let args: Vec<String> = req
                    .query
                    .iter()
                    .filter(|(k, _)| k == "arguments")
                    .flat_map(|(_, v)| v.split_whitespace().map(String::from).collect::<Vec<_>>())
                    .collect();
                match self.core.run_now(&n, args, now) {
                    Some(rev) => vec![(n, rev)],
                    None => return ApiReply::Now(no_job(&n)),
                }
            }
            Route::MarkSuccess(n) => match self.core.mark_success(&n, now) {
                Some(revs) => revs,
                None => return ApiReply::Now(no_job(&n)),
            },
            Route::Delete(n) => match self.core.delete(&n) {
                Some((kills, deleted)) => {
                    for t in kills {
                        driver.kill(TaskId::from(t));
                    }
                    deleted.into_iter().map(|d| (d, u64::MAX)).collect()
                }
                None => return ApiReply::Now(no_job(&n)),
            },
            Route::Kill(n) => match self.core.kill(&n) {
                Some((ids, rev)) => {
                    for t in ids {
                        driver.kill(TaskId::from(t));
                    }
                    vec![(n, rev)]
                }
                None => return ApiReply::Now(no_job(&n)),
            },
            Route::Leader | Route::Ping | Route::Metrics | Route::Ui(_) => {
                return ApiReply::Now(HttpResponse::not_found())
            }
        };
        let (tx, rx) = oneshot::channel();
        self.waiters.push(Waiter {
            revs,
            reply: tx,
            ok: no_content,
        });
        self.pump(driver);
        ApiReply::Later(rx)
    }

    /// Figures for `/metrics`.
    pub fn metrics(&self) -> serde_json::Value {
        let d = &self.core.drift;
        let jobs = self.core.jobs();
        json!({
            "chronos.jobs": jobs.len(),
            "chronos.jobs.failed": jobs.values().filter(|j| api::last_status(j) == "failure").count(),
            "chronos.jobs.running": jobs.values().filter(|j| j.busy()).count(),
            "chronos.runs.success": jobs.values().map(|j| j.state.success_count).sum::<u64>(),
            "chronos.runs.error": jobs.values().map(|j| j.state.error_count).sum::<u64>(),
            "chronos.instants.missed": jobs.values().map(|j| j.state.missed_count).sum::<u64>(),
            "chronos.schedule.drift_ms.count": d.count,
            "chronos.schedule.drift_ms.mean": if d.count > 0 { d.sum_ms as f64 / d.count as f64 } else { 0.0 },
            "chronos.schedule.drift_ms.max": d.max_ms,
            "chronos.schedule.drift_ms.last": d.last_ms,
            "chronos.store.errors": self.store_errors,
            "chronos.tasks.launched": self.launched.len(),
        })
    }
}

fn bad(reason: &str) -> HttpResponse {
    HttpResponse::json(&json!({ "message": reason })).with_status(400)
}

trait WithStatus {
    fn with_status(self, status: u16) -> Self;
}

impl WithStatus for HttpResponse {
    fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

fn task_end(state: TaskState) -> TaskEnd {
    match state {
        TaskState::Finished => TaskEnd::Finished,
        TaskState::Failed | TaskState::Killed | TaskState::Error => TaskEnd::Failed,
        TaskState::Lost
        | TaskState::Dropped
        | TaskState::Gone
        | TaskState::GoneByOperator
        | TaskState::Unknown => TaskEnd::Lost,
        TaskState::Staging
        | TaskState::Starting
        | TaskState::Running
        | TaskState::Killing
        | TaskState::Unreachable => TaskEnd::Alive,
    }
}

impl Scheduler for ChronosScheduler {
    fn registered(
        &mut self,
        driver: &mut SchedulerDriver<'_, '_, Self>,
        id: &FrameworkId,
        _m: &MasterInfo,
    ) {
        tracing::info!(framework_id = %id, "registered");
        if !self.framework_id_stored {
            let fut = self.store.set_framework_id(id.to_string());
            driver.spawn(fut, |s: &mut Self, _d, r| match r {
                Ok(()) => s.framework_id_stored = true,
                Err(e) => tracing::error!(error = %e, "cannot store the framework id"),
            });
        }
    }

    fn reregistered(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, _m: &MasterInfo) {
        tracing::info!("re-registered");
    }

    fn disconnected(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>) {
        tracing::info!("disconnected from the master");
        self.core.reconciling = true;
        self.revived = false;
        // Held offers are void now.
        for h in std::mem::take(&mut self.held) {
            for l in &h.launches {
                self.core.unmatch(&l.job, &l.task_id);
            }
        }
    }

    fn reconciled(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>) {
        tracing::info!("reconciled");
        self.core.reconciled();
        self.revived = false;
        self.reconcile_in_flight(driver);
        self.pump(driver);
    }

    fn resource_offers(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, offers: Vec<Offer>) {
        let now = self.now();
        if (self.may_act)() {
            self.core.tick(now);
        }
        for offer in offers {
            if !(self.may_act)() || self.core.reconciling {
                driver.decline(offer.id, Filters::refuse(2.0));
                continue;
            }
            let r = &offer.resources;
            let facts = AgentFacts::new(&offer.hostname, &offer.attributes);
            let launches = self.core.match_offer_with(
                offer.agent_id.as_str(),
                &facts,
                r.cpus(),
                r.mem(),
                r.disk(),
                now,
            );
            if launches.is_empty() {
                let busy = self.core.jobs().values().any(|j| j.busy());
                driver.decline(offer.id, Filters::refuse(if busy { 1.0 } else { 5.0 }));
                continue;
            }
            let tasks = launches
                .iter()
                .map(|l| Self::task_info(l, &offer.agent_id))
                .collect();
            self.held.push(HeldOffer::new(offer.id, launches, tasks));
        }
        self.pump(driver);
    }

    fn offer_rescinded(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, offer_id: &OfferId) {
        if let Some(i) = self.held.iter().position(|h| &h.offer == offer_id) {
            let h = self.held.remove(i);
            for l in &h.launches {
                self.core.unmatch(&l.job, &l.task_id);
            }
        }
    }

    fn status_update(&mut self, driver: &mut SchedulerDriver<'_, '_, Self>, status: &TaskStatus) {
        let now = self.now();
        let id = status.task_id.as_str();
        tracing::info!(task = %id, state = %status.state, "status update");
        let effect = self.core.status(
            id,
            task_end(status.state),
            status.state.as_str(),
            status.message.as_deref().unwrap_or(""),
            now,
        );
        match effect {
            StatusEffect::Unknown { kill } => {
                if kill && id.starts_with("ct:") {
                    tracing::warn!(task = %id, "killing a task no job knows");
                    driver.kill(status.task_id.clone());
                }
                driver.acknowledge(status);
            }
            StatusEffect::AckAfter(revs) if revs.is_empty() => driver.acknowledge(status),
            StatusEffect::AckAfter(revs) => self.acks.push((status.clone(), revs)),
        }
        self.pump(driver);
    }

    fn error(&mut self, _d: &mut SchedulerDriver<'_, '_, Self>, message: &str) {
        tracing::error!(%message, "framework error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Job;

    /// The host's clock steps 90 s forwards half an hour before an hourly instant (epsilon
    /// 60 s): the scheduler, which sleeps on the monotonic clock, still runs the instant on
    /// time by the new wall clock. (Sleeping until the instant, as it did, woke 90 s late
    /// by the wall clock and recorded the instant as missed.)
    #[test]
    fn a_forward_step_of_the_wall_clock_does_not_make_an_instant_missed() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let mut c = Chronos::new();
        c.reconciled();
        let mut def = JobDef::scheduled("j", "true", "R/2027-01-15T09:00:00Z/PT1H");
        def.epsilon = "PT60S".into();
        c.put(def, t0).unwrap();
        let first = c.job("j").and_then(Job::next_instant).unwrap();
        let step_at = first - chrono::Duration::minutes(30);
        let step = chrono::Duration::seconds(90);
        // Monotonic time; the wall clock reads it, plus the step once it happened.
        let mut mono = t0;
        let wall = |mono| if mono >= step_at { mono + step } else { mono };
        let mut launched = Vec::new();
        while c.job("j").unwrap().state.next < 1 {
            let now = wall(mono);
            c.tick(now);
            launched.extend(c.match_offer("a", 1.0, 1e4, 1e4, now));
            let at = c.next_wakeup(now).unwrap();
            mono += chrono::Duration::from_std(tick_wait(at, now)).unwrap();
        }
        let state = &c.job("j").unwrap().state;
        assert!(state.missed.is_empty(), "{:?}", state.missed);
        assert_eq!(launched.len(), 1, "the instant runs, once");
    }

    /// A held offer goes back after [`HOLD_OFFER`] of monotonic time, whatever the wall
    /// clock does meanwhile (its deadline was a wall-clock instant: a 60 s step back held
    /// the offer 70 s).
    #[tokio::test(start_paused = true)]
    async fn a_held_offer_goes_back_after_hold_offer_of_monotonic_time() {
        let h = HeldOffer::new(OfferId::from("o-1"), Vec::new(), Vec::new());
        tokio::time::advance(HOLD_OFFER - Duration::from_millis(1)).await;
        assert!(!h.overdue());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(h.overdue());
    }

    #[test]
    fn task_states_map_to_outcomes() {
        assert_eq!(task_end(TaskState::Unreachable), TaskEnd::Alive);
        assert_eq!(task_end(TaskState::Gone), TaskEnd::Lost);
        assert_eq!(task_end(TaskState::Killed), TaskEnd::Failed);
    }

    #[test]
    fn tasks_carry_the_job() {
        let mut def = JobDef::scheduled("j", "echo", "R//PT1M");
        def.environment_variables.push(crate::job::EnvVar {
            name: "A".into(),
            value: "1".into(),
        });
        def.uris.push("http://x/y.tgz".into());
        let l = Launch {
            job: "j".into(),
            task_id: "ct:1:0:j:s0".into(),
            agent_id: "a".into(),
            def,
            arguments: vec!["--x".into()],
            rev: 1,
        };
        let t = ChronosScheduler::task_info(&l, &AgentId::from("a"));
        let c = t.command.unwrap();
        assert_eq!(c.value.as_deref(), Some("echo --x"));
        assert_eq!(c.uris.len(), 1);
        assert!(c.environment.variables.iter().any(|v| v.name == "A"));
        assert_eq!(t.resources.disk(), 256.0);
    }
}
