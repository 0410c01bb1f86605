//! The book's human report, parsed into its parts:
//!
//! ```text
//! <LABEL> site: <url>
//! Searching for N flags: ...
//! N concurrent connections will be used.
//! <the -v lines, one per code, in the order the codes finished>
//! --------------------
//! <the count lines>
//! Elapsed time: 0.41s
//! ```

use super::run::show;
use std::process::Output;

/// The rule between the lines per code and the counts.
const RULE: &str = "--------------------";

/// The book's report, split into its parts.
#[derive(Debug)]
pub struct Report {
    /// `<LABEL> site: <url>`.
    pub site: String,
    /// `Searching for ...`.
    pub searching: String,
    /// `N concurrent connections will be used.` or `1 connection will be used.`
    pub connections: String,
    /// The `-v` lines, between the header and the rule, in the order printed.
    pub verbose: Vec<String>,
    /// The count lines after the rule, without the elapsed time.
    pub counts: Vec<String>,
    /// The seconds of `Elapsed time: 0.41s`.
    pub elapsed: f64,
}

impl Report {
    /// Parses `stdout` as the book's report; the error says how it differs.
    pub fn parse(stdout: &str) -> Result<Report, String> {
        let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
        if lines.len() < 6 {
            return Err("too short for a report".into());
        }
        let rule = lines
            .iter()
            .position(|l| l == RULE)
            .ok_or("no rule of 20 dashes")?;
        if rule < 3 {
            return Err("the rule comes before the three header lines".into());
        }
        let secs = lines
            .last()
            .and_then(|last| last.strip_prefix("Elapsed time: "))
            .and_then(|s| s.strip_suffix('s'))
            .ok_or("the last line is not `Elapsed time: ...s`")?;
        let (whole, decimals) = secs
            .split_once('.')
            .ok_or("elapsed time without decimals")?;
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || decimals.len() != 2
            || !decimals.bytes().all(|b| b.is_ascii_digit())
        {
            return Err("elapsed time is not like 0.41".into());
        }
        Ok(Report {
            site: lines[0].clone(),
            searching: lines[1].clone(),
            connections: lines[2].clone(),
            verbose: lines[3..rule]
                .iter()
                .map(|line| without_phases(line).to_string())
                .collect(),
            counts: lines[rule + 1..lines.len() - 1].to_vec(),
            elapsed: secs.parse().unwrap(),
        })
    }

    /// The `-v` lines sorted, for comparing runs whose codes finish in any order.
    pub fn verbose_sorted(&self) -> Vec<String> {
        let mut verbose = self.verbose.clone();
        verbose.sort();
        verbose
    }
}

/// Parses a run's stdout as the book's report, failing the test if it has any other shape.
pub fn report(out: &Output) -> Report {
    Report::parse(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|why| panic!("{why}:\n{}", show(out)))
}

/// A `-v` line without the phases it ends with (`BR OK  [q 0.9 c 1.2 w 502.3 r 0.3 s 0.1
/// ms]`): they vary from run to run.
pub fn without_phases(line: &str) -> &str {
    match line.rfind("  [") {
        Some(at) if line.ends_with(" ms]") => &line[..at],
        _ => line,
    }
}

/// Splits a `-v` line into its code and the rest: `BR OK` gives `("BR", "OK")`.
pub fn split_verbose(line: &str) -> (&str, &str) {
    line.split_once(' ')
        .unwrap_or_else(|| panic!("not a -v line: {line:?}"))
}

/// How many codes of a run ended each way, as its `-v` lines say.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub ok: usize,
    pub not_found: usize,
    pub error: usize,
    pub skipped: usize,
    pub cancelled: usize,
}

impl Tally {
    /// Tallies `-v` lines (`BR OK`, `BR OK (after 2 attempts)`, `CN not found`,
    /// `US error: ...`, `FR skipped: already saved`, `JP cancelled`), failing the test on
    /// any other line.
    pub fn of<S: AsRef<str>>(lines: &[S]) -> Tally {
        let mut tally = Tally::default();
        for line in lines {
            let (_, what) = split_verbose(line.as_ref());
            let count = match what {
                "OK" => &mut tally.ok,
                _ if what.starts_with("OK (after ") => &mut tally.ok,
                "not found" => &mut tally.not_found,
                _ if what.starts_with("error: ") => &mut tally.error,
                "skipped: already saved" => &mut tally.skipped,
                "cancelled" => &mut tally.cancelled,
                _ => panic!("not a -v line: {:?}", line.as_ref()),
            };
            *count += 1;
        }
        tally
    }

    /// The count lines the book prints after the rule for this tally: the flags downloaded
    /// always, the other counts only when not zero.
    pub fn count_lines(&self) -> Vec<String> {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut lines = vec![format!("{:3} flag{} downloaded.", self.ok, plural(self.ok))];
        let others = [
            (self.not_found, "not found".to_string()),
            (self.error, format!("error{}", plural(self.error))),
            (self.skipped, "skipped (already saved)".to_string()),
            (self.cancelled, "cancelled".to_string()),
        ];
        for (n, what) in others {
            if n > 0 {
                lines.push(format!("{n:3} {what}."));
            }
        }
        lines
    }
}
