//! Drawing a [`Dashboard`] on a ratatui frame: nothing here reads a
//! clock, a channel or the keyboard, so the tests draw on ratatui's
//! `TestBackend` and read the screen back.
//!
//! `load`: a header (what runs, where it is), requests/s second by second
//! beside the latency figures, and the latency histogram. `compare` adds
//! the run under way's place in the comparison, the finished runs as
//! horizontal bars (req/s and p99 per server, growing as the run goes) and
//! the last progress lines. Everything fits an 80×24 terminal; a bigger
//! one gets bigger charts.

use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Bar, BarChart, BarGroup, Block, Chart, Dataset, GraphType, Paragraph,
};
use ratatui::Frame;

use super::model::{error_kinds, Dashboard, FinishedCell, Phase, RunView};

/// Colours of the servers' bars, in order of first appearance.
const ENGINE_COLOURS: [Color; 8] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Magenta,
    Color::Blue,
    Color::Red,
    Color::LightCyan,
    Color::LightGreen,
];

/// Draw the whole view at time `now`.
pub fn draw(frame: &mut Frame<'_>, dashboard: &Dashboard, now: Instant) {
    let header_lines = if dashboard.is_compare { 3 } else { 2 };
    let [header, body] = Layout::vertical([Constraint::Length(header_lines), Constraint::Min(0)])
        .areas(frame.area());
    draw_header(frame, header, dashboard, now);
    let (run, is_previous) = dashboard.shown_run();
    let shown = Shown { run, is_previous };
    if dashboard.is_compare {
        let log_lines = if body.height >= 28 { 5 } else { 0 };
        let [current, finished, log] = Layout::vertical([
            Constraint::Percentage(45),
            Constraint::Min(6),
            Constraint::Length(log_lines),
        ])
        .areas(body);
        draw_run(frame, current, shown);
        let [bars, histogram] =
            Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)])
                .areas(finished);
        draw_finished(frame, bars, &dashboard.finished);
        draw_histogram(frame, histogram, shown.run);
        draw_log(frame, log, dashboard);
    } else {
        let [current, histogram] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Min(6)]).areas(body);
        draw_run(frame, current, shown);
        draw_histogram(frame, histogram, shown.run);
    }
}

/// The run whose figures the panes show, and whether it is the previous
/// one (the titles of the chart and the figures then say so).
#[derive(Debug, Clone, Copy)]
struct Shown<'a> {
    run: Option<&'a RunView>,
    is_previous: bool,
}

impl Shown<'_> {
    /// A pane's title, marked when it shows the previous run.
    fn title(&self, title: &str) -> String {
        if self.is_previous {
            format!(" {title} (previous run) ")
        } else {
            format!(" {title} ")
        }
    }
}

