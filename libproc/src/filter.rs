//! Message filters: the fault-injection hooks every failover test is built from.
//!
//! Filters act when a message is *delivered* to a process on a node that carries them
//! (libprocess filters at dequeue; we filter at enqueue, which is the same for the
//! receiver). A rule matches on message name, sender and receiver, and either drops the
//! message, holds it until the test releases it, or observes it (lets it through and hands
//! the test a copy). Rules are checked in the order they were added; observers never stop a
//! message, the first matching drop or hold rule does.
//!
//! ```ignore
//! let filters = node.filters();
//! // DROP_PROTOBUFS(PongSlaveMessage, _, _)
//! let pongs = filters.drop_all(Match::message::<PongSlaveMessage>());
//! // FUTURE_PROTOBUF(RegisterSlaveMessage, _, master)
//! let register = filters.future::<RegisterSlaveMessage>(Match::any().to(&master));
//! let (from, msg) = within(Duration::from_secs(5), register).await;
//! ```
//!
//! Exited notifications are not messages and are never filtered; sever a connection
//! ([`Node::sever`](crate::Node::sever)) to cut a node off.

use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::message::{Envelope, Message};
use crate::node::NodeInner;
use crate::pid::Pid;

/// Which messages a rule applies to. Every field left unset matches anything.
#[derive(Clone, Debug, Default)]
pub struct Match {
    name: Option<String>,
    from: Option<PidMatch>,
    to: Option<PidMatch>,
}

#[derive(Clone, Debug)]
enum PidMatch {
    Exact(Pid),
    Id(String),
    Addr(SocketAddr),
}

impl PidMatch {
    fn matches(&self, pid: &Pid) -> bool {
        match self {
            PidMatch::Exact(p) => p == pid,
            PidMatch::Id(id) => pid.id() == id,
            PidMatch::Addr(a) => pid.addr() == *a,
        }
    }
}

impl Match {
    /// Matches every message.
    pub fn any() -> Match {
        Match::default()
    }
    /// Matches messages of type `M`.
    pub fn message<M: Message>() -> Match {
        Match::any().named(M::NAME)
    }
    /// Only messages with this wire name.
    pub fn named(mut self, name: impl Into<String>) -> Match {
        self.name = Some(name.into());
        self
    }
    /// Only messages from this exact PID.
    pub fn from(mut self, pid: &Pid) -> Match {
        self.from = Some(PidMatch::Exact(pid.clone()));
        self
    }
    /// Only messages from a process with this id (on any node).
    pub fn from_id(mut self, id: impl Into<String>) -> Match {
        self.from = Some(PidMatch::Id(id.into()));
        self
    }
    /// Only messages from processes on the node at this address.
    pub fn from_node(mut self, addr: SocketAddr) -> Match {
        self.from = Some(PidMatch::Addr(addr));
        self
    }
    /// Only messages to this exact PID.
    pub fn to(mut self, pid: &Pid) -> Match {
        self.to = Some(PidMatch::Exact(pid.clone()));
        self
    }
    /// Only messages to a process with this id.
    pub fn to_id(mut self, id: impl Into<String>) -> Match {
        self.to = Some(PidMatch::Id(id.into()));
        self
    }
    /// Only messages to processes on the node at this address.
    pub fn to_node(mut self, addr: SocketAddr) -> Match {
        self.to = Some(PidMatch::Addr(addr));
        self
    }

    fn matches(&self, env: &Envelope) -> bool {
        self.name.as_deref().is_none_or(|n| n == env.name.as_str())
            && self.from.as_ref().is_none_or(|m| m.matches(&env.from))
            && self.to.as_ref().is_none_or(|m| m.matches(&env.to))
    }
}

/// A copy of a message a rule observed.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Sender.
    pub from: Pid,
    /// Receiver.
    pub to: Pid,
    /// Wire name.
    pub name: String,
    /// The encoded body (local messages are encoded for the observer).
    pub body: Bytes,
}

impl Observed {
    /// Decodes the body as `M`.
    pub fn decode<M: Message>(&self) -> Result<M, rmp_serde::decode::Error> {
        rmp_serde::from_slice(&self.body)
    }
    fn of(env: &Envelope) -> Observed {
        Observed {
            from: env.from.clone(),
            to: env.to.clone(),
            name: env.name.as_str().to_string(),
            body: env.payload.to_bytes().unwrap_or_default(),
        }
    }
}

