//! Opening connections: as fast as they come up, until the server shows that its listen
//! queue overflowed; from then on, a few at a time.
//!
//! Late. An attempt to connect is *late* once it has been pending [`Opening::late_after`]:
//! [`LATE_FACTOR`] times the time attempts typically take to come up, and at least
//! [`LOOPBACK_FLOOR`] to a server on this machine (from the very first attempt, since a
//! handshake there takes microseconds) or [`REMOTE_FLOOR`] elsewhere (once one has come
//! up: before that, nothing says how long a far server takes). A late attempt is
//! abandoned and made again at once: a server whose listen queue is full drops the
//! handshake, and the kernel would send it again only after a second.
//!
//! Before any is late, [`FIRST`] attempts are pending at once, and one more for each that
//! comes up (doubling each round, as TCP's slow start does): a server that takes its
//! connections (nginx, flags-dl's own, a delaying server, a rate limiter) has them all
//! within a millisecond and pays nothing for the pace, while a queue of 5 overflows by a
//! handful, not by the 95 of `-m 100` at once.
//!
//! After. The first late attempt is the evidence that the queue overflows (`python3 -m
//! http.server` and `slow_server.py` queue 5). From then on the window starts at half the
//! attempts that came up, grows by one per window of them, and halves, once per burst,
//! when one is late; never below one. Against a server that answers promptly (within
//! [`PROMPT`]: `http.server` takes a millisecond), a connection up but not yet answered may
//! still be in its queue: it counts against the window until an answer comes (connections
//! up less answers, as such servers close each one), and the window grows per answer, so a
//! new connection goes when the server took one. Without that the queue stayed full:
//! thousands of dropped handshakes, and, when two of ours raced for its last place, a
//! request stuck for a retransmission. A server that thinks before it answers
//! (`slow_server.py`: 0.5-5 s) is not prompt, and gets every request in flight.
//!
//! Not watched over TLS (its time is mostly the handshake's, CPU on both sides: a hundred
//! at once on two cores take a hundred times one, and were made late by the thousand), nor
//! with `--pace off`: all at once.
//!
//! This type decides; it neither waits nor reads the clock: time comes in with each event
//! (as `quinn`'s congestion controllers have it), so tests script it.

use std::time::Duration;

/// When a connection attempt is late (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Late {
    /// Never: `--pace off`, or TLS; `--connect-timeout` alone limits it.
    Never,
    /// Nothing says yet (a far server, before any attempt came up): ask again soon.
    NotYet,
    /// Once pending this long.
    After(Duration),
}

/// Late after this many times the typical time to come up: a dropped handshake takes a
/// second, a prompt one tens of microseconds on loopback and one round trip elsewhere, so
/// any factor between 2 and 100 tells them apart; 4 leaves room for a loaded machine.
const LATE_FACTOR: u32 = 4;

/// The least a connect to this machine may take before it is late. A loopback handshake
/// takes 15-30 µs (the median of 1,000 made one after another, quiet or beside two busy
/// loops: `scripts/pace_experiments.py connect-times`), a dropped one a second. And a queue
/// of 5 drains in about 3 ms at `http.server`'s pace (194 flags in 110-130 ms), so a
/// dropped handshake noticed after 2 ms leaves the server no idle time.
pub const LOOPBACK_FLOOR: Duration = Duration::from_millis(2);

/// Attempts pending at once at the start. The book's servers queue 5 and had 7-11 come up
/// out of any number sent at once (issue 19): 8 overflows them by a few at most.
const FIRST: f64 = 8.0;

/// Answers that come within this of their request are prompt: the server works rather
/// than waits (`slow_server.py` waits 0.5 s at least).
const PROMPT: Duration = Duration::from_millis(300);

/// The least a connect elsewhere may take before it is late: a network's jitter.
pub const REMOTE_FLOOR: Duration = Duration::from_millis(25);

/// Connection attempts, as the server has shown it takes them.
#[derive(Debug, Default)]
pub struct Opening {
    /// Attempts pending now.
    pending: usize,
    /// The most attempts pending at once: [`FIRST`] plus one per attempt that came up
    /// (slow start), until one was late.
    start: f64,
    /// `None` until an attempt was late; then the most attempts pending at once.
    window: Option<f64>,
    /// The least time before an attempt is late (see the module's rule).
    floor: Duration,
    /// Whether the floor holds before any attempt came up (a server on this machine).
    floor_from_start: bool,
    /// Attempts are not watched at all (TLS, `--pace off`).
    unwatched: bool,
    /// How long attempts take to come up, smoothed as TCP smooths its round trip (7/8 of
    /// the old, 1/8 of the new): not the slowest, since one that came up only after TCP
    /// sent its handshake again (1 s) would make every later one wait 4 s to be late.
    typical: Option<Duration>,
    /// Bumped at each halving: an attempt begun before it was part of the same burst,
    /// and its lateness is the same news.
    epoch: u64,
    /// Attempts that came up, and that were late, in all.
    pub(super) came_up: u32,
    pub(super) late: u32,
    /// Requests answered in all, and whether one was answered promptly (see the module's
    /// rule).
    answered: u32,
    prompt: bool,
}

