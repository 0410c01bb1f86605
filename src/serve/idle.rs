//! Making room past the connection cap: the connections that have waited the longest
//! without sending a whole request are closed first.
//!
//! A client that opens connections and never sends a request (nothing at all, or the start
//! of a head and then nothing) would otherwise hold every slot for the whole header timeout
//! (10 s), and a flood of them, reopened as soon as closed, would keep real clients waiting
//! in the listen queue. So each connection is watched until its first request reaches the
//! server; at the cap, the oldest still without one is closed to let the next one in. A
//! connection that has sent a request is never closed for room: its answer, and later
//! requests on it, are the server's work.
//!
//! The mark is the request, not the first byte: one byte would otherwise buy a connection
//! the whole header timeout, and a TLS handshake is bytes too.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// One connection as the eviction sees it.
#[derive(Debug, Default)]
pub struct Watch {
    /// Set when its first request reaches the server.
    asked: AtomicBool,
    /// Cancelled to close it.
    close: CancellationToken,
}

impl Watch {
    /// Resolves when the connection is closed for room.
    pub async fn closed(&self) {
        self.close.cancelled().await;
    }

    /// Marks that a whole request came in on it.
    pub fn asked(&self) {
        self.asked.store(true, Ordering::Relaxed);
    }

    /// Whether a whole request has come in on it.
    pub fn has_asked(&self) -> bool {
        self.asked.load(Ordering::Relaxed)
    }
}

/// The connections accepted, oldest first, until they send a request or end.
#[derive(Debug, Default)]
pub struct Unasked {
    queue: Mutex<VecDeque<Arc<Watch>>>,
}

impl Unasked {
    /// Starts watching a new connection.
    pub fn watch(&self) -> Arc<Watch> {
        let watch = Arc::new(Watch::default());
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        // Forget those that asked or ended, so the queue holds only the waiting ones.
        queue.retain(|w| !w.has_asked() && Arc::strong_count(w) > 1);
        queue.push_back(watch.clone());
        watch
    }

    /// Closes the connection that has waited the longest without a request; false if
    /// every connection has sent one.
    pub fn evict_oldest(&self) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(watch) = queue.pop_front() {
            // Strong count 1: only the queue holds it, the connection has ended.
            if !watch.has_asked() && Arc::strong_count(&watch) > 1 {
                watch.close.cancel();
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_connection_without_a_request_goes_first_and_one_that_asked_never() {
        let unasked = Unasked::default();
        let first = unasked.watch();
        let second = unasked.watch();
        first.asked();
        assert!(unasked.evict_oldest());
        assert!(!first.close.is_cancelled(), "it asked");
        assert!(second.close.is_cancelled());
        drop(second);
        assert!(!unasked.evict_oldest(), "nobody is left waiting");
    }
}
