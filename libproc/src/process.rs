//! Processes: actix actors with a PID, per-message-type handlers, links, timers and HTTP
//! routes.
//!
//! A process is a plain struct implementing [`Process`]. `install` declares which message
//! types it handles (and which HTTP routes it serves); libproc wraps the struct in an actix
//! actor ([`ProcessActor`]) that decodes each incoming message by name and calls the
//! handler with a [`Ctx`], the process's view of the runtime: send, link, timers, spawn a
//! future and come back to the process with its result, stop.

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Poll, Waker};

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, SpawnHandle};
use tokio::sync::oneshot;

use crate::connection::ConnectionId;
use crate::fxhash::FxHashMap;
use crate::http::{HttpRequest, HttpResponse, Responder};
use crate::message::{DecodeError, Envelope, Message, MessageName, Payload};
use crate::node::{LinkMode, Node, ProcessEntry};
use crate::pid::Pid;

/// A process: state plus handlers. See the crate docs for a walk-through.
pub trait Process: Sized + Unpin + 'static {
    /// Who may send this process messages: [`Reach::Network`] (any node; the master, an
    /// agent, a scheduler, an executor) or [`Reach::LocalOnly`] (processes of its own node
    /// only; the allocator and every other internal helper). Declared per process type;
    /// see RUNTIME.md, "Who can reach a process".
    const REACH: Reach = Reach::Network;

    /// Declares the message handlers and HTTP routes. Called once when the process spawns.
    fn install(handlers: &mut Handlers<Self>);

    /// Runs once before the first message is handled.
    fn started(&mut self, _ctx: &mut Ctx<'_, Self>) {}

    /// A linked process exited, or the connection to its node broke.
    fn exited(&mut self, _ctx: &mut Ctx<'_, Self>, _pid: Pid) {}

    /// Runs after the process has stopped; it will handle nothing more.
    fn stopped(&mut self) {}
}

/// Whether messages from other nodes reach a process (see [`Process::REACH`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Messages from any node are delivered (frames and HTTP `Libprocess-From` posts).
    Network,
    /// Only processes of the same node can message it: a frame or an HTTP post addressed
    /// to it from the network is dropped and counted (`dropped_local_only`). Its HTTP
    /// routes still serve.
    LocalOnly,
}

