//! A run of the downloader: the one orchestration that the download command and each run
//! of the bench share, from plain configuration (which `cli` reads from the command line).
//!
//! - [`start`]: the server opened (the embedded one started, another checked to be
//!   reachable), its trust store read, the open-file limit raised. The download command
//!   starts once; the bench starts once for all its runs.
//! - [`requests_in_flight`](RunStart::requests_in_flight): the one rule for `-m`, for this
//!   server and machine.
//! - [`one`]: one run. Its [`Job`] built complete, every attempt recorded when the run is
//!   to be drawn, every exchange's phases kept when the run is to be drawn or written as
//!   a HAR (or when the caller wants them: the bench's phase medians), `download_many`,
//!   each event handed to the caller (the download command reports it, the bench counts
//!   it), then the timeline and trace drawn and the HAR written.
//! - [`download()`]: the download command around one run: the codes, the output folder, the
//!   report, the exit status.
//!
//! Nothing here reads the command line, and nothing below names this module.

use crate::codes::{self, Selection};
use crate::download::mode::InFlightLimit;
use crate::download::phases::{Exchange, Keep, Phases};
use crate::download::trust::Trust;
use crate::download::{self, DownloadStatus, ErrorKind, Event, Job, Mode, Parts, Settings};
use crate::error::{Error, Exit};
use crate::proxy::ProxyRules;
use crate::report::{self, Counter, RunEnd, RunInfo};
use crate::save::{self, Saver};
use crate::serve::EmbeddedOptions;
use crate::site::{OpenSite, Site};
use anyhow::Context;
use rustls_pki_types::CertificateDer;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The context of a failed write of the report (a full disk behind `> file`, say).
const STDOUT: &str = "cannot write the report to standard output";

/// Which server a run downloads from, and what the embedded one is asked to be.
#[derive(Debug, Clone)]
pub struct Server {
    pub site: Site,
    /// Its delay, errors, latency and TLS; for the embedded server only.
    pub embedded: EmbeddedOptions,
}

/// The files a run is drawn in, if asked: `--timeline` (SVG) and `--trace` (Chrome's
/// trace-event format).
#[derive(Debug, Clone, Default)]
pub struct Pictures {
    pub timeline: Option<PathBuf>,
    pub trace: Option<PathBuf>,
}

impl Pictures {
    /// Whether any picture is asked for: then every attempt is recorded.
    fn asked(&self) -> bool {
        self.timeline.is_some() || self.trace.is_some()
    }
}

/// What every run starts with, the download command's and the bench's alike.
pub struct RunStart {
    /// Kept alive until the end of the run: dropping it stops an embedded server.
    pub site: OpenSite,
    /// The certificate authorities trusted, for an https server.
    pub trust: Trust,
    /// The open-file limit, raised as far as the system allows (`None`: there is none).
    pub fd_limit: Option<u64>,
}

impl RunStart {
    /// The one rule for requests in flight, for this server and machine.
    pub fn requests_in_flight(
        &self,
        mode: Mode,
        asked: Option<usize>,
        codes: usize,
    ) -> InFlightLimit {
        download::requests_in_flight(mode, asked, codes, self.fd_limit, self.site.is_embedded())
    }
}

/// Starts a run: the server opened (the embedded one started, a remote one checked to be
/// reachable within `connect_timeout`), the trust store read for an https server, the
/// open-file limit raised.
pub fn start(
    server: &Server,
    connect_timeout: Duration,
    cacert: Option<&Path>,
    proxies: &ProxyRules,
) -> anyhow::Result<RunStart> {
    let site = server
        .site
        .open(server.embedded, connect_timeout, proxies)?;
    let trust = trust(&site.base_url, site.embedded_ca().cloned(), cacert, proxies)?;
    for skipped in &trust.skipped {
        eprintln!("flags-dl: warning: {}", crate::text::escaped(skipped));
    }
    Ok(RunStart {
        site,
        trust,
        fd_limit: crate::limits::raise_open_files(),
    })
}

/// The certificate authorities a run against `base_url` trusts: the embedded server's own
/// CA when there is one, the system's otherwise; `cacert`'s too. A file that cannot be
/// used is a usage error.
pub fn trust(
    base_url: &str,
    embedded_ca: Option<CertificateDer<'static>>,
    cacert: Option<&Path>,
    proxies: &ProxyRules,
) -> anyhow::Result<Trust> {
    let trust = match embedded_ca {
        Some(ca) => Trust::for_embedded(ca, cacert),
        None => Trust::for_server(base_url, proxies, cacert),
    };
    Ok(trust.map_err(|e| Error::Usage(e.0))?)
}

