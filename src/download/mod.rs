//! Downloading flags: the outcome of one code, the settings of a run, and the three ways
//! the book runs it ([`Mode`]).
//!
//! Every mode has the book's shape: `get_flag` fetches one image, `download_one` fetches
//! and saves one code and returns how it ended, and `download_many` runs them all and hands
//! each [`Outcome`] to the caller as it finishes. One failing code never stops the others,
//! and every code yields exactly one outcome, even when the run is cancelled. Counting and
//! printing are the caller's (see `report`), so the modes differ only in how they schedule
//! requests. What is common to all of them (classifying a response, retry waits, the
//! metadata of `--names`, turning a result into an outcome) is here.

pub mod asyncio;
pub mod blocking;
pub mod pool;
pub mod retry;
pub mod sequential;
pub mod threads;

use crate::save::Saver;
use retry::RetryPolicy;
use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How requests are scheduled: the book's three scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One tokio task per code, a semaphore capping requests in flight (flags2_asyncio.py).
    Async,
    /// A pool of OS threads doing blocking I/O (flags2_threadpool.py).
    Threads,
    /// One request at a time over one kept-alive connection (flags2_sequential.py).
    Sequential,
}

impl Mode {
    /// The book's `DEFAULT_CONCUR_REQ` for this mode.
    pub fn default_max_req(self) -> usize {
        match self {
            Mode::Async => 5,
            Mode::Threads => 30,
            Mode::Sequential => 1,
        }
    }

    /// The book's `MAX_CONCUR_REQ`: the most requests in flight this mode allows.
    pub fn max_max_req(self) -> usize {
        match self {
            Mode::Async | Mode::Threads => 1000,
            Mode::Sequential => 1,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Async => "async",
            Mode::Threads => "threads",
            Mode::Sequential => "sequential",
        })
    }
}

/// How one code ended (the book's `DownloadStatus`, with the reason for an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadStatus {
    /// Fetched, checked and saved.
    Ok,
    /// The server answered 404: the data set has no such flag. Not an error.
    NotFound,
    /// Anything else, with a reason a person can act on.
    Error(String),
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
    /// The last HTTP status received, if any.
    pub http_status: Option<u16>,
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
        }
    }
}

/// The settings of one download run, shared by every mode.
#[derive(Debug, Clone)]
pub struct Job {
    /// Base URL without a trailing slash: flags are at `<base>/<cc>/<cc>.gif`.
    pub base_url: String,
    /// Upper case, sorted, distinct.
    pub codes: Vec<String>,
    /// Writes into the output folder, atomically; stops writing once cancelled.
    pub saver: Arc<Saver>,
    /// Requests in flight at once (threads in the pool, permits of the semaphore).
    pub max_req: usize,
    /// For the whole of one request, body included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Bodies larger than this are abandoned as soon as the limit is passed.
    pub max_size: u64,
    /// Which failures are tried again, how often, and how long to wait.
    pub retry: RetryPolicy,
    /// Fetch `metadata.json` too and name files `<Country_Name>-<cc>.gif` (the book's flags3).
    pub names: bool,
    /// Files already in the output folder, for `--skip-existing` (`None`: skip nothing).
    pub existing: Option<Arc<HashSet<String>>>,
    /// Cancelled on Ctrl-C: no new request starts, requests in flight are dropped.
    pub cancel: CancellationToken,
    /// Requests in flight now, and the most there were at once.
    pub in_flight: Arc<InFlight>,
}

impl Job {
    /// Default limits for `base_url` and `codes`, writing into `out_dir`.
    pub fn new(base_url: String, codes: Vec<String>, out_dir: PathBuf, max_req: usize) -> Job {
        Job {
            base_url,
            codes,
            saver: Arc::new(Saver::new(out_dir)),
            max_req,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_size: 10 * 1024 * 1024,
            retry: RetryPolicy::default(),
            names: false,
            existing: None,
            cancel: CancellationToken::new(),
            in_flight: Arc::default(),
        }
    }

    /// The existing file that lets `--skip-existing` skip `cc`, if any.
    pub fn existing_file(&self, cc: &str) -> Option<PathBuf> {
        let existing = self.existing.as_ref()?;
        let plain = flag_file_name(cc);
        let suffix = format!("-{plain}");
        // With --names the country part is unknown until the metadata is fetched, so any
        // `<name>-<cc>.gif` counts, as does a plain `<cc>.gif`.
        existing
            .iter()
            .find(|name| **name == plain || (self.names && name.ends_with(&suffix)))
            .map(|name| self.saver.dir().join(name))
    }

    fn timed_out(&self) -> FetchError {
        FetchError::transient(format!("timed out after {} s", self.timeout.as_secs_f64()))
    }
}

