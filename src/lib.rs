//! flags-dl: the concurrent flag downloader of *Fluent Python*'s concurrency chapters, in
//! Rust, with its own flag server.
//!
//! A map of the modules, in the order a run meets them:
//!
//! - [`cli`]: the command line (clap); `main.rs` parses it and calls [`run`].
//! - [`codes`]: which country codes to fetch (the book's `expand_cc_args`).
//! - [`countries`]: the compiled-in data set, 194 codes with names and TLDs.
//! - [`site`]: where flags come from: server labels, base URLs, the reachability check.
//! - [`proxy`]: which proxy each request goes through, for every mode and the check.
//! - [`serve`]: the flag server, `flags-dl serve` and the embedded one.
//! - [`download`]: `get_flag`, `download_one` and `download_many` in three modes.
//! - [`save`]: atomic writes into the output folder.
//! - [`output`]: the report files a user names (timeline, trace, exports), written whole.
//! - [`har`]: `--har`, the run as an HTTP Archive.
//! - [`report`]: the book's report, `-v` lines and the progress bar.
//! - [`bench`](mod@bench): `flags-dl bench`, the timing experiment, its exports and chart.
//! - [`text`]: outside text made safe for file names and terminals.
//! - [`files`]: a certificate or key file read safely: regular files only, 4 MiB at most.
//! - [`limits`]: the open-file limit.
//! - [`interrupt`]: Ctrl-C: stop cleanly, report, exit 130.
//! - [`error`]: the errors that decide the exit status.

#![forbid(unsafe_code)]
// The library is the binary's inside, public only as far as main.rs and the tests need:
// its documentation is read with `cargo doc --document-private-items` (as .ci/run builds
// it), where links to private items, this module map's among them, resolve.
#![allow(rustdoc::private_intra_doc_links)]

mod bench;
mod cli;
mod codes;
mod countries;
mod download;
pub mod error;
mod files;
mod har;
mod interrupt;
mod limits;
mod output;
mod proxy;
mod report;
mod save;
mod serve;
mod site;
mod text;
mod timeline;

pub use cli::Cli;
pub use site::shown_url;
pub use text::{escaped, escaped_except, short, short_to};

use anyhow::Context;
use cli::{Command, DownloadArgs};
use download::{DownloadStatus, ErrorKind, Job};
use error::{Error, Exit};
use report::color::Paint;
use report::human::{Human, Look};
use report::json::Json;
use report::{Counter, Quiet, Reporter, RunEnd, RunInfo};
use std::io::{self, IsTerminal, Write};
use std::time::Instant;

/// The context of a failed write of the report (a full disk behind `> file`, say).
const STDOUT: &str = "cannot write the report to standard output";

/// Runs the parsed command line and says how the program should exit.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Some(Command::Serve(args)) => {
            serve::run_serve(args.config())?;
            Ok(Exit::Success)
        }
        Some(Command::Bench(args)) => bench::run_bench(&args),
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut for_completions(cli::command()),
                "flags-dl",
                &mut script,
            );
            if shell == clap_complete::Shell::Bash {
                script = fix_bash_completion(&script);
            }
            io::stdout().write_all(&script)?;
            Ok(Exit::Success)
        }
        Some(Command::Man) => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cli::command()).render(&mut page)?;
            io::stdout().write_all(&page)?;
            Ok(Exit::Success)
        }
        None => run_download(&cli.download),
    }
}

/// The command line as the completion scripts offer it: without hidden options (bench's
/// internal `--child-run`). clap_complete lists hidden options too (clap-rs/clap#1335) and
/// a `Command` cannot drop an argument, so a subcommand that has one is re-made from its
/// visible arguments and its one-line help, all a completion script reads of it.
fn for_completions(cmd: clap::Command) -> clap::Command {
    cmd.mut_subcommands(|sub| {
        if !sub.get_arguments().any(clap::Arg::is_hide_set) {
            return sub;
        }
        let visible: Vec<clap::Arg> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .cloned()
            .collect();
        let remade = clap::Command::new(sub.get_name().to_string()).args(visible);
        match sub.get_about() {
            Some(about) => remade.about(about.clone()),
            None => remade,
        }
    })
}

