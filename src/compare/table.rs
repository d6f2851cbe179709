//! The comparison as an aligned text table, for the terminal and the README.

use super::record::CellRecord;

/// Column headings; the widths adapt to the content.
const HEADINGS: [&str; 14] = [
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
    "srv cpu s",
];

/// Render `records` as a table, one line per cell, numbers right-aligned.
pub fn render(records: &[CellRecord]) -> String {
    let rows: Vec<[String; 14]> = records.iter().map(cells_of).collect();
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
fn cells_of(record: &CellRecord) -> [String; 14] {
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
        format!("{:.0}", record.req_per_s),
        format!("{:.2}", record.mb_per_s),
        latency(record.p50_us),
        latency(record.p99_us),
        latency(record.p999_us),
        latency(record.max_us),
        errors,
        format!("{:.2}", record.server_cpu_s),
    ]
}

/// Text columns (the first three) left-aligned, numbers right-aligned.
fn push_line(out: &mut String, cells: &[String; 14], widths: &[usize; 14]) {
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
}
