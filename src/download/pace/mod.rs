//! How fast a run goes at its server: `-m` is a ceiling, not an order. Shared by every mode.
//!
//! Two controllers, each a small type in its own file with its rule stated at its top,
//! deciding from the events they are given and the time given with them:
//!
//! - [`opening`]: new connections. All at once, until an attempt is late (the server's
//!   listen queue dropped its handshake); from then on, a few at a time.
//! - [`in_flight`]: requests in flight. All `-m` at once; a 429 or 503 halves them, pauses
//!   them all for the server's `Retry-After` and learns the rate it takes; the run gives
//!   up once those waits would pass `--max-wait`.
//!
//! This file is what both clients (reqwest and ureq) meet, one path of events: a connection
//! attempt is an [`OpenSlot`] (it came up, was late, or failed: dropped), a request a
//! [`Ticket`] (answered with a status; done: dropped). It also holds the waiting, for tasks
//! and threads alike, and what the run has to tell the user ([`Pace::take_news`]).
//! `--pace off` does none of it: every connection and `-m` requests at once, as the book's
//! scripts go.

mod in_flight;
mod opening;

pub use in_flight::{Refused, ServerWait};
pub use opening::Late;

use in_flight::{Hold, InFlight};
use opening::Opening;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often a blocking waiter looks again: a wake-up can come between its try and its
/// wait, and it must see cancellation.
const BLOCKING_POLL: Duration = Duration::from_millis(50);

/// `--pace`: whether flags-dl paces itself to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PaceMode {
    /// Every connection at once until the server's queue overflows; fewer requests while
    /// it refuses them.
    #[default]
    Auto,
    /// Exactly `-m` requests at once and every connection they need, as the book's
    /// scripts do.
    Off,
}

/// Where tasks and threads wait for a controller to change.
#[derive(Debug, Default)]
struct Gate {
    tasks: Notify,
    threads: Condvar,
}

impl Gate {
    fn wake_one(&self) {
        self.tasks.notify_one();
        self.threads.notify_one();
    }

    fn wake_all(&self) {
        self.tasks.notify_waiters();
        self.threads.notify_all();
    }
}

