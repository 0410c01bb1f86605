//! Each bench run in a child process of flags-dl, so that what a run costs (its peak memory,
//! its threads, its CPU time) is measured for that run alone: one run's allocations, thread
//! pools and runtimes cannot inflate the next, and the embedded server, which stays in the
//! bench's own process, is not counted.
//!
//! The parent starts `flags-dl bench --child-run` (a hidden flag), writes the run's
//! [`RunSpec`] as one JSON line on its stdin, and reads back a `.` per code finished (only when the
//! progress bar is shown) and then the run's [`Measured`] as one JSON line. While the run
//! goes, the parent reads the child's `/proc/<pid>/status` every few milliseconds for its
//! thread count; once the result is in, the child waits for its stdin to close, so the
//! parent reads the final figures of a process that is still there; then it reaps the child
//! with `wait4`, whose rusage gives the CPU time. A run asked to draw its `--timeline` or
//! `--trace` draws it in the child, after its clock stops.
//!
//! Closing the child's stdin is also how the parent stops a run (Ctrl-C sent to the bench
//! alone), and a bench that dies takes its run with it for the same reason.
//!
//! Peak memory is the child's `VmHWM` (the high-water mark of its resident set), not
//! `wait4`'s `ru_maxrss`: Linux counts in `ru_maxrss` the address space the child had
//! before `exec`, which, spawned the way std spawns (vfork), is the parent's, so every run
//! would report at least the bench's own memory (a `/bin/true` started from a 300 MB
//! process reports 301 MB).

use super::plan::versions;
use crate::download::trust::Trust;
use crate::download::{DownloadStatus, Event, Mode, Parts, Settings};
use crate::error::{Error, Exit};
use crate::proxy::ProxyRules;
use crate::run::{Pictures, Plan};
use crate::save::Saver;
use anyhow::Context;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wait4::Wait4;

/// The hidden flag of `flags-dl bench` that runs one run for a parent bench.
pub const CHILD_FLAG: &str = "--child-run";

/// The longest spec a child reads from its stdin. A spec is a few KiB (676 codes, a CA of
/// a few hundred bytes); without a bound, `--child-run` fed an endless stream (`<
/// /dev/zero`) would grow its line until memory ran out.
const MAX_SPEC_BYTES: u64 = 1 << 20;

/// How often the parent reads the child's thread count: often enough to catch a pool
/// that lives a few tens of milliseconds, rarely enough to cost the machine nothing.
const SAMPLE_EVERY: Duration = Duration::from_millis(4);

/// One run, as the bench hands it to its child process.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    pub mode: Mode,
    /// Offer HTTP/1.1 only, as `--http1.1` does; otherwise async offers HTTP/2 to an https
    /// server.
    #[serde(default)]
    pub http1_only: bool,
    pub base_url: String,
    pub codes: Vec<String>,
    /// Requests in flight, as the one rule already decided.
    pub max_req: usize,
    /// Where to draw this run, if asked.
    #[serde(default)]
    pub timeline: Option<PathBuf>,
    #[serde(default)]
    pub trace: Option<PathBuf>,
    /// The embedded server's CA (DER), when it speaks TLS: the run trusts it alone.
    #[serde(default)]
    pub ca: Option<Vec<u8>>,
    /// Write a `.` per code finished, for the bench's progress bar.
    #[serde(default)]
    pub ticks: bool,
}

/// What one run measured: the child process that ran it tells the first part, the bench
/// measures the rest from outside.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Measured {
    pub elapsed: Duration,
    pub ok: usize,
    pub not_found: usize,
    pub errors: usize,
    pub peak_in_flight: usize,
    /// The HTTP versions that answered, as
    /// [`RunRecord::http_version`](super::run::RunRecord::http_version).
    #[serde(default)]
    pub http_version: Option<String>,
    /// Ctrl-C cut the run short: its figures measure nothing.
    pub interrupted: bool,
    /// Filled in by the bench, from the child's process: see
    /// [`RunRecord`](super::run::RunRecord).
    #[serde(default)]
    pub peak_rss_bytes: u64,
    #[serde(default)]
    pub peak_threads: usize,
    #[serde(default)]
    pub cpu_s: f64,
    /// Each phase's median over the run's exchanges.
    #[serde(default)]
    pub phases: super::phases::PhaseMedians,
}

