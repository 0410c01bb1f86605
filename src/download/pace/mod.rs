//! How fast a run goes at its server: `-m` is a ceiling, not an order. Shared by every mode.
//!
//! Two controllers, each a small type in its own file with its rule stated at its top,
//! that decide from the events they are given and the time given with them:
//!
//! - [`opening`]: new connections. All at once, until an attempt is late (the server's
//!   listen queue dropped its handshake); from then on, a few at a time.
//! - [`in_flight`]: requests in flight. All `-m` at once; a 429 or 503 halves them, pauses
//!   them all for the server's `Retry-After`, learns the rate it takes; the run gives up
//!   once the waits would pass `--max-wait`.
//!
//! This file is what the clients meet: one path of events for both (reqwest and ureq).
//! A connection attempt is an [`OpenSlot`] (it came up, was late, or failed: dropped); a
//! request is a [`Ticket`] (the server answered it with a status; done: dropped). Waiting
//! for either, asynchronously or on a blocking thread, is here too, and what the run
//! should tell the user ([`Pace::take_news`]). `--pace off` does none of it: every
//! connection and `-m` requests at once, as the book's scripts go.

mod in_flight;
mod opening;

pub use in_flight::{Refused, ServerWait};

use in_flight::{Hold, InFlight};
use opening::Opening;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often a blocking waiter looks again, since a wake-up can come between its try and
/// its wait, and at cancellation.
const BLOCKING_POLL: Duration = Duration::from_millis(50);

/// The pace of one run against its server.
#[derive(Debug)]
pub struct Pace {
    /// `--pace off`.
    off: bool,
    /// The server speaks TLS: a connection's time to come up is mostly its handshake's,
    /// CPU on both sides (a hundred at once on two cores take a hundred times one), and
    /// says nothing of a listen queue. Watched, it made thousands of attempts late.
    tls: std::sync::atomic::AtomicBool,
    opening: Mutex<Opening>,
    requests: Mutex<InFlight>,
    /// Wake waiters for a request: one per request ended, all when admission changed for
    /// everyone (a probe ended, the run gave up). Async and blocking alike.
    admit_notify: Notify,
    admit_changed: Condvar,
    /// Wake waiters for a connection attempt: one per attempt ended.
    open_notify: Notify,
    open_changed: Condvar,
    /// Held while a connect to this machine is made (see [`Pace::connecting`]).
    connect_lock: Mutex<()>,
    /// `-v` notes and the server's waits, for the driver to show as they come.
    news: Mutex<(Vec<String>, Vec<ServerWait>)>,
    news_ready: Notify,
    /// Cancelled when the run gives up on the server: retries' waits end too.
    given_up: CancellationToken,
}

