//! How fast a run goes at a server: `-m` is a ceiling, not an order. Shared by every mode.
//!
//! Two windows, after TCP's congestion control:
//!
//! - **New connections** are opened as the server shows it can take them. The servers the
//!   book has its readers run (`python3 -m http.server`, `slow_server.py`) queue only 5
//!   pending connections; opening 100 at once overflows that queue, the kernel drops the
//!   handshakes it has no room for, and each waits out TCP's retransmission (1 s, 2 s, …).
//!   So at most [`Pace::open`]'s window of connections are being opened at once; it starts
//!   small and grows by one with every connection that comes up promptly (doubling, as
//!   slow start does), and halves when one is late compared with the others. A late one is
//!   abandoned and opened again at once, rather than waiting for the kernel's
//!   retransmission. A server that keeps connections alive (nginx, flags-dl's own) opens
//!   them once, in a few milliseconds, and pays nothing more.
//! - **Requests in flight** start at the ceiling (`-m`). A 429 or 503 from the server
//!   halves them for every request, not only the one refused (multiplicative decrease),
//!   and holds every new request until the wait the server asked for (`Retry-After`) has
//!   passed; each answer that is not a refusal then adds back a fraction (additive
//!   increase, one request per window of answers). Refusals to requests sent before the
//!   decrease don't decrease it again: one episode, one halving.
//!
//! The server's asked waits are counted: once the run would wait more than `--max-wait` in
//! all, it gives up on the server ([`Refused`]), and every request not yet sent ends at
//! once, rather than a rate limit that always asks for 60 s keeping a run going for hours.
//!
//! What happened is kept for the report: the most requests in flight, how often the pace
//! was lowered, a note for `-v` each time it was, and each wait the server asked for
//! ([`ServerWait`], shown without `-v`).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Connections being opened at once at the start.
const FIRST_OPEN_WINDOW: f64 = 4.0;

/// The open window never halves below this, so that one connection's hold never makes
/// the next wait.
const MIN_OPEN_WINDOW: f64 = 2.0;

/// How much the open window grows per prompt connection while it has not yet been late:
/// 1 doubles it each round, as slow start does; less grows it more gently.
const OPEN_GROWTH: f64 = 0.25;

/// A connection counts as being opened for this long after it came up, so that a burst of
/// handshakes the kernel completes at once cannot fill a server's queue faster than the
/// server takes connections from it. Only once a connection has been late: a server whose
/// queue never overflowed (nginx, flags-dl's own) pays nothing for it.
const HOLD_AFTER_CONNECT: Duration = Duration::from_millis(1);

/// How long a connection counts as opening after it came up, before the server's first
/// answer (see [`Pace::connected`]). `slow_server.py` answers its first after 0.5 s at
/// least: held this long, 4 connections at a time growing by a quarter each, its 200 are
/// open within about 0.3 s (measured: 5.2 -> 5.37 s for its 194 flags at `-m 200`).
const FIRST_HOLD: Duration = Duration::from_millis(20);

/// A connection attempt is late when it takes longer than this many times the slowest
/// prompt one so far, and at least [`LATE_FLOOR`]: on loopback a handshake takes tens of
/// microseconds, through 50 ms of round trip 50 ms, and a dropped one at least 1 s.
const LATE_FACTOR: u32 = 4;
const LATE_FLOOR: Duration = Duration::from_millis(25);

/// Answers that start within this are prompt: the server works rather than waits
/// (`slow_server.py` waits at least 500 ms before each answer).
const PROMPT_ANSWER: Duration = Duration::from_millis(300);

/// How many connections may wait in the server behind the one it is answering, as TCP
/// Vegas estimates them from round trips (see [`Pace::answered`]): past this, the window
/// of connections counted until answered shrinks, down to [`MIN_COUNTED_WINDOW`]. One:
/// the server has its next request ready when it finishes one, and no more.
///
/// `python3 -m http.server` answers one request at a time (its GIL), and burns more CPU
/// the more threads it runs at once: 101-117 ms for 194 flags one at a time, 141 at
/// two, 155-179 at `-m 100` with a limit of 2 and a floor of 2. Measured at `-m 100`
/// (`scripts/ab.py 31`, twice, medians): limit 2 and floor 2 170 ms, limit 1 and floor 1
/// 159.5, limit 0.5 and floor 1 155, flags-dl's sequential mode 152, curl -Z 167.5. A
/// limit below 1 was left: a little faster here, it would shrink the window on the
/// jitter of a real network.
const QUEUED_LIMIT: f64 = 1.0;

/// The window of connections counted until answered shrinks no lower than this.
const MIN_COUNTED_WINDOW: f64 = 1.0;

/// How far past `--max-wait` the waits may add up before the run gives up: requests
/// refused a moment apart each extend the pause by that moment, and three asked waits of
/// 1 s must fit `--max-wait 3`.
const MAX_WAIT_SLACK: Duration = Duration::from_millis(50);

/// The wait after a 429 or 503 that gave no `Retry-After`: the retry policy's first wait.
const DEFAULT_PAUSE: Duration = Duration::from_millis(100);

/// What a server that refused with `Retry-After` takes per period: as many requests as it
/// answered in the period before it refused, per `Retry-After`. A fixed window of N
/// requests per second, the usual rate limit, then refuses none of the next periods; each
/// period that uses its whole budget without a refusal raises it by one (additive
/// increase), and a refusal sets it to what was answered (decrease).
#[derive(Debug, Clone, Copy)]
struct Budget {
    per_period: usize,
    period: Duration,
    period_start: Instant,
    started: usize,
}

/// The run began to wait because the server asked it to, or gave up on waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerWait {
    /// The status that asked: 429 or 503.
    pub status: u16,
    /// How long the run now waits (the server's `Retry-After`, or a short pause without).
    pub wait: Duration,
    /// What the run has waited in all, this wait included.
    pub waited: Duration,
    /// `--max-wait`.
    pub max_wait: Duration,
    /// This wait is past `--max-wait`: the run gives up instead of waiting.
    pub gave_up: bool,
}

/// The run gave up on the server: what every request not yet sent ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The status that asked for the wait past `--max-wait`.
    pub status: u16,
    /// The wait it asked for.
    pub asked: Duration,
    /// What the run had waited in all.
    pub waited: Duration,
    pub max_wait: Duration,
}