/// clap_complete names bash's subcommand cases `flags__subcmd__dl__…` for a program with
/// a hyphen in its name, while its dispatch looks for `flags__dl__…`, so nothing after a
/// subcommand completes (clap-rs/clap#6421, still open for clap_complete 4.6). Renaming
/// the cases to what the dispatch looks for restores them.
fn fix_bash_completion(script: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(script)
        .replace("flags__subcmd__dl__", "flags__dl__")
        .into_bytes()
}

/// The reporter that `-v`, `-q`, `--json` and `--color` ask for, writing to stdout (or,
/// for `-q`, stderr).
fn reporter(output: &cli::OutputArgs) -> Box<dyn Reporter> {
    if output.json {
        Box::new(Json::new(io::stdout().lock()))
    } else if output.quiet {
        Box::new(Quiet::new(io::stderr()))
    } else {
        Box::new(Human::new(
            io::stdout().lock(),
            Look {
                verbose: output.verbose,
                // The bar goes to stderr, and only where a person watches it.
                bar: io::stderr().is_terminal(),
                paint: Paint(output.color.stdout()),
                bar_color: output.color.stderr(),
            },
        ))
    }
}

/// What every run starts with, the download command's and the bench's alike.
pub(crate) struct RunStart {
    /// Kept alive until the end of the run: dropping it stops an embedded server.
    pub(crate) site: site::OpenSite,
    /// The certificate authorities trusted, for an https server.
    pub(crate) trust: download::trust::Trust,
    /// The open-file limit, raised as far as the system allows (`None`: there is none).
    pub(crate) fd_limit: Option<u64>,
}

impl RunStart {
    /// The one rule for requests in flight, for this server and machine.
    pub(crate) fn requests_in_flight(
        &self,
        mode: download::Mode,
        asked: Option<usize>,
        codes: usize,
    ) -> download::mode::InFlightLimit {
        download::requests_in_flight(mode, asked, codes, self.fd_limit, self.site.is_embedded())
    }
}

/// Starts a run: the server opened (the embedded one started, a remote one checked to be
/// reachable), the trust store read for an https server, the open-file limit raised.
pub(crate) fn start_run(
    server: &cli::ServerArgs,
    delay: Option<serve::inject::DelayRange>,
    connect_timeout: std::time::Duration,
    cacert: Option<&std::path::Path>,
    proxies: &proxy::ProxyRules,
) -> anyhow::Result<RunStart> {
    let site = server
        .server
        .open(server.embedded(delay), connect_timeout, proxies)?;
    let trust = match site.embedded_ca() {
        Some(ca) => download::trust::Trust::for_embedded(ca.clone(), cacert),
        None => download::trust::Trust::for_server(&site.base_url, proxies, cacert),
    }
    .map_err(|e| Error::Usage(e.0))?;
    for skipped in &trust.skipped {
        eprintln!("flags-dl: warning: {}", escaped(skipped));
    }
    Ok(RunStart {
        site,
        trust,
        fd_limit: limits::raise_open_files(),
    })
}

