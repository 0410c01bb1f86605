//! The settings of one download run, shared by every mode: what the user chose
//! ([`Settings`], read from the command line by `cli`) and what the run was given to work
//! with ([`Parts`]), joined into a [`Job`] that is complete once built.
//!
//! A job knows nothing of responses: [`Job::record`], which keeps an attempt for the
//! pictures, is in [`super::outcome`], with the rest that reads an attempt's result.

use super::pace::{Pace, PaceMode};
use super::phases::{ExchangeLog, Keep};
use super::record::Recorder;
use super::retry::RetryPolicy;
use super::trust::Trust;
use crate::proxy::ProxyRules;
use crate::save::Saver;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The limits and options of a run as the user chose them: plain values, which `cli` reads
/// from the command line (where their defaults are written, once) and the bench gives
/// each of its runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// For the whole of one request, body included.
    pub timeout: Duration,
    /// For opening a connection (and for the check that the server can be reached).
    pub connect_timeout: Duration,
    /// Bodies larger than this are abandoned as soon as the limit is passed.
    pub max_size: u64,
    /// Which failures are tried again, how often, and how long to wait.
    pub retry: RetryPolicy,
    /// Fetch `metadata.json` too and name files `<Country_Name>-<cc>.gif` (the book's flags3).
    pub names: bool,
    /// `--skip-existing`: don't request codes whose file is already in the output folder.
    pub skip_existing: bool,
    /// `--http1.1`: never offer HTTP/2.
    pub http1_only: bool,
    /// The most the run waits in all when the server asks it to.
    pub max_wait: Duration,
    /// Whether the run paces itself to the server.
    pub pace: PaceMode,
}

/// What a run is given to work with, besides the user's [`Settings`]: the codes, the
/// server, where files go, and the handles its caller keeps.
#[derive(Debug)]
pub struct Parts {
    /// Base URL without a trailing slash: flags are at `<base>/<cc>/<cc>.gif`.
    pub base_url: String,
    /// Upper case, sorted, distinct.
    pub codes: Vec<String>,
    /// Requests in flight at most, as [`super::mode::requests_in_flight`] decided.
    pub max_req: usize,
    /// Writes into the output folder; the caller keeps a handle to stop it on Ctrl-C.
    pub saver: Arc<Saver>,
    /// The certificate authorities trusted for an https server.
    pub trust: Trust,
    /// Which proxy each request goes through.
    pub proxies: Arc<ProxyRules>,
    /// Cancelled on Ctrl-C; the caller keeps a clone.
    pub cancel: CancellationToken,
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
    /// Requests in flight at most (threads in the pool; for async, the pace's ceiling),
    /// as [`super::mode::requests_in_flight`] decided.
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
    /// Which proxy each request goes through, for both clients.
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
    /// The job of `parts` with the limits and options of `settings`, keeping every attempt
    /// in `recorder` if given, and of its exchanges what `keep` asks for (each code's last
    /// is always kept, for its outcome): complete, nothing to set afterwards. With
    /// `--skip-existing`, the output folder is read here, once.
    pub fn new(
        parts: Parts,
        settings: &Settings,
        recorder: Option<Arc<Recorder>>,
        keep: Keep,
    ) -> Job {
        let Parts {
            base_url,
            codes,
            max_req,
            saver,
            trust,
            proxies,
            cancel,
        } = parts;
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
            retry: settings.retry.clone(),
            names: settings.names,
            existing,
            trust,
            http1_only: settings.http1_only,
            proxies,
            recorder,
            cancel,
            pace: Arc::new(Pace::new(max_req, settings.max_wait, settings.pace)),
            exchanges: Arc::new(ExchangeLog::new(keep)),
        }
    }

    /// A job of `codes` from `base_url` into `dir`, with settings fit for a test and
    /// nothing else given: no trust store, no proxy, no recorder, no exchange kept.
    #[cfg(test)]
    pub fn for_tests(base_url: &str, codes: &[&str], dir: &std::path::Path) -> Job {
        let parts = Parts {
            base_url: base_url.to_string(),
            codes: codes.iter().map(|cc| cc.to_string()).collect(),
            max_req: 4,
            saver: Arc::new(Saver::new(dir.to_path_buf())),
            trust: Trust::default(),
            proxies: Arc::default(),
            cancel: CancellationToken::new(),
        };
        let settings = Settings {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_size: 10 << 20,
            retry: RetryPolicy::default(),
            names: false,
            skip_existing: false,
            http1_only: false,
            max_wait: Duration::from_secs(60),
            pace: PaceMode::Auto,
        };
        Job::new(parts, &settings, None, Keep::default())
    }

    /// The existing file that lets `--skip-existing` skip `cc`, if any.
    pub fn existing_file(&self, cc: &str) -> Option<PathBuf> {
        let existing = self.existing.as_ref()?;
        let plain = crate::save::flag_file_name(cc);
        let suffix = format!("-{plain}");
        // With --names the country part is unknown until the metadata is fetched, so any
        // `<name>-<cc>.gif` counts, as does a plain `<cc>.gif`.
        existing
            .iter()
            .find(|name| **name == plain || (self.names && name.ends_with(&suffix)))
            .map(|name| self.saver.dir().join(name))
    }
}
