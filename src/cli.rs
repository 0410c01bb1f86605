//! The command line, as clap definitions. The doc comments are the help text.
//!
//! Everything that can be checked one value at a time is checked here, by value parsers,
//! so a mistake is a usage error (exit 2) before any work starts. Rules that join several
//! options are in [`DownloadArgs::check`].

use crate::codes::{parse_cc_arg, CcArg};
use crate::download::Mode;
use crate::serve::inject::{parse_delay, parse_error_rate, DelayRange};
use crate::serve::Preset;
use crate::site::Site;
use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples, after the book's sample runs:
  flags-dl                                  the top 20 by population, from the embedded server
  flags-dl --all --delay 0.5                all 194 flags, each request delayed 0.5 s
  flags-dl --all --delay 0.5 --mode sequential
                                            the same, one request at a time: see what concurrency buys
  flags-dl serve delay &                    the book's slow server on port 8001, then:
  flags-dl -s DELAY --all -m 200            200 requests in flight against it
  flags-dl -s ERROR -a -m 100 -v            the error server: 25% of requests answered 418
  flags-dl -e -m 1000                       every pair AA..ZZ: 194 found, 482 not found
  flags-dl -l 10 A B C                      the first 10 of the codes that start with A, B or C

Exit status: 0 every code downloaded or not found; 1 some codes failed or the server could
not be reached; 2 usage error.";

/// A concurrent downloader of the Fluent Python country flags, with its own flag server.
#[derive(Debug, Parser)]
#[command(name = "flags-dl", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub download: DownloadArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the flags over HTTP, as the book's `http.server` and `slow_server.py` do.
    Serve(ServeArgs),
    /// Time the three modes across levels of concurrency: the book's experiment.
    Bench(crate::bench::BenchArgs),
}

/// Which codes to fetch.
#[derive(Debug, Clone, Args)]
pub struct CodeArgs {
    /// Country codes: two letters (BR), or one letter for the 26 codes that start with it
    /// (B = BA..BZ); case-insensitive. Default: the book's top 20 by population.
    #[arg(value_name = "CC", value_parser = parse_cc_arg)]
    pub codes: Vec<CcArg>,

    /// All 194 codes of the data set.
    #[arg(short, long, conflicts_with_all = ["every", "codes"])]
    pub all: bool,

    /// Every pair of letters AA..ZZ (676 codes, 482 of them not countries).
    #[arg(short, long, conflicts_with = "codes")]
    pub every: bool,

    /// Only the first N codes, after sorting.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

/// Which server to fetch from, and the faults of the embedded one.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// EMBEDDED (a server started inside flags-dl), LOCAL (http://localhost:8000/flags),
    /// DELAY (:8001), ERROR (:8002), REMOTE (https://www.fluentpython.com/data/flags), or
    /// any http(s) base URL. Labels are case-insensitive.
    #[arg(short, long, value_name = "LABEL|URL", default_value = "EMBEDDED", env = "FLAGS_DL_SERVER", value_parser = Site::parse)]
    pub server: Site,

    /// Delay of the embedded server per request, in seconds: MIN or MIN..MAX (uniform).
    #[arg(long, value_name = "SECS", value_parser = parse_delay)]
    pub delay: Option<DelayRange>,

    /// Share of requests the embedded server answers with 418 I'm a teapot, 0 to 1.
    #[arg(long, value_name = "P", value_parser = parse_error_rate)]
    pub error_rate: Option<f64>,
}

/// The download command: `flags-dl [OPTIONS] [CC]...`.
#[derive(Debug, Clone, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub codes: CodeArgs,

    #[command(flatten)]
    pub server: ServerArgs,

    /// How requests are scheduled: async (tokio tasks), threads (a pool of OS threads) or
    /// sequential (one at a time).
    #[arg(long, value_enum, default_value_t = Mode::Async)]
    pub mode: Mode,

    /// Most requests in flight at once [default: async 5, threads 30, sequential 1; at most 1000].
    #[arg(short, long = "max-req", value_name = "N", env = "FLAGS_DL_MAX_REQ", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_req: Option<u64>,

    /// Folder to save the flags in, created if missing.
    #[arg(
        short,
        long,
        value_name = "DIR",
        default_value = "downloaded",
        env = "FLAGS_DL_OUTPUT_DIR"
    )]
    pub output_dir: PathBuf,

    /// One line per code as it finishes (`BR OK`, `XX not found`, `YY error: ...`).
    #[arg(short, long)]
    pub verbose: bool,
}

impl DownloadArgs {
    /// The rules that join several options; the message is a usage error.
    pub fn check(&self) -> Result<(), String> {
        if self.server.server != Site::Embedded {
            if self.server.delay.is_some() {
                return Err("--delay applies to the embedded server only; for another server, start it with `flags-dl serve --delay ...`".into());
            }
            if self.server.error_rate.is_some() {
                return Err("--error-rate applies to the embedded server only; for another server, start it with `flags-dl serve --error-rate ...`".into());
            }
        }
        Ok(())
    }
}

/// `flags-dl serve [local|delay|error] [OPTIONS]`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The book's servers: local (port 8000, no delay), delay (port 8001, 0.5..5 s delay),
    /// error (port 8002, 0.5 s delay, 25% of requests answered 418).
    #[arg(value_enum, default_value_t = Preset::Local)]
    pub preset: Preset,

    /// Port to listen on, instead of the preset's (0 picks a free one).
    #[arg(short, long)]
    pub port: Option<u16>,

    /// Address to listen on.
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Serve this folder, in the book's layout (<cc>/<cc>.gif, <cc>/metadata.json),
    /// instead of the generated flags; for example ../shared/flags.
    #[arg(short, long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Delay per request in seconds, MIN or MIN..MAX, instead of the preset's.
    #[arg(long, value_name = "SECS", value_parser = parse_delay)]
    pub delay: Option<DelayRange>,

    /// Share of requests answered with an error, 0 to 1, instead of the preset's.
    #[arg(long, value_name = "P", value_parser = parse_error_rate)]
    pub error_rate: Option<f64>,

    /// Seed for the random delays and errors, to repeat a run exactly.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// No log line per request.
    #[arg(short, long)]
    pub quiet: bool,
}

impl ServeArgs {
    /// The preset, with each option given on the command line taking its place.
    pub fn config(&self) -> crate::serve::ServeConfig {
        crate::serve::ServeConfig {
            bind: self.bind,
            port: self.port.unwrap_or(self.preset.port()),
            dir: self.dir.clone(),
            delay: self.delay.or(self.preset.delay()),
            error_rate: self.error_rate.unwrap_or(self.preset.error_rate()),
            error_status: 418,
            retry_after: None,
            seed: self.seed,
            quiet: self.quiet,
            limits: crate::serve::Limits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_options_override_the_preset() {
        let cli = Cli::try_parse_from([
            "flags-dl",
            "serve",
            "error",
            "--port",
            "0",
            "--error-rate",
            "1",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("not serve")
        };
        let config = args.config();
        assert_eq!((config.port, config.error_rate), (0, 1.0));
        assert_eq!(config.delay, Some(DelayRange::fixed(0.5)));
    }
}
