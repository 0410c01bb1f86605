//! The command line of `flags-dl bench`, and the plain [`BenchConfig`] it is read into.
//!
//! Everything that can be checked one item at a time (a mode name, a max-req value) is
//! checked by clap value parsers, so a bad item is a usage error (exit 2) that names it,
//! before any server starts; the rules that join options are in [`BenchArgs::check`].

// The doc comments of the options are `flags-dl bench --help`, written for a terminal:
// `<mode>` is what a user reads there, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use super::{CodeArgs, ServerArgs};
use crate::bench::export::Exports;
use crate::bench::plan::{Http, DEFAULT_DELAY};
use crate::bench::BenchConfig;
use crate::download::mode::parse_max_req;
use crate::download::Mode;
use crate::run::Pictures;
use crate::serve::inject::DelayRange;
use crate::site::Site;
use clap::Args;
use std::path::PathBuf;

/// `flags-dl bench [CC]... [OPTIONS]`.
#[derive(Debug, Clone, Args)]
#[command(after_help = BENCH_EXAMPLES)]
pub struct BenchArgs {
    #[command(flatten)]
    pub codes: CodeArgs,

    #[command(flatten)]
    pub server: ServerArgs,

    /// Modes to time, comma-separated. sequential is the baseline: it always has one request
    /// in flight, so it runs once per run whatever --max-req says.
    #[arg(
        long,
        value_name = "MODE,...",
        value_enum,
        value_delimiter = ',',
        default_value = "sequential,threads,async"
    )]
    pub modes: Vec<Mode>,

    /// Requests in flight to time threads and async at, comma-separated, 1 or more (at
    /// most 1000 are used, as in the download command)
    /// [default: 5,20,80,... (times 4) up to the first above the number of codes: 5,20,80
    /// for the top 20, 5,20,80,320 for --all].
    #[arg(short, long = "max-req", value_name = "N,...", value_delimiter = ',', value_parser = parse_max_req)]
    pub max_req: Vec<usize>,

    /// HTTP versions for async runs to offer, comma-separated: 1.1 (HTTP/1.1 only, as
    /// `--http1.1`) and 2 (HTTP/2 offered by ALPN), each timed at every -m. HTTP/2 needs
    /// TLS (--tls, or an https server); threads and sequential always speak HTTP/1.1
    /// [default: 1.1,2 over TLS, 1.1 otherwise].
    #[arg(long, value_name = "VERSION,...", value_enum, value_delimiter = ',')]
    pub http: Vec<Http>,

    /// Timed runs of each (mode, max-req); the table shows their median, min and max.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub runs: u64,

    /// Untimed runs of each mode before its timed runs, to start from a warm process and
    /// server.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub warmup: u64,

    /// Internal: run one timed run as a child of a bench (its spec as JSON on stdin, its
    /// figures as JSON on stdout), so that its memory and threads are its own.
    #[arg(long, hide = true)]
    pub child_run: bool,

    /// Draw each (mode, -m)'s first timed run as a timeline: FILE.svg becomes
    /// FILE-<mode>-m<N>.svg (FILE-async-h2-m<N>.svg over HTTP/2), one per line of the table.
    #[arg(long, value_name = "FILE.svg")]
    pub timeline: Option<PathBuf>,

    /// Write each (mode, -m)'s first timed run in Chrome's trace-event format:
    /// FILE-<mode>-m<N>.json (FILE-async-h2-m<N>.json over HTTP/2).
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,

    /// Write every run, the summary and the settings as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,

    /// Write one CSV row per run, with a header, to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,

    /// Write the summary as a Markdown table to FILE.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,

    /// Draw elapsed time against max-req, one line per mode (and per HTTP version for
    /// async), as an SVG chart in FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