/// The pace of one run against its server.
#[derive(Debug)]
pub struct Pace {
    /// `-m`, as the run decided it.
    ceiling: usize,
    /// `--max-wait`: the most the run waits in all when the server asks.
    max_wait: Duration,
    /// Cancelled when the run gives up on the server, to end the retries' waits too.
    given_up: CancellationToken,
    state: Mutex<State>,
    /// Wakes async waiters for a request slot: one per slot freed, so that hundreds of
    /// waiting tasks are not all woken for each (the semaphore this replaced woke one).
    admit_notify: Notify,
    /// Wakes async waiters for a connection slot: one per slot freed, or all of them once
    /// connections are held (see [`HOLD_AFTER_CONNECT`]), since then each waiter must time
    /// the end of a hold for itself.
    open_notify: Notify,
    /// Wakes the driver when a note or a wait is there to show.
    news: Notify,
    /// The same for blocking waiters.
    admit_changed: Condvar,
    open_changed: Condvar,
}

#[derive(Debug)]
struct State {
    /// Requests allowed in flight (fractional, for additive increase).
    window: f64,
    in_flight: usize,
    /// No request starts before this.
    paused_until: Option<Instant>,
    /// Bumped at each decrease: a refusal to a request sent before it is the same episode.
    epoch: u64,
    /// How often the requests in flight were lowered.
    lowered: u32,
    /// The most requests in flight at once.
    peak: usize,
    /// How long answers take to start, smoothed: prompt answers mean that fewer requests
    /// in flight cost nothing (Little's law), slow ones that they would.
    answer_time: Option<Duration>,
    /// One request goes alone until its connection is up and pooled (or it is answered,
    /// or fails):
    /// a server that speaks HTTP/2 then carries the others as streams of that one
    /// connection, rather than each request opening its own before anyone knows.
    probing: bool,
    /// The probe's connection came up.
    probe_up: bool,
    /// An answer came on a connection the server keeps open.
    keeps_alive: bool,
    /// Whether an answer came promptly after its connection came up: the server works
    /// rather than waits before it answers (see [`Pace::answer_after_connect`]).
    answers_promptly: Option<bool>,
    /// Requests admitted before the last decrease and not yet done: against a server
    /// that closes each connection, most of them are still waiting for a connection, and
    /// go out after the pause, in the next period.
    stale_in_flight: usize,
    /// Answers other than refusals since the current period began.
    answered_in_period: usize,
    /// Requests a rate-limited server takes per period, once it has said so.
    budget: Option<Budget>,

    /// Connections allowed to be opening at once.
    open_window: f64,
    /// Above this, the open window grows by a fraction per prompt connection, not by one.
    open_threshold: f64,
    /// Attempts under way.
    opening: usize,
    /// Connections that came up and whose answer has not begun, to a server not known
    /// to keep its connections: they count as opening only while
    /// [`State::counts_until_answered`] holds (see [`Pace::connected`]).
    unanswered: usize,
    /// The quickest of their answers, from the connection up to the answer's head.
    quickest_answer: Option<Duration>,
    /// When each connection that came up recently stops counting as opening, oldest first.
    held: VecDeque<Instant>,
    /// How long connections take to come up, smoothed as TCP smooths its round trip
    /// (7/8 of the old, 1/8 of the new). Not the slowest: one that came up only after
    /// TCP sent its handshake again (1 s) would make every later one wait 4 s to be late.
    connect_time: Option<Duration>,
    /// Connection attempts abandoned as late.
    late: u32,
    /// Connections that came up.
    opened: u32,
    /// Bumped at each halving of the open window: attempts started before it were part of
    /// the same burst, and their lateness is the same news.
    open_epoch: u64,

    /// Lines for `-v`, taken by the reporter.
    notes: Vec<String>,
    /// Waits the server asked for, to show as they begin (see [`Pace::take_news`]).
    waits: Vec<ServerWait>,
    /// The time the run has been held by the server's asked waits, in all.
    waited: Duration,
    /// Set once the run has given up on the server.
    refused: Option<Refused>,
}

impl State {
    /// Whether connections count as opening until their answer begins (see
    /// [`Pace::connected`]): the server closes each one and answers promptly.
    fn counts_until_answered(&self) -> bool {
        !self.keeps_alive && self.answers_promptly == Some(true)
    }
}