/// `--pace`: whether flags-dl paces itself to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PaceMode {
    /// Every connection at once until the server's queue overflows; fewer requests while
    /// it refuses them.
    #[default]
    Auto,
    /// Exactly `-m` requests at once and every connection they need, whatever the server
    /// says, as the book's scripts do.
    Off,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pace {
    /// The pace of a run of at most `ceiling` requests in flight that waits at most
    /// `max_wait` in all when the server asks it to.
    pub fn new(ceiling: usize, max_wait: Duration, mode: PaceMode) -> Pace {
        Pace {
            off: mode == PaceMode::Off,
            tls: Default::default(),
            opening: Mutex::new(Opening::new(false)),
            requests: Mutex::new(InFlight::new(ceiling, max_wait)),
            admit_notify: Notify::new(),
            admit_changed: Condvar::new(),
            open_notify: Notify::new(),
            open_changed: Condvar::new(),
            connect_lock: Mutex::default(),
            news: Mutex::default(),
            news_ready: Notify::new(),
            given_up: CancellationToken::new(),
        }
    }

    /// Before the run: whether its connections go straight to this machine, where a
    /// handshake that takes milliseconds was dropped, and whether they speak TLS.
    pub fn set_route(&self, loopback: bool, tls: bool) {
        *lock(&self.opening) = Opening::new(loopback);
        self.tls.store(tls, std::sync::atomic::Ordering::Relaxed);
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
            self.wake_all_admit();
        }
    }

    fn wake_one_admit(&self) {
        self.admit_notify.notify_one();
        self.admit_changed.notify_one();
    }

    fn wake_all_admit(&self) {
        self.admit_notify.notify_waiters();
        self.admit_changed.notify_all();
    }

    fn wake_one_open(&self) {
        self.open_notify.notify_one();
        self.open_changed.notify_one();
    }

    /// Waits until a request may start; it is in flight until the ticket is dropped. Once
    /// the run has given up on the server, none may: [`Refused`].
    pub async fn admit(&self) -> Result<Ticket<'_>, Refused> {
        loop {
            let notified = self.admit_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let held = match lock(&self.requests).admit(Instant::now()) {
                Ok(epoch) => return Ok(Ticket { pace: self, epoch }),
                Err(held) => held,
            };
            match held {
                Hold::Refused(refused) => return Err(refused),
                Hold::For(wait) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                Hold::Full => notified.await,
            }
        }
    }

    /// [`Pace::admit`] for a blocking thread; `None` once `cancelled` says so.
    pub fn admit_blocking(
        &self,
        cancelled: impl Fn() -> bool,
    ) -> Option<Result<Ticket<'_>, Refused>> {
        let mut requests = lock(&self.requests);
        loop {
            if cancelled() {
                return None;
            }
            let wait = match requests.admit(Instant::now()) {
                Ok(epoch) => return Some(Ok(Ticket { pace: self, epoch })),
                Err(Hold::Refused(refused)) => return Some(Err(refused)),
                Err(Hold::For(wait)) => wait.min(BLOCKING_POLL),
                Err(Hold::Full) => BLOCKING_POLL,
            };
            requests = self
                .admit_changed
                .wait_timeout(requests, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Admits a request at once, for unit tests elsewhere that need a ticket.
    #[cfg(test)]
    pub fn try_admit_for_tests(&self) -> Ticket<'_> {
        let epoch = lock(&self.requests)
            .admit(Instant::now())
            .expect("room for a request");
        Ticket { pace: self, epoch }
    }

    /// Waits until a new connection may be opened; it counts as pending until the slot
    /// says how it ended ([`OpenSlot::came_up`], [`OpenSlot::late`], or dropped).
    pub async fn open(&self) -> OpenSlot<'_> {
        loop {
            let notified = self.open_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(slot) = self.try_open() {
                return slot;
            }
            notified.await;
        }
    }

    /// [`Pace::open`] for a blocking thread.
    pub fn open_blocking(&self) -> OpenSlot<'_> {
        let mut opening = lock(&self.opening);
        loop {
            if let Some(epoch) = opening.begin() {
                return OpenSlot::new(self, epoch);
            }
            opening = self
                .open_changed
                .wait_timeout(opening, BLOCKING_POLL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn try_open(&self) -> Option<OpenSlot<'_>> {
        let epoch = lock(&self.opening).begin()?;
        Some(OpenSlot::new(self, epoch))
    }

    /// How long an attempt may be pending before it is late and made again.
    pub fn late_after(&self) -> Late {
        if self.off || self.tls.load(std::sync::atomic::Ordering::Relaxed) {
            return Late::Never;
        }
        match lock(&self.opening).late_after() {
            Some(after) => Late::After(after),
            None => Late::NotYet,
        }
    }

    /// To be held while a connect is made (the system call, not the wait for it), when
    /// attempts are watched on this machine: there the whole handshake runs inside the
    /// call, and two made at once on two cores can both pass the server's check for the
    /// last place in its queue; the second handshake's last packet is then dropped, the
    /// connection looks up, and its request waits a second or more unacknowledged (2 of
    /// 283 in `scripts/ack_race.py`, BENCHMARKS.md section 11; 0 of 280 made one at a
    /// time). `None` where it is not needed.
    pub fn connecting(&self) -> Option<MutexGuard<'_, ()>> {
        (self.late_after() != Late::Never && lock(&self.opening).watched_from_start())
            .then(|| lock(&self.connect_lock))
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
        if note.is_none() && wait.is_none() {
            return;
        }
        let mut news = lock(&self.news);
        news.0.extend(note);
        news.1.extend(wait);
        drop(news);
        self.news_ready.notify_one();
    }

    /// The most requests that were in flight at once.
    pub fn peak(&self) -> usize {
        lock(&self.requests).peak
    }

    /// How often the requests in flight were lowered for a refusal.
    pub fn times_lowered(&self) -> u32 {
        lock(&self.requests).lowered
    }

    /// Connections that came up.
    pub fn connections(&self) -> u32 {
        lock(&self.opening).came_up
    }

    /// Connection attempts abandoned as late and made again.
    pub fn late_connects(&self) -> u32 {
        lock(&self.opening).late
    }
}

