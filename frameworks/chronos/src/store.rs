//! Where jobs live: one record per job (definition and state) and the FrameworkID, behind
//! [`Store`]. [`MemStore`] for tests; [`ZkStore`] keeps each job in its own znode
//! `<path>/jobs/<name>` and the FrameworkID in `<path>/frameworkId`. Every ZooKeeper write
//! is a multi-op that first checks a *fence* znode (the leader's candidacy) still exists,
//! so a leader whose session is gone cannot overwrite what its successor wrote. Reads sync
//! first: the store's session may be on a follower behind the leader, and a new leader
//! that loaded its predecessor's older job records would run an instant again.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use detector::session::{self, Session};
use detector::zk::{bounded, ensure_path_in};
use detector::ZkUrl;
use zookeeper_client as zk;

use crate::core::JobRecord;

/// A boxed future (the store is used from the scheduler's single-threaded callbacks).
pub type Fut<T> = Pin<Box<dyn Future<Output = T>>>;

/// A store failure, with what failed.
pub type StoreResult<T> = Result<T, String>;

/// Durable job records and the FrameworkID.
pub trait Store: 'static {
    /// Every stored job.
    fn load(&self) -> Fut<StoreResult<Vec<JobRecord>>>;
    /// Writes (`Some`) or deletes (`None`) the record of job `name`.
    fn put(&self, name: String, record: Option<JobRecord>) -> Fut<StoreResult<()>>;
    /// The FrameworkID, if one was stored.
    fn framework_id(&self) -> Fut<StoreResult<Option<String>>>;
    /// Stores the FrameworkID.
    fn set_framework_id(&self, id: String) -> Fut<StoreResult<()>>;
}

/// The jobs and the FrameworkID of a [`MemStore`].
type MemData = (BTreeMap<String, JobRecord>, Option<String>);

/// An in-memory store (tests); clones share the data.
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    inner: Arc<Mutex<MemData>>,
    /// When set, every write fails (to test the durability rule).
    pub fail: Arc<std::sync::atomic::AtomicBool>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A copy of the stored records.
    pub fn records(&self) -> BTreeMap<String, JobRecord> {
        self.inner.lock().map(|g| g.0.clone()).unwrap_or_default()
    }
}

impl Store for MemStore {
    fn load(&self) -> Fut<StoreResult<Vec<JobRecord>>> {
        let v = self.records().into_values().collect();
        Box::pin(async move { Ok(v) })
    }

    fn put(&self, name: String, record: Option<JobRecord>) -> Fut<StoreResult<()>> {
        let me = self.clone();
        Box::pin(async move {
            if me.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err("store unavailable".to_string());
            }
            let mut g = me.inner.lock().map_err(|_| "poisoned".to_string())?;
            match record {
                Some(r) => {
                    g.0.insert(name, r);
                }
                None => {
                    g.0.remove(&name);
                }
            }
            Ok(())
        })
    }

    fn framework_id(&self) -> Fut<StoreResult<Option<String>>> {
        let v = self.inner.lock().ok().and_then(|g| g.1.clone());
        Box::pin(async move { Ok(v) })
    }

    fn set_framework_id(&self, id: String) -> Fut<StoreResult<()>> {
        let me = self.clone();
        Box::pin(async move {
            if let Ok(mut g) = me.inner.lock() {
                g.1 = Some(id);
            }
            Ok(())
        })
    }
}

/// Jobs in ZooKeeper, one znode each, writes fenced by the leader's candidacy znode.
#[derive(Clone)]
pub struct ZkStore {
    servers: String,
    root: String,
    timeout: Duration,
    fence: Arc<Mutex<Option<String>>>,
    client: Arc<tokio::sync::Mutex<Option<Session>>>,
}

