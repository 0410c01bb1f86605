//! The command line, as clap definitions. The doc comments are the help text.
//!
//! Everything that can be checked one value at a time is checked here, by value parsers,
//! so a mistake is a usage error (exit 2) before any work starts. Rules that join several
//! options are in [`DownloadArgs::check`].
//!
//! The command line is read once, here, into plain configuration (as ripgrep turns its
//! low-level arguments into high-level ones): [`DownloadArgs::config`] gives the run its
//! [`DownloadConfig`], [`ReliabilityArgs::settings`] the download its [`Settings`], and
//! the bench and the server get theirs the same way. Nothing below this module knows
//! clap or these types.
//!
//! Here are the download command's arguments and what all commands share;
//! [`bench`](mod@bench) and [`serve`] hold those commands' own, `values` how the types
//! below are spelled on the command line, and [`generate`] the completion scripts and the
//! man page.

// The doc comments below are `--help`, written for a terminal: `<cc>` and a bare URL are
// what a user reads there, not HTML or links for rustdoc.
#![allow(rustdoc::invalid_html_tags, rustdoc::bare_urls)]

use crate::codes::{parse_cc_arg, CcArg};
use crate::download::mode::parse_max_req;
use crate::download::{Mode, Settings};
use crate::proxy::{parse_noproxy_option, parse_proxy_option, NoProxy, ProxyOption, ProxyRules};
use crate::report::color::ColorChoice;
use crate::report::Form;
use crate::run::{DownloadConfig, Pictures};
use crate::serve::inject::{parse_delay, parse_error_rate, DelayRange};
use crate::site::Site;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

pub mod bench;
pub mod generate;
pub mod serve;
mod values;

pub use bench::BenchArgs;
pub use serve::ServeArgs;

const EXAMPLES: &str = "\
Examples, after the book's sample runs:
  flags-dl                                  the top 20 by population, from the embedded server
  flags-dl --all --delay 0.5                all 194 flags, each request delayed 0.5 s
  flags-dl --all --delay 0.5 --mode sequential
                                            the same, one request at a time: see what concurrency buys
  flags-dl serve delay &                    the book's slow server on port 8001, then:
  flags-dl -s DELAY --all -m 200            200 requests in flight against it: watch them
                                            at http://localhost:8001/ in a browser
  flags-dl -s ERROR -a -m 100 -v            the error server: 25% of requests answered 418
  flags-dl -e -m 1000                       every pair AA..ZZ: 194 found, 482 not found
  flags-dl -l 10 A B C                      the first 10 of the codes that start with A, B or C

Pipelines:
  grep -v '^U' <(flags-dl --all --list) | flags-dl -                 codes from stdin
  flags-dl --all --json | jq -r 'select(.status==\"error\") | .cc'     codes that failed

Exit status: 0 every code downloaded, not found or skipped; 1 some codes failed, or the
server could not be reached; 2 usage error; 130 interrupted (Ctrl-C).";

/// A concurrent downloader of the Fluent Python country flags, with its own flag server.
#[derive(Debug, Parser)]
#[command(
    name = "flags-dl",
    version,
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    // A flag given twice (an alias plus the command line) means what it means once.
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub download: DownloadArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the flags over HTTP, as the book's `http.server` and `slow_server.py` do.
    ///
    /// It answers /flags/<cc>/<cc>.gif and /flags/<cc>/metadata.json, lists /flags/ and
    /// its folders as http.server does, and at / shows a browser the flags and, live, the
    /// requests it is answering: open http://localhost:8000/ (8001 for delay, 8002 for
    /// error) and run a client. The page, /_live (Server-Sent Events) and /_live.json are
    /// never delayed, failed or counted.
    Serve(Box<ServeArgs>),
    /// Time the three modes across levels of concurrency: the book's experiment.
    Bench(Box<BenchArgs>),
    /// Print a shell completion script: `flags-dl completions bash > ~/.local/share/bash-completion/completions/flags-dl`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `flags-dl man | man -l -`.
    Man,
}

