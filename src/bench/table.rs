//! The table `flags-dl bench` prints on stdout, in the spirit of hyperfine: a header that
//! says what was measured, then one aligned line per (mode, max-req), then notes that
//! explain what might surprise (a capped max-req, errors).
//!
//! Only text: the numbers come from [`summary`](super::summary), and nothing here writes
//! to a terminal or a file.

use super::summary::{decimals, Summary};
use super::Settings;
use crate::download::Mode;

/// The lines printed before the runs start: the data set, the server, the repetitions.
pub fn header(settings: &Settings) -> String {
    format!(
        "Benchmark: {} ({}) from {}, {}\n{}; {}\n",
        settings.what(),
        settings.data_set,
        settings.server(),
        settings.delay(),
        capitalize(&settings.repetitions()),
        settings.machine(),
    )
}

/// The table itself, and its notes.
pub fn rows(settings: &Settings, rows: &[Summary]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let d = decimals(rows.iter().map(|r| r.min_s));
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.mode.to_string(),
                r.max_req.to_string(),
                format!("{:.d$}", r.median_s),
                format!("{:.d$}", r.min_s),
                format!("{:.d$}", r.max_s),
                r.peak_in_flight.to_string(),
                format!("{:.1}", r.req_per_s),
                r.errors.to_string(),
                format!("{:.1}", r.peak_rss_bytes as f64 / (1024.0 * 1024.0)),
                r.peak_threads.to_string(),
            ]
        })
        .collect();
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let w: Vec<usize> = (0..10).map(width).collect();
    let w_speedup = rows
        .iter()
        .filter_map(|r| r.speedup.map(|x| format!("{x:.1}").len()))
        .max()
        .unwrap_or(0);
    let speedups: Vec<String> = rows.iter().map(|r| speedup(r, w_speedup)).collect();

    let mut out = format!(
        "\nTime from the first request to the last file saved: median [min … max] of {}.\n",
        if settings.runs == 1 {
            "1 run".to_string()
        } else {
            format!("{} runs", settings.runs)
        }
    );
    for (c, (row, speedup)) in cells.iter().zip(rows.iter().zip(&speedups)) {
        let errors = if row.errors == 1 { "error " } else { "errors" };
        let mut line = format!(
            "  {:<w0$}  -m {:<w1$}  {:>w2$} s  [{:>w3$} … {:>w4$}]  {:>w5$} in flight  {:>w6$} req/s  {:>w7$} {errors}  {:>w8$} MiB  {:>w9$} threads",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            c[7],
            c[8],
            c[9],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5],
            w6 = w[6],
            w7 = w[7],
            w8 = w[8],
            w9 = w[9],
        );
        if !speedup.is_empty() {
            line.push_str(&format!("  {speedup}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&notes(settings, rows));
    out
}

/// "12.4× sequential", the number right-aligned to `width`; "baseline" for the sequential
/// row; empty without one.
fn speedup(row: &Summary, width: usize) -> String {
    match row.speedup {
        _ if row.mode == Mode::Sequential => "baseline".into(),
        Some(x) => format!("{:>width$}× sequential", format!("{x:.1}")),
        None => String::new(),
    }
}

/// What a reader of the table may not expect.
fn notes(settings: &Settings, rows: &[Summary]) -> String {
    let mut notes = vec![];
    let n = settings.code_count;
    if rows
        .iter()
        .any(|r| r.max_req > n && r.mode != Mode::Sequential)
    {
        notes.push(format!(
            "-m above {n} puts no more than {n} requests in flight: there are only {n} codes."
        ));
    }
    if rows.iter().any(|r| r.peak_rss_bytes > 0) {
        notes.push(
            "MiB and threads: the peak memory and most OS threads of the process that ran each run (one per run, without the embedded server)."
                .to_string(),
        );
    }
    if rows.iter().any(|r| r.errors > 0) {
        notes.push(
            "Errors are codes that failed, over all the runs of a line; they are measured, not fatal."
                .to_string(),
        );
    }
    if !rows.iter().any(|r| r.mode == Mode::Sequential) {
        notes.push("No sequential line, so no speed-up: add sequential to --modes.".to_string());
    }
    notes.iter().map(|note| format!("{note}\n")).collect()
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn settings() -> Settings {
        Settings {
            site: "EMBEDDED".into(),
            base_url: "http://127.0.0.1:1/flags".into(),
            data_set: "the book's top 20 by population".into(),
            code_count: 20,
            flag_count: 20,
            codes: vec![],
            delay_min_s: Some(0.1),
            delay_max_s: Some(0.3),
            error_rate: Some(0.0),
            modes: vec![Mode::Sequential, Mode::Async],
            max_req: vec![4, 64],
            runs: 3,
            warmup: 1,
            cpus: 2,
            os: "linux".into(),
            flags_dl_version: "0.1.0".into(),
            timing: String::new(),
        }
    }

    fn row(mode: Mode, max_req: usize, median_s: f64, errors: usize) -> Summary {
        Summary {
            mode,
            max_req,
            max_req_used: max_req.min(20),
            runs: 3,
            median_s,
            min_s: median_s * 0.9,
            max_s: median_s * 1.1,
            req_per_s: 20.0 / median_s,
            errors,
            peak_in_flight: max_req.min(20),
            peak_rss_bytes: 8 << 20,
            peak_threads: 3,
            speedup: Some(4.0 / median_s),
        }
    }

    #[test]
    fn header_names_data_set_server_delay_and_runs() {
        assert_eq!(
            header(&settings()),
            "Benchmark: 20 flags (the book's top 20 by population) from the embedded flag server, 0.1–0.3 s delay per request\n\
             3 timed runs each, after 1 warm-up per mode; 2 CPUs, linux\n"
        );
    }

    #[test]
    fn lines_are_aligned_and_say_what_each_number_is() {
        let rows = [
            row(Mode::Sequential, 1, 4.0, 0),
            row(Mode::Async, 4, 1.1, 1),
            row(Mode::Async, 64, 0.31, 0),
        ];
        let text = super::rows(&settings(), &rows);
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[2],
            "  async       -m 64  0.310 s  [0.279 … 0.341]  20 in flight  64.5 req/s  0 errors  8.0 MiB  3 threads  12.9× sequential"
        );
        assert!(lines[0].ends_with("3 threads  baseline"), "{}", lines[0]);
        assert!(lines[1].contains("1 error "), "{}", lines[1]);
        // Every line has its "in flight" at the same column.
        let at: Vec<_> = lines
            .iter()
            .map(|l| l.find(" in flight").unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(text.contains("-m above 20 puts no more than 20"));
        assert!(text.contains("Errors are codes that failed"));
        assert!(text.contains("MiB and threads: the peak memory"));
    }
}
