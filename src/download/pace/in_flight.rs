//! Requests in flight: at most `-m`, fewer while the server refuses them, and none once
//! the run has waited for it as long as `--max-wait` allows.
//!
//! The rule. Requests start at the ceiling (`-m`). A 429 or 503 halves them for every
//! request, not only the one refused (multiplicative decrease), and holds every new request
//! until the wait the server asked for (`Retry-After`) has passed; a refusal of a request
//! sent before that decrease is the same episode, and does not halve again. Each answer
//! that is not a refusal then adds back one request per window of answers (additive
//! increase). A server that refused with `Retry-After` limits a rate: from then on at most
//! what it answered in the period before it refused is sent per period of that wait,
//! growing by one for each period that uses all of it without a refusal.
//!
//! The waits the server asks for are added up (only what a wait adds to a pause already
//! under way): one that would take the run past `--max-wait` makes it give up on the
//! server, and every request not yet sent is refused ([`Refused`]).
//!
//! With HTTP/2 possible (an https server), the first request goes alone until its
//! connection is up (`probe`): the others then share it as streams rather than each
//! opening a connection of its own before anyone knows.
//!
//! This type decides; it neither waits nor reads the clock: time comes in with each event.

use std::time::{Duration, Instant};

/// The pause after a 429 or 503 that gave no `Retry-After`: the retry policy's first wait.
const DEFAULT_PAUSE: Duration = Duration::from_millis(100);

/// How far past `--max-wait` the waits may add up before the run gives up: requests
/// refused a moment apart each extend the pause by that moment, and three asked waits of
/// 1 s must fit in `--max-wait 3`.
const MAX_WAIT_SLACK: Duration = Duration::from_millis(50);

/// What a server that refused with `Retry-After` takes per period (see the module's rule).
#[derive(Debug, Clone, Copy)]
struct Budget {
    per_period: usize,
    period: Duration,
    period_start: Instant,
    started: usize,
}

/// The run began to wait because the server asked it to, or gave up waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerWait {
    /// The status that asked: 429 or 503.
    pub status: u16,
    /// The wait it asked for (its `Retry-After`, or a short pause without).
    pub wait: Duration,
    /// What the run has waited in all, this wait included unless it gave up.
    pub waited: Duration,
    /// `--max-wait`.
    pub max_wait: Duration,
    /// The wait is past `--max-wait`: the run gives up instead of waiting.
    pub gave_up: bool,
}

/// The run gave up on the server: what every request not yet sent ends with.
pub type Refused = ServerWait;

/// Why a request may not start now.
#[derive(Debug, PartialEq, Eq)]
pub enum Hold {
    /// Until a request ends.
    Full,
    /// For this long (a pause the server asked for, or the rate it takes).
    For(Duration),
    /// Never: the run gave up on the server.
    Refused(Refused),
}

/// What an answer changed, for the user.
#[derive(Debug, Default, PartialEq)]
pub struct Told {
    /// The run starts to wait, or gives up (shown without `-v`).
    pub wait: Option<ServerWait>,
    /// The requests in flight were lowered (for `-v`).
    pub note: Option<String>,
}

/// The requests in flight of one run.
#[derive(Debug, Default)]
pub struct InFlight {
    ceiling: usize,
    max_wait: Duration,
    /// Requests allowed in flight (fractional, for additive increase).
    window: f64,
    pub(super) in_flight: usize,
    pub(super) peak: usize,
    pub(super) lowered: u32,
    /// No request starts before this.
    paused_until: Option<Instant>,
    /// Bumped at each decrease: a refusal to a request sent before it is the same episode.
    epoch: u64,
    /// Requests admitted before the last decrease and not yet done: they go out after
    /// the pause, in the next period.
    stale_in_flight: usize,
    /// Answers other than refusals since the current period began.
    answered_in_period: usize,
    budget: Option<Budget>,
    /// The time the run has been held by the server's asked waits, in all.
    waited: Duration,
    refused: Option<Refused>,
    /// One request goes alone until its connection is up (see the module's rule).
    probing: bool,
    probe_up: bool,
}

impl InFlight {
    pub fn new(ceiling: usize, max_wait: Duration) -> InFlight {
        let ceiling = ceiling.max(1);
        InFlight {
            ceiling,
            max_wait,
            window: ceiling as f64,
            ..InFlight::default()
        }
    }

    /// The first request goes alone until its connection is up.
    pub fn probe_first(&mut self) {
        self.probing = true;
    }

    pub fn probing(&self) -> bool {
        self.probing
    }

    /// A connection came up: if the probe's, the others may go once it is pooled.
    pub fn connection_up(&mut self) {
        self.probe_up |= self.probing;
    }

    /// Ends the probe if its connection is up; true if it did.
    pub fn end_probe_if_up(&mut self) -> bool {
        let ended = self.probing && self.probe_up;
        if ended {
            self.probing = false;
        }
        ended
    }

