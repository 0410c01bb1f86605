//! The table `flags-dl bench` prints on stdout, in the spirit of hyperfine: a header that
//! says what was measured, then one aligned line per (mode, HTTP version, max-req), then
//! notes that explain what might surprise (a capped max-req, errors, a version refused).
//!
//! Only text: the numbers come from [`summary`](super::summary), and nothing here writes
//! to a terminal or a file.

use super::plan::Http;
use super::summary::{decimals, Summary};
use super::Settings;
use crate::download::Mode;

/// The lines printed before the runs start: the data set, the server and the network, the
/// repetitions, and the HTTP versions when HTTP/2 is in play.
pub fn header(settings: &Settings) -> String {
    let network = match settings.network() {
        n if n.is_empty() => n,
        n => format!(" {n}"),
    };
    let mut text = format!(
        "Benchmark: {} ({}) from {}{network}, {}\n{}; {}\n",
        settings.what(),
        settings.data_set,
        settings.server(),
        settings.delay(),
        capitalize(&settings.repetitions()),
        settings.machine(),
    );
    if let Some(protocols) = settings.protocols() {
        text.push_str(&format!("{}.\n", capitalize(&protocols)));
    }
    text
}

/// Whether the lines need an HTTP column: some line offered HTTP/2, or was answered in
/// another version than HTTP/1.1 (the book's servers answer HTTP/1.0).
fn shows_protocol(rows: &[Summary]) -> bool {
    rows.iter().any(|r| {
        r.http_offered != Http::H1 || r.http_version.as_deref().is_some_and(|v| v != "1.1")
    })
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
    let protocols: Vec<String> = if shows_protocol(rows) {
        rows.iter().map(Summary::protocol).collect()
    } else {
        vec![String::new(); rows.len()]
    };
    let w_protocol = protocols.iter().map(|p| p.chars().count()).max();

    let mut out = format!(
        "\nTime from the first request to the last file saved: median [min … max] of {}.\n",
        if settings.runs == 1 {
            "1 run".to_string()
        } else {
            format!("{} runs", settings.runs)
        }
    );
    for (c, (row, (speedup, protocol))) in cells
        .iter()
        .zip(rows.iter().zip(speedups.iter().zip(&protocols)))
    {
        let errors = if row.errors == 1 { "error " } else { "errors" };
        let protocol = match w_protocol {
            Some(w) if w > 0 => format!("  {protocol:<w$}"),
            _ => String::new(),
        };
        let mut line = format!(
            "  {:<w0$}{protocol}  -m {:<w1$}  {:>w2$} s  [{:>w3$} … {:>w4$}]  {:>w5$} in flight  {:>w6$} req/s  {:>w7$} {errors}  {:>w8$} MiB  {:>w9$} threads",
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
    if shows_protocol(rows) {
        notes.push(
            "HTTP: the version the server answered the line's requests in; threads and sequential speak HTTP/1.1 only."
                .to_string(),
        );
    }
    if rows.iter().any(|r| {
        r.http_version
            .as_deref()
            .is_some_and(|v| v != r.http_offered.as_str())
    }) {
        notes.push(
            "\"(... offered)\": the runs offered that version; the server answered in the one before it."
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
pub(crate) mod tests {
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
            tls: false,
            latency_ms: None,
            modes: vec![Mode::Sequential, Mode::Async],
            http: vec![Http::H1],
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
            http_offered: Http::H1,
            http_version: Some("1.1".into()),
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
            phases: Default::default(),
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
        assert!(
            !text.contains("HTTP/"),
            "no HTTP column in the book's case: {text}"
        );
    }

    #[test]
    fn over_tls_the_header_and_an_http_column_say_what_answered() {
        let mut settings = settings();
        (settings.tls, settings.latency_ms) = (true, Some(20));
        settings.http = vec![Http::H1, Http::H2];
        let header = header(&settings);
        assert!(
            header.contains(
                "from the embedded flag server over HTTPS, a 20 ms round trip, 0.1–0.3 s delay"
            ),
            "{header}"
        );
        assert!(header.ends_with(
            "Async over HTTP/1.1 and over HTTP/2 (offered by ALPN); sequential over HTTP/1.1.\n"
        ));
        let over = |http, answered: &str| Summary {
            http_offered: http,
            http_version: Some(answered.into()),
            ..row(Mode::Async, 4, 1.1, 0)
        };
        let rows = [
            row(Mode::Sequential, 1, 4.0, 0),
            over(Http::H1, "1.1"),
            over(Http::H2, "2"),
            over(Http::H2, "1.1"),
        ];
        let text = super::rows(&settings, &rows);
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
        let starts = [
            "  sequential  HTTP/1.1              -m 1",
            "  async       HTTP/1.1              -m 4",
            "  async       HTTP/2                -m 4",
            "  async       HTTP/1.1 (2 offered)  -m 4",
        ];
        for (line, start) in lines.iter().zip(starts) {
            assert!(line.starts_with(start), "{text}");
        }
        assert!(
            text.contains("HTTP: the version the server answered"),
            "{text}"
        );
        assert!(text.contains("\"(... offered)\""), "{text}");
    }
}
