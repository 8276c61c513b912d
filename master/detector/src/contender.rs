//! Leadership contention for masters (Mesos's `ZooKeeperMasterContender`): create an
//! EPHEMERAL_SEQUENTIAL `<path>/json.info_` znode holding this master's `MasterInfo` JSON,
//! then watch the children until it has the lowest sequence (elected). Leadership is lost
//! for good when the znode disappears or the session is lost (expired, closed, or
//! disconnected past the session timeout); the master must then exit, so two masters
//! never act at once.
//!
//! A [`Lease`] makes that safe against pauses: the contender renews it with every
//! successful round trip to ZooKeeper (valid until the request's *send* time plus the
//! session timeout, which is no later than ZooKeeper itself could expire the session). A
//! master checks it before acting, so a leader that was paused (SIGSTOP, a long GC, a
//! partition) and comes back after its session could have expired stops before handling
//! anything, even before its ZooKeeper client notices.
//!
//! After a disconnection the contender reads again as soon as the session is back (and
//! every read is bounded), so a leader whose session survived a ZooKeeper restart or a
//! short partition renews its lease at once. A lease that ran out during the outage is
//! [`LeaseState::Suspended`] for a grace period: the master acts on nothing, but keeps
//! leading if the renewal comes (the session lived, so its znode did and nobody else was
//! elected).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use proto::MasterInfo;
use tokio::time::Instant;

use crate::session::{self, CreateMode, ZkSession};
use crate::zk::{
    bounded, ensure_path_in, read_leader, transient, Read, SessionGuard, Wake, LABEL, RETRY_PAUSE,
};
use crate::ZkUrl;

/// What the contender reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ContenderEvent {
    /// The candidacy znode exists (its full path); not yet necessarily leading.
    Contending(String),
    /// The current leader as seen by this contender (itself once elected).
    Leader(Option<MasterInfo>),
    /// This master now leads.
    Elected,
    /// Leadership (or candidacy) is lost for good; the reason. Nothing follows.
    Lost(String),
}

/// The time until which this master may act as leader (see the module docs).
#[derive(Clone, Default)]
pub struct Lease {
    until: Arc<Mutex<Option<Instant>>>,
    /// Told of every renewal and revocation (see [`Lease::watch`]); unset in production.
    watcher: Arc<OnceLock<LeaseWatcher>>,
}

/// What [`Lease::watch`] installs: called with the lease after each renewal or
/// revocation, outside the lease's lock.
pub type LeaseWatcher = Box<dyn Fn(&Lease) + Send + Sync>;

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("until", &self.until())
            .field("watched", &self.watcher.get().is_some())
            .finish()
    }
}

/// Where a lease stands, given a grace period (see [`Lease::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Held: the leader may act.
    Valid,
    /// Run out less than the grace period ago: the session may have expired, or may come
    /// back (a ZooKeeper restart, a short partition) and renew the lease. The leader must
    /// not act, but need not give up: the contender reports [`ContenderEvent::Lost`] if
    /// the session is gone.
    Suspended,
    /// Never held, revoked, or run out longer than the grace period ago: give up.
    Expired,
}

impl Lease {
    /// A lease that is not valid yet.
    pub fn new() -> Lease {
        Lease::default()
    }

    /// Extends the lease to `until` (never shortens it).
    pub fn renew(&self, until: Instant) {
        if let Ok(mut g) = self.until.lock() {
            if g.is_none_or(|t| t < until) {
                *g = Some(until);
            }
        }
        self.notify();
    }

    /// Ends the lease.
    pub fn revoke(&self) {
        if let Ok(mut g) = self.until.lock() {
            *g = None;
        }
        self.notify();
    }

    /// Installs `w`, told (synchronously, on the renewing task) of every later renewal and
    /// revocation: the moments a lease can start to hold (it stops holding by time alone,
    /// which [`Lease::state`] reads). For observers checking an invariant at every instant
    /// (the simulation's "at most one acting leader"). One watcher per lease: returns
    /// whether `w` was installed. `w` must not hold the lease (that would be a cycle).
    pub fn watch(&self, w: LeaseWatcher) -> bool {
        self.watcher.set(w).is_ok()
    }

    fn notify(&self) {
        if let Some(w) = self.watcher.get() {
            w(self);
        }
    }

    /// Whether the lease holds now.
    pub fn valid(&self) -> bool {
        self.until
            .lock()
            .ok()
            .and_then(|g| *g)
            .is_some_and(|t| Instant::now() < t)
    }

    /// When the lease ends, if it is held.
    pub fn until(&self) -> Option<Instant> {
        self.until.lock().ok().and_then(|g| *g)
    }

    /// Where the lease stands now, `grace` being how long a run-out lease may wait for a
    /// renewal (a master gives its session timeout: by then its contender has seen the
    /// session come back or declared it lost).
    pub fn state(&self, grace: Duration) -> LeaseState {
        let now = Instant::now();
        match self.until() {
            Some(t) if now < t => LeaseState::Valid,
            Some(t) if now < t + grace => LeaseState::Suspended,
            _ => LeaseState::Expired,
        }
    }
}

