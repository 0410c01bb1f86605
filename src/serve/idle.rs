//! Making room past the connection cap: the connections that have sent nothing for the
//! longest are closed first.
//!
//! A client that opens connections and never sends a byte would otherwise hold every slot
//! for the whole header timeout (10 s), and a flood of them, reopened as soon as closed,
//! would keep real clients waiting in the listen queue. So each connection is watched
//! until its first byte arrives; at the cap, the oldest still silent is closed to let the
//! next one in. A connection that has sent its request is never closed for room.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

/// One connection as the eviction sees it.
#[derive(Debug, Default)]
pub struct Watch {
    /// Set by its first byte.
    spoke: AtomicBool,
    /// Cancelled to close it.
    close: CancellationToken,
}

impl Watch {
    /// Resolves when the connection is closed for room.
    pub async fn closed(&self) {
        self.close.cancelled().await;
    }

    /// Whether its first byte has come in.
    pub fn spoke(&self) -> bool {
        self.spoke.load(Ordering::Relaxed)
    }
}

/// The connections accepted, oldest first, until they speak or end.
#[derive(Debug, Default)]
pub struct Silent {
    queue: Mutex<VecDeque<Arc<Watch>>>,
}

impl Silent {
    /// Starts watching a new connection.
    pub fn watch(&self) -> Arc<Watch> {
        let watch = Arc::new(Watch::default());
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        // Forget those that spoke or ended, so the queue holds only silent ones.
        queue.retain(|w| !w.spoke.load(Ordering::Relaxed) && Arc::strong_count(w) > 1);
        queue.push_back(watch.clone());
        watch
    }

    /// Closes the connection that has been silent the longest; false if none is silent.
    pub fn evict_oldest(&self) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(watch) = queue.pop_front() {
            // Strong count 1: only the queue holds it, the connection has ended.
            if !watch.spoke.load(Ordering::Relaxed) && Arc::strong_count(&watch) > 1 {
                watch.close.cancel();
                return true;
            }
        }
        false
    }
}

/// A stream that marks its [`Watch`] when the first byte comes in.
pub struct Watched<S> {
    inner: S,
    watch: Arc<Watch>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, watch: Arc<Watch>) -> Watched<S> {
        Watched { inner, watch }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.spoke.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_silent_connection_goes_first_and_a_speaker_never() {
        let silent = Silent::default();
        let first = silent.watch();
        let second = silent.watch();
        first.spoke.store(true, Ordering::Relaxed);
        assert!(silent.evict_oldest());
        assert!(!first.close.is_cancelled(), "it spoke");
        assert!(second.close.is_cancelled());
        drop(second);
        assert!(!silent.evict_oldest(), "nobody silent is left");
    }
}
