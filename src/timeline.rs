//! Pictures of one run: `--timeline FILE.svg` (a bar per code from its first request to
//! its file saved, the requests in flight above) and `--trace FILE.json` (every attempt in
//! Chrome's trace-event format, one track per worker thread or task, for Perfetto and
//! `chrome://tracing`).
//!
//! Both are made from the attempts a [`Recorder`](crate::download::record::Recorder)
//! kept, after the run, and written as every report file is ([`crate::output`]).

use crate::download::record::{Attempt, Ended};
use crate::download::Mode;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use std::path::Path;
use std::time::Instant;

/// How a code ended, as its bar is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    Downloaded,
    /// Downloaded after more than one attempt.
    Retried,
    NotFound,
    Error,
    Cancelled,
}

impl BarKind {
    fn name(self) -> &'static str {
        match self {
            BarKind::Downloaded => "downloaded",
            BarKind::Retried => "retried",
            BarKind::NotFound => "not found",
            BarKind::Error => "error",
            BarKind::Cancelled => "cancelled",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            BarKind::Downloaded => "#2e7d32",
            BarKind::Retried => "#f9a825",
            BarKind::NotFound => "#9e9e9e",
            BarKind::Error => "#c62828",
            BarKind::Cancelled => "#d0d0d0",
        }
    }
}

/// One code's bar, in seconds from the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub cc: String,
    pub start: f64,
    pub end: f64,
    pub kind: BarKind,
}

/// A finished run, as the pictures need it.
pub struct Run<'a> {
    pub mode: Mode,
    pub max_req: usize,
    /// When the run started and ended: every bar lies between them.
    pub started: Instant,
    pub ended: Instant,
    pub attempts: &'a [Attempt],
}

