//! Fenced writes: a leader's write to its state in ZooKeeper that is applied only while
//! the leader's candidacy znode (its *fence*: an ephemeral node of its election session)
//! still exists. One multi-op checks the fence and sets, creates or deletes the record, so
//! a leader whose session is gone cannot overwrite what its successor wrote, whatever it
//! had in flight. Chronos's job store and Marathon's state store write this way (the
//! registry has its own fenced generations, `zk_store`).

use std::time::Duration;

use crate::session::{MultiError, MultiOp, ZkSession};
use zookeeper_client::Error;

/// Sets `path` to `data` (creating it if missing), or deletes it (`None`; already gone is
/// fine), in one multi-op that first checks `fence` exists (no check without a fence).
/// Gives up after `limit` per attempt. The error says what failed; a missing fence says
/// the writer is not the leader any more.
pub async fn write(
    session: &dyn ZkSession,
    fence: Option<&str>,
    path: &str,
    data: Option<&[u8]>,
    limit: Duration,
) -> Result<(), String> {
    // Set (or delete); if the znode does not exist, create it.
    for create in [false, true] {
        let mut ops = Vec::new();
        if let Some(f) = fence {
            ops.push(MultiOp::Check {
                path: f.to_string(),
                version: -1,
            });
        }
        ops.push(match (data, create) {
            (Some(d), false) => MultiOp::SetData {
                path: path.to_string(),
                data: d.to_vec(),
                version: None,
            },
            (Some(d), true) => MultiOp::Create {
                path: path.to_string(),
                data: d.to_vec(),
            },
            (None, _) => MultiOp::Delete {
                path: path.to_string(),
                version: None,
            },
        });
        let at = usize::from(fence.is_some());
        match tokio::time::timeout(limit, session.multi(ops)).await {
            Err(_) => return Err(format!("write {path}: timed out")),
            Ok(Ok(())) => return Ok(()),
            Ok(Err(MultiError::Operation { index: 0, source })) if fence.is_some() => {
                return Err(format!(
                    "not the leader any more ({} is gone: {source})",
                    fence.unwrap_or_default()
                ))
            }
            Ok(Err(MultiError::Operation { index, source }))
                if index == at && source == Error::NoNode =>
            {
                if data.is_none() {
                    return Ok(()); // already deleted
                }
                continue;
            }
            Ok(Err(e)) => return Err(format!("write {path}: {e}")),
        }
    }
    Err(format!("write {path}: created and deleted concurrently"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{self, CreateMode};
    use crate::zk_model::Ensemble;

    /// Creates a missing record, sets an existing one, deletes (twice: already gone is
    /// fine), and refuses everything once the fence is gone, changing nothing.
    #[tokio::test(start_paused = true)]
    async fn writes_create_set_and_delete_while_the_fence_stands_and_nothing_after() {
        let e = Ensemble::new("fenced-write");
        let t = Duration::from_secs(10);
        let s = session::open(&e.servers("w"), t).await.unwrap();
        crate::zk::ensure_path_in(&*s, "/x/leader", t)
            .await
            .unwrap();
        let seq = s
            .create("/x/leader/c_", b"", CreateMode::EphemeralSequential)
            .await
            .unwrap();
        let fence = format!("/x/leader/c_{seq}");
        let f = Some(fence.as_str());
        write(&*s, f, "/x/r", Some(b"1"), t).await.unwrap();
        assert_eq!(e.data("/x/r"), Some(b"1".to_vec()));
        write(&*s, f, "/x/r", Some(b"2"), t).await.unwrap();
        assert_eq!(e.data("/x/r"), Some(b"2".to_vec()));
        write(&*s, f, "/x/r", None, t).await.unwrap();
        write(&*s, f, "/x/r", None, t).await.unwrap();
        assert_eq!(e.data("/x/r"), None);
        write(&*s, None, "/x/r", Some(b"3"), t).await.unwrap();
        s.delete(&fence, None).await.unwrap();
        let refused = write(&*s, f, "/x/r", Some(b"4"), t).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("not the leader")),
            "{refused:?}"
        );
        assert!(write(&*s, f, "/x/r", None, t).await.is_err());
        assert_eq!(e.data("/x/r"), Some(b"3".to_vec()));
    }
}