    pub fn refused(&self) -> Option<&Refused> {
        self.refused.as_ref()
    }

    /// Admits one request at `now`: its episode, for [`InFlight::answered`].
    pub fn admit(&mut self, now: Instant) -> Result<u64, Hold> {
        if let Some(refused) = &self.refused {
            return Err(Hold::Refused(refused.clone()));
        }
        if let Some(until) = self.paused_until {
            if now < until {
                return Err(Hold::For(until - now));
            }
            self.paused_until = None;
        }
        if self.in_flight >= (self.window as usize).max(1) || (self.probing && self.in_flight >= 1)
        {
            return Err(Hold::Full);
        }
        if let Some(budget) = &mut self.budget {
            if budget.started == 0 {
                // A period begins with its first request, as the server's window does,
                // and the requests held up by the pause go out in it too.
                budget.period_start = budget.period_start.max(now);
                budget.started = self.stale_in_flight;
            }
            let next = budget.period_start + budget.period;
            if now >= next {
                if budget.started >= budget.per_period {
                    budget.per_period += 1;
                }
                budget.period_start = now;
                budget.started = 0;
                self.answered_in_period = 0;
            } else if budget.started >= budget.per_period {
                return Err(Hold::For(next - now));
            }
            budget.started += 1;
        }
        self.in_flight += 1;
        self.peak = self.peak.max(self.in_flight);
        Ok(self.epoch)
    }

    /// A request of episode `epoch` ended.
    pub fn done(&mut self, epoch: u64) {
        self.in_flight -= 1;
        if epoch < self.epoch {
            self.stale_in_flight = self.stale_in_flight.saturating_sub(1);
        }
        // A probe that got no answer (refused, timed out) has taught nothing to wait for.
        self.probing = false;
    }

    /// The server answered `status` at `now` to a request of episode `epoch`, with the
    /// `Retry-After` it gave.
    pub fn answered(
        &mut self,
        now: Instant,
        epoch: u64,
        status: u16,
        retry_after: Option<Duration>,
    ) -> Told {
        // Its answer proves the connection usable, whatever the grace after it came up.
        self.probing = false;
        if status != 429 && status != 503 {
            self.answered_in_period += 1;
            if self.window < self.ceiling as f64 {
                self.window = (self.window + 1.0 / self.window).min(self.ceiling as f64);
            }
            return Told::default();
        }
        let wait = retry_after.unwrap_or(DEFAULT_PAUSE);
        let until = now + wait;
        // Only what this wait adds to a pause under way counts as more waiting.
        let held = self.paused_until.filter(|&u| u > now).unwrap_or(now);
        let more = until.saturating_duration_since(held);
        if self.waited + more > self.max_wait + MAX_WAIT_SLACK {
            return self.give_up(status, wait);
        }
        self.waited += more;
        let mut told = Told::default();
        if held == now {
            // The run starts to wait, rather than wait a moment longer.
            told.wait = Some(ServerWait {
                status,
                wait,
                waited: self.waited,
                max_wait: self.max_wait,
                gave_up: false,
            });
        }
        self.paused_until = Some(until.max(held));
        if epoch == self.epoch {
            told.note = Some(self.decrease(now, status, wait, retry_after));
        }
        told
    }

    /// One episode of refusals: the window halves, and a `Retry-After` sets the budget.
    fn decrease(
        &mut self,
        now: Instant,
        status: u16,
        wait: Duration,
        retry_after: Option<Duration>,
    ) -> String {
        if let Some(asked) = retry_after.filter(|p| !p.is_zero()) {
            // A rate limit: what it answered this period, less a twentieth, is what it
            // takes: a token bucket refills while its first burst is answered (51
            // answered by a bucket of 50 at 50/s), and the next period has no such
            // refill (the matrix's keep-alive limiter: a second refusal and a second
            // wait, 4.2 s instead of 3.2). A period that straddled two of the server's
            // windows answered less than the server takes: never lower by more than half.
            let answered = self.answered_in_period.max(1);
            let answered = answered - answered / 20;
            let per_period = match self.budget {
                Some(budget) => answered.max(budget.per_period / 2),
                None => answered,
            };
            self.budget = Some(Budget {
                per_period,
                // Our periods start a little before the server's (its clock starts when
                // our first request arrives): stay clear of its edge.
                period: asked + asked / 20,
                period_start: now + wait,
                started: 0,
            });
            self.answered_in_period = 0;
        }
        let before = self.window as usize;
        self.window = (self.window / 2.0).max(1.0);
        self.epoch += 1;
        self.lowered += 1;
        // All but this one, whose ticket ends once its answer is read.
        self.stale_in_flight = self.in_flight.saturating_sub(1);
        let budget = self
            .budget
            .map(|b| {
                format!(
                    ", then at most {} per {:.1} s",
                    b.per_period,
                    b.period.as_secs_f64()
                )
            })
            .unwrap_or_default();
        format!(
            "pace: HTTP {status} from the server: {before} -> {} requests in flight, all waiting {:.1} s{}{budget}",
            self.window as usize,
            wait.as_secs_f64(),
            if retry_after.is_some() { " as asked" } else { "" }
        )
    }