const BENCH_EXAMPLES: &str = "\
Examples:
  flags-dl bench                            the top 20, embedded server, 0.1..0.3 s delay,
                                            max-req 5,20,80: under 30 s
  flags-dl bench --all --delay 0.5 --plot modes.svg
                                            194 flags, 0.5 s each, and a chart of the result
  flags-dl bench --modes threads,async --max-req 1,10,100 --runs 5
  flags-dl bench --tls --latency 20 --plot h2.svg
                                            async over HTTP/1.1 and HTTP/2, 20 ms round trip
  flags-dl serve delay &                    the book's slow server on port 8001, then:
  flags-dl bench -s DELAY --all --export-csv runs.csv

With the embedded server and no --delay, each request waits 0.1..0.3 s, as on a network.
Each run downloads into a fresh temporary folder, in a process of its own, and is timed
from the first request to the last file saved; the table also shows that process's peak
memory and most threads. Per-code errors are counted in the table, not fatal.
Exit status: 0 the bench completed; 1 it could not start (server unreachable, export
folder missing); 2 usage error.";

impl BenchArgs {
    /// The rules that join several options; the message is a usage error.
    pub fn check(&self) -> Result<(), String> {
        self.server.check()?;
        if self.http.contains(&Http::H2) && !self.tls() {
            // reqwest offers HTTP/2 only in the TLS handshake (ALPN), never in clear text.
            return Err(match self.server.server {
                Site::Embedded => "--http 2 needs TLS: the embedded server speaks HTTP/2 only over TLS; add --tls",
                Site::Remote { .. } => "--http 2 needs an https:// server: HTTP/2 is offered in the TLS handshake (ALPN)",
            }
            .into());
        }
        if !self.http.is_empty() && !self.modes.contains(&Mode::Async) {
            return Err("--http applies to async runs only (threads and sequential always speak HTTP/1.1); add async to --modes".into());
        }
        Ok(())
    }

    /// Whether the runs speak TLS: the embedded server with `--tls`, or an https URL.
    pub fn tls(&self) -> bool {
        match &self.server.server {
            Site::Embedded => self.server.tls,
            Site::Remote { base, .. } => base.starts_with("https:"),
        }
    }

    /// The HTTP versions async runs offer: as given, in order and once each; by default
    /// both over TLS, so that a bench over TLS shows what HTTP/2 changes, and HTTP/1.1
    /// alone without it, where HTTP/2 cannot be had.
    pub fn http_versions(&self) -> Vec<Http> {
        if self.http.is_empty() {
            return if self.tls() {
                vec![Http::H1, Http::H2]
            } else {
                vec![Http::H1]
            };
        }
        let mut versions = self.http.clone();
        versions.sort_unstable();
        versions.dedup();
        versions
    }

    /// The embedded server's delay: as given, or [`DEFAULT_DELAY`]. `None` for another
    /// server, whose delay is its own.
    pub fn delay(&self) -> Option<DelayRange> {
        match self.server.server {
            Site::Embedded => Some(self.server.delay.unwrap_or(DEFAULT_DELAY)),
            Site::Remote { .. } => None,
        }
    }