impl Run<'_> {
    fn secs(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started).as_secs_f64()
    }

    fn total(&self) -> f64 {
        self.secs(self.ended).max(1e-3)
    }

    /// One bar per code that made a request: from its first attempt's start to its last
    /// attempt's end, sorted by start.
    pub fn bars(&self) -> Vec<Bar> {
        let mut by_code: BTreeMap<&str, Vec<&Attempt>> = BTreeMap::new();
        for attempt in self.attempts {
            by_code.entry(&attempt.cc).or_default().push(attempt);
        }
        let mut bars: Vec<Bar> = by_code
            .into_iter()
            .map(|(cc, attempts)| {
                let first = attempts
                    .iter()
                    .map(|a| a.start)
                    .min()
                    .expect("one at least");
                let last = attempts.iter().max_by_key(|a| a.end).expect("one at least");
                let kind = match last.ended {
                    Ended::Saved if attempts.len() > 1 => BarKind::Retried,
                    Ended::Saved => BarKind::Downloaded,
                    Ended::NotFound => BarKind::NotFound,
                    Ended::Failed => BarKind::Error,
                    // Its next attempt never came: the run was cancelled.
                    Ended::Retried => BarKind::Cancelled,
                };
                Bar {
                    cc: cc.to_string(),
                    start: self.secs(first),
                    end: self.secs(last.end),
                    kind,
                }
            })
            .collect();
        bars.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.cc.cmp(&b.cc)));
        bars
    }

    /// Requests in flight over time: `(seconds, count from then on)`, a step at each
    /// attempt's start and end.
    pub fn in_flight(&self) -> Vec<(f64, usize)> {
        let mut edges: Vec<(f64, i64)> = Vec::with_capacity(self.attempts.len() * 2);
        for attempt in self.attempts {
            edges.push((self.secs(attempt.start), 1));
            edges.push((self.secs(attempt.end), -1));
        }
        // Ends before starts at the same instant: a request that ends as another begins
        // does not count twice.
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut now = 0i64;
        let mut steps = vec![(0.0, 0)];
        for (at, change) in edges {
            now += change;
            steps.push((at, now.max(0) as usize));
        }
        steps
    }

    /// The SVG of `--timeline`.
    pub fn svg(&self) -> String {
        let bars = self.bars();
        let steps = self.in_flight();
        let total = self.total();
        let peak = steps.iter().map(|s| s.1).max().unwrap_or(0);
        let (width, left, right) = (960.0, 60.0, 20.0);
        let plot_w = width - left - right;
        let curve_top = 56.0;
        let curve_h = 110.0;
        let rows_top = curve_top + curve_h + 30.0;
        // Readable from a dozen codes to all 676: at most 6 px a row, at least 1.
        let row_h = (480.0 / bars.len().max(1) as f64).clamp(1.0, 6.0);
        let rows_h = row_h * bars.len() as f64;
        let height = rows_top + rows_h + 50.0;
        let x = |t: f64| left + plot_w * (t / total);
        let top = self.max_req.max(peak).max(1) as f64;
        let y = |n: usize| curve_top + curve_h * (1.0 - n as f64 / top);

        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{left}" y="20" font-size="15" font-weight="bold">{} mode, -m {}: {} codes in {:.2} s</text>"#,
            self.mode,
            self.max_req,
            bars.len(),
            total
        );
        // Legend.
        let mut lx = left;
        for kind in [
            BarKind::Downloaded,
            BarKind::Retried,
            BarKind::NotFound,
            BarKind::Error,
            BarKind::Cancelled,
        ] {
            let _ = writeln!(
                svg,
                r#"<rect x="{lx}" y="30" width="10" height="10" fill="{}"/><text x="{}" y="39">{}</text>"#,
                kind.colour(),
                lx + 14.0,
                kind.name()
            );
            lx += 24.0 + 7.0 * kind.name().len() as f64;
        }
        // The in-flight curve, with the ceiling -m.
        let _ = writeln!(
            svg,
            r#"<text x="4" y="{:.1}" transform="rotate(-90 14 {:.1})">in flight</text>"#,
            curve_top + curve_h / 2.0 + 20.0,
            curve_top + curve_h / 2.0
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="4 3"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">-m {}</text>"##,
            left + plot_w,
            y(self.max_req),
            y(self.max_req),
            left - 4.0,
            y(self.max_req) + 4.0,
            self.max_req
        );
        let mut path = format!("M{:.2},{:.2}", x(0.0), y(0));
        let mut last = 0;
        for &(at, n) in &steps {
            let _ = write!(
                path,
                " L{:.2},{:.2} L{:.2},{:.2}",
                x(at),
                y(last),
                x(at),
                y(n)
            );
            last = n;
        }
        let _ = write!(path, " L{:.2},{:.2}", x(total), y(last));
        let _ = writeln!(
            svg,
            r##"<path class="in-flight" d="{path}" fill="none" stroke="#1565c0" stroke-width="1.5" data-peak="{peak}"/>"##
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{left}" y1="{curve_top}" y2="{:.1}" stroke="#999"/><text x="{}" y="{:.1}" text-anchor="end">0</text>"##,
            curve_top + curve_h,
            left - 4.0,
            curve_top + curve_h + 4.0
        );
        // The bars, one row per code, earliest start on top.
        let _ = writeln!(
            svg,
            r#"<text x="4" y="{:.1}" transform="rotate(-90 14 {:.1})">codes, by start</text>"#,
            rows_top + rows_h / 2.0 + 40.0,
            rows_top + rows_h / 2.0
        );
        for (row, bar) in bars.iter().enumerate() {
            let _ = writeln!(
                svg,
                r#"<rect class="bar" data-cc="{}" data-kind="{}" x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{}"><title>{} {} {:.3}-{:.3} s</title></rect>"#,
                bar.cc,
                bar.kind.name(),
                x(bar.start),
                rows_top + row as f64 * row_h,
                (x(bar.end) - x(bar.start)).max(0.5),
                (row_h - if row_h >= 3.0 { 1.0 } else { 0.0 }).max(1.0),
                bar.kind.colour(),
                bar.cc,
                bar.kind.name(),
                bar.start,
                bar.end
            );
        }
        // The time axis.
        let axis_y = rows_top + rows_h + 8.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{axis_y:.1}" y2="{axis_y:.1}" stroke="#999"/>"##,
            left + plot_w
        );
        let step = tick_step(total);
        let mut t = 0.0;
        while t <= total + 1e-9 {
            let _ = writeln!(
                svg,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{axis_y:.1}" y2="{:.1}" stroke="#999"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                x(t),
                x(t),
                axis_y + 4.0,
                x(t),
                axis_y + 18.0,
                seconds_label(t, step)
            );
            t += step;
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds from the start of the run</text>"#,
            left + plot_w / 2.0,
            axis_y + 36.0
        );
        svg.push_str("</svg>\n");
        svg
    }

    /// The JSON of `--trace`: Chrome's trace-event format.
    pub fn trace(&self) -> serde_json::Value {
        let mut tracks: Vec<&str> = Vec::new();
        let mut events = Vec::new();
        for attempt in self.attempts {
            let tid = match tracks.iter().position(|t| *t == attempt.track) {
                Some(i) => i + 1,
                None => {
                    tracks.push(&attempt.track);
                    tracks.len()
                }
            };
            let start = attempt.start.saturating_duration_since(self.started);
            let took = attempt.end.saturating_duration_since(attempt.start);
            events.push(serde_json::json!({
                "name": attempt.cc,
                "cat": match attempt.ended {
                    Ended::Saved => "downloaded",
                    Ended::NotFound => "not found",
                    Ended::Retried => "retried",
                    Ended::Failed => "error",
                },
                "ph": "X",
                "ts": start.as_micros() as u64,
                "dur": took.as_micros() as u64,
                "pid": 1,
                "tid": tid,
            }));
        }
        let mut all = vec![serde_json::json!({
            "name": "process_name", "ph": "M", "pid": 1,
            "args": { "name": format!("flags-dl {} -m {}", self.mode, self.max_req) },
        })];
        all.extend(tracks.iter().enumerate().map(|(i, name)| {
            serde_json::json!({
                "name": "thread_name", "ph": "M", "pid": 1, "tid": i + 1,
                "args": { "name": name },
            })
        }));
        all.extend(events);
        serde_json::json!({ "traceEvents": all, "displayTimeUnit": "ms" })
    }
}