enum Action {
    Drop,
    Hold(mpsc::UnboundedSender<HeldMessage>),
    Observe(mpsc::UnboundedSender<Observed>),
    Once(Option<oneshot::Sender<Observed>>),
}

struct Rule {
    id: u64,
    matcher: Match,
    action: Action,
    remaining: Option<usize>,
    hits: Arc<AtomicUsize>,
}

#[derive(Default)]
struct Inner {
    active: AtomicBool,
    next_id: AtomicU64,
    rules: Mutex<Vec<Rule>>,
}

/// A set of filter rules. Clone it to share one set between several nodes of a test.
#[derive(Clone, Default)]
pub struct Filters {
    inner: Arc<Inner>,
}

/// What the filters decided for one envelope.
pub(crate) enum Verdict {
    /// Deliver it.
    Pass(Envelope),
    /// A rule took it (dropped or held).
    Taken,
}

/// A handle on an installed rule: how often it matched, and a way to remove it.
/// Dropping the handle leaves the rule in place.
pub struct RuleHandle {
    id: u64,
    hits: Arc<AtomicUsize>,
    filters: Filters,
}

impl RuleHandle {
    /// How many messages this rule has matched so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    /// Removes the rule.
    pub fn remove(&self) {
        self.filters.remove(self.id);
    }
}

/// A message held by a [`Hold`] rule, waiting to be released or discarded.
pub struct HeldMessage {
    env: Envelope,
    node: Weak<NodeInner>,
}

impl HeldMessage {
    /// The message's name.
    pub fn name(&self) -> &str {
        self.env.name.as_str()
    }
    /// Its sender.
    pub fn from(&self) -> &Pid {
        &self.env.from
    }
    /// Its receiver.
    pub fn to(&self) -> &Pid {
        &self.env.to
    }
    /// Decodes a copy of the body.
    pub fn decode<M: Message>(&self) -> Option<M> {
        let b = self.env.payload.to_bytes()?;
        rmp_serde::from_slice(&b).ok()
    }
    /// Delivers it now, past all filters.
    pub fn release(self) {
        if let Some(node) = self.node.upgrade() {
            node.deliver_unfiltered(self.env);
        }
    }
}

/// Messages held by a hold rule, in arrival order.
pub struct Hold {
    rx: mpsc::UnboundedReceiver<HeldMessage>,
    rule: RuleHandle,
}

impl Hold {
    /// Waits for the next held message.
    pub async fn next(&mut self) -> Option<HeldMessage> {
        self.rx.recv().await
    }
    /// Stops holding and releases everything held so far, in order.
    pub fn release_all(mut self) {
        self.rule.remove();
        while let Ok(m) = self.rx.try_recv() {
            m.release();
        }
    }
    /// The rule behind this hold.
    pub fn rule(&self) -> &RuleHandle {
        &self.rule
    }
}

/// A stream of observed messages.
pub struct Observer {
    rx: mpsc::UnboundedReceiver<Observed>,
    rule: RuleHandle,
}

impl Observer {
    /// The next observed message.
    pub async fn next(&mut self) -> Option<Observed> {
        self.rx.recv().await
    }
    /// What was observed so far without waiting.
    pub fn drain(&mut self) -> Vec<Observed> {
        let mut v = Vec::new();
        while let Ok(o) = self.rx.try_recv() {
            v.push(o);
        }
        v
    }
    /// The rule behind this observer.
    pub fn rule(&self) -> &RuleHandle {
        &self.rule
    }
}

/// The first message matching a [`Filters::future`] rule, decoded.
pub struct FutureMessage<M> {
    rx: oneshot::Receiver<Observed>,
    _m: PhantomData<fn() -> M>,
}

impl<M: Message> Future for FutureMessage<M> {
    type Output = (Pid, M);
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<(Pid, M)> {
        std::pin::Pin::new(&mut self.rx).poll(cx).map(|r| {
            let o = r.expect("filter set dropped before the awaited message arrived");
            let m = o
                .decode::<M>()
                .unwrap_or_else(|e| panic!("observed {} does not decode: {e}", M::NAME));
            (o.from, m)
        })
    }
}

impl Filters {
    /// An empty filter set.
    pub fn new() -> Filters {
        Filters::default()
    }