/// When a connection attempt is late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Late {
    /// Never: `--pace off`, or TLS; `--connect-timeout` alone limits it.
    Never,
    /// Nothing says yet (a far server, before any attempt came up): ask again soon.
    NotYet,
    /// Once pending this long.
    After(Duration),
}

/// One admitted request, in flight until dropped.
#[derive(Debug)]
pub struct Ticket<'a> {
    pace: &'a Pace,
    /// The episode of refusals it was admitted in.
    epoch: u64,
}

impl Ticket<'_> {
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
        let mut requests = lock(&pace.requests);
        let probing = requests.probing();
        let told = requests.answered(Instant::now(), self.epoch, status, retry_after);
        let gave_up = requests.refused().is_some();
        drop(requests);
        if gave_up && !pace.given_up.is_cancelled() {
            pace.given_up.cancel();
            pace.wake_all_admit();
        } else if probing {
            // The probe's answer: the others may go.
            pace.wake_all_admit();
        }
        pace.tell(told.note, told.wait);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut requests = lock(&self.pace.requests);
        let probing = requests.probing();
        requests.done(self.epoch);
        drop(requests);
        if probing {
            self.pace.wake_all_admit();
        } else {
            self.pace.wake_one_admit();
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
        OpenSlot {
            pace,
            epoch,
            started: Instant::now(),
            ended: false,
        }
    }

    /// How long the attempt has been pending.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The attempt starts now: a wait before it (for [`Pace::connecting`]'s lock) is
    /// no part of how long a connect takes.
    pub fn start_now(&mut self) {
        self.started = Instant::now();
    }

    /// The connection came up.
    pub fn came_up(mut self) {
        self.ended = true;
        lock(&self.pace.opening).came_up(self.started.elapsed());
        lock(&self.pace.requests).connection_up();
        self.pace.wake_one_open();
    }

    /// The attempt was late and is abandoned; the caller makes it again.
    pub fn late(mut self) {
        self.ended = true;
        let took = self.started.elapsed();
        let narrowed = lock(&self.pace.opening).late(self.epoch, took);
        self.pace.wake_one_open();
        if let Some(narrowed) = narrowed {
            let before = narrowed
                .before
                .map_or_else(|| "all at once".to_string(), |n| format!("{n} at once"));
            self.pace.tell(
                Some(format!(
                    "pace: a connection was not up after {:.1} ms (its handshake dropped by a full listen queue): opening it again, and at most {} at once (was {before})",
                    narrowed.took.as_secs_f64() * 1000.0,
                    narrowed.after
                )),
                None,
            );
        }
    }
}

impl Drop for OpenSlot<'_> {
    fn drop(&mut self) {
        if !self.ended {
            lock(&self.pace.opening).failed();
            self.pace.wake_one_open();
        }
    }
}
