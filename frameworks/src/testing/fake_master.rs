//! A scriptable fake master: a test makes it send a scheduler under test offers, rescinds,
//! status updates, errors and disconnections, and asserts on the calls the scheduler makes
//! (launches, declines, acknowledgements, kills, reconciliations, suppress/revive), with no
//! real master, agents or executors. Under [`paused`](super::paused) it runs in virtual time,
//! so a scheduler's decisions are tested in milliseconds.
//!
//! The fake answers what a scheduler cannot test without: it accepts every subscription
//! (a first one gets framework id [`FakeMaster::FRAMEWORK_ID`], a failover `registered`,
//! a re-subscription `reregistered`, as Mesos does), and answers reconciliation requests
//! from the tasks the test says it knows ([`FakeMaster::set_tasks`]), as the master would:
//! an implicit request gets every known task, an explicit one the state of each task named
//! (`TASK_LOST` for one it does not know). Everything else the scheduler sends is recorded
//! as a [`Call`] for the test to take with [`FakeMaster::next_call`].
//!
//! ```
//! use std::time::Duration;
//! use frameworks::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver};
//! use frameworks::testing::{paused, Call, FakeMaster};
//! use proto::{Filters, FrameworkInfo, Offer, TaskState, TaskStatus};
//!
//! /// Launches one task of 1 cpu on the first offer that fits; declines the rest.
//! struct One { launched: bool }
//! impl Scheduler for One {
//!     fn resource_offers(&mut self, d: &mut SchedulerDriver<Self>, offers: Vec<Offer>) {
//!         for offer in offers {
//!             if !self.launched && offer.resources.cpus() >= 1.0 {
//!                 let task = frameworks::task::TaskBuilder::shell("true")
//!                     .id("t1")
//!                     .resources("cpus:1;mem:32".parse().unwrap())
//!                     .build_for(&offer)
//!                     .unwrap();
//!                 d.launch(vec![offer.id], vec![task], Filters::default());
//!                 self.launched = true;
//!             } else {
//!                 d.decline(offer.id, Filters::refuse(60.0));
//!             }
//!         }
//!     }
//! }
//!
//! paused(async {
//!     let master = FakeMaster::start().await.unwrap();
//!     let _driver = master
//!         .run(FrameworkInfo::new("one", "root"), One { launched: false }, SchedulerConfig::default())
//!         .unwrap();
//!     assert!(matches!(master.next_call().await, Call::Register(_)));
//!     // Too small an offer is declined with the scheduler's filter.
//!     master.offer("O1", "A1", "cpus:0.5;mem:64").await;
//!     let decline = master.next_call().await;
//!     assert!(matches!(decline, Call::Decline(ref d) if d.filters.refuse_seconds == 60.0));
//!     // A big enough one gets the task.
//!     master.offer("O2", "A1", "cpus:2;mem:64").await;
//!     let launch = master.next_call().await;
//!     assert_eq!(launch.launched()[0].task_id.as_str(), "t1");
//!     // A status update with a uuid is acknowledged after the callback.
//!     let done = TaskStatus::new("t1".into(), TaskState::Finished).with_agent("A1".into());
//!     master.update(done).await;
//!     assert!(matches!(master.next_call().await, Call::Acknowledge(a) if a.task_id.as_str() == "t1"));
//! });
//! ```

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use libproc::{Ctx, Handlers, MemNetwork, Node, NodeConfig, Pid, Process, ProcessRef};
use proto::messages::{
    AcceptOffersMessage, DeclineOffersMessage, ExecutorToFrameworkMessage, FrameworkErrorMessage,
    FrameworkRegisteredMessage, FrameworkReregisteredMessage, FrameworkToExecutorMessage,
    KillTaskMessage, LostSlaveMessage, ReconcileTasksMessage, RegisterFrameworkMessage,
    ReregisterFrameworkMessage, RescindResourceOfferMessage, ResourceOffersMessage,
    ReviveOffersMessage, StatusUpdate, StatusUpdateAcknowledgementMessage, StatusUpdateMessage,
    SuppressOffersMessage, UnregisterFrameworkMessage,
};
use proto::{
    AgentId, ExecutorId, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId, OfferOperation,
    Reason, Resources, Source, StatusUuid, TaskId, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::mpsc;

use crate::scheduler::{Scheduler, SchedulerConfig, SchedulerHandle};

/// How long [`FakeMaster::next_call`] waits (virtual time under `paused`).
pub const CALL_WAIT: Duration = Duration::from_secs(60);

/// A call a scheduler made to the (fake) master.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// A first subscription (`RegisterFrameworkMessage`): the framework info.
    Register(FrameworkInfo),
    /// A subscription with a framework id: the info, and whether it is a scheduler failover.
    Reregister(FrameworkInfo, bool),
    /// ACCEPT (launches and other operations); see [`Call::launched`].
    Accept(AcceptOffersMessage),
    /// DECLINE.
    Decline(DeclineOffersMessage),
    /// An acknowledgement of a status update.
    Acknowledge(StatusUpdateAcknowledgementMessage),
    /// A kill.
    Kill(TaskId),
    /// A reconciliation request: the statuses named (empty: implicit, all tasks).
    Reconcile(Vec<TaskStatus>),
    /// SUPPRESS for these roles.
    Suppress(Vec<String>),
    /// REVIVE for these roles.
    Revive(Vec<String>),
    /// Data for an executor.
    Message(FrameworkToExecutorMessage),
    /// The framework unregistered (`stop(false)`).
    Unregister,
}