/// One run, described in full.
#[derive(Debug)]
pub struct Plan {
    pub mode: Mode,
    /// The codes, the server, the folder and the handles the caller keeps (its cancel
    /// token and saver, for Ctrl-C).
    pub parts: Parts,
    pub settings: Settings,
    pub pictures: Pictures,
    /// `--har`: where to write the run as an HTTP Archive (`-`: standard output).
    pub har: Option<PathBuf>,
    /// Keep every exchange for the caller, in [`Ran::exchanges`], even if nothing is drawn
    /// or written of them (the bench's phase medians).
    pub keep_exchanges: bool,
    /// Time each exchange though nothing is kept: the report shows the phases (NDJSON,
    /// `-v`). Keeping exchanges times them too.
    pub measure: bool,
}

/// How one run went, besides the events its caller saw.
#[derive(Debug)]
pub struct Ran {
    /// From the first request to the last outcome.
    pub elapsed: Duration,
    /// What the pace saw: the most requests in flight, connections, refusals.
    pub pace: download::pace::Stats,
    /// Every exchange's phases, summed phase by phase.
    pub timings: Phases,
    /// Every exchange, in the order they ended, if the plan kept them (for its pictures,
    /// its HAR or [`Plan::keep_exchanges`]); empty otherwise.
    pub exchanges: Vec<Exchange>,
}

/// One run of `plan`: its job built (before the clock starts: setting up is not
/// downloading), every attempt recorded if the run is to be drawn, every exchange kept if
/// it is to be drawn or written as a HAR, every code downloaded with each event handed to
/// `on_event` as it comes, then the pictures drawn and the HAR written.
pub fn one(plan: Plan, on_event: &mut dyn FnMut(Event)) -> anyhow::Result<Ran> {
    let Plan {
        mode,
        parts,
        settings,
        pictures,
        har,
        keep_exchanges,
        measure,
    } = plan;
    let exchanges = keep_exchanges || pictures.asked() || har.is_some();
    let keep = Keep {
        measure: measure || exchanges,
        exchanges,
        headers: har.is_some(),
    };
    let job = Job::new(parts, &settings, pictures.asked().then(Arc::default), keep);
    let started = Instant::now();
    download::download_many(mode, &job, on_event)?;
    let elapsed = started.elapsed();
    let exchanges = job.exchanges.exchanges();
    if let Some(recorder) = &job.recorder {
        let attempts = recorder.attempts();
        let picture = crate::timeline::Run {
            mode,
            max_req: job.max_req,
            started,
            ended: started + elapsed,
            attempts: &attempts,
            exchanges: &exchanges,
        };
        crate::timeline::write_pictures(
            &picture,
            pictures.timeline.as_deref(),
            pictures.trace.as_deref(),
        )?;
    }
    if let Some(path) = &har {
        crate::har::write_har(path, &job.exchanges)?;
    }
    Ok(Ran {
        elapsed,
        pace: job.pace.stats(),
        timings: job.exchanges.total(),
        exchanges,
    })
}

/// The download command, as the command line asked for it.
#[derive(Debug)]
pub struct DownloadConfig {
    pub selection: Selection,
    /// `--list`: print the codes and stop.
    pub list: bool,
    pub server: Server,
    pub mode: Mode,
    /// `-m`, if given; [`RunStart::requests_in_flight`] decides what is used.
    pub max_req: Option<usize>,
    pub out_dir: PathBuf,
    pub report: report::Form,
    pub pictures: Pictures,
    /// `--har`: where to write the run as an HTTP Archive (`-`: standard output).
    pub har: Option<PathBuf>,
    pub settings: Settings,
    /// `--cacert`: more certificate authorities to trust.
    pub cacert: Option<PathBuf>,
    pub proxies: ProxyRules,
}

