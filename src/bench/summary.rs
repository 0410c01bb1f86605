//! The summary of a bench: one row per (mode, HTTP version, max-req) with the median, min
//! and max of its timed runs, the throughput, and the speed-up over the sequential baseline.
//!
//! Pure arithmetic on [`RunRecord`]s, shared by the table, the exports and the chart so
//! that all three show the same numbers. Formatting for people is left to each of them,
//! except the choice of decimals and the words for the HTTP version, which they share for
//! the same reason.

use super::plan::{versions, Config, Http};
use super::run::RunRecord;
use super::stats::median;
use crate::download::Mode;

/// One (mode, HTTP version, max-req) over its timed runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    pub mode: Mode,
    /// What the runs offered the server.
    pub http_offered: Http,
    /// What answered them, over all the runs: see [`versions`].
    pub http_version: Option<String>,
    pub max_req: usize,
    pub max_req_used: usize,
    /// Timed runs summarized (fewer than `--runs` while the bench is still going).
    pub runs: usize,
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    /// Codes per second at the median time.
    pub req_per_s: f64,
    /// Codes that failed, over all the runs.
    pub errors: usize,
    /// The most requests in flight at once in any of the runs.
    pub peak_in_flight: usize,
    /// The highest peak resident memory of the runs, in bytes (their own processes).
    pub peak_rss_bytes: u64,
    /// The most OS threads any of the runs had at once.
    pub peak_threads: usize,
    /// The sequential median divided by this one; `None` without a sequential row.
    pub speedup: Option<f64>,
    /// Where the time went: each phase's median over the runs (see [`super::phases`]).
    pub phases: super::phases::PhaseMedians,
}

/// The rows of `configs` that have at least one run in `records`, in the order of
/// `configs`.
pub fn summarize(configs: &[Config], records: &[RunRecord], code_count: usize) -> Vec<Summary> {
    let mut rows: Vec<Summary> = configs
        .iter()
        .filter_map(|config| {
            let runs: Vec<&RunRecord> = records
                .iter()
                .filter(|r| {
                    r.mode == config.mode
                        && r.http_offered == config.http
                        && r.max_req == config.max_req
                })
                .collect();
            let times: Vec<f64> = runs.iter().map(|r| r.elapsed_s).collect();
            let median_s = median(&times)?;
            Some(Summary {
                mode: config.mode,
                http_offered: config.http,
                http_version: versions(runs.iter().filter_map(|r| r.http_version.as_deref())),
                max_req: config.max_req,
                max_req_used: runs[0].max_req_used,
                runs: runs.len(),
                median_s,
                min_s: times.iter().copied().fold(f64::INFINITY, f64::min),
                max_s: times.iter().copied().fold(0.0, f64::max),
                req_per_s: per_second(code_count, median_s),
                errors: runs.iter().map(|r| r.errors).sum(),
                peak_in_flight: runs.iter().map(|r| r.peak_in_flight).max().unwrap_or(0),
                peak_rss_bytes: runs.iter().map(|r| r.peak_rss_bytes).max().unwrap_or(0),
                peak_threads: runs.iter().map(|r| r.peak_threads).max().unwrap_or(0),
                speedup: None,
                phases: super::phases::PhaseMedians::of_runs(runs.iter().map(|r| &r.phases)),
            })
        })
        .collect();
    let baseline = rows
        .iter()
        .find(|row| row.mode == Mode::Sequential)
        .map(|row| row.median_s);
    if let Some(baseline) = baseline {
        for row in &mut rows {
            row.speedup = (row.median_s > 0.0).then(|| baseline / row.median_s);
        }
    }
    rows
}

/// The HTTP version of a row for people: "HTTP/2" when the server answered as offered;
/// "HTTP/1.1 (2 offered)" when it chose otherwise, so that no line claims a version that
/// was only asked for.
pub fn protocol(offered: Http, answered: Option<&str>) -> String {
    match answered {
        Some(v) if v == offered.as_str() => format!("HTTP/{v}"),
        Some(v) => format!("HTTP/{v} ({offered} offered)"),
        None => format!("HTTP/{offered} offered, no answer"),
    }
}

impl Summary {
    /// [`protocol`] for this row.
    pub fn protocol(&self) -> String {
        protocol(self.http_offered, self.http_version.as_deref())
    }
}