/// Runs every code of `job` in `mode`, calling `on_outcome` once per code, on the calling
/// thread, as each finishes.
pub fn download_many(
    mode: Mode,
    job: &Job,
    on_outcome: &mut dyn FnMut(Outcome),
) -> anyhow::Result<()> {
    match mode {
        Mode::Async => asyncio::download_many(job, on_outcome),
        Mode::Threads => threads::download_many(job, on_outcome),
        Mode::Sequential => sequential::download_many(job, on_outcome),
    }
}

/// Counts the requests in flight, and remembers the most there were at once, so that a
/// benchmark can show the concurrency a run really reached, not the one it asked for.
#[derive(Debug, Default)]
pub struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    /// Marks one request as started until the guard is dropped.
    pub fn enter(&self) -> InFlightGuard<'_> {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        InFlightGuard(self)
    }

    /// The most requests in flight at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

/// Ends one request's stay in flight when dropped.
pub struct InFlightGuard<'a>(&'a InFlight);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a successful fetch of one code gave.
#[derive(Debug)]
pub enum Fetched {
    /// 200 with a checked GIF body, and the file name to save it under.
    Image { image: Vec<u8>, file_name: String },
    /// 200, checked and already saved as it arrived (the async mode).
    Saved { path: PathBuf, bytes: u64 },
    /// 404.
    NotFound,
}

/// A 200 response's body, read within its limit.
#[derive(Debug)]
pub struct Body {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

/// Why a fetch failed, as the user will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    /// Lower case, no trailing period: `HTTP 418 I'm a teapot`, `connection refused`.
    pub reason: String,
    /// The status, when the server answered.
    pub http_status: Option<u16>,
    /// Whether trying again may help (a reset, a timeout, a 503), as opposed to a final
    /// answer (a 418, a body that is not a GIF).
    pub transient: bool,
    /// The server's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
    /// The connection was closed or reset before any response arrived: most likely a
    /// kept-alive connection the server had already closed. Sent again at once, on a new
    /// connection, without counting an attempt (RFC 9112 §9.3.1 allows it for a GET).
    pub stale_connection: bool,
}

impl FetchError {
    /// A final failure: trying again would give the same.
    pub fn new(reason: impl Into<String>) -> FetchError {
        FetchError {
            reason: reason.into(),
            http_status: None,
            transient: false,
            retry_after: None,
            stale_connection: false,
        }
    }

    /// A failure of the connection or of time, worth another attempt.
    pub fn transient(reason: impl Into<String>) -> FetchError {
        FetchError {
            transient: true,
            ..FetchError::new(reason)
        }
    }

    /// Marks a failure that came after a 200 (the body was cut short, too large, not a
    /// GIF), so that the outcome reports the status that was received.
    pub fn after_ok(mut self) -> FetchError {
        self.http_status = Some(200);
        self
    }

    /// A status other than 200 and 404; transient if the policy retries it.
    pub fn status(code: u16, policy: &RetryPolicy, retry_after: Option<&str>) -> FetchError {
        let reason = hyper::StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .map_or_else(|| format!("HTTP {code}"), |r| format!("HTTP {code} {r}"));
        FetchError {
            reason,
            http_status: Some(code),
            transient: policy.retries_status(code),
            retry_after: retry_after.and_then(retry::parse_retry_after),
            stale_connection: false,
        }
    }
}

/// Checks a 200 body before it may be saved: it must be a GIF.
pub fn check_gif(body: &[u8], content_type: Option<&str>) -> Result<(), FetchError> {
    if body.starts_with(b"GIF87a") || body.starts_with(b"GIF89a") {
        return Ok(());
    }
    Err(not_a_gif(content_type))
}

/// The reason for a 200 whose body is not a GIF: `not a GIF (text/html)`.
pub fn not_a_gif(content_type: Option<&str>) -> FetchError {
    let what = content_type.unwrap_or("no content type");
    FetchError::new(format!("not a GIF ({what})")).after_ok()
}

/// The reason for a body larger than the limit.
pub fn too_large(limit: u64) -> FetchError {
    FetchError::new(format!(
        "response larger than {} (raise --max-size to accept it)",
        human_bytes(limit)
    ))
}

/// The most bytes of a non-200 body read just to keep its connection for the next request.
pub const DRAIN: u64 = 64 * 1024;

/// The most bytes of `metadata.json` read: a real one is under 100 bytes.
pub const MAX_METADATA: u64 = 64 * 1024;

/// The country name in a `metadata.json` body; anything else is an error for that code.
pub fn parse_metadata(body: &[u8]) -> Result<String, FetchError> {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| FetchError::new(format!("metadata is not JSON ({e})")))?;
    match doc.get("country") {
        Some(serde_json::Value::String(name)) => Ok(name.clone()),
        Some(_) => Err(FetchError::new("metadata's \"country\" is not a string")),
        None => Err(FetchError::new("metadata has no \"country\"")),
    }
}

