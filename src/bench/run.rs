//! The runner: times each (mode, HTTP version, max-req) `--runs` times, after `--warmup`
//! untimed runs of each mode over each HTTP version, and records every run's raw figures.
//!
//! A run is one ordinary run of the downloader ([`crate::run::one`]) into a fresh
//! temporary folder, with a fresh job (so its in-flight gauge starts at zero), timed from
//! the first request to the last file saved, in a process of its own
//! ([`child`](super::child)) so that its memory and threads are its own. Nothing here summarizes, prints a table or writes a file: the
//! caller gets each [`RunRecord`] as it is made and decides what to do with it.

use super::child::{run_in_child, Measured, RunSpec};
use super::plan::{Config, Http};
use crate::download::Mode;
use crate::run::{Pictures, RunStart};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The raw figures of one timed run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRecord {
    pub mode: Mode,
    /// The HTTP version the run offered: "2" (by ALPN) or "1.1" (only).
    pub http_offered: Http,
    /// The HTTP versions that answered its requests: "1.1", "2", "1.1+2" when some came
    /// over each; none when nothing answered.
    pub http_version: Option<String>,
    /// As asked for with `--max-req` (1 for sequential).
    pub max_req: usize,
    /// What the run allowed: `max_req` capped by the number of codes, the mode's own limit
    /// and the open-file limit.
    pub max_req_used: usize,
    /// 1-based, among the timed runs of this (mode, max-req).
    pub run: usize,
    /// From the first request to the last file saved.
    pub elapsed_s: f64,
    pub ok: usize,
    pub not_found: usize,
    /// Codes that ended neither downloaded nor not found.
    pub errors: usize,
    /// The most requests really in flight at once.
    pub peak_in_flight: usize,
    /// The high-water mark of the resident memory of the process that ran the run (its
    /// own, a child of the bench; the embedded server is the bench's), in bytes.
    pub peak_rss_bytes: u64,
    /// The most OS threads that process had at once, sampled every few milliseconds (0
    /// where there is no /proc to read them from).
    pub peak_threads: usize,
    /// Its user plus system CPU time, from its start to its exit.
    pub cpu_s: f64,
    /// Each phase's median over its exchanges: for the line's medians, not exported per
    /// run (the CSV is flat).
    #[serde(skip)]
    pub phases: super::phases::PhaseMedians,
}

/// Where and what every run downloads.
pub struct Runner<'a> {
    pub base_url: &'a str,
    pub codes: &'a [String],
    /// Timed runs per (mode, max-req).
    pub runs: usize,
    /// Untimed runs per mode.
    pub warmup: usize,
    /// The server, the trust store and the open-file limit, shared with the download
    /// command's start.
    pub start: &'a RunStart,
    /// One token for the whole bench, given to every run's job: Ctrl-C cancels it, and a
    /// Ctrl-C between two runs still stops the next one from starting.
    pub cancel: CancellationToken,
    /// `--timeline` and `--trace`: drawn for each config's first timed run.
    pub pictures: Pictures,
}

/// `t.svg` for async at -m 100: `t-async-m100.svg`, or `t-async-h2-m100.svg` over HTTP/2.
fn picture_path(path: &std::path::Path, config: Config) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    let http = match config.http {
        Http::H1 => "",
        Http::H2 => "-h2",
    };
    path.with_file_name(format!(
        "{stem}-{}{http}-m{}{ext}",
        config.mode, config.max_req
    ))
}

/// What [`Runner::run_all`] got through.
#[derive(Debug, Default)]
pub struct Ran {
    /// Every timed run that finished; a run cut short by Ctrl-C is not a measurement.
    pub records: Vec<RunRecord>,
    /// Ctrl-C stopped the bench before the end.
    pub interrupted: bool,
}