impl Call {
    /// The tasks an [`Call::Accept`] launches (none for any other call).
    pub fn launched(&self) -> Vec<&TaskInfo> {
        let Call::Accept(accept) = self else {
            return Vec::new();
        };
        accept
            .operations
            .iter()
            .flat_map(|op| match op {
                OfferOperation::Launch { task_infos } => task_infos.iter().collect(),
                OfferOperation::LaunchGroup { tasks, .. } => tasks.iter().collect(),
                _ => Vec::new(),
            })
            .collect()
    }
}

/// The fake master's process.
struct FakeMasterProcess {
    calls: mpsc::UnboundedSender<Call>,
    /// The subscribed scheduler.
    scheduler: Option<Pid>,
    /// Tasks it answers reconciliation with.
    tasks: BTreeMap<TaskId, TaskStatus>,
    /// The framework id it gives a first registration, or the one a re-subscription named.
    framework_id: FrameworkId,
}

fn master_info() -> MasterInfo {
    MasterInfo::new(
        "fake-master",
        Ipv4Addr::LOCALHOST,
        5050,
        "localhost",
        "fake",
    )
}

impl FakeMasterProcess {
    fn record(&self, call: Call) {
        // The test may have stopped listening.
        let _ = self.calls.send(call);
    }

    fn reply_update(&self, ctx: &mut Ctx<'_, Self>, to: &Pid, status: TaskStatus) {
        ctx.send(to, update_message(&self.framework_id, status));
    }
}

fn update_message(framework_id: &FrameworkId, status: TaskStatus) -> StatusUpdateMessage {
    StatusUpdateMessage {
        update: StatusUpdate {
            framework_id: framework_id.clone(),
            executor_id: status.executor_id.clone(),
            agent_id: status.agent_id.clone(),
            status,
            timestamp: 0.0,
            latest_state: None,
        },
        pid: None,
    }
}

