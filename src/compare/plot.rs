//! SVG plots drawn from a comparison's CSV alone, so `sockbench plot
//! results/NAME.csv` redraws them at any time.
//!
//! The CSV is cut into *slices*: rows sharing service, work, size and
//! pipeline. Each slice gets three charts, one line per engine:
//! - `-throughput.svg`: requests/s against connections (log x);
//! - `-p99.svg`: p99 latency against connections (log x, log y);
//! - `-latency.svg`: the latency percentile curve (p50, p90, p99, p99.9,
//!   max: the points the CSV keeps) at one concurrency, 100 connections
//!   when the slice has it.
//!
//! A point drawn as a cross instead of a dot is a cell that had errors
//! (timeouts, refused or reset connections, wrong answers): its figures
//! describe only the requests that were answered; the CSV has the counts.
//!
//! The first slice in the file (echo, no work, 64 B, pipeline 1 in the
//! default run) is drawn to `NAME-throughput.svg` and so on; the others to
//! `NAME-SLICE-throughput.svg`, e.g. `NAME-echo-sleep-1ms-4096B-p16-p99.svg`.

use std::io;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::matrix::Contender;
use super::record::{self, CellRecord};

/// Chart size in pixels.
const CHART_SIZE: (u32, u32) = (900, 560);

/// The concurrency the latency-distribution chart prefers.
pub const DEFAULT_LATENCY_CONNECTIONS: u64 = 100;

/// Read `csv` and draw every chart beside it (a cell run in several rounds
/// is drawn from its median round); returns the files written.
/// `latency_connections` picks the concurrency of the percentile chart.
pub fn plot_csv(csv: &Path, latency_connections: Option<u64>) -> io::Result<Vec<PathBuf>> {
    let records = record::read_csv(csv)?;
    if records.is_empty() {
        return Err(io::Error::other(format!(
            "{} has no rows: nothing to plot",
            csv.display()
        )));
    }
    let stem = csv.with_extension("");
    let medians: Vec<CellRecord> = record::summarise(&records)
        .into_iter()
        .map(|cell| cell.median)
        .collect();
    plot_records(&medians, &stem, latency_connections)
}

/// Draw every chart for `records` (one row per cell) to files named
/// `<stem>[-SLICE]-KIND.svg`.
pub fn plot_records(
    records: &[CellRecord],
    stem: &Path,
    latency_connections: Option<u64>,
) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (index, slice) in slices(records).iter().enumerate() {
        let prefix = if index == 0 {
            stem.as_os_str().to_owned()
        } else {
            let mut prefix = stem.as_os_str().to_owned();
            prefix.push(format!("-{}", slice.file_tag()));
            prefix
        };
        let path = |kind: &str| {
            let mut name = prefix.clone();
            name.push(format!("-{kind}.svg"));
            PathBuf::from(name)
        };
        let throughput = path("throughput");
        draw_throughput(slice, &throughput)?;
        written.push(throughput);
        let p99 = path("p99");
        draw_p99(slice, &p99)?;
        written.push(p99);
        let latency = path("latency");
        draw_latency(slice, &latency, latency_connections)?;
        written.push(latency);
    }
    Ok(written)
}

/// Rows sharing everything but engine and connections.
#[derive(Debug)]
struct Slice<'a> {
    transport: &'a str,
    service: &'a str,
    work: &'a str,
    size: u64,
    pipeline: u64,
    rows: Vec<&'a CellRecord>,
}

impl Slice<'_> {
    /// The chart subtitle.
    fn title(&self) -> String {
        let over = match self.transport {
            "tcp4" => String::new(),
            other => format!(", over {other}"),
        };
        format!(
            "{} {}B, pipeline {}, work {}{over}",
            self.service, self.size, self.pipeline, self.work
        )
    }

    /// A file-name-safe tag, e.g. `echo-sleep-1ms-4096B-p16`.
    fn file_tag(&self) -> String {
        let work: String = self
            .work
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let over = match self.transport {
            "tcp4" => String::new(),
            other => format!("-{other}"),
        };
        format!(
            "{}-{work}-{}B-p{}{over}",
            self.service, self.size, self.pipeline
        )
    }

    /// Engines in table order (engines, then references), each with its
    /// rows sorted by connections.
    fn by_engine(&self) -> Vec<(&str, Vec<&CellRecord>)> {
        let mut engines: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !engines.contains(&row.engine.as_str()) {
                engines.push(&row.engine);
            }
        }
        engines.sort_by_key(|name| color_index(name));
        engines
            .into_iter()
            .map(|name| {
                let mut rows: Vec<&CellRecord> = self
                    .rows
                    .iter()
                    .copied()
                    .filter(|row| row.engine == name)
                    .collect();
                rows.sort_by_key(|row| row.connections);
                (name, rows)
            })
            .collect()
    }
}

