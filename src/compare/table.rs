//! The comparison as an aligned text table, for the terminal and the README.
//!
//! Besides throughput and latency, each line says how busy the server and
//! the load generator were: CPU time over the measured window, as a share
//! of one core. Those two columns are how a reader checks that a cell
//! measured the server and not the generator. The steal column says how
//! much of the machine the hypervisor took meanwhile (`!` above 0.1 core).

use super::record::{CellRecord, CellSummary};
use super::steal::{steal, steal_note};

/// With `--pin` the generator has one core: a cell in which it used this
/// share of it or more may have been limited by the generator, and is
/// marked.
pub const GENERATOR_SATURATED_PERCENT: f64 = 95.0;

/// Headings of the columns that say which cell a line is ([`cell_columns`]).
const CELL_HEADINGS: [&str; 6] = ["engine", "service", "work", "conns", "pipe", "size"];

/// Headings of the main table after the cell's; the widths adapt to the content.
const HEADINGS: [&str; 11] = [
    "req/s",
    "MB/s",
    "p50 µs",
    "p99 µs",
    "p99.9 µs",
    "max µs",
    "errors",
    "srv cpu%",
    "load cpu%",
    "steal",
    "bound",
];

/// What a row of a server that is only loaded (`--target`, named in
/// `unmeasured`) shows where the server's cost would be.
const UNMEASURED: &str = "n/a (target)";

/// Render one line per cell, numbers right-aligned: the median round's
/// figures, with the req/s range when the cell ran in several rounds.
/// The servers named in `unmeasured` show no server cost.
pub fn render(cells: &[CellSummary], unmeasured: &[&str]) -> String {
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|cell| cells_of(cell, unmeasured.contains(&cell.median.engine.as_str())))
        .collect();
    let table = align(&[&CELL_HEADINGS[..], &HEADINGS].concat(), &rows, 3);
    let stolen = cells
        .iter()
        .map(|cell| (cell.median.engine.as_str(), cell.median.steal_cores));
    table + &steal_note(stolen)
}

/// The text of each column for one cell; `unmeasured`: no server cost.
fn cells_of(cell: &CellSummary, unmeasured: bool) -> Vec<String> {
    let record = &cell.median;
    let latency = |us: Option<u64>| us.map_or_else(|| "-".to_string(), |us| us.to_string());
    let errors = if record.errors_by_kind.is_empty() {
        record.errors.to_string()
    } else {
        format!("{} ({})", record.errors, record.errors_by_kind)
    };
    let mut columns = cell_columns(record);
    columns.extend([
        req_per_s_text(cell),
        format!("{:.2}", record.mb_per_s),
        latency(record.p50_us),
        latency(record.p99_us),
        latency(record.p999_us),
        latency(record.max_us),
        errors,
        if unmeasured {
            UNMEASURED.to_string()
        } else {
            percent_of_core_text(record.server_cpu_s, record.duration_s)
        },
        percent_of_core_text(record.client_cpu_s, record.duration_s)
            + if generator_saturated(record) { "*" } else { "" },
        steal(record.steal_cores),
        bottleneck(record).to_string(),
    ]);
    columns
}

/// The columns that say which cell a line is: engine, service, work,
/// connections (with the idle ones held beside them, if any), pipeline
/// depth, request size.
fn cell_columns(record: &CellRecord) -> Vec<String> {
    let connections = match record.idle {
        0 => record.connections.to_string(),
        idle => format!("{}+{idle} idle", record.connections),
    };
    vec![
        record.engine.clone(),
        record.service.clone(),
        record.work.clone(),
        connections,
        record.pipeline.to_string(),
        record.size.to_string(),
    ]
}

/// Requests per second; for a cell run in several rounds, the median
/// run's with the lowest and highest run after it.
fn req_per_s_text(cell: &CellSummary) -> String {
    if cell.runs > 1 {
        format!(
            "{:.0} ({:.0}-{:.0})",
            cell.median.req_per_s, cell.req_per_s_min, cell.req_per_s_max
        )
    } else {
        format!("{:.0}", cell.median.req_per_s)
    }
}

/// Headings of the cost-per-request table after the cell's.
const COST_HEADINGS: [&str; 8] = [
    "srv cpu µs",
    "srv syscalls",
    "srv vol cs",
    "srv invol cs",
    "load cpu µs",
    "load syscalls",
    "load vol cs",
    "load invol cs",
];

