//! Live fault injection: rules added at run time, through a node's `/fault/rules` endpoint,
//! that drop, delay or duplicate messages, partition the node from peers, sever a
//! connection, stall a process, or fail the next disk writes.
//!
//! Every binary takes [`FLAG`] (`--enable_fault_injection`, env
//! `MESOS_ENABLE_FAULT_INJECTION`) and passes it to [`NodeConfig::fault_injection`]; without
//! it the endpoint refuses (403) and says how to enable it. Message rules act where the
//! test filters ([`crate::filter`]) act, on delivery to this node's processes, and also on
//! messages this node sends to other nodes, so a rule on either end of a link works.
//! Disk rules are consulted through [`disk_write`], which the master's registry file store
//! and the agent's checkpoint writer call before writing: a failed write takes their usual
//! error path. A simulation that runs a whole cluster on one thread (several side by side
//! in one OS process, which process-wide rules would all reach) sets its own disk rule for
//! its thread with [`set_thread_disk_rule`]. The matching itself is the pure [`rule`] module.
//!
//! [`NodeConfig::fault_injection`]: crate::NodeConfig::fault_injection

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::flags::{Flag, Flags, FlagsError};
use crate::pid::Pid;

pub mod rule;

pub use rule::{DiskTarget, Rule, RuleSpec, Verdict};

/// The flag every binary accepts (and lists in `--help`).
pub const FLAG: Flag = Flag::new(
    "enable_fault_injection",
    "false",
    "Serve /fault/rules, which adds fault rules at run time (drop, delay or duplicate messages, partition, sever, stall, fail disk writes); for testing only.",
);

/// Whether `flags` (parsed with [`FLAG`] among them) enable fault injection.
pub fn enabled(flags: &Flags) -> Result<bool, FlagsError> {
    flags.bool(FLAG.name)
}

/// Whether `MESOS_ENABLE_FAULT_INJECTION` enables fault injection, for programs that take
/// no flags (executors, launched by the agent with their settings in the environment).
pub fn enabled_from_env() -> Result<bool, FlagsError> {
    let flags = Flags::parse("", &[FLAG], std::iter::empty(), "MESOS_", |k| {
        std::env::var(k).ok()
    })?;
    enabled(&flags)
}

/// What a node's endpoint answers while fault injection is off.
pub const DISABLED: &str = "fault injection is disabled on this node: start it with \
--enable_fault_injection (or MESOS_ENABLE_FAULT_INJECTION=true) to use /fault/rules\n";

/// What the rules of one node have done.
#[derive(Debug, Default)]
pub struct FaultCounters {
    /// Messages dropped by drop rules.
    pub messages_dropped: AtomicU64,
    /// Messages dropped by partitions.
    pub messages_partitioned: AtomicU64,
    /// Messages delivered late.
    pub messages_delayed: AtomicU64,
    /// Extra copies delivered.
    pub messages_duplicated: AtomicU64,
    /// Inbound connections refused by partitions.
    pub connections_refused: AtomicU64,
    /// Connections severed on request.
    pub severs: AtomicU64,
    /// Processes stalled on request.
    pub stalls: AtomicU64,
    /// Disk writes failed by this node's rules.
    pub disk_writes_failed: AtomicU64,
}

/// One node's fault rules.
#[derive(Debug, Default)]
pub struct Injector {
    enabled: bool,
    /// Whether any rule is installed (the message path skips the lock when not).
    active: AtomicBool,
    next_id: AtomicU64,
    rules: Mutex<Vec<Rule>>,
    /// What the rules did.
    pub counters: FaultCounters,
}

/// Every injector of this OS process, for [`disk_write`] (disk writers know no node).
static INJECTORS: Mutex<Vec<Weak<Injector>>> = Mutex::new(Vec::new());

