//! `flags-dl bench`: the book's timing experiment as one command. It downloads the same
//! flags in each mode at several levels of concurrency, a few times each, and shows how long
//! that took: as a table on stdout, and optionally as JSON, CSV, Markdown and an SVG chart.
//!
//! The modules, in the order a bench meets them:
//!
//! - [`plan`]: the (mode, HTTP version, max-req) triples the [`BenchConfig`] asks for.
//! - [`run`]: the runner, which times each run and records its raw figures.
//! - [`child`]: each run in a child process, the download's own run
//!   ([`crate::run::one`]), and what it cost (memory, threads, CPU).
//! - [`summary`]: median, min, max, throughput and speed-up per (mode, HTTP version,
//!   max-req).
//! - [`phases`]: where each run's time went, phase by phase (queued, connect, wait...).
//! - [`stats`]: the median both take.
//! - [`table`]: the table on stdout.
//! - [`export`]: the JSON, CSV and Markdown files, rewritten as runs finish.
//! - [`plot`]: the SVG chart.
//!
//! This module only wires them together: it picks the codes and the server, and describes
//! the bench ([`Settings`]) for the outputs. It does no timing of its own. What it is asked
//! to do comes as plain values ([`BenchConfig`]), which `cli` reads from the command line.

pub mod child;
pub mod export;
pub mod phases;
pub mod plan;
pub mod plot;
pub mod run;
pub mod stats;
pub mod summary;
pub mod table;

use crate::codes::{self, Selection};
use crate::countries;
use crate::download::Mode;
use crate::error::{Error, Exit};
use crate::run::{Pictures, Server};
use crate::serve::inject::DelayRange;
use crate::site::Site;
use export::Exports;
use plan::{Config, Http};
use run::{BenchProgress, Runner};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

/// How long the reachability check waits for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a bench is asked to do.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Which codes each run downloads.
    pub selection: Selection,
    /// One server for the whole bench (the embedded one with
    /// [`DEFAULT_DELAY`](plan::DEFAULT_DELAY) unless given another).
    pub server: Server,
    /// In the order given; sequential is the baseline.
    pub modes: Vec<Mode>,
    /// The HTTP versions async runs offer, in order, once each.
    pub http: Vec<Http>,
    /// The levels of requests in flight, sorted and distinct (none given:
    /// [`default_max_req`](plan::default_max_req)).
    pub max_req: Vec<usize>,
    /// Timed runs of each (mode, HTTP version, max-req), and untimed runs of each mode
    /// (and HTTP version) before them.
    pub runs: usize,
    pub warmup: usize,
    /// What is written besides the table: each config's first timed run drawn, the
    /// exports, the chart.
    pub pictures: Pictures,
    pub exports: Exports,
    pub plot: Option<PathBuf>,
}

impl BenchConfig {
    /// The (mode, HTTP version, max-req) triples to time, in the order of `modes`, then
    /// HTTP/1.1 before HTTP/2, then max-req ascending.
    pub fn configs(&self, code_count: usize) -> Vec<Config> {
        let levels = if self.max_req.is_empty() {
            plan::default_max_req(code_count)
        } else {
            self.max_req.clone()
        };
        plan::plan(&self.modes, &self.http, &levels)
    }
}

/// What was measured, where and on what: the header of the table, the title of the chart,
/// and the `settings` of the JSON export.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    /// The server's label: EMBEDDED, LOCAL, DELAY, ERROR, REMOTE or Custom.
    pub site: String,
    pub base_url: String,
    /// How the codes were chosen, for people: "the book's top 20 by population".
    pub data_set: String,
    pub code_count: usize,
    /// Codes that are countries of the data set; the others can only be not found.
    pub flag_count: usize,
    pub codes: Vec<String>,
    /// The embedded server's delay per request; `None` for another server.
    pub delay_min_s: Option<f64>,
    pub delay_max_s: Option<f64>,
    /// The embedded server's share of 418 answers; `None` for another server.
    pub error_rate: Option<f64>,
    /// The runs speak HTTPS.
    pub tls: bool,
    /// The embedded server's round trip (`--latency`), in milliseconds; `None` for none,
    /// or for another server, whose network is its own.
    pub latency_ms: Option<u64>,
    pub modes: Vec<Mode>,
    /// The HTTP versions async runs offered; threads and sequential speak HTTP/1.1 only.
    pub http: Vec<Http>,
    pub max_req: Vec<usize>,
    pub runs: usize,
    pub warmup: usize,
    /// `std::thread::available_parallelism`.
    pub cpus: usize,
    pub os: String,
    pub flags_dl_version: String,
    /// What a run's time covers.
    pub timing: String,
}

