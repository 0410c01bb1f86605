//! One code's attempts, and the rules between them, for every mode: when a failed request
//! is sent again at once, when it is tried again after a wait, and when the code is done.
//!
//! [`Attempts`] is free of I/O: a mode admits each attempt and sends its requests in its
//! own way (a task awaits, a worker thread blocks), then hands each result to
//! [`Attempts::next_step`], which records the attempt and says what follows ([`Step`]).
//! Each mode's loop is thus the same few lines:
//!
//! ```text
//! loop {
//!     admitted by the pace, or refused        -> attempts.refused(..): done
//!     attempts.begin()                        (an attempt starts: its request goes)
//!     loop {
//!         send the request, read the answer   -> fetched
//!         match attempts.next_step(fetched) {
//!             Step::Resend      => again at once, on a new connection, same attempt
//!             Step::Retry(wait) => give the admission back; wait (a task sleeps, a
//!                                  worker queues the code and moves on); again
//!             Step::Done(outcome) => done
//!         }
//!     }
//! }
//! ```
//!
//! An attempt starts in [`Attempts::begin`] and ends in [`Attempts::next_step`]: the one
//! place where an attempt at the server begins and ends, whichever client made it. Its
//! exchanges (each request and its answer: a redirect, `metadata.json`, a resend) are
//! timed within it by [`FlagFetch`](super::response::FlagFetch) (see [`super::phases`]);
//! a retry's first exchange queues from the end of its wait, which is decided here.

use super::failure::{FetchError, Resend, Retry};
use super::job::Job;
use super::outcome::{conclude, DownloadStatus, Outcome};
use super::pace::Refused;
use super::response::Fetched;
use super::retry::RetryPolicy;
use std::time::{Duration, Instant};

/// What follows a request's end.
#[derive(Debug)]
pub enum Step {
    /// Send the same request again at once, on a new connection: the same attempt, still
    /// admitted.
    Resend,
    /// The attempt failed and is tried again after this wait (the backoff, or the server's
    /// `Retry-After`), admitted anew.
    Retry(Duration),
    /// The code is done: its outcome (boxed: with its phases, an outcome is large for a
    /// value handed back after every request).
    Done(Box<Outcome>),
}

/// What the rules make of a request's end (see [`decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Resend,
    Retry(Duration),
    /// No more requests: the result stands, a success or the code's failure.
    Done,
}

/// How often one attempt's request was sent again at once, on a new connection, without
/// counting an attempt.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Resends {
    unprocessed: u32,
    late: u32,
}

impl Resends {
    /// A request the server did not process is worth one resend (RFC 9112 §9.3.1 allows it
    /// for a GET); a connection attempt abandoned as late, a few: each new attempt meets a
    /// server queue with more room.
    const UNPROCESSED: u32 = 1;
    const LATE: u32 = 10;

    /// Whether another resend for `why` is within its budget; counts it if so.
    fn take(&mut self, why: Resend) -> bool {
        let (used, budget) = match why {
            Resend::Unprocessed => (&mut self.unprocessed, Self::UNPROCESSED),
            Resend::LateConnect => (&mut self.late, Self::LATE),
        };
        let again = *used < budget;
        *used += u32::from(again);
        again
    }
}

/// The rules, stated once: a request the server never processed is sent again at once
/// while its budget lasts; a transient failure on attempt `attempt` (1-based) is tried
/// again after [`RetryPolicy::wait`] while `--retries` allows; anything else is final.
fn decide(
    error: &FetchError,
    attempt: u32,
    resends: &mut Resends,
    policy: &RetryPolicy,
) -> Decision {
    if let Retry::Resend(why) = error.retry {
        if resends.take(why) {
            return Decision::Resend;
        }
    }
    if policy.should_retry(attempt, error.is_transient()) {
        Decision::Retry(policy.wait(attempt, error.retry_after))
    } else {
        Decision::Done
    }
}

/// The attempts at one code so far.
#[derive(Debug, Default)]
pub struct Attempts {
    /// Attempts begun (1-based once the first has).
    made: u32,
    /// When the first began: the outcome's elapsed time counts from it.
    first: Option<Instant>,
    /// When the current one began, for its record.
    current: Option<Instant>,
    /// The current attempt's resends.
    resends: Resends,
    /// The status and version of the last failed attempt's answer: the last answer the code
    /// received, should the run give up on the server before its next attempt.
    last_answer: (Option<u16>, Option<&'static str>),
}

impl Attempts {
    /// `--skip-existing` found the code's file before its first attempt: its outcome.
    pub fn skipped(&self, job: &Job, cc: &str) -> Option<Outcome> {
        if self.made > 0 {
            return None;
        }
        job.existing_file(cc).map(|path| Outcome::skipped(cc, path))
    }

