//! The state store behind a trait: an in-memory one (tests, `--zk` unset) and ZooKeeper,
//! with one znode per record (`<root>/apps/<id>`, `<root>/instances/<task>`, …) so no
//! znode nears the 1 MB limit however many apps there are. A load syncs first: the
//! store's session may be on a ZooKeeper follower behind the leader, and a new leader must
//! not recover what its predecessor had already changed. Every write is fenced
//! ([`detector::fenced`]): it checks the leader's candidacy znode first, so a deposed
//! leader's write in flight cannot overwrite what its successor wrote.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use detector::session::Session;
use zookeeper_client as zk;

use crate::core::StoreOp;

/// A boxed future of a store call.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, String>> + 'static>>;

/// Where intent is written before it is acted on.
pub trait Store: 'static {
    /// Applies the writes in order; `Err` if any failed (some may have been applied).
    fn apply(&self, ops: Vec<StoreOp>) -> StoreFuture<()>;
    /// Every record as `(key, bytes)`.
    fn load(&self) -> StoreFuture<Vec<(String, Vec<u8>)>>;
}

/// An in-memory store; `fail` makes every write fail (to test that nothing acts on an
/// unwritten intent).
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    /// The records.
    pub data: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    /// Refuse writes.
    pub fail: Arc<Mutex<bool>>,
}

impl Store for MemStore {
    fn apply(&self, ops: Vec<StoreOp>) -> StoreFuture<()> {
        let me = self.clone();
        Box::pin(async move {
            if me.fail.lock().map(|f| *f).unwrap_or(true) {
                return Err("store unavailable".to_string());
            }
            let mut data = me.data.lock().map_err(|e| e.to_string())?;
            for op in ops {
                match op {
                    StoreOp::Put(k, v) => {
                        data.insert(k, v);
                    }
                    StoreOp::Delete(k) => {
                        data.remove(&k);
                    }
                }
            }
            Ok(())
        })
    }

    fn load(&self) -> StoreFuture<Vec<(String, Vec<u8>)>> {
        let me = self.clone();
        Box::pin(async move {
            let data = me.data.lock().map_err(|e| e.to_string())?;
            Ok(data.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        })
    }
}

/// The directories under the root, one znode per record in each.
const DIRS: &[&str] = &["apps", "deployments", "instances"];

/// ZooKeeper: `<root>/<key>` per record, writes fenced by the leader's candidacy znode.
#[derive(Clone)]
pub struct ZkStore {
    session: Session,
    root: String,
    timeout: Duration,
    fence: Arc<Mutex<Option<String>>>,
}

fn zerr(what: &str, e: zk::Error) -> String {
    format!("ZooKeeper {what}: {e}")
}

impl ZkStore {
    /// Connects and creates the root and its directories.
    pub async fn connect(servers: &str, root: &str, timeout: Duration) -> Result<ZkStore, String> {
        let session = detector::session::open(servers, timeout)
            .await
            .map_err(|e| zerr("connect", e))?;
        let root = root.trim_end_matches('/').to_string();
        let root = if root.is_empty() {
            "/marathon".to_string()
        } else {
            root
        };
        let store = ZkStore {
            session,
            root,
            timeout,
            fence: Arc::new(Mutex::new(None)),
        };
        for d in DIRS {
            let path = format!("{}/{d}", store.root);
            detector::zk::ensure_path_in(&*store.session, &path, timeout)
                .await
                .map_err(|e| zerr(&format!("create {path}"), e))?;
        }
        Ok(store)
    }

    /// Sets the znode every write checks first (this process's candidacy).
    pub fn set_fence(&self, path: Option<String>) {
        if let Ok(mut g) = self.fence.lock() {
            *g = path;
        }
    }

    async fn write(&self, key: &str, value: Option<&[u8]>) -> Result<(), String> {
        let path = format!("{}/{key}", self.root);
        let fence = self.fence.lock().ok().and_then(|g| g.clone());
        detector::fenced::write(&*self.session, fence.as_deref(), &path, value, self.timeout)
            .await
            .map_err(|e| format!("ZooKeeper {e}"))
    }
}

impl Store for ZkStore {
    fn apply(&self, ops: Vec<StoreOp>) -> StoreFuture<()> {
        let me = self.clone();
        Box::pin(async move {
            for op in ops {
                match op {
                    StoreOp::Put(k, v) => me.write(&k, Some(&v)).await?,
                    StoreOp::Delete(k) => me.write(&k, None).await?,
                }
            }
            Ok(())
        })
    }