/// Group `records` into slices, in order of first appearance.
fn slices(records: &[CellRecord]) -> Vec<Slice<'_>> {
    let mut slices: Vec<Slice<'_>> = Vec::new();
    for row in records {
        let found = slices.iter_mut().find(|slice| {
            slice.transport == row.transport
                && slice.service == row.service
                && slice.work == row.work
                && slice.size == row.size
                && slice.pipeline == row.pipeline
        });
        match found {
            Some(slice) => slice.rows.push(row),
            None => slices.push(Slice {
                transport: &row.transport,
                service: &row.service,
                work: &row.work,
                size: row.size,
                pipeline: row.pipeline,
                rows: vec![row],
            }),
        }
    }
    slices
}

/// The same colour for the same engine in every chart.
fn color_index(engine: &str) -> usize {
    Contender::all()
        .iter()
        .position(|contender| contender.name() == engine)
        .unwrap_or(Contender::all().len())
}

/// A plotters error as an `io::Error` naming the file.
fn draw_error(path: &Path, err: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("cannot draw {}: {err}", path.display()))
}

/// The x range covering every connection count, with margin, for a log axis.
fn connections_range(slice: &Slice<'_>) -> std::ops::Range<f64> {
    let max = slice
        .rows
        .iter()
        .map(|row| row.connections)
        .max()
        .unwrap_or(1) as f64;
    0.7..(max * 1.5).max(2.0)
}

/// Requests/s against connections, one line per engine.
fn draw_throughput(slice: &Slice<'_>, path: &Path) -> io::Result<()> {
    let err = |e: &dyn std::fmt::Display| draw_error(path, e);
    let root = SVGBackend::new(path, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let top = slice
        .rows
        .iter()
        .map(|row| row.req_per_s)
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("requests/s vs connections: {}", slice.title()),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(connections_range(slice).log_scale(), 0.0..top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_description("connections (log scale)", &slice.rows))
        .y_desc("requests/s")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| err(&e))?;
    for (engine, rows) in slice.by_engine() {
        let points: Vec<Point> = rows
            .iter()
            .map(|row| (row.connections as f64, row.req_per_s, row.errors > 0))
            .collect();
        draw_line(&mut chart, engine, points).map_err(|e| err(&e))?;
    }
    finish(&mut chart).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// p99 latency against connections, one line per engine; cells that
/// answered nothing have no p99 and no point.
fn draw_p99(slice: &Slice<'_>, path: &Path) -> io::Result<()> {
    let err = |e: &dyn std::fmt::Display| draw_error(path, e);
    let root = SVGBackend::new(path, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let p99s = slice.rows.iter().filter_map(|row| row.p99_us);
    let (low, high) = latency_bounds(p99s);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("p99 latency vs connections: {}", slice.title()),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(
            connections_range(slice).log_scale(),
            (low..high).log_scale(),
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_description("connections (log scale)", &slice.rows))
        .y_desc("p99 latency, µs (log scale)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| err(&e))?;
    for (engine, rows) in slice.by_engine() {
        let points: Vec<Point> = rows
            .iter()
            .filter_map(|row| Some((row.connections as f64, row.p99_us? as f64, row.errors > 0)))
            .collect();
        draw_line(&mut chart, engine, points).map_err(|e| err(&e))?;
    }
    finish(&mut chart).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// The percentile curve per engine at one concurrency.
fn draw_latency(slice: &Slice<'_>, path: &Path, wanted: Option<u64>) -> io::Result<()> {
    let err = |e: &dyn std::fmt::Display| draw_error(path, e);
    let connections = chosen_connections(slice, wanted);
    let rows: Vec<&CellRecord> = slice
        .rows
        .iter()
        .copied()
        .filter(|row| row.connections == connections)
        .collect();
    let subset_rows = rows.clone();
    let all_latencies = rows
        .iter()
        .flat_map(|row| row.percentiles().into_iter().filter_map(|(_, us)| us));
    let (low, high) = latency_bounds(all_latencies);
    let root = SVGBackend::new(path, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let labels = ["p50", "p90", "p99", "p99.9", "max"];
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "latency percentiles at {connections} connections: {}",
                slice.title()
            ),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.3..4.3, (low..high).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_description(
            "percentile (the points the CSV keeps: p50, p90, p99, p99.9, max)",
            &subset_rows,
        ))
        .y_desc("latency, µs (log scale)")
        .x_labels(5)
        .x_label_formatter(&|x: &f64| percentile_label(&labels, *x))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| err(&e))?;
    let subset = Slice { rows, ..*slice };
    for (engine, rows) in subset.by_engine() {
        let had_errors = rows[0].errors > 0;
        let points: Vec<Point> = rows[0]
            .percentiles()
            .iter()
            .enumerate()
            .filter_map(|(i, (_, us))| Some((i as f64, (*us)? as f64, had_errors)))
            .collect();
        draw_line(&mut chart, engine, points).map_err(|e| err(&e))?;
    }
    finish(&mut chart).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// The label of category `x` (0 = p50 ... 4 = max), none between them.
fn percentile_label(labels: &[&str], x: f64) -> String {
    let index = x.round();
    if (x - index).abs() > 0.01 || index < 0.0 {
        return String::new();
    }
    labels
        .get(index as usize)
        .copied()
        .unwrap_or("")
        .to_string()
}

/// `wanted` if the slice has it, else 100, else the largest count present.
fn chosen_connections(slice: &Slice<'_>, wanted: Option<u64>) -> u64 {
    let has = |n: u64| slice.rows.iter().any(|row| row.connections == n);
    match wanted {
        Some(n) if has(n) => n,
        _ if has(DEFAULT_LATENCY_CONNECTIONS) => DEFAULT_LATENCY_CONNECTIONS,
        _ => slice
            .rows
            .iter()
            .map(|row| row.connections)
            .max()
            .unwrap_or(1),
    }
}

/// A log-axis range around the latencies given (at least 1 µs .. 10 µs).
fn latency_bounds(latencies_us: impl Iterator<Item = u64>) -> (f64, f64) {
    let (low, high) =
        latencies_us.fold((u64::MAX, 0), |(low, high), us| (low.min(us), high.max(us)));
    if high == 0 {
        return (1.0, 10.0);
    }
    (
        (low.max(1) as f64 / 2.0).max(1.0),
        (high as f64 * 2.0).max(10.0),
    )
}

/// An x, a y, and whether that cell had errors.
type Point = (f64, f64, bool);

/// The x-axis description, plus the marker legend when a cell had errors.
fn x_description(axis: &str, rows: &[&CellRecord]) -> String {
    if rows.iter().any(|row| row.errors > 0) {
        format!("{axis}   (x = cell with errors: see the CSV)")
    } else {
        axis.to_string()
    }
}

/// One engine's line with markers (a dot, or a cross for a cell with
/// errors), and its legend entry.
fn draw_line<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    engine: &str,
    points: Vec<Point>,
) -> Result<(), DrawingAreaErrorKind<<SVGBackend<'a> as DrawingBackend>::ErrorType>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let color = Palette99::pick(color_index(engine));
    let style = color.stroke_width(2);
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|&(x, y, _)| (x, y)),
            style,
        ))?
        .label(engine.to_string())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    chart.draw_series(
        points
            .iter()
            .filter(|p| !p.2)
            .map(|&(x, y, _)| Circle::new((x, y), 3, color.filled())),
    )?;
    chart.draw_series(
        points
            .iter()
            .filter(|p| p.2)
            .map(|&(x, y, _)| Cross::new((x, y), 6, color.stroke_width(2))),
    )?;
    Ok(())
}