/// The pace of one run against its server.
#[derive(Debug)]
pub struct Pace {
    off: bool,
    opening: Mutex<Opening>,
    requests: Mutex<InFlight>,
    /// Woken one per attempt or request ended; all when admission changed for everyone.
    open_gate: Gate,
    admit_gate: Gate,
    /// Requests in flight now, for the opening window (see [`opening`]).
    in_flight: AtomicUsize,
    /// `-v` notes and the server's waits, for the driver to show as they come.
    news: Mutex<(Vec<String>, Vec<ServerWait>)>,
    news_ready: Notify,
    /// Cancelled when the run gives up on the server: retries' waits end too.
    given_up: CancellationToken,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tries `attempt` on `state` until it gives a result, waiting on `gate` in between (for
/// as long as it says, `None`: until woken).
async fn wait_for<S, T>(
    gate: &Gate,
    state: &Mutex<S>,
    mut attempt: impl FnMut(&mut S) -> Result<T, Option<Duration>>,
) -> T {
    loop {
        let notified = gate.tasks.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let tried = attempt(&mut lock(state));
        match tried {
            Ok(done) => return done,
            Err(Some(wait)) => {
                tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
            Err(None) => notified.await,
        }
    }
}

/// [`wait_for`] on a blocking thread; `None` once `cancelled` says so.
fn wait_blocking<S, T>(
    gate: &Gate,
    state: &Mutex<S>,
    cancelled: impl Fn() -> bool,
    mut attempt: impl FnMut(&mut S) -> Result<T, Option<Duration>>,
) -> Option<T> {
    let mut guard = lock(state);
    loop {
        if cancelled() {
            return None;
        }
        let wait = match attempt(&mut guard) {
            Ok(done) => return Some(done),
            Err(wait) => wait.map_or(BLOCKING_POLL, |w| w.min(BLOCKING_POLL)),
        };
        guard = gate
            .threads
            .wait_timeout(guard, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Admission as [`wait_for`] takes it: a ticket's episode, or the run's refusal.
fn admission(requests: &mut InFlight) -> Result<Result<u64, Refused>, Option<Duration>> {
    match requests.admit(Instant::now()) {
        Ok(epoch) => Ok(Ok(epoch)),
        Err(Hold::Refused(refused)) => Ok(Err(refused)),
        Err(Hold::For(wait)) => Err(Some(wait)),
        Err(Hold::Full) => Err(None),
    }
}

impl Pace {
    /// The pace of a run of at most `ceiling` requests in flight that waits at most
    /// `max_wait` in all when the server asks it to.
    pub fn new(ceiling: usize, max_wait: Duration, mode: PaceMode) -> Pace {
        Pace {
            off: mode == PaceMode::Off,
            opening: Mutex::new(Opening::new(false, false)),
            requests: Mutex::new(InFlight::new(ceiling, max_wait)),
            open_gate: Gate::default(),
            admit_gate: Gate::default(),
            in_flight: AtomicUsize::new(0),
            news: Mutex::default(),
            news_ready: Notify::new(),
            given_up: CancellationToken::new(),
        }
    }

    /// Before the run: whether its connections go straight to this machine, and whether
    /// they speak TLS (see [`opening`]).
    pub fn set_route(&self, loopback: bool, tls: bool) {
        *lock(&self.opening) = Opening::new(loopback, tls || self.off);
    }

    /// Sends the first request alone (see [`in_flight`]): for a server that may speak
    /// HTTP/2.
    pub fn probe_first(&self) {
        if !self.off {
            lock(&self.requests).probe_first();
        }
    }

    /// Ends the probe if its connection has come up: for the probe's own task to call
    /// once its request is out, when the client has pooled that connection.
    pub fn end_probe_if_up(&self) {
        if lock(&self.requests).end_probe_if_up() {
            self.admit_gate.wake_all();
        }
    }

    /// Waits until a request may start; it is in flight until the ticket is dropped. Once
    /// the run has given up on the server, none may: [`Refused`].
    pub async fn admit(&self) -> Result<Ticket<'_>, Refused> {
        let epoch = wait_for(&self.admit_gate, &self.requests, admission).await?;
        Ok(Ticket::new(self, epoch))
    }

    /// [`Pace::admit`] for a blocking thread; `None` once `cancelled` says so.
    pub fn admit_blocking(
        &self,
        cancelled: impl Fn() -> bool,
    ) -> Option<Result<Ticket<'_>, Refused>> {
        let admitted = wait_blocking(&self.admit_gate, &self.requests, cancelled, admission)?;
        Some(admitted.map(|epoch| Ticket::new(self, epoch)))
    }

    /// Admits a request at once, for unit tests elsewhere that need a ticket.
    #[cfg(test)]
    pub fn try_admit_for_tests(&self) -> Ticket<'_> {
        let epoch = lock(&self.requests).admit(Instant::now()).expect("room");
        Ticket::new(self, epoch)
    }

    /// Waits until a new connection may be opened; it counts as pending until the slot
    /// says how it ended.
    pub async fn open(&self) -> OpenSlot<'_> {
        let in_flight = &self.in_flight;
        let begin = |o: &mut Opening| o.begin(in_flight.load(Ordering::Relaxed)).ok_or(None);
        let epoch = wait_for(&self.open_gate, &self.opening, begin).await;
        OpenSlot::new(self, epoch)
    }

    /// [`Pace::open`] for a blocking thread.
    pub fn open_blocking(&self) -> OpenSlot<'_> {
        let in_flight = &self.in_flight;
        let begin = |o: &mut Opening| o.begin(in_flight.load(Ordering::Relaxed)).ok_or(None);
        let begun = wait_blocking(&self.open_gate, &self.opening, || false, begin);
        OpenSlot::new(self, begun.expect("never cancelled"))
    }

    /// How long an attempt may be pending before it is late and made again.
    pub fn late_after(&self) -> Late {
        lock(&self.opening).late_after()
    }

    /// Why the run gave up on the server, if it did.
    pub fn refused(&self) -> Option<Refused> {
        lock(&self.requests).refused().cloned()
    }

    /// Completes once the run gives up on the server: a retry's wait ends then.
    pub async fn given_up(&self) {
        self.given_up.cancelled().await;
    }

    /// Completes when there may be news to take (see [`Pace::take_news`]).
    pub async fn news(&self) {
        self.news_ready.notified().await;
    }

    /// The `-v` notes and the server's waits since the last call.
    pub fn take_news(&self) -> (Vec<String>, Vec<ServerWait>) {
        std::mem::take(&mut *lock(&self.news))
    }

    fn tell(&self, note: Option<String>, wait: Option<ServerWait>) {
        if note.is_some() || wait.is_some() {
            let mut news = lock(&self.news);
            news.0.extend(note);
            news.1.extend(wait);
            self.news_ready.notify_one();
        }
    }

    /// What the run's summary reports of the pace.
    pub fn stats(&self) -> Stats {
        let (requests, opening) = (lock(&self.requests), lock(&self.opening));
        Stats {
            peak_in_flight: requests.peak,
            lowered: requests.lowered,
            connections: opening.came_up,
            late_connects: opening.late,
        }
    }
}

/// What the run's summary reports of the pace.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// The most requests in flight at once.
    pub peak_in_flight: usize,
    /// How often a refusal lowered the requests in flight.
    pub lowered: u32,
    /// Connections that came up.
    pub connections: u32,
    /// Connection attempts abandoned as late and made again.
    pub late_connects: u32,
}

