//! flags-dl: the concurrent flag downloader of *Fluent Python*'s concurrency chapters, in
//! Rust, with its own flag server.
//!
//! A map of the modules, in the order a run meets them:
//!
//! - [`cli`]: the command line (clap); `main.rs` parses it and calls [`run`].
//! - [`codes`]: which country codes to fetch (the book's `expand_cc_args`).
//! - [`countries`]: the compiled-in data set, 194 codes with names and TLDs.
//! - [`site`]: where flags come from: server labels, base URLs, the reachability check.
//! - [`serve`]: the flag server, `flags-dl serve` and the embedded one.
//! - [`download`]: `get_flag`, `download_one` and `download_many` in three modes.
//! - [`save`]: atomic writes into the output folder.
//! - [`report`]: the book's report, `-v` lines and the progress bar.
//! - [`bench`]: `flags-dl bench`, the timing experiment, its exports and chart.
//! - [`limits`]: the open-file limit.
//! - [`interrupt`]: Ctrl-C: stop cleanly, report, exit 130.
//! - [`error`]: the errors that decide the exit status.

pub mod bench;
pub mod cli;
pub mod codes;
pub mod countries;
pub mod download;
pub mod error;
pub mod interrupt;
pub mod limits;
pub mod report;
pub mod save;
pub mod serve;
pub mod site;

use cli::{Cli, Command, DownloadArgs};
use codes::{expand_cc_args, Selection};
use download::Job;
use error::{Error, Exit};
use report::{Counter, Progress};
use site::Site;
use std::io::{self, Read};
use std::time::Instant;

/// Runs the parsed command line and says how the program should exit.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Some(Command::Serve(args)) => {
            serve::run_serve(args.config())?;
            Ok(Exit::Success)
        }
        Some(Command::Bench(args)) => bench::run_bench(&args),
        None => run_download(&cli.download),
    }
}

/// The download command: choose the codes, find the server, download, report.
pub fn run_download(args: &DownloadArgs) -> anyhow::Result<Exit> {
    args.check().map_err(Error::Usage)?;
    let selection = Selection {
        args: args.codes.codes.clone(),
        all: args.codes.all,
        every: args.codes.every,
        limit: args.codes.limit.map(|n| n as usize),
    };
    let read_stdin = || {
        let mut text = String::new();
        io::stdin().read_to_string(&mut text).map(|_| text)
    };
    let codes = expand_cc_args(&selection, read_stdin).map_err(|e| Error::Usage(e.to_string()))?;

    let mode = args.mode;
    let requested = args.max_req.map_or(mode.default_max_req(), |n| {
        n.min(usize::MAX as u64) as usize
    });
    let mut actual_req = requested.min(mode.max_max_req()).min(codes.len());

    save::prepare_output_dir(&args.output_dir)?;

    // Kept alive until the end of the run: dropping it stops the server.
    let mut embedded = None;
    let base_url = match &args.server.server {
        Site::Embedded => {
            let server =
                serve::start_embedded(args.server.delay, args.server.error_rate.unwrap_or(0.0))?;
            embedded.insert(server).base_url.clone()
        }
        site @ Site::Remote { base, .. } => {
            site::check_reachable(base, args.reliability.connect_timeout).map_err(|reason| {
                Error::Unreachable {
                    label: site.label().to_string(),
                    url: base.clone(),
                    reason,
                    hint: site.unreachable_hint(),
                }
            })?;
            base.clone()
        }
    };

    if let Some(limit) = limits::raise_open_files() {
        // With the embedded server in this process, each connection costs two descriptors.
        let per_request = if embedded.is_some() { 2 } else { 1 };
        let fitting = limits::fitting_max_req(actual_req, limit, per_request);
        if fitting < actual_req {
            eprintln!(
                "flags-dl: warning: the open-file limit ({limit}) allows {fitting} requests in flight, not {actual_req}; using {fitting} (raise it with `ulimit -n`)"
            );
            actual_req = fitting;
        }
    }

    let mut stdout = io::stdout().lock();
    report::initial_report(
        &mut stdout,
        args.server.server.label(),
        &base_url,
        &codes,
        actual_req,
    )?;

    let mut job = Job::new(base_url, codes, args.output_dir.clone(), actual_req);
    let reliability = &args.reliability;
    job.timeout = reliability.timeout;
    job.connect_timeout = reliability.connect_timeout;
    job.max_size = reliability.max_size;
    job.retry.retries = reliability.retries;
    job.retry.statuses = reliability.retry_status.0.clone();
    job.names = reliability.names;
    if reliability.skip_existing {
        job.existing = Some(std::sync::Arc::new(job.saver.existing_files()));
    }
    interrupt::watch(job.cancel.clone(), job.saver.clone());
    let progress = Progress::new(job.codes.len(), args.verbose, true);
    let mut counter = Counter::default();
    let mut write_error = None;
    let started = Instant::now();
    download::download_many(mode, &job, &mut |outcome| {
        counter.add(&outcome.status);
        if let Err(e) = progress.on_outcome(&mut stdout, &outcome) {
            write_error.get_or_insert(e);
        }
    })?;
    let elapsed = started.elapsed();
    progress.finish();
    if let Some(e) = write_error {
        return Err(e.into());
    }
    report::final_report(&mut stdout, &counter, elapsed)?;
    drop(embedded);
    Ok(if job.cancel.is_cancelled() {
        Exit::Interrupted
    } else if counter.error > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}
