//! A blob of any size in ZooKeeper (the master's registry): znodes hold at most 1 MB
//! (`jute.maxbuffer`), so the blob is split into chunk znodes `<node>/g<G>-<W>-<i>` of
//! [`CHUNK_BYTES`] each, and `<node>` itself holds a small JSON manifest naming the current
//! generation `G` and its writer `W` (the name of the writer's fence znode; a manifest of
//! an older version names no writer, and its chunks are `<node>/g<G>-<i>`). A write
//! creates the next generation's chunks under its own name, then flips the manifest in one
//! multi-op that also checks a *fence* znode still exists (the writer's candidacy znode: a
//! master whose session is gone cannot overwrite its successor's registry), and finally
//! deletes older generations' chunks. A reader that sees a manifest sees all its chunks,
//! and no other writer ever touches them: a deposed writer that read the manifest before
//! its successor's flip writes chunks of the same generation, but under its own name.

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
    /// Whose chunks these are ([`writer_name`]); `None` in manifests of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    writer: Option<String>,
}

/// The longest writer name a manifest may hold.
const WRITER_NAME_MAX: usize = 64;

/// Whether `name` can stand in a chunk's znode name (it is read from ZooKeeper: a forged
/// one must not reach elsewhere in the tree).
fn valid_writer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= WRITER_NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// The name a writer's chunks carry: the last component of its fence znode (unique per
/// candidacy: sequential), or none without a fence.
fn writer_name(fence: Option<&str>) -> Option<String> {
    let last = fence?.rsplit('/').next()?;
    let name: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .take(WRITER_NAME_MAX)
        .collect();
    valid_writer_name(&name).then_some(name)
}

/// The generation a chunk's znode name (`g<G>-…`) belongs to.
fn chunk_generation(child: &str) -> Option<u64> {
    child.strip_prefix('g')?.split('-').next()?.parse().ok()
}

