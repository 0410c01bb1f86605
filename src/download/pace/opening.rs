//! Opening connections: all at once, until the server shows that its listen queue
//! overflowed; from then on, a few at a time.
//!
//! The rule. An attempt to connect is *late* once it has been pending [`Opening::late_after`]:
//! [`LATE_FACTOR`] times the time attempts typically take to come up, and at least
//! [`LOOPBACK_FLOOR`] to a server on this machine (from the very first attempt, since a
//! handshake there takes microseconds) or [`REMOTE_FLOOR`] elsewhere (once one has come
//! up: before that, nothing says how long a far server takes). A late attempt is
//! abandoned and made again at once: a server whose listen queue is full drops the
//! handshake, and the kernel would send it again only after a second.
//!
//! Until an attempt is late, every connection is opened at once, as the book's scripts
//! open them: a server that takes them (nginx, flags-dl's own, a delaying server, a rate
//! limiter) pays nothing for the pace. The first late attempt is the evidence that the
//! queue overflows (`python3 -m http.server` and `slow_server.py` queue 5): from then on at
//! most `window` attempts are pending at once. Attempts come up as fast as the server
//! takes connections off its queue, so a server that takes them promptly still gets them
//! all within milliseconds, and one that is slow gets them at its own rate, not in bursts
//! its queue drops. The window starts at half the attempts that came up before the first
//! late one, grows by one per window of attempts that come up, and halves, once per burst,
//! when one is late; never below one.
//!
//! Once the queue has overflowed, a server that answers promptly (within [`PROMPT`]:
//! `http.server` takes a millisecond) is taking its connections off the queue as fast as it
//! works, so a connection up but not yet answered may well still be in the queue: it counts
//! against the window until an answer comes (with one request per connection, as such
//! servers have, connections up less answers), and the window grows per answer. Without
//! it the queue stayed full: thousands of dropped handshakes, and, when two of ours raced
//! for its last place, a request stuck for a retransmission (120-240 ms, 1 run in 4). A
//! server that thinks before it answers (`slow_server.py`: 0.5-5 s) is not prompt: it
//! takes its connections at once and gets every request in flight.
//!
//! Attempts are not watched over TLS: their time is mostly the handshake's, CPU on both
//! sides (a hundred at once on two cores take a hundred times one), and says nothing of a
//! listen queue; watched, it made thousands of attempts late. Nor with `--pace off`.
//!
//! This type decides; it neither waits nor reads the clock: time comes in with each event
//! (as `quinn`'s congestion controllers have it), so tests script it.

use super::Late;
use std::time::Duration;

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
            ..Opening::default()
        }
    }

    /// Begins an attempt if the window has room: its burst, for [`Opening::late`].
    pub fn begin(&mut self) -> Option<u64> {
        if self
            .window
            .is_some_and(|window| self.in_use() >= (window as usize).max(1))
        {
            return None;
        }
        self.pending += 1;
        Some(self.epoch)
    }

    /// Attempts that count against the window: those pending, and, against a prompt
    /// server, connections up and not yet answered.
    fn in_use(&self) -> usize {
        let unanswered = self.came_up.saturating_sub(self.answered);
        self.pending + if self.prompt { unanswered as usize } else { 0 }
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
        if let Some(window) = self.window.as_mut().filter(|_| !self.prompt) {
            *window += 1.0 / *window;
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
    fn a_server_that_takes_every_connection_gets_them_all_at_once() {
        let mut opening = Opening::new(true, false);
        let begun: Vec<_> = (0..1000).map(|_| opening.begin().unwrap()).collect();
        for _ in begun {
            opening.came_up(US);
        }
        assert_eq!(opening.window, None, "never late: no window");
        assert_eq!(
            opening.late_after(),
            Late::After(LOOPBACK_FLOOR),
            "50 µs × 4 < the floor"
        );
    }

    #[test]
    fn a_late_attempt_opens_the_window_at_half_of_what_came_up_and_one_burst_halves_once() {
        let mut opening = Opening::new(true, false);
        let burst: Vec<_> = (0..100).map(|_| opening.begin().unwrap()).collect();
        for _ in 0..8 {
            opening.came_up(US);
        }
        let late = opening.late(burst[8], Duration::from_millis(2)).unwrap();
        assert!(
            late.ends_with("at most 4 at once (was all at once)"),
            "{late}"
        );
        for &epoch in &burst[9..] {
            assert_eq!(
                opening.late(epoch, Duration::from_millis(2)),
                None,
                "same burst"
            );
        }
        assert_eq!(opening.pending, 0);
        let window: Vec<_> = std::iter::from_fn(|| opening.begin()).collect();
        assert_eq!(window.len(), 4);
        let late = opening.late(window[0], Duration::from_millis(2)).unwrap();
        assert!(
            late.ends_with("at most 2 at once (was 4 at once)"),
            "{late}"
        );
        assert_eq!(opening.late, 93);
    }

    #[test]
    fn the_window_grows_by_one_per_window_that_comes_up_and_never_shrinks_below_one() {
        let mut opening = Opening::new(true, false);
        let first = opening.begin().unwrap();
        opening.late(first, Duration::from_millis(3));
        assert_eq!(opening.window, Some(1.0), "nothing came up: one at a time");
        for _ in 0..2 {
            opening.begin().unwrap();
            opening.came_up(US);
        }
        assert_eq!(opening.window, Some(2.5), "1 + 1/1 + 1/2");
        let epoch = opening.begin().unwrap();
        opening.late(epoch, Duration::from_millis(3));
        let epoch = opening.begin().unwrap();
        opening.late(epoch, Duration::from_millis(3));
        assert_eq!(opening.window, Some(1.0));
    }

    #[test]
    fn once_late_a_prompt_servers_connections_count_until_answered() {
        let mut opening = Opening::new(true, false);
        let burst: Vec<_> = (0..10).map(|_| opening.begin().unwrap()).collect();
        for _ in 0..4 {
            opening.came_up(US);
        }
        opening.late(burst[4], Duration::from_millis(2));
        (5..10).for_each(|i| drop(opening.late(burst[i], Duration::from_millis(2))));
        assert_eq!(opening.window, Some(2.0));
        assert!(opening.answered(Duration::from_millis(1)), "prompt");
        // 4 up, 1 answered: 3 unanswered fill the window of 2.
        assert_eq!(opening.begin(), None, "the unanswered may still be queued");
        for _ in 0..3 {
            opening.answered(Duration::from_millis(1));
        }
        assert!(opening.begin().is_some(), "answered: the queue took them");
        let mut thinking = Opening::new(true, false);
        let (first, second) = (thinking.begin().unwrap(), thinking.begin().unwrap());
        thinking.late(first, Duration::from_millis(2));
        assert_eq!(second, first, "the same burst");
        thinking.came_up(US);
        assert!(!thinking.answered(Duration::from_secs(2)), "not prompt");
        assert!(
            thinking.begin().is_some(),
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
        opening.begin().unwrap();
        opening.came_up(Duration::from_millis(40));
        assert_eq!(
            opening.late_after(),
            Late::After(Duration::from_millis(160))
        );
        let mut near = Opening::new(false, false);
        near.begin().unwrap();
        near.came_up(Duration::from_millis(1));
        assert_eq!(
            near.late_after(),
            Late::After(REMOTE_FLOOR),
            "the floor for jitter"
        );
    }
}