impl Settings {
    /// "20 flags", or "676 codes (194 flags)" when some codes are not countries.
    pub fn what(&self) -> String {
        if self.flag_count == self.code_count {
            plural(self.code_count, "flag")
        } else {
            format!(
                "{} ({})",
                plural(self.code_count, "code"),
                plural(self.flag_count, "flag")
            )
        }
    }

    /// "0.1–0.3 s delay per request", "no delay", or the other server's own.
    pub fn delay(&self) -> String {
        match (self.delay_min_s, self.delay_max_s) {
            (Some(min), Some(max)) if max == 0.0 && min == 0.0 => "no delay".into(),
            (Some(_), Some(_)) => format!("{} delay per request", self.delay_range()),
            _ => "the server's own delay".into(),
        }
    }

    /// "0.1–0.3 s", "0.5 s"; empty for another server.
    pub fn delay_range(&self) -> String {
        match (self.delay_min_s, self.delay_max_s) {
            (Some(min), Some(max)) => DelayRange {
                min: Duration::from_secs_f64(min),
                max: Duration::from_secs_f64(max),
            }
            .to_string(),
            _ => String::new(),
        }
    }

    /// "the embedded flag server" or "the LOCAL server (http://...)".
    pub fn server(&self) -> String {
        if self.site == "EMBEDDED" {
            "the embedded flag server".into()
        } else {
            format!("the {} server {}", self.site, self.base_url)
        }
    }

    /// What lies between client and server: "over HTTPS, a 20 ms round trip"; empty for
    /// plain HTTP with no added latency.
    pub fn network(&self) -> String {
        let mut parts = vec![];
        if self.tls {
            parts.push("over HTTPS".to_string());
        }
        if let Some(ms) = self.latency_ms {
            parts.push(format!("a {ms} ms round trip"));
        }
        parts.join(", ")
    }

    /// "async over HTTP/1.1 and over HTTP/2 (...)" when async runs compare versions or
    /// speak HTTP/2; `None` when every run speaks HTTP/1.1, the book's case.
    pub fn protocols(&self) -> Option<String> {
        let async_over = match self.http[..] {
            [Http::H1, Http::H2] => "async over HTTP/1.1 and over HTTP/2 (offered by ALPN)",
            [Http::H2] => "async over HTTP/2 (offered by ALPN)",
            _ => return None,
        };
        let others: Vec<String> = self
            .modes
            .iter()
            .filter(|&&m| m != Mode::Async)
            .map(Mode::to_string)
            .collect();
        Some(if others.is_empty() {
            async_over.to_string()
        } else {
            format!("{async_over}; {} over HTTP/1.1", others.join(" and "))
        })
    }

    /// "2 CPUs, linux".
    pub fn machine(&self) -> String {
        format!("{}, {}", plural(self.cpus, "CPU"), self.os)
    }

