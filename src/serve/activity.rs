//! How long a connection has had nothing to do: the header timeout for HTTP/2.
//!
//! Over HTTP/1.1, hyper closes a connection whose next request head does not come within
//! the header timeout (a head sent too slowly, or a kept-alive connection left idle). HTTP/2
//! has no such timeout: a client that made its connection, or asked once, and then waits,
//! held its slot for good, so enough of them and the server answered no one. So each
//! connection counts its requests in flight, a response body being sent included, and is
//! closed once it has had none for the header timeout, whatever its protocol.

use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// One connection's requests in flight, and when it last had one.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    /// The start of the connection, or the end of its last request.
    last: Mutex<Instant>,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        })
    }

    /// A request has started: it is in flight until `body`, its response's, is sent or
    /// dropped.
    pub fn track(self: &Arc<Self>, body: super::ServeBody) -> super::ServeBody {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let busy = Busy(self.clone());
        body.map_frame(move |frame: hyper::body::Frame<Bytes>| {
            let _in_flight = &busy;
            frame
        })
        .boxed_unsync()
    }

    /// How long it has had nothing in flight; zero while a request is.
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Completes once the connection has had nothing in flight for `limit`.
    pub async fn idle_past(&self, limit: Duration) {
        loop {
            let idle = self.idle_for();
            if idle >= limit {
                return;
            }
            // A request may start and end meanwhile: look again when the time is up.
            tokio::time::sleep(limit - idle).await;
        }
    }
}

/// A request in flight; it ends when this is dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On tokio's paused clock: idle counts from the start, stops while a body is out,
    /// and starts again when it is dropped.
    #[tokio::test(start_paused = true)]
    async fn idle_is_the_time_since_the_last_body_was_done() {
        let activity = Activity::new();
        let limit = Duration::from_secs(10);
        tokio::time::sleep(Duration::from_secs(6)).await;
        let body = activity.track(super::super::body::whole(Bytes::from_static(b"x")));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(activity.idle_for(), Duration::ZERO, "a body is out");
        let dropped = Instant::now();
        drop(body);
        activity.idle_past(limit).await;
        assert_eq!(dropped.elapsed(), limit);
    }
}
