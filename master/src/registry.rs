//! The registry: the durable part of the master's state (Mesos's `registry.proto`,
//! trimmed): the admitted agents, the unreachable agents (with when they became
//! unreachable and which frameworks were told their tasks there are `TASK_LOST`), the
//! agents removed for good ("gone"), the frameworks torn down, and the operator's role
//! weights and quotas. Tasks and live frameworks are not in it; a new leader rebuilds them
//! from re-registration.
//!
//! The master decides, writes the registry, and only then speaks (Mesos's registrar): see
//! `Effect::PersistRegistry` in [`crate::core`].
//!
//! [`Registry`] is pure data with the mutations the master makes; [`RegistryStore`] is
//! where it lives: in memory (`--registry=in_memory`), a file in `--work_dir`
//! (`--registry=file`; written to a temp file, synced, then renamed), or one ZooKeeper
//! blob (`--registry=zookeeper`; the `<path>/registry` znode, chunked by
//! [`detector::zk_store`] past the 1 MB znode limit, and fenced by the leader's candidacy
//! znode). It is not a replicated log: durability is the file system's or ZooKeeper's.
//! The encoding is MessagePack with field names (so a newer field with a default still
//! decodes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use std::collections::BTreeSet;
use std::time::Duration;

use proto::{AgentId, AgentInfo, FrameworkId, Resources, TaskId};
use serde::{Deserialize, Serialize};

use detector::zk_store::ZkBlobStore;

/// An unreachable agent in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnreachableEntry {
    /// Its last info.
    pub info: AgentInfo,
    /// When it was marked unreachable (seconds since the epoch, display clock).
    pub time: f64,
    /// Frameworks (not partition-aware) that were told their tasks on it are
    /// `TASK_LOST`: if the agent comes back, those tasks are killed, never adopted.
    #[serde(default)]
    pub lost_frameworks: BTreeSet<FrameworkId>,
}

/// How many torn-down frameworks the registry remembers (oldest forgotten first).
pub const MAX_REMOVED_FRAMEWORKS: usize = 10_000;

/// The registry's contents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// Admitted agents by id (their info carries the id).
    #[serde(default)]
    pub agents: BTreeMap<AgentId, AgentInfo>,
    /// Agents marked unreachable, by id.
    #[serde(default)]
    pub unreachable: BTreeMap<AgentId, UnreachableEntry>,
    /// Agents removed for good (unregistered, or replaced by a new agent at their
    /// address), with when: they are told to shut down if they try to re-register.
    #[serde(default)]
    pub gone: BTreeMap<AgentId, f64>,
    /// Tasks on agents back from unreachable that the master asked the agent to kill
    /// because their frameworks were told `TASK_LOST`, by agent. Re-admitting the agent
    /// drops its unreachable entry, but the kill may not land before a failover: until
    /// the agent reports these tasks ended (or no longer reports them), a new leader
    /// kills them too instead of adopting them.
    #[serde(default)]
    pub killed_lost_tasks: BTreeMap<AgentId, BTreeSet<(FrameworkId, TaskId)>>,
    /// Frameworks torn down, with when: they cannot re-subscribe, and their tasks that
    /// agents still report are shut down, not adopted.
    #[serde(default)]
    pub removed_frameworks: BTreeMap<FrameworkId, f64>,
    /// Role weights set through `/weights` (or `--weights`).
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
    /// Role quotas set through `/quota`.
    #[serde(default)]
    pub quotas: BTreeMap<String, QuotaEntry>,
}

/// A role's quota in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaEntry {
    /// Guaranteed resources.
    pub guarantee: Resources,
    /// Upper bound, if any.
    #[serde(default)]
    pub limit: Option<Resources>,
}

/// Why the registry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The bytes are not a registry.
    #[error("cannot decode the registry: {0}")]
    Decode(String),
    /// The file could not be read or written.
    #[error("registry file {path}: {error}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The store refuses writes (the in-memory store's test hook).
    #[error("the registry store refuses writes")]
    Unwritable,
    /// ZooKeeper failed.
    #[error(transparent)]
    Zk(#[from] detector::zk_store::StoreError),
}

impl Registry {
    /// Admits (or re-admits) an agent: it is no longer unreachable. Returns whether
    /// anything changed.
    pub fn admit(&mut self, id: &AgentId, info: &AgentInfo) -> bool {
        let mut info = info.clone();
        info.id = Some(id.clone());
        let was_unreachable = self.unreachable.remove(id).is_some();
        let old = self.agents.insert(id.clone(), info.clone());
        was_unreachable || old.as_ref() != Some(&info)
    }