/// What a write read before writing: the generation it writes, the manifest version its
/// switch expects, and the name its chunks carry.
struct Plan {
    generation: u64,
    version: i32,
    writer: Option<String>,
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
        if let Some(w) = &m.writer {
            if !valid_writer_name(w) {
                return Err(format!("invalid writer name {w:?}"));
            }
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
                    writer: None,
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

    fn chunk_path(&self, generation: u64, writer: Option<&str>, i: u32) -> String {
        match writer {
            Some(w) => format!("{}/g{generation}-{w}-{i}", self.node),
            None => format!("{}/g{generation}-{i}", self.node),
        }
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
            let p = self.chunk_path(m.generation, m.writer.as_deref(), i);
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
        let plan = self.plan(&c, fence).await?;
        let m = self.write_chunks(&c, &plan, bytes).await?;
        self.switch(&c, &plan, &m, fence).await?;
        self.collect_garbage(&c, plan.generation).await;
        Ok(())
    }

    /// Reads the manifest (creating the node the first time): what the write will be.
    async fn plan(&self, c: &Session, fence: Option<&str>) -> Result<Plan, StoreError> {
        let (generation, version) = match self.manifest(c).await? {
            Some((m, v)) => (m.generation + 1, v),
            None => {
                ensure_path_in(&**c, &self.node, self.timeout)
                    .await
                    .map_err(zerr(format!("create {}", self.node)))?;
                match self.manifest(c).await? {
                    Some((m, v)) => (m.generation + 1, v),
                    None => return Err(StoreError::Corrupt(format!("{} vanished", self.node))),
                }
            }
        };
        Ok(Plan {
            generation,
            version,
            writer: writer_name(fence),
        })
    }

    /// Writes the plan's chunks under the writer's name, and returns the manifest naming
    /// them.
    async fn write_chunks(
        &self,
        c: &Session,
        plan: &Plan,
        bytes: &[u8],
    ) -> Result<Manifest, StoreError> {
        let chunks: Vec<&[u8]> = if bytes.is_empty() {
            Vec::new()
        } else {
            bytes.chunks(CHUNK_BYTES).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let p = self.chunk_path(plan.generation, plan.writer.as_deref(), i as u32);
            match bounded(self.timeout, c.create(&p, chunk, CreateMode::Persistent)).await {
                Ok(_) => {}
                // Left over from this writer's own write that failed half way (its switch
                // did not happen, or the generation would be past): overwrite.
                Err(zk::Error::NodeExists) => {
                    bounded(self.timeout, c.set_data(&p, chunk, None))
                        .await
                        .map_err(zerr(format!("write {p}")))?;
                }
                Err(e) => return Err(zerr(format!("create {p}"))(e)),
            }
        }
        Ok(Manifest {
            generation: plan.generation,
            chunks: chunks.len() as u32,
            bytes: bytes.len() as u64,
            writer: plan.writer.clone(),
        })
    }

    /// Flips the manifest to `m` if it is still at the plan's version and `fence` exists.
    async fn switch(
        &self,
        c: &Session,
        plan: &Plan,
        m: &Manifest,
        fence: Option<&str>,
    ) -> Result<(), StoreError> {
        let manifest = serde_json::to_vec(m).unwrap_or_default();
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
            version: Some(plan.version),
        });
        let committed = match tokio::time::timeout(self.timeout, c.multi(ops)).await {
            Ok(r) => r,
            Err(_) => return Err(zerr(format!("switch {}", self.node))(zk::Error::Timeout)),
        };
        match committed {
            Ok(_) => Ok(()),
            Err(MultiError::Operation { index: 0, source }) if fence.is_some() => {
                Err(match source {
                    zk::Error::NoNode => StoreError::Fenced(fence.unwrap_or_default().to_string()),
                    e => zerr("fence check")(e),
                })
            }
            Err(MultiError::Operation { source, .. } | MultiError::Request(source)) => {
                Err(zerr(format!("switch {}", self.node))(source))
            }
        }
    }

    /// Deletes the chunks of generations before `generation` (garbage once it is
    /// switched to; a later generation's chunks, a successor's being written, stay).
    /// Failures only leave garbage behind.
    async fn collect_garbage(&self, c: &Session, generation: u64) {
        if let Ok(children) = bounded(self.timeout, c.list_children(&self.node)).await {
            for child in children
                .iter()
                .filter(|ch| chunk_generation(ch).is_some_and(|g| g < generation))
            {
                let p = format!("{}/{child}", self.node);
                let _ = bounded(self.timeout, c.delete(&p, None)).await;
            }
        }
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
                bytes: 600_000,
                writer: None,
            })
        );
        let named = br#"{"generation":3,"chunks":1,"bytes":9,"writer":"info_0000000007"}"#;
        assert_eq!(
            Manifest::parse(named).map(|m| m.writer),
            Ok(Some("info_0000000007".to_string()))
        );
        // A forged writer name must not reach elsewhere in the tree.
        for bad in ["../x", "a/b", "", "a-b"] {
            let json = format!(r#"{{"generation":3,"chunks":1,"bytes":9,"writer":"{bad}"}}"#);
            assert!(Manifest::parse(json.as_bytes()).is_err(), "{bad}");
        }
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

    #[test]
    fn a_writer_is_named_by_its_fence_and_chunks_by_their_generation() {
        assert_eq!(
            writer_name(Some("/mesos/json.info_0000000012")).as_deref(),
            Some("json.info_0000000012")
        );
        assert_eq!(writer_name(None), None);
        assert_eq!(writer_name(Some("/mesos/")), None);
        assert_eq!(chunk_generation("g12-info_0000000003-0"), Some(12));
        assert_eq!(chunk_generation("g7-1"), Some(7));
        assert_eq!(chunk_generation("other"), None);
    }

    /// A master deposed after it read the manifest for its next write (paused, its store
    /// session alive though its candidacy is gone) writes the same generation its
    /// successor then switched to. Its chunks carry its own name: the successor's
    /// registry stays intact, and the deposed master's switch is fenced. (With one chunk
    /// name per generation, it overwrote the successor's chunks: a registry that read
    /// back as the deposed master's data, or as corrupt.)
    #[tokio::test(start_paused = true)]
    async fn a_deposed_writer_cannot_overwrite_its_successors_chunks() {
        let e = crate::zk_model::Ensemble::new("unit-store-deposed");
        let t = Duration::from_secs(10);
        let admin = session::open(&e.servers("admin"), t).await.unwrap();
        let (f1, f2) = ("/mesos/info_0000000001", "/mesos/info_0000000002");
        for f in [f1, f2] {
            ensure_path_in(&*admin, f, t).await.unwrap();
        }
        let (old, new) = (on(&e, "m1"), on(&e, "m2"));
        old.store(b"one", Some(f1)).await.unwrap();

        let c = old.client().await.unwrap();
        let plan = old.plan(&c, Some(f1)).await.unwrap();
        admin.delete(f1, None).await.unwrap();
        new.store(b"two", Some(f2)).await.unwrap();
        let m = old.write_chunks(&c, &plan, b"zzz").await.unwrap();
        assert!(matches!(
            old.switch(&c, &plan, &m, Some(f1)).await,
            Err(StoreError::Fenced(_))
        ));
        assert_eq!(new.load().await.unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(old.load().await.unwrap().as_deref(), Some(&b"two"[..]));
        // The successor's next write collects both generations before it.
        new.store(b"three", Some(f2)).await.unwrap();
        let mut left = e.children("/mesos/registry");
        left.sort();
        assert_eq!(left, vec!["g3-info_0000000002-0".to_string()]);
    }

    /// A manifest written before chunks carried their writer's name still loads, and the
    /// next write moves on from it.
    #[tokio::test(start_paused = true)]
    async fn a_manifest_of_an_older_version_loads_and_is_written_over() {
        let e = crate::zk_model::Ensemble::new("unit-store-old-manifest");
        let t = Duration::from_secs(10);
        let admin = session::open(&e.servers("admin"), t).await.unwrap();
        ensure_path_in(&*admin, "/mesos/registry", t).await.unwrap();
        admin
            .create("/mesos/registry/g5-0", b"old", CreateMode::Persistent)
            .await
            .unwrap();
        admin
            .set_data(
                "/mesos/registry",
                br#"{"generation":5,"chunks":1,"bytes":3}"#,
                None,
            )
            .await
            .unwrap();
        ensure_path_in(&*admin, "/mesos/info_0000000004", t)
            .await
            .unwrap();
        let store = on(&e, "m1");
        assert_eq!(store.load().await.unwrap().as_deref(), Some(&b"old"[..]));
        store
            .store(b"new", Some("/mesos/info_0000000004"))
            .await
            .unwrap();
        assert_eq!(store.load().await.unwrap().as_deref(), Some(&b"new"[..]));
        assert_eq!(
            e.children("/mesos/registry"),
            vec!["g6-info_0000000004-0".to_string()]
        );
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
