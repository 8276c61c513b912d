//! The one way components run blocking work (disk scans, big renders) off their actor's
//! thread: [`offload`], a `tokio::task::spawn_blocking` that a deterministic run can turn
//! into an inline call.
//!
//! A blocking task finishes at a real-time moment, so its result wakes the actor at a
//! point among the other ready tasks that differs from run to run. The seeded simulation
//! (`cluster::sim`) must replay a seed exactly, so it calls [`run_inline_on_this_thread`]
//! on each of its runtime threads; then [`offload`] runs the work at once and hands back
//! its result through an ordinary task, which the single-threaded runtime polls in a fixed
//! order. Production code never sets it.

use std::cell::Cell;

use tokio::task::JoinHandle;

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// From now on, [`offload`] called on this thread runs its work inline (for deterministic
/// simulation; see the module doc).
pub fn run_inline_on_this_thread(inline: bool) {
    INLINE.with(|c| c.set(inline));
}

/// Runs `work` off the calling task's thread (`spawn_blocking`), or inline when this
/// thread asked for it; either way its result comes back through the handle. Must be
/// called within a tokio runtime.
pub fn offload<F, R>(work: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if INLINE.with(Cell::get) {
        let out = work();
        tokio::spawn(async move { out })
    } else {
        tokio::task::spawn_blocking(work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn offloaded_work_runs_on_another_thread() {
        let here = std::thread::current().id();
        let there = offload(move || std::thread::current().id()).await.unwrap();
        assert_ne!(here, there);
    }

    #[tokio::test]
    async fn inline_work_runs_on_this_thread_and_in_order() {
        run_inline_on_this_thread(true);
        let here = std::thread::current().id();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..5)
            .map(|i| {
                let order = order.clone();
                offload(move || {
                    order.lock().unwrap().push(i);
                    std::thread::current().id()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.await.unwrap(), here);
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        run_inline_on_this_thread(false);
    }
}