    /// The bench these arguments describe, once they pass [`Self::check`]; the message is
    /// a usage error.
    pub fn config(&self) -> Result<BenchConfig, String> {
        self.check()?;
        let mut max_req = self.max_req.clone();
        max_req.sort_unstable();
        max_req.dedup();
        Ok(BenchConfig {
            selection: self.codes.selection(),
            server: self.server.server(self.delay()),
            modes: self.modes.clone(),
            http: self.http_versions(),
            max_req,
            runs: self.runs as usize,
            warmup: self.warmup as usize,
            pictures: Pictures {
                timeline: self.timeline.clone(),
                trace: self.trace.clone(),
            },
            exports: Exports {
                json: self.export_json.clone(),
                csv: self.export_csv.clone(),
                markdown: self.export_markdown.clone(),
            },
            plot: self.plot.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        let argv = ["flags-dl", "bench"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Some(Command::Bench(args)) => Ok(*args),
            other => panic!("not bench: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_three_modes_three_runs_one_warmup() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.modes, [Mode::Sequential, Mode::Threads, Mode::Async]);
        assert!(args.max_req.is_empty());
        assert_eq!((args.runs, args.warmup), (3, 1));
        assert_eq!(args.delay(), Some(DEFAULT_DELAY));
    }

    #[test]
    fn lists_split_on_commas() {
        let args = parse(&["--modes", "async,threads", "--max-req", "16,1,4"]).unwrap();
        assert_eq!(args.modes, [Mode::Async, Mode::Threads]);
        assert_eq!(args.max_req, [16, 1, 4]);
    }

    #[test]
    fn a_bad_item_is_a_usage_error_that_names_it() {
        for (args, item) in [
            (&["--max-req", "0,4"][..], "'0'"),
            (&["--max-req", "4,x"][..], "'x'"),
            (&["--max-req", "4,,16"][..], "''"),
            (&["--modes", "async,turbo"][..], "'turbo'"),
            (&["--runs", "0"][..], "'0'"),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains(item), "{args:?}: {err}");
        }
    }

    #[test]
    fn delay_is_for_the_embedded_server_only() {
        assert!(parse(&["--delay", "0.5"]).unwrap().check().is_ok());
        let remote = parse(&["-s", "LOCAL", "--delay", "0.5"]).unwrap();
        assert!(remote.check().unwrap_err().contains("--delay"));
        assert_eq!(parse(&["-s", "LOCAL"]).unwrap().delay(), None);
    }

    #[test]
    fn sequential_runs_once_and_levels_are_sorted_and_distinct() {
        let args = parse(&["--modes", "async,sequential,async", "-m", "16,4,16"]).unwrap();
        let configs = args.config().unwrap().configs(20);
        let pairs: Vec<_> = configs.iter().map(|c| (c.mode, c.max_req)).collect();
        assert_eq!(
            pairs,
            [(Mode::Async, 4), (Mode::Async, 16), (Mode::Sequential, 1)]
        );
        assert!(
            configs.iter().all(|c| c.http == Http::H1),
            "no TLS, no HTTP/2"
        );
    }

    #[test]
    fn over_tls_async_runs_over_both_versions_and_the_others_over_http_1_1() {
        let args = parse(&["--tls", "-m", "4,16"]).unwrap();
        assert!(args.check().is_ok());
        let triples: Vec<_> = args
            .config()
            .unwrap()
            .configs(20)
            .iter()
            .map(|c| (c.mode, c.http, c.max_req))
            .collect();
        assert_eq!(
            triples,
            [
                (Mode::Sequential, Http::H1, 1),
                (Mode::Threads, Http::H1, 4),
                (Mode::Threads, Http::H1, 16),
                (Mode::Async, Http::H1, 4),
                (Mode::Async, Http::H1, 16),
                (Mode::Async, Http::H2, 4),
                (Mode::Async, Http::H2, 16),
            ]
        );
        let only_2 = parse(&["--tls", "--http", "2,2", "--modes", "async"]).unwrap();
        assert_eq!(only_2.http_versions(), [Http::H2]);
        let https = parse(&["-s", "https://127.0.0.1:9/flags"]).unwrap();
        assert_eq!(https.http_versions(), [Http::H1, Http::H2]);
    }

    #[test]
    fn http_2_without_tls_or_without_async_is_a_usage_error() {
        let embedded = parse(&["--http", "1.1,2"]).unwrap().check().unwrap_err();
        assert!(
            embedded.contains("--http 2") && embedded.contains("--tls"),
            "{embedded}"
        );
        let clear = parse(&["-s", "LOCAL", "--http", "2"]).unwrap();
        assert!(clear.check().unwrap_err().contains("https://"));
        let threads = parse(&["--tls", "--http", "2", "--modes", "threads"]).unwrap();
        assert!(threads.check().unwrap_err().contains("async"));
        assert!(parse(&["--http", "1.1"]).unwrap().check().is_ok());
        let err = parse(&["--http", "3"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("'3'"), "{err}");
    }
}
