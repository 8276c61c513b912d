//! A blob of any size in ZooKeeper (the master's registry): znodes hold at most 1 MB
//! (`jute.maxbuffer`), so the blob is split into chunk znodes `<node>/g<G>-<i>` of
//! [`CHUNK_BYTES`] each, and `<node>` itself holds a small JSON manifest naming the current
//! generation `G`. A write creates the next generation's chunks, then flips the manifest
//! in one multi-op that also checks a *fence* znode still exists (the writer's candidacy
//! znode: a master whose session is gone cannot overwrite its successor's registry), and
//! finally deletes older chunks. A reader that sees a manifest sees all its chunks.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zookeeper_client as zk;

use crate::session::{self, CreateMode, MultiError, MultiOp, Session};
use crate::zk::{bounded, ensure_path_in};
use crate::ZkUrl;

/// The size of one chunk znode's data.
pub const CHUNK_BYTES: usize = 512 * 1024;

/// Why a load or store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// ZooKeeper said no (or could not be reached).
    #[error("ZooKeeper error on {what}: {source}")]
    Zk {
        /// The operation.
        what: String,
        /// The client's error.
        source: zk::Error,
    },
    /// The stored data is not what a store wrote.
    #[error("corrupt registry in ZooKeeper: {0}")]
    Corrupt(String),
    /// The fence znode is gone: this writer no longer leads.
    #[error("not the leader any more: {0} is gone")]
    Fenced(String),
}

fn zerr(what: impl Into<String>) -> impl FnOnce(zk::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Zk { what, source }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Manifest {
    generation: u64,
    chunks: u32,
    bytes: u64,
}

/// Checks `data` as a manifest read from ZooKeeper (the fuzzer's entry point): its
/// generation, chunk count and byte count, or why it is not one a store could have written.
pub fn parse_manifest(data: &[u8]) -> Result<(u64, u32, u64), String> {
    Manifest::parse(data).map(|m| (m.generation, m.chunks, m.bytes))
}

impl Manifest {
    /// Parses a manifest read from ZooKeeper and checks it is one a store could have
    /// written: its byte count fits its chunks, so nothing sized from it (the load buffer)
    /// can be forged into an absurd allocation.
    fn parse(data: &[u8]) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        let room = u64::from(m.chunks).saturating_mul(CHUNK_BYTES as u64);
        if m.bytes > room {
            return Err(format!(
                "{} bytes cannot fit in {} chunks of {CHUNK_BYTES}",
                m.bytes, m.chunks
            ));
        }
        if m.generation == u64::MAX {
            // The next write would overflow `generation + 1`.
            return Err("generation counter exhausted".into());
        }
        if m.generation == 0 && (m.chunks != 0 || m.bytes != 0) {
            return Err("generation 0 holds no chunks".into());
        }
        Ok(m)
    }
}

/// A chunked blob under one znode.
#[derive(Clone)]
pub struct ZkBlobStore {
    servers: String,
    node: String,
    timeout: Duration,
    client: Arc<tokio::sync::Mutex<Option<Session>>>,
}