    /// Moves an agent (admitted or not) to unreachable at `time`. Returns whether
    /// anything changed.
    pub fn mark_unreachable(&mut self, id: &AgentId, info: &AgentInfo, time: f64) -> bool {
        let admitted = self.agents.remove(id);
        if admitted.is_none() && self.unreachable.contains_key(id) {
            return false;
        }
        let info = admitted.unwrap_or_else(|| info.clone());
        self.unreachable.insert(
            id.clone(),
            UnreachableEntry {
                info,
                time,
                lost_frameworks: BTreeSet::new(),
            },
        );
        true
    }

    /// Records that `framework` was told the tasks it had on unreachable agent `id` are
    /// `TASK_LOST`. Returns whether anything changed.
    pub fn note_lost(&mut self, id: &AgentId, framework: &FrameworkId) -> bool {
        match self.unreachable.get_mut(id) {
            Some(e) => e.lost_frameworks.insert(framework.clone()),
            None => false,
        }
    }

    /// Records the lost tasks on agent `id` that the master asked it to kill and that it
    /// still reports live (none: forgets the agent's record). Returns whether anything
    /// changed.
    pub fn set_killed_lost_tasks(
        &mut self,
        id: &AgentId,
        tasks: BTreeSet<(FrameworkId, TaskId)>,
    ) -> bool {
        if tasks.is_empty() {
            return self.killed_lost_tasks.remove(id).is_some();
        }
        self.killed_lost_tasks.insert(id.clone(), tasks.clone()) != Some(tasks)
    }

    /// Forgets an agent entirely. Returns whether anything changed.
    pub fn remove(&mut self, id: &AgentId) -> bool {
        let a = self.agents.remove(id).is_some();
        let u = self.unreachable.remove(id).is_some();
        let k = self.killed_lost_tasks.remove(id).is_some();
        a || u || k
    }

    /// Marks an agent gone at `time`: it may never re-register with this id.
    pub fn mark_gone(&mut self, id: &AgentId, time: f64) -> bool {
        self.remove(id);
        self.gone.insert(id.clone(), time).is_none()
    }

    /// Records a torn-down framework (the oldest records go past
    /// [`MAX_REMOVED_FRAMEWORKS`]). Returns whether anything changed.
    pub fn remove_framework(&mut self, id: &FrameworkId, time: f64) -> bool {
        if self.removed_frameworks.contains_key(id) {
            return false;
        }
        self.removed_frameworks.insert(id.clone(), time);
        while self.removed_frameworks.len() > MAX_REMOVED_FRAMEWORKS {
            let oldest = self
                .removed_frameworks
                .iter()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.removed_frameworks.remove(&k),
                None => break,
            };
        }
        true
    }

    /// Mesos's registry GC (`--registry_max_agent_age`, `--registry_max_agent_count`):
    /// forgets unreachable and gone agents older than `max_age` at `now`, then the oldest
    /// of each list until it holds at most `max_count`. Returns the unreachable agents
    /// forgotten (the master forgets them too).
    pub fn prune(&mut self, now: f64, max_age: Duration, max_count: usize) -> Vec<AgentId> {
        let cutoff = now - max_age.as_secs_f64();
        let mut pruned: Vec<AgentId> = self
            .unreachable
            .iter()
            .filter(|(_, e)| e.time < cutoff)
            .map(|(id, _)| id.clone())
            .collect();
        if self.unreachable.len() - pruned.len() > max_count {
            let mut rest: Vec<(&AgentId, f64)> = self
                .unreachable
                .iter()
                .filter(|(_, e)| e.time >= cutoff)
                .map(|(id, e)| (id, e.time))
                .collect();
            rest.sort_by(|a, b| a.1.total_cmp(&b.1));
            let excess = rest.len() - max_count;
            pruned.extend(rest.into_iter().take(excess).map(|(id, _)| id.clone()));
        }
        for id in &pruned {
            self.unreachable.remove(id);
            self.killed_lost_tasks.remove(id);
        }
        self.gone.retain(|_, t| *t >= cutoff);
        if self.gone.len() > max_count {
            let mut all: Vec<(AgentId, f64)> =
                self.gone.iter().map(|(k, t)| (k.clone(), *t)).collect();
            all.sort_by(|a, b| a.1.total_cmp(&b.1));
            let excess = all.len() - max_count;
            for (id, _) in all.into_iter().take(excess) {
                self.gone.remove(&id);
            }
        }
        pruned
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        // Plain data with string keys: encoding cannot fail.
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }

    /// Parses the stored form.
    pub fn decode(bytes: &[u8]) -> Result<Registry, RegistryError> {
        rmp_serde::from_slice(bytes).map_err(|e| RegistryError::Decode(e.to_string()))
    }
}

