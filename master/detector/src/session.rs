//! The seam between the ZooKeeper users in this crate (the detector, the contender, the
//! registry's blob store) and a ZooKeeper: [`ZkSession`], exactly the operations they use,
//! behind an object-safe trait. [`open`] picks the implementation from the servers string:
//! a host naming a registered in-memory ensemble (`sim-ensemble-…`, see [`crate::zk_model`])
//! reaches the model, on the caller's clock and thread; anything else reaches a real
//! ZooKeeper through `zookeeper_client` ([`RealSession`], its session I/O on the dedicated
//! session thread of [`crate::zk::connect`]). Callers never know which.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use zookeeper_client::{Error, SessionState};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A ZooKeeper request's result.
pub type ZkResult<T> = Result<T, Error>;

/// An open session.
pub type Session = Arc<dyn ZkSession>;

/// Why a one-shot watch fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEvent {
    /// The watched node (or its children) changed.
    Node,
    /// The session reached this state (expired or closed): no node event will follow.
    Session(SessionState),
}

/// A one-shot watch: resolves once, when the watched thing changes or the session ends.
pub type Watch = BoxFuture<'static, WatchEvent>;

/// How a znode is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    /// Lives until deleted.
    Persistent,
    /// Deleted with the session; the name gets the parent's next sequence number.
    EphemeralSequential,
}

/// One operation of a [`ZkSession::multi`] transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// The node exists (and has this version, unless `-1`).
    Check {
        /// The node.
        path: String,
        /// Its expected version, or `-1` for any.
        version: i32,
    },
    /// Sets the data of a node (if its version is `version`, when given).
    SetData {
        /// The node.
        path: String,
        /// The new data.
        data: Vec<u8>,
        /// The expected version.
        version: Option<i32>,
    },
    /// Creates a persistent node.
    Create {
        /// The node.
        path: String,
        /// Its data.
        data: Vec<u8>,
    },
    /// Deletes a node (if its version is `version`, when given).
    Delete {
        /// The node.
        path: String,
        /// The expected version.
        version: Option<i32>,
    },
}

/// Why a transaction failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultiError {
    /// The request did not go through (connection loss, expiry…); nothing is known.
    #[error("{0}")]
    Request(Error),
    /// Operation `index` failed, so none was applied.
    #[error("operation at index {index} failed: {source}")]
    Operation {
        /// Which operation.
        index: usize,
        /// Why.
        source: Error,
    },
}

/// The session's state changes, as the real client's `StateWatcher` reports them (the
/// latest state; intermediate ones may be skipped).
pub trait StateStream: Send {
    /// The latest state, consumed.
    fn state(&mut self) -> SessionState;
    /// Waits for a state newer than the last consumed one. Never resolves after a terminal
    /// state.
    fn changed(&mut self) -> BoxFuture<'_, SessionState>;
}

/// The ZooKeeper operations the detector, the contender and the registry store use. Every
/// request may fail with [`Error::ConnectionLoss`] if the connection drops while it is in
/// flight; one issued while disconnected waits for the reconnection (callers bound it).
pub trait ZkSession: Send + Sync {
    /// Creates `path` (for [`CreateMode::EphemeralSequential`], `path` plus the sequence),
    /// returning the sequence suffix (`"0000000007"`; empty for persistent nodes).
    fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
    ) -> BoxFuture<'static, ZkResult<String>>;
    /// Creates `path` and its missing parents (persistent, empty); `NodeExists` if `path`
    /// was there already.
    fn mkdir(&self, path: &str) -> BoxFuture<'static, ZkResult<()>>;
    /// The data of `path` and its version.
    fn get_data(&self, path: &str) -> BoxFuture<'static, ZkResult<(Vec<u8>, i32)>>;
    /// Sets the data of `path` (if its version is `version`, when given).
    fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> BoxFuture<'static, ZkResult<()>>;
    /// Deletes `path` (if its version is `version`, when given).
    fn delete(&self, path: &str, version: Option<i32>) -> BoxFuture<'static, ZkResult<()>>;
    /// The children's names of `path`.
    fn list_children(&self, path: &str) -> BoxFuture<'static, ZkResult<Vec<String>>>;
    /// The children's names of `path`, with a watch firing when they change.
    fn watch_children(&self, path: &str) -> BoxFuture<'static, ZkResult<(Vec<String>, Watch)>>;
    /// Whether `path` exists, with a watch firing when it is created, changed or deleted.
    fn watch_exists(&self, path: &str) -> BoxFuture<'static, ZkResult<(bool, Watch)>>;
    /// Applies all of `ops` or none.
    fn multi(&self, ops: Vec<MultiOp>) -> BoxFuture<'static, Result<(), MultiError>>;
    /// Makes the server this session is connected to catch up with the leader: the
    /// session's later reads see every write committed before the sync (a follower may
    /// otherwise answer them from older state).
    fn sync(&self, path: &str) -> BoxFuture<'static, ZkResult<()>>;
    /// The current state.
    fn state(&self) -> SessionState;
    /// A stream of state changes, starting at the current state.
    fn states(&self) -> Box<dyn StateStream>;
}

/// The host part of the first server in `servers` (`"a:1,b:2"` → `"a"`).
fn first_host(servers: &str) -> &str {
    let first = servers.split(',').next().unwrap_or("");
    first.rsplit_once(':').map(|(h, _)| h).unwrap_or(first)
}