    /// "3 runs after 1 warm-up per mode" (and per HTTP version, when async runs over two).
    pub fn repetitions(&self) -> String {
        let runs = plural(self.runs, "timed run");
        let per = if self.http.len() > 1 {
            "per mode and HTTP version"
        } else {
            "per mode"
        };
        match self.warmup {
            0 => format!("{runs} each, no warm-up"),
            n => format!("{runs} each, after {} {per}", plural(n, "warm-up")),
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Runs the benchmark and prints its table.
pub fn run_bench(config: BenchConfig) -> anyhow::Result<Exit> {
    let codes =
        codes::expand_from_stdin(&config.selection).map_err(|e| Error::Usage(e.to_string()))?;
    let configs = config.configs(codes.len());

    // Checked before the server starts: a bench that runs for minutes and then cannot write
    // its chart has wasted them.
    for path in [
        &config.exports.json,
        &config.exports.csv,
        &config.exports.markdown,
        &config.plot,
        &config.pictures.timeline,
        &config.pictures.trace,
    ]
    .into_iter()
    .flatten()
    {
        crate::output::check("a report", path)?;
    }

    // One server for the whole bench, kept alive until the end: dropping it stops it.
    let server = &config.server;
    let delay = server.embedded.delay;
    // The bench has no proxy options: its runs follow the environment, as a download does.
    let proxies = crate::proxy::ProxyRules::from_env();
    let start = crate::run::start(server, CONNECT_TIMEOUT, None, &proxies)?;
    let base_url = start.site.base_url.clone();

    let runner = Runner {
        base_url: &base_url,
        codes: &codes,
        runs: config.runs,
        warmup: config.warmup,
        start: &start,
        cancel: tokio_util::sync::CancellationToken::new(),
        pictures: config.pictures.clone(),
    };
    // Ctrl-C stops the run under way (its child process stops when told) and the bench.
    crate::interrupt::watch_cancel(runner.cancel.clone());
    let lowered = configs
        .iter()
        .map(|&c| runner.in_flight(c))
        .filter_map(|limit| Some((limit.lowered_from?, limit.used)))
        .max();
    if let (Some((wanted, used)), Some(fds)) = (lowered, start.fd_limit) {
        eprintln!(
            "flags-dl: warning: the open-file limit ({fds}) allows {used} requests in flight, not {wanted}; runs asking for more use {used} (raise it with `ulimit -n`)"
        );
    }

    let settings = Settings {
        site: server.site.label().to_string(),
        base_url: crate::address::shown_url(&base_url),
        data_set: data_set(&config.selection, &codes),
        code_count: codes.len(),
        flag_count: codes
            .iter()
            .filter(|cc| countries::country(cc).is_some())
            .count(),
        codes: codes.clone(),
        delay_min_s: delay.map(|d| d.min.as_secs_f64()),
        delay_max_s: delay.map(|d| d.max.as_secs_f64()),
        error_rate: match server.site {
            Site::Embedded => Some(server.embedded.error_rate),
            Site::Remote { .. } => None,
        },
        tls: base_url.starts_with("https:"),
        // Zero for none, and for another server, whose network is its own.
        latency_ms: (!server.embedded.latency.is_zero())
            .then_some(server.embedded.latency.as_millis() as u64),
        modes: dedup(configs.iter().map(|c| c.mode)),
        http: dedup(
            configs
                .iter()
                .filter(|c| c.mode == Mode::Async)
                .map(|c| c.http),
        ),
        max_req: dedup(
            configs
                .iter()
                .filter(|c| c.mode != Mode::Sequential)
                .map(|c| c.max_req),
        ),
        runs: runner.runs,
        warmup: runner.warmup,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        os: std::env::consts::OS.to_string(),
        flags_dl_version: env!("CARGO_PKG_VERSION").to_string(),
        timing: "from the first request to the last file saved, into a fresh temporary folder"
            .into(),
    };

    let mut stdout = io::stdout().lock();
    write!(stdout, "{}", table::header(&settings))?;
    stdout.flush()?;

    let exports = &config.exports;
    // Written once before the first run, and again after every run: a bench stopped half
    // way leaves files that hold every run it finished.
    exports.write(&settings, &configs, &[], false)?;

    let progress = BenchProgress::new(runner.total_downloads(&configs));
    let ran = runner.run_all(&configs, &progress, &mut |records| {
        exports.write(&settings, &configs, records, false)
    });
    progress.finish();
    let ran = ran?;

    // Interrupted, the bench still shows and saves what it finished: that is data too.
    let rows = summary::summarize(&configs, &ran.records, codes.len());
    write!(stdout, "{}", table::rows(&settings, &rows))?;
    if ran.interrupted {
        writeln!(
            stdout,
            "Interrupted: the table shows the {} that finished.",
            plural(ran.records.len(), "timed run")
        )?;
    }
    exports.write(&settings, &configs, &ran.records, !ran.interrupted)?;
    if let Some(path) = &config.plot {
        if !rows.is_empty() {
            let svg = plot::render_svg(&settings, &rows)?;
            crate::output::write("the plot", path, svg.as_bytes())?;
        }
    }
    drop(start);
    Ok(if ran.interrupted {
        Exit::Interrupted
    } else {
        Exit::Success
    })
}

/// How the codes were chosen, for the header and the JSON settings.
fn data_set(selection: &Selection, codes: &[String]) -> String {
    let source = if selection.every {
        "every pair AA–ZZ"
    } else if selection.all {
        "all the countries of the data set"
    } else if selection.args.is_empty() {
        "the book's top 20 by population"
    } else {
        "the codes given"
    };
    match selection.limit {
        Some(n) if n == codes.len() => format!("the first {n} by code of {source}"),
        _ => source.to_string(),
    }
}

/// The distinct items, in their first order.
fn dedup<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = vec![];
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}