/// An in-memory registry slot, shared by the clones of a store (so masters of one test
/// process can fail over onto the same registry).
#[derive(Debug, Default)]
pub struct MemorySlot {
    /// The stored bytes.
    pub bytes: Option<Vec<u8>>,
    /// Test hook: every write fails while set (a registry that cannot be written).
    pub fail_writes: bool,
    /// Writes that succeeded.
    pub writes: u64,
    /// Test hook: while it holds `true`, writes wait (a write in flight).
    pub hold: Option<tokio::sync::watch::Sender<bool>>,
}

/// Where the registry is kept. Cheap to clone (clones share the store).
#[derive(Clone, Debug)]
pub enum RegistryStore {
    /// In this process only (lost with it).
    InMemory(Arc<Mutex<MemorySlot>>),
    /// A file (written to `<file>.tmp`, then renamed).
    File(PathBuf),
    /// ZooKeeper, fenced by the leader's candidacy znode when one is given.
    ZooKeeper(ZkBlobStore),
}

impl RegistryStore {
    /// A fresh in-memory store.
    pub fn in_memory() -> RegistryStore {
        RegistryStore::InMemory(Arc::new(Mutex::new(MemorySlot::default())))
    }

    /// Test hook: makes every write of an in-memory store fail (or succeed again).
    /// Does nothing to other stores.
    pub fn fail_writes(&self, fail: bool) {
        if let RegistryStore::InMemory(m) = self {
            if let Ok(mut g) = m.lock() {
                g.fail_writes = fail;
            }
        }
    }

    /// Test hook: writes of an in-memory store wait (are in flight) until
    /// [`RegistryStore::release_writes`].
    pub fn hold_writes(&self) {
        if let RegistryStore::InMemory(m) = self {
            if let Ok(mut g) = m.lock() {
                g.hold = Some(tokio::sync::watch::channel(true).0);
            }
        }
    }

    /// Lets held writes of an in-memory store complete.
    pub fn release_writes(&self) {
        if let RegistryStore::InMemory(m) = self {
            if let Some(tx) = m.lock().ok().and_then(|mut g| g.hold.take()) {
                let _ = tx.send(false);
            }
        }
    }

    /// Successful writes of an in-memory store (0 for other stores).
    pub fn writes(&self) -> u64 {
        match self {
            RegistryStore::InMemory(m) => m.lock().map(|g| g.writes).unwrap_or(0),
            _ => 0,
        }
    }

    /// Writes an in-memory store at once (no I/O); `None` for the other stores (and a
    /// held in-memory one), which need [`RegistryStore::store`].
    pub fn store_now(&self, bytes: &[u8]) -> Option<Result<(), RegistryError>> {
        match self {
            RegistryStore::InMemory(m) => {
                if m.lock().is_ok_and(|g| g.hold.is_some()) {
                    return None;
                }
                Some(Self::write_memory(m, bytes))
            }
            _ => None,
        }
    }

    fn write_memory(m: &Mutex<MemorySlot>, bytes: &[u8]) -> Result<(), RegistryError> {
        match m.lock() {
            Ok(mut g) if !g.fail_writes => {
                g.bytes = Some(bytes.to_vec());
                g.writes += 1;
                Ok(())
            }
            _ => Err(RegistryError::Unwritable),
        }
    }

    /// What it is, for logs.
    pub fn describe(&self) -> String {
        match self {
            RegistryStore::InMemory(_) => "in memory".into(),
            RegistryStore::File(p) => format!("file {}", p.display()),
            RegistryStore::ZooKeeper(z) => format!("ZooKeeper znode {}", z.node()),
        }
    }

    /// Reads the registry at once if that needs no network (memory, file); `None` for
    /// ZooKeeper.
    pub fn load_now(&self) -> Option<Result<Registry, RegistryError>> {
        match self {
            RegistryStore::InMemory(m) => Some(match m.lock().ok().and_then(|g| g.bytes.clone()) {
                Some(b) => Registry::decode(&b),
                None => Ok(Registry::default()),
            }),
            RegistryStore::File(path) => Some(match std::fs::read(path) {
                Ok(b) => Registry::decode(&b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::default()),
                Err(error) => Err(RegistryError::File {
                    path: path.clone(),
                    error,
                }),
            }),
            RegistryStore::ZooKeeper(_) => None,
        }
    }