impl Pace {
    /// The pace of a run of at most `ceiling` requests in flight that waits at most
    /// `max_wait` in all when the server asks it to.
    pub fn new(ceiling: usize, max_wait: Duration) -> Pace {
        let ceiling = ceiling.max(1);
        Pace {
            ceiling,
            max_wait,
            given_up: CancellationToken::new(),
            state: Mutex::new(State {
                window: ceiling as f64,
                in_flight: 0,
                paused_until: None,
                epoch: 0,
                lowered: 0,
                peak: 0,
                answer_time: None,
                probing: false,
                probe_up: false,
                keeps_alive: false,
                answers_promptly: None,
                stale_in_flight: 0,
                answered_in_period: 0,
                budget: None,
                // Not capped by -m: even one request at a time must not wait out
                // HOLD_AFTER_CONNECT between connections (an HTTP/1.0 server needs a new
                // one per request).
                open_window: FIRST_OPEN_WINDOW,
                open_threshold: ceiling as f64,
                opening: 0,
                unanswered: 0,
                quickest_answer: None,
                held: VecDeque::new(),
                connect_time: None,
                late: 0,
                opened: 0,
                open_epoch: 0,
                notes: Vec::new(),
                waits: Vec::new(),
                waited: Duration::ZERO,
                refused: None,
            }),
            admit_notify: Notify::new(),
            open_notify: Notify::new(),
            news: Notify::new(),
            admit_changed: Condvar::new(),
            open_changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One request slot freed: one waiter may take it.
    fn wake_one_admit(&self) {
        self.admit_notify.notify_one();
        self.admit_changed.notify_one();
    }

    /// Admission may have changed for everyone (the probe answered).
    fn wake_all_admit(&self) {
        self.admit_notify.notify_waiters();
        self.admit_changed.notify_all();
    }

    /// Wakes waiters for a connection slot: `slots` of them, or all (`None`).
    ///
    /// One per slot, not all: at `-m 200` against nginx, up to 196 tasks wait for a slot
    /// while the window grows, and waking each of them for every connection that came up
    /// (200 times) cost more than the connections (`--every -m 200`: 46 -> 68 ms).
    fn wake_open(&self, slots: Option<usize>) {
        match slots {
            None => {
                self.open_notify.notify_waiters();
                self.open_changed.notify_all();
            }
            Some(slots) => {
                for _ in 0..slots {
                    self.open_notify.notify_one();
                    self.open_changed.notify_one();
                }
            }
        }
    }

    /// Sends the first request alone (see `probing`): for a server that may speak HTTP/2.
    pub fn probe_first(&self) {
        self.lock().probing = true;
    }

    /// The server answered on a connection it keeps open: it needs a connection per
    /// request in flight, opened once, not one per request. Until a connection is late,
    /// they are opened as fast as they come up, as they were before there was a pace:
    /// opening 200 of them 4 at a time made requests wait for a connection while others
    /// freed theirs, and hyper still finished the connections they no longer needed
    /// (about 400 connections for 676 requests at `-m 200` against nginx, 46 -> 68 ms).
    pub fn server_keeps_alive(&self) {
        let mut state = self.lock();
        if state.keeps_alive {
            return;
        }
        state.keeps_alive = true;
        if state.late == 0 {
            state.open_window = state.open_window.max(self.ceiling as f64);
            drop(state);
            self.wake_open(None);
        }
    }

    /// An answer began `took` after its connection came up: whether the server answers
    /// promptly. Prompt once one answer is: `slow_server.py` never is (0.5 s at least),
    /// and a first answer that a loaded machine delayed past [`PROMPT_ANSWER`] (seen with
    /// eight runs at once on two cores) would otherwise turn the counting off for the
    /// whole run, and open every connection at once. Never prompt again after that:
    /// later answers may have waited for our own pace's slots.
    pub fn answer_after_connect(&self, took: Duration) {
        let mut state = self.lock();
        if took < PROMPT_ANSWER {
            state.answers_promptly = Some(true);
        } else {
            state.answers_promptly.get_or_insert(false);
        }
    }

    /// Whether the first request still goes alone.
    pub fn probing(&self) -> bool {
        self.lock().probing
    }

    /// Ends the probe if its connection has come up: for the probe's own task to call
    /// once its request is sent, when the client has pooled that connection for the
    /// others to share.
    pub fn end_probe_if_up(&self) {
        let mut state = self.lock();
        if state.probing && state.probe_up {
            state.probing = false;
            drop(state);
            self.wake_all_admit();
        }
    }

    /// Waits until a request may start; it is in flight until the ticket is dropped. Once
    /// the run has given up on the server, none may: [`Refused`].
    pub async fn admit(&self) -> Result<Ticket<'_>, Refused> {
        loop {
            let notified = self.admit_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(refused) = self.refused() {
                return Err(refused);
            }
            let wait = match self.try_admit() {
                Ok(ticket) => return Ok(ticket),
                Err(wait) => wait,
            };
            match wait {
                Some(wait) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// [`Pace::admit`] for a blocking thread; `None` once `cancelled` says so.
    pub fn admit_blocking(
        &self,
        cancelled: impl Fn() -> bool,
    ) -> Option<Result<Ticket<'_>, Refused>> {
        // Woken at least this often to look at cancellation.
        let admitted =
            self.wait_blocking(&self.admit_changed, Duration::from_millis(50), |state| {
                if cancelled() {
                    return Ok(None);
                }
                if let Some(refused) = &state.refused {
                    return Ok(Some(Err(refused.clone())));
                }
                self.admit_locked(state).map(|epoch| Some(Ok(epoch)))
            })?;
        Some(admitted.map(|epoch| Ticket {
            pace: self,
            epoch,
            admitted: Instant::now(),
        }))
    }

    /// Why the run gave up on the server, if it did.
    pub fn refused(&self) -> Option<Refused> {
        self.lock().refused.clone()
    }

    /// Completes once the run gives up on the server: a retry's wait ends then.
    pub async fn given_up(&self) {
        self.given_up.cancelled().await;
    }

    /// Runs `attempt` under the lock until it gives a result, sleeping between tries as
    /// long as it says (`None`: until woken), at most `poll`, since a wake-up can come
    /// between the try and the wait.
    fn wait_blocking<T>(
        &self,
        changed: &Condvar,
        poll: Duration,
        mut attempt: impl FnMut(&mut State) -> Result<T, Option<Duration>>,
    ) -> T {
        let mut state = self.lock();
        loop {
            let wait = match attempt(&mut state) {
                Ok(done) => return done,
                Err(wait) => wait.unwrap_or(poll).min(poll),
            };
            state = changed
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Admits a request at once, for unit tests elsewhere that need a ticket.
    #[cfg(test)]
    pub fn try_admit_for_tests(&self) -> Ticket<'_> {
        self.try_admit().expect("room for a request")
    }

    fn try_admit(&self) -> Result<Ticket<'_>, Option<Duration>> {
        let epoch = self.admit_locked(&mut self.lock())?;
        Ok(Ticket {
            pace: self,
            epoch,
            admitted: Instant::now(),
        })
    }

    /// Admits one request, or says how long a pause has left (`None`: wait for a slot).
    fn admit_locked(&self, state: &mut State) -> Result<u64, Option<Duration>> {
        if let Some(until) = state.paused_until {
            let now = Instant::now();
            if now < until {
                return Err(Some(until - now));
            }
            state.paused_until = None;
        }
        // Against a server whose connections count until answered, requests past twice
        // what it may take would only wait for a connection, and be refused all together
        // by a rate limit that says so once they are all out.
        let usable = if state.counts_until_answered() {
            (2.0 * state.open_window) as usize
        } else {
            usize::MAX
        };
        if state.in_flight >= (state.window as usize).min(usable).max(1)
            || (state.probing && state.in_flight >= 1)
        {
            return Err(None);
        }
        if let Some(budget) = &mut state.budget {
            let now = Instant::now();
            if budget.started == 0 {
                // A period begins with its first request, as the server's window does,
                // and the requests held up by the pause go out in it too.
                budget.period_start = budget.period_start.max(now);
                budget.started = state.stale_in_flight;
            }
            let next = budget.period_start + budget.period;
            if now >= next {
                if budget.started >= budget.per_period {
                    budget.per_period += 1;
                }
                budget.period_start = now;
                budget.started = 0;
                state.answered_in_period = 0;
            } else if budget.started >= budget.per_period {
                return Err(Some(next - now));
            }
            budget.started += 1;
        }
        state.in_flight += 1;
        state.peak = state.peak.max(state.in_flight);
        Ok(state.epoch)
    }

    /// The server answered `status` to a request admitted with `ticket`; `retry_after` is
    /// its `Retry-After`, if any.
    pub fn on_answer(&self, ticket: &Ticket<'_>, status: u16, retry_after: Option<Duration>) {
        let mut state = self.lock();
        // Its answer proves the connection usable, if the grace after it came up has not
        // ended the probe already.
        if state.probing {
            state.probing = false;
            self.wake_all_admit();
        }
        if status == 429 || status == 503 {
            let wait = retry_after.unwrap_or(DEFAULT_PAUSE);
            let now = Instant::now();
            let until = now + wait;
            // The run is held until the later of the two: only what this wait adds to a
            // pause already under way counts as more waiting.
            let held = state.paused_until.filter(|&u| u > now).unwrap_or(now);
            let more = until.saturating_duration_since(held);
            if state.waited + more > self.max_wait + MAX_WAIT_SLACK {
                self.give_up(&mut state, status, wait);
                return;
            }
            state.waited += more;
            // The run starts to wait, rather than wait a moment longer.
            let starts = held == now;
            let until = state.paused_until.map_or(until, |u| u.max(until));
            state.paused_until = Some(until);
            if starts {
                let waited = state.waited;
                self.news.notify_one();
                state.waits.push(ServerWait {
                    status,
                    wait,
                    waited,
                    max_wait: self.max_wait,
                    gave_up: false,
                });
            }
            if ticket.epoch == state.epoch {
                if let Some(asked) = retry_after.filter(|p| !p.is_zero()) {
                    // A rate limit: what it answered this period is what it takes. A
                    // period that straddled two of the server's windows answered less than
                    // the server takes: never lower by more than half.
                    let answered = state.answered_in_period.max(1);
                    let per_period = match state.budget {
                        Some(budget) => answered.max(budget.per_period / 2),
                        None => answered,
                    };
                    state.budget = Some(Budget {
                        per_period,
                        // Our periods start a little before the server's do (its clock
                        // starts when our first request arrives): stay clear of its edge.
                        period: asked + asked / 20,
                        period_start: until,
                        started: 0,
                    });
                    state.answered_in_period = 0;
                }
                let before = state.window as usize;
                state.window = (state.window / 2.0).max(1.0);
                state.epoch += 1;
                state.lowered += 1;
                // All but this one, whose ticket is dropped once it is read.
                state.stale_in_flight = state.in_flight.saturating_sub(1);
                let after = state.window as usize;
                let budget = state
                    .budget
                    .map(|b| {
                        format!(
                            ", then at most {} per {:.1} s",
                            b.per_period,
                            b.period.as_secs_f64()
                        )
                    })
                    .unwrap_or_default();
                self.news.notify_one();
                state.notes.push(format!(
                    "pace: HTTP {status} from the server: {before} -> {after} requests in flight, all waiting {:.1} s{}{budget}",
                    wait.as_secs_f64(),
                    if retry_after.is_some() { " as asked" } else { "" }
                ));
            }
        } else {
            if state.answer_time.is_none() && !state.held.is_empty() {
                // The first answer: what the connections were held for is known now.
                state.held.clear();
                self.wake_open(None);
            }
            let took = ticket.admitted.elapsed();
            state.answer_time = Some(state.answer_time.map_or(took, |t| (t * 7 + took) / 8));
            state.answered_in_period += 1;
            if state.window < self.ceiling as f64 {
                state.window = (state.window + 1.0 / state.window).min(self.ceiling as f64);
            }
        }
    }

    /// The server asks for a wait past `--max-wait`: every request not yet sent is refused,
    /// and the waits for a slot or a retry end at once.
    fn give_up(&self, state: &mut State, status: u16, asked: Duration) {
        if state.refused.is_some() {
            return;
        }
        state.refused = Some(Refused {
            status,
            asked,
            waited: state.waited,
            max_wait: self.max_wait,
        });
        state.paused_until = None;
        let waited = state.waited;
        self.news.notify_one();
        state.waits.push(ServerWait {
            status,
            wait: asked,
            waited,
            max_wait: self.max_wait,
            gave_up: true,
        });
        self.given_up.cancel();
        self.wake_all_admit();
        self.wake_open(None);
    }

    /// Waits until a new connection may be opened; it counts as opening until the slot is
    /// given back with [`OpenSlot::came_up`] or [`OpenSlot::late`] (or dropped).
    pub async fn open(&self) -> OpenSlot<'_> {
        loop {
            let notified = self.open_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_open() {
                Ok(slot) => return slot,
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

    /// [`Pace::open`] for a blocking thread.
    pub fn open_blocking(&self) -> OpenSlot<'_> {
        let epoch = self.wait_blocking(
            &self.open_changed,
            Duration::from_millis(5),
            Self::open_locked,
        );
        OpenSlot::new(self, epoch)
    }

    fn try_open(&self) -> Result<OpenSlot<'_>, Option<Duration>> {
        let epoch = Self::open_locked(&mut self.lock())?;
        Ok(OpenSlot::new(self, epoch))
    }

    /// Takes an opening slot, or says when the next held one frees (`None`: when an attempt
    /// under way ends).
    fn open_locked(state: &mut State) -> Result<u64, Option<Duration>> {
        let now = Instant::now();
        // A request admitted before a refusal, still waiting for its connection, waits
        // out the pause too: against a server that closes each connection (HTTP/1.0),
        // most requests in flight are such, and would all be refused.
        if let Some(until) = state.paused_until.filter(|&until| until > now) {
            return Err(Some(until - now));
        }
        while state.held.front().is_some_and(|&until| until <= now) {
            state.held.pop_front();
        }
        let unanswered = if state.counts_until_answered() {
            state.unanswered
        } else {
            0
        };
        if state.opening + state.held.len() + unanswered < (state.open_window as usize).max(1) {
            state.opening += 1;
            return Ok(state.open_epoch);
        }
        Err(state.held.front().map(|&until| until - now))
    }

    /// How long a connection attempt may take before it counts as late; `None` until one
    /// has come up, as there is nothing yet to compare with (a server across the world
    /// takes hundreds of milliseconds for every handshake).
    pub fn late_after(&self) -> Option<Duration> {
        let typical = self.lock().connect_time?;
        Some((typical * LATE_FACTOR).max(LATE_FLOOR))
    }

    fn connected(&self, took: Duration) -> bool {
        let mut state = self.lock();
        state.opening -= 1;
        state.opened += 1;
        state.probe_up |= state.probing;
        // A server that closes each connection and answers promptly (`python3 -m
        // http.server`, scripts/ratelimit_server.py): its listen queue holds the
        // connections that came up and that it has not yet taken, which only an answer
        // shows it has. Counted as opening until then, the window caps them, and the
        // requests in flight grow as the server takes them, not all at once.
        let until_answered = state.counts_until_answered();
        // Until an answer shows the server is one, counted too, in case: the connections
        // it has not yet taken when that answer comes count from then on. Not counting
        // them opened a window's worth of new connections on top of those still in its
        // queue, and overflowed it (a handshake lost in most runs against `http.server`,
        // about 6 ms into the run).
        let tracked = !state.keeps_alive;
        if tracked {
            state.unanswered += 1;
        }
        // Held only once a connection has been late: a server whose queue never overflowed
        // (nginx, flags-dl's own) opens its connections as fast as they come up. Before
        // the first answer says what kind of server it is, until that answer or for
        // [`FIRST_HOLD`], so that a server that takes one connection at a time is not
        // sent dozens in its first millisecond.
        let first = state.answer_time.is_none() && !state.keeps_alive;
        let held = (state.late > 0 || first) && !until_answered;
        if held {
            let hold = if first {
                FIRST_HOLD
            } else {
                HOLD_AFTER_CONNECT
            };
            state.held.push_back(Instant::now() + hold);
        }
        let window_before = state.open_window as usize;
        state.connect_time = Some(state.connect_time.map_or(took, |t| (t * 7 + took) / 8));
        let ceiling = (self.ceiling as f64).max(FIRST_OPEN_WINDOW);
        // A connection counted until answered grows the window by its answer instead
        // (see `answered`): that it came up says nothing of the server's queue.
        if !until_answered {
            state.open_window = if state.open_window < state.open_threshold {
                state.open_window + OPEN_GROWTH
            } else {
                state.open_window + 1.0 / state.open_window
            }
            .min(ceiling);
        }
        let grown = (state.open_window as usize).saturating_sub(window_before);
        drop(state);
        // Waiters that found no slot, and no held one, wait for a wake-up: now there is a
        // held slot whose end they can wait for, or a free one, and maybe a larger window.
        self.wake_open((!held).then_some(usize::from(!until_answered) + grown));
        tracked
    }

    /// A connection counted as opening until its answer (see [`Pace::connected`]) will
    /// not be answered.
    fn not_answered(&self) {
        let mut state = self.lock();
        state.unanswered -= 1;
        let counted = state.counts_until_answered();
        drop(state);
        if counted {
            self.wake_open(Some(1));
        }
    }

    /// A connection counted as opening until its answer (see [`Pace::connected`]) was
    /// answered, `took` after it came up.
    fn answered(&self, took: Duration) {
        let mut state = self.lock();
        state.unanswered -= 1;
        if !state.counts_until_answered() {
            // Counted in case (see `connected`), but the server keeps its connections
            // open, or takes its time to answer.
            return;
        }
        // As TCP Vegas reads queueing from round trips: the quickest answer is the
        // server's own time, and with `w` connections at a time answers taking `took`,
        // `w * (1 - quickest / took)` of them were waiting behind others in the server
        // rather than being worked on. Keep that to a few: more only wait in its listen
        // queue, and overflow it.
        let quickest = state.quickest_answer.map_or(took, |q| q.min(took));
        state.quickest_answer = Some(quickest);
        let before = state.open_window as usize;
        let window = state.open_window;
        let queued = window * (1.0 - quickest.as_secs_f64() / took.as_secs_f64().max(1e-9));
        state.open_window = if queued > QUEUED_LIMIT {
            (window - 1.0 / window).max(MIN_COUNTED_WINDOW)
        } else {
            (window + 1.0 / window).min((self.ceiling as f64).max(FIRST_OPEN_WINDOW))
        };
        let grown = (state.open_window as usize).saturating_sub(before);
        drop(state);
        self.wake_open(Some(1 + grown));
        // More requests may be in flight (see `admit_locked`).
        for _ in 0..2 * grown {
            self.wake_one_admit();
        }
    }

    /// How long a request may wait for the first byte of its answer before it counts as
    /// late compared with the others (see [`AnswerWatch`]).
    pub fn answer_watch(&self) -> AnswerWatch {
        let state = self.lock();
        match (state.answers_promptly, state.answer_time) {
            _ if state.keeps_alive => AnswerWatch::Never,
            (Some(true), Some(typical)) => {
                AnswerWatch::After((typical * LATE_FACTOR).max(LATE_FLOOR))
            }
            (Some(_), _) => AnswerWatch::Never,
            (None, _) => AnswerWatch::NotYet,
        }
    }

    /// The epoch of the open window, for [`Pace::answer_was_late`]: lateness seen by
    /// requests sent before a halving is news of the same burst.
    pub fn open_epoch(&self) -> u64 {
        self.lock().open_epoch
    }

    /// A request's answer was late (see [`AnswerWatch`]) and is abandoned: its
    /// connection is as good as one that never came up, and counts as such.
    pub fn answer_was_late(&self, took: Duration, epoch: u64) {
        self.was_late(Late::Answer, took, epoch);
    }

    fn connect_was_late(&self, took: Duration, epoch: u64) {
        self.was_late(Late::Connect, took, epoch);
    }

    fn was_late(&self, what: Late, took: Duration, epoch: u64) {
        let mut state = self.lock();
        state.late += 1;
        if epoch != state.open_epoch {
            return;
        }
        state.open_epoch += 1;
        let before = state.open_window as usize;
        state.open_window = (state.open_window / 2.0).max(MIN_OPEN_WINDOW);
        state.open_threshold = state.open_window;
        let after = state.open_window as usize;
        // Answers come back promptly: the server is busy, not slow, and requests queued in
        // its listen queue gain nothing. Fewer in flight (a server like `http.server`
        // answers as fast with 6 as with 100), as TCP halves its window on a loss. Where
        // answers are slow (`slow_server.py`), every request in flight is worth keeping.
        if state.answer_time.is_some_and(|t| t < PROMPT_ANSWER) {
            let before = state.window as usize;
            state.window = (state.window / 2.0).max(FIRST_OPEN_WINDOW);
            let lowered = state.window as usize;
            if lowered != before {
                self.news.notify_one();
                state.notes.push(format!(
                    "pace: the server's listen queue overflowed while it answers promptly: {before} -> {lowered} requests in flight"
                ));
            }
        }
        if before != after {
            let what = match what {
                Late::Connect => "a connection took {} ms to come up",
                Late::Answer => "an answer had not begun after {} ms",
            }
            .replace("{}", &took.as_millis().to_string());
            self.news.notify_one();
            state.notes.push(format!(
                "pace: {what}: sending it again on a new connection, and opening at most {after} at once (was {before})"
            ));
        }
    }

    fn release_open(&self) {
        self.lock().opening -= 1;
        self.wake_open(Some(1));
    }

    /// The most requests that were in flight at once.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    /// How often the requests in flight were lowered for a refusal.
    pub fn times_lowered(&self) -> u32 {
        self.lock().lowered
    }

    /// Connections that came up.
    pub fn connections(&self) -> u32 {
        self.lock().opened
    }

    /// Connection attempts abandoned as late and opened again.
    pub fn late_connects(&self) -> u32 {
        self.lock().late
    }

    /// Completes when there may be news to take (see [`Pace::take_news`]).
    pub async fn news(&self) {
        self.news.notified().await;
    }

    /// The `-v` notes and the server's waits since the last call.
    pub fn take_news(&self) -> (Vec<String>, Vec<ServerWait>) {
        let mut state = self.lock();
        (
            std::mem::take(&mut state.notes),
            std::mem::take(&mut state.waits),
        )
    }
}

/// What was late.
#[derive(Debug, Clone, Copy)]
enum Late {
    Connect,
    Answer,
}

/// Whether a request's wait for its answer can be late, and after how long.
///
/// A server whose listen queue overflowed may drop the last packet of a handshake rather
/// than the first: the client then takes the connection as up and sends its request,
/// which the server never sees until TCP sends its part again a second or more later.
/// That looks like a prompt connection with an answer that never comes. Against a
/// server that answers promptly and closes each connection (`python3 -m http.server`),
/// an answer that has not begun after [`LATE_FACTOR`] times the typical one is such
/// a one, and is sent again at once on a new connection, as a late connection attempt
/// is. A server that keeps connections alive opens each once (its queue is not the
/// risk), and one that thinks before it answers (`slow_server.py`: 0.5-5 s) cannot be
/// told from a dropped packet, so neither is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerWatch {
    /// Never late.
    Never,
    /// No answer yet to compare with: look again later.
    NotYet,
    /// Late after this long.
    After(Duration),
}

/// One admitted request, in flight until dropped.
#[derive(Debug)]
pub struct Ticket<'a> {
    pace: &'a Pace,
    admitted: Instant,
    /// The decrease epoch it was admitted in.
    epoch: u64,
}

impl Ticket<'_> {
    /// Whether this is the probe's request: while the probe runs, it is the only one
    /// admitted.
    pub fn probe(&self) -> bool {
        self.pace.probing()
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut state = self.pace.lock();
        state.in_flight -= 1;
        if self.epoch < state.epoch {
            state.stale_in_flight = state.stale_in_flight.saturating_sub(1);
        }
        // A probe that got no answer (refused, timed out) has taught nothing to wait for.
        let probing = std::mem::take(&mut state.probing);
        drop(state);
        if probing {
            self.pace.wake_all_admit();
        } else {
            self.pace.wake_one_admit();
        }
    }
}