    fn load(&self) -> StoreFuture<Vec<(String, Vec<u8>)>> {
        let me = self.clone();
        Box::pin(async move {
            let mut out = Vec::new();
            detector::zk::bounded(me.timeout, me.session.sync(&me.root))
                .await
                .map_err(|e| zerr(&format!("sync {}", me.root), e))?;
            let fid = format!("{}/{}", me.root, crate::core::FRAMEWORK_ID_KEY);
            match detector::zk::bounded(me.timeout, me.session.get_data(&fid)).await {
                Ok((data, _)) => out.push((crate::core::FRAMEWORK_ID_KEY.to_string(), data)),
                Err(zk::Error::NoNode) => {}
                Err(e) => return Err(zerr("read framework id", e)),
            }
            for d in DIRS {
                let dir = format!("{}/{d}", me.root);
                let children = detector::zk::bounded(me.timeout, me.session.list_children(&dir))
                    .await
                    .map_err(|e| zerr(&format!("list {dir}"), e))?;
                for child in children {
                    let path = format!("{dir}/{child}");
                    match detector::zk::bounded(me.timeout, me.session.get_data(&path)).await {
                        Ok((data, _)) => out.push((format!("{d}/{child}"), data)),
                        Err(zk::Error::NoNode) => {}
                        Err(e) => return Err(zerr(&format!("read {path}"), e)),
                    }
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use detector::session::CreateMode;

    #[tokio::test]
    async fn mem_store_round_trip_and_failure() {
        let s = MemStore::default();
        s.apply(vec![
            StoreOp::Put("apps/a".into(), b"1".to_vec()),
            StoreOp::Put("apps/b".into(), b"2".to_vec()),
            StoreOp::Delete("apps/a".into()),
        ])
        .await
        .unwrap();
        assert_eq!(
            s.load().await.unwrap(),
            vec![("apps/b".to_string(), b"2".to_vec())]
        );
        *s.fail.lock().unwrap() = true;
        assert!(s
            .apply(vec![StoreOp::Delete("apps/b".into())])
            .await
            .is_err());
    }

    /// A leader deposed (its election session expired, its candidacy znode gone) whose
    /// write was still to go out must not overwrite its successor's record: every write
    /// checks the writer's candidacy znode in the same multi-op.
    #[tokio::test(start_paused = true)]
    async fn a_deposed_leaders_write_cannot_overwrite_its_successors() {
        let e = detector::zk_model::Ensemble::new("marathon-store-fence");
        let t = Duration::from_secs(10);
        let candidacy = |client: &'static str| {
            let servers = e.servers(client);
            async move {
                let s = detector::session::open(&servers, t).await.unwrap();
                detector::zk::ensure_path_in(&*s, "/marathon/leader", t)
                    .await
                    .unwrap();
                let seq = s
                    .create(
                        "/marathon/leader/json.info_",
                        b"",
                        CreateMode::EphemeralSequential,
                    )
                    .await
                    .unwrap();
                (s, format!("/marathon/leader/json.info_{seq}"))
            }
        };
        let (_old_election, old_fence) = candidacy("m1-election").await;
        let old = ZkStore::connect(&e.servers("m1"), "/marathon", t)
            .await
            .unwrap();
        old.set_fence(Some(old_fence.clone()));
        old.apply(vec![StoreOp::Put("apps/a".into(), b"1".to_vec())])
            .await
            .unwrap();
        // The old leader's election session expires; a successor is elected and writes.
        e.expire("m1-election");
        // (Virtual time: the session times out, and its ephemeral znode goes.)
        let gone = async {
            while e.data(&old_fence).is_some() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), gone)
            .await
            .expect("the old candidacy expires");
        let (_new_election, new_fence) = candidacy("m2-election").await;
        let new = ZkStore::connect(&e.servers("m2"), "/marathon", t)
            .await
            .unwrap();
        new.set_fence(Some(new_fence));
        new.apply(vec![StoreOp::Put("apps/a".into(), b"2".to_vec())])
            .await
            .unwrap();
        // The deposed leader's store session lives on; its write is refused.
        let refused = old
            .apply(vec![StoreOp::Put("apps/a".into(), b"stale".to_vec())])
            .await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("not the leader")),
            "{refused:?}"
        );
        assert!(old
            .apply(vec![StoreOp::Delete("apps/a".into())])
            .await
            .is_err());
        assert_eq!(e.data("/marathon/apps/a"), Some(b"2".to_vec()));
    }

    /// A standby's store session may be on a follower behind the leader; once elected it
    /// must load what its predecessor wrote last, not what that follower has applied.
    #[tokio::test(start_paused = true)]
    async fn a_load_on_a_lagging_follower_returns_the_latest_writes() {
        let e = detector::zk_model::Ensemble::new("marathon-store-lag");
        let t = Duration::from_secs(10);
        let old = ZkStore::connect(&e.servers("m1"), "/marathon", t)
            .await
            .unwrap();
        old.apply(vec![StoreOp::Put("apps/a".into(), b"1".to_vec())])
            .await
            .unwrap();
        e.lag("m2", Duration::from_secs(30), Duration::from_secs(60));
        let new = ZkStore::connect(&e.servers("m2"), "/marathon", t)
            .await
            .unwrap();
        old.apply(vec![
            StoreOp::Put("apps/a".into(), b"2".to_vec()),
            StoreOp::Put("apps/b".into(), b"3".to_vec()),
        ])
        .await
        .unwrap();
        assert_eq!(
            new.load().await.unwrap(),
            vec![
                ("apps/a".to_string(), b"2".to_vec()),
                ("apps/b".to_string(), b"3".to_vec())
            ]
        );
    }
}