/// What runs, where it is, and how to stop it.
fn draw_header(frame: &mut Frame<'_>, area: Rect, dashboard: &Dashboard, now: Instant) {
    let mut lines = vec![Line::from(vec![
        Span::styled(dashboard.title.clone(), Style::new().bold()),
        Span::raw("   q: stop").dim(),
    ])];
    if let Some(cell) = &dashboard.cell {
        lines.push(Line::from(format!(
            "run {} of {}: {}",
            cell.number, cell.of, cell.label
        )));
    }
    let phase = match dashboard.run.as_ref() {
        Some(run) => phase_text(run, now),
        None => "starting".to_string(),
    };
    let mut status = vec![Span::raw(phase)];
    if dashboard.stopping {
        status.push(Span::styled(
            format!("   {}", dashboard.stop_note),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    lines.push(Line::from(status));
    frame.render_widget(Paragraph::new(lines), area);
}

/// The phase in words: `measuring: 1.2 s of 3.0 s, 1.8 s left`.
fn phase_text(run: &RunView, now: Instant) -> String {
    match run.phase(now) {
        Phase::Waiting => "starting".to_string(),
        Phase::Ramp { up, connections } => {
            format!("opening connections: {up} of {connections} up (not measured)")
        }
        Phase::Warmup => "warming up (not measured)".to_string(),
        Phase::Measuring { elapsed, remaining } => match run.requests_limit {
            Some(limit) => format!(
                "measuring: {} of {} answers, {:.1} s in",
                thousands(run.timeline.total().requests),
                thousands(limit),
                elapsed.as_secs_f64()
            ),
            None => format!(
                "measuring: {:.1} s of {:.1} s, {:.1} s left",
                elapsed.as_secs_f64(),
                run.measured.as_secs_f64(),
                remaining.as_secs_f64()
            ),
        },
    }
}

/// requests/s chart beside the figures.
fn draw_run(frame: &mut Frame<'_>, area: Rect, shown: Shown<'_>) {
    let [chart_area, figures_area] =
        Layout::horizontal([Constraint::Min(24), Constraint::Length(38)]).areas(area);
    let block = Block::bordered().title(shown.title("req/s each second"));
    let figures_block = Block::bordered().title(shown.title("latency"));
    let Some(run) = shown.run else {
        frame.render_widget(Paragraph::new("no run yet").block(block), chart_area);
        frame.render_widget(figures_block, figures_area);
        return;
    };
    let points = run.rate_points();
    let x_max = run
        .measured
        .as_secs_f64()
        .ceil()
        .max(points.last().map_or(1.0, |&(end_s, _)| end_s.ceil()));
    let y_max = points
        .iter()
        .map(|&(_, rate)| rate)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.15;
    let dataset = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::new().fg(Color::Cyan))
        .data(&points);
    let chart = Chart::new(vec![dataset])
        .block(block)
        .x_axis(
            Axis::default()
                .bounds([0.0, x_max])
                .labels(["0 s".to_string(), format!("{x_max:.0} s")]),
        )
        .y_axis(Axis::default().bounds([0.0, y_max]).labels([
            "0".to_string(),
            short_number(y_max / 2.0),
            short_number(y_max),
        ]));
    frame.render_widget(chart, chart_area);
    frame.render_widget(
        Paragraph::new(figure_lines(run)).block(figures_block),
        figures_area,
    );
}

/// The figures: percentiles of the last second and overall, answers,
/// connections, errors.
fn figure_lines(run: &RunView) -> Vec<Line<'static>> {
    let row =
        |label: String, a: String, b: String| Line::from(format!("{label:<12}{a:>11}{b:>12}"));
    let mut lines = vec![row(String::new(), "p50".into(), "p99".into()).dim()];
    match run.last_second() {
        Some((second, p)) => lines.push(row(
            format!("second {second}"),
            micros(p.p50_us),
            micros(p.p99_us),
        )),
        None => lines.push(row("last second".into(), "-".into(), "-".into())),
    }
    match run.overall() {
        Some(p) => lines.push(row("overall".into(), micros(p.p50_us), micros(p.p99_us))),
        None => lines.push(row("overall".into(), "-".into(), "-".into())),
    }
    let (answers, rate) = run.answers();
    lines.push(row(
        "answers".into(),
        thousands(answers),
        format!("{}/s", thousands(rate.round() as u64)),
    ));
    if let Some(state) = run.state {
        lines.push(Line::from(format!(
            "{:<12}{} of {}",
            "open conns", state.open, run.connections
        )));
    }
    let errors = error_kinds(&run.errors());
    if errors.is_empty() {
        lines.push(Line::from(format!("{:<12}none", "errors")));
    } else {
        for (index, (kind, count)) in errors.into_iter().enumerate() {
            let label = if index == 0 { "errors" } else { "" };
            lines.push(
                Line::from(format!("{label:<12}{kind} {}", thousands(count)))
                    .style(Style::new().fg(Color::Red)),
            );
        }
    }
    lines
}

/// The finished runs as horizontal bars, scaled to the fastest; the
/// latest rows when they do not all fit.
fn draw_finished(frame: &mut Frame<'_>, area: Rect, finished: &[FinishedCell]) {
    let block = Block::bordered().title(" finished runs: req/s, p99 ");
    let inner = block.inner(area);
    let engines: Vec<&str> = finished.iter().fold(Vec::new(), |mut seen, cell| {
        if !seen.contains(&cell.engine.as_str()) {
            seen.push(&cell.engine);
        }
        seen
    });
    let name_width = finished.iter().map(|c| c.engine.len()).max().unwrap_or(0);
    let shape_width = finished.iter().map(|c| c.shape.len()).max().unwrap_or(0);
    // ` 12.3k/s 1.25 ms`, and ` 12 err` when some run had errors.
    let errors_width = finished
        .iter()
        .map(|c| c.errors)
        .max()
        .filter(|&most| most > 0)
        .map_or(0, |most| thousands(most).len() + 5);
    let numbers_width = 17 + errors_width;
    let bar_room = (inner.width as usize)
        .saturating_sub(name_width + shape_width + numbers_width + 2)
        .max(1);
    let fastest = finished
        .iter()
        .map(|c| c.req_per_s)
        .fold(0.0, f64::max)
        .max(1.0);
    let shown = finished.len().saturating_sub(inner.height as usize);
    let lines: Vec<Line<'static>> = finished[shown..]
        .iter()
        .map(|cell| {
            let colour =
                ENGINE_COLOURS[engines.iter().position(|e| *e == cell.engine).unwrap_or(0)
                    % ENGINE_COLOURS.len()];
            let length = ((cell.req_per_s / fastest) * bar_room as f64).round() as usize;
            let p99 = cell.p99_us.map_or_else(|| "-".to_string(), micros);
            let mut spans = vec![
                Span::raw(format!(
                    "{:<name_width$} {:<shape_width$} ",
                    cell.engine, cell.shape
                )),
                Span::styled(
                    format!("{:<bar_room$}", "█".repeat(length.max(1))),
                    Style::new().fg(colour),
                ),
                Span::raw(format!(" {:>6}/s {:>7}", short_number(cell.req_per_s), p99)),
            ];
            if cell.errors > 0 {
                spans.push(Span::styled(
                    format!(" {} err", thousands(cell.errors)),
                    Style::new().fg(Color::Red),
                ));
            }
            Line::from(spans)
        })
        .collect();
    let body = if lines.is_empty() {
        Paragraph::new("none yet: each run adds a bar when it ends")
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(body.block(block), area);
}

/// The latency histogram of every answer so far: the share of answers
/// in each 1-2-5 bucket.
fn draw_histogram(frame: &mut Frame<'_>, area: Rect, run: Option<&RunView>) {
    // (Too narrow at 80 columns to say "previous run": the panes above do.)
    let block = Block::bordered().title(" latency histogram ");
    let inner_width = block.inner(area).width;
    // Bars at least as wide as their labels (`200µ`), with a gap.
    let most = (inner_width / 5).max(1) as usize;
    let buckets = run.map(|run| run.histogram(most)).unwrap_or_default();
    if buckets.is_empty() {
        frame.render_widget(Paragraph::new("no answers yet").block(block), area);
        return;
    }
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    let bar_width = (inner_width / buckets.len() as u16)
        .saturating_sub(1)
        .clamp(4, 7);
    let bars: Vec<Bar<'static>> = buckets
        .iter()
        .map(|bucket| {
            let percent = bucket.count as f64 * 100.0 / total.max(1) as f64;
            let text = if bucket.count > 0 && percent < 0.5 {
                "<1%".to_string() // a few, not none
            } else {
                format!("{percent:.0}%")
            };
            Bar::default()
                .value(bucket.count)
                .text_value(text)
                .label(Line::from(short_micros(bucket.upper_us)))
        })
        .collect();
    let chart = BarChart::default()
        .block(block)
        .bar_width(bar_width)
        .bar_gap(1)
        .bar_style(Style::new().fg(Color::Green))
        .value_style(Style::new().fg(Color::Black).bg(Color::Green))
        .data(BarGroup::default().bars(&bars));
    frame.render_widget(chart, area);
}

/// The last progress lines that fit.
fn draw_log(frame: &mut Frame<'_>, area: Rect, dashboard: &Dashboard) {
    if area.height < 3 {
        return;
    }
    let room = area.height as usize - 2;
    let skip = dashboard.lines.len().saturating_sub(room);
    let lines: Vec<Line<'_>> = dashboard
        .lines
        .iter()
        .skip(skip)
        .map(|line| Line::from(line.as_str()).dim())
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" progress ")),
        area,
    );
}