impl Injector {
    /// An injector; `enabled` opens the HTTP endpoint. Registered for [`disk_write`].
    pub fn new(enabled: bool) -> Arc<Injector> {
        let i = Arc::new(Injector {
            enabled,
            next_id: AtomicU64::new(1),
            ..Injector::default()
        });
        let mut all = INJECTORS.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&i));
        i
    }

    /// Whether the endpoint is open.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether any rule is installed.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn settle(&self, rules: &[Rule]) {
        self.active.store(!rules.is_empty(), Ordering::SeqCst);
    }

    /// Installs a rule (one-off actions are not installed: the caller performs them);
    /// returns its id.
    pub fn add(&self, spec: RuleSpec) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        if !spec.action.is_one_off() {
            let mut rules = self.lock();
            rules.push(Rule::new(id, spec));
            self.settle(&rules);
        }
        id
    }

    /// Removes rule `id`; false if there is none.
    pub fn remove(&self, id: u64) -> bool {
        let mut rules = self.lock();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        self.settle(&rules);
        rules.len() < before
    }

    /// Removes every rule; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut rules = self.lock();
        let n = rules.len();
        rules.clear();
        self.settle(&rules);
        n
    }

    /// The installed rules as JSON.
    pub fn rules_json(&self) -> Vec<serde_json::Value> {
        self.lock().iter().map(Rule::to_json).collect()
    }

    /// How many rules are installed.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no rule is installed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the rules do to a message `name` from `from` to `to`; counts the outcome.
    pub fn decide(&self, name: &str, from: &Pid, to: &Pid) -> Verdict {
        let mut rules = self.lock();
        let v = rule::decide(&mut rules, name, from, to);
        self.settle(&rules);
        drop(rules);
        let c = &self.counters;
        let counter = match v {
            Verdict::Pass => return v,
            Verdict::Drop => &c.messages_dropped,
            Verdict::Partitioned => &c.messages_partitioned,
            Verdict::Delay(_) => &c.messages_delayed,
            Verdict::Duplicate(n) => {
                c.messages_duplicated.fetch_add(n as u64, Ordering::Relaxed);
                tracing::debug!(name, %from, %to, copies = n, "fault rule duplicated a message");
                return v;
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(name, %from, %to, verdict = ?v, "fault rule applied to a message");
        v
    }

    /// Whether a partition refuses inbound connections from the node at `peer`
    /// (counted when it does).
    pub fn refuses(&self, peer: std::net::SocketAddr) -> bool {
        if !self.active() {
            return false;
        }
        let refused = rule::refuses_node(&self.lock(), peer);
        if refused {
            self.counters
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
        }
        refused
    }

    fn fail_disk_write(&self, target: DiskTarget) -> bool {
        if !self.active() {
            return false;
        }
        let mut rules = self.lock();
        let failed = rule::fail_disk_write(&mut rules, target);
        self.settle(&rules);
        if failed {
            self.counters
                .disk_writes_failed
                .fetch_add(1, Ordering::Relaxed);
        }
        failed
    }
}

/// What a thread's disk rule ([`set_thread_disk_rule`]) makes of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskVerdict {
    /// The write goes ahead at once.
    Write,
    /// The write fails (the writer takes its usual error path).
    Fail,
    /// The write goes ahead but takes this long (a slow disk): the process whose handler
    /// made it handles nothing more, and what that handler sends after the write leaves,
    /// only once this has passed, in the runtime's time (virtual under a paused clock), while
    /// the other processes of the thread go on. See [`crate::Ctx`].
    Slow(std::time::Duration),
}

/// A disk rule for one thread: asked before each write made on it.
pub type ThreadDiskRule = Box<dyn FnMut(DiskTarget) -> DiskVerdict>;

thread_local! {
    static THREAD_DISK_RULE: std::cell::RefCell<Option<ThreadDiskRule>> =
        const { std::cell::RefCell::new(None) };
    /// Disk time the handler running on this thread owes: slow writes it made.
    static DISK_WAIT: std::cell::Cell<std::time::Duration> =
        const { std::cell::Cell::new(std::time::Duration::ZERO) };
}

/// Installs `rule` for the disk writes made on this thread (`None` removes it), returning
/// the one it replaces. [`disk_write`] asks it before the process-wide rules.
pub fn set_thread_disk_rule(rule: Option<ThreadDiskRule>) -> Option<ThreadDiskRule> {
    THREAD_DISK_RULE.with(|r| std::mem::replace(&mut *r.borrow_mut(), rule))
}

fn thread_rule_verdict(target: DiskTarget) -> DiskVerdict {
    THREAD_DISK_RULE.with(|r| {
        r.try_borrow_mut()
            .ok()
            .and_then(|mut r| r.as_mut().map(|f| f(target)))
            .unwrap_or(DiskVerdict::Write)
    })
}

/// Whether any thread's rule ever made a write slow: until then the message path skips
/// the thread-local look-ups (production never sets it).
static SLOW_WRITES_SEEN: AtomicBool = AtomicBool::new(false);

/// Takes the disk time this thread's slow writes owe since the last call (zero without a
/// [`DiskVerdict::Slow`] rule).
#[inline]
pub(crate) fn take_disk_wait() -> std::time::Duration {
    if !SLOW_WRITES_SEEN.load(Ordering::Relaxed) {
        return std::time::Duration::ZERO;
    }
    DISK_WAIT.with(|w| w.replace(std::time::Duration::ZERO))
}

/// Whether a slow write on this thread is still owed (since [`take_disk_wait`]).
#[inline]
pub(crate) fn disk_wait_pending() -> bool {
    SLOW_WRITES_SEEN.load(Ordering::Relaxed) && DISK_WAIT.with(|w| !w.get().is_zero())
}