/// Which codes to fetch.
#[derive(Debug, Clone, Args)]
pub struct CodeArgs {
    /// Country codes: two letters (BR), or one letter for the 26 codes that start with it
    /// (B = BA..BZ); case-insensitive; `-` reads codes from standard input, separated by
    /// spaces, commas or newlines. Default: the book's top 20 by population.
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

impl CodeArgs {
    /// The selection these arguments describe, for `codes::expand_cc_args`.
    pub fn selection(&self) -> crate::codes::Selection {
        crate::codes::Selection {
            args: self.codes.clone(),
            all: self.all,
            every: self.every,
            limit: self.limit.map(|n| n as usize),
        }
    }
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

    /// A round trip of MS milliseconds on every connection to the embedded server: every
    /// byte held MS/2 each way, so handshakes and each request pay it (unlike --delay).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub latency: Option<u64>,

    /// Make the embedded server speak HTTPS (HTTP/2 by ALPN), with a CA of its own that
    /// this run trusts by itself.
    #[arg(long)]
    pub tls: bool,
}

impl ServerArgs {
    /// The server asked for, the embedded one with `delay` (the download command's
    /// `--delay`, or the bench's default).
    pub fn server(&self, delay: Option<DelayRange>) -> crate::run::Server {
        crate::run::Server {
            site: self.server.clone(),
            embedded: crate::serve::EmbeddedOptions {
                delay,
                error_rate: self.error_rate.unwrap_or(0.0),
                latency: Duration::from_millis(self.latency.unwrap_or(0)),
                tls: self.tls,
            },
        }
    }
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
    #[arg(short, long = "max-req", value_name = "N", env = "FLAGS_DL_MAX_REQ", value_parser = parse_max_req)]
    pub max_req: Option<usize>,

    /// Folder to save the flags in, created if missing.
    #[arg(
        short,
        long,
        value_name = "DIR",
        default_value = "downloaded",
        env = "FLAGS_DL_OUTPUT_DIR"
    )]
    pub output_dir: PathBuf,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub reliability: ReliabilityArgs,

    #[command(flatten)]
    pub proxy: ProxyArgs,
}

/// Which proxy requests go through; the rules are `proxy`'s.
#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Send every request through this proxy, this machine's servers included, instead of
    /// the environment's (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY): http://, https://,
    /// socks4:// or socks5:// (the server's name resolved here), socks4a:// or socks5h://
    /// (resolved by the proxy), as http://user:pass@proxy:3128. `--proxy ""`: no proxy.
    #[arg(long, value_name = "URL", value_parser = parse_proxy_option)]
    pub proxy: Option<ProxyOption>,

    /// Hosts reached directly, never through a proxy, instead of NO_PROXY's: names
    /// (each covers the names below it), IP addresses or ranges (10.0.0.0/8), separated
    /// by commas; `*` for every host.
    #[arg(long, value_name = "LIST", value_parser = parse_noproxy_option)]
    pub noproxy: Option<NoProxy>,
}

impl ProxyArgs {
    /// The run's proxy rules: these options over the environment's variables.
    pub fn rules(&self) -> ProxyRules {
        ProxyRules::new(self.proxy.as_ref(), self.noproxy.as_ref(), &|name| {
            std::env::var(name).ok()
        })
    }
}

/// What is printed, and where.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// One line per code as it finishes (`BR OK`, `XX not found`, `YY error: ...`).
    #[arg(short, long, conflicts_with_all = ["quiet", "json"])]
    pub verbose: bool,

    /// Nothing on stdout; only a line on stderr for each code that failed.
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,

    /// NDJSON on stdout: one object per code as it finishes, then a summary object
    /// (fields in README.md). No report, no progress bar.
    #[arg(long)]
    pub json: bool,

    /// Print the codes that would be fetched, one per line, and exit.
    #[arg(long, conflicts_with_all = ["json", "quiet", "verbose"])]
    pub list: bool,

    /// Colour the output: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Draw the run as an SVG: a bar per code from its first request to its file saved,
    /// coloured by outcome, the requests in flight above.
    #[arg(long, value_name = "FILE.svg")]
    pub timeline: Option<PathBuf>,

    /// Write every request of the run in Chrome's trace-event format (one track per worker
    /// thread or task), which Perfetto and chrome://tracing open.
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,

    /// Write the run as an HTTP Archive (HAR 1.2): one entry per request, with its
    /// headers, status, sizes and timings, for the tools that read browsers' archives;
    /// `-` for standard output (with -q, so the report does not mix with it).
    #[arg(long, value_name = "FILE.har")]
    pub har: Option<PathBuf>,
}