/// `850 µs`, `1.25 ms`, `12.3 ms`, `1.20 s`.
pub(crate) fn micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=9_999 => format!("{:.2} ms", us as f64 / 1e3),
        10_000..=999_999 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

/// A bucket bound in at most 4 characters: `50µ`, `1m`, `200m`, `2s`
/// (`1m` is a millisecond).
fn short_micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µ"),
        1_000..=999_999 => format!("{}m", us / 1_000),
        _ => format!("{}s", us / 1_000_000),
    }
}

/// `950`, `12.3k`, `1.25M`.
fn short_number(value: f64) -> String {
    if value < 1e3 {
        format!("{value:.0}")
    } else if value < 1e6 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{:.2}M", value / 1e6)
    }
}

/// `12,345`.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::live::{CellHeader, Event};
    use crate::load::progress::State;
    use crate::load::{ErrorKind, Interval, RunEvent};

    /// The screen as text lines, drawn at `width`×`height`.
    fn screen(dashboard: &Dashboard, now: Instant, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, dashboard, now)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect())
            .collect()
    }

    /// The line holding `text`, or a failure that shows the screen.
    fn line_with<'s>(screen: &'s [String], text: &str) -> &'s str {
        screen
            .iter()
            .find(|line| line.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} on the screen:\n{}", screen.join("\n")))
    }

    /// One load thread's second: `answers` of (count, latency µs).
    fn second(number: u64, answers: &[(u64, u64)]) -> Event {
        let mut interval = Interval::new(number, false);
        for &(count, latency_us) in answers {
            for _ in 0..count {
                interval.record_answer(64, latency_us, latency_us);
            }
        }
        Event::Run(RunEvent::Interval(Box::new(interval)))
    }

    /// A 5 s run of 10 connections, measuring since `start`: second 0
    /// answered 1,000 at 200 µs, second 1 2,000 at 300 µs and 100 at 5 ms
    /// over two threads, with 3 timeouts.
    fn five_second_run(dashboard: &mut Dashboard, start: Instant) {
        dashboard.apply(Event::Run(RunEvent::Started {
            connections: 10,
            measured: Duration::from_secs(5),
            requests: None,
        }));
        dashboard.apply(Event::Run(RunEvent::Progress(State {
            up: 10,
            open: 9,
            connections: 10,
            measure_start: Some(start),
            requests: 0,
            errors: 0,
        })));
        dashboard.apply(second(0, &[(1000, 200)]));
        dashboard.apply(second(1, &[(1500, 300)]));
        let mut slow = Interval::new(1, false);
        for _ in 0..500 {
            slow.record_answer(64, 300, 300);
        }
        for _ in 0..100 {
            slow.record_answer(64, 5000, 5000);
        }
        for _ in 0..3 {
            slow.errors.add(ErrorKind::Timeout);
        }
        dashboard.apply(Event::Run(RunEvent::Interval(Box::new(slow))));
    }

    /// Given two seconds of data, the load view shows the phase, the last
    /// second's and the overall percentiles, answers and rate, open
    /// connections, errors by kind, the chart's scale and the histogram.
    #[test]
    fn load_view_shows_the_per_second_figures() {
        let start = Instant::now();
        let mut dashboard = Dashboard::for_load("sockbench load 127.0.0.1:7000".to_string());
        five_second_run(&mut dashboard, start);
        let now = start + Duration::from_millis(2500);
        let screen = screen(&dashboard, now, 120, 35);
        line_with(&screen, "measuring: 2.5 s of 5.0 s, 2.5 s left");
        let last = line_with(&screen, "second 1");
        assert!(
            last.contains("300 µs") && last.contains("5.00 ms"),
            "{last}"
        );
        let overall = line_with(&screen, "overall");
        assert!(
            overall.contains("300 µs") && overall.contains("5.00 ms"),
            "{overall}"
        );
        // 3,100 answers in the 2 s reported so far.
        let answers = line_with(&screen, "answers");
        assert!(
            answers.contains("3,100") && answers.contains("1,550/s"),
            "{answers}"
        );
        line_with(&screen, "9 of 10");
        line_with(&screen, "timeout 3");
        // The busiest second, 2,100 req/s, is under the top of the scale.
        line_with(&screen, "2.4k");
        // 1,000 of 3,100 at most 200 µs, 2,000 at most 500 µs, 100 above 5 ms.
        let bars = line_with(&screen, "65%");
        assert!(bars.contains("32%") && bars.contains("3%"), "{bars}");
    }

    /// Before measuring, the view says the connections are being opened,
    /// and how many are up.
    #[test]
    fn load_view_shows_the_ramp() {
        let start = Instant::now();
        let mut dashboard = Dashboard::for_load("load".to_string());
        dashboard.apply(Event::Run(RunEvent::Started {
            connections: 100,
            measured: Duration::from_secs(5),
            requests: None,
        }));
        dashboard.apply(Event::Run(RunEvent::Progress(State {
            up: 40,
            open: 40,
            connections: 100,
            measure_start: None,
            requests: 0,
            errors: 0,
        })));
        let screen = screen(&dashboard, start, 120, 35);
        line_with(&screen, "opening connections: 40 of 100 up");
        line_with(&screen, "no answers yet");
    }

    /// At 80×24 the compare view still shows the run under way, its
    /// figures, and every finished run as a bar with its req/s, p99 and
    /// errors; the faster server's bar is the longer; q's effect is said.
    #[test]
    fn compare_view_fits_80_by_24_and_grows_bars() {
        let start = Instant::now();
        let mut dashboard = Dashboard::for_compare("sockbench compare smoke".to_string());
        for (engine, req_per_s, p99_us, errors) in [
            ("iterative", 12_000.0, 310, 3),
            ("reactor", 50_000.0, 800, 0),
        ] {
            dashboard.apply(Event::Finished(FinishedCell {
                engine: engine.to_string(),
                shape: "4 conn".to_string(),
                req_per_s,
                p99_us: Some(p99_us),
                errors,
            }));
        }
        dashboard.apply(Event::Cell(CellHeader {
            number: 3,
            of: 8,
            label: "threaded echo work=none 64B pipeline=1 connections=10".to_string(),
        }));
        five_second_run(&mut dashboard, start);
        dashboard.stopping = true;
        let screen = screen(&dashboard, start + Duration::from_secs(1), 80, 24);
        line_with(&screen, "run 3 of 8: threaded echo");
        line_with(&screen, "q pressed: stopping after this run");
        let overall = line_with(&screen, "overall");
        assert!(overall.contains("5.00 ms"), "{overall}");
        let reactor = line_with(&screen, "reactor   4 conn");
        assert!(
            reactor.contains("50.0k/s") && reactor.contains("800 µs"),
            "{reactor}"
        );
        let iterative = line_with(&screen, "iterative 4 conn");
        assert!(
            iterative.contains("12.0k/s") && iterative.contains("3 err"),
            "{iterative}"
        );
        // The narrow histogram counts in powers of ten: 3,000 of 3,100 at
        // most 1 ms.
        let histogram = line_with(&screen, "97%");
        assert!(histogram.contains("3%"), "{histogram}");
        line_with(&screen, "1m   ");
        // The bars' pane only, not the histogram beside it.
        let bar = |line: &str| line.split("││").next().unwrap().matches('█').count();
        assert!(bar(reactor) > 3 * bar(iterative), "{reactor}\n{iterative}");
    }

    /// Until the run under way has a second to show, compare shows the
    /// previous run's figures, and says so; then the new run's.
    #[test]
    fn compare_view_shows_the_previous_run_until_the_new_one_has_a_second() {
        let start = Instant::now();
        let mut dashboard = Dashboard::for_compare("compare".to_string());
        five_second_run(&mut dashboard, start);
        let header = |number| CellHeader {
            number,
            of: 2,
            label: format!("run {number}"),
        };
        dashboard.apply(Event::Cell(header(2)));
        dashboard.apply(Event::Run(RunEvent::Started {
            connections: 1,
            measured: Duration::from_secs(5),
            requests: None,
        }));
        let now = start + Duration::from_secs(1);
        let before = screen(&dashboard, now, 120, 35);
        line_with(&before, "latency (previous run)");
        assert!(line_with(&before, "overall").contains("5.00 ms"));
        dashboard.apply(second(0, &[(10, 40)]));
        let after = screen(&dashboard, now, 120, 35);
        assert!(!after.iter().any(|line| line.contains("previous run")));
        assert!(line_with(&after, "overall").contains("40 µs"));
    }

    /// A later round of a cell replaces its bar instead of adding one.
    #[test]
    fn a_later_round_replaces_the_bar_of_its_cell() {
        let mut dashboard = Dashboard::for_compare("compare".to_string());
        for req_per_s in [1000.0, 2000.0] {
            dashboard.apply(Event::Finished(FinishedCell {
                engine: "pool".to_string(),
                shape: "1 conn".to_string(),
                req_per_s,
                p99_us: None,
                errors: 0,
            }));
        }
        let screen = screen(&dashboard, Instant::now(), 80, 24);
        assert_eq!(
            screen
                .iter()
                .filter(|line| line.contains("pool 1 conn"))
                .count(),
            1
        );
        line_with(&screen, "2.0k/s");
    }

    /// Durations read as a person would say them.
    #[test]
    fn micros_pick_a_readable_unit() {
        assert_eq!(micros(850), "850 µs");
        assert_eq!(micros(1_250), "1.25 ms");
        assert_eq!(micros(12_345), "12.3 ms");
        assert_eq!(micros(1_200_000), "1.20 s");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