fn per_second(count: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// Decimals that give the smallest of `secs` about three significant digits, so one column
/// can show 4.1 s and 5 ms side by side and still tell the small ones apart.
pub fn decimals(secs: impl IntoIterator<Item = f64>) -> usize {
    let smallest = secs
        .into_iter()
        .filter(|s| *s > 0.0)
        .fold(f64::INFINITY, f64::min);
    if !smallest.is_finite() {
        return 2;
    }
    let magnitude = smallest.log10().floor() as i64;
    (2 - magnitude).clamp(2, 5) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(mode: Mode, max_req: usize, run: usize, elapsed_s: f64, errors: usize) -> RunRecord {
        RunRecord {
            mode,
            http_offered: Http::H1,
            http_version: Some("1.1".into()),
            max_req,
            max_req_used: max_req.min(20),
            run,
            elapsed_s,
            ok: 20 - errors,
            not_found: 0,
            errors,
            peak_in_flight: max_req.min(20) - run % 2,
            peak_rss_bytes: 8 << 20,
            peak_threads: 3,
            cpu_s: 0.125,
            phases: Default::default(),
        }
    }

    #[test]
    fn rows_have_median_min_max_errors_peak_and_speedup() {
        let configs =
            super::super::plan::plan(&[Mode::Sequential, Mode::Async], &[Http::H1], &[4, 64]);
        let records = [
            record(Mode::Sequential, 1, 1, 4.0, 0),
            record(Mode::Sequential, 1, 2, 4.4, 0),
            record(Mode::Sequential, 1, 3, 3.9, 0),
            record(Mode::Async, 64, 1, 0.31, 1),
            record(Mode::Async, 64, 2, 0.30, 0),
            record(Mode::Async, 64, 3, 0.33, 2),
        ];
        let rows = summarize(&configs, &records, 20);
        // async -m 4 has no runs yet: no row.
        assert_eq!(rows.len(), 2);
        let (seq, fast) = (&rows[0], &rows[1]);
        assert_eq!((seq.median_s, seq.min_s, seq.max_s), (4.0, 3.9, 4.4));
        assert_eq!(seq.speedup, Some(1.0));
        assert_eq!((fast.median_s, fast.min_s, fast.max_s), (0.31, 0.30, 0.33));
        assert_eq!(
            (fast.errors, fast.peak_in_flight, fast.max_req_used),
            (3, 20, 20)
        );
        assert!((fast.req_per_s - 20.0 / 0.31).abs() < 1e-9);
        assert!((fast.speedup.unwrap() - 4.0 / 0.31).abs() < 1e-9);
    }

    #[test]
    fn no_sequential_no_speedup() {
        let configs = super::super::plan::plan(&[Mode::Threads], &[Http::H1], &[4]);
        let rows = summarize(&configs, &[record(Mode::Threads, 4, 1, 1.0, 0)], 20);
        assert_eq!(rows[0].speedup, None);
    }

    #[test]
    fn each_http_version_is_a_row_of_its_own_that_says_what_answered() {
        let configs = super::super::plan::plan(&[Mode::Async], &[Http::H1, Http::H2], &[4]);
        let mut h2 = record(Mode::Async, 4, 1, 0.2, 0);
        h2.http_offered = Http::H2;
        h2.http_version = Some("2".into());
        let mut refused = h2.clone();
        refused.run = 2;
        refused.http_version = Some("1.1".into());
        let records = [record(Mode::Async, 4, 1, 0.5, 0), h2, refused];
        let rows = summarize(&configs, &records, 20);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].runs, rows[0].protocol().as_str()), (1, "HTTP/1.1"));
        assert_eq!(
            (rows[1].runs, rows[1].http_version.as_deref()),
            (2, Some("1.1+2"))
        );
        assert_eq!(rows[1].protocol(), "HTTP/1.1+2 (2 offered)");
    }

    #[test]
    fn a_row_names_the_version_that_answered_and_the_one_offered() {
        assert_eq!(protocol(Http::H2, Some("2")), "HTTP/2");
        assert_eq!(protocol(Http::H2, Some("1.1")), "HTTP/1.1 (2 offered)");
    }

    #[test]
    fn decimals_follow_the_smallest_value() {
        assert_eq!(decimals([4.1, 1.07]), 2);
        assert_eq!(decimals([4.1, 0.29]), 3);
        assert_eq!(decimals([0.0052]), 5);
        assert_eq!(decimals([0.0000001]), 5);
        assert_eq!(decimals([]), 2);
    }
}