impl Measured {
    fn count(&mut self, status: &DownloadStatus) {
        // `matches!` rather than an exhaustive `match`: any other way a code can end is an
        // error for the bench, whatever statuses the download module grows.
        if matches!(status, DownloadStatus::Ok) {
            self.ok += 1;
        } else if matches!(status, DownloadStatus::NotFound) {
            self.not_found += 1;
        } else {
            self.errors += 1;
        }
    }
}

/// Downloads the codes of `spec` once, with `settings` (but for the HTTP version the spec
/// offers), into a temporary folder that is removed afterwards, and says how long it took.
/// `tick` is called once per code; cancelling `cancel` stops the run. The bench calls it
/// in a child process.
pub fn run_once(
    spec: &RunSpec,
    settings: &Settings,
    trust: &Trust,
    cancel: &CancellationToken,
    tick: &mut dyn FnMut(),
) -> anyhow::Result<Measured> {
    // A fresh folder per run: no run finds files (or a warm directory) left by another.
    // Removed on every way out, a second Ctrl-C's included (see `interrupt`).
    let dir = crate::interrupt::ScratchDir::new("flags-dl-bench-")
        .map_err(|e| anyhow::anyhow!("cannot create a temporary folder for a run: {e}"))?;
    let plan = Plan {
        mode: spec.mode,
        parts: Parts {
            base_url: spec.base_url.clone(),
            codes: spec.codes.clone(),
            max_req: spec.max_req,
            saver: Arc::new(Saver::new(dir.path().to_path_buf())),
            trust: trust.clone(),
            // The bench has no proxy options: its runs follow the environment, as a
            // download does.
            proxies: Arc::new(ProxyRules::from_env()),
            cancel: cancel.clone(),
        },
        settings: Settings {
            http1_only: spec.http1_only,
            ..settings.clone()
        },
        pictures: Pictures {
            timeline: spec.timeline.clone(),
            trace: spec.trace.clone(),
        },
        har: None,
        // Phases (issue 20): every exchange, for the run's phase medians.
        keep_exchanges: true,
        measure: true,
    };
    let mut measured = Measured::default();
    let ran = crate::run::one(plan, &mut |event| {
        // The bench reports its own way: only outcomes count.
        let Event::Outcome(outcome) = event else {
            return;
        };
        measured.count(&outcome.status);
        measured.http_version = versions(
            measured
                .http_version
                .as_deref()
                .into_iter()
                .chain(outcome.http_version),
        );
        tick();
    })?;
    measured.elapsed = ran.elapsed;
    measured.phases = super::phases::PhaseMedians::of_exchanges(&ran.exchanges);
    measured.peak_in_flight = ran.pace.peak_in_flight;
    measured.interrupted = cancel.is_cancelled();
    // Removed here; one the OS will not let us remove is litter in the temp folder, not a
    // failed measurement.
    drop(dir);
    Ok(measured)
}

/// Runs `spec` in a child process and measures it: the child's figures, and its memory,
/// threads and CPU time from outside. A run stopped by `cancel` (or by a Ctrl-C that
/// reached the child too) comes back with `interrupted` set.
pub fn run_in_child(
    spec: &RunSpec,
    cancel: &CancellationToken,
    tick: &(dyn Fn() + Sync),
) -> anyhow::Result<Measured> {
    let mut command = Command::new(this_program());
    #[cfg(unix)]
    {
        // `ps` shows `flags-dl bench --child-run`, not `/proc/self/exe ...`.
        use std::os::unix::process::CommandExt;
        command.arg0("flags-dl");
    }
    let mut child = command
        .args(["bench", CHILD_FLAG])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start a bench run (a child process of flags-dl)")?;
    let pid = child.id();
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut spec_line = serde_json::to_vec(spec)?;
    spec_line.push(b'\n');
    if let Some(pipe) = &mut stdin {
        // A child that died at once shows below, by its missing result and exit status.
        let _ = pipe.write_all(&spec_line);
    }

    let mut peaks = Peaks::default();
    let result = std::thread::scope(|scope| {
        let (sender, results) = mpsc::channel();
        scope.spawn(move || read_child(stdout, tick, &sender));
        let result = loop {
            peaks.sample(pid);
            if cancel.is_cancelled() {
                // The child stops its run when its stdin closes.
                drop(stdin.take());
            }
            match results.recv_timeout(SAMPLE_EVERY) {
                Ok(line) => {
                    // The child waits for its stdin to close: these are its last figures.
                    peaks.sample(pid);
                    break Some(line);
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break None,
            }
        };
        // Lets the child exit, so that the reader thread ends.
        drop(stdin.take());
        result
    });
    let used = child
        .wait4()
        .context("cannot wait for a bench run (a child process of flags-dl)")?;
    let mut measured = match result {
        Some(line) => serde_json::from_str(&line)
            .with_context(|| format!("a bench run answered {line:?}, not its figures"))?,
        // A second Ctrl-C ends the child at once, without a result.
        None if cancel.is_cancelled() || was_interrupted(&used) => Measured {
            interrupted: true,
            ..Measured::default()
        },
        None => anyhow::bail!(
            "a bench run (a child process of flags-dl) ended without its figures ({})",
            used.status
        ),
    };
    // Where there is no /proc, wait4's figure, which may include the bench's own memory
    // (see the module's doc).
    measured.peak_rss_bytes = peaks.rss_bytes.unwrap_or(used.rusage.maxrss);
    measured.peak_threads = peaks.threads.unwrap_or(0);
    measured.cpu_s = (used.rusage.utime + used.rusage.stime).as_secs_f64();
    Ok(measured)
}

/// The child ended the way Ctrl-C ends it: exit 130, or killed by SIGINT.
fn was_interrupted(used: &wait4::ResUse) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if used.status.signal() == Some(2) {
            return true;
        }
    }
    used.status.code() == Some(130)
}