/// Seconds between ticks: 1, 2 or 5 times a power of ten, for 4 to 10 ticks.
fn tick_step(total: f64) -> f64 {
    let rough = total / 6.0;
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|step| total / step <= 10.0)
        .unwrap_or(10.0 * power)
}

fn seconds_label(t: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{t:.decimals$}")
}

/// Writes the pictures asked for: the timeline's SVG to `timeline`, the trace to `trace`.
pub fn write_pictures(
    run: &Run<'_>,
    timeline: Option<&Path>,
    trace: Option<&Path>,
) -> anyhow::Result<()> {
    if let Some(path) = timeline {
        crate::output::write("the timeline", path, run.svg().as_bytes())?;
    }
    if let Some(path) = trace {
        let json = serde_json::to_vec(&run.trace())?;
        crate::output::write("the trace", path, &json)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn attempt(
        cc: &str,
        track: &str,
        from_ms: u64,
        to_ms: u64,
        ended: Ended,
        t0: Instant,
    ) -> Attempt {
        Attempt {
            cc: cc.into(),
            track: track.into(),
            start: t0 + Duration::from_millis(from_ms),
            end: t0 + Duration::from_millis(to_ms),
            ended,
        }
    }

    fn sample(t0: Instant) -> Vec<Attempt> {
        vec![
            attempt("BR", "flags-0", 0, 100, Ended::Saved, t0),
            attempt("CN", "flags-1", 0, 50, Ended::Retried, t0),
            attempt("CN", "flags-1", 150, 200, Ended::Saved, t0),
            attempt("XX", "flags-0", 100, 120, Ended::NotFound, t0),
            attempt("YY", "flags-1", 50, 150, Ended::Failed, t0),
        ]
    }

    /// The sample as a run of threads mode at -m 2, ending 10 ms after the last attempt.
    fn sample_run(t0: Instant, attempts: &[Attempt]) -> Run<'_> {
        Run {
            mode: Mode::Threads,
            max_req: 2,
            started: t0,
            ended: t0 + Duration::from_millis(210),
            attempts,
        }
    }

    #[test]
    fn every_code_has_one_bar_within_the_run() {
        let t0 = Instant::now();
        let attempts = sample(t0);
        let run = sample_run(t0, &attempts);
        let bars = run.bars();
        let codes: Vec<&str> = bars.iter().map(|b| b.cc.as_str()).collect();
        assert_eq!(codes, ["BR", "CN", "YY", "XX"], "sorted by start");
        let cn = &bars[1];
        assert_eq!((cn.start, cn.end, cn.kind), (0.0, 0.2, BarKind::Retried));
        assert_eq!(bars[2].kind, BarKind::Error);
        assert_eq!(bars[3].kind, BarKind::NotFound);
        for bar in &bars {
            assert!(
                bar.start >= 0.0 && bar.end <= 0.21 && bar.start <= bar.end,
                "{bar:?}"
            );
        }
        let svg = run.svg();
        assert_eq!(svg.matches(r#"class="bar""#).count(), 4);
        assert!(svg.contains(r#"data-cc="CN" data-kind="retried""#));
    }

    #[test]
    fn the_in_flight_curve_counts_overlapping_attempts() {
        let t0 = Instant::now();
        let attempts = sample(t0);
        let run = sample_run(t0, &attempts);
        let steps = run.in_flight();
        assert_eq!(steps.iter().map(|s| s.1).max(), Some(2));
        assert_eq!(steps.last().unwrap().1, 0);
        // At 50 ms CN's first attempt ends as YY's begins: 2 in flight, never 3.
        assert!(steps.iter().all(|&(_, n)| n <= 2));
    }

    #[test]
    fn the_trace_has_a_track_per_thread_and_an_event_per_attempt() {
        let t0 = Instant::now();
        let attempts = sample(t0);
        let run = sample_run(t0, &attempts);
        let trace = run.trace();
        let events = trace["traceEvents"].as_array().unwrap();
        let complete: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(complete.len(), 5);
        let names: Vec<_> = events
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["flags-0", "flags-1"]);
        let cn = complete
            .iter()
            .find(|e| e["name"] == "CN" && e["cat"] == "downloaded")
            .unwrap();
        assert_eq!(
            (cn["ts"].as_u64(), cn["dur"].as_u64()),
            (Some(150_000), Some(50_000))
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(0.6), 0.1);
        assert_eq!(tick_step(3.0), 0.5);
        assert_eq!(tick_step(97.0), 10.0);
    }
}
