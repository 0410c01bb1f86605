//! The chart of `--plot`: elapsed time (median, with min–max bars) against max-req, one line
//! per series (a mode, and for async each HTTP version it was timed over), both axes
//! logarithmic, as SVG.
//!
//! Drawn for someone who has not read the book: the title says what was downloaded, from
//! what, over what network and on which machine; a line under it says how to read the
//! chart; the legend says what each series does and which HTTP version answered it.
//! Sequential has one request in flight whatever -m says, so it is a horizontal line: the
//! baseline the others are compared with. This module draws; writing the file is
//! [`crate::output`]'s.

use super::plan::{versions, Http};
use super::summary::{protocol, Summary};
use super::Settings;
use crate::download::Mode;
use plotters::coord::CoordTranslate;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const WIDTH: u32 = 960;
const HEIGHT: u32 = 640;

/// The height of the title and the three lines under it.
const TOP: u32 = 120;
const FONT: &str = "sans-serif";

/// A line of the chart: a mode, over one HTTP version.
type Series = (Mode, Http);

/// The colour of each series, and what it does, for the legend. Async over HTTP/2 differs
/// from async over HTTP/1.1 by its colour and by triangles for points (see [`draw_points`]), so
/// that the two stay apart for a reader who cannot tell red from green.
fn look((mode, http): Series) -> (RGBColor, &'static str) {
    match (mode, http) {
        (Mode::Sequential, _) => (RGBColor(90, 90, 90), "one request at a time, the baseline"),
        (Mode::Threads, _) => (
            RGBColor(31, 119, 180),
            "a pool of -m OS threads, each with one request at a time",
        ),
        (Mode::Async, Http::H1) => (
            RGBColor(214, 39, 40),
            "one tokio task per flag, at most -m requests in flight",
        ),
        (Mode::Async, Http::H2) => (
            RGBColor(44, 160, 44),
            "one tokio task per flag, at most -m requests in flight as streams of one connection",
        ),
    }
}

/// The points of `series` on `chart`: circles, or triangles over HTTP/2.
fn draw_points<CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, CT>,
    series: Series,
    points: &[(f64, f64)],
    size: i32,
) -> anyhow::Result<()> {
    let (color, _) = look(series);
    match series.1 {
        Http::H1 => {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, size, color.filled())))?
        }
        Http::H2 => chart.draw_series(
            points
                .iter()
                .map(|&p| TriangleMarker::new(p, size + 2, color.filled())),
        )?,
    };
    Ok(())
}

/// The legend's words for `series`: "async over HTTP/2: ...", naming the version that
/// answered its runs (see [`protocol`]) when the chart has HTTP/2 in it; "async: ..." when
/// every series spoke HTTP/1.1, the book's case.
fn legend(series: Series, rows: &[Summary]) -> String {
    let (_, what) = look(series);
    let (mode, http) = series;
    if !shows_protocol(rows) {
        return format!("{mode}: {what}");
    }
    let answered = versions(
        rows.iter()
            .filter(|r| (r.mode, r.http_offered) == series)
            .filter_map(|r| r.http_version.as_deref()),
    );
    format!(
        "{mode} over {}: {what}",
        protocol(http, answered.as_deref())
    )
}

/// Whether the chart has something other than HTTP/1.1 in it, offered or answered.
fn shows_protocol(rows: &[Summary]) -> bool {
    rows.iter().any(|r| {
        r.http_offered != Http::H1 || r.http_version.as_deref().is_some_and(|v| v != "1.1")
    })
}