/// Reads the child's stdout: a tick per `.`, then the result line, sent once whole. Stops
/// there, or at the end of the stream (the child failed: nothing is sent).
fn read_child(stdout: impl Read, tick: &(dyn Fn() + Sync), sender: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        let Ok(buffer) = reader.fill_buf() else {
            return;
        };
        if buffer.is_empty() {
            return;
        }
        let (mut used, mut done) = (0, false);
        for &byte in buffer {
            used += 1;
            match byte {
                b'.' if line.is_empty() => tick(),
                b'\n' => {
                    done = true;
                    break;
                }
                _ => line.push(byte),
            }
        }
        reader.consume(used);
        if done {
            let _ = sender.send(String::from_utf8_lossy(&line).into_owned());
            return;
        }
    }
}

/// The program to start for a run: this very binary, even if a rebuild has replaced its
/// file since the bench started (Linux's `/proc/self/exe` names the running image), so
/// that every run of a bench measures the same build.
fn this_program() -> PathBuf {
    let running = PathBuf::from("/proc/self/exe");
    if running.exists() {
        return running;
    }
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("flags-dl"))
}

/// The highest figures read so far from a child's `/proc/<pid>/status`.
#[derive(Debug, Default)]
struct Peaks {
    rss_bytes: Option<u64>,
    threads: Option<usize>,
}

impl Peaks {
    fn sample(&mut self, pid: u32) {
        // Gone, or no /proc on this system: nothing to add.
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            self.add(&text);
        }
    }

    fn add(&mut self, status: &str) {
        let (rss, threads) = read_status(status);
        self.rss_bytes = self.rss_bytes.max(rss);
        self.threads = self.threads.max(threads);
    }
}

/// `VmHWM` in bytes and `Threads` from the text of `/proc/<pid>/status`.
fn read_status(status: &str) -> (Option<u64>, Option<usize>) {
    let (mut rss, mut threads) = (None, None);
    for line in status.lines() {
        if let Some(value) = line.strip_prefix("VmHWM:") {
            // "  12345 kB": the kernel's kB are KiB.
            rss = value
                .trim()
                .strip_suffix("kB")
                .and_then(|kib| kib.trim().parse::<u64>().ok())
                .map(|kib| kib * 1024);
        } else if let Some(value) = line.strip_prefix("Threads:") {
            threads = value.trim().parse().ok();
        }
    }
    (rss, threads)
}