impl OutputArgs {
    /// The report `-v`, `-q`, `--json` and `--color` ask for.
    pub fn form(&self) -> Form {
        if self.json {
            Form::Json
        } else if self.quiet {
            Form::Quiet
        } else {
            Form::Human {
                verbose: self.verbose,
                color: self.color,
            }
        }
    }

    /// `--timeline` and `--trace`.
    pub fn pictures(&self) -> Pictures {
        Pictures {
            timeline: self.timeline.clone(),
            trace: self.trace.clone(),
        }
    }

    /// The files asked for with `--timeline`, `--trace` and `--har`: their folders must
    /// exist, so that a run never ends unable to write what it was asked for; and `--har -`
    /// must not share standard output with the report.
    pub fn check_pictures(&self) -> Result<(), String> {
        let har = self.har.as_ref();
        if har.is_some_and(|path| path.as_os_str() == crate::har::STDOUT) && !self.quiet {
            return Err(
                "--har - writes the HAR on standard output, where the report goes: add -q (failures then go to stderr) or give a file name"
                    .into(),
            );
        }
        let har = har.filter(|path| path.as_os_str() != crate::har::STDOUT);
        let files = [
            ("--timeline", self.timeline.as_ref()),
            ("--trace", self.trace.as_ref()),
            ("--har", har),
        ];
        for (option, path) in files {
            let Some(path) = path else { continue };
            let dir = crate::output::folder(path);
            if !dir.is_dir() {
                return Err(format!(
                    "{option} {}: the folder {} does not exist; create it or give another path",
                    path.display(),
                    dir.display()
                ));
            }
            if path.is_dir() {
                return Err(format!(
                    "{option} {} is a folder; give a file name",
                    path.display()
                ));
            }
        }
        Ok(())
    }
}

/// Limits and retries: what keeps a run bounded against slow or failing servers.
#[derive(Debug, Clone, Args)]
pub struct ReliabilityArgs {
    /// Time limit for the whole of one request, body included, in seconds.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub timeout: Duration,

    /// Time limit for opening a connection, in seconds.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub connect_timeout: Duration,

    /// Attempts after the first for transient failures (connection errors, resets,
    /// timeouts, and the --retry-status codes); 0 is the book's behaviour.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: u32,

    /// HTTP statuses that are retried, comma-separated, or `none`.
    #[arg(long, value_name = "LIST", default_value = "408,429,500,502,503,504", value_parser = parse_status_list)]
    pub retry_status: StatusList,

    /// How the run paces itself to the server: `auto` opens every connection at once
    /// until the server's listen queue overflows (a handshake dropped), and sends fewer
    /// requests while it refuses them (429, 503); `off` sends exactly -m at once and
    /// opens every connection they need, as the book's scripts do.
    #[arg(long, value_name = "MODE", default_value = "auto", value_enum)]
    pub pace: crate::download::PaceMode,

    /// The most the run waits in all when the server asks it to (a 429 or 503 with
    /// Retry-After); past it, every code not yet fetched ends as an error of kind
    /// `refused`. 0 never waits.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_wait)]
    pub max_wait: Duration,

    /// Largest response accepted; a larger one is abandoned as soon as the limit is
    /// passed. Bytes, or with a unit: 512K, 10M, 1G (powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "10M", value_parser = parse_size)]
    pub max_size: u64,

    /// Don't request codes whose file is already in the output folder; count them as
    /// skipped. Finishes an interrupted run.
    #[arg(long)]
    pub skip_existing: bool,

    /// Also fetch each country's metadata.json and save flags as <Country_Name>-<cc>.gif
    /// (the book's flags3).
    #[arg(long)]
    pub names: bool,

    /// Trust the CA certificates in this PEM file too, besides the system's (whose place
    /// SSL_CERT_FILE and SSL_CERT_DIR take when set). A regular file of at most 4 MiB.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Speak HTTP/1.1 only. By default async mode offers HTTP/2 to an https server and
    /// uses it when the server agrees; threads and sequential mode always speak HTTP/1.1.
    #[arg(long = "http1.1")]
    pub http1_only: bool,
}