impl Process for FakeMasterProcess {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: RegisterFrameworkMessage| {
                me.scheduler = Some(from.clone());
                me.record(Call::Register(m.framework));
                ctx.send(
                    &from,
                    FrameworkRegisteredMessage {
                        framework_id: me.framework_id.clone(),
                        master_info: master_info(),
                    },
                );
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ReregisterFrameworkMessage| {
                me.scheduler = Some(from.clone());
                let id = m.framework.id.clone().unwrap_or_default();
                me.framework_id = id.clone();
                let failover = m.failover;
                me.record(Call::Reregister(m.framework, failover));
                let master_info = master_info();
                // As Mesos: a scheduler failover is answered as a registration.
                if failover {
                    ctx.send(
                        &from,
                        FrameworkRegisteredMessage {
                            framework_id: id,
                            master_info,
                        },
                    );
                } else {
                    ctx.send(
                        &from,
                        FrameworkReregisteredMessage {
                            framework_id: id,
                            master_info,
                        },
                    );
                }
            },
        );
        h.on(|me: &mut Self, _ctx, _from, m: AcceptOffersMessage| {
            me.record(Call::Accept(m));
        });
        h.on(|me: &mut Self, _ctx, _from, m: DeclineOffersMessage| {
            me.record(Call::Decline(m));
        });
        h.on(
            |me: &mut Self, _ctx, _from, m: StatusUpdateAcknowledgementMessage| {
                me.record(Call::Acknowledge(m));
            },
        );
        h.on(|me: &mut Self, _ctx, _from, m: KillTaskMessage| {
            me.record(Call::Kill(m.task_id));
        });
        h.on(|me: &mut Self, _ctx, _from, m: SuppressOffersMessage| {
            me.record(Call::Suppress(m.roles));
        });
        h.on(|me: &mut Self, _ctx, _from, m: ReviveOffersMessage| {
            me.record(Call::Revive(m.roles));
        });
        h.on(
            |me: &mut Self, _ctx, _from, m: FrameworkToExecutorMessage| {
                me.record(Call::Message(m));
            },
        );
        h.on(
            |me: &mut Self, _ctx, _from, _m: UnregisterFrameworkMessage| {
                me.record(Call::Unregister);
            },
        );
        h.on(
            |me: &mut Self, ctx: &mut Ctx<Self>, from: Pid, m: ReconcileTasksMessage| {
                let answers: Vec<TaskStatus> = if m.statuses.is_empty() {
                    me.tasks.values().cloned().collect()
                } else {
                    m.statuses
                        .iter()
                        .map(|s| {
                            me.tasks.get(&s.task_id).cloned().unwrap_or_else(|| {
                                TaskStatus::new(s.task_id.clone(), TaskState::Lost)
                                    .with_message("Reconciliation: Task is unknown")
                            })
                        })
                        .collect()
                };
                me.record(Call::Reconcile(m.statuses));
                for status in answers {
                    // Reconciliation answers carry no uuid: they are not acknowledged.
                    let mut status = status
                        .with_source(Source::Master)
                        .with_reason(Reason::Reconciliation);
                    status.uuid = None;
                    me.reply_update(ctx, &from, status);
                }
            },
        );
    }
}

/// A fake master on its own in-memory node (see the module doc).
pub struct FakeMaster {
    /// The node the master and the schedulers under test run on.
    pub node: Node,
    process: std::cell::RefCell<ProcessRef<FakeMasterProcess>>,
    calls: tokio::sync::Mutex<mpsc::UnboundedReceiver<Call>>,
    sender: mpsc::UnboundedSender<Call>,
    tasks: std::cell::RefCell<BTreeMap<TaskId, TaskStatus>>,
}

/// The process id the fake master runs under (`master@…`).
const MASTER_ID: &str = "master";

/// Unique uuids for the updates the fake sends.
static NEXT_UUID: AtomicU64 = AtomicU64::new(1);

impl FakeMaster {
    /// The framework id a first registration gets.
    pub const FRAMEWORK_ID: &'static str = "fake-framework-1";

    /// Starts the fake master on a fresh in-memory node.
    pub async fn start() -> std::io::Result<FakeMaster> {
        let node = Node::bind(NodeConfig::local().transport(MemNetwork::new())).await?;
        let (sender, calls) = mpsc::unbounded_channel();
        let process = spawn(&node, &sender, BTreeMap::new(), Self::FRAMEWORK_ID.into())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(FakeMaster {
            node,
            process: std::cell::RefCell::new(process),
            calls: tokio::sync::Mutex::new(calls),
            sender,
            tasks: std::cell::RefCell::new(BTreeMap::new()),
        })
    }

    /// The fake master's PID.
    pub fn pid(&self) -> Pid {
        self.node.pid(MASTER_ID)
    }

