//! What the user sees of a run, in one of three forms behind one small trait
//! ([`Reporter`]): the book's human report ([`human`]), NDJSON for scripts ([`json`]), or
//! nothing but error lines ([`Quiet`]).
//!
//! Results and the report go to stdout; progress and diagnostics go to stderr. The driver
//! calls `start`, then `outcome` once per code as it finishes, then `finish`.

pub mod color;
pub mod human;
pub mod json;

use crate::download::{DownloadStatus, Mode, Outcome, ServerWait};
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

/// How many codes ended each way (the book's `counter`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub ok: usize,
    pub not_found: usize,
    pub error: usize,
    pub skipped: usize,
    pub cancelled: usize,
}

impl Counter {
    pub fn add(&mut self, status: &DownloadStatus) {
        match status {
            DownloadStatus::Ok => self.ok += 1,
            DownloadStatus::NotFound => self.not_found += 1,
            DownloadStatus::Error(_) => self.error += 1,
            DownloadStatus::Skipped => self.skipped += 1,
            DownloadStatus::Cancelled => self.cancelled += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.ok + self.not_found + self.error + self.skipped + self.cancelled
    }
}

/// What is known of a run before it starts.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// `EMBEDDED`, `LOCAL`, … or `Custom`.
    pub site_label: String,
    pub base_url: String,
    pub codes: Vec<String>,
    pub mode: Mode,
    /// Requests in flight at most, after the mode's cap and the number of codes.
    pub max_req: usize,
}

/// What is known of a run once it has ended.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    pub counter: Counter,
    /// From the first request to the last outcome.
    pub elapsed: Duration,
    /// The most requests that were in flight at once.
    pub peak_in_flight: usize,
    /// How often a 429 or 503 lowered the requests in flight.
    pub pace_lowered: u32,
    /// Connections opened.
    pub connections: u32,
    /// Connection attempts abandoned as late (a full listen queue, most likely).
    pub late_connects: u32,
    /// Some answer came over HTTP/2, so requests shared connections.
    pub http2: bool,
    /// Every exchange's phases, summed phase by phase.
    pub timings: crate::download::phases::Phases,
}

/// Receives a run's events and shows them.
pub trait Reporter {
    fn start(&mut self, run: &RunInfo) -> io::Result<()>;
    fn outcome(&mut self, outcome: &Outcome) -> io::Result<()>;
    /// A remark on how the run goes (the pace lowered, say): shown with `-v`.
    fn note(&mut self, _line: &str) -> io::Result<()> {
        Ok(())
    }
    /// The server asked the run to wait, or the run gave up waiting: shown as it begins,
    /// without `-v` too, since a run may then sit silent for a minute (not with `-q`).
    fn wait(&mut self, _wait: &ServerWait) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, run: &RunInfo, end: &RunEnd) -> io::Result<()>;
}

/// How the user asked to see a run: `--json`, `-q`, or the book's report (`-v`,
/// `--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Json,
    Quiet,
    Human {
        verbose: bool,
        color: color::ColorChoice,
    },
}

/// The reporter that `form` asks for, writing to stdout (or, for `-q`, stderr).
pub fn reporter(form: Form) -> Box<dyn Reporter> {
    match form {
        Form::Json => Box::new(json::Json::new(io::stdout().lock())),
        Form::Quiet => Box::new(Quiet::new(io::stderr())),
        Form::Human { verbose, color } => Box::new(human::Human::new(
            io::stdout().lock(),
            human::Look {
                verbose,
                // The bar goes to stderr, and only where a person watches it.
                bar: io::stderr().is_terminal(),
                paint: color::Paint(color.stdout()),
                bar_color: color.stderr(),
            },
        )),
    }
}

/// The line that tells a person the run waits for the server, or gave up waiting.
pub fn wait_line(wait: &ServerWait) -> String {
    use crate::download::failure::{secs, status_text};
    let asked = format!(
        "the server answered {} and asks to wait {}",
        status_text(wait.status),
        secs(wait.wait)
    );
    if wait.gave_up {
        format!(
            "{asked}, past --max-wait ({} of {} waited in all): giving up on every flag not yet fetched",
            secs(wait.waited),
            secs(wait.max_wait)
        )
    } else {
        format!(
            "{asked}: waiting ({} of --max-wait {} in all)",
            secs(wait.waited),
            secs(wait.max_wait)
        )
    }
}

/// `-q`: nothing on stdout; one line on stderr per code that failed.
pub struct Quiet<W: Write> {
    err: W,
}

impl<W: Write> Quiet<W> {
    pub fn new(err: W) -> Quiet<W> {
        Quiet { err }
    }
}

impl<W: Write> Reporter for Quiet<W> {
    fn start(&mut self, _run: &RunInfo) -> io::Result<()> {
        Ok(())
    }

    fn outcome(&mut self, outcome: &Outcome) -> io::Result<()> {
        if let DownloadStatus::Error(failure) = &outcome.status {
            let reason = failure.to_string();
            let reason = crate::text::escaped(&reason);
            writeln!(self.err, "flags-dl: {} error: {reason}", outcome.cc)?;
        }
        Ok(())
    }

    fn finish(&mut self, _run: &RunInfo, _end: &RunEnd) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_says_what_the_server_asked_and_what_is_left() {
        let mut wait = ServerWait {
            status: 429,
            wait: Duration::from_secs(1),
            waited: Duration::from_secs(3),
            max_wait: Duration::from_secs(60),
            gave_up: false,
        };
        assert_eq!(
            wait_line(&wait),
            "the server answered HTTP 429 Too Many Requests and asks to wait 1 s: waiting (3 s of --max-wait 60 s in all)"
        );
        wait.wait = Duration::from_secs(60);
        wait.gave_up = true;
        assert_eq!(
            wait_line(&wait),
            "the server answered HTTP 429 Too Many Requests and asks to wait 60 s, past --max-wait (3 s of 60 s waited in all): giving up on every flag not yet fetched"
        );
    }

    #[test]
    fn quiet_prints_only_errors() {
        let mut err = Vec::new();
        let mut quiet = Quiet::new(&mut err);
        for status in [
            DownloadStatus::Ok,
            DownloadStatus::Error(crate::download::failure::Failure::new(
                crate::download::ErrorKind::HttpStatus,
                "HTTP 418 I'm a teapot",
            )),
        ] {
            quiet
                .outcome(&Outcome::without_request("BR", status))
                .unwrap();
        }
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "flags-dl: BR error: HTTP 418 I'm a teapot\n"
        );
    }
}
