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
            verbose: lines[3..rule].to_vec(),
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

/// Splits a `-v` line into its code and the rest: `BR OK` gives `("BR", "OK")`.
pub fn split_verbose(line: &str) -> (&str, &str) {
    line.split_once(' ')
        .unwrap_or_else(|| panic!("not a -v line: {line:?}"))
}