impl Runner<'_> {
    /// The requests in flight a run of `config` really allows. Values above the number of
    /// codes are kept in the table (the flattening of the curve is the lesson) but cannot
    /// put more requests in flight than there are codes.
    pub fn max_req_used(&self, config: Config) -> usize {
        self.in_flight(config).used
    }

    /// The download command's rule (`requests_in_flight`), for one config.
    pub fn in_flight(&self, config: Config) -> crate::download::mode::InFlightLimit {
        self.start
            .requests_in_flight(config.mode, Some(config.max_req), self.codes.len())
    }

    /// Downloads, as [`run_once`](super::child::run_once) counts them, that [`Runner::run_all`] will make.
    pub fn total_downloads(&self, configs: &[Config]) -> u64 {
        let mut series: Vec<(Mode, Http)> = configs.iter().map(|c| (c.mode, c.http)).collect();
        series.dedup();
        let runs = configs.len() * self.runs + series.len() * self.warmup;
        (runs * self.codes.len()) as u64
    }

    /// Runs every config in order, calling `on_run` with all the records so far after each
    /// timed run (so exports can be rewritten as the bench goes), and returns them all.
    /// Ctrl-C ends it early, with the runs finished so far.
    pub fn run_all(
        &self,
        configs: &[Config],
        progress: &BenchProgress,
        on_run: &mut dyn FnMut(&[RunRecord]) -> anyhow::Result<()>,
    ) -> anyhow::Result<Ran> {
        let mut records = vec![];
        let interrupted = |records| {
            Ok(Ran {
                records,
                interrupted: true,
            })
        };
        let mut warmed: Vec<(Mode, Http)> = vec![];
        for &config in configs {
            let series = (config.mode, config.http);
            if !warmed.contains(&series) {
                warmed.push(series);
                // One warm-up per mode and HTTP version, not per max-req: what a warm-up
                // warms (the process, the server, the code paths of the mode and of the
                // protocol) is the same at every level, and at the highest level it costs
                // the least time.
                let fastest = Config {
                    max_req: configs
                        .iter()
                        .filter(|c| (c.mode, c.http) == series)
                        .map(|&c| self.max_req_used(c))
                        .max()
                        .unwrap_or(1),
                    ..config
                };
                for i in 1..=self.warmup {
                    progress.begin(format!("{} warm-up {i}/{}", name(config), self.warmup));
                    let measured = self.run_once(fastest, None, progress)?;
                    if measured.interrupted {
                        return interrupted(records);
                    }
                }
            }
            let used = Config {
                max_req: self.max_req_used(config),
                ..config
            };
            for run in 1..=self.runs {
                progress.begin(format!(
                    "{} -m {} run {run}/{}",
                    name(config),
                    config.max_req,
                    self.runs
                ));
                let draw = (run == 1).then_some(config);
                let measured = self.run_once(used, draw, progress)?;
                if measured.interrupted {
                    return interrupted(records);
                }
                records.push(RunRecord {
                    mode: config.mode,
                    http_offered: config.http,
                    http_version: measured.http_version,
                    max_req: config.max_req,
                    max_req_used: used.max_req,
                    run,
                    elapsed_s: measured.elapsed.as_secs_f64(),
                    ok: measured.ok,
                    not_found: measured.not_found,
                    errors: measured.errors,
                    peak_in_flight: measured.peak_in_flight,
                    peak_rss_bytes: measured.peak_rss_bytes,
                    peak_threads: measured.peak_threads,
                    cpu_s: measured.cpu_s,
                    phases: measured.phases,
                });
                on_run(&records)?;
            }
        }
        Ok(Ran {
            records,
            interrupted: false,
        })
    }

    /// One run of `config`, whose `max_req` is what the run allows; `draw` names its
    /// pictures, if any.
    fn run_once(
        &self,
        config: Config,
        draw: Option<Config>,
        progress: &BenchProgress,
    ) -> anyhow::Result<Measured> {
        if self.cancel.is_cancelled() {
            return Ok(Measured {
                interrupted: true,
                ..Measured::default()
            });
        }
        let spec = RunSpec {
            mode: config.mode,
            http1_only: config.http == Http::H1,
            base_url: self.base_url.to_string(),
            codes: self.codes.to_vec(),
            max_req: config.max_req,
            timeline: draw.and_then(|c| Some(picture_path(self.pictures.timeline.as_ref()?, c))),
            trace: draw.and_then(|c| Some(picture_path(self.pictures.trace.as_ref()?, c))),
            ticks: progress.shown(),
            ca: self.start.site.embedded_ca().map(|ca| ca.to_vec()),
        };
        let mut measured = run_in_child(&spec, &self.cancel, &|| progress.advance(1))?;
        // A Ctrl-C during the run: what it cut short is no measurement, whatever the child
        // printed.
        measured.interrupted |= self.cancel.is_cancelled();
        Ok(measured)
    }
}