/// The chart as an SVG document.
pub fn render_svg(settings: &Settings, rows: &[Summary]) -> anyhow::Result<String> {
    anyhow::ensure!(!rows.is_empty(), "no runs to plot");
    let mut svg = String::new();
    {
        let height = HEIGHT + if has_cost(rows) { COST_HEIGHT } else { 0 };
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        draw(&root, settings, rows)?;
        root.present()?;
    }
    Ok(svg)
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    settings: &Settings,
    rows: &[Summary],
) -> anyhow::Result<()> {
    root.fill(&WHITE)?;
    let all_series = dedup_series(rows);
    let legend_height = 16 + 24 * all_series.len() as u32;
    let (top, rest) = root.split_vertically(TOP);
    let (body, bottom) = rest.split_vertically(HEIGHT - TOP - legend_height);
    // The cost panels go under the legend, which serves both.
    let (bottom, cost) = bottom.split_vertically(legend_height);
    if has_cost(rows) {
        draw_cost(&cost, rows, &all_series)?;
    }
    let grey = RGBColor(70, 70, 70);
    top.draw(&Text::new(
        format!(
            "Downloading {}: elapsed time against requests in flight",
            settings.what()
        ),
        (24, 14),
        (FONT, 24).into_font().style(FontStyle::Bold).color(&BLACK),
    ))?;
    // The server and its network on a line of their own: over TLS with a latency, they
    // fill it.
    let lines = [
        format!("Server: {}.", server(settings)),
        format!(
            "Machine: {}. {}",
            settings.machine(),
            if settings.runs == 1 {
                "One run per point.".to_string()
            } else {
                format!("Median of {} runs, bars from min to max.", settings.runs)
            },
        ),
        how_to_read(settings),
    ];
    for (i, line) in lines.into_iter().enumerate() {
        top.draw(&Text::new(
            line,
            (24, 48 + 22 * i as i32),
            (FONT, 15).into_font().color(&grey),
        ))?;
    }

    let levels: Vec<f64> = rows
        .iter()
        .filter(|r| r.mode != Mode::Sequential)
        .map(|r| r.max_req as f64)
        .collect();
    let x_max = levels.iter().copied().fold(1.0, f64::max).max(4.0);
    let (x_lo, x_hi) = (0.8, x_max * 1.3);
    let (y_lo, y_hi) = y_range(rows);
    let mut x_keys: Vec<f64> = std::iter::once(1.0).chain(levels.iter().copied()).collect();
    x_keys.sort_by(f64::total_cmp);
    x_keys.dedup();

    let mut chart = ChartBuilder::on(&body)
        .margin_left(24)
        .margin_right(32)
        .margin_bottom(16)
        .margin_top(8)
        .x_label_area_size(56)
        .y_label_area_size(72)
        .build_cartesian_2d(
            (x_lo..x_hi).log_scale().with_key_points(x_keys),
            (y_lo..y_hi).log_scale().with_key_points(y_keys(y_lo, y_hi)),
        )?;
    chart
        .configure_mesh()
        .x_desc("max requests in flight (-m)")
        .y_desc("elapsed time (s)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| short_number(*y))
        .axis_desc_style((FONT, 17))
        .label_style((FONT, 14))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;

    // Where -m reaches the number of codes: past it, no more requests can be in flight, so
    // the lines flatten. Saying so spares the reader a puzzle.
    let n = settings.code_count as f64;
    if levels.iter().any(|&m| m > n) && n > x_lo && n < x_hi {
        let style = RGBColor(150, 150, 150).stroke_width(1);
        chart.draw_series(DashedLineSeries::new([(n, y_lo), (n, y_hi)], 4, 4, style))?;
        // Right of the line, unless that would run off the chart.
        let past_middle = (n / x_lo).ln() / (x_hi / x_lo).ln() > 0.6;
        let (x, anchor) = if past_middle {
            (n / 1.06, HPos::Right)
        } else {
            (n * 1.06, HPos::Left)
        };
        let font = (FONT, 13)
            .into_font()
            .color(&RGBColor(110, 110, 110))
            .pos(Pos::new(anchor, VPos::Top));
        chart.draw_series(std::iter::once(Text::new(
            format!("{} codes: all in flight at once", settings.code_count),
            (x, y_hi / 1.12),
            font,
        )))?;
    }

    for &series in &all_series {
        let (mode, _) = series;
        let (color, _) = look(series);
        let style = color.stroke_width(2);
        let mode_rows: Vec<&Summary> = rows
            .iter()
            .filter(|r| (r.mode, r.http_offered) == series)
            .collect();
        if mode == Mode::Sequential {
            let y = mode_rows[0].median_s;
            chart.draw_series(DashedLineSeries::new([(x_lo, y), (x_hi, y)], 10, 6, style))?;
            draw_points(&mut chart, series, &[(1.0, y)], 5)?;
        } else {
            let points: Vec<(f64, f64)> = mode_rows
                .iter()
                .map(|r| (r.max_req as f64, r.median_s))
                .collect();
            chart.draw_series(LineSeries::new(points.clone(), style))?;
            draw_points(&mut chart, series, &points, 4)?;
        }
        // Min-to-max bars, capped so they show beside the point: how much the runs of one
        // point disagreed.
        let thin = color.stroke_width(1);
        for r in &mode_rows {
            let x = if mode == Mode::Sequential {
                1.0
            } else {
                r.max_req as f64
            };
            chart.draw_series(std::iter::once(PathElement::new(
                [(x, r.min_s), (x, r.max_s)],
                thin,
            )))?;
            chart
                .draw_series([r.min_s, r.max_s].map(|y| {
                    EmptyElement::at((x, y)) + PathElement::new([(-5, 0), (5, 0)], thin)
                }))?;
        }
    }

    // The legend goes under the chart rather than in it: inside, it would hide whatever
    // point happened to fall under it.
    for (i, &series) in all_series.iter().enumerate() {
        let (mode, _) = series;
        let (color, _) = look(series);
        let label = legend(series, rows);
        let y = 12 + 24 * i as i32;
        let style = color.stroke_width(2);
        if mode == Mode::Sequential {
            // Dashes, as its line in the chart.
            for x in [98, 110, 122] {
                bottom.draw(&PathElement::new([(x, y), (x + 7, y)], style))?;
            }
        } else {
            bottom.draw(&PathElement::new([(98, y), (129, y)], style))?;
            match series.1 {
                Http::H1 => bottom.draw(&Circle::new((113, y), 4, color.filled()))?,
                Http::H2 => bottom.draw(&TriangleMarker::new((113, y), 6, color.filled()))?,
            }
        }
        let text = match rows.iter().find(|r| r.mode == Mode::Sequential) {
            Some(row) if mode == Mode::Sequential => {
                format!("{label}: {}", seconds(row.median_s))
            }
            _ => label,
        };
        bottom.draw(&Text::new(
            text,
            (138, y - 8),
            (FONT, 15).into_font().color(&BLACK),
        ))?;
    }
    Ok(())
}

/// The height of the panels of memory and threads, with their heading, when the runs
/// measured them.
const COST_HEIGHT: u32 = 370;

/// The heading's share of [`COST_HEIGHT`].
const COST_HEADING: u32 = 44;

fn has_cost(rows: &[Summary]) -> bool {
    rows.iter().any(|r| r.peak_rss_bytes > 0)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// A figure of a summary row, for one cost panel.
type Measure = fn(&Summary) -> f64;

/// What concurrency costs: each run's peak memory and most threads against -m, one line
/// per series, side by side. Threads climb with -m in threads mode; async stays flat.
fn draw_cost(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    rows: &[Summary],
    all_series: &[Series],
) -> anyhow::Result<()> {
    // A heading, so that a reader who scrolls down to the panels knows what they measure
    // and that the same legend holds.
    let (heading, panels) = area.split_vertically(COST_HEADING);
    heading.draw(&Text::new(
        "What each run cost: the peak memory and most OS threads of its process (the server not counted)",
        (24, 16),
        (FONT, 17).into_font().style(FontStyle::Bold).color(&BLACK),
    ))?;
    let (left, right) = panels.split_horizontally(WIDTH / 2);
    let x_of = |r: &Summary| {
        if r.mode == Mode::Sequential {
            1.0
        } else {
            r.max_req as f64
        }
    };
    let x_max = rows.iter().map(x_of).fold(4.0, f64::max);
    let mut x_keys: Vec<f64> = rows.iter().map(x_of).collect();
    x_keys.sort_by(f64::total_cmp);
    x_keys.dedup();
    let panels: [(&Area, &str, Measure); 2] = [
        (&left, "peak memory of the run (MiB)", |r| {
            r.peak_rss_bytes as f64 / (1024.0 * 1024.0)
        }),
        (&right, "most OS threads of the run", |r| {
            r.peak_threads as f64
        }),
    ];
    for (panel, label, value) in panels {
        let y_max = rows.iter().map(value).fold(1.0, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .margin_left(24)
            .margin_right(24)
            .margin_top(16)
            .margin_bottom(8)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (0.8..x_max * 1.3)
                    .log_scale()
                    .with_key_points(x_keys.clone()),
                0.0..y_max,
            )?;
        chart
            .configure_mesh()
            .x_desc("max requests in flight (-m)")
            .y_desc(label)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| short_number(*y))
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()?;
        for &series in all_series {
            let (color, _) = look(series);
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| (r.mode, r.http_offered) == series)
                .map(|r| (x_of(r), value(r)))
                .collect();
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
            draw_points(&mut chart, series, &points, 4)?;
        }
    }
    Ok(())
}