/// Contends for leadership under `url` with `info`, reporting through `report` until
/// leadership is lost (the last report is [`ContenderEvent::Lost`]) — then returns.
/// Connection failures before the candidacy exists are retried (with a fresh session,
/// so no stray candidacy is left behind). Drop the future to withdraw: the session
/// closes and the znode disappears.
pub async fn contend(
    url: ZkUrl,
    timeout: Duration,
    info: MasterInfo,
    lease: Lease,
    mut report: impl FnMut(ContenderEvent),
) {
    let data = info.to_json();
    let mut backoff = Duration::from_millis(100);
    // Connect and create the candidacy.
    let (client, me) = loop {
        let client = match session::open(&url.servers, timeout).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(%url, error = %e, "cannot connect to ZooKeeper to contend; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let t0 = Instant::now();
        let created = async {
            ensure_path_in(&*client, &url.path, timeout).await?;
            let path = format!("{}/{LABEL}", url.path);
            bounded(
                timeout,
                client.create(&path, data.as_bytes(), CreateMode::EphemeralSequential),
            )
            .await
        }
        .await;
        match created {
            Ok(seq) => {
                lease.renew(t0 + timeout);
                break (client, format!("{LABEL}{seq}"));
            }
            Err(e) => {
                // The node may or may not exist; a fresh session makes sure it does not
                // linger.
                tracing::warn!(%url, error = %e, "cannot create the candidacy znode; retrying with a new session");
                drop(client);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    };
    let my_path = format!("{}/{me}", url.path);
    tracing::info!(znode = %my_path, "contending for leadership");
    report(ContenderEvent::Contending(my_path.clone()));
    let why = watch(
        &*client,
        &url.path,
        &me,
        &my_path,
        timeout,
        &info,
        &lease,
        &mut report,
    )
    .await;
    lease.revoke();
    tracing::error!(znode = %my_path, "lost leadership candidacy: {why}");
    report(ContenderEvent::Lost(why));
}

#[allow(clippy::too_many_arguments)]
async fn watch(
    client: &dyn ZkSession,
    path: &str,
    me: &str,
    my_path: &str,
    timeout: Duration,
    info: &MasterInfo,
    lease: &Lease,
    report: &mut impl FnMut(ContenderEvent),
) -> String {
    let mut guard = SessionGuard::new(client, timeout);
    let tick = timeout / 4;
    let mut elected = false;
    let mut last_leader: Option<Option<MasterInfo>> = None;
    loop {
        let t0 = Instant::now();
        let read = match read_leader(client, path, timeout, Some((me, info))).await {
            Ok(r) => r,
            Err(e) if transient(&e) => {
                tracing::debug!(error = %e, "ZooKeeper request failed; retrying once connected");
                tokio::time::sleep(RETRY_PAUSE).await;
                if let Err(why) = guard.reconnected().await {
                    return why;
                }
                continue;
            }
            Err(e) => return format!("ZooKeeper error: {e}"),
        };
        let watcher = match read {
            Read::Retry => continue,
            Read::NoPath(_) => return format!("the path {path} was deleted"),
            Read::Leader(leader, watcher, children) => {
                if !children.iter().any(|c| c == me) {
                    return format!("the candidacy znode {my_path} disappeared");
                }
                lease.renew(t0 + timeout);
                let leads = leader.as_ref().is_some_and(|(name, _)| name == me);
                let leader_info = leader.map(|(name, i)| if name == me { info.clone() } else { i });
                if last_leader.as_ref() != Some(&leader_info) {
                    last_leader = Some(leader_info.clone());
                    report(ContenderEvent::Leader(leader_info));
                }
                if leads && !elected {
                    elected = true;
                    tracing::info!(znode = %my_path, "elected leader");
                    report(ContenderEvent::Elected);
                }
                watcher
            }
        };
        // Wake on a change, a lost session, a reconnection or the lease tick: all but a
        // lost session read again (a successful read renews the lease and re-checks the
        // candidacy; after a reconnection that renewal must not wait for the next tick).
        if let Wake::SessionLost(why) = guard.wait(Some(watcher), Some(tick)).await {
            return why;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lease_runs_out_unless_renewed() {
        let lease = Lease::new();
        assert!(!lease.valid());
        let t = Duration::from_secs(2);
        lease.renew(Instant::now() + t);
        assert!(lease.valid());
        // Never shortened by an older renewal.
        lease.renew(Instant::now());
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(lease.valid());
        tokio::time::advance(Duration::from_millis(600)).await;
        assert!(!lease.valid(), "a paused leader's lease has run out");
        lease.renew(Instant::now() + t);
        lease.revoke();
        assert!(!lease.valid());
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_out_lease_is_suspended_for_the_grace_period_then_expired() {
        let lease = Lease::new();
        let t = Duration::from_secs(2);
        assert_eq!(lease.state(t), LeaseState::Expired, "never held");
        lease.renew(Instant::now() + t);
        assert_eq!(lease.state(t), LeaseState::Valid);
        tokio::time::advance(Duration::from_millis(2500)).await;
        assert_eq!(lease.state(t), LeaseState::Suspended);
        // A renewal after the reconnection makes it valid again.
        lease.renew(Instant::now() + t);
        assert_eq!(lease.state(t), LeaseState::Valid);
        tokio::time::advance(Duration::from_millis(4100)).await;
        assert_eq!(lease.state(t), LeaseState::Expired);
        lease.renew(Instant::now() + t);
        lease.revoke();
        assert_eq!(lease.state(t), LeaseState::Expired, "revoked");
    }

    #[tokio::test(start_paused = true)]
    async fn a_watcher_sees_every_renewal_and_revocation_with_the_lease_unlocked() {
        let lease = Lease::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let t = Duration::from_secs(2);
        assert!(lease.watch(Box::new(move |l: &Lease| {
            // Reading the lease here must not deadlock.
            s.lock().unwrap().push(l.state(t));
        })));
        assert!(
            !lease.watch(Box::new(|_: &Lease| {})),
            "one watcher per lease"
        );
        lease.renew(Instant::now() + t);
        lease.clone().revoke();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![LeaseState::Valid, LeaseState::Expired]
        );
    }
}