impl Opening {
    /// Attempts to a server on this machine (`loopback`) or elsewhere; `unwatched`, never
    /// late.
    pub fn new(loopback: bool, unwatched: bool) -> Opening {
        let floor = if loopback {
            LOOPBACK_FLOOR
        } else {
            REMOTE_FLOOR
        };
        Opening {
            floor,
            floor_from_start: loopback && !unwatched,
            unwatched,
            // Not watched (TLS, `--pace off`), attempts are never late: all at once.
            start: if unwatched { f64::INFINITY } else { FIRST },
            ..Opening::default()
        }
    }

    /// Begins an attempt if the window has room: its burst, for [`Opening::late`].
    /// `in_flight` are the run's requests in flight now.
    pub fn begin(&mut self, in_flight: usize) -> Option<u64> {
        let window = self.window.unwrap_or(self.start);
        if (self.in_use(in_flight) as f64) >= window.max(1.0) {
            return None;
        }
        self.pending += 1;
        Some(self.epoch)
    }

    /// Attempts that count against the window: those pending, and, against a prompt
    /// server, connections up and not yet answered: up less answers, and no more than the
    /// requests in flight, since one whose request failed or went on another connection
    /// is answered never (counted as waiting for good, they once filled the window).
    fn in_use(&self, in_flight: usize) -> usize {
        let unanswered = (self.came_up.saturating_sub(self.answered) as usize).min(in_flight);
        self.pending + if self.prompt { unanswered } else { 0 }
    }

    /// A request was answered `took` after it was admitted: true if that may let another
    /// attempt begin.
    pub fn answered(&mut self, took: Duration) -> bool {
        self.answered += 1;
        let Some(window) = &mut self.window else {
            return false;
        };
        self.prompt |= took < PROMPT;
        if self.prompt {
            *window += 1.0 / *window;
        }
        self.prompt
    }

    /// How long an attempt may be pending before it is late.
    pub fn late_after(&self) -> Late {
        match self.typical {
            _ if self.unwatched => Late::Never,
            Some(typical) => Late::After((typical * LATE_FACTOR).max(self.floor)),
            None if self.floor_from_start => Late::After(self.floor),
            None => Late::NotYet,
        }
    }

    /// An attempt came up after `took`.
    pub fn came_up(&mut self, took: Duration) {
        self.pending -= 1;
        self.came_up += 1;
        self.typical = Some(self.typical.map_or(took, |t| (t * 7 + took) / 8));
        // Against a prompt server the window grows by its answers instead.
        match self.window.as_mut() {
            None => self.start += 1.0,
            Some(window) if !self.prompt => *window += 1.0 / *window,
            Some(_) => {}
        }
    }

    /// An attempt of burst `epoch` was late after `took`, and is abandoned: the note for
    /// `-v`, if the window narrowed.
    pub fn late(&mut self, epoch: u64, took: Duration) -> Option<String> {
        self.pending -= 1;
        self.late += 1;
        if epoch != self.epoch {
            return None;
        }
        self.epoch += 1;
        let before = self.window;
        let after = match before {
            Some(window) => (window / 2.0).max(1.0),
            None => (f64::from(self.came_up) / 2.0).max(1.0),
        };
        self.window = Some(after);
        let before = before.map_or_else(
            || "all at once".into(),
            |w| format!("{} at once", w as usize),
        );
        Some(format!(
            "pace: a connection was not up after {:.1} ms (its handshake dropped by a full listen queue): opening it again, and at most {} at once (was {before})",
            took.as_secs_f64() * 1000.0,
            after as usize
        ))
    }