/// The download command: choose the codes, find the server, download, report.
pub fn run_download(args: &DownloadArgs) -> anyhow::Result<Exit> {
    args.check().map_err(Error::Usage)?;
    args.output.check_pictures().map_err(Error::Usage)?;
    let codes = codes::expand_from_stdin(&args.codes.selection())
        .map_err(|e| Error::Usage(e.to_string()))?;
    if args.output.list {
        let mut out = io::stdout().lock();
        for cc in &codes {
            writeln!(out, "{cc}")?;
        }
        return Ok(Exit::Success);
    }

    let mode = args.mode;
    let proxies = args.proxy.rules();
    let start = start_run(
        &args.server,
        args.server.delay,
        args.reliability.connect_timeout,
        args.reliability.cacert.as_deref(),
        &proxies,
    )?;
    let base_url = start.site.base_url.clone();
    // Only once there is a server to download from, so a failed start leaves no folder.
    save::prepare_output_dir(&args.output_dir)?;
    // As the output folder: a report that cannot be written fails now, not after the run.
    let pictures = [
        ("the timeline", &args.output.timeline),
        ("the trace", &args.output.trace),
        // Phases (issue 20): `--har -` is standard output, not a file.
        (
            "the HAR",
            &args
                .output
                .har
                .clone()
                .filter(|p| p.as_os_str() != har::STDOUT),
        ),
    ];
    for (what, path) in pictures {
        if let Some(path) = path {
            output::check(what, path)?;
        }
    }

    let limit = start.requests_in_flight(mode, args.max_req, codes.len());
    if let (Some(wanted), Some(fds)) = (limit.lowered_from, start.fd_limit) {
        eprintln!(
            "flags-dl: warning: the open-file limit ({fds}) allows {} requests in flight, not {wanted}; using {} (raise it with `ulimit -n`)",
            limit.used, limit.used
        );
    }
    let actual_req = limit.used;

    let mut job = Job::new(
        base_url.clone(),
        codes.clone(),
        args.output_dir.clone(),
        actual_req,
        &args.reliability,
    );
    job.trust = start.trust.clone();
    job.proxies = std::sync::Arc::new(proxies);
    if args.output.timeline.is_some() || args.output.trace.is_some() {
        job.recorder = Some(Default::default());
    }
    // Phases (issue 20): what the HAR and the pictures need of every exchange.
    let keep = download::phases::Keep {
        exchanges: job.recorder.is_some() || args.output.har.is_some(),
        headers: args.output.har.is_some(),
    };
    job.exchanges = std::sync::Arc::new(download::phases::ExchangeLog::new(keep));
    interrupt::watch(job.cancel.clone(), job.saver.clone());

    let run = RunInfo {
        site_label: args.server.server.label().to_string(),
        base_url,
        codes,
        mode,
        max_req: actual_req,
    };
    let mut reporter = reporter(&args.output);
    reporter.start(&run).context(STDOUT)?;

    let mut counter = Counter::default();
    let mut write_error = None;
    let mut tls_failure = None;
    let mut http2 = false;
    let (cancel, saver) = (job.cancel.clone(), job.saver.clone());
    let started = Instant::now();
    download::download_many(mode, &job, &mut |event| {
        if write_error.is_some() || tls_failure.is_some() {
            if let download::Event::Outcome(outcome) = &event {
                counter.add(&outcome.status);
            }
            return;
        }
        let shown = match event {
            download::Event::Note(line) => reporter.note(&line),
            download::Event::Wait(wait) => reporter.wait(&wait),
            download::Event::Outcome(outcome) => {
                counter.add(&outcome.status);
                http2 |= outcome.http_version == Some("2");
                if let DownloadStatus::Error(failure) = &outcome.status {
                    if failure.kind == ErrorKind::Tls {
                        // The same certificate for every code: one line, not one per code.
                        tls_failure = Some(failure.reason.clone());
                        cancel.cancel();
                        saver.stop();
                        return;
                    }
                }
                reporter.outcome(&outcome)
            }
        };
        if let Err(e) = shown {
            // Nobody reads what we print (`| head -1`): stop downloading too.
            if e.kind() == io::ErrorKind::BrokenPipe {
                cancel.cancel();
                saver.stop();
            }
            write_error = Some(e);
        }
    })?;
    let elapsed = started.elapsed();
    if let Some(recorder) = &job.recorder {
        let attempts = recorder.attempts();
        let exchanges = job.exchanges.exchanges();
        let picture = timeline::Run {
            mode,
            max_req: actual_req,
            started,
            ended: started + elapsed,
            attempts: &attempts,
            exchanges: &exchanges,
        };
        timeline::write_pictures(
            &picture,
            args.output.timeline.as_deref(),
            args.output.trace.as_deref(),
        )?;
    }
    if let Some(path) = &args.output.har {
        har::write_har(path, &job.exchanges)?;
    }
    if let Some(reason) = tls_failure {
        return Err(Error::Tls(reason).into());
    }
    if let Some(e) = write_error {
        return Err(anyhow::Error::new(e).context(STDOUT));
    }
    let pace = job.pace.stats();
    let end = RunEnd {
        counter,
        elapsed,
        peak_in_flight: pace.peak_in_flight,
        pace_lowered: pace.lowered,
        connections: pace.connections,
        late_connects: pace.late_connects,
        http2,
        timings: job.exchanges.total(),
    };
    reporter.finish(&run, &end).context(STDOUT)?;
    drop(start);
    Ok(if job.cancel.is_cancelled() {
        Exit::Interrupted
    } else if counter.error > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}