    /// The server asks for a wait past `--max-wait`: every request not yet sent is refused.
    fn give_up(&mut self, status: u16, wait: Duration) -> Told {
        if self.refused.is_some() {
            return Told::default();
        }
        let (waited, max_wait, gave_up) = (self.waited, self.max_wait, true);
        let refused = ServerWait {
            status,
            wait,
            waited,
            max_wait,
            gave_up,
        };
        self.refused = Some(refused.clone());
        self.paused_until = None;
        Told {
            wait: Some(refused),
            note: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_WAIT: Duration = Duration::from_secs(60);
    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn a_refusal_halves_the_window_once_per_episode_and_pauses_everyone() {
        let t0 = Instant::now();
        let mut requests = InFlight::new(8, MAX_WAIT);
        let epochs: Vec<_> = (0..8).map(|_| requests.admit(t0).unwrap()).collect();
        assert_eq!(requests.admit(t0), Err(Hold::Full), "the ceiling holds");
        let told = requests.answered(t0, epochs[0], 429, Some(SEC));
        assert!(told.note.is_some() && told.wait.is_some());
        for &epoch in &epochs[1..] {
            let told = requests.answered(t0, epoch, 429, Some(SEC));
            assert_eq!(told, Told::default(), "the same episode, the same pause");
        }
        assert_eq!(requests.lowered, 1);
        epochs.into_iter().for_each(|e| requests.done(e));
        let later = t0 + Duration::from_millis(100);
        assert_eq!(
            requests.admit(later),
            Err(Hold::For(Duration::from_millis(900)))
        );
        assert_eq!(requests.window as usize, 4);
    }

    #[test]
    fn a_rate_limit_is_learned_as_a_budget_per_period() {
        let t0 = Instant::now();
        let mut requests = InFlight::new(8, MAX_WAIT);
        for _ in 0..3 {
            let epoch = requests.admit(t0).unwrap();
            requests.answered(t0, epoch, 200, None);
            requests.done(epoch);
        }
        let refused = requests.admit(t0).unwrap();
        requests.answered(t0, refused, 429, Some(SEC));
        requests.done(refused);
        let after = t0 + SEC;
        for _ in 0..3 {
            requests.admit(after).expect("3 per period, as answered");
        }
        let Err(Hold::For(wait)) = requests.admit(after) else {
            panic!("the budget is spent")
        };
        assert_eq!(wait, SEC + SEC / 20, "until the next period");
    }

    #[test]
    fn answers_grow_the_window_back_additively() {
        let t0 = Instant::now();
        let mut requests = InFlight::new(8, MAX_WAIT);
        requests.window = 4.0;
        let epoch = requests.admit(t0).unwrap();
        for _ in 0..4 {
            requests.answered(t0, epoch, 200, None);
        }
        assert!((4.9..5.1).contains(&requests.window), "{}", requests.window);
    }

    #[test]
    fn the_run_gives_up_once_the_server_asks_for_more_than_max_wait_in_all() {
        let t0 = Instant::now();
        let mut requests = InFlight::new(8, Duration::from_secs(3));
        let epoch = requests.admit(t0).unwrap();
        let told = requests.answered(t0, epoch, 429, Some(2 * SEC));
        let wait = told.wait.expect("the wait is told as it begins");
        assert!(!wait.gave_up && wait.waited == 2 * SEC);
        // Asked again within the pause: only what it adds counts.
        let told = requests.answered(t0 + SEC, epoch, 429, Some(SEC));
        assert_eq!(told.wait, None, "a pause under way, not a new one");
        assert!(requests.refused().is_none(), "2 s of 3 waited");
        let told = requests.answered(t0 + SEC, epoch, 503, Some(5 * SEC));
        assert!(told.wait.is_some_and(|w| w.gave_up));
        let refused = requests.refused().expect("5 s more is past 3 s in all");
        assert_eq!((refused.status, refused.wait), (503, 5 * SEC));
        assert!(matches!(requests.admit(t0 + SEC), Err(Hold::Refused(_))));
    }

    #[test]
    fn the_probe_goes_alone_until_its_connection_is_up() {
        let t0 = Instant::now();
        let mut requests = InFlight::new(8, MAX_WAIT);
        requests.probe_first();
        let probe = requests.admit(t0).unwrap();
        assert_eq!(
            requests.admit(t0),
            Err(Hold::Full),
            "the others wait for the probe"
        );
        assert!(!requests.end_probe_if_up(), "its connection is not up yet");
        requests.connection_up();
        assert!(requests.end_probe_if_up());
        requests.admit(t0).expect("the probe's connection is up");
        requests.done(probe);
    }
}