/// "async h2" for progress: a series of the table.
fn name(config: Config) -> String {
    match config.http {
        Http::H1 => config.mode.to_string(),
        Http::H2 => format!("{} h2", config.mode),
    }
}

/// The progress indicator on stderr: which run is going, and how far the whole bench is.
/// Hidden when stderr is not a terminal, so logs and pipes get only the table.
pub struct BenchProgress {
    bar: ProgressBar,
}

impl BenchProgress {
    /// A bar over `total` downloads (codes times runs, warm-ups included).
    pub fn new(total: u64) -> BenchProgress {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:<26} {bar:30.cyan/blue} {percent:>3}%  elapsed {elapsed}",
            )
            .expect("the template is valid"),
        );
        // Redrawn on a timer, not per download, so the bar costs the measured runs nothing
        // but an atomic increment.
        bar.enable_steady_tick(Duration::from_millis(100));
        BenchProgress { bar }
    }

    fn begin(&self, what: String) {
        self.bar.set_message(what);
    }

    fn advance(&self, n: usize) {
        self.bar.inc(n as u64);
    }

    /// Whether anyone sees the bar: runs report their progress only then.
    fn shown(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Removes the bar, so the table prints on a clean line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(fd_limit: Option<u64>) -> RunStart {
        RunStart {
            site: crate::site::OpenSite::remote_for_tests("http://127.0.0.1:9/flags"),
            trust: Default::default(),
            fd_limit,
        }
    }

    fn runner<'a>(codes: &'a [String], start: &'a RunStart) -> Runner<'a> {
        Runner {
            base_url: "http://127.0.0.1:9/flags",
            codes,
            runs: 3,
            warmup: 1,
            start,
            cancel: CancellationToken::new(),
            pictures: Pictures::default(),
        }
    }

    #[test]
    fn in_flight_is_capped_by_codes_mode_and_open_files() {
        let codes: Vec<String> = (0..20).map(|i| format!("C{i}")).collect();
        let roomy = start(None);
        let r = runner(&codes, &roomy);
        let used = |mode, max_req| {
            r.max_req_used(Config {
                mode,
                http: Http::H1,
                max_req,
            })
        };
        assert_eq!(used(Mode::Async, 4), 4);
        assert_eq!(used(Mode::Async, 256), 20);
        assert_eq!(used(Mode::Threads, 1000), 20);
        assert_eq!(used(Mode::Sequential, 64), 1);
        // 74 descriptors: 64 kept for the rest, 10 for connections.
        let tight = start(Some(74));
        let config = Config {
            mode: Mode::Async,
            http: Http::H2,
            max_req: 16,
        };
        assert_eq!(runner(&codes, &tight).max_req_used(config), 10);
    }

    #[test]
    fn pictures_over_http_2_are_named_apart() {
        let config = |http| Config {
            mode: Mode::Async,
            http,
            max_req: 100,
        };
        let path = std::path::Path::new("out/t.svg");
        assert_eq!(
            picture_path(path, config(Http::H1)),
            std::path::Path::new("out/t-async-m100.svg")
        );
        assert_eq!(
            picture_path(path, config(Http::H2)),
            std::path::Path::new("out/t-async-h2-m100.svg")
        );
    }

    #[test]
    fn total_counts_one_warmup_per_mode() {
        let codes: Vec<String> = (0..5).map(|i| format!("C{i}")).collect();
        let configs =
            super::super::plan::plan(&[Mode::Sequential, Mode::Async], &[Http::H1], &[1, 4]);
        // 3 configs x 3 runs + 2 modes x 1 warm-up = 11 runs of 5 codes.
        assert_eq!(runner(&codes, &start(None)).total_downloads(&configs), 55);
        // Async over two versions: 5 configs x 3 runs + 3 warm-ups = 18 runs.
        let both = super::super::plan::plan(
            &[Mode::Sequential, Mode::Async],
            &[Http::H1, Http::H2],
            &[1, 4],
        );
        assert_eq!(runner(&codes, &start(None)).total_downloads(&both), 90);
    }
}
