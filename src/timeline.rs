//! Pictures of one run: `--timeline FILE.svg` (a bar per code from its start to its file
//! saved, split into the phases of its requests as a browser's waterfall is, and above
//! it the requests on the wire and those queued) and `--trace FILE.json` (every attempt in
//! Chrome's trace-event format, one track per worker thread or task, for Perfetto and
//! `chrome://tracing`).
//!
//! Both are made from the attempts a [`Recorder`](crate::download::record::Recorder)
//! kept and the exchanges of the run's
//! [`ExchangeLog`](crate::download::phases::ExchangeLog), after the run, and written as
//! every report file is ([`crate::output`]).

use crate::download::phases::Exchange;
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

/// The colour of each phase in the waterfall, as the legend names it (after browsers'
/// developer tools: waiting green, downloading blue), in the order of
/// [`Phases::all`](crate::download::phases::Phases::all).
const PHASES: [(&str, &str); 7] = [
    ("queued", "#cfd8dc"),
    ("dns", "#00897b"),
    ("connect", "#fb8c00"),
    ("tls", "#8e24aa"),
    ("wait", "#43a047"),
    ("receive", "#1e88e5"),
    ("save", "#5d4037"),
];

/// The gauge's colours: requests on the wire, and those queued above them.
const ON_THE_WIRE: &str = "#43a047";
const QUEUED: &str = "#cfd8dc";

/// One code's bar, in seconds from the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub cc: String,
    pub start: f64,
    pub end: f64,
    pub kind: BarKind,
    /// When its first request left the queue: the rows are sorted by it.
    pub left_queue: f64,
}

/// A finished run, as the pictures need it.
pub struct Run<'a> {
    pub mode: Mode,
    pub max_req: usize,
    /// When the run started and ended: every bar lies between them.
    pub started: Instant,
    pub ended: Instant,
    pub attempts: &'a [Attempt],
    /// Every exchange, with its phases (none: the bars are drawn whole).
    pub exchanges: &'a [Exchange],
}