    /// Starts a driver for `scheduler`, talking to this fake master.
    pub fn run<S: Scheduler>(
        &self,
        framework: FrameworkInfo,
        scheduler: S,
        config: SchedulerConfig,
    ) -> Result<SchedulerHandle<S>, libproc::SpawnError> {
        super::drive(&self.node, self.pid(), framework, scheduler, config)
    }

    /// The next call the scheduler makes; panics (failing the test) if none comes within
    /// [`CALL_WAIT`].
    pub async fn next_call(&self) -> Call {
        let mut calls = self.calls.lock().await;
        match tokio::time::timeout(CALL_WAIT, calls.recv()).await {
            Ok(Some(call)) => call,
            Ok(None) => panic!("the fake master's call channel closed"),
            Err(_) => panic!("no call from the scheduler within {CALL_WAIT:?}"),
        }
    }

    /// The next call `pick` accepts, skipping the others; panics after [`CALL_WAIT`].
    pub async fn next_call_where(&self, what: &str, pick: impl Fn(&Call) -> bool) -> Call {
        let mut calls = self.calls.lock().await;
        let wait = async {
            loop {
                let call = calls.recv().await;
                match call {
                    Some(call) if pick(&call) => return call,
                    Some(_) => continue,
                    None => panic!("the fake master's call channel closed"),
                }
            }
        };
        match tokio::time::timeout(CALL_WAIT, wait).await {
            Ok(call) => call,
            Err(_) => panic!("no {what} from the scheduler within {CALL_WAIT:?}"),
        }
    }

    /// Lets every message in flight be delivered, then returns the calls made so far that
    /// [`next_call`](Self::next_call) has not taken.
    pub async fn calls(&self) -> Vec<Call> {
        self.node.settle().await;
        let mut out = Vec::new();
        let mut calls = self.calls.lock().await;
        while let Ok(call) = calls.try_recv() {
            out.push(call);
        }
        out
    }