    /// An attempt failed for another reason (refused, timed out for good): no news of
    /// the server's queue.
    pub fn failed(&mut self) {
        self.pending -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(50);

    #[test]
    fn a_server_that_takes_every_connection_gets_them_as_fast_as_they_come_up() {
        let mut opening = Opening::new(true, false);
        let (mut begun, mut rounds) = (0, 0);
        while begun < 1000 {
            let round: Vec<_> = std::iter::from_fn(|| opening.begin(0)).collect();
            begun += round.len();
            round.iter().for_each(|_| opening.came_up(US));
            rounds += 1;
        }
        assert_eq!(rounds, 7, "8, 16, 32 ... at once: doubling each round");
        assert_eq!(opening.window, None, "never late: no window");
        assert_eq!(
            opening.late_after(),
            Late::After(LOOPBACK_FLOOR),
            "50 µs × 4 < the floor"
        );
        let unwatched = Opening::new(true, true);
        assert_eq!(
            unwatched.start,
            f64::INFINITY,
            "TLS, --pace off: all at once"
        );
    }

    #[test]
    fn a_late_attempt_opens_the_window_at_half_of_what_came_up_and_one_burst_halves_once() {
        let mut opening = Opening::new(true, false);
        let burst: Vec<_> = std::iter::from_fn(|| opening.begin(0)).collect();
        assert_eq!(burst.len(), FIRST as usize, "the first round");
        for _ in 0..6 {
            opening.came_up(US);
        }
        let late = opening.late(burst[6], Duration::from_millis(2)).unwrap();
        assert!(
            late.ends_with("at most 3 at once (was all at once)"),
            "{late}"
        );
        let again = opening.late(burst[7], Duration::from_millis(2));
        assert_eq!(again, None, "the same burst");
        assert_eq!(opening.pending, 0);
        let window: Vec<_> = std::iter::from_fn(|| opening.begin(0)).collect();
        assert_eq!(window.len(), 3);
        let late = opening.late(window[0], Duration::from_millis(2)).unwrap();
        assert!(
            late.ends_with("at most 1 at once (was 3 at once)"),
            "{late}"
        );
        assert_eq!(opening.late, 3);
    }

    #[test]
    fn the_window_grows_by_one_per_window_that_comes_up_and_never_shrinks_below_one() {
        let mut opening = Opening::new(true, false);
        let first = opening.begin(0).unwrap();
        opening.late(first, Duration::from_millis(3));
        assert_eq!(opening.window, Some(1.0), "nothing came up: one at a time");
        for _ in 0..2 {
            opening.begin(0).unwrap();
            opening.came_up(US);
        }
        assert_eq!(opening.window, Some(2.5), "1 + 1/1 + 1/2");
        let epoch = opening.begin(0).unwrap();
        opening.late(epoch, Duration::from_millis(3));
        let epoch = opening.begin(0).unwrap();
        opening.late(epoch, Duration::from_millis(3));
        assert_eq!(opening.window, Some(1.0));
    }

    #[test]
    fn once_late_a_prompt_servers_connections_count_until_answered() {
        let mut opening = Opening::new(true, false);
        let burst: Vec<_> = std::iter::from_fn(|| opening.begin(0)).collect();
        for _ in 0..4 {
            opening.came_up(US);
        }
        burst[4..]
            .iter()
            .for_each(|&epoch| drop(opening.late(epoch, Duration::from_millis(2))));
        assert_eq!(opening.window, Some(2.0));
        assert!(opening.answered(Duration::from_millis(1)), "prompt");
        // 4 up, 1 answered, 4 requests in flight: 3 unanswered fill the window of 2.
        assert_eq!(opening.begin(4), None, "the unanswered may still be queued");
        assert!(
            opening.begin(0).is_some(),
            "no request in flight: none can be waiting for its answer"
        );
        opening.failed();
        for _ in 0..3 {
            opening.answered(Duration::from_millis(1));
        }
        assert!(opening.begin(4).is_some(), "answered: the queue took them");
        let mut thinking = Opening::new(true, false);
        let (first, second) = (thinking.begin(0).unwrap(), thinking.begin(0).unwrap());
        thinking.late(first, Duration::from_millis(2));
        assert_eq!(second, first, "the same burst");
        thinking.came_up(US);
        assert!(!thinking.answered(Duration::from_secs(2)), "not prompt");
        assert!(
            thinking.begin(9).is_some(),
            "its unanswered connections do not count"
        );
    }

    #[test]
    fn far_servers_are_not_late_until_one_came_up_and_then_after_four_of_it() {
        let mut opening = Opening::new(false, false);
        assert_eq!(
            opening.late_after(),
            Late::NotYet,
            "a far server may take 300 ms"
        );
        opening.begin(0).unwrap();
        opening.came_up(Duration::from_millis(40));
        assert_eq!(
            opening.late_after(),
            Late::After(Duration::from_millis(160))
        );
        let mut near = Opening::new(false, false);
        near.begin(0).unwrap();
        near.came_up(Duration::from_millis(1));
        assert_eq!(
            near.late_after(),
            Late::After(REMOTE_FLOOR),
            "the floor for jitter"
        );
    }
}
