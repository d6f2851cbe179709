//! The text of a comparison as it runs: each run's label and headline
//! figures on the progress output, the live view's bars, the ETA, and the
//! notes printed under the tables. The tables themselves are
//! [`table`]'s and [`verdict`](super::verdict)'s.

use std::time::Duration;

use super::matrix::{Cell, Contender, Transport};
use super::record::{CellRecord, CellSummary};
use super::table;
use crate::live::FinishedCell;

/// What a run is, as progress and the live view name it: its round
/// (`counting round (system calls): `, `round 2 of 10: `, nothing with
/// one round), the cell, and the cell run beside it, if any. `runs` is
/// [`Step::runs`](super::plan::Step::runs): the step's cell first.
pub fn run_label(round: u64, rounds: usize, runs: &[Cell]) -> String {
    let round_label = match round {
        0 => "counting round (system calls): ".to_string(),
        round if rounds > 1 => format!("round {round} of {rounds}: "),
        _ => String::new(),
    };
    let beside_label = match runs.get(1) {
        Some(other) => format!(", beside {}", other.contender),
        None => String::new(),
    };
    format!("{round_label}{}{beside_label}", runs[0])
}

/// `  (ETA 1m 12s)` from the average time of the runs done so far, or from
/// the planned durations of the runs (`planned`, one per run) before the
/// first one is done.
pub fn eta(elapsed: Duration, done: usize, planned: &[Duration]) -> String {
    let remaining = &planned[done..];
    let estimate = if done == 0 {
        remaining.iter().sum::<Duration>()
    } else {
        elapsed / done as u32 * remaining.len() as u32
    };
    let rounded = Duration::from_secs(estimate.as_secs());
    format!("  (ETA {})", humantime::format_duration(rounded))
}

/// Under the table: what a `*` in the load CPU column means, when a
/// cell has one (empty otherwise).
pub fn saturation_note(cells: &[CellSummary]) -> String {
    let saturated = cells
        .iter()
        .filter(|cell| table::generator_saturated(&cell.median))
        .count();
    if saturated == 0 {
        return String::new();
    }
    format!(
        "\n* in {saturated} of {} cells the pinned load generator used {}% or more of its core: \
         their req/s may be the generator's limit rather than the server's, \
         so read them as a lower bound for the server.\n",
        cells.len(),
        table::GENERATOR_SATURATED_PERCENT,
    )
}