/// Draw the legend.
fn finish<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
) -> Result<(), DrawingAreaErrorKind<<SVGBackend<'a> as DrawingBackend>::ErrorType>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::tests::sample;

    /// One slice gives three SVG files with the engines named in them.
    #[test]
    fn plots_are_written_for_each_chart() {
        let dir = std::env::temp_dir().join(format!("sockbench-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut records = Vec::new();
        for (engine, scale) in [("reactor", 1.0), ("iterative", 0.1), ("epoll-raw", 1.2)] {
            for connections in [1, 10, 100, 1000] {
                let p99 = (connections * 10) as f64 / scale;
                records.push(sample(
                    engine,
                    connections,
                    40_000.0 * scale,
                    Some(p99 as u64),
                ));
            }
        }
        // A cell that answered nothing must not break the log axes.
        records.push(sample("iterative", 10_000, 0.0, None));
        let csv = dir.join("run.csv");
        record::write_csv(&csv, &records).unwrap();
        let written = plot_csv(&csv, None).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["run-throughput.svg", "run-p99.svg", "run-latency.svg"]
        );
        for path in &written {
            let svg = std::fs::read_to_string(path).unwrap();
            assert!(svg.starts_with("<svg"), "{}", path.display());
            assert!(svg.contains("reactor") && svg.contains("epoll-raw"));
        }
        assert!(std::fs::read_to_string(&written[2])
            .unwrap()
            .contains("at 100 connections"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Rows that differ in size or work land in separate, tagged slices.
    #[test]
    fn slices_split_on_size_and_work() {
        let mut big = sample("reactor", 10, 1.0, Some(5));
        big.size = 4096;
        big.work = "sleep:1ms".to_string();
        let records = vec![sample("reactor", 10, 1.0, Some(5)), big];
        let slices = slices(&records);
        assert_eq!(slices.len(), 2);
        assert_eq!(slices[1].file_tag(), "echo-sleep-1ms-4096B-p1");
    }
}