/// The series of `rows`, in their order.
fn dedup_series(rows: &[Summary]) -> Vec<Series> {
    let mut all: Vec<Series> = vec![];
    for row in rows {
        if !all.contains(&(row.mode, row.http_offered)) {
            all.push((row.mode, row.http_offered));
        }
    }
    all
}

/// The line under the title: what waits, so that a reader sees why more requests in
/// flight go faster.
fn how_to_read(settings: &Settings) -> String {
    let delayed = settings.delay_max_s != Some(0.0);
    let waits = match (delayed, settings.latency_ms) {
        (true, None) => "The server delays every answer".to_string(),
        (false, Some(ms)) => format!("Every round trip takes {ms} ms"),
        (true, Some(ms)) => {
            format!("The server delays every answer and every round trip takes {ms} ms")
        }
        (false, None) => {
            return "Lower is faster. The server answers at once: what remains is the work of client and server."
                .into()
        }
    };
    format!("Lower is faster. {waits}; with more requests in flight, the waits overlap.")
}

/// The server, for someone who does not know flags-dl.
fn server(settings: &Settings) -> String {
    let delay = match (settings.delay_min_s, settings.delay_max_s) {
        (Some(min), Some(max)) if min == 0.0 && max == 0.0 => "with no delay".to_string(),
        (Some(_), Some(_)) => format!("delaying each request {}", settings.delay_range()),
        _ => "with its own delay".to_string(),
    };
    let network = match settings.network() {
        n if n.is_empty() => n,
        n => format!("{n}, "),
    };
    if settings.site == "EMBEDDED" {
        format!("flags-dl's own, on this machine, {network}{delay}")
    } else {
        format!(
            "{} ({}), {network}{delay}",
            settings.base_url, settings.site
        )
    }
}

