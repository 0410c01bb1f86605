//! What each request of a run did, and when, for `--timeline` and `--trace`.
//!
//! Only a run that asks for a picture records anything: without a [`Recorder`] the modes
//! skip it with one `Option` check per attempt.

use std::sync::Mutex;
use std::time::Instant;

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Saved,
    NotFound,
    /// Failed, and tried again later.
    Retried,
    /// Failed for good.
    Failed,
}

/// One request of one code (its resends on a fresh connection included).
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Upper case.
    pub cc: String,
    /// Where it ran: the worker thread's name, or, in async mode, the code's own task.
    pub track: String,
    pub start: Instant,
    pub end: Instant,
    pub ended: Ended,
}

/// Collects every attempt of a run, from any thread.
#[derive(Debug, Default)]
pub struct Recorder {
    attempts: Mutex<Vec<Attempt>>,
}

impl Recorder {
    pub fn add(&self, attempt: Attempt) {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(attempt);
    }

    /// Every attempt so far, in the order they ended.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
