//! The command line of `flags-dl bench`, and the plan it turns into: which (mode, max-req)
//! pairs to time, how often, and against which codes.
//!
//! Everything that can be checked one item at a time (a mode name, a max-req value) is
//! checked by clap value parsers, so a bad item is a usage error (exit 2) that names it,
//! before any server starts. This module does not run anything and prints nothing.

use crate::cli::{CodeArgs, ServerArgs};
use crate::download::mode::{parse_max_req, MAX_IN_FLIGHT};
use crate::download::Mode;
use crate::serve::inject::DelayRange;
use crate::site::Site;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// The embedded server's delay when none is given: long enough that waiting dominates, as
/// it does on the real network, short enough that the default bench takes seconds.
pub const DEFAULT_DELAY: DelayRange = DelayRange {
    min: Duration::from_millis(100),
    max: Duration::from_millis(300),
};

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
    /// FILE-<mode>-m<N>.svg, one per line of the table.
    #[arg(long, value_name = "FILE.svg")]
    pub timeline: Option<PathBuf>,

    /// Write each (mode, -m)'s first timed run in Chrome's trace-event format:
    /// FILE-<mode>-m<N>.json.
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

    /// Draw elapsed time against max-req, one line per mode, as an SVG chart in FILE.
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
  flags-dl serve delay &                    the book's slow server on port 8001, then:
  flags-dl bench -s DELAY --all --export-csv runs.csv

With the embedded server and no --delay, each request waits 0.1..0.3 s, as on a network.
Each run downloads into a fresh temporary folder, in a process of its own, and is timed
from the first request to the last file saved; the table also shows that process's peak
memory and most threads. Per-code errors are counted in the table, not fatal.
Exit status: 0 the bench completed; 1 it could not start (server unreachable, export
folder missing); 2 usage error.";

/// One line of the table: a mode at one level of concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    /// As asked for (always 1 for sequential).
    pub max_req: usize,
}

impl BenchArgs {
    /// The rules that join several options; the message is a usage error.
    pub fn check(&self) -> Result<(), String> {
        self.server.check()
    }

    /// The embedded server's delay: as given, or [`DEFAULT_DELAY`]. `None` for another
    /// server, whose delay is its own.
    pub fn delay(&self) -> Option<DelayRange> {
        match self.server.server {
            Site::Embedded => Some(self.server.delay.unwrap_or(DEFAULT_DELAY)),
            Site::Remote { .. } => None,
        }
    }

    /// The (mode, max-req) pairs to time, in the order of `--modes`, max-req ascending.
    pub fn configs(&self, code_count: usize) -> Vec<Config> {
        let levels = if self.max_req.is_empty() {
            default_max_req(code_count)
        } else {
            let mut levels = self.max_req.clone();
            levels.sort_unstable();
            levels.dedup();
            levels
        };
        plan(&self.modes, &levels)
    }
}

/// 5, 20, 80, ... up to the first value above `code_count` (at most 1000): each step cuts
/// the waiting by four until every request is in flight at once, and the point past that
/// shows the curve flatten. It starts at 5, the book's default for asyncio, not at 1: one
/// request in flight is what the sequential baseline already measures, and timing it again
/// in two more modes would make the default bench take a minute instead of under 30 s.
pub fn default_max_req(code_count: usize) -> Vec<usize> {
    let mut levels = vec![];
    let mut m = 5;
    loop {
        levels.push(m.min(MAX_IN_FLIGHT));
        if m > code_count || m >= MAX_IN_FLIGHT {
            return levels;
        }
        m *= 4;
    }
}

/// Every mode at every level, except sequential, which has one level: 1.
pub fn plan(modes: &[Mode], levels: &[usize]) -> Vec<Config> {
    let mut seen = vec![];
    let mut configs = vec![];
    for &mode in modes {
        if seen.contains(&mode) {
            continue;
        }
        seen.push(mode);
        if mode == Mode::Sequential {
            configs.push(Config { mode, max_req: 1 });
        } else {
            configs.extend(levels.iter().map(|&max_req| Config { mode, max_req }));
        }
    }
    configs
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
    fn default_levels_stop_once_every_code_is_in_flight() {
        assert_eq!(default_max_req(20), [5, 20, 80]);
        assert_eq!(default_max_req(194), [5, 20, 80, 320]);
        assert_eq!(default_max_req(676), [5, 20, 80, 320, 1000]);
        assert_eq!(default_max_req(3), [5]);
        assert_eq!(default_max_req(5), [5, 20]);
        assert_eq!(default_max_req(1000), [5, 20, 80, 320, 1000]);
    }

    #[test]
    fn sequential_runs_once_and_levels_are_sorted_and_distinct() {
        let args = parse(&["--modes", "async,sequential,async", "-m", "16,4,16"]).unwrap();
        let configs = args.configs(20);
        let pairs: Vec<_> = configs.iter().map(|c| (c.mode, c.max_req)).collect();
        assert_eq!(
            pairs,
            [(Mode::Async, 4), (Mode::Async, 16), (Mode::Sequential, 1)]
        );
    }
}
