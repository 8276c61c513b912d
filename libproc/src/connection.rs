//! Which inbound connection a message from the network arrived on.
//!
//! Every accepted actor-protocol connection gets a [`ConnectionId`], unique for the life
//! of the node and never reused; each frame read from it is delivered with that id, and a
//! handler reads it with [`Ctx::connection`](crate::Ctx::connection). A libprocess-style
//! HTTP post gets an id of its own (one per request, closed at once); a local send has
//! none. The id is opaque: what it is good for is *binding* — a component that
//! authenticated a PID over one connection can refuse the same PID claimed over another
//! one, and forget the binding when [`Node::connection_closed`](crate::Node::connection_closed)
//! resolves. See RUNTIME.md, "Who can reach a process".

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use tokio_util::sync::CancellationToken;

/// An inbound connection of this node (opaque; compare, hash, print).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// An id made up by a test of a component that binds to connections (the pure rules
    /// of its bookkeeping); a node never hands out ids made this way twice, but may hand
    /// out the same number.
    pub const fn made_up(n: u64) -> ConnectionId {
        ConnectionId(n)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection#{}", self.0)
    }
}

/// The node's inbound connections that are open, each with a token cancelled when it
/// closes.
#[derive(Default)]
pub(crate) struct OpenConnections {
    next: AtomicU64,
    open: DashMap<u64, CancellationToken>,
}

impl OpenConnections {
    /// A fresh id that is not open (an HTTP post: one request, nothing follows on it).
    pub(crate) fn one_shot(&self) -> ConnectionId {
        ConnectionId(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// A fresh id, open until [`close`](OpenConnections::close).
    pub(crate) fn open(&self) -> ConnectionId {
        let id = self.one_shot();
        self.open.insert(id.0, CancellationToken::new());
        id
    }

    /// `id` closed: whoever waits on it is told.
    pub(crate) fn close(&self, id: ConnectionId) {
        if let Some((_, token)) = self.open.remove(&id.0) {
            token.cancel();
        }
    }

    /// Resolves once `id` is closed (at once if it is not open).
    pub(crate) fn closed(
        &self,
        id: ConnectionId,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let token = self.open.get(&id.0).map(|t| t.clone());
        async move {
            if let Some(t) = token {
                t.cancelled().await;
            }
        }
    }

    /// How many are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ids_are_unique_and_closing_wakes_waiters() {
        let c = OpenConnections::default();
        let a = c.open();
        let b = c.open();
        let post = c.one_shot();
        assert!(a != b && b != post && a != post);
        assert_eq!(c.len(), 2);
        // A one-shot id is closed already.
        c.closed(post).await;
        let waiting = tokio::spawn(c.closed(a));
        c.close(a);
        crate::testing::within(std::time::Duration::from_secs(5), "the close", waiting)
            .await
            .unwrap();
        assert_eq!(c.len(), 1);
        // Closing twice, or an unknown id, is harmless.
        c.close(a);
        c.close(post);
        assert_eq!(c.len(), 1);
    }
}
