//! How one code ended ([`Outcome`]), and the one place that turns an attempt's result
//! into it ([`conclude`]), whatever the mode; and, for the pictures, into how the attempt
//! ended ([`Job::record`]).

use super::failure::{Failure, FetchError};
use super::job::Job;
use super::phases::{ConnectionUse, Phases};
use super::record::{Attempt, Ended};
use super::response::Fetched;
use std::path::PathBuf;
use std::time::{Duration, Instant};

impl Job {
    /// Keeps one attempt of `cc`, begun at `start` on `track`, if the run records them.
    pub fn record(
        &self,
        cc: &str,
        track: impl FnOnce() -> String,
        start: Instant,
        fetched: &Result<Fetched, FetchError>,
        retried: bool,
    ) {
        if let Some(recorder) = &self.recorder {
            recorder.add(Attempt {
                cc: cc.to_string(),
                track: track(),
                start,
                end: Instant::now(),
                ended: ended(fetched, retried),
            });
        }
    }
}

/// How `fetched` ended an attempt, given whether it will be tried again.
fn ended(fetched: &Result<Fetched, FetchError>, retried: bool) -> Ended {
    match fetched {
        Ok(Fetched::Saved { .. }) => Ended::Saved,
        Ok(Fetched::NotFound { .. }) => Ended::NotFound,
        Err(_) if retried => Ended::Retried,
        Err(_) => Ended::Failed,
    }
}

/// How one code ended (the book's `DownloadStatus`, with the failure for an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadStatus {
    /// Fetched, checked and saved.
    Ok,
    /// The server answered 404: the data set has no such flag. Not an error.
    NotFound,
    /// Anything else, with its kind and a reason a person can act on.
    Error(Failure),
    /// `--skip-existing` found its file already there; no request was made.
    Skipped,
    /// The run was interrupted before this code finished.
    Cancelled,
}

/// Everything known about one code once it has finished.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Upper case.
    pub cc: String,
    pub status: DownloadStatus,
    /// Where the flag was saved, for [`DownloadStatus::Ok`] (and the existing file, for
    /// [`DownloadStatus::Skipped`]).
    pub path: Option<PathBuf>,
    /// Body bytes saved.
    pub bytes: u64,
    /// From the first request for this code to its file saved, retry waits included.
    pub elapsed: Duration,
    /// HTTP requests made for this code (attempts, not counting `--names` metadata).
    pub attempts: u32,
    /// The last HTTP status received, if any (200 for a body that failed after it).
    pub http_status: Option<u16>,
    /// The HTTP version of the last answer: `1.0`, `1.1` or `2`.
    pub http_version: Option<&'static str>,
    /// The phases of its last exchange (see [`super::phases`]).
    pub timings: Option<Phases>,
    /// The connection its last exchange went over.
    pub connection: Option<ConnectionUse>,
}

impl Outcome {
    /// An outcome with no request made (skipped, or cancelled before it started).
    pub fn without_request(cc: &str, status: DownloadStatus) -> Outcome {
        Outcome {
            cc: cc.to_string(),
            status,
            path: None,
            bytes: 0,
            elapsed: Duration::ZERO,
            attempts: 0,
            http_status: None,
            http_version: None,
            timings: None,
            connection: None,
        }
    }

    /// `--skip-existing` found `path`.
    pub fn skipped(cc: &str, path: PathBuf) -> Outcome {
        Outcome {
            path: Some(path),
            ..Outcome::without_request(cc, DownloadStatus::Skipped)
        }
    }
}

/// Turns the result of a code's last attempt into its outcome. Shared by every mode, so
/// that the same result always ends the same way.
pub fn conclude(
    job: &Job,
    cc: &str,
    fetched: Result<Fetched, FetchError>,
    started: Instant,
    attempts: u32,
) -> Outcome {
    let mut outcome = Outcome::without_request(cc, DownloadStatus::Ok);
    outcome.attempts = attempts;
    match fetched {
        Ok(Fetched::Saved {
            path,
            bytes,
            http_version,
        }) => {
            outcome.http_status = Some(200);
            outcome.http_version = http_version;
            outcome.path = Some(path);
            outcome.bytes = bytes;
        }
        // Once the run is cancelled, a failure is most likely the cancellation itself
        // (the saver refuses to finish a file): count the code as cancelled, not failed.
        Err(_) if job.cancel.is_cancelled() => outcome.status = DownloadStatus::Cancelled,
        Ok(Fetched::NotFound { http_version }) => {
            outcome.http_status = Some(404);
            outcome.http_version = http_version;
            outcome.status = DownloadStatus::NotFound;
        }
        Err(e) => {
            outcome.http_status = e.http_status;
            outcome.http_version = e.http_version;
            outcome.status = DownloadStatus::Error(Failure {
                kind: e.kind,
                reason: e.reason,
                attempts,
            });
        }
    }
    outcome.elapsed = started.elapsed();
    if let Some(timings) = job.exchanges.conclude(cc) {
        // From the end of its first queueing (what queued before it is `timings.queued`)
        // to its last exchange's end, as the phases measured them.
        if let Some(ready) = timings.first_ready {
            outcome.elapsed = timings.last_end.saturating_duration_since(ready);
        }
        outcome.timings = Some(timings.phases);
        outcome.connection = timings.connection;
    }
    outcome
}
