//! The server's connections as the accept loop sees them: what each one is doing, so that
//! a client that stops taking what it asked for cannot hold a slot, and so that at the
//! cap the connection that has done nothing for the longest makes room for a newcomer.
//!
//! Each connection is in one of a few states, from the server's point of view:
//!
//! - **preparing**: a request is being answered (the `--delay` think time, a file read).
//!   That is the server's own work, never held against the client.
//! - **sending**: an answer's body is going out. It *moves* each time the protocol takes
//!   its next chunk (bodies are sliced into [`CHUNK`](super::body::CHUNK)s): hyper asks
//!   for the next one only once the previous one has room to go, over HTTP/1.1 in the
//!   socket and over HTTP/2 in the client's flow-control window. An answer that has not
//!   moved for the send timeout is *stalled*: its client accepts nothing (a full receive
//!   buffer, or an HTTP/2 window it never opens).
//! - **idle**: no request yet (silent, or a head sent in part), or between requests.
//!
//! What this module decides:
//!
//! - A stalled answer is ended ([`Conn::stalled_past`]): over HTTP/2 its stream is reset
//!   (the connection's other streams go on), over HTTP/1.1 the connection is closed; and
//!   a connection on which nothing else moves then is closed too. Without it, an HTTP/2
//!   client that set its window to 0 and asked once held its slot for good: 4,100 such
//!   connections turned every real client away.
//! - At the cap, while a newcomer waits, room is made by closing the connection that has
//!   sent and received nothing for the longest ([`Registry::evict_stalest`]): silent,
//!   half-sent, idle or stalled alike; never one whose answer the server is preparing, nor
//!   one that is only just accepted ([`UNASKED_GRACE`]) or that asked and moved a moment
//!   ago ([`STILL_AFTER`]).
//! - A connection with nothing to do for the header timeout is closed ([`Conn::idle_past`]):
//!   HTTP/1.1 has hyper's own header timeout, HTTP/2 has none.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A connection that has sent no request is not closed for room within this long of its
/// accept: long enough for a request sent with the connection to be read, short enough
/// that a flood of silent connections, reopened as soon as closed, churns through the
/// cap fast and a real request still gets its turn within a second.
pub const UNASKED_GRACE: Duration = Duration::from_millis(20);

/// A connection that has asked is closed for room only once it has been still this long
/// (between requests, or not taking its answer): one that took a chunk a moment ago, as
/// a client over a slow link does, is at work.
pub const STILL_AFTER: Duration = Duration::from_secs(1);

/// Every connection being served.
#[derive(Debug, Default)]
pub struct Registry {
    conns: Mutex<HashMap<u64, Weak<Conn>>>,
    next_id: AtomicU64,
}

impl Registry {
    /// Registers a connection just accepted; it is forgotten when the returned handle, and
    /// every clone of it, is dropped.
    pub fn add(self: &Arc<Self>) -> Arc<Conn> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            registry: Arc::downgrade(self),
            state: Mutex::new(State {
                asked: false,
                preparing: 0,
                answers: Vec::new(),
                next_answer: 0,
                last_moved: Instant::now(),
            }),
            close: CancellationToken::new(),
            http2: AtomicBool::new(false),
            next_stream: Mutex::new(None),
        });
        lock(&self.conns).insert(id, Arc::downgrade(&conn));
        conn
    }

    /// Closes the connection that has sent and received nothing for the longest, if one
    /// has been still for long enough ([`UNASKED_GRACE`], [`STILL_AFTER`]) and the server
    /// is preparing no answer on it; false if there is none.
    pub fn evict_stalest(&self) -> bool {
        let now = Instant::now();
        let conns = lock(&self.conns);
        let stalest = conns
            .values()
            .filter_map(Weak::upgrade)
            .filter(|conn| !conn.close.is_cancelled())
            .filter_map(|conn| {
                let (still, asked) = conn.still_since(now)?;
                let after = if asked { STILL_AFTER } else { UNASKED_GRACE };
                (now.duration_since(still) >= after).then_some((still, conn))
            })
            .min_by_key(|(still, conn)| (*still, conn.id));
        drop(conns);
        match stalest {
            Some((_, conn)) => {
                conn.close.cancel();
                true
            }
            None => false,
        }
    }

    /// Connections open.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.conns).len()
    }
}

/// One connection.
#[derive(Debug)]
pub struct Conn {
    id: u64,
    registry: Weak<Registry>,
    state: Mutex<State>,
    /// Cancelled to close it (for room).
    close: CancellationToken,
    /// HTTP/2 was agreed: a stalled answer's stream can be reset alone.
    http2: AtomicBool,
    /// The reset of the request hyper is about to spawn as an HTTP/2 stream (see
    /// [`StreamExecutor`]).
    next_stream: Mutex<Option<CancellationToken>>,
}