type MessageHandler<P> =
    Box<dyn Fn(&mut P, &mut Ctx<'_, P>, Pid, Payload) -> Result<(), DecodeError>>;
type RouteHandler<P> = Box<dyn Fn(&mut P, &mut Ctx<'_, P>, HttpRequest, Responder)>;

/// The table of a process's message handlers (by wire name) and HTTP routes (by path).
pub struct Handlers<P: Process> {
    /// Wire name → index into `list`.
    messages: FxHashMap<&'static str, usize>,
    list: Vec<MessageHandler<P>>,
    /// Path → the route's authentication realm and handler.
    routes: FxHashMap<String, (Option<&'static str>, RouteHandler<P>)>,
    /// The realm routes installed now go into (see [`Handlers::in_realm`]).
    realm: Option<&'static str>,
}

impl<P: Process> Handlers<P> {
    fn new() -> Self {
        Handlers {
            messages: FxHashMap::default(),
            list: Vec::new(),
            routes: FxHashMap::default(),
            realm: None,
        }
    }

    /// Handles messages of type `M`: `h.on(Self::registered)` where
    /// `fn registered(&mut self, ctx: &mut Ctx<Self>, from: Pid, msg: Registered)`.
    pub fn on<M: Message>(
        &mut self,
        f: impl Fn(&mut P, &mut Ctx<'_, P>, Pid, M) + 'static,
    ) -> &mut Self {
        let h: MessageHandler<P> = Box::new(move |p, ctx, from, payload| {
            let m = payload.decode::<M>()?;
            f(p, ctx, from, m);
            Ok(())
        });
        self.insert(M::NAME, h)
    }

    /// Like [`on`](Handlers::on), and when bytes from the wire under `M`'s name do not
    /// decode as `M` (a forged or buggy peer), `undecodable` gets them with the decoder's
    /// reason, so the process can answer what it can still read (a `TASK_ERROR` for a
    /// malformed ACCEPT) instead of dropping the message silently.
    pub fn on_or_undecodable<M: Message>(
        &mut self,
        f: impl Fn(&mut P, &mut Ctx<'_, P>, Pid, M) + 'static,
        undecodable: impl Fn(&mut P, &mut Ctx<'_, P>, Pid, &[u8], &DecodeError) + 'static,
    ) -> &mut Self {
        let h: MessageHandler<P> = Box::new(move |p, ctx, from, payload| {
            let raw = match &payload {
                Payload::Remote(b) => Some(b.clone()),
                Payload::Local(_) => None,
            };
            match payload.decode::<M>() {
                Ok(m) => {
                    f(p, ctx, from, m);
                    Ok(())
                }
                Err(e) => {
                    if let Some(bytes) = raw {
                        undecodable(p, ctx, from, &bytes, &e);
                    }
                    Err(e)
                }
            }
        });
        self.insert(M::NAME, h)
    }

    fn insert(&mut self, name: &'static str, h: MessageHandler<P>) -> &mut Self {
        crate::message::register_name(name);
        match self.messages.get(name) {
            Some(&i) => self.list[i] = h,
            None => {
                self.messages.insert(name, self.list.len());
                self.list.push(h);
            }
        }
        self
    }

    /// Serves `GET/POST/… /<id>/<path>` (and `/<path>` if this process is the node's
    /// delegate). The handler answers at once. A path ending in `/*` serves every path
    /// below it that has no route of its own (the handler reads `HttpRequest::path`).
    pub fn route(
        &mut self,
        path: &str,
        f: impl Fn(&mut P, &mut Ctx<'_, P>, &HttpRequest) -> HttpResponse + 'static,
    ) -> &mut Self {
        self.route_deferred(path, move |p, ctx, req, responder| {
            responder.respond(f(p, ctx, &req))
        })
    }

    /// Installs the routes `install` declares in authentication realm `realm`: a request
    /// to one of them reaches its handler only once the node's authenticator for `realm`
    /// (if it has one) accepted it, with [`HttpRequest::principal`] set. Routes declared
    /// outside any `in_realm` are open. See [`crate::http_auth`].
    pub fn in_realm(&mut self, realm: &'static str, install: impl FnOnce(&mut Self)) -> &mut Self {
        let outer = self.realm.replace(realm);
        install(self);
        self.realm = outer;
        self
    }

    /// The realm and handler for `route`: an exact match, else the route registered as
    /// `<prefix>/*` for the longest prefix of `route` (so `quota/*` serves
    /// `quota/eng/backend`).
    fn find_route(&self, route: &str) -> Option<&(Option<&'static str>, RouteHandler<P>)> {
        if let Some(h) = self.routes.get(route) {
            return Some(h);
        }
        let mut prefix = route;
        while let Some(i) = prefix.rfind('/') {
            prefix = &prefix[..i];
            if let Some(h) = self.routes.get(&format!("{prefix}/*")) {
                return Some(h);
            }
        }
        None
    }

    /// Like [`route`](Handlers::route), but the handler may keep the [`Responder`] and answer
    /// later (after a future completes, say).
    pub fn route_deferred(
        &mut self,
        path: &str,
        f: impl Fn(&mut P, &mut Ctx<'_, P>, HttpRequest, Responder) + 'static,
    ) -> &mut Self {
        self.routes.insert(
            path.trim_matches('/').to_string(),
            (self.realm, Box::new(f)),
        );
        self
    }
}

/// A cancellable timer set with [`Ctx::delay`] or [`Ctx::after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerId(SpawnHandle);

/// The process's view of the runtime inside a handler.
///
/// A handler whose disk write is slow (a simulation's [`DiskVerdict::Slow`] rule) holds
/// its process: when the handler returns, the process handles nothing more until the
/// write's time has passed, and the messages the handler sent after the write leave then,
/// so a reply that promises a write never overtakes it. The other processes of the thread
/// go on meanwhile.
///
/// [`DiskVerdict::Slow`]: crate::fault::DiskVerdict::Slow
pub struct Ctx<'a, P: Process> {
    actx: &'a mut actix::Context<ProcessActor<P>>,
    core: &'a Core,
    connection: Option<ConnectionId>,
    /// Sends made after a slow disk write of this handler, released when it is done.
    held: std::cell::RefCell<Vec<Box<dyn FnOnce()>>>,
}

impl<P: Process> Drop for Ctx<'_, P> {
    fn drop(&mut self) {
        let wait = crate::fault::take_disk_wait();
        if wait.is_zero() {
            return;
        }
        let held = std::mem::take(self.held.get_mut());
        let done = actix::fut::wrap_future::<_, ProcessActor<P>>(tokio::time::sleep(wait)).map(
            move |(), _, _| {
                for send in held {
                    send();
                }
            },
        );
        self.actx.wait(done);
    }
}

impl<'a, P: Process> Ctx<'a, P> {
    fn new(
        actx: &'a mut actix::Context<ProcessActor<P>>,
        core: &'a Core,
        connection: Option<ConnectionId>,
    ) -> Self {
        // Disk time owed by writes made outside any handler is nobody's to wait out.
        crate::fault::take_disk_wait();
        Ctx {
            actx,
            core,
            connection,
            held: Default::default(),
        }
    }

    /// The inbound connection the message being handled arrived on; `None` for a local
    /// send, and outside a message handler (see [`crate::connection`]).
    pub fn connection(&self) -> Option<ConnectionId> {
        self.connection
    }

    /// This process's PID.
    pub fn pid(&self) -> &Pid {
        &self.core.entry.pid
    }

    /// The node this process lives on.
    pub fn node(&self) -> &Node {
        &self.core.node
    }

    /// Sends `msg` to `to` with this process as the sender.
    pub fn send<M: Message>(&self, to: &Pid, msg: M) {
        self.core.entry.count_sent();
        if crate::fault::disk_wait_pending() {
            // After a slow write: leaves when the write is done (see [`Ctx`]).
            let (node, from, to) = (
                self.core.node.clone(),
                self.core.entry.pid.clone(),
                to.clone(),
            );
            self.held
                .borrow_mut()
                .push(Box::new(move || node.inner().send_message(&from, &to, msg)));
            return;
        }
        self.core
            .node
            .inner()
            .send_message(&self.core.entry.pid, to, msg);
    }

    /// Links to `pid`: [`Process::exited`] runs when it terminates (local) or when the
    /// connection to its node breaks (remote).
    pub fn link(&self, pid: &Pid) {
        self.core
            .node
            .link(&self.core.entry.pid, pid, LinkMode::Reuse);
    }

    /// Links to `pid` over a fresh connection, replacing any existing one to its node
    /// (libprocess `RECONNECT`); use after a peer restarted to avoid a half-open socket.
    pub fn relink(&self, pid: &Pid) {
        self.core
            .node
            .link(&self.core.entry.pid, pid, LinkMode::Reconnect);
    }

    /// Removes this process's link to `pid`.
    pub fn unlink(&self, pid: &Pid) {
        self.core.node.unlink(&self.core.entry.pid, pid);
    }

    /// Delivers `msg` to this process itself after `d` (from itself; filters do not see
    /// it). Timers fire in deadline order, and follow a paused test clock.
    pub fn delay<M: Message>(&mut self, d: Duration, msg: M) -> TimerId {
        TimerId(self.actx.run_later(d, move |act, actx| {
            let from = act.core.entry.pid.clone();
            act.handle_payload(
                actx,
                from,
                MessageName::Static(M::NAME),
                Payload::local(msg),
                None,
            );
        }))
    }

    /// Runs `f` on this process after `d`.
    pub fn after(
        &mut self,
        d: Duration,
        f: impl FnOnce(&mut P, &mut Ctx<'_, P>) + 'static,
    ) -> TimerId {
        TimerId(
            self.actx
                .run_later(d, move |act, actx| act.with_ctx(actx, f)),
        )
    }

    /// Cancels a timer; returns whether it had not fired yet.
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        self.actx.cancel_future(timer.0)
    }

    /// Runs `fut` and then `then` on this process with its output (libprocess `defer`).
    /// The future is dropped if the process stops first.
    pub fn spawn<F, T>(
        &mut self,
        fut: F,
        then: impl FnOnce(&mut P, &mut Ctx<'_, P>, T) + 'static,
    ) -> TimerId
    where
        F: Future<Output = T> + 'static,
        T: 'static,
    {
        let f = actix::fut::wrap_future::<_, ProcessActor<P>>(fut)
            .map(move |out, act, actx| act.with_ctx(actx, move |p, ctx| then(p, ctx, out)));
        TimerId(self.actx.spawn(f))
    }

    /// Stops this process after the current handler; it handles nothing more.
    pub fn stop(&mut self) {
        use actix::ActorContext;
        self.actx.stop();
    }

    /// The underlying actix context, for anything libproc does not wrap.
    pub fn actix(&mut self) -> &mut actix::Context<ProcessActor<P>> {
        self.actx
    }
}

/// What a process's actor shell knows about itself.
pub(crate) struct Core {
    pub(crate) node: Node,
    pub(crate) entry: Arc<ProcessEntry>,
}

/// The actix actor that hosts a [`Process`].
pub struct ProcessActor<P: Process> {
    state: P,
    handlers: Rc<Handlers<P>>,
    core: Core,
    events: Option<Arc<Queue<P>>>,
    /// The last static message name looked up (address, length) and its handler index:
    /// a process mostly receives the same few types, and a static name's address never
    /// comes to mean another string.
    last_static: (usize, usize, usize),
}

impl<P: Process> ProcessActor<P> {
    pub(crate) fn new(
        state: P,
        node: Node,
        entry: Arc<ProcessEntry>,
        events: Arc<Queue<P>>,
    ) -> Self {
        let mut handlers = Handlers::new();
        P::install(&mut handlers);
        ProcessActor {
            state,
            handlers: Rc::new(handlers),
            core: Core { node, entry },
            events: Some(events),
            last_static: (0, 0, 0),
        }
    }

    fn with_ctx<R>(
        &mut self,
        actx: &mut actix::Context<Self>,
        f: impl FnOnce(&mut P, &mut Ctx<'_, P>) -> R,
    ) -> R {
        let mut ctx = Ctx::new(actx, &self.core, None);
        f(&mut self.state, &mut ctx)
    }

    /// Whether the process was asked to terminate: then it stops and drops the message, so
    /// a terminate overtakes everything queued before it.
    fn terminating(&self, actx: &mut actix::Context<Self>) -> bool {
        if self.core.entry.is_terminating() {
            use actix::ActorContext;
            actx.stop();
            true
        } else {
            false
        }
    }

    fn handle_payload(
        &mut self,
        actx: &mut actix::Context<Self>,
        from: Pid,
        name: MessageName,
        payload: Payload,
        connection: Option<ConnectionId>,
    ) {
        let handlers = self.handlers.clone();
        let found = match &name {
            MessageName::Static(s) => {
                let key = (s.as_ptr() as usize, s.len());
                if (self.last_static.0, self.last_static.1) == key {
                    Some(self.last_static.2)
                } else {
                    let i = handlers.messages.get(*s).copied();
                    if let Some(i) = i {
                        self.last_static = (key.0, key.1, i);
                    }
                    i
                }
            }
            MessageName::Owned(s) => handlers.messages.get(&**s).copied(),
        };
        match found.map(|i| &handlers.list[i]) {
            Some(h) => {
                let mut ctx = Ctx::new(actx, &self.core, connection);
                if let Err(e) = h(&mut self.state, &mut ctx, from, payload) {
                    self.core.node.inner().count_undecodable();
                    tracing::debug!(to = %self.core.entry.pid, error = %e, "dropped undecodable message");
                }
            }
            None => {
                self.core.node.inner().count_unknown_name();
                tracing::debug!(%from, to = %self.core.entry.pid, %name, "dropped message with no handler");
            }
        }
    }
}

impl<P: Process> Actor for ProcessActor<P> {
    type Context = actix::Context<Self>;

    fn started(&mut self, actx: &mut Self::Context) {
        if let Some(queue) = self.events.take() {
            actx.spawn(Drain {
                queue,
                batch: Default::default(),
            });
        }
        self.with_ctx(actx, |p, ctx| p.started(ctx));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.state.stopped();
        self.core
            .node
            .inner()
            .process_terminated(&self.core.entry.pid);
    }
}

/// Everything that reaches a process in order: messages, exits of linked processes, HTTP
/// requests and dispatched calls travel one channel, so they are handled in the order they
/// were sent (an `exited` never overtakes the messages its peer sent before it died).
pub(crate) enum Event<P: Process> {
    Message(Envelope),
    Exited(Pid),
    /// Boxed: a request is large and rare, and every event moves through the queue.
    Http(Box<HttpCall>),
    Call(CallFn<P>),
}

type CallFn<P> = Box<dyn FnOnce(&mut ProcessActor<P>, &mut actix::Context<ProcessActor<P>>) + Send>;

impl<P: Process> ProcessActor<P> {
    fn handle_event(&mut self, event: Event<P>, actx: &mut actix::Context<Self>) {
        if let Event::Message(_) = &event {
            self.core.entry.count_handled();
        }
        if self.terminating(actx) {
            return;
        }
        match event {
            Event::Message(env) => {
                self.handle_payload(actx, env.from, env.name, env.payload, env.connection)
            }
            Event::Exited(pid) => self.with_ctx(actx, |p, ctx| p.exited(ctx, pid)),
            Event::Http(call) => {
                let call = *call;
                let handlers = self.handlers.clone();
                let responder = Responder::new(call.reply);
                let Some((realm, h)) = handlers.find_route(&call.route) else {
                    responder.respond(HttpResponse::not_found());
                    return;
                };
                let mut request = call.request;
                match self.core.node.inner().admit_http(*realm, &mut request) {
                    Ok(()) => self.with_ctx(actx, |p, ctx| h(p, ctx, request, responder)),
                    Err(refused) => responder.respond(refused),
                }
            }
            Event::Call(f) => f(self, actx),
        }
    }
}

/// Most events one poll of a process handles before it lets the other tasks of its thread
/// (and its own timers) run.
const EVENTS_PER_POLL: usize = 1024;

/// A process's mailbox: one queue for every kind of event, so they are handled in the order
/// they were sent. Senders (on any thread) append under a short lock; the process takes the
/// whole backlog in one swap and handles it without further synchronisation. The process's
/// task is woken only when it is idle (it left its waker because it found the queue empty).
pub(crate) struct Queue<P: Process> {
    state: Mutex<QueueState<P>>,
}

struct QueueState<P: Process> {
    items: Vec<Event<P>>,
    waker: Option<Waker>,
    closed: bool,
    /// Messages (not other events) ever queued; `mailbox_depth` = this − handled.
    messages: u64,
}

impl<P: Process> Queue<P> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Queue {
            state: Mutex::new(QueueState {
                items: Vec::new(),
                waker: None,
                closed: false,
                messages: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<P>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an event; gives it back if the process is gone.
    pub(crate) fn push(&self, event: Event<P>) -> Result<(), Event<P>> {
        let waker = {
            let mut s = self.lock();
            if s.closed {
                return Err(event);
            }
            if let Event::Message(_) = &event {
                s.messages += 1;
            }
            s.items.push(event);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    fn messages(&self) -> u64 {
        self.lock().messages
    }

    /// Moves the backlog into `into` (which must be empty), or leaves the waker and returns
    /// false if there is none.
    fn take(&self, into: &mut Vec<Event<P>>, waker: &Waker) -> bool {
        let mut s = self.lock();
        if s.items.is_empty() {
            match &s.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => s.waker = Some(waker.clone()),
            }
            false
        } else {
            std::mem::swap(&mut s.items, into);
            true
        }
    }

    /// No more events: the process is gone. What was queued is dropped (callers waiting on
    /// a reply see the process gone).
    fn close(&self) -> Vec<Event<P>> {
        let mut s = self.lock();
        s.closed = true;
        s.waker = None;
        std::mem::take(&mut s.items)
    }
}

/// The actor future that feeds a process its events, in order, a batch at a time.
struct Drain<P: Process> {
    queue: Arc<Queue<P>>,
    /// The batch being handled; a paused batch keeps its remainder here.
    batch: std::collections::VecDeque<Event<P>>,
}

impl<P: Process> Drop for Drain<P> {
    fn drop(&mut self) {
        drop(self.queue.close());
    }
}

impl<P: Process> actix::ActorFuture<ProcessActor<P>> for Drain<P> {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut ProcessActor<P>,
        actx: &mut actix::Context<ProcessActor<P>>,
        task: &mut std::task::Context<'_>,
    ) -> Poll<()> {
        let this = self.get_mut();
        let mut handled = 0;
        loop {
            if this.batch.is_empty() {
                // Swap buffers with the queue (both keep their capacity; no copying).
                let mut v = Vec::from(std::mem::take(&mut this.batch));
                let got = this.queue.take(&mut v, task.waker());
                this.batch = v.into();
                if !got {
                    return Poll::Pending;
                }
            }
            while let Some(event) = this.batch.pop_front() {
                act.handle_event(event, actx);
                handled += 1;
                if actx.state() != actix::ActorState::Running || actx.waiting() {
                    // Stopping (the rest is dropped with the queue), or waiting on a future
                    // the handler started: resume from here when polled again.
                    return Poll::Pending;
                }
                if handled >= EVENTS_PER_POLL {
                    task.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
    }
}

/// Asks the process to stop (through actix's own mailbox, so it wakes the actor even when
/// its event channel is busy; the `terminating` flag makes it overtake queued events).
pub(crate) struct Terminate;
impl actix::Message for Terminate {
    type Result = ();
}

impl<P: Process> actix::Handler<Terminate> for ProcessActor<P> {
    type Result = ();
    fn handle(&mut self, _: Terminate, actx: &mut Self::Context) {
        use actix::ActorContext;
        actx.stop();
    }
}

/// An HTTP request for one of the process's routes.
pub(crate) struct HttpCall {
    pub(crate) route: String,
    pub(crate) request: HttpRequest,
    pub(crate) reply: oneshot::Sender<HttpResponse>,
}

/// The process is gone (stopped before or while handling the call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("process has terminated")]
pub struct Gone;

/// A typed handle on a local process: its PID plus a way to run code on it.
pub struct ProcessRef<P: Process> {
    pid: Pid,
    addr: actix::Addr<ProcessActor<P>>,
    events: Arc<Queue<P>>,
}

impl<P: Process> Clone for ProcessRef<P> {
    fn clone(&self) -> Self {
        ProcessRef {
            pid: self.pid.clone(),
            addr: self.addr.clone(),
            events: self.events.clone(),
        }
    }
}

impl<P: Process> ProcessRef<P> {
    pub(crate) fn new(pid: Pid, addr: actix::Addr<ProcessActor<P>>, events: Arc<Queue<P>>) -> Self {
        ProcessRef { pid, addr, events }
    }

    /// The process's PID.
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// Runs `f` on the process, in its turn among its messages, and returns the result
    /// (libprocess `dispatch`). Tests use it to inspect state.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut P, &mut Ctx<'_, P>) -> R + Send + 'static,
    ) -> Result<R, Gone> {
        let (tx, rx) = oneshot::channel();
        let call: CallFn<P> = Box::new(move |act, actx| {
            let _ = tx.send(act.with_ctx(actx, f));
        });
        self.events.push(Event::Call(call)).map_err(|_| Gone)?;
        if !self.addr.connected() {
            return Err(Gone);
        }
        rx.await.map_err(|_| Gone)
    }

    /// Whether the process is still running.
    pub fn is_alive(&self) -> bool {
        self.addr.connected()
    }
}

/// The node's type-erased handle on a process's mailbox.
pub(crate) trait Mailbox: Send + Sync {
    fn deliver(&self, env: Envelope);
    fn exited(&self, pid: Pid);
    fn http(&self, call: HttpCall);
    fn terminate(&self);
    /// Blocks the process's thread for `d`, in its turn among its events (fault injection).
    fn stall(&self, d: std::time::Duration);
    /// Pauses the process for `d` of the runtime's time, in its turn among its events,
    /// leaving its thread to the others (see [`crate::Node::pause`]).
    fn pause(&self, d: std::time::Duration);
    /// Messages ever queued (for `mailbox_depth`).
    fn messages(&self) -> u64;
}

/// A process's mailbox as the node holds it: its event queue, plus its actix address
/// for `Terminate`.
pub(crate) struct ChannelMailbox<P: Process> {
    pub(crate) events: Arc<Queue<P>>,
    pub(crate) addr: actix::Addr<ProcessActor<P>>,
}

impl<P: Process> Mailbox for ChannelMailbox<P> {
    fn deliver(&self, env: Envelope) {
        let _ = self.events.push(Event::Message(env));
    }
    fn exited(&self, pid: Pid) {
        let _ = self.events.push(Event::Exited(pid));
    }
    fn http(&self, call: HttpCall) {
        let _ = self.events.push(Event::Http(Box::new(call)));
    }
    fn terminate(&self) {
        self.addr.do_send(Terminate);
    }
    fn stall(&self, d: std::time::Duration) {
        let _ = self
            .events
            .push(Event::Call(Box::new(move |_, _| std::thread::sleep(d))));
    }
    fn pause(&self, d: std::time::Duration) {
        let _ = self.events.push(Event::Call(Box::new(move |_, actx| {
            actx.wait(actix::fut::wrap_future(tokio::time::sleep(d)));
        })));
    }
    fn messages(&self) -> u64 {
        self.events.messages()
    }
}