    /// An attempt begins: admitted by the pace, its request about to go.
    pub fn begin(&mut self) {
        let now = Instant::now();
        self.made += 1;
        self.first.get_or_insert(now);
        self.current = Some(now);
        self.resends = Resends::default();
    }

    /// The current attempt's request ended with `fetched`: what follows. When the attempt
    /// ends (anything but a resend), it is recorded on `track` for `--timeline`.
    pub fn next_step(
        &mut self,
        job: &Job,
        cc: &str,
        fetched: Result<Fetched, FetchError>,
        track: impl FnOnce() -> String,
    ) -> Step {
        let decision = match &fetched {
            Ok(_) => Decision::Done,
            Err(e) => decide(e, self.made, &mut self.resends, &job.retry),
        };
        if decision == Decision::Resend {
            return Step::Resend;
        }
        let retried = matches!(decision, Decision::Retry(_));
        let start = self.current.expect("begun before its request");
        job.record(cc, track, start, &fetched, retried);
        match (decision, fetched) {
            (Decision::Retry(wait), Err(e)) => {
                self.last_answer = (e.http_status, e.http_version);
                // Phases (issue 20): whichever way the mode waits, the retry's first
                // exchange queues from the end of its wait.
                job.exchanges.queue_from(cc, Instant::now() + wait);
                Step::Retry(wait)
            }
            (_, fetched) => Step::Done(Box::new(self.conclude(job, cc, fetched))),
        }
    }

    /// The run gave up on the server before the next attempt was admitted: the code is not
    /// fetched, and its outcome keeps the last answer it received.
    pub fn refused(&self, job: &Job, cc: &str, refused: &Refused) -> Outcome {
        let mut error = FetchError::refused(refused);
        (error.http_status, error.http_version) = self.last_answer;
        self.conclude(job, cc, Err(error))
    }

    /// The run was cancelled during an attempt or a wait.
    pub fn cancelled(&self, cc: &str) -> Outcome {
        let mut outcome = Outcome::without_request(cc, DownloadStatus::Cancelled);
        outcome.attempts = self.made;
        outcome
    }

    fn conclude(&self, job: &Job, cc: &str, fetched: Result<Fetched, FetchError>) -> Outcome {
        let first = self.first.unwrap_or_else(Instant::now);
        conclude(job, cc, fetched, first, self.made)
    }
}

#[cfg(test)]
mod tests {
    use super::super::failure::ErrorKind;
    use super::*;

    fn closed() -> FetchError {
        FetchError::transient(ErrorKind::ConnectionClosed, "closed")
    }

    #[test]
    fn transient_failures_are_retried_within_the_budget_and_final_ones_never() {
        let policy = RetryPolicy::default();
        let mut resends = Resends::default();
        assert!(matches!(
            decide(&closed(), 1, &mut resends, &policy),
            Decision::Retry(_)
        ));
        assert_eq!(
            decide(&closed(), policy.retries + 1, &mut resends, &policy),
            Decision::Done
        );
        let teapot = FetchError::status(418, &policy, None);
        assert_eq!(decide(&teapot, 1, &mut resends, &policy), Decision::Done);
    }

    #[test]
    fn a_request_never_processed_is_resent_once_then_retried_as_transient() {
        let policy = RetryPolicy::default();
        let mut resends = Resends::default();
        let stale = closed().resend(Resend::Unprocessed);
        assert_eq!(decide(&stale, 1, &mut resends, &policy), Decision::Resend);
        assert!(matches!(
            decide(&stale, 1, &mut resends, &policy),
            Decision::Retry(_)
        ));
    }

    #[test]
    fn a_late_connection_is_made_again_ten_times_even_without_retries() {
        let policy = RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        };
        let mut resends = Resends::default();
        let late = closed().resend(Resend::LateConnect);
        for _ in 0..Resends::LATE {
            assert_eq!(decide(&late, 1, &mut resends, &policy), Decision::Resend);
        }
        assert_eq!(decide(&late, 1, &mut resends, &policy), Decision::Done);
    }

    #[test]
    fn a_final_failure_is_never_resent() {
        let error = FetchError::new(ErrorKind::Tls, "refused").resend(Resend::Unprocessed);
        assert_eq!(error.retry, Retry::Final);
    }
}
