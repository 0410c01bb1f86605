//! The book's report: `initial_report` and `final_report`, one line per code with `-v`,
//! and a progress bar on a terminal.
//!
//! The report and the per-code lines go to stdout; the progress bar to stderr, and only
//! when stderr is a terminal. Lines printed while the bar is up are printed through it
//! (`suspend`), so the bar never tears them.

use super::color::Paint;
use super::{Counter, Reporter, RunEnd, RunInfo};
use crate::download::{DownloadStatus, Outcome};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, Write};
use std::time::Duration;

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
/// A code that made a request ends with its last exchange's phases in short form
/// (`  [q 0.9 c 1.2 w 502.3 r 0.3 s 0.1 ms]`, see
/// [`Phases::short`](crate::download::phases::Phases::short)).
pub fn verbose_line(outcome: &Outcome, paint: Paint) -> String {
    let line = outcome_words(outcome, paint);
    match &outcome.timings {
        Some(timings) => format!("{line}  [{} ms]", timings.short()),
        None => line,
    }
}

/// How a code ended, in `-v`'s words.
fn outcome_words(outcome: &Outcome, paint: Paint) -> String {
    let cc = &outcome.cc;
    match &outcome.status {
        DownloadStatus::Ok if outcome.attempts > 1 => {
            format!(
                "{cc} {} (after {} attempts)",
                paint.green("OK"),
                outcome.attempts
            )
        }
        DownloadStatus::Ok => format!("{cc} {}", paint.green("OK")),
        DownloadStatus::Skipped => format!("{cc} {}", paint.dim("skipped: already saved")),
        DownloadStatus::Cancelled => format!("{cc} {}", paint.dim("cancelled")),
        DownloadStatus::NotFound => format!("{cc} {}", paint.yellow("not found")),
        DownloadStatus::Error(failure) => format!(
            "{cc} {} {}",
            paint.red("error:"),
            crate::text::escaped(&failure.to_string())
        ),
    }
}

/// The human report as a [`Reporter`]: the book's lines, `-v` lines, a progress bar.
pub struct Human<W: Write> {
    out: W,
    bar: ProgressBar,
    verbose: bool,
    paint: Paint,
}

/// How the human report looks.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    /// `-v`: a line per code as it finishes.
    pub verbose: bool,
    /// Draw the progress bar on stderr (where a person watches it).
    pub bar: bool,
    /// Colours the `-v` lines on stdout.
    pub paint: Paint,
    /// Colour the bar (stderr's own colour choice).
    pub bar_color: bool,
}

impl<W: Write> Human<W> {
    pub fn new(out: W, look: Look) -> Human<W> {
        let Look {
            verbose,
            bar,
            paint,
            bar_color,
        } = look;
        let target = if bar {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        let template = if bar_color {
            "{bar:30.cyan/blue} {pos}/{len} flags  {per_sec:.dim}  ETA {eta}"
        } else {
            "{bar:30} {pos}/{len} flags  {per_sec}  ETA {eta}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        Human {
            out,
            bar,
            verbose,
            paint,
        }
    }
}

impl<W: Write> Reporter for Human<W> {
    fn start(&mut self, run: &RunInfo) -> io::Result<()> {
        initial_report(
            &mut self.out,
            &run.site_label,
            &crate::address::shown_url(&run.base_url),
            &run.codes,
            run.max_req,
        )?;
        self.out.flush()?;
        self.bar.set_length(run.codes.len() as u64);
        // Redrawn on a timer rather than on every outcome, so a fast run spends nothing on it.
        self.bar.enable_steady_tick(Duration::from_millis(100));
        Ok(())
    }

    fn outcome(&mut self, outcome: &Outcome) -> io::Result<()> {
        self.bar.inc(1);
        if self.verbose {
            let line = verbose_line(outcome, self.paint);
            let out = &mut self.out;
            return self
                .bar
                .suspend(|| writeln!(out, "{line}").and_then(|()| out.flush()));
        }
        Ok(())
    }

    /// On stderr, as diagnostics are: stdout's `-v` lines stay one per code.
    fn note(&mut self, line: &str) -> io::Result<()> {
        if self.verbose {
            self.bar.suspend(|| eprintln!("flags-dl: {line}"));
        }
        Ok(())
    }

    fn wait(&mut self, wait: &crate::download::ServerWait) -> io::Result<()> {
        let line = super::wait_line(wait);
        self.bar.suspend(|| eprintln!("flags-dl: {line}"));
        Ok(())
    }

    fn finish(&mut self, _run: &RunInfo, end: &RunEnd) -> io::Result<()> {
        self.bar.finish_and_clear();
        if end.http2 {
            // Not the book's "N concurrent connections": streams share them.
            writeln!(
                self.out,
                "HTTP/2: up to {} requests in flight over {} connection{}.",
                end.peak_in_flight,
                end.connections,
                plural(end.connections as usize)
            )?;
        }
        final_report(&mut self.out, &end.counter, end.elapsed)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Counter;

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