/// `flags-dl bench --child-run`: reads a [`RunSpec`] line on stdin, runs it with
/// `settings` (a download's without options), writes the figures as a JSON line on stdout,
/// and exits once stdin closes.
pub fn child_main(settings: &Settings) -> anyhow::Result<Exit> {
    let not_a_spec = |why: String| {
        Error::Usage(format!(
            "{CHILD_FLAG} is for flags-dl bench itself, which writes a run's spec on stdin ({why})"
        ))
    };
    let line = read_spec_line(&mut io::stdin().lock(), MAX_SPEC_BYTES)?.ok_or_else(|| {
        not_a_spec(format!(
            "more than {} KiB without a line's end",
            MAX_SPEC_BYTES / 1024
        ))
    })?;
    let spec: RunSpec = serde_json::from_slice(&line).map_err(|e| not_a_spec(e.to_string()))?;
    crate::limits::raise_open_files();
    let ca = spec.ca.clone().map(Into::into);
    let trust = crate::run::trust(&spec.base_url, ca, None, &ProxyRules::from_env())?;
    let cancel = CancellationToken::new();
    // The terminal's Ctrl-C reaches the bench and this run alike: the bench says so.
    crate::interrupt::watch_cancel_quietly(cancel.clone());
    // The bench closes our stdin to stop the run early, and after reading its figures.
    let closed = {
        let cancel = cancel.clone();
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let mut sink = [0u8; 64];
                while matches!(io::stdin().read(&mut sink), Ok(n) if n > 0) {}
                cancel.cancel();
            })?
    };
    let mut out = io::stdout().lock();
    let mut tick = || {
        if spec.ticks {
            // The bar is only a bar: a failed write does not fail the run.
            let _ = out.write_all(b".").and_then(|()| out.flush());
        }
    };
    let measured = run_once(&spec, settings, &trust, &cancel, &mut tick)?;
    serde_json::to_writer(&mut out, &measured)?;
    out.write_all(b"\n")?;
    out.flush()?;
    drop(out);
    let _ = closed.join();
    Ok(Exit::Success)
}

/// The first line of `input` (its `\n` included), read no further than `max` bytes;
/// `None` if `max` bytes hold no line's end. What follows the line stays unread in
/// `input`'s buffer.
fn read_spec_line(input: &mut impl BufRead, max: u64) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    input.take(max).read_until(b'\n', &mut line)?;
    if line.len() as u64 == max && line.last() != Some(&b'\n') {
        return Ok(None);
    }
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_line_is_read_up_to_a_bound_and_no_further() {
        let mut input = &b"{\"a\":1}\nrest"[..];
        assert_eq!(
            read_spec_line(&mut input, 100).unwrap().unwrap(),
            b"{\"a\":1}\n"
        );
        assert_eq!(input, b"rest", "what follows the line is left");
        // An endless stream with no line's end: refused after `max` bytes.
        let mut zeros = BufReader::new(io::repeat(0));
        assert!(read_spec_line(&mut zeros, 1 << 10).unwrap().is_none());
        // A line that ends exactly at the bound is whole.
        let mut exact = &b"1234\n"[..];
        assert!(read_spec_line(&mut exact, 5).unwrap().is_some());
        // End of input without a line's end: what there was (a spec that is not JSON).
        let mut short = &b"{"[..];
        assert_eq!(read_spec_line(&mut short, 5).unwrap().unwrap(), b"{");
    }

    #[test]
    fn status_gives_the_high_water_mark_and_the_threads() {
        let status = "Name:\tflags-dl\nVmPeak:\t  99999 kB\nVmHWM:\t   12345 kB\nVmRSS:\t   10000 kB\nThreads:\t7\n";
        assert_eq!(read_status(status), (Some(12345 * 1024), Some(7)));
        assert_eq!(read_status("Name:\tzombie\nThreads:\t1\n"), (None, Some(1)));
        let mut peaks = Peaks::default();
        peaks.add("VmHWM:\t 100 kB\nThreads:\t9\n");
        peaks.add("VmHWM:\t 200 kB\nThreads:\t3\n");
        assert_eq!(
            (peaks.rss_bytes, peaks.threads),
            (Some(200 * 1024), Some(9))
        );
    }

    #[test]
    fn the_reader_ticks_per_dot_and_sends_the_line() {
        let ticks = std::sync::atomic::AtomicUsize::new(0);
        let tick = || {
            ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        let (sender, results) = mpsc::channel();
        read_child(&b"...{\"ok\":3}\nignored"[..], &tick, &sender);
        assert_eq!(results.try_recv().unwrap(), "{\"ok\":3}");
        assert_eq!(ticks.load(std::sync::atomic::Ordering::Relaxed), 3);
        let (sender, results) = mpsc::channel();
        read_child(&b"..."[..], &tick, &sender);
        assert!(results.try_recv().is_err(), "no line, nothing sent");
    }

    #[test]
    fn anything_but_ok_and_not_found_is_an_error() {
        let mut m = Measured::default();
        m.count(&DownloadStatus::Ok);
        m.count(&DownloadStatus::NotFound);
        m.count(&DownloadStatus::Error(
            crate::download::failure::Failure::new(
                crate::download::ErrorKind::HttpStatus,
                "HTTP 418 I'm a teapot",
            ),
        ));
        assert_eq!((m.ok, m.not_found, m.errors), (1, 1, 1));
    }
}