/// One admitted request, in flight until dropped.
#[derive(Debug)]
pub struct Ticket<'a> {
    pace: &'a Pace,
    /// The episode of refusals it was admitted in.
    epoch: u64,
    admitted: Instant,
}

impl<'a> Ticket<'a> {
    fn new(pace: &'a Pace, epoch: u64) -> Ticket<'a> {
        pace.in_flight.fetch_add(1, Ordering::Relaxed);
        let admitted = Instant::now();
        Ticket {
            pace,
            epoch,
            admitted,
        }
    }

    /// Whether this is the probe's request: while the probe runs, it is the only one.
    pub fn probe(&self) -> bool {
        lock(&self.pace.requests).probing()
    }

    /// The server answered it `status`, with this `Retry-After`.
    pub fn answered(&self, status: u16, retry_after: Option<Duration>) {
        let pace = self.pace;
        if pace.off {
            return;
        }
        if lock(&pace.opening).answered(self.admitted.elapsed()) {
            pace.open_gate.wake_one();
        }
        let mut requests = lock(&pace.requests);
        let probing = requests.probing();
        let told = requests.answered(Instant::now(), self.epoch, status, retry_after);
        let gave_up = requests.refused().is_some() && !pace.given_up.is_cancelled();
        drop(requests);
        if gave_up {
            pace.given_up.cancel();
        }
        if gave_up || probing {
            // Everyone may go now, or no one ever: the probe was answered, or the run
            // gave up on the server.
            pace.admit_gate.wake_all();
        }
        pace.tell(told.note, told.wait);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.pace.in_flight.fetch_sub(1, Ordering::Relaxed);
        let mut requests = lock(&self.pace.requests);
        let probing = requests.probing();
        requests.done(self.epoch);
        drop(requests);
        if probing {
            self.pace.admit_gate.wake_all();
        } else {
            self.pace.admit_gate.wake_one();
        }
    }
}

/// One connection attempt, pending until it says how it ended; dropped, it failed.
#[derive(Debug)]
pub struct OpenSlot<'a> {
    pace: &'a Pace,
    epoch: u64,
    started: Instant,
    ended: bool,
}

impl<'a> OpenSlot<'a> {
    fn new(pace: &'a Pace, epoch: u64) -> OpenSlot<'a> {
        let (started, ended) = (Instant::now(), false);
        OpenSlot {
            pace,
            epoch,
            started,
            ended,
        }
    }

    /// How long the attempt has been pending.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The connection came up.
    pub fn came_up(mut self) {
        self.ended = true;
        lock(&self.pace.opening).came_up(self.started.elapsed());
        lock(&self.pace.requests).connection_up();
        self.pace.open_gate.wake_one();
    }

    /// The attempt was late and is abandoned; the caller makes it again.
    pub fn late(mut self) {
        self.ended = true;
        let note = lock(&self.pace.opening).late(self.epoch, self.started.elapsed());
        self.pace.open_gate.wake_one();
        self.pace.tell(note, None);
    }
}

impl Drop for OpenSlot<'_> {
    fn drop(&mut self) {
        if !self.ended {
            lock(&self.pace.opening).failed();
            self.pace.open_gate.wake_one();
        }
    }
}