/// Opens a session on `servers` with `timeout`, giving up after `timeout`: on the
/// in-memory ensemble the first host names, if one is registered under that name (see
/// [`crate::zk_model::Ensemble`]), else on a real ZooKeeper.
pub async fn open(servers: &str, timeout: Duration) -> ZkResult<Session> {
    if let Some((ensemble, client)) = crate::zk_model::lookup(first_host(servers)) {
        let s = ensemble.connect(&client, timeout).await?;
        return Ok(Arc::new(s));
    }
    let c = crate::zk::connect(servers, timeout).await?;
    Ok(Arc::new(RealSession(c)))
}

/// A session on a real ZooKeeper.
#[derive(Clone, Debug)]
pub struct RealSession(pub zookeeper_client::Client);

struct RealStates(zookeeper_client::StateWatcher);

impl StateStream for RealStates {
    fn state(&mut self) -> SessionState {
        self.0.state()
    }
    fn changed(&mut self) -> BoxFuture<'_, SessionState> {
        Box::pin(self.0.changed())
    }
}

fn real_watch(w: zookeeper_client::OneshotWatcher) -> Watch {
    Box::pin(async move {
        let ev = w.changed().await;
        if ev.event_type == zookeeper_client::EventType::Session {
            WatchEvent::Session(ev.session_state)
        } else {
            WatchEvent::Node
        }
    })
}

fn anyone(mode: zookeeper_client::CreateMode) -> zookeeper_client::CreateOptions<'static> {
    mode.with_acls(zookeeper_client::Acls::anyone_all())
}

impl ZkSession for RealSession {
    fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
    ) -> BoxFuture<'static, ZkResult<String>> {
        let (c, path, data) = (self.0.clone(), path.to_string(), data.to_vec());
        Box::pin(async move {
            let opts = anyone(match mode {
                CreateMode::Persistent => zookeeper_client::CreateMode::Persistent,
                CreateMode::EphemeralSequential => {
                    zookeeper_client::CreateMode::EphemeralSequential
                }
            });
            let (_, seq) = c.create(&path, &data, &opts).await?;
            Ok(match mode {
                CreateMode::Persistent => String::new(),
                CreateMode::EphemeralSequential => seq.to_string(),
            })
        })
    }
    fn mkdir(&self, path: &str) -> BoxFuture<'static, ZkResult<()>> {
        let (c, path) = (self.0.clone(), path.to_string());
        Box::pin(async move {
            let opts = anyone(zookeeper_client::CreateMode::Persistent);
            c.mkdir(&path, &opts).await
        })
    }
    fn get_data(&self, path: &str) -> BoxFuture<'static, ZkResult<(Vec<u8>, i32)>> {
        let (c, path) = (self.0.clone(), path.to_string());
        Box::pin(async move { c.get_data(&path).await.map(|(d, s)| (d, s.version)) })
    }
    fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> BoxFuture<'static, ZkResult<()>> {
        let (c, path, data) = (self.0.clone(), path.to_string(), data.to_vec());
        Box::pin(async move { c.set_data(&path, &data, version).await.map(|_| ()) })
    }
    fn delete(&self, path: &str, version: Option<i32>) -> BoxFuture<'static, ZkResult<()>> {
        let (c, path) = (self.0.clone(), path.to_string());
        Box::pin(async move { c.delete(&path, version).await })
    }
    fn list_children(&self, path: &str) -> BoxFuture<'static, ZkResult<Vec<String>>> {
        let (c, path) = (self.0.clone(), path.to_string());
        Box::pin(async move { c.list_children(&path).await })
    }
    fn watch_children(&self, path: &str) -> BoxFuture<'static, ZkResult<(Vec<String>, Watch)>> {
        let (c, path) = (self.0.clone(), path.to_string());
        Box::pin(async move {
            let (children, _, w) = c.get_and_watch_children(&path).await?;
            Ok((children, real_watch(w)))
        })
    }
    fn watch_exists(&self, path: &str) -> BoxFuture<'static, ZkResult<(bool, Watch)>> {
        let (c, path) = (self.0.clone(), path.to_string());
        Box::pin(async move {
            let (stat, w) = c.check_and_watch_stat(&path).await?;
            Ok((stat.is_some(), real_watch(w)))
        })
    }
    fn multi(&self, ops: Vec<MultiOp>) -> BoxFuture<'static, Result<(), MultiError>> {
        let c = self.0.clone();
        Box::pin(async move {
            let mut w = c.new_multi_writer();
            for op in &ops {
                match op {
                    MultiOp::Check { path, version } => w.add_check_version(path, *version),
                    MultiOp::SetData {
                        path,
                        data,
                        version,
                    } => w.add_set_data(path, data, *version),
                    MultiOp::Create { path, data } => w.add_create(
                        path,
                        data,
                        &anyone(zookeeper_client::CreateMode::Persistent),
                    ),
                    MultiOp::Delete { path, version } => w.add_delete(path, *version),
                }
                .map_err(MultiError::Request)?;
            }
            match w.commit().await {
                Ok(_) => Ok(()),
                Err(zookeeper_client::MultiWriteError::OperationFailed { index, source }) => {
                    Err(MultiError::Operation { index, source })
                }
                Err(e) => Err(MultiError::Request(e.into())),
            }
        })
    }
    fn sync(&self, path: &str) -> BoxFuture<'static, ZkResult<()>> {
        let (c, path) = (self.0.clone(), path.to_string());
        Box::pin(async move { c.sync(&path).await })
    }
    fn state(&self) -> SessionState {
        self.0.state()
    }
    fn states(&self) -> Box<dyn StateStream> {
        Box::new(RealStates(self.0.state_watcher()))
    }
}