/// What one request cost each side, per cell: CPU time in µs and
/// voluntary and involuntary context switches from the median round, and
/// system calls from the counting round, each divided by the requests
/// answered in that run. `n/a` where a count could not be taken, and for
/// the server of a row named in `unmeasured`.
pub fn render_costs(cells: &[CellSummary], unmeasured: &[&str]) -> String {
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|cell| {
            let r = &cell.median;
            let per_request_of = |run: &CellRecord, count: Option<f64>, decimals: usize| match count
            {
                Some(count) if run.requests > 0 => {
                    format!("{:.*}", decimals, count / run.requests as f64)
                }
                Some(_) => "-".to_string(),
                None => "n/a".to_string(),
            };
            let per = |count: Option<f64>, decimals: usize| per_request_of(r, count, decimals);
            let n = |count: Option<u64>| count.map(|c| c as f64);
            let syscalls = |side: fn(&CellRecord) -> Option<u64>| match &cell.counting {
                Some(run) => per_request_of(run, n(side(run)), 2),
                None => "n/a".to_string(),
            };
            let mut columns = cell_columns(r);
            if unmeasured.contains(&r.engine.as_str()) {
                columns.extend([UNMEASURED, "n/a", "n/a", "n/a"].map(String::from));
            } else {
                columns.extend([
                    per(Some(r.server_cpu_s * 1e6), 2),
                    syscalls(|run| run.server_syscalls),
                    per(n(r.server_vcsw), 3),
                    per(n(r.server_ivcsw), 3),
                ]);
            }
            columns.extend([
                per(Some(r.client_cpu_s * 1e6), 2),
                syscalls(|run| run.client_syscalls),
                per(n(r.client_vcsw), 3),
                per(n(r.client_ivcsw), 3),
            ]);
            columns
        })
        .collect();
    align(&[&CELL_HEADINGS[..], &COST_HEADINGS].concat(), &rows, 3)
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
/// Side by side, two runs share the generator's core: their sum counts.
pub fn generator_saturated(record: &CellRecord) -> bool {
    let core_cpu_s = record.load_core_cpu_s.unwrap_or(record.client_cpu_s);
    record.pinned
        && percent_of_core(core_cpu_s, record.duration_s)
            .is_some_and(|percent| percent >= GENERATOR_SATURATED_PERCENT)
}

/// The server used (nearly) all of its CPU quota: the cell measured the
/// server. Without a quota this cannot be told from CPU time alone.
pub fn server_saturated(record: &CellRecord) -> bool {
    match (
        record.server_cpu_quota,
        percent_of_core(record.server_cpu_s, record.duration_s),
    ) {
        (Some(quota), Some(percent)) => percent >= GENERATOR_SATURATED_PERCENT * quota,
        _ => false,
    }
}

/// Which side limited the cell: `server` (it used 95% or more of its CPU
/// quota), `load` (the pinned generator used 95% or more of its core),
/// `both`, or `neither` (a server waiting on something else: sleeps,
/// timeouts, one client at a time). `-` when neither side has a limit to
/// be measured against (no quota, no pinning).
pub fn bottleneck(record: &CellRecord) -> &'static str {
    match (server_saturated(record), generator_saturated(record)) {
        (true, true) => "both",
        (true, false) => "server",
        (false, true) => "load",
        (false, false) if record.server_cpu_quota.is_some() || record.pinned => "neither",
        (false, false) => "-",
    }
}