    /// Reads the registry (empty if nothing was stored yet).
    pub async fn load(&self) -> Result<Registry, RegistryError> {
        let bytes = match self {
            RegistryStore::InMemory(m) => m.lock().ok().and_then(|g| g.bytes.clone()),
            RegistryStore::File(path) => match tokio::fs::read(path).await {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => {
                    return Err(RegistryError::File {
                        path: path.clone(),
                        error,
                    })
                }
            },
            RegistryStore::ZooKeeper(z) => z.load().await?,
        };
        match bytes {
            Some(b) => Registry::decode(&b),
            None => Ok(Registry::default()),
        }
    }

    /// Writes the registry; with ZooKeeper, only while `fence` (the leader's candidacy
    /// znode) exists.
    pub async fn store(&self, bytes: Vec<u8>, fence: Option<String>) -> Result<(), RegistryError> {
        match self {
            RegistryStore::InMemory(m) => {
                let held = m
                    .lock()
                    .ok()
                    .and_then(|g| g.hold.as_ref().map(|h| h.subscribe()));
                if let Some(mut rx) = held {
                    // Released, or the hook dropped: either way the write goes on.
                    let _ = rx.wait_for(|held| !*held).await;
                }
                Self::write_memory(m, &bytes)
            }
            RegistryStore::File(path) => {
                let file_err = |error| RegistryError::File {
                    path: path.clone(),
                    error,
                };
                if let Some(dir) = path.parent() {
                    tokio::fs::create_dir_all(dir).await.map_err(file_err)?;
                }
                let tmp = path.with_extension("tmp");
                let write = async {
                    use tokio::io::AsyncWriteExt;
                    libproc::fault::disk_write(libproc::fault::DiskTarget::Registry)?;
                    let mut f = tokio::fs::File::create(&tmp).await?;
                    f.write_all(&bytes).await?;
                    f.sync_all().await?;
                    tokio::fs::rename(&tmp, path).await
                };
                write.await.map_err(file_err)
            }
            RegistryStore::ZooKeeper(z) => Ok(z.store(&bytes, fence.as_deref()).await?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(n: u32) -> (AgentId, AgentInfo) {
        let id = AgentId::new(format!("a-S{n}"));
        let mut info = AgentInfo::new(
            format!("host-{n}.example.com"),
            "cpus:8;mem:16384;disk:100000;ports:[31000-32000]"
                .parse()
                .unwrap(),
        );
        info.id = Some(id.clone());
        (id, info)
    }

    #[test]
    fn mutations() {
        let mut r = Registry::default();
        let (a, ai) = agent(1);
        assert!(r.admit(&a, &ai));
        assert!(!r.admit(&a, &ai));
        assert!(r.mark_unreachable(&a, &ai, 10.0));
        assert!(!r.mark_unreachable(&a, &ai, 11.0));
        assert_eq!(r.unreachable[&a].time, 10.0);
        assert!(r.agents.is_empty());
        assert!(r.admit(&a, &ai));
        assert!(r.unreachable.is_empty());
        assert!(r.remove(&a));
        assert!(!r.remove(&a));
        assert_eq!(r, Registry::default());
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let mut r = Registry::default();
        for n in 0..100 {
            let (a, ai) = agent(n);
            r.admit(&a, &ai);
        }
        let (u, ui) = agent(1000);
        r.mark_unreachable(&u, &ui, 5.5);
        assert_eq!(Registry::decode(&r.encode()).unwrap(), r);
        assert!(Registry::decode(b"\xff\x00garbage").is_err());
        assert_eq!(
            Registry::decode(&Registry::default().encode()).unwrap(),
            Registry::default()
        );
    }

    #[tokio::test]
    async fn file_store_round_trips() {
        let dir = std::env::temp_dir().join(format!("registry-test-{}", std::process::id()));
        let store = RegistryStore::File(dir.join("registry.bin"));
        assert_eq!(store.load().await.unwrap(), Registry::default());
        let mut r = Registry::default();
        let (a, ai) = agent(1);
        r.admit(&a, &ai);
        store.store(r.encode(), None).await.unwrap();
        assert_eq!(store.load().await.unwrap(), r);
        std::fs::write(dir.join("registry.bin"), b"junk").unwrap();
        assert!(store.load().await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