/// Under the table: what each server sockbench did not write is (the
/// model a production server embodies, that a target is not measured);
/// empty when there is none.
pub fn foreign_note(contenders: &[Contender]) -> String {
    let lines: Vec<String> = contenders
        .iter()
        .filter_map(|contender| match contender {
            Contender::Foreign(foreign) => Some(format!("  {}\n", foreign.describe())),
            _ => None,
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!("\nServers sockbench did not write:\n{}", lines.concat())
}

/// Under the table, side by side: how many paired runs had a server that
/// did not use its quota. Equal quotas make a pair's req/s ratio its cost
/// ratio only while both servers use them up; a server short of its quota
/// (the machine busy with other work, or the server waiting on something)
/// got what the scheduler gave it, and the pair's ratio says less.
pub fn side_by_side_note(records: &[CellRecord]) -> String {
    let paired: Vec<&CellRecord> = records
        .iter()
        .filter(|r| r.round > 0 && r.beside.is_some())
        .collect();
    let short = paired
        .iter()
        .filter(|r| !table::server_saturated(r))
        .count();
    if short == 0 {
        return String::new();
    }
    format!(
        "\nSide by side, {short} of {} runs had a server below {}% of its quota (bound neither or load): \
         there the two servers did not share the core by their quotas alone, and the ratio of that \
         pair reflects the scheduler as well as the servers' cost. On a machine busy with other \
         work, rerun when it is quiet.\n",
        paired.len(),
        table::GENERATOR_SATURATED_PERCENT,
    )
}

/// A finished run as the live view's bar chart shows it: the server, and
/// the cell's shape in short (`100 conn`, plus what differs from a plain
/// 64-byte echo over TCP/IPv4).
pub fn finished_cell(cell: &Cell, record: &CellRecord) -> FinishedCell {
    let mut shape = format!("{} conn", cell.connections);
    if cell.pipeline > 1 {
        shape.push_str(&format!(" x{}", cell.pipeline));
    }
    if cell.size_bytes != 64 {
        shape.push_str(&format!(" {}B", cell.size_bytes));
    }
    if cell.service != crate::service::ServiceKind::Echo.into() {
        shape.push_str(&format!(" {}", cell.service));
    }
    if cell.work != crate::engine::Work::None {
        shape.push_str(&format!(" {}", cell.work));
    }
    if cell.transport != Transport::Tcp4 {
        shape.push_str(&format!(" {}", cell.transport));
    }
    FinishedCell {
        engine: record.engine.clone(),
        shape,
        req_per_s: record.req_per_s,
        p99_us: record.p99_us,
        errors: record.errors,
    }
}

/// One line of headline figures for the progress output.
pub fn headline(record: &CellRecord) -> String {
    let latency = |us: Option<u64>| us.map_or_else(|| "-".to_string(), |us| format!("{us}µs"));
    let mut line = format!(
        "{:.0} req/s, p50 {}, p99 {}, server {:.2} s CPU, {} KiB peak, load {:.2} s CPU",
        record.req_per_s,
        latency(record.p50_us),
        latency(record.p99_us),
        record.server_cpu_s,
        record.server_rss_kb,
        record.client_cpu_s
    );
    if let (Some(syscalls), true) = (record.server_syscalls, record.requests > 0) {
        line.push_str(&format!(
            ", server {:.2} syscalls/req",
            syscalls as f64 / record.requests as f64
        ));
    }
    if let b @ ("server" | "load" | "both") = table::bottleneck(record) {
        line.push_str(&format!(", bound: {b}"));
    }
    if record.errors > 0 {
        line.push_str(&format!(
            ", {} errors ({})",
            record.errors, record.errors_by_kind
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::matrix::{Contender, MatrixSpec};
    use crate::compare::record::{self, tests::sample};

    /// A run's label names its round, the cell and what runs beside it.
    #[test]
    fn run_label_names_round_cell_and_partner() {
        let spec = MatrixSpec {
            contenders: vec![Contender::Tokio, Contender::EpollRaw],
            connections: vec![10],
            ..MatrixSpec::default_run()
        };
        let cells = spec.cells().cells;
        let alone = run_label(1, 1, &cells[..1]);
        assert_eq!(alone, cells[0].to_string());
        let paired = run_label(2, 10, &cells);
        assert_eq!(
            paired,
            format!("round 2 of 10: {}, beside epoll-raw", cells[0])
        );
        assert!(run_label(0, 10, &cells[..1]).starts_with("counting round (system calls): "));
    }

    /// Side by side, the note counts the runs whose server fell short of
    /// its quota, and is absent when every server used it up.
    #[test]
    fn side_by_side_note_counts_servers_short_of_their_quota() {
        let mut full = sample("reactor", 100, 50000.0, Some(800)); // 3 s window
        full.server_cpu_quota = Some(0.4);
        full.server_cpu_s = 1.2;
        full.beside = Some("epoll-raw".to_string());
        assert_eq!(side_by_side_note(std::slice::from_ref(&full)), "");
        let mut short = full.clone();
        short.server_cpu_s = 0.6;
        let note = side_by_side_note(&[full.clone(), short]);
        assert!(note.contains("1 of 2 runs"), "{note}");
        let mut alone = full;
        alone.beside = None;
        alone.server_cpu_s = 0.6;
        assert_eq!(
            side_by_side_note(&[alone]),
            "",
            "runs taking turns have no such note"
        );
    }

    /// The note counts the cells whose pinned generator filled its core,
    /// and is absent when there are none.
    #[test]
    fn saturation_note_counts_the_cells_whose_generator_filled_its_core() {
        let calm = sample("reactor", 100, 50000.0, Some(800));
        assert_eq!(
            saturation_note(&record::summarise(std::slice::from_ref(&calm))),
            ""
        );
        let mut full = sample("epoll-raw", 1000, 90000.0, Some(900));
        full.pinned = true;
        full.client_cpu_s = full.duration_s;
        let note = saturation_note(&record::summarise(&[calm, full]));
        assert!(note.contains("in 1 of 2 cells"), "{note}");
    }
}