impl ZkStore {
    /// The store under `url.path` (e.g. `/chronos/state`).
    pub fn new(url: &ZkUrl, timeout: Duration) -> ZkStore {
        ZkStore {
            servers: url.servers.clone(),
            root: url.path.trim_end_matches('/').to_string(),
            timeout,
            fence: Arc::new(Mutex::new(None)),
            client: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Sets the znode every write checks first (the leader's candidacy).
    pub fn set_fence(&self, path: Option<String>) {
        if let Ok(mut g) = self.fence.lock() {
            *g = path;
        }
    }

    fn fence(&self) -> Option<String> {
        self.fence.lock().ok().and_then(|g| g.clone())
    }

    async fn client(&self) -> StoreResult<Session> {
        let mut g = self.client.lock().await;
        if let Some(c) = g.as_ref() {
            use zk::SessionState::*;
            if !matches!(c.state(), Expired | Closed | AuthFailed) {
                return Ok(c.clone());
            }
        }
        let c = session::open(&self.servers, self.timeout)
            .await
            .map_err(|e| format!("cannot connect to ZooKeeper {}: {e}", self.servers))?;
        ensure_path_in(&*c, &format!("{}/jobs", self.root), self.timeout)
            .await
            .map_err(|e| format!("cannot create {}/jobs: {e}", self.root))?;
        *g = Some(c.clone());
        Ok(c)
    }

    async fn write(&self, path: String, data: Option<Vec<u8>>) -> StoreResult<()> {
        let c = self.client().await?;
        let fence = self.fence();
        detector::fenced::write(&*c, fence.as_deref(), &path, data.as_deref(), self.timeout).await
    }
}

impl Store for ZkStore {
    fn load(&self) -> Fut<StoreResult<Vec<JobRecord>>> {
        let me = self.clone();
        Box::pin(async move {
            let c = me.client().await?;
            let dir = format!("{}/jobs", me.root);
            bounded(me.timeout, c.sync(&dir))
                .await
                .map_err(|e| format!("sync {dir}: {e}"))?;
            let names = bounded(me.timeout, c.list_children(&dir))
                .await
                .map_err(|e| format!("list {dir}: {e}"))?;
            let mut out = Vec::new();
            for n in names {
                let p = format!("{dir}/{n}");
                match bounded(me.timeout, c.get_data(&p)).await {
                    Ok((data, _)) => match serde_json::from_slice::<JobRecord>(&data) {
                        Ok(r) => out.push(r),
                        Err(e) => {
                            tracing::error!(znode = %p, error = %e, "unreadable job record; skipped")
                        }
                    },
                    Err(zk::Error::NoNode) => {}
                    Err(e) => return Err(format!("read {p}: {e}")),
                }
            }
            Ok(out)
        })
    }

    fn put(&self, name: String, record: Option<JobRecord>) -> Fut<StoreResult<()>> {
        let me = self.clone();
        Box::pin(async move {
            let data = match record {
                Some(r) => Some(serde_json::to_vec(&r).map_err(|e| e.to_string())?),
                None => None,
            };
            me.write(format!("{}/jobs/{name}", me.root), data).await
        })
    }

    fn framework_id(&self) -> Fut<StoreResult<Option<String>>> {
        let me = self.clone();
        Box::pin(async move {
            let c = me.client().await?;
            let p = format!("{}/frameworkId", me.root);
            bounded(me.timeout, c.sync(&p))
                .await
                .map_err(|e| format!("sync {p}: {e}"))?;
            match bounded(me.timeout, c.get_data(&p)).await {
                Ok((d, _)) if d.is_empty() => Ok(None),
                Ok((d, _)) => Ok(Some(String::from_utf8_lossy(&d).trim().to_string())),
                Err(zk::Error::NoNode) => Ok(None),
                Err(e) => Err(format!("read {p}: {e}")),
            }
        })
    }

    fn set_framework_id(&self, id: String) -> Fut<StoreResult<()>> {
        let me = self.clone();
        Box::pin(async move {
            me.write(format!("{}/frameworkId", me.root), Some(id.into_bytes()))
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::JobState;
    use crate::job::JobDef;

    fn record(next: u64) -> JobRecord {
        let mut r = JobRecord {
            def: JobDef::scheduled("j", "true", "R//PT1M"),
            state: JobState::default(),
        };
        r.state.next = next;
        r
    }

    fn on(e: &detector::zk_model::Ensemble, client: &str) -> ZkStore {
        let url = ZkUrl {
            servers: e.servers(client),
            path: "/chronos/state".into(),
        };
        ZkStore::new(&url, Duration::from_secs(10))
    }

    /// A standby's store session may be on a follower behind the leader: once elected,
    /// it must load the job's latest state (the instant already run), not an older one.
    #[tokio::test(start_paused = true)]
    async fn a_load_on_a_lagging_follower_returns_the_latest_job_records() {
        let e = detector::zk_model::Ensemble::new("chronos-store-lag");
        let old = on(&e, "c1");
        old.put("j".into(), Some(record(1))).await.unwrap();
        e.lag("c2", Duration::from_secs(30), Duration::from_secs(60));
        let new = on(&e, "c2");
        assert_eq!(new.load().await.unwrap()[0].state.next, 1);
        old.set_framework_id("F-1".into()).await.unwrap();
        assert_eq!(new.framework_id().await.unwrap().as_deref(), Some("F-1"));
        old.put("j".into(), Some(record(2))).await.unwrap();
        old.put("k".into(), Some(record(5))).await.unwrap();
        old.put("j".into(), None).await.unwrap();
        old.put("j".into(), Some(record(3))).await.unwrap();
        let loaded = new.load().await.unwrap();
        let nexts: Vec<u64> = loaded.iter().map(|r| r.state.next).collect();
        assert_eq!(nexts, vec![3, 5]);
    }
}