/// From a bit under the fastest run to a bit over the slowest (room above for the legend),
/// spanning at least a factor of 4 so a log axis has ticks to show.
fn y_range(rows: &[Summary]) -> (f64, f64) {
    let lo = rows.iter().map(|r| r.min_s).fold(f64::INFINITY, f64::min);
    let hi = rows.iter().map(|r| r.max_s).fold(0.0, f64::max);
    let (mut lo, mut hi) = (lo.max(1e-5) * 0.75, hi.max(1e-5) * 1.6);
    if hi / lo < 4.0 {
        let middle = (lo * hi).sqrt();
        (lo, hi) = (middle / 2.0, middle * 2.0);
    }
    (lo, hi)
}

/// Round numbers for a log axis: 1, 2, 3, 5 times powers of ten within the range; 1, 2, 5
/// when that is crowded, or finer steps when it gives fewer than three.
fn y_keys(lo: f64, hi: f64) -> Vec<f64> {
    let pick = |steps: &[f64]| -> Vec<f64> {
        let mut keys = vec![];
        let mut decade = 10f64.powf(lo.log10().floor());
        while decade <= hi {
            for step in steps {
                let v = decade * step;
                if v >= lo && v <= hi {
                    keys.push(v);
                }
            }
            decade *= 10.0;
        }
        keys
    };
    let keys = pick(&[1.0, 2.0, 3.0, 5.0]);
    if keys.len() > 9 {
        pick(&[1.0, 2.0, 5.0])
    } else if keys.len() >= 3 {
        keys
    } else {
        pick(&[1.0, 1.5, 2.0, 3.0, 5.0, 7.0])
    }
}

