//! The bench's files: JSON (settings, every run, the summary), CSV (one row per run) and
//! Markdown (the summary as a table), and the atomic write they and the chart share.
//!
//! Each file is rewritten whole after every run, through a temporary file in the same
//! folder renamed over the old one, so a reader (or a bench stopped half way) never finds a
//! half-written file. This module formats and writes; it does not decide when.

use super::plan::Config;
use super::run::RunRecord;
use super::summary::{decimals, summarize, Summary};
use super::Settings;
use crate::output;
use std::path::PathBuf;

/// Where to write each export, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    pub json: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
}

impl Exports {
    /// Writes every export asked for, from the runs so far. `complete` says whether the
    /// bench has finished, so that a file left by an interrupted bench says so.
    pub fn write(
        &self,
        settings: &Settings,
        configs: &[Config],
        records: &[RunRecord],
        complete: bool,
    ) -> anyhow::Result<()> {
        if self.json.is_none() && self.csv.is_none() && self.markdown.is_none() {
            return Ok(());
        }
        let rows = summarize(configs, records, settings.code_count);
        if let Some(path) = &self.json {
            let json = json(settings, records, &rows, complete)?;
            output::write("the JSON export", path, json.as_bytes())?;
        }
        if let Some(path) = &self.csv {
            output::write("the CSV export", path, csv(records)?.as_bytes())?;
        }
        if let Some(path) = &self.markdown {
            output::write("the Markdown export", path, markdown(&rows).as_bytes())?;
        }
        Ok(())
    }
}

/// The JSON document: `{"settings", "complete", "runs", "summary"}`.
pub fn json(
    settings: &Settings,
    records: &[RunRecord],
    rows: &[Summary],
    complete: bool,
) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Document<'a> {
        settings: &'a Settings,
        complete: bool,
        runs: &'a [RunRecord],
        summary: &'a [Summary],
    }
    let mut text = serde_json::to_string_pretty(&Document {
        settings,
        complete,
        runs: records,
        summary: rows,
    })?;
    text.push('\n');
    Ok(text)
}

/// One row per timed run, with a header, through the `csv` crate: the header is the
/// record's own field names (serde), so the two cannot drift apart, and quoting is the
/// crate's (RFC 4180, LF line ends).
pub fn csv(records: &[RunRecord]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        writer.serialize(record)?;
    }
    if records.is_empty() {
        // serde writes the header with the first record; with none, name the fields
        // from an empty record's serialization.
        writer.write_record(csv_header())?;
    }
    let bytes = writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(String::from_utf8(bytes)?)
}

/// The field names of [`RunRecord`], in order, as serde names them: the header line of
/// a blank record written through the same crate.
fn csv_header() -> Vec<String> {
    let blank = RunRecord {
        mode: crate::download::Mode::Sequential,
        http_offered: super::plan::Http::H1,
        http_version: None,
        max_req: 0,
        max_req_used: 0,
        run: 0,
        elapsed_s: 0.0,
        ok: 0,
        not_found: 0,
        errors: 0,
        peak_in_flight: 0,
        peak_rss_bytes: 0,
        peak_threads: 0,
        cpu_s: 0.0,
        phases: Default::default(),
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    if writer.serialize(&blank).is_err() {
        return Vec::new();
    }
    let bytes = writer.into_inner().unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let header = text.lines().next().unwrap_or_default();
    header.split(',').map(str::to_string).collect()
}

/// The summary as a GitHub-flavoured Markdown table, numbers right-aligned. The HTTP
/// version is always a column, unlike in the table on stdout: a Markdown table is read
/// away from the bench's header, so it says what it measured on its own.
pub fn markdown(rows: &[Summary]) -> String {
    let d = decimals(rows.iter().map(|r| r.min_s));
    let mut out = String::from(
        "| mode | HTTP | -m | most in flight | median (s) | min (s) | max (s) | req/s | errors | speed-up | peak RSS (MiB) | threads |\n\
         |:-----|:-----|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let speedup = match r.speedup {
            _ if r.mode == crate::download::Mode::Sequential => "baseline".to_string(),
            Some(x) => format!("{x:.1}×"),
            None => "–".to_string(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.d$} | {:.d$} | {:.d$} | {:.1} | {} | {} | {:.1} | {} |\n",
            r.mode,
            r.protocol(),
            r.max_req,
            r.peak_in_flight,
            r.median_s,
            r.min_s,
            r.max_s,
            r.req_per_s,
            r.errors,
            speedup,
            r.peak_rss_bytes as f64 / (1024.0 * 1024.0),
            r.peak_threads
        ));
    }
    out.push_str(&where_the_time_went(rows));
    out
}