/// A connection that came up and counts as opening until its request's answer begins
/// (see [`OpenSlot::came_up`]); dropping it says so.
#[derive(Debug)]
pub struct AnswerSlot {
    pace: Arc<Pace>,
    up: Instant,
    answered: bool,
}

impl AnswerSlot {
    /// No answer will begin on this connection (its request failed, or no request was
    /// waiting for it): it no longer counts, but how long it took says nothing of the
    /// server's queue. Timed as answers, an error in a millisecond would be the quickest
    /// answer, and every real one would look queued behind others.
    pub fn unanswered(mut self) {
        self.answered = false;
    }
}

impl Drop for AnswerSlot {
    fn drop(&mut self) {
        if self.answered {
            self.pace.answered(self.up.elapsed());
        } else {
            self.pace.not_answered();
        }
    }
}

/// One connection being opened.
#[derive(Debug)]
pub struct OpenSlot<'a> {
    pace: &'a Pace,
    epoch: u64,
    started: Instant,
    done: bool,
}

impl<'a> OpenSlot<'a> {
    fn new(pace: &'a Pace, epoch: u64) -> OpenSlot<'a> {
        OpenSlot {
            pace,
            epoch,
            started: Instant::now(),
            done: false,
        }
    }

    /// The connection came up: the window grows, and the slot frees at once, a moment
    /// later (see [`HOLD_AFTER_CONNECT`]), or, against a server that closes each
    /// connection and answers promptly, once its answer begins. Unless the server is
    /// known to keep its connections, `pace` gives an [`AnswerSlot`] to keep until the
    /// answer begins, or to give back with [`AnswerSlot::unanswered`].
    pub fn came_up(mut self, pace: &Arc<Pace>) -> Option<AnswerSlot> {
        debug_assert!(
            std::ptr::eq(Arc::as_ptr(pace), self.pace),
            "the slot's own pace"
        );
        self.done = true;
        self.pace
            .connected(self.started.elapsed())
            .then(|| AnswerSlot {
                pace: pace.clone(),
                up: Instant::now(),
                answered: true,
            })
    }

    /// The attempt was late and is abandoned: the window halves.
    pub fn late(mut self) {
        self.done = true;
        self.pace
            .connect_was_late(self.started.elapsed(), self.epoch);
        self.pace.release_open();
    }
}

impl Drop for OpenSlot<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Failed for another reason (refused, timed out for good): not a sign of pace.
            self.pace.release_open();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--max-wait`'s default.
    const MAX_WAIT: Duration = Duration::from_secs(60);

    #[test]
    fn a_refusal_halves_the_window_once_per_episode_and_pauses_everyone() {
        let pace = Pace::new(8, MAX_WAIT);
        let tickets: Vec<_> = (0..8).map(|_| pace.try_admit().unwrap()).collect();
        assert!(pace.try_admit().is_err(), "the ceiling holds");
        for ticket in &tickets {
            pace.on_answer(ticket, 429, Some(Duration::from_secs(1)));
        }
        assert_eq!(pace.times_lowered(), 1);
        drop(tickets);
        let wait = pace.try_admit().unwrap_err().expect("paused");
        assert!(wait > Duration::from_millis(900), "{wait:?}");
        assert_eq!(pace.lock().window as usize, 4);
        assert_eq!(pace.take_news().0.len(), 1);
    }

    #[test]
    fn the_run_gives_up_once_the_server_asks_for_more_than_max_wait_in_all() {
        let pace = Pace::new(8, Duration::from_secs(3));
        let ticket = pace.try_admit().unwrap();
        pace.on_answer(&ticket, 429, Some(Duration::from_secs(2)));
        let (_, waits) = pace.take_news();
        assert_eq!(waits.len(), 1, "the wait is told as it begins");
        assert!(!waits[0].gave_up && waits[0].waited == Duration::from_secs(2));
        // Asked again within the pause: only what it adds counts (about nothing).
        pace.on_answer(&ticket, 429, Some(Duration::from_secs(2)));
        assert!(pace.refused().is_none(), "2 s of 3 waited");
        pace.on_answer(&ticket, 503, Some(Duration::from_secs(5)));
        let refused = pace.refused().expect("5 s more is past 3 s in all");
        assert_eq!(
            (refused.status, refused.asked),
            (503, Duration::from_secs(5))
        );
        assert!(pace.take_news().1.iter().any(|w| w.gave_up));
        drop(ticket);
        assert!(matches!(pace.admit_blocking(|| false), Some(Err(_))));
        assert!(
            pace.lock().paused_until.is_none(),
            "no one waits any longer"
        );
    }

    #[test]
    fn a_rate_limit_is_learned_as_a_budget_per_period() {
        let pace = Pace::new(8, MAX_WAIT);
        for _ in 0..3 {
            let ticket = pace.try_admit().unwrap();
            pace.on_answer(&ticket, 200, None);
        }
        let refused = pace.try_admit().unwrap();
        pace.on_answer(&refused, 429, Some(Duration::from_secs(1)));
        drop(refused);
        let mut state = pace.lock();
        state.paused_until = None;
        let budget = state.budget.as_mut().unwrap();
        assert_eq!(budget.per_period, 3);
        budget.period_start = Instant::now();
        drop(state);
        let admitted: Vec<_> = (0..3).map(|_| pace.try_admit().unwrap()).collect();
        let wait = pace.try_admit().unwrap_err().expect("the budget is spent");
        assert!(wait > Duration::from_millis(900), "{wait:?}");
        drop(admitted);
    }

    #[test]
    fn the_probe_goes_alone_until_its_connection_is_up() {
        let pace = Arc::new(Pace::new(8, MAX_WAIT));
        pace.probe_first();
        let probe = pace.try_admit().unwrap();
        assert!(probe.probe());
        assert!(pace.try_admit().is_err(), "the others wait for the probe");
        pace.end_probe_if_up();
        assert!(pace.try_admit().is_err(), "its connection is not up yet");
        pace.try_open().unwrap().came_up(&pace);
        pace.end_probe_if_up();
        let other = pace.try_admit().expect("the probe's connection is up");
        assert!(!other.probe());
    }

    #[test]
    fn only_a_prompt_server_that_closes_its_connections_has_late_answers() {
        let pace = Pace::new(8, MAX_WAIT);
        assert_eq!(
            pace.answer_watch(),
            AnswerWatch::NotYet,
            "nothing to compare with"
        );
        let ticket = pace.try_admit().unwrap();
        pace.on_answer(&ticket, 200, None);
        pace.answer_after_connect(Duration::from_millis(1));
        assert!(
            matches!(pace.answer_watch(), AnswerWatch::After(late) if late >= LATE_FLOOR),
            "{:?}",
            pace.answer_watch()
        );
        pace.server_keeps_alive();
        assert_eq!(
            pace.answer_watch(),
            AnswerWatch::Never,
            "keeps its connections"
        );

        let thinking = Pace::new(8, MAX_WAIT);
        thinking.lock().answers_promptly = Some(false);
        assert_eq!(
            thinking.answer_watch(),
            AnswerWatch::Never,
            "slow_server.py"
        );
    }

    #[test]
    fn a_closing_prompt_server_counts_connections_until_answered() {
        let pace = Arc::new(Pace::new(100, MAX_WAIT));
        let ticket = pace.try_admit().unwrap();
        pace.on_answer(&ticket, 200, None);
        pace.answer_after_connect(Duration::from_millis(1));
        let mut kept = Vec::new();
        while let Ok(slot) = pace.try_open() {
            kept.push(slot.came_up(&pace).expect("kept until answered"));
            assert!(kept.len() < 20, "the listen queue may still hold them");
        }
        assert!(kept.len() >= FIRST_OPEN_WINDOW as usize, "{}", kept.len());
        drop(kept);
        assert!(pace.try_open().is_ok(), "answered: the server took them");
        pace.server_keeps_alive();
        assert!(
            pace.try_open().unwrap().came_up(&pace).is_none(),
            "answered, and a server that keeps its connections needs each once"
        );
    }

    /// Opens connections until the window is full; they come up, and are not answered
    /// until the slots are dropped.
    fn fill_the_window(pace: &Arc<Pace>) -> Vec<Option<AnswerSlot>> {
        std::iter::from_fn(|| pace.try_open().ok())
            .map(|slot| slot.came_up(pace))
            .collect()
    }

    /// Three connections that came up before any answer, not held: what a run has when
    /// its first answer tells it what kind of server this is.
    fn three_up_before_any_answer(pace: &Arc<Pace>) -> Vec<Option<AnswerSlot>> {
        let up = (0..3)
            .map(|_| pace.try_open().unwrap().came_up(pace))
            .collect();
        pace.lock().held.clear();
        up
    }

    #[test]
    fn connections_up_before_the_first_answer_count_once_it_says_the_server_closes_them() {
        let pace = Arc::new(Pace::new(100, MAX_WAIT));
        // Before the first answer: held for a moment only, but counted in case.
        let early = three_up_before_any_answer(&pace);
        assert!(early.iter().all(Option::is_some), "counted in case");
        let ticket = pace.try_admit().unwrap();
        pace.on_answer(&ticket, 200, None);
        pace.answer_after_connect(Duration::from_millis(1));
        // Prompt, and closing: the 3 it has not yet answered may still be in its queue.
        let window = pace.lock().open_window as usize;
        let more = fill_the_window(&pace);
        assert_eq!(more.len(), window - 3, "the window counts the early ones");
        drop(early);
        assert!(pace.try_open().is_ok(), "answered: their slots are free");
    }

    #[test]
    fn a_server_that_takes_its_time_does_not_count_connections_until_answered() {
        let pace = Arc::new(Pace::new(100, MAX_WAIT));
        let early = three_up_before_any_answer(&pace);
        pace.answer_after_connect(PROMPT_ANSWER * 2);
        // Only attempts under way count, as before the first answer's time was known.
        let window = pace.lock().open_window as usize;
        let mut under_way = Vec::new();
        while let Ok(slot) = pace.try_open() {
            under_way.push(slot);
            assert!(
                under_way.len() <= window,
                "the window caps attempts under way"
            );
        }
        assert_eq!(
            under_way.len(),
            window,
            "the 3 up and unanswered don't count"
        );
        drop(early);
    }

    #[test]
    fn one_prompt_answer_shows_a_prompt_server_even_after_a_slow_first_one() {
        let pace = Arc::new(Pace::new(100, MAX_WAIT));
        let up = three_up_before_any_answer(&pace);
        // A loaded machine delayed the first answer.
        pace.answer_after_connect(PROMPT_ANSWER * 2);
        assert!(!pace.lock().counts_until_answered());
        pace.answer_after_connect(Duration::from_millis(1));
        assert!(pace.lock().counts_until_answered(), "prompt after all");
        pace.answer_after_connect(PROMPT_ANSWER * 2);
        assert!(
            pace.lock().counts_until_answered(),
            "a later slow answer may have waited for our own slots"
        );
        let window = pace.lock().open_window as usize;
        let more = fill_the_window(&pace);
        assert_eq!(more.len(), window - 3, "the 3 up before count");
        drop(up);
    }

    #[test]
    fn a_connection_that_will_not_be_answered_frees_its_place_and_times_nothing() {
        let pace = Arc::new(Pace::new(100, MAX_WAIT));
        pace.answer_after_connect(Duration::from_millis(1));
        let window = pace.lock().open_window;
        let mut up: Vec<_> = fill_the_window(&pace)
            .into_iter()
            .map(|slot| slot.expect("counted until answered"))
            .collect();
        assert!(pace.try_open().is_err(), "the window is full");
        up.pop().unwrap().unanswered();
        assert!(pace.try_open().is_ok(), "its place is free");
        assert_eq!(pace.lock().open_window, window, "nothing learnt");
        assert_eq!(pace.lock().quickest_answer, None, "an error is no answer");
        drop(up);
        assert!(pace.lock().quickest_answer.is_some(), "answers are");
    }

    #[test]
    fn answers_that_queued_in_the_server_open_fewer_connections() {
        let pace = Pace::new(100, MAX_WAIT);
        pace.lock().answers_promptly = Some(true);
        pace.lock().open_window = 8.0;
        pace.lock().unanswered = 5; // one for each answer below
        pace.answered(Duration::from_millis(2));
        assert_eq!(
            pace.lock().open_window,
            8.125,
            "the quickest so far: one more"
        );
        // 8 at a time, each 10% over the quickest: under one of them waited.
        pace.answered(Duration::from_micros(2200));
        let window = pace.lock().open_window;
        assert_eq!(window, 8.125 + 1.0 / 8.125, "under one waiting: one more");
        // 10 times the quickest: most of them waited behind the others.
        pace.answered(Duration::from_millis(20));
        assert_eq!(
            pace.lock().open_window,
            window - 1.0 / window,
            "waited behind others: one fewer"
        );
        pace.lock().open_window = 1.5;
        pace.answered(Duration::from_millis(20));
        assert_eq!(pace.lock().open_window, MIN_COUNTED_WINDOW, "one at a time");
        pace.answered(Duration::from_millis(20));
        assert_eq!(
            pace.lock().open_window,
            2.0,
            "none can wait behind a lone one"
        );
    }

    #[test]
    fn answers_grow_the_window_back_additively() {
        let pace = Pace::new(8, MAX_WAIT);
        pace.lock().window = 4.0;
        let ticket = pace.try_admit().unwrap();
        for _ in 0..4 {
            pace.on_answer(&ticket, 200, None);
        }
        let window = pace.lock().window;
        assert!((4.9..5.1).contains(&window), "{window}");
    }

    #[test]
    fn connections_open_a_few_at_a_time_and_late_ones_halve_the_window() {
        let pace = Arc::new(Pace::new(100, MAX_WAIT));
        assert_eq!(pace.late_after(), None, "nothing to compare with yet");
        let slots: Vec<_> = (0..4).map(|_| pace.try_open().unwrap()).collect();
        assert!(pace.try_open().is_err(), "four at once at first");
        for slot in slots {
            slot.came_up(&pace);
        }
        // Held until the server's first answer (or FIRST_HOLD).
        let ticket = pace.try_admit().unwrap();
        pace.on_answer(&ticket, 200, None);
        let grown = FIRST_OPEN_WINDOW + 4.0 * OPEN_GROWTH;
        assert_eq!(pace.lock().open_window, grown);
        let (first, second) = (pace.try_open().unwrap(), pace.try_open().unwrap());
        first.late();
        second.late();
        assert_eq!(
            pace.lock().open_window,
            grown / 2.0,
            "one burst, one halving"
        );
        assert_eq!(pace.late_connects(), 2);
        assert!(pace.late_after().is_some_and(|late| late >= LATE_FLOOR));
    }
}