/// The reason for a metadata body over [`MAX_METADATA`].
pub fn metadata_too_large() -> FetchError {
    FetchError::new(format!(
        "metadata larger than {}",
        human_bytes(MAX_METADATA)
    ))
}

pub fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 && n % (1024 * 1024) == 0 {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n % 1024 == 0 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// The file name a code's flag is saved under without `--names`.
pub fn flag_file_name(cc: &str) -> String {
    format!("{}.gif", cc.to_ascii_lowercase())
}

/// Turns a fetch result into the code's outcome, saving the image if there is one.
///
/// Shared by every mode, so that the same result always ends the same way.
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
        Ok(Fetched::Image { image, file_name }) => {
            outcome.http_status = Some(200);
            match job.saver.save(&file_name, &image) {
                Ok(path) => {
                    outcome.path = Some(path);
                    outcome.bytes = image.len() as u64;
                }
                Err(_) if job.cancel.is_cancelled() => {
                    outcome.status = DownloadStatus::Cancelled;
                }
                Err(e) => outcome.status = DownloadStatus::Error(format!("cannot save: {e}")),
            }
        }
        Ok(Fetched::Saved { path, bytes }) => {
            outcome.http_status = Some(200);
            outcome.path = Some(path);
            outcome.bytes = bytes;
        }
        // Once the run is cancelled, a failure is most likely the cancellation itself
        // (the saver refuses to finish a file): count the code as cancelled, not failed.
        Err(_) if job.cancel.is_cancelled() => outcome.status = DownloadStatus::Cancelled,
        Ok(Fetched::NotFound) => {
            outcome.http_status = Some(404);
            outcome.status = DownloadStatus::NotFound;
        }
        Err(e) => {
            outcome.http_status = e.http_status;
            let mut reason = e.reason;
            if attempts > 1 {
                reason = format!("{reason} (after {attempts} attempts)");
            }
            outcome.status = DownloadStatus::Error(reason);
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// Whether an I/O error means the server closed the connection under us.
pub fn is_closed_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe
    )
}

/// Runs one attempt of `fetch`, and runs it once more at once if the first failed on a
/// connection that was closed before any response: the same request on a fresh connection.
pub fn with_fresh_connection<T>(
    mut fetch: impl FnMut() -> Result<T, FetchError>,
) -> Result<T, FetchError> {
    match fetch() {
        Err(e) if e.stale_connection => fetch(),
        other => other,
    }
}

/// Describes an I/O error from the network in the user's terms; all such errors are
/// transient except those of the local system.
pub fn describe_io(e: &std::io::Error) -> FetchError {
    use std::io::ErrorKind::*;
    let reason = match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset by the server".into(),
        ConnectionAborted => "connection aborted".into(),
        UnexpectedEof => "connection closed before the response was complete".into(),
        BrokenPipe => "connection closed by the server while sending the request".into(),
        TimedOut => "timed out".into(),
        _ => e.to_string(),
    };
    FetchError::transient(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reasons_read_as_the_book_prints_them() {
        let policy = RetryPolicy::default();
        assert_eq!(
            FetchError::status(418, &policy, None).reason,
            "HTTP 418 I'm a teapot"
        );
        let unavailable = FetchError::status(503, &policy, Some("2"));
        assert_eq!(unavailable.reason, "HTTP 503 Service Unavailable");
        assert!(unavailable.transient);
        assert_eq!(unavailable.retry_after, Some(Duration::from_secs(2)));
        assert!(!FetchError::status(418, &policy, None).transient);
        assert_eq!(FetchError::status(599, &policy, None).reason, "HTTP 599");
    }

    #[test]
    fn only_gif_bodies_pass() {
        assert!(check_gif(b"GIF89a...", Some("image/gif")).is_ok());
        assert!(check_gif(b"GIF87a...", None).is_ok());
        let err = check_gif(b"<html>", Some("text/html")).unwrap_err();
        assert_eq!(err.reason, "not a GIF (text/html)");
    }

    #[test]
    fn size_limits_are_named_in_the_units_given() {
        assert_eq!(
            too_large(10 * 1024 * 1024).reason,
            "response larger than 10 MiB (raise --max-size to accept it)"
        );
        assert_eq!(human_bytes(1000), "1000 bytes");
    }

    #[test]
    fn metadata_must_be_json_with_a_string_country() {
        assert_eq!(
            parse_metadata(br#"{"country": "Brazil"}"#).unwrap(),
            "Brazil"
        );
        assert!(parse_metadata(b"<html>")
            .unwrap_err()
            .reason
            .starts_with("metadata is not JSON"));
        assert!(parse_metadata(br#"{"country": 7}"#)
            .unwrap_err()
            .reason
            .contains("not a string"));
        assert!(parse_metadata(br#"{}"#)
            .unwrap_err()
            .reason
            .contains("no \"country\""));
    }
}