/// The phases' medians per line (see [`super::phases`]): what each mode waited for. A
/// table of its own after the first, so that both stay readable.
fn where_the_time_went(rows: &[Summary]) -> String {
    let mut out = String::from(
        "\nWhere the time went: each phase's median per request, in ms (the median over the runs; – where no request had it)\n\n\
         | mode | HTTP | -m |",
    );
    for name in super::phases::NAMES {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n|:-----|:-----|---:|");
    out.push_str(&"---:|".repeat(super::phases::NAMES.len()));
    out.push('\n');
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} |",
            r.mode,
            r.protocol(),
            r.max_req
        ));
        for phase in r.phases.all() {
            match phase {
                Some(ms) => out.push_str(&format!(" {ms:.1} |")),
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::plan::Http;
    use crate::download::Mode;

    fn record(mode: Mode, max_req: usize, run: usize, elapsed_s: f64) -> RunRecord {
        RunRecord {
            mode,
            http_offered: Http::H1,
            http_version: Some("1.1".into()),
            max_req,
            max_req_used: max_req,
            run,
            elapsed_s,
            ok: 4,
            not_found: 1,
            errors: 0,
            peak_in_flight: max_req,
            peak_rss_bytes: 8 << 20,
            peak_threads: 3,
            cpu_s: 0.125,
            phases: Default::default(),
        }
    }

    #[test]
    fn csv_has_a_header_and_one_row_per_run() {
        let mut h2 = record(Mode::Async, 4, 1, 0.25);
        (h2.http_offered, h2.http_version) = (Http::H2, Some("2".into()));
        let mut unanswered = record(Mode::Async, 4, 2, 0.5);
        (unanswered.http_offered, unanswered.http_version) = (Http::H2, None);
        let text = csv(&[record(Mode::Sequential, 1, 1, 1.5), h2, unanswered]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let header = "mode,http_offered,http_version,max_req,max_req_used,run,elapsed_s,ok,not_found,errors,peak_in_flight,peak_rss_bytes,peak_threads,cpu_s";
        assert_eq!(
            lines,
            [
                header,
                "sequential,1.1,1.1,1,1,1,1.5,4,1,0,1,8388608,3,0.125",
                "async,2,2,4,4,1,0.25,4,1,0,4,8388608,3,0.125",
                "async,2,,4,4,2,0.5,4,1,0,4,8388608,3,0.125",
            ]
        );
        assert_eq!(
            csv(&[]).unwrap(),
            format!("{header}\n"),
            "a header even with no run"
        );
    }

    #[test]
    fn markdown_has_a_header_and_one_row_per_summary() {
        let configs = super::super::plan::plan(
            &[Mode::Sequential, Mode::Async],
            &[Http::H1, Http::H2],
            &[4],
        );
        let mut h2 = record(Mode::Async, 4, 1, 0.125);
        (h2.http_offered, h2.http_version) = (Http::H2, Some("2".into()));
        let mut sequential = record(Mode::Sequential, 1, 1, 1.0);
        sequential.phases.queued_ms = Some(800.0);
        sequential.phases.wait_ms = Some(100.25);
        let records = [sequential, record(Mode::Async, 4, 1, 0.25), h2];
        let text = markdown(&summarize(&configs, &records, 5));
        let (table, phases) = text.split_once("\n\n").unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("| mode | HTTP | -m |"));
        assert_eq!(
            lines[2],
            "| sequential | HTTP/1.1 | 1 | 1 | 1.000 | 1.000 | 1.000 | 5.0 | 0 | baseline | 8.0 | 3 |"
        );
        assert_eq!(
            lines[3],
            "| async | HTTP/1.1 | 4 | 4 | 0.250 | 0.250 | 0.250 | 20.0 | 0 | 4.0× | 8.0 | 3 |"
        );
        assert_eq!(
            lines[4],
            "| async | HTTP/2 | 4 | 4 | 0.125 | 0.125 | 0.125 | 40.0 | 0 | 8.0× | 8.0 | 3 |"
        );
        // Where the time went: a line per summary, each phase's median or a dash.
        let lines: Vec<&str> = phases.lines().collect();
        assert!(lines[0].starts_with("Where the time went"), "{phases}");
        assert_eq!(
            lines[2],
            "| mode | HTTP | -m | queued | dns | connect | tls | wait | receive | save |"
        );
        assert_eq!(
            lines[4],
            "| sequential | HTTP/1.1 | 1 | 800.0 | – | – | – | 100.2 | – | – |"
        );
        assert_eq!(lines.len(), 7);
    }
}
