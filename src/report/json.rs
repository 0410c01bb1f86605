//! `--json`: one NDJSON object per code on stdout as soon as it finishes, then one summary
//! object. The fields are documented in README.md and kept stable: add, never rename.

use super::{Reporter, RunEnd, RunInfo};
use crate::download::phases::{ConnectionUse, Phases};
use crate::download::{DownloadStatus, ErrorKind, Outcome};
use serde::Serialize;
use std::io::{self, Write};

/// One code's line.
#[derive(Debug, Serialize)]
pub struct CodeRecord {
    /// Lower case, as in the file name.
    pub cc: String,
    /// `ok`, `not_found`, `error`, `skipped` or `cancelled`.
    pub status: &'static str,
    pub path: Option<String>,
    pub bytes: u64,
    pub ms: u64,
    pub attempts: u32,
    pub http_status: Option<u16>,
    /// `1.0`, `1.1` or `2`: the HTTP version of the last answer.
    pub http_version: Option<&'static str>,
    /// What went wrong, in words: `HTTP 503 Service Unavailable (after 3 attempts)`.
    pub error: Option<String>,
    /// What kind of failure, for scripts to match on: `http_status`, `timeout`, …
    pub error_kind: Option<ErrorKind>,
    /// Where its last exchange's time went, in ms (see `download::phases`).
    pub timings: Option<Phases>,
    /// The connection its last exchange went over: `id` and `new`.
    pub connection: Option<ConnectionUse>,
}

impl CodeRecord {
    pub fn new(outcome: &Outcome) -> CodeRecord {
        let status = match &outcome.status {
            DownloadStatus::Ok => "ok",
            DownloadStatus::NotFound => "not_found",
            DownloadStatus::Error(_) => "error",
            DownloadStatus::Skipped => "skipped",
            DownloadStatus::Cancelled => "cancelled",
        };
        let failure = match &outcome.status {
            DownloadStatus::Error(failure) => Some(failure),
            _ => None,
        };
        CodeRecord {
            cc: outcome.cc.to_ascii_lowercase(),
            status,
            path: outcome.path.as_ref().map(|p| p.display().to_string()),
            bytes: outcome.bytes,
            ms: outcome.elapsed.as_millis() as u64,
            attempts: outcome.attempts,
            http_status: outcome.http_status,
            http_version: outcome.http_version,
            error: failure.map(ToString::to_string),
            error_kind: failure.map(|f| f.kind),
            timings: outcome.timings,
            connection: outcome.connection,
        }
    }
}

/// The last line: `{"summary": {...}}`.
#[derive(Debug, Serialize)]
pub struct SummaryRecord<'a> {
    pub summary: RunTotals<'a>,
}

/// The whole run: counts, time, and how it went at the server (the bench has its own
/// summaries per mode and level, `bench::summary`).
#[derive(Debug, Serialize)]
pub struct RunTotals<'a> {
    pub ok: usize,
    pub not_found: usize,
    pub error: usize,
    pub skipped: usize,
    pub cancelled: usize,
    pub total: usize,
    pub elapsed_s: f64,
    pub mode: crate::download::Mode,
    pub max_req: usize,
    /// The base URL, a password in it masked.
    pub server: &'a str,
    /// The most requests that were in flight at once.
    pub peak_in_flight: usize,
    /// How often a 429 or 503 lowered the requests in flight.
    pub pace_lowered: u32,
    /// Connections opened (with HTTP/2, far fewer than requests in flight).
    pub connections: u32,
    /// Connection attempts abandoned as late and opened again.
    pub late_connects: u32,
    /// Every exchange's phases summed, in ms: a slow server shows in `wait`, a slow pace
    /// in `queued`.
    pub timings: Phases,
}

/// `{"wait": {...}}`: the server asked the run to wait, or the run gave up waiting.
#[derive(Debug, Serialize)]
pub struct WaitRecord {
    pub wait: WaitFields,
}

#[derive(Debug, Serialize)]
pub struct WaitFields {
    /// 429 or 503.
    pub http_status: u16,
    /// The wait the server asked for (its `Retry-After`), in seconds.
    pub wait_s: f64,
    /// What the run has waited in all, this wait included unless it gave up.
    pub waited_s: f64,
    pub max_wait_s: f64,
    /// The wait is past `--max-wait`: every code not yet fetched ends as `refused`.
    pub gave_up: bool,
}

/// Writes NDJSON to `out`, a line per event, flushed so readers see each as it happens.
pub struct Json<W: Write> {
    out: W,
}

impl<W: Write> Json<W> {
    pub fn new(out: W) -> Json<W> {
        Json { out }
    }

    fn line(&mut self, value: &impl Serialize) -> io::Result<()> {
        let json = serde_json::to_string(value)?;
        // The same JSON, with no raw format character to rewrite a terminal it is read on.
        self.out
            .write_all(crate::text::json_escaped(&json).as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl<W: Write> Reporter for Json<W> {
    fn start(&mut self, _run: &RunInfo) -> io::Result<()> {
        Ok(())
    }

    fn outcome(&mut self, outcome: &Outcome) -> io::Result<()> {
        self.line(&CodeRecord::new(outcome))
    }

    fn wait(&mut self, wait: &crate::download::ServerWait) -> io::Result<()> {
        let secs = |d: std::time::Duration| (d.as_secs_f64() * 1000.0).round() / 1000.0;
        self.line(&WaitRecord {
            wait: WaitFields {
                http_status: wait.status,
                wait_s: secs(wait.wait),
                waited_s: secs(wait.waited),
                max_wait_s: secs(wait.max_wait),
                gave_up: wait.gave_up,
            },
        })
    }

    fn finish(&mut self, run: &RunInfo, end: &RunEnd) -> io::Result<()> {
        let (counter, elapsed) = (&end.counter, end.elapsed);
        self.line(&SummaryRecord {
            summary: RunTotals {
                ok: counter.ok,
                not_found: counter.not_found,
                error: counter.error,
                skipped: counter.skipped,
                cancelled: counter.cancelled,
                total: counter.total(),
                elapsed_s: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
                mode: run.mode,
                max_req: run.max_req,
                server: &crate::address::shown_url(&run.base_url),
                peak_in_flight: end.peak_in_flight,
                pace_lowered: end.pace_lowered,
                connections: end.connections,
                late_connects: end.late_connects,
                timings: end.timings,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn a_code_line_has_every_documented_field() {
        let mut outcome = Outcome::without_request("BR", DownloadStatus::Ok);
        outcome.path = Some(PathBuf::from("downloaded/br.gif"));
        outcome.bytes = 11623;
        outcome.elapsed = Duration::from_millis(12);
        outcome.attempts = 1;
        outcome.http_status = Some(200);
        outcome.http_version = Some("1.1");
        assert_eq!(
            serde_json::to_string(&CodeRecord::new(&outcome)).unwrap(),
            r#"{"cc":"br","status":"ok","path":"downloaded/br.gif","bytes":11623,"ms":12,"attempts":1,"http_status":200,"http_version":"1.1","error":null,"error_kind":null,"timings":null,"connection":null}"#
        );
    }
}
