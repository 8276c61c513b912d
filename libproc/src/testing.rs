//! Helpers for tests: bounded waits that fail with a clear message instead of hanging.

use std::future::Future;
use std::time::Duration;

/// Awaits `fut`, panicking with `what` if it takes longer than `limit`.
///
/// Under a paused clock the limit is virtual time, so a test that forgets to make progress
/// fails fast instead of hanging.
pub async fn within<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Polls `cond` (yielding between checks) until it holds, or panics after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    within(limit, what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
}