/// The download command: choose the codes, find the server, download, report.
pub fn download(config: DownloadConfig) -> anyhow::Result<Exit> {
    let codes =
        codes::expand_from_stdin(&config.selection).map_err(|e| Error::Usage(e.to_string()))?;
    if config.list {
        let mut out = io::stdout().lock();
        for cc in &codes {
            writeln!(out, "{cc}")?;
        }
        return Ok(Exit::Success);
    }

    let mode = config.mode;
    let start = start(
        &config.server,
        config.settings.connect_timeout,
        config.cacert.as_deref(),
        &config.proxies,
    )?;
    let base_url = start.site.base_url.clone();
    // Only once there is a server to download from, so a failed start leaves no folder.
    save::prepare_output_dir(&config.out_dir)?;
    // As the output folder: a report that cannot be written fails now, not after the run.
    let har = config
        .har
        .as_ref()
        .filter(|path| path.as_os_str() != crate::har::STDOUT);
    let files = [
        ("the timeline", config.pictures.timeline.as_ref()),
        ("the trace", config.pictures.trace.as_ref()),
        // `--har -` is standard output, not a file.
        ("the HAR", har),
    ];
    for (what, path) in files {
        if let Some(path) = path {
            crate::output::check(what, path)?;
        }
    }

    let limit = start.requests_in_flight(mode, config.max_req, codes.len());
    if let (Some(wanted), Some(fds)) = (limit.lowered_from, start.fd_limit) {
        eprintln!(
            "flags-dl: warning: the open-file limit ({fds}) allows {} requests in flight, not {wanted}; using {} (raise it with `ulimit -n`)",
            limit.used, limit.used
        );
    }
    let max_req = limit.used;

    let (cancel, saver) = (
        CancellationToken::new(),
        Arc::new(Saver::new(config.out_dir.clone())),
    );
    crate::interrupt::watch(cancel.clone(), saver.clone());
    let stop = || {
        cancel.cancel();
        saver.stop();
    };

    let run = RunInfo {
        site_label: config.server.site.label().to_string(),
        base_url: base_url.clone(),
        codes: codes.clone(),
        mode,
        max_req,
    };
    let mut reporter = report::reporter(config.report);
    reporter.start(&run).context(STDOUT)?;

    let mut counter = Counter::default();
    let mut write_error = None;
    let mut tls_failure = None;
    let mut http2 = false;
    let plan = Plan {
        mode,
        parts: Parts {
            base_url,
            codes,
            max_req,
            saver: saver.clone(),
            trust: start.trust.clone(),
            proxies: Arc::new(config.proxies),
            cancel: cancel.clone(),
        },
        settings: config.settings,
        pictures: config.pictures,
        har: config.har,
        keep_exchanges: false,
        // What the report shows of each code's phases: NDJSON's and `-v`'s lines.
        measure: matches!(
            config.report,
            report::Form::Json | report::Form::Human { verbose: true, .. }
        ),
    };
    let ran = one(plan, &mut |event| {
        if write_error.is_some() || tls_failure.is_some() {
            if let Event::Outcome(outcome) = &event {
                counter.add(&outcome.status);
            }
            return;
        }
        let shown = match event {
            Event::Note(line) => reporter.note(&line),
            Event::Wait(wait) => reporter.wait(&wait),
            Event::Outcome(outcome) => {
                counter.add(&outcome.status);
                http2 |= outcome.http_version == Some("2");
                if let DownloadStatus::Error(failure) = &outcome.status {
                    if failure.kind == ErrorKind::Tls {
                        // The same certificate for every code: one line, not one per code.
                        tls_failure = Some(failure.reason.clone());
                        stop();
                        return;
                    }
                }
                reporter.outcome(&outcome)
            }
        };
        if let Err(e) = shown {
            // Nobody reads what we print (`| head -1`): stop downloading too.
            if e.kind() == io::ErrorKind::BrokenPipe {
                stop();
            }
            write_error = Some(e);
        }
    })?;
    if let Some(reason) = tls_failure {
        return Err(Error::Tls(reason).into());
    }
    if let Some(e) = write_error {
        return Err(anyhow::Error::new(e).context(STDOUT));
    }
    let end = RunEnd {
        counter,
        elapsed: ran.elapsed,
        peak_in_flight: ran.pace.peak_in_flight,
        pace_lowered: ran.pace.lowered,
        connections: ran.pace.connections,
        late_connects: ran.pace.late_connects,
        http2,
        timings: ran.timings,
    };
    reporter.finish(&run, &end).context(STDOUT)?;
    drop(start);
    Ok(if cancel.is_cancelled() {
        Exit::Interrupted
    } else if counter.error > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}