impl std::fmt::Debug for ZkBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkBlobStore")
            .field("servers", &self.servers)
            .field("node", &self.node)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ZkBlobStore {
    /// The blob at `<url.path>/<name>` (e.g. `/mesos/registry`).
    pub fn new(url: &ZkUrl, name: &str, timeout: Duration) -> ZkBlobStore {
        ZkBlobStore {
            servers: url.servers.clone(),
            node: format!("{}/{name}", url.path),
            timeout,
            client: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// The manifest znode's path.
    pub fn node(&self) -> &str {
        &self.node
    }

    async fn client(&self) -> Result<Session, StoreError> {
        let mut g = self.client.lock().await;
        if let Some(c) = g.as_ref() {
            use zk::SessionState::*;
            if !matches!(c.state(), Expired | Closed | AuthFailed) {
                return Ok(c.clone());
            }
        }
        let c = session::open(&self.servers, self.timeout)
            .await
            .map_err(zerr(format!("connect {}", self.servers)))?;
        *g = Some(c.clone());
        Ok(c)
    }

    /// The manifest and its version, read after a sync: the session may be connected to a
    /// follower behind the leader, and a stale manifest would make a new leader recover an
    /// old registry, or a writer overwrite the chunks of the generation after it. The sync
    /// and the read are sent together (a session's requests are answered in order): one
    /// round trip.
    async fn manifest(&self, c: &Session) -> Result<Option<(Manifest, i32)>, StoreError> {
        let read = bounded(self.timeout, async {
            let (synced, read) = tokio::join!(biased; c.sync(&self.node), c.get_data(&self.node));
            synced.and(read)
        });
        match read.await {
            Ok((data, version)) if data.is_empty() => Ok(Some((
                Manifest {
                    generation: 0,
                    chunks: 0,
                    bytes: 0,
                },
                version,
            ))),
            Ok((data, version)) => Manifest::parse(&data)
                .map(|m| Some((m, version)))
                .map_err(|e| StoreError::Corrupt(format!("manifest {}: {e}", self.node))),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(zerr(format!("read {}", self.node))(e)),
        }
    }

    fn chunk_path(&self, generation: u64, i: u32) -> String {
        format!("{}/g{generation}-{i}", self.node)
    }

    /// Reads the blob (`None` if nothing was ever stored).
    pub async fn load(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let c = self.client().await?;
        let Some((m, _)) = self.manifest(&c).await? else {
            return Ok(None);
        };
        if m.generation == 0 {
            return Ok(None);
        }
        // `parse` bounded `bytes` by the chunks; reserve no more than one chunk up front
        // anyway, and let the buffer grow with what ZooKeeper really returns.
        let mut out = Vec::with_capacity(usize::try_from(m.bytes).unwrap_or(0).min(CHUNK_BYTES));
        for i in 0..m.chunks {
            let p = self.chunk_path(m.generation, i);
            let (data, _) = bounded(self.timeout, c.get_data(&p))
                .await
                .map_err(zerr(format!("read {p}")))?;
            out.extend_from_slice(&data);
        }
        if out.len() as u64 != m.bytes {
            return Err(StoreError::Corrupt(format!(
                "expected {} bytes, read {}",
                m.bytes,
                out.len()
            )));
        }
        Ok(Some(out))
    }

    /// Replaces the blob, if `fence` (a znode path) still exists at the moment of the
    /// switch.
    pub async fn store(&self, bytes: &[u8], fence: Option<&str>) -> Result<(), StoreError> {
        let c = self.client().await?;
        let (generation, version) = match self.manifest(&c).await? {
            Some((m, v)) => (m.generation + 1, v),
            None => {
                ensure_path_in(&*c, &self.node, self.timeout)
                    .await
                    .map_err(zerr(format!("create {}", self.node)))?;
                match self.manifest(&c).await? {
                    Some((m, v)) => (m.generation + 1, v),
                    None => return Err(StoreError::Corrupt(format!("{} vanished", self.node))),
                }
            }
        };
        let chunks: Vec<&[u8]> = if bytes.is_empty() {
            Vec::new()
        } else {
            bytes.chunks(CHUNK_BYTES).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let p = self.chunk_path(generation, i as u32);
            match bounded(self.timeout, c.create(&p, chunk, CreateMode::Persistent)).await {
                Ok(_) => {}
                // Left over from a write that failed half way: overwrite.
                Err(zk::Error::NodeExists) => {
                    bounded(self.timeout, c.set_data(&p, chunk, None))
                        .await
                        .map_err(zerr(format!("write {p}")))?;
                }
                Err(e) => return Err(zerr(format!("create {p}"))(e)),
            }
        }
        let m = Manifest {
            generation,
            chunks: chunks.len() as u32,
            bytes: bytes.len() as u64,
        };
        let manifest = serde_json::to_vec(&m).unwrap_or_default();
        let mut ops = Vec::new();
        if let Some(f) = fence {
            ops.push(MultiOp::Check {
                path: f.to_string(),
                version: -1,
            });
        }
        ops.push(MultiOp::SetData {
            path: self.node.clone(),
            data: manifest,
            version: Some(version),
        });
        let committed = match tokio::time::timeout(self.timeout, c.multi(ops)).await {
            Ok(r) => r,
            Err(_) => return Err(zerr(format!("switch {}", self.node))(zk::Error::Timeout)),
        };
        match committed {
            Ok(_) => {}
            Err(MultiError::Operation { index: 0, source }) if fence.is_some() => {
                return Err(match source {
                    zk::Error::NoNode => StoreError::Fenced(fence.unwrap_or_default().to_string()),
                    e => zerr("fence check")(e),
                });
            }
            Err(MultiError::Operation { source, .. } | MultiError::Request(source)) => {
                return Err(zerr(format!("switch {}", self.node))(source))
            }
        }
        // Old generations are garbage now; failures here only leave garbage behind.
        if let Ok(children) = bounded(self.timeout, c.list_children(&self.node)).await {
            let keep = format!("g{generation}-");
            for child in children.iter().filter(|ch| !ch.starts_with(&keep)) {
                let p = format!("{}/{child}", self.node);
                let _ = bounded(self.timeout, c.delete(&p, None)).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn manifests_a_store_writes_parse_and_forged_sizes_do_not() {
        let ok = br#"{"generation":3,"chunks":2,"bytes":600000}"#;
        assert_eq!(
            Manifest::parse(ok),
            Ok(Manifest {
                generation: 3,
                chunks: 2,
                bytes: 600_000
            })
        );
        // One forged manifest used to reserve 2^64-1 bytes and abort the master.
        let forged = format!(r#"{{"generation":1,"chunks":1,"bytes":{}}}"#, u64::MAX);
        assert!(Manifest::parse(forged.as_bytes()).is_err());
        assert!(Manifest::parse(br#"{"generation":0,"chunks":5,"bytes":1}"#).is_err());
        let last = format!(r#"{{"generation":{},"chunks":0,"bytes":0}}"#, u64::MAX);
        assert!(Manifest::parse(last.as_bytes()).is_err());
        assert!(Manifest::parse(b"\xff\x00").is_err());
    }

    fn on(e: &crate::zk_model::Ensemble, client: &str) -> ZkBlobStore {
        let url = ZkUrl {
            servers: e.servers(client),
            path: "/mesos".into(),
        };
        ZkBlobStore::new(&url, "registry", Duration::from_secs(10))
    }

    /// A new leader's store session may reach a follower that has not applied its
    /// predecessor's last write: the load syncs first, so it recovers that write.
    #[tokio::test(start_paused = true)]
    async fn a_load_on_a_lagging_follower_returns_another_sessions_latest_store() {
        let e = crate::zk_model::Ensemble::new("unit-store-lag-load");
        let old = on(&e, "m1");
        old.store(b"one", None).await.unwrap();
        e.lag("m2", Duration::from_secs(30), Duration::from_secs(60));
        let new = on(&e, "m2");
        // Its session opens now, on the lagging follower.
        assert_eq!(new.load().await.unwrap().as_deref(), Some(&b"one"[..]));
        old.store(b"two", None).await.unwrap();
        assert_eq!(new.load().await.unwrap().as_deref(), Some(&b"two"[..]));
    }

    /// A store on a lagging session reads the manifest after a sync too: from a stale one
    /// it would rewrite the chunks of the current generation (and then fail its switch),
    /// leaving a registry that no longer reads back.
    #[tokio::test(start_paused = true)]
    async fn a_store_on_a_lagging_follower_keeps_the_current_generation_intact() {
        let e = crate::zk_model::Ensemble::new("unit-store-lag-store");
        let old = on(&e, "m1");
        old.store(b"one", None).await.unwrap();
        e.lag("m2", Duration::from_secs(30), Duration::from_secs(60));
        let new = on(&e, "m2");
        assert_eq!(new.load().await.unwrap().as_deref(), Some(&b"one"[..]));
        old.store(b"two!", None).await.unwrap();
        new.store(b"three", None).await.unwrap();
        assert_eq!(old.load().await.unwrap().as_deref(), Some(&b"three"[..]));
    }

    proptest! {
        /// Arbitrary bytes never panic the parser.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Manifest::parse(&data);
        }

        /// Arbitrary numbers: whatever parses has its bytes within its chunks.
        #[test]
        fn parsed_sizes_fit_their_chunks(generation: u64, chunks: u32, bytes: u64) {
            let json = format!(r#"{{"generation":{generation},"chunks":{chunks},"bytes":{bytes}}}"#);
            if let Ok(m) = Manifest::parse(json.as_bytes()) {
                prop_assert!(m.bytes <= u64::from(m.chunks) * CHUNK_BYTES as u64);
                prop_assert!(m.generation.checked_add(1).is_some());
            } else {
                prop_assert!(
                    bytes > u64::from(chunks) * CHUNK_BYTES as u64
                        || generation == 0
                        || generation == u64::MAX
                );
            }
        }
    }
}
