//! flags-dl: the concurrent flag downloader of *Fluent Python*'s concurrency chapters, in
//! Rust, with its own flag server.
//!
//! This file holds the module map and the entry point, [`run()`], which hands each command
//! its plain configuration. A map of the modules, in the order a run meets them:
//!
//! - [`cli`]: the command line (clap), read once into plain configuration; `main.rs`
//!   parses it and calls [`run()`]. Only `cli` (and `main.rs`) know clap.
//! - [`run`](mod@run): one run of the downloader, the one orchestration of the download
//!   command and of each bench run: start, build the job, download, report, draw, write
//!   the HAR.
//! - [`codes`]: which country codes to fetch (the book's `expand_cc_args`).
//! - [`countries`]: the compiled-in data set, 194 codes with names and TLDs.
//! - [`site`]: where flags come from: server labels, base URLs, the reachability check.
//! - [`proxy`]: which proxy each request goes through, for every mode and the check.
//! - [`serve`]: the flag server, `flags-dl serve` and the embedded one.
//! - [`download`]: `get_flag`, `download_one` and `download_many` in three modes, paced
//!   to the server (`download::pace`: requests in flight, new connections).
//! - [`save`]: atomic writes into the output folder, and the flags' file names.
//! - [`output`]: the report files a user names (timeline, trace, HAR, exports), written
//!   whole.
//! - [`report`]: the book's report, `-v` lines and the progress bar.
//! - [`har`]: `--har`, the run as an HTTP Archive, from its exchanges' phases.
//! - [`timeline`]: a run drawn: the SVG timeline (each code's requests as a waterfall of
//!   their phases) and the Chrome trace.
//! - [`bench`](mod@bench): `flags-dl bench`, the timing experiment, its exports and chart.
//! - [`text`]: outside text made safe for file names and terminals.
//! - [`address`]: a URL shown with its password masked; whether a host is this machine.
//! - [`sizes`]: byte counts written for people.
//! - [`files`]: a certificate or key file read safely: regular files only, 4 MiB at most.
//! - [`limits`]: the open-file limit.
//! - [`interrupt`]: Ctrl-C: stop cleanly, report, exit 130.
//! - [`error`]: the errors that decide the exit status.
//!
//! The layers, each naming only those below it (`scripts/imports.py` checks that no
//! circle forms): `main.rs` and this file; `cli`; `bench`; `run`; then `report`,
//! `timeline`, `har` and `download`, with the modules they share beneath them.

#![forbid(unsafe_code)]
// The library is the binary's inside, public only as far as main.rs and the tests need:
// its documentation is read with `cargo doc --document-private-items` (as .ci/run builds
// it), where links to private items, this module map's among them, resolve.
#![allow(rustdoc::private_intra_doc_links)]

mod address;
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
mod run;
mod save;
mod serve;
mod site;
mod sizes;
mod text;
mod timeline;

pub use address::shown_url;
pub use cli::Cli;
pub use text::{escaped, escaped_except, short, short_to};

use cli::Command;
use error::{Error, Exit};
use std::io::{self, Write};

/// Runs the parsed command line and says how the program should exit. Each command's
/// arguments are read into its plain configuration here, once; a rule they break is a
/// usage error.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Some(Command::Serve(args)) => {
            serve::run_serve(args.config())?;
            Ok(Exit::Success)
        }
        // A run of a bench, in a child process: the bench wrote what to run on its stdin.
        Some(Command::Bench(args)) if args.child_run => {
            bench::child::child_main(&cli::default_settings())
        }
        Some(Command::Bench(args)) => bench::run_bench(args.config().map_err(Error::Usage)?),
        Some(Command::Completions { shell }) => {
            io::stdout().write_all(&cli::generate::completion_script(shell))?;
            Ok(Exit::Success)
        }
        Some(Command::Man) => {
            io::stdout().write_all(&cli::generate::man_page()?)?;
            Ok(Exit::Success)
        }
        None => run::download(cli.download.config().map_err(Error::Usage)?),
    }
}