impl ReliabilityArgs {
    /// The download's settings these options give.
    pub fn settings(&self) -> Settings {
        Settings {
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            max_size: self.max_size,
            retry: crate::download::retry::RetryPolicy {
                retries: self.retries,
                statuses: self.retry_status.0.clone(),
                ..Default::default()
            },
            names: self.names,
            skip_existing: self.skip_existing,
            http1_only: self.http1_only,
            max_wait: self.max_wait,
            pace: self.pace,
        }
    }
}

/// The settings of a download given none of these options: what each run of the bench
/// uses (but for the HTTP version it offers), so that it behaves as a download without
/// them does.
pub fn default_settings() -> Settings {
    ReliabilityArgs::default().settings()
}

impl Default for ReliabilityArgs {
    /// The defaults of the command line: the one place they are written.
    fn default() -> ReliabilityArgs {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            reliability: ReliabilityArgs,
        }
        Defaults::parse_from(["flags-dl"]).reliability
    }
}

/// A list of HTTP statuses (a named type, since clap treats a bare `Vec` as repeated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList(pub Vec<u16>);

fn parse_status_list(arg: &str) -> Result<StatusList, String> {
    crate::download::retry::parse_status_list(arg).map(StatusList)
}

/// Parses seconds, as `10` or `0.5`, above 0 and up to a day.
pub fn parse_secs(arg: &str) -> Result<Duration, String> {
    match arg.trim().parse::<f64>() {
        Ok(secs) if (0.001..=86_400.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "'{arg}' is not a time: give seconds from 0.001 to 86400, as 10 or 0.5"
        )),
    }
}

/// Parses `--max-wait`: seconds from 0 (never wait) to a day.
pub fn parse_wait(arg: &str) -> Result<Duration, String> {
    match arg.trim().parse::<f64>() {
        Ok(secs) if (0.0..=86_400.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "'{arg}' is not a time: give seconds from 0 to 86400, as 60 or 0.5"
        )),
    }
}

/// Parses a size: bytes, or a number with K, M or G (powers of 1024; `KiB`, `MB` etc. too).
pub fn parse_size(arg: &str) -> Result<u64, String> {
    let bad = || format!("'{arg}' is not a size: give bytes, or a number with K, M or G, as 10M");
    let text = arg.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(bad()),
    };
    let bytes = number * scale as f64;
    if !(1.0..=(1u64 << 50) as f64).contains(&bytes) {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// The clap command, for completions and the man page.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

impl ServerArgs {
    /// The rule that joins these options (for `download` and `bench` alike): faults are
    /// the embedded server's only. The message is a usage error.
    pub fn check(&self) -> Result<(), String> {
        if self.server != Site::Embedded {
            if self.delay.is_some() {
                return Err("--delay applies to the embedded server only; for another server, start it with `flags-dl serve --delay ...`".into());
            }
            if self.error_rate.is_some() {
                return Err("--error-rate applies to the embedded server only; for another server, start it with `flags-dl serve --error-rate ...`".into());
            }
            if self.latency.is_some() {
                return Err("--latency applies to the embedded server only; for another server, start it with `flags-dl serve --latency ...`".into());
            }
            if self.tls {
                return Err("--tls applies to the embedded server only; for another server, give its https:// URL (and --cacert for a private CA)".into());
            }
        }
        Ok(())
    }
}

impl DownloadArgs {
    /// The rules that join several options; the message is a usage error.
    pub fn check(&self) -> Result<(), String> {
        self.server.check()
    }

    /// The download command these arguments describe, once they pass [`Self::check`] and
    /// the folders of their pictures exist; the message is a usage error.
    pub fn config(&self) -> Result<DownloadConfig, String> {
        self.check()?;
        self.output.check_pictures()?;
        Ok(DownloadConfig {
            selection: self.codes.selection(),
            list: self.output.list,
            server: self.server.server(self.server.delay),
            mode: self.mode,
            max_req: self.max_req,
            out_dir: self.output_dir.clone(),
            report: self.output.form(),
            pictures: self.output.pictures(),
            har: self.output.har.clone(),
            settings: self.reliability.settings(),
            cacert: self.reliability.cacert.clone(),
            proxies: self.proxy.rules(),
        })
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
    fn sizes_and_times_parse_with_units() {
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert!(parse_size("10X").unwrap_err().contains("'10X'"));
        assert!(parse_size("0").is_err());
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_secs("0").is_err() && parse_secs("-1").is_err());
    }
}