    fn add(&self, matcher: Match, action: Action, remaining: Option<usize>) -> RuleHandle {
        let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
        let hits = Arc::new(AtomicUsize::new(0));
        let mut rules = self.inner.rules.lock().unwrap_or_else(|p| p.into_inner());
        rules.push(Rule {
            id,
            matcher,
            action,
            remaining,
            hits: hits.clone(),
        });
        self.inner.active.store(true, Ordering::SeqCst);
        RuleHandle {
            id,
            hits,
            filters: self.clone(),
        }
    }

    fn remove(&self, id: u64) {
        let mut rules = self.inner.rules.lock().unwrap_or_else(|p| p.into_inner());
        rules.retain(|r| r.id != id);
        self.inner.active.store(!rules.is_empty(), Ordering::SeqCst);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut rules = self.inner.rules.lock().unwrap_or_else(|p| p.into_inner());
        rules.clear();
        self.inner.active.store(false, Ordering::SeqCst);
    }

    /// Drops every matching message (Mesos `DROP_PROTOBUFS`).
    pub fn drop_all(&self, m: Match) -> RuleHandle {
        self.add(m, Action::Drop, None)
    }

    /// Drops the next matching message only (Mesos `DROP_PROTOBUF`).
    pub fn drop_one(&self, m: Match) -> RuleHandle {
        self.add(m, Action::Drop, Some(1))
    }

    /// Drops the next `n` matching messages.
    pub fn drop_n(&self, m: Match, n: usize) -> RuleHandle {
        self.add(m, Action::Drop, Some(n))
    }

    /// Holds every matching message until released.
    pub fn hold(&self, m: Match) -> Hold {
        let (tx, rx) = mpsc::unbounded_channel();
        let rule = self.add(m, Action::Hold(tx), None);
        Hold { rx, rule }
    }

    /// Lets matching messages through and hands the test a copy of each.
    pub fn observe(&self, m: Match) -> Observer {
        let (tx, rx) = mpsc::unbounded_channel();
        let rule = self.add(m, Action::Observe(tx), None);
        Observer { rx, rule }
    }

    /// Resolves with the first matching message of type `M` (Mesos `FUTURE_PROTOBUF`); the
    /// message is delivered as usual. The name of `M` is added to the match.
    pub fn future<M: Message>(&self, m: Match) -> FutureMessage<M> {
        let (tx, rx) = oneshot::channel();
        self.add(m.named(M::NAME), Action::Once(Some(tx)), Some(1));
        FutureMessage {
            rx,
            _m: PhantomData,
        }
    }

    /// Like [`future`](Filters::future) but also drops the message (Mesos
    /// `DROP_PROTOBUF` whose future the test awaits).
    pub fn future_drop<M: Message>(&self, m: Match) -> FutureMessage<M> {
        let (tx, rx) = oneshot::channel();
        // One observer and one drop, both for the next match only; the observer is first.
        let m = m.named(M::NAME);
        self.add(m.clone(), Action::Once(Some(tx)), Some(1));
        self.add(m, Action::Drop, Some(1));
        FutureMessage {
            rx,
            _m: PhantomData,
        }
    }

    /// Whether any rule is installed (the fast path skips filtering when none is).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Runs an envelope through the rules.
    pub(crate) fn check(&self, env: Envelope, node: &Arc<NodeInner>) -> Verdict {
        let mut rules = self.inner.rules.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = None;
        for (i, rule) in rules.iter_mut().enumerate() {
            if rule.remaining == Some(0) || !rule.matcher.matches(&env) {
                continue;
            }
            rule.hits.fetch_add(1, Ordering::SeqCst);
            if let Some(r) = rule.remaining.as_mut() {
                *r -= 1;
            }
            match &mut rule.action {
                Action::Observe(tx) => {
                    let _ = tx.send(Observed::of(&env));
                }
                Action::Once(tx) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(Observed::of(&env));
                    }
                }
                Action::Drop | Action::Hold(_) => {
                    taken = Some(i);
                    break;
                }
            }
        }
        let verdict = match taken {
            None => Verdict::Pass(env),
            Some(i) => {
                if let Action::Hold(tx) = &rules[i].action {
                    let _ = tx.send(HeldMessage {
                        env,
                        node: Arc::downgrade(node),
                    });
                } else {
                    tracing::debug!(name = %env.name, from = %env.from, to = %env.to, "dropped by filter");
                }
                Verdict::Taken
            }
        };
        rules.retain(|r| r.remaining != Some(0));
        self.inner.active.store(!rules.is_empty(), Ordering::SeqCst);
        verdict
    }
}