impl Run<'_> {
    fn secs(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started).as_secs_f64()
    }

    fn total(&self) -> f64 {
        self.secs(self.ended).max(1e-3)
    }

    /// One bar per code that made a request: from its start (its first exchange's, queued
    /// included, or its first attempt's) to its last attempt's end, sorted by when it left
    /// the queue.
    pub fn bars(&self) -> Vec<Bar> {
        let mut by_code: BTreeMap<&str, Vec<&Attempt>> = BTreeMap::new();
        for attempt in self.attempts {
            by_code.entry(&attempt.cc).or_default().push(attempt);
        }
        // Each code's first exchange: its start and the end of its queueing.
        let mut first_exchange: BTreeMap<&str, (Instant, Instant)> = BTreeMap::new();
        for exchange in self.exchanges {
            let left = exchange.start + exchange.phases.queued.unwrap_or_default();
            let entry = first_exchange
                .entry(&exchange.cc)
                .or_insert((exchange.start, left));
            if exchange.start < entry.0 {
                *entry = (exchange.start, left);
            }
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
                let (start, left_queue) = match first_exchange.get(cc) {
                    Some(&(start, left)) => (start.min(first), left),
                    None => (first, first),
                };
                Bar {
                    cc: cc.to_string(),
                    start: self.secs(start),
                    end: self.secs(last.end),
                    kind,
                    left_queue: self.secs(left_queue),
                }
            })
            .collect();
        bars.sort_by(|a, b| {
            (a.left_queue.total_cmp(&b.left_queue))
                .then(a.start.total_cmp(&b.start))
                .then(a.cc.cmp(&b.cc))
        });
        bars
    }

    /// Requests on the wire and requests queued over time, from the exchanges: `(seconds,
    /// on the wire, queued)` from then on, a step at each exchange's start, end of
    /// queueing and end.
    pub fn wire_and_queued(&self) -> Vec<(f64, usize, usize)> {
        let mut edges: Vec<(f64, i64, i64)> = Vec::with_capacity(self.exchanges.len() * 3);
        for exchange in self.exchanges {
            let left = exchange.start + exchange.phases.queued.unwrap_or_default();
            edges.push((self.secs(exchange.start), 0, 1));
            edges.push((self.secs(left), 1, -1));
            edges.push((self.secs(exchange.end.max(left)), -1, 0));
        }
        // Ends first at the same instant, as for `in_flight`.
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1 + a.2).cmp(&(b.1 + b.2))));
        let (mut wire, mut queued) = (0i64, 0i64);
        let mut steps = vec![(0.0, 0, 0)];
        for (at, on, off) in edges {
            wire += on;
            queued += off;
            steps.push((at, wire.max(0) as usize, queued.max(0) as usize));
        }
        steps
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
        let gauge = self.wire_and_queued();
        let phased = !self.exchanges.is_empty();
        let total = self.total();
        let peak = steps.iter().map(|s| s.1).max().unwrap_or(0);
        let peak_wire = gauge.iter().map(|s| s.1).max().unwrap_or(0);
        let peak_both = gauge.iter().map(|s| s.1 + s.2).max().unwrap_or(0);
        let (width, left, right) = (960.0, 60.0, 20.0);
        let plot_w = width - left - right;
        let curve_top = if phased { 92.0 } else { 56.0 };
        let curve_h = 110.0;
        let rows_top = curve_top + curve_h + 30.0;
        // Readable from a dozen codes to all 676: at most 6 px a row, at least 1.
        let row_h = (480.0 / bars.len().max(1) as f64).clamp(1.0, 6.0);
        let rows_h = row_h * bars.len() as f64;
        let height = rows_top + rows_h + 50.0;
        let x = |t: f64| left + plot_w * (t / total);
        let top = self.max_req.max(peak).max(peak_both).max(1) as f64;
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
        // Legends: how each code ended (its bar's end), then the phases and the gauge.
        let mut legend = |y: f64, title: &str, keys: &[(&str, &str)]| {
            let mut lx = left;
            if !title.is_empty() {
                let _ = writeln!(svg, r#"<text x="{lx}" y="{:.0}">{title}</text>"#, y + 9.0);
                lx += 14.0 + 6.5 * title.len() as f64;
            }
            for (name, colour) in keys {
                let _ = writeln!(
                    svg,
                    r#"<rect class="legend" x="{lx}" y="{y}" width="10" height="10" fill="{colour}"/><text x="{}" y="{:.0}">{name}</text>"#,
                    lx + 14.0,
                    y + 9.0
                );
                lx += 24.0 + 7.0 * name.len() as f64;
            }
        };
        let kinds = [
            BarKind::Downloaded,
            BarKind::Retried,
            BarKind::NotFound,
            BarKind::Error,
            BarKind::Cancelled,
        ]
        .map(|kind| (kind.name(), kind.colour()));
        if phased {
            legend(30.0, "ended:", &kinds);
            legend(48.0, "phases:", &PHASES);
            legend(
                66.0,
                "above:",
                &[("on the wire", ON_THE_WIRE), ("queued", QUEUED)],
            );
        } else {
            legend(30.0, "", &kinds);
        }
        // The gauge: requests on the wire, those queued stacked above them, and the
        // requests in flight (admitted by the pace) as a line, with the ceiling -m.
        let _ = writeln!(
            svg,
            r#"<text x="4" y="{:.1}" transform="rotate(-90 14 {:.1})">{}</text>"#,
            curve_top + curve_h / 2.0 + 20.0,
            curve_top + curve_h / 2.0,
            if phased { "requests" } else { "in flight" }
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="4 3"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">-m {}</text>"##,
            left + plot_w,
            y(self.max_req),
            y(self.max_req),
            left + plot_w,
            y(self.max_req) - 3.0,
            self.max_req
        );
        if top as usize != self.max_req {
            // The scale's top: the codes queued, above -m.
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{top}</text>"#,
                left - 4.0,
                curve_top + 4.0
            );
        }
        if phased {
            let area = |count: &dyn Fn(&(f64, usize, usize)) -> usize| {
                let mut path = format!("M{:.2},{:.2}", x(0.0), y(0));
                let mut last = 0;
                for step in &gauge {
                    let n = count(step);
                    let _ = write!(
                        path,
                        " L{:.2},{:.2} L{:.2},{:.2}",
                        x(step.0),
                        y(last),
                        x(step.0),
                        y(n)
                    );
                    last = n;
                }
                let _ = write!(
                    path,
                    " L{:.2},{:.2} L{:.2},{:.2} Z",
                    x(total),
                    y(last),
                    x(total),
                    y(0)
                );
                path
            };
            let both = area(&|step| step.1 + step.2);
            let wire = area(&|step| step.1);
            let _ = writeln!(
                svg,
                r#"<path class="queued" d="{both}" fill="{QUEUED}" data-peak="{peak_both}"/>"#
            );
            let _ = writeln!(
                svg,
                r#"<path class="on-the-wire" d="{wire}" fill="{ON_THE_WIRE}" fill-opacity="0.8" data-peak="{peak_wire}"/>"#
            );
        }
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
            r##"<path class="in-flight" d="{path}" fill="none" stroke="#1565c0" stroke-width="1.5" data-peak="{peak}"><title>in flight: admitted by the pace</title></path>"##
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{left}" y1="{curve_top}" y2="{:.1}" stroke="#999"/><text x="{}" y="{:.1}" text-anchor="end">0</text>"##,
            curve_top + curve_h,
            left - 4.0,
            curve_top + curve_h + 4.0
        );
        // The bars, one row per code, the first out of the queue on top.
        let _ = writeln!(
            svg,
            r#"<text x="4" y="{:.1}" transform="rotate(-90 14 {:.1})">codes, by start</text>"#,
            rows_top + rows_h / 2.0 + 40.0,
            rows_top + rows_h / 2.0
        );
        let mut by_code: BTreeMap<&str, Vec<&Exchange>> = BTreeMap::new();
        for exchange in self.exchanges {
            by_code.entry(&exchange.cc).or_default().push(exchange);
        }
        for (row, bar) in bars.iter().enumerate() {
            let row_y = rows_top + row as f64 * row_h;
            let bar_h = (row_h - if row_h >= 3.0 { 1.0 } else { 0.0 }).max(1.0);
            // With phases, the outcome's colour is faint under them (a retry's wait shows
            // in it) and solid at the bar's end.
            let _ = writeln!(
                svg,
                r#"<rect class="bar" data-cc="{}" data-kind="{}" x="{:.2}" y="{row_y:.2}" width="{:.2}" height="{bar_h:.2}" fill="{}"{}><title>{} {} {:.3}-{:.3} s</title></rect>"#,
                bar.cc,
                bar.kind.name(),
                x(bar.start),
                (x(bar.end) - x(bar.start)).max(0.5),
                bar.kind.colour(),
                if phased { r#" fill-opacity="0.3""# } else { "" },
                bar.cc,
                bar.kind.name(),
                bar.start,
                bar.end
            );
            if !phased {
                continue;
            }
            for exchange in by_code.get(bar.cc.as_str()).into_iter().flatten() {
                let mut at = self.secs(exchange.start);
                for ((name, colour), phase) in PHASES.iter().zip(exchange.phases.all()) {
                    let Some(phase) = phase else { continue };
                    let to = at + phase.as_secs_f64();
                    let w = x(to) - x(at);
                    // Narrower than a tenth of a pixel: nothing to see, and 676 codes'
                    // worth would only weigh the file.
                    if w >= 0.1 {
                        let _ = writeln!(
                            svg,
                            r#"<rect class="phase" data-phase="{name}" x="{:.2}" y="{row_y:.2}" width="{w:.2}" height="{bar_h:.2}" fill="{colour}"/>"#,
                            x(at)
                        );
                    }
                    at = to;
                }
            }
            let _ = writeln!(
                svg,
                r#"<rect class="end" x="{:.2}" y="{row_y:.2}" width="2" height="{bar_h:.2}" fill="{}"/>"#,
                x(bar.end) - 1.0,
                bar.kind.colour()
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
            exchanges: &[],
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
    fn the_gauge_tells_requests_on_the_wire_from_those_queued() {
        let t0 = Instant::now();
        let exchange = |cc: &str, queued_ms: u64, end_ms: u64| Exchange {
            cc: cc.into(),
            url: String::new(),
            start: t0,
            end: t0 + Duration::from_millis(end_ms),
            phases: crate::download::phases::Phases {
                queued: Some(Duration::from_millis(queued_ms)),
                wait: Some(Duration::from_millis(end_ms - queued_ms)),
                ..Default::default()
            },
            connection: None,
            server: None,
            status: Some(200),
            http_version: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            content_type: None,
            body_bytes: 0,
            failed: false,
        };
        // Two codes queued from the start, one on the wire at once, the other after it.
        let exchanges = [exchange("BR", 0, 100), exchange("CN", 100, 200)];
        let attempts = sample(t0);
        let run = Run {
            exchanges: &exchanges,
            ..sample_run(t0, &attempts)
        };
        let gauge = run.wire_and_queued();
        let at = |ms: f64| {
            gauge
                .iter()
                .rev()
                .find(|step| step.0 <= ms / 1000.0)
                .map(|step| (step.1, step.2))
        };
        assert_eq!(at(50.0), Some((1, 1)));
        assert_eq!(at(150.0), Some((1, 0)));
        assert_eq!(at(205.0), Some((0, 0)));
        let svg = run.svg();
        assert!(svg.contains(r#"class="on-the-wire""#) && svg.contains(r#"data-phase="wait""#));
        // CN waited in the queue, so it is drawn after BR, whatever its attempts say.
        let bars = run.bars();
        let br = bars.iter().position(|b| b.cc == "BR").unwrap();
        let cn = bars.iter().position(|b| b.cc == "CN").unwrap();
        assert!(br < cn, "{bars:?}");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(0.6), 0.1);
        assert_eq!(tick_step(3.0), 0.5);
        assert_eq!(tick_step(97.0), 10.0);
    }
}
