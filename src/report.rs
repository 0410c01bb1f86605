//! What the user sees of a run: the book's `initial_report` and `final_report`, one line
//! per code with `-v`, and a progress bar on a terminal.
//!
//! The report and the per-code lines go to stdout; the progress bar to stderr, and only
//! when stderr is a terminal. Lines printed while the bar is up are printed through it
//! (`suspend`), so the bar never tears them.

use crate::download::{DownloadStatus, Outcome};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
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

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The lines printed before the downloads start.
pub fn initial_report(
    out: &mut dyn Write,
    site_label: &str,
    site_url: &str,
    codes: &[String],
    actual_req: usize,
) -> io::Result<()> {
    let which = if codes.len() <= 10 {
        codes.join(", ")
    } else {
        format!("from {} to {}", codes[0], codes[codes.len() - 1])
    };
    writeln!(out, "{site_label} site: {site_url}")?;
    writeln!(
        out,
        "Searching for {} flag{}: {which}",
        codes.len(),
        plural(codes.len())
    )?;
    if actual_req == 1 {
        writeln!(out, "1 connection will be used.")
    } else {
        writeln!(out, "{actual_req} concurrent connections will be used.")
    }
}

/// The lines printed after the last code, zero counts left out as the book does.
pub fn final_report(out: &mut dyn Write, counter: &Counter, elapsed: Duration) -> io::Result<()> {
    writeln!(out, "{}", "-".repeat(20))?;
    writeln!(
        out,
        "{:3} flag{} downloaded.",
        counter.ok,
        plural(counter.ok)
    )?;
    if counter.not_found > 0 {
        writeln!(out, "{:3} not found.", counter.not_found)?;
    }
    if counter.error > 0 {
        writeln!(out, "{:3} error{}.", counter.error, plural(counter.error))?;
    }
    if counter.skipped > 0 {
        writeln!(out, "{:3} skipped (already saved).", counter.skipped)?;
    }
    if counter.cancelled > 0 {
        writeln!(out, "{:3} cancelled.", counter.cancelled)?;
    }
    writeln!(out, "Elapsed time: {:.2}s", elapsed.as_secs_f64())
}

/// The `-v` line for one code: `BR OK`, `XX not found`, `YY error: HTTP 418 I'm a teapot`.
/// A code that needed more than one attempt says so (errors carry it in their reason).
pub fn verbose_line(outcome: &Outcome) -> String {
    match &outcome.status {
        DownloadStatus::Ok if outcome.attempts > 1 => {
            format!("{} OK (after {} attempts)", outcome.cc, outcome.attempts)
        }
        DownloadStatus::Ok => format!("{} OK", outcome.cc),
        DownloadStatus::Skipped => format!("{} skipped: already saved", outcome.cc),
        DownloadStatus::Cancelled => format!("{} cancelled", outcome.cc),
        DownloadStatus::NotFound => format!("{} not found", outcome.cc),
        DownloadStatus::Error(reason) => format!("{} error: {reason}", outcome.cc),
    }
}

/// Shows each outcome as it arrives: a line with `-v`, a tick of the bar on a terminal.
pub struct Progress {
    bar: ProgressBar,
    verbose: bool,
}

impl Progress {
    /// A bar for `total` codes, drawn only when stderr is a terminal and `show_bar` is set.
    pub fn new(total: usize, verbose: bool, show_bar: bool) -> Progress {
        let target = if show_bar && io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total as u64), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} flags  {per_sec:.dim}  ETA {eta}",
            )
            .expect("the template is valid"),
        );
        // Redrawn on a timer rather than on every outcome, so a fast run spends nothing on it.
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress { bar, verbose }
    }

    /// Records one outcome; with `-v`, prints its line to `out` through the bar.
    pub fn on_outcome(&self, out: &mut dyn Write, outcome: &Outcome) -> io::Result<()> {
        self.bar.inc(1);
        if self.verbose {
            let line = verbose_line(outcome);
            return self.bar.suspend(|| writeln!(out, "{line}"));
        }
        Ok(())
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn initial_report_names_the_range_or_the_codes() {
        let codes: Vec<String> = crate::countries::all_codes()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            text(|o| initial_report(o, "LOCAL", "http://localhost:8000/flags", &codes, 100)),
            "LOCAL site: http://localhost:8000/flags\nSearching for 194 flags: from AD to ZW\n100 concurrent connections will be used.\n"
        );
        let one = ["BR".to_string()];
        assert_eq!(
            text(|o| initial_report(o, "EMBEDDED", "http://x/flags", &one, 1)),
            "EMBEDDED site: http://x/flags\nSearching for 1 flag: BR\n1 connection will be used.\n"
        );
    }

    #[test]
    fn final_report_leaves_out_zero_counts() {
        let counter = Counter {
            ok: 194,
            not_found: 482,
            error: 3,
            ..Counter::default()
        };
        assert_eq!(
            text(|o| final_report(o, &counter, Duration::from_millis(410))),
            "--------------------\n194 flags downloaded.\n482 not found.\n  3 errors.\nElapsed time: 0.41s\n"
        );
        let counter = Counter {
            ok: 1,
            ..Counter::default()
        };
        assert_eq!(
            text(|o| final_report(o, &counter, Duration::ZERO)),
            "--------------------\n  1 flag downloaded.\nElapsed time: 0.00s\n"
        );
    }
}