/// What a connection is doing. Every request passes through it several times (asked,
/// answered, each chunk, the end), so it is kept cheap: one lock each time, the clock
/// read only where a time is kept (an answer's start and each chunk taken), and answers
/// in a plain list (one at a time over HTTP/1.1, a stream each over HTTP/2).
#[derive(Debug)]
struct State {
    /// A whole request has come in on it.
    asked: bool,
    /// Requests whose answer the server is preparing.
    preparing: usize,
    /// Answers being sent.
    answers: Vec<Answer>,
    next_answer: u64,
    /// The accept, the last chunk an answer sent or the end of the last answer, whichever
    /// came last. (A request is not counted: while it is prepared, nothing is held
    /// against the connection, and its end counts.)
    last_moved: Instant,
}

impl State {
    fn answer(&mut self, id: u64) -> Option<&mut Answer> {
        self.answers.iter_mut().find(|answer| answer.id == id)
    }

    /// Forgets an answer, if it is still there (a stalled HTTP/2 one is forgotten when
    /// its stream is reset).
    fn remove(&mut self, id: u64) -> Option<Answer> {
        let at = self.answers.iter().position(|answer| answer.id == id)?;
        Some(self.answers.swap_remove(at))
    }
}

#[derive(Debug)]
struct Answer {
    id: u64,
    /// When the protocol last took a chunk of it (or it began).
    moved: Instant,
    /// Its body is waiting for the server (a read of its file), not for the client.
    server_side: bool,
    /// Resets its HTTP/2 stream; none over HTTP/1.1, where a stall closes the connection.
    reset: Option<CancellationToken>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            lock(&registry.conns).remove(&self.id);
        }
    }
}

impl Conn {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Resolves when the connection is closed for room.
    pub async fn closed(&self) {
        self.close.cancelled().await;
    }

    /// Whether a whole request has come in on it.
    pub fn has_asked(&self) -> bool {
        self.state().asked
    }

    /// ALPN agreed on HTTP/2 for it.
    pub fn set_http2(&self) {
        self.http2.store(true, Ordering::Relaxed);
    }

    /// Since when nothing has moved on it, and whether it has asked; `None` while the
    /// server prepares an answer or an answer's body waits for the server.
    fn still_since(&self, now: Instant) -> Option<(Instant, bool)> {
        let state = self.state();
        if state.preparing > 0 || state.answers.iter().any(|a| a.server_side) {
            return None;
        }
        let moved = state
            .answers
            .iter()
            .map(|a| a.moved)
            .chain([state.last_moved])
            .max()
            .unwrap_or(now);
        Some((moved, state.asked))
    }

    /// A whole request came in: the server prepares its answer until the returned guard
    /// becomes an answer ([`Preparing::answer`]) or is dropped.
    pub fn request(self: &Arc<Self>) -> Preparing {
        {
            let mut state = self.state();
            state.asked = true;
            state.preparing += 1;
        }
        // Only an HTTP/2 stream can be reset alone; over HTTP/1.1 a stalled answer closes
        // the connection, so no reset is made for each request.
        let reset = self.http2.load(Ordering::Relaxed).then(|| {
            let reset = CancellationToken::new();
            // hyper spawns the request's HTTP/2 stream right after it asked for the
            // answer's future, on the same thread: the executor takes this for it.
            *lock(&self.next_stream) = Some(reset.clone());
            reset
        });
        Preparing {
            conn: Some(self.clone()),
            reset,
        }
    }