/// Asks the fault rules whether a disk write to `target` may go ahead: an error (to be
/// returned where the real write's error would be) if a `fail_disk_writes` rule of any
/// node in this OS process claims it. Call it just before writing.
pub fn disk_write(target: DiskTarget) -> std::io::Result<()> {
    match thread_rule_verdict(target) {
        DiskVerdict::Write => {}
        DiskVerdict::Fail => {
            tracing::warn!(
                ?target,
                "fault injection: failing a disk write (this thread's rule)"
            );
            return Err(std::io::Error::other(format!(
                "disk write failed by fault injection (this thread's rule for {target:?})"
            )));
        }
        DiskVerdict::Slow(d) => {
            tracing::debug!(?target, ?d, "fault injection: a slow disk write");
            SLOW_WRITES_SEEN.store(true, Ordering::Relaxed);
            DISK_WAIT.with(|w| w.set(w.get() + d));
        }
    }
    let live: Vec<Arc<Injector>> = INJECTORS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    if live.iter().any(|i| i.fail_disk_write(target)) {
        tracing::warn!(?target, "fault injection: failing a disk write");
        return Err(std::io::Error::other(format!(
            "disk write failed by fault injection (a fail_disk_writes rule for {target:?})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_disk_rule_fails_writes_on_its_thread_only() {
        let mut n = 0;
        set_thread_disk_rule(Some(Box::new(move |t| {
            n += 1;
            if t == DiskTarget::Checkpoint && n % 2 == 1 {
                DiskVerdict::Fail
            } else {
                DiskVerdict::Write
            }
        })));
        assert!(disk_write(DiskTarget::Checkpoint).is_err());
        assert!(disk_write(DiskTarget::Checkpoint).is_ok());
        assert!(disk_write(DiskTarget::Registry).is_ok());
        let other = std::thread::spawn(|| disk_write(DiskTarget::Checkpoint).is_ok());
        assert!(other.join().unwrap(), "another thread has no rule");
        assert!(set_thread_disk_rule(None).is_some());
        assert!(disk_write(DiskTarget::Checkpoint).is_ok());
    }

    #[test]
    fn a_slow_write_goes_ahead_and_owes_its_time_to_this_thread() {
        set_thread_disk_rule(Some(Box::new(|t| match t {
            DiskTarget::Checkpoint => DiskVerdict::Slow(std::time::Duration::from_millis(300)),
            _ => DiskVerdict::Write,
        })));
        assert!(!disk_wait_pending());
        assert!(disk_write(DiskTarget::Checkpoint).is_ok());
        assert!(disk_write(DiskTarget::Registry).is_ok());
        assert!(disk_write(DiskTarget::Checkpoint).is_ok());
        assert!(disk_wait_pending());
        let other = std::thread::spawn(disk_wait_pending);
        assert!(!other.join().unwrap(), "another thread owes nothing");
        assert_eq!(take_disk_wait(), std::time::Duration::from_millis(600));
        assert!(!disk_wait_pending());
        set_thread_disk_rule(None);
    }

    #[test]
    fn disk_writes_fail_only_while_a_live_rule_covers_them() {
        let inj = Injector::new(true);
        // Checkpoints only: a registry write of this (shared) process is untouched.
        let spec = RuleSpec::parse(br#"{"kind":"fail_disk_writes","target":"checkpoint"}"#);
        let id = inj.add(spec.unwrap());
        assert_eq!(inj.len(), 1);
        let err = disk_write(DiskTarget::Checkpoint).unwrap_err();
        assert!(err.to_string().contains("fault injection"), "{err}");
        assert!(disk_write(DiskTarget::Checkpoint).is_ok(), "one write only");
        assert_eq!(inj.counters.disk_writes_failed.load(Ordering::Relaxed), 1);
        assert!(inj.is_empty() && !inj.active());
        assert!(!inj.remove(id));
        let spec =
            RuleSpec::parse(br#"{"kind":"fail_disk_writes","target":"checkpoint","count":5}"#);
        inj.add(spec.unwrap());
        drop(inj);
        assert!(
            disk_write(DiskTarget::Checkpoint).is_ok(),
            "a dropped node's rules are gone"
        );
    }

    #[test]
    fn one_off_actions_are_not_installed() {
        let inj = Injector::new(true);
        inj.add(RuleSpec::parse(br#"{"kind":"sever","peer":"127.0.0.1:1"}"#).unwrap());
        assert!(inj.is_empty());
        let a = inj.add(RuleSpec::parse(br#"{"kind":"drop"}"#).unwrap());
        let b = inj.add(RuleSpec::parse(br#"{"kind":"drop"}"#).unwrap());
        assert_ne!(a, b);
        assert_eq!(inj.rules_json()[1]["id"], b);
        assert_eq!(inj.clear(), 2);
        assert!(!inj.active());
    }
}
