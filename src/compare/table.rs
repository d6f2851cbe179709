//! The comparison as an aligned text table, for the terminal and the README.
//!
//! Besides throughput and latency, each line says how busy the server and
//! the load generator were: CPU time over the measured window, as a share
//! of one core. Those two columns are how a reader checks that a cell
//! measured the server and not the generator.

use super::record::CellRecord;

/// With `--pin` the generator has one core: a cell in which it used this
/// share of it or more may have been limited by the generator, and is
/// marked.
pub const GENERATOR_SATURATED_PERCENT: f64 = 95.0;

/// Column headings; the widths adapt to the content.
const HEADINGS: [&str; 15] = [
    "engine",
    "service",
    "work",
    "conns",
    "pipe",
    "size",
    "req/s",
    "MB/s",
    "p50 µs",
    "p99 µs",
    "p99.9 µs",
    "max µs",
    "errors",
    "srv cpu%",
    "load cpu%",
];

/// Render `records` as a table, one line per cell, numbers right-aligned.
pub fn render(records: &[CellRecord]) -> String {
    let rows: Vec<[String; 15]> = records.iter().map(cells_of).collect();
    let mut widths = HEADINGS.map(|heading| heading.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    push_line(&mut out, &HEADINGS.map(String::from), &widths);
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out.push_str(rule.join("  ").trim_end());
    out.push('\n');
    for row in &rows {
        push_line(&mut out, row, &widths);
    }
    out
}

/// The text of each column for one record.
fn cells_of(record: &CellRecord) -> [String; 15] {
    let latency = |us: Option<u64>| us.map_or_else(|| "-".to_string(), |us| us.to_string());
    let errors = if record.errors_by_kind.is_empty() {
        record.errors.to_string()
    } else {
        format!("{} ({})", record.errors, record.errors_by_kind)
    };
    [
        record.engine.clone(),
        record.service.clone(),
        record.work.clone(),
        record.connections.to_string(),
        record.pipeline.to_string(),
        record.size.to_string(),
        req_per_s_text(record),
        format!("{:.2}", record.mb_per_s),
        latency(record.p50_us),
        latency(record.p99_us),
        latency(record.p999_us),
        latency(record.max_us),
        errors,
        percent_of_core_text(record.server_cpu_s, record.duration_s),
        percent_of_core_text(record.client_cpu_s, record.duration_s)
            + if generator_saturated(record) { "*" } else { "" },
    ]
}

/// Requests per second; for a cell run several times, the median run's
/// with the lowest and highest run after it.
fn req_per_s_text(record: &CellRecord) -> String {
    match (record.runs, record.req_per_s_min, record.req_per_s_max) {
        (runs, Some(min), Some(max)) if runs > 1 => {
            format!("{:.0} ({min:.0}-{max:.0})", record.req_per_s)
        }
        _ => format!("{:.0}", record.req_per_s),
    }
}

/// `cpu_s` over `duration_s` as a percentage of one core; `None` without
/// a measured window.
fn percent_of_core(cpu_s: f64, duration_s: f64) -> Option<f64> {
    (duration_s > 0.0).then(|| 100.0 * cpu_s / duration_s)
}

/// [`percent_of_core`] as a table cell, `-` without a measured window.
fn percent_of_core_text(cpu_s: f64, duration_s: f64) -> String {
    percent_of_core(cpu_s, duration_s).map_or_else(|| "-".to_string(), |p| format!("{p:.1}"))
}

/// The generator, pinned to its one core, kept that core (nearly) full:
/// the cell's throughput may be the generator's limit, not the server's.
/// Unpinned, generator and server share the cores and this cannot be told.
pub fn generator_saturated(record: &CellRecord) -> bool {
    record.pinned
        && percent_of_core(record.client_cpu_s, record.duration_s)
            .is_some_and(|percent| percent >= GENERATOR_SATURATED_PERCENT)
}

/// Text columns (the first three) left-aligned, numbers right-aligned.
fn push_line(out: &mut String, cells: &[String; 15], widths: &[usize; 15]) {
    let mut line = String::new();
    for (column, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        if column > 0 {
            line.push_str("  ");
        }
        let pad = " ".repeat(width - cell.chars().count());
        if column < 3 {
            line.push_str(cell);
            line.push_str(&pad);
        } else {
            line.push_str(&pad);
            line.push_str(cell);
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::tests::sample;

    /// One heading line, one rule, one line per record, columns aligned.
    #[test]
    fn table_has_one_aligned_line_per_record() {
        let mut failed = sample("iterative", 1000, 3.0, None);
        failed.errors = 990;
        failed.errors_by_kind = "timeout=990".to_string();
        let table = render(&[sample("reactor", 100, 51234.4, Some(812)), failed]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("engine"));
        assert!(lines[2].contains("51234") && lines[2].contains("812"));
        assert!(lines[3].contains("990 (timeout=990)"));
        // Right-aligned req/s: the column ends at the same place on each line.
        let end = |line: &str, text: &str| line.find(text).unwrap() + text.len();
        assert_eq!(end(lines[0], "req/s"), end(lines[2], "51234"));
    }

    /// CPU columns are shares of one core over the measured window; only a
    /// pinned generator that filled its core is marked.
    #[test]
    fn cpu_columns_show_shares_of_a_core_and_mark_a_saturated_generator() {
        let calm = sample("reactor", 100, 50000.0, Some(800)); // 2.5 s and 2.0 s of 3 s
        let mut saturated = sample("epoll-raw", 1000, 90000.0, Some(900));
        saturated.client_cpu_s = 2.9;
        saturated.pinned = true;
        let mut unpinned = saturated.clone();
        unpinned.pinned = false;
        let table = render(&[calm.clone(), saturated.clone(), unpinned.clone()]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[2].ends_with("83.3       66.7"), "{}", lines[2]);
        assert!(lines[3].ends_with("96.7*"), "{}", lines[3]);
        assert!(lines[4].ends_with("96.7"), "{}", lines[4]);
        assert!(!generator_saturated(&calm));
        assert!(generator_saturated(&saturated));
        assert!(!generator_saturated(&unpinned));
    }

    /// A cell run several times shows its median req/s and the range; a
    /// cell run once shows the figure alone.
    #[test]
    fn repeated_cells_show_their_req_per_s_range() {
        let mut repeated = sample("reactor", 100, 150_000.4, Some(900));
        repeated.runs = 3;
        repeated.req_per_s_min = Some(120_000.0);
        repeated.req_per_s_max = Some(180_000.0);
        assert_eq!(req_per_s_text(&repeated), "150000 (120000-180000)");
        let once = sample("reactor", 100, 150_000.4, Some(900));
        assert_eq!(req_per_s_text(&once), "150000");
    }
}
