//! The registry: the durable part of the master's state (Mesos's `registry.proto`,
//! trimmed): the admitted agents, the unreachable agents (with when they became
//! unreachable), and the operator's role weights and quotas. Tasks and frameworks are not in it; a new leader rebuilds them from
//! re-registration.
//!
//! [`Registry`] is pure data with the three mutations the master makes; [`RegistryStore`]
//! is where it lives: in memory (`--registry=in_memory`), a file in `--work_dir`
//! (`--registry=replicated_log` without `--zk`; written to a temp file then renamed), or
//! ZooKeeper (`--registry=replicated_log` with `--zk`; the `<path>/registry` znode, chunked
//! by [`detector::zk_store`] past the 1 MB znode limit, and fenced by the leader's
//! candidacy znode). The encoding is MessagePack with field names (so a newer field with
//! a default still decodes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use proto::{AgentId, AgentInfo, Resources};
use serde::{Deserialize, Serialize};

use detector::zk_store::ZkBlobStore;

/// An unreachable agent in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnreachableEntry {
    /// Its last info.
    pub info: AgentInfo,
    /// When it was marked unreachable (seconds since the epoch, display clock).
    pub time: f64,
}

/// The registry's contents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// Admitted agents by id (their info carries the id).
    #[serde(default)]
    pub agents: BTreeMap<AgentId, AgentInfo>,
    /// Agents marked unreachable, by id.
    #[serde(default)]
    pub unreachable: BTreeMap<AgentId, UnreachableEntry>,
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
        self.unreachable
            .insert(id.clone(), UnreachableEntry { info, time });
        true
    }

    /// Forgets an agent entirely (it unregistered). Returns whether anything changed.
    pub fn remove(&mut self, id: &AgentId) -> bool {
        let a = self.agents.remove(id).is_some();
        let u = self.unreachable.remove(id).is_some();
        a || u
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

/// Where the registry is kept. Cheap to clone (clones share the store).
#[derive(Clone, Debug)]
pub enum RegistryStore {
    /// In this process only (lost with it).
    InMemory(Arc<Mutex<Option<Vec<u8>>>>),
    /// A file (written to `<file>.tmp`, then renamed).
    File(PathBuf),
    /// ZooKeeper, fenced by the leader's candidacy znode when one is given.
    ZooKeeper(ZkBlobStore),
}

impl RegistryStore {
    /// A fresh in-memory store.
    pub fn in_memory() -> RegistryStore {
        RegistryStore::InMemory(Arc::new(Mutex::new(None)))
    }

    /// What it is, for logs.
    pub fn describe(&self) -> String {
        match self {
            RegistryStore::InMemory(_) => "in memory".into(),
            RegistryStore::File(p) => format!("file {}", p.display()),
            RegistryStore::ZooKeeper(z) => format!("ZooKeeper znode {}", z.node()),
        }
    }

    /// Whether writes outlive this process (in-memory stores are not written at all).
    pub fn is_durable(&self) -> bool {
        !matches!(self, RegistryStore::InMemory(_))
    }

    /// Reads the registry at once if that needs no network (memory, file); `None` for
    /// ZooKeeper.
    pub fn load_now(&self) -> Option<Result<Registry, RegistryError>> {
        match self {
            RegistryStore::InMemory(m) => Some(match m.lock().ok().and_then(|g| g.clone()) {
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
            RegistryStore::InMemory(m) => m.lock().ok().and_then(|g| g.clone()),
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
                if let Ok(mut g) = m.lock() {
                    *g = Some(bytes);
                }
                Ok(())
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