    /// Completes once the connection has had nothing in flight for `limit`.
    pub async fn idle_past(&self, limit: Duration) {
        loop {
            let idle_since = {
                let state = self.state();
                (state.preparing == 0 && state.answers.is_empty()).then_some(state.last_moved)
            };
            let wait = match idle_since {
                Some(since) => match limit.checked_sub(since.elapsed()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return,
                },
                // Busy: look again a limit from now (it cannot be idle for longer by then).
                None => limit,
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Ends each answer whose client has taken nothing of it for `limit`, and completes
    /// when the connection should be closed: an HTTP/1.1 answer stalled (its stream is
    /// the connection), or, over HTTP/2, stalled streams were reset and nothing else
    /// moved on it for `limit`.
    pub async fn stalled_past(&self, limit: Duration) {
        loop {
            let now = Instant::now();
            let wait = {
                let mut state = self.state();
                let stalled = |a: &Answer| !a.server_side && now.duration_since(a.moved) >= limit;
                if state.answers.iter().any(stalled) {
                    if !self.http2.load(Ordering::Relaxed) {
                        return;
                    }
                    for answer in state.answers.extract_if(.., |a| stalled(a)) {
                        if let Some(reset) = answer.reset {
                            reset.cancel();
                        }
                    }
                    let others_moving = state.preparing > 0 || !state.answers.is_empty();
                    if !others_moving {
                        return;
                    }
                }
                state
                    .answers
                    .iter()
                    .filter(|a| !a.server_side)
                    .map(|a| (a.moved + limit).saturating_duration_since(now))
                    .min()
                    .unwrap_or(limit)
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

/// A request whose answer the server is preparing.
#[derive(Debug)]
pub struct Preparing {
    /// Taken when it becomes an answer, which then does its bookkeeping.
    conn: Option<Arc<Conn>>,
    reset: Option<CancellationToken>,
}

impl Preparing {
    /// The answer is ready: its body is now watched as it is sent.
    ///
    /// The body is wrapped, not boxed again: hyper takes any body type.
    pub fn answer(mut self, body: super::ServeBody) -> Watched {
        let conn = self.conn.take().expect("answered once");
        let id = {
            let now = Instant::now();
            let mut state = conn.state();
            // No longer preparing: the answer's start is the end of the preparing, at
            // once and under the same lock, so no checker ever sees neither.
            state.preparing -= 1;
            state.last_moved = now;
            let id = state.next_answer;
            state.next_answer += 1;
            state.answers.push(Answer {
                id,
                moved: now,
                server_side: false,
                reset: self.reset.take(),
            });
            id
        };
        Watched {
            body,
            conn,
            id,
            ended: false,
        }
    }
}

impl Drop for Preparing {
    fn drop(&mut self) {
        // Dropped unanswered (the client went, or the request's future was dropped).
        if let Some(conn) = &self.conn {
            let mut state = conn.state();
            state.preparing -= 1;
            state.last_moved = Instant::now();
        }
    }
}

/// An answer's body, telling its connection each time the protocol takes a chunk.
pub struct Watched {
    body: super::ServeBody,
    conn: Arc<Conn>,
    id: u64,
    /// Its last chunk was taken, and the connection told: nothing left to do on drop.
    ended: bool,
}

impl Body for Watched {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if self.ended {
            return polled;
        }
        // The body is done once it says so after a chunk (hyper then takes no more, and
        // drops it), or yields nothing more.
        let ended = match &polled {
            Poll::Ready(Some(Ok(_))) => self.body.is_end_stream(),
            Poll::Ready(_) => true,
            Poll::Pending => false,
        };
        let now = Instant::now();
        let mut state = self.conn.state();
        if ended {
            // The end of the answer is this chunk's taking: the drop that follows need
            // not take the lock or read the clock again.
            state.remove(self.id);
            state.last_moved = now;
        } else if let Some(answer) = state.answer(self.id) {
            // Asked for the next chunk: the client took the last one.
            answer.moved = now;
            // Pending, the body waits for the server's own work.
            answer.server_side = polled.is_pending();
        }
        drop(state);
        self.ended = ended;
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // Dropped before its end: the client went, or its stream was reset.
        if !self.ended {
            let mut state = self.conn.state();
            state.remove(self.id);
            state.last_moved = Instant::now();
        }
    }
}

/// Spawns hyper's HTTP/2 streams on tokio, each one ended when its answer stalls.
///
/// hyper 1 asks the service for a request's future and, at once and on the same thread,
/// spawns the stream that drives it and sends its answer (`proto/h2/server.rs`); dropping
/// that task resets the stream (h2 sends `RST_STREAM(CANCEL)` and forgets what it had
/// buffered for it). So the reset that [`Conn::request`] left for it is taken here.
#[derive(Clone, Debug)]
pub struct StreamExecutor(pub Arc<Conn>);

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        let reset = lock(&self.0.next_stream).take();
        tokio::spawn(async move {
            match reset {
                Some(reset) => {
                    tokio::select! {
                        _ = future => {}
                        () = reset.cancelled() => {}
                    }
                }
                None => {
                    future.await;
                }
            }
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn body() -> super::super::ServeBody {
        super::super::body::whole(Bytes::from(vec![0u8; 3 * super::super::body::CHUNK]))
    }

    #[tokio::test(start_paused = true)]
    async fn the_stalest_connection_goes_first_and_one_being_answered_never() {
        let registry = Arc::new(Registry::default());
        let idle = registry.add();
        drop(idle.request());
        let thinking = registry.add();
        let preparing = thinking.request();
        tokio::time::sleep(STILL_AFTER).await;
        let silent = registry.add();
        tokio::time::sleep(UNASKED_GRACE).await;
        let fresh = registry.add();
        assert!(registry.evict_stalest());
        assert!(idle.close.is_cancelled(), "still for the longest");
        assert!(registry.evict_stalest());
        assert!(silent.close.is_cancelled(), "asked nothing, past its grace");
        assert!(!registry.evict_stalest(), "only just accepted");
        tokio::time::sleep(UNASKED_GRACE).await;
        assert!(registry.evict_stalest());
        assert!(fresh.close.is_cancelled());
        assert!(!registry.evict_stalest(), "the one being answered stays");
        assert!(!thinking.close.is_cancelled());
        drop(preparing);
        assert_eq!(registry.len(), 4);
        drop((silent, idle, fresh, thinking));
        assert_eq!(registry.len(), 0, "ended connections are forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_asked_and_moved_a_moment_ago_is_not_closed_for_room() {
        let registry = Arc::new(Registry::default());
        let conn = registry.add();
        let mut answer = conn.request().answer(body());
        tokio::time::sleep(STILL_AFTER / 2).await;
        answer.frame().await.unwrap().unwrap();
        tokio::time::sleep(STILL_AFTER / 2).await;
        assert!(
            !registry.evict_stalest(),
            "it took a chunk half a second ago"
        );
        tokio::time::sleep(STILL_AFTER / 2).await;
        assert!(registry.evict_stalest(), "still for a second: stalled");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_the_client_stops_taking_stalls_and_one_it_takes_does_not() {
        let registry = Arc::new(Registry::default());
        let conn = registry.add();
        let limit = Duration::from_secs(10);
        let mut taken = conn.request().answer(body());
        // One chunk every 6 s: slow, but moving.
        for _ in 0..3 {
            tokio::select! {
                () = conn.stalled_past(limit) => panic!("it moves"),
                () = tokio::time::sleep(Duration::from_secs(6)) => {}
            }
            taken.frame().await.unwrap().unwrap();
        }
        drop(taken);
        let _stuck = conn.request().answer(body());
        let started = Instant::now();
        conn.stalled_past(limit).await;
        assert_eq!(started.elapsed(), limit, "HTTP/1.1: the connection goes");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_is_done_with_its_last_chunk_not_when_its_body_is_dropped() {
        let registry = Arc::new(Registry::default());
        let conn = registry.add();
        let limit = Duration::from_secs(10);
        let mut answer = conn.request().answer(body());
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            answer.frame().await.unwrap().unwrap();
        }
        let last_chunk = Instant::now();
        tokio::select! {
            () = conn.idle_past(limit) => {}
            () = tokio::time::sleep(2 * limit) => panic!("the body is done"),
        }
        assert_eq!(last_chunk.elapsed(), limit, "idle from the last chunk");
        assert!(answer.frame().await.is_none());
        drop(answer);
    }

    #[test]
    fn over_http1_a_request_makes_no_stream_reset() {
        let registry = Arc::new(Registry::default());
        let conn = registry.add();
        let preparing = conn.request();
        assert!(preparing.reset.is_none());
        assert!(lock(&conn.next_stream).is_none(), "no stream to spawn");
    }

    /// An HTTP/2 connection with one answer out, and the reset its executor would take.
    fn http2_with_one_answer(registry: &Arc<Registry>) -> (Arc<Conn>, CancellationToken, Watched) {
        let conn = registry.add();
        conn.set_http2();
        let preparing = conn.request();
        let reset = lock(&conn.next_stream).take().unwrap();
        (conn, reset, preparing.answer(body()))
    }

    #[tokio::test(start_paused = true)]
    async fn over_http2_a_stalled_stream_is_reset_alone_while_another_moves() {
        let registry = Arc::new(Registry::default());
        let (conn, reset, _stuck) = http2_with_one_answer(&registry);
        let limit = Duration::from_secs(10);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut moving = conn.request().answer(body());
        let mover = async {
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                moving.frame().await.unwrap().unwrap();
            }
        };
        tokio::select! {
            () = conn.stalled_past(limit) => panic!("another stream moves"),
            () = mover => unreachable!(),
            () = reset.cancelled() => {}
        }
        assert_eq!(conn.state().answers.len(), 1, "the moving one goes on");
    }

    #[tokio::test(start_paused = true)]
    async fn over_http2_the_connection_goes_once_its_streams_stalled_and_nothing_moves() {
        let registry = Arc::new(Registry::default());
        let (conn, reset, _stuck) = http2_with_one_answer(&registry);
        let limit = Duration::from_secs(10);
        let started = Instant::now();
        conn.stalled_past(limit).await;
        assert_eq!(started.elapsed(), limit);
        assert!(reset.is_cancelled(), "its stream was reset too");
    }

    #[tokio::test(start_paused = true)]
    async fn idle_counts_from_the_last_answer_and_not_while_one_is_out() {
        let registry = Arc::new(Registry::default());
        let conn = registry.add();
        let limit = Duration::from_secs(10);
        tokio::time::sleep(Duration::from_secs(6)).await;
        let body = conn.request().answer(body());
        tokio::select! {
            () = conn.idle_past(limit) => panic!("an answer is out"),
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        let dropped = Instant::now();
        drop(body);
        conn.idle_past(limit).await;
        assert_eq!(dropped.elapsed(), limit);
    }
}