/// An aligned text table: a heading line, a rule, one line per row; the
/// first `text_columns` left-aligned, the rest (numbers) right-aligned.
pub fn align(headings: &[&str], rows: &[Vec<String>], text_columns: usize) -> String {
    let mut widths: Vec<usize> = headings.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let headings: Vec<String> = headings.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&headings).chain(rows) {
        let mut line = String::new();
        for (column, (cell, &width)) in row.iter().zip(&widths).enumerate() {
            if column > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(width - cell.chars().count());
            if column < text_columns {
                line.push_str(cell);
                line.push_str(&pad);
            } else {
                line.push_str(&pad);
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if std::ptr::eq(row, &headings) {
            let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
            out.push_str(rule.join("  ").trim_end());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::{summarise, tests::sample};

    /// One heading line, one rule, one line per record, columns aligned.
    #[test]
    fn table_has_one_aligned_line_per_record() {
        let mut failed = sample("iterative", 1000, 3.0, None);
        failed.errors = 990;
        failed.errors_by_kind = "timeout=990".to_string();
        let table = render(
            &summarise(&[sample("reactor", 100, 51234.4, Some(812)), failed]),
            &[],
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("engine"));
        assert!(lines[1].starts_with("------"));
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
        unpinned.engine = "tokio".to_string();
        unpinned.pinned = false;
        let table = render(
            &summarise(&[calm.clone(), saturated.clone(), unpinned.clone()]),
            &[],
        );
        let lines: Vec<&str> = table.lines().collect();
        // srv cpu%, load cpu%, steal, bound.
        let last = |line: &str| -> Vec<String> {
            let words: Vec<&str> = line.split_whitespace().collect();
            words[words.len() - 4..]
                .iter()
                .map(|w| w.to_string())
                .collect()
        };
        assert_eq!(last(lines[2]), ["83.3", "66.7", "-", "-"], "{}", lines[2]);
        assert_eq!(last(lines[3])[1..], ["96.7*", "-", "load"], "{}", lines[3]);
        assert_eq!(last(lines[4])[1..], ["96.7", "-", "-"], "{}", lines[4]);
        assert!(!generator_saturated(&calm));
        // Steal above 0.1 core is shown, marked and noted under the table.
        let mut stolen = calm.clone();
        stolen.steal_cores = Some(0.36);
        let table = render(&summarise(&[stolen]), &[]);
        assert_eq!(last(table.lines().nth(2).unwrap())[2], "0.36!", "{table}");
        assert!(
            table.contains("during the window of reactor (0.36)"),
            "{table}"
        );
        assert!(generator_saturated(&saturated));
        assert!(!generator_saturated(&unpinned));
    }

    /// The bound column names the side that used up its share: the
    /// server against its quota, the pinned generator against its core.
    #[test]
    fn bottleneck_names_the_side_that_used_up_its_share() {
        let mut row = sample("reactor", 100, 50000.0, Some(800)); // 3 s window
        row.server_cpu_quota = Some(0.5);
        row.server_cpu_s = 1.47; // 98% of half a core
        assert_eq!(bottleneck(&row), "server");
        row.server_cpu_s = 1.2; // 80%: waiting on something else
        assert_eq!(bottleneck(&row), "neither");
        row.pinned = true;
        row.client_cpu_s = 2.95;
        assert_eq!(bottleneck(&row), "load");
        row.server_cpu_s = 1.5;
        assert_eq!(bottleneck(&row), "both");
        // Side by side, the run's own threads used half the core, but the
        // two runs together filled it.
        row.client_cpu_s = 1.45;
        row.load_core_cpu_s = Some(2.9);
        assert_eq!(bottleneck(&row), "both");
        row.load_core_cpu_s = Some(1.6);
        assert_eq!(bottleneck(&row), "server");
        let plain = sample("reactor", 100, 50000.0, Some(800));
        assert_eq!(bottleneck(&plain), "-");
    }

    /// A cell run in several rounds shows its median req/s and the range;
    /// a cell run once shows the figure alone.
    #[test]
    fn repeated_cells_show_their_req_per_s_range() {
        let rows: Vec<CellRecord> = [150_000.4, 120_000.0, 180_000.0]
            .into_iter()
            .enumerate()
            .map(|(round, rate)| {
                let mut row = sample("reactor", 100, rate, Some(900));
                row.round = round as u64 + 1;
                row
            })
            .collect();
        let summary = &summarise(&rows)[0];
        assert_eq!(req_per_s_text(summary), "150000 (120000-180000)");
        assert_eq!(req_per_s_text(&summarise(&rows[..1])[0]), "150000");
    }

    /// Costs are per request answered in the run they were counted in
    /// (system calls: the counting round); a count that could not be
    /// taken is `n/a`, not zero.
    #[test]
    fn costs_are_per_request_and_missing_counts_say_n_a() {
        let mut row = sample("reactor", 100, 1000.0, Some(800)); // 3000 requests
        row.server_cpu_s = 0.015; // 5 µs each
        row.server_vcsw = Some(300);
        let mut counting = row.clone();
        counting.round = 0;
        counting.requests = 1000;
        counting.server_syscalls = Some(2000);
        counting.client_syscalls = None;
        let table = render_costs(&summarise(&[row.clone(), counting]), &[]);
        let line = table.lines().nth(2).unwrap();
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cells[6..10], ["5.00", "2.00", "0.100", "0.003"], "{line}");
        assert_eq!(cells[11], "n/a", "{line}");
        let uncounted = render_costs(&summarise(&[row.clone()]), &[]);
        let target = render_costs(&summarise(&[row]), &["reactor"]);
        assert!(target.contains("n/a (target)"), "{target}");
        let line = uncounted.lines().nth(2).unwrap();
        assert_eq!(line.split_whitespace().nth(7), Some("n/a"), "{line}");
    }
}
