//! The settings of one download run, shared by every mode.

use super::failure::FetchError;
use super::pace::Pace;
use super::phases::ExchangeLog;
use super::record::{Attempt, Ended, Recorder};
use super::response::Fetched;
use super::retry::RetryPolicy;
use super::trust::Trust;
use crate::cli::ReliabilityArgs;
use crate::proxy::ProxyRules;
use crate::save::Saver;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// The settings of one download run, shared by every mode.
#[derive(Debug, Clone)]
pub struct Job {
    /// Base URL without a trailing slash: flags are at `<base>/<cc>/<cc>.gif`.
    pub base_url: String,
    /// Upper case, sorted, distinct.
    pub codes: Vec<String>,
    /// Writes into the output folder, atomically; stops writing once cancelled.
    pub saver: Arc<Saver>,
    /// Requests in flight at once (threads in the pool, permits of the semaphore), as
    /// [`super::mode::requests_in_flight`] decided.
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
    /// The certificate authorities trusted for an https server.
    pub trust: Trust,
    /// `--http1.1`: never offer HTTP/2.
    pub http1_only: bool,
    /// Which proxy each request goes through, for both clients (none by default).
    pub proxies: Arc<ProxyRules>,
    /// Set when `--timeline` or `--trace` asks for every attempt to be kept.
    pub recorder: Option<Arc<Recorder>>,
    /// Cancelled on Ctrl-C: no new request starts, requests in flight are dropped.
    pub cancel: CancellationToken,
    /// How fast to go at the server: requests in flight (at most `max_req`) and new
    /// connections, shared by every request of the run.
    pub pace: Arc<Pace>,
    /// Every exchange's phases (see [`super::phases`]), and the connections they used.
    pub exchanges: Arc<ExchangeLog>,
}

impl Job {
    /// A run of `codes` from `base_url` into `out_dir`, with the limits and options of
    /// `settings` (whose defaults are clap's, the one place they are written).
    pub fn new(
        base_url: String,
        codes: Vec<String>,
        out_dir: PathBuf,
        max_req: usize,
        settings: &ReliabilityArgs,
    ) -> Job {
        let saver = Arc::new(Saver::new(out_dir));
        let existing = settings
            .skip_existing
            .then(|| Arc::new(saver.existing_files()));
        Job {
            base_url,
            codes,
            saver,
            max_req,
            timeout: settings.timeout,
            connect_timeout: settings.connect_timeout,
            max_size: settings.max_size,
            retry: RetryPolicy {
                retries: settings.retries,
                statuses: settings.retry_status.0.clone(),
                ..RetryPolicy::default()
            },
            names: settings.names,
            trust: Trust::default(),
            recorder: None,
            http1_only: settings.http1_only,
            proxies: Arc::default(),
            existing,
            cancel: CancellationToken::new(),
            pace: Arc::new(Pace::new(max_req, settings.max_wait, settings.pace)),
            exchanges: Arc::default(),
        }
    }

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
                ended: Ended::of(fetched, retried),
            });
        }
    }

    /// The existing file that lets `--skip-existing` skip `cc`, if any.
    pub fn existing_file(&self, cc: &str) -> Option<PathBuf> {
        let existing = self.existing.as_ref()?;
        let plain = super::response::flag_file_name(cc);
        let suffix = format!("-{plain}");
        // With --names the country part is unknown until the metadata is fetched, so any
        // `<name>-<cc>.gif` counts, as does a plain `<cc>.gif`.
        existing
            .iter()
            .find(|name| **name == plain || (self.names && name.ends_with(&suffix)))
            .map(|name| self.saver.dir().join(name))
    }
}