    /// Sends `message` to the subscribed scheduler (nothing if none subscribed yet).
    async fn send<M: libproc::Message + Send + 'static>(&self, message: M) {
        let process = self.process.borrow().clone();
        let _ = process
            .call(move |me, ctx| {
                if let Some(to) = me.scheduler.clone() {
                    ctx.send(&to, message);
                }
            })
            .await;
    }

    /// The framework id the fake master knows the scheduler by.
    pub async fn framework_id(&self) -> FrameworkId {
        let process = self.process.borrow().clone();
        process
            .call(|me, _| me.framework_id.clone())
            .await
            .unwrap_or_else(|_| Self::FRAMEWORK_ID.into())
    }

    /// Sends offers.
    pub async fn offers(&self, offers: Vec<Offer>) {
        self.send(ResourceOffersMessage {
            offers,
            pids: Vec::new(),
        })
        .await;
    }

    /// Sends one offer `id` of `resources` (Mesos text, e.g. `"cpus:2;mem:1024"`) from
    /// agent `agent`. Panics on resources that do not parse.
    pub async fn offer(&self, id: &str, agent: &str, resources: &str) {
        let offer = self.make_offer(id, agent, resources).await;
        self.offers(vec![offer]).await;
    }

    /// An offer `id` of `resources` from `agent` (host name = agent id), for
    /// [`offers`](Self::offers).
    pub async fn make_offer(&self, id: &str, agent: &str, resources: &str) -> Offer {
        let resources: Resources = resources
            .parse()
            .unwrap_or_else(|e| panic!("offer {id}: bad resources {resources}: {e}"));
        Offer {
            id: OfferId::from(id),
            framework_id: self.framework_id().await,
            agent_id: AgentId::from(agent),
            hostname: agent.to_string(),
            resources,
            attributes: Default::default(),
            executor_ids: Vec::new(),
        }
    }

    /// Rescinds an offer.
    pub async fn rescind(&self, offer_id: &str) {
        self.send(RescindResourceOfferMessage {
            offer_id: offer_id.into(),
        })
        .await;
    }

    /// Sends a status update as an agent would (with a fresh uuid, so the driver
    /// acknowledges it: expect a [`Call::Acknowledge`]; give the status the agent the task
    /// runs on, `with_agent`, as an acknowledgement names it). The task's state is also what the
    /// fake answers reconciliation with from now on (forgotten once terminal).
    pub async fn update(&self, status: TaskStatus) {
        let status = status.with_uuid(StatusUuid::from_u128(u128::from(
            NEXT_UUID.fetch_add(1, Ordering::Relaxed),
        )));
        self.remember(&status).await;
        let id = self.framework_id().await;
        self.send(update_message(&id, status)).await;
    }

    /// Sends a status update as it is (no uuid added: a master-generated one is not
    /// acknowledged).
    pub async fn update_raw(&self, status: TaskStatus) {
        let id = self.framework_id().await;
        self.send(update_message(&id, status)).await;
    }

    async fn remember(&self, status: &TaskStatus) {
        {
            let mut tasks = self.tasks.borrow_mut();
            if status.state.is_terminal() {
                tasks.remove(&status.task_id);
            } else {
                tasks.insert(status.task_id.clone(), status.clone());
            }
        }
        self.push_tasks().await;
    }

    async fn push_tasks(&self) {
        let tasks = self.tasks.borrow().clone();
        let process = self.process.borrow().clone();
        let _ = process.call(move |me, _| me.tasks = tasks).await;
    }

    /// The tasks the fake master knows (what it answers reconciliation with), replacing
    /// what it knew.
    pub async fn set_tasks(&self, tasks: Vec<TaskStatus>) {
        *self.tasks.borrow_mut() = tasks.into_iter().map(|t| (t.task_id.clone(), t)).collect();
        self.push_tasks().await;
    }

    /// Sends data from an executor.
    pub async fn framework_message(&self, agent: &str, executor: &str, data: Vec<u8>) {
        let framework_id = self.framework_id().await;
        self.send(ExecutorToFrameworkMessage {
            agent_id: agent.into(),
            framework_id,
            executor_id: ExecutorId::from(executor),
            data,
        })
        .await;
    }

    /// Tells the scheduler an agent was lost.
    pub async fn lose_agent(&self, agent: &str) {
        self.send(LostSlaveMessage {
            agent_id: agent.into(),
        })
        .await;
    }

    /// Sends a framework error (the driver calls `error` and aborts).
    pub async fn error(&self, message: &str) {
        self.send(FrameworkErrorMessage {
            message: message.to_string(),
        })
        .await;
    }

    /// The master goes away: the scheduler's link breaks (it gets `disconnected`) and its
    /// re-subscriptions go unanswered until [`restart`](Self::restart).
    pub async fn disconnect(&self) {
        let pid = self.pid();
        self.node.terminate(&pid);
        self.node.settle().await;
    }

    /// A master comes back under the same PID (a failover: it knows the tasks the test set,
    /// but nothing of the scheduler's suppression); the scheduler's retries reach it and it
    /// answers as any fake master does.
    pub async fn restart(&self) {
        let framework_id = Self::FRAMEWORK_ID.into();
        let tasks = self.tasks.borrow().clone();
        match spawn(&self.node, &self.sender, tasks, framework_id) {
            Ok(process) => *self.process.borrow_mut() = process,
            Err(e) => panic!("cannot restart the fake master: {e}"),
        }
    }

    /// [`disconnect`](Self::disconnect), then [`restart`](Self::restart): a master failover.
    pub async fn fail_over(&self) {
        self.disconnect().await;
        self.restart().await;
    }
}

fn spawn(
    node: &Node,
    calls: &mpsc::UnboundedSender<Call>,
    tasks: BTreeMap<TaskId, TaskStatus>,
    framework_id: FrameworkId,
) -> Result<ProcessRef<FakeMasterProcess>, libproc::SpawnError> {
    node.spawn(
        MASTER_ID,
        FakeMasterProcess {
            calls: calls.clone(),
            scheduler: None,
            tasks,
            framework_id,
        },
    )
}