/// 0.05, 0.2, 1, 2.5: no trailing zeros.
fn short_number(v: f64) -> String {
    let text = format!("{v:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// "4.12 s", "0.290 s", "5.2 ms".
fn seconds(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.2} s")
    } else if v >= 0.01 {
        format!("{v:.3} s")
    } else {
        format!("{:.1} ms", v * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(lo: f64, hi: f64) -> Vec<String> {
        y_keys(lo, hi).into_iter().map(short_number).collect()
    }

    #[test]
    fn y_keys_are_round_and_inside_the_range() {
        assert_eq!(keys(0.15, 9.0), ["0.2", "0.3", "0.5", "1", "2", "3", "5"]);
        assert_eq!(keys(0.0015, 9.0).len(), 11);
        assert_eq!(keys(0.0025, 0.012), ["0.003", "0.005", "0.01"]);
        assert_eq!(keys(0.0055, 0.016), ["0.007", "0.01", "0.015"]);
    }

    fn summary_row() -> Summary {
        Summary {
            mode: Mode::Async,
            http_offered: Http::H1,
            http_version: Some("1.1".into()),
            max_req: 4,
            max_req_used: 4,
            runs: 1,
            median_s: 0.01,
            min_s: 0.01,
            max_s: 0.011,
            req_per_s: 500.0,
            errors: 0,
            peak_in_flight: 4,
            peak_rss_bytes: 8 << 20,
            peak_threads: 3,
            speedup: None,
            phases: Default::default(),
        }
    }

    #[test]
    fn the_y_range_spans_at_least_a_factor_of_four() {
        let (lo, hi) = y_range(&[summary_row()]);
        assert!(
            lo < 0.01 && hi > 0.011 && hi / lo >= 4.0 - 1e-9,
            "{lo} {hi}"
        );
    }

    #[test]
    fn the_line_under_the_title_says_what_waits() {
        let mut settings = crate::bench::table::tests::settings();
        assert!(how_to_read(&settings).contains("The server delays every answer;"));
        settings.latency_ms = Some(20);
        (settings.delay_min_s, settings.delay_max_s) = (Some(0.0), Some(0.0));
        assert!(how_to_read(&settings).contains("Every round trip takes 20 ms;"));
    }

    #[test]
    fn over_http_2_the_legend_names_the_version_that_answered() {
        let row = |http, answered: &str| Summary {
            http_offered: http,
            http_version: Some(answered.into()),
            ..summary_row()
        };
        let compared = [row(Http::H1, "1.1"), row(Http::H2, "2")];
        assert_eq!(
            legend((Mode::Async, Http::H2), &compared),
            "async over HTTP/2: one tokio task per flag, at most -m requests in flight as streams of one connection"
        );
        let refused = [row(Http::H1, "1.1"), row(Http::H2, "1.1")];
        assert!(legend((Mode::Async, Http::H2), &refused)
            .starts_with("async over HTTP/1.1 (2 offered):"));
        let book = [row(Http::H1, "1.1")];
        assert!(legend((Mode::Async, Http::H1), &book).starts_with("async: one tokio task"));
    }

    #[test]
    fn numbers_lose_their_trailing_zeros() {
        assert_eq!(short_number(0.2), "0.2");
        assert_eq!(short_number(5.0), "5");
        assert_eq!(short_number(0.05), "0.05");
        assert_eq!(seconds(4.123), "4.12 s");
        assert_eq!(seconds(0.29), "0.290 s");
        assert_eq!(seconds(0.0052), "5.2 ms");
    }
}
