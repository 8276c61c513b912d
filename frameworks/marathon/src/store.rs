//! The state store behind a trait: an in-memory one (tests, `--zk` unset) and ZooKeeper,
//! with one znode per record (`<root>/apps/<id>`, `<root>/instances/<task>`, …) so no
//! znode nears the 1 MB limit however many apps there are. A load syncs first: the
//! store's session may be on a ZooKeeper follower behind the leader, and a new leader must
//! not recover what its predecessor had already changed.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use detector::session::{CreateMode, Session};
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

/// ZooKeeper: `<root>/<key>` per record.
#[derive(Clone)]
pub struct ZkStore {
    session: Session,
    root: String,
    timeout: Duration,
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
        };
        for d in DIRS {
            let path = format!("{}/{d}", store.root);
            detector::zk::ensure_path_in(&*store.session, &path, timeout)
                .await
                .map_err(|e| zerr(&format!("create {path}"), e))?;
        }
        Ok(store)
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let path = format!("{}/{key}", self.root);
        let set =
            detector::zk::bounded(self.timeout, self.session.set_data(&path, value, None)).await;
        match set {
            Ok(_) => Ok(()),
            Err(zk::Error::NoNode) => {
                let create = self.session.create(&path, value, CreateMode::Persistent);
                match detector::zk::bounded(self.timeout, create).await {
                    Ok(_) => Ok(()),
                    Err(zk::Error::NodeExists) => detector::zk::bounded(
                        self.timeout,
                        self.session.set_data(&path, value, None),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|e| zerr(&format!("set {path}"), e)),
                    Err(e) => Err(zerr(&format!("create {path}"), e)),
                }
            }
            Err(e) => Err(zerr(&format!("set {path}"), e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        let path = format!("{}/{key}", self.root);
        match detector::zk::bounded(self.timeout, self.session.delete(&path, None)).await {
            Ok(()) | Err(zk::Error::NoNode) => Ok(()),
            Err(e) => Err(zerr(&format!("delete {path}"), e)),
        }
    }
}

impl Store for ZkStore {
    fn apply(&self, ops: Vec<StoreOp>) -> StoreFuture<()> {
        let me = self.clone();
        Box::pin(async move {
            for op in ops {
                match op {
                    StoreOp::Put(k, v) => me.put(&k, &v).await?,
                    StoreOp::Delete(k) => me.delete(&k).await?,
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
