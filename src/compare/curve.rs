//! `compare --scenario idle`: the idle-connections curve, why epoll exists.
//!
//! A `select(2)` or `poll(2)` server hands the kernel its whole set of
//! descriptors on every call, and the kernel scans all of it, busy or
//! not; epoll keeps the set in the kernel and returns only the ready ones
//! (Banga and Mogul, USENIX 1998; Banga, Mogul and Druschel, USENIX 1999;
//! `docs/LECTURE.md`, "Why epoll exists"). So the measure is: a fixed
//! load of [`ACTIVE_CONNECTIONS`] busy connections (closed loop, 64-byte
//! echo) beside I idle ones ([`super::idle`]), for I in [`IDLE_COUNTS`],
//! and how each server's CPU per request grows with I.
//!
//! The scenario is a preset of the ordinary matrix ([`plan`]): the idle
//! counts are its `--idle` dimension, the method is the verdict method's
//! (a CPU quota per server, pinned, paired rounds; `docs/METHOD.md`), and
//! any of those flags may be given to change it. Its own table
//! ([`render`]) adds to compare's the growth factor of each server's CPU
//! per request from I = 0, round by round ([`growth_factors`]).

use super::matrix::{Contender, MatrixSpec, SERVER_SPARE_DESCRIPTORS};
use super::record::{self, CellRecord, CellSummary};
use super::table::align;
use super::verdict::{median_interval, MedianInterval, CONFIDENCE};
use crate::engine::EngineKind;
use crate::load::capacity::SPARE_DESCRIPTORS;
use std::time::Duration;

/// The busy connections of every cell.
pub const ACTIVE_CONNECTIONS: usize = 100;

/// The idle connections held beside them, one cell each.
pub const IDLE_COUNTS: [usize; 3] = [0, 1_000, 10_000];

/// The servers: the readiness family (`select`, `poll`, epoll through
/// mio), completions (`uring`), and a thread per connection.
pub const CONTENDERS: &[Contender] = &[
    Contender::Engine(EngineKind::Select),
    Contender::Engine(EngineKind::Poll),
    Contender::Engine(EngineKind::Reactor),
    Contender::Engine(EngineKind::Uring),
    Contender::Engine(EngineKind::Threaded),
];

/// Rounds of the preset: three give the median round; `--rounds 6` or
/// more gives each growth factor a 95% interval too.
pub const ROUNDS: usize = 3;

/// Each server's CPU quota, as a share of one core: the server is the
/// bottleneck, not the load generator.
pub const SERVER_CPU: f64 = 0.5;

/// Length of each cell's measured window.
pub const CELL_DURATION: Duration = Duration::from_secs(2);

/// The scenario's matrix, and what it had to change to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The cells: [`CONTENDERS`] × the idle counts that fit.
    pub spec: MatrixSpec,
    /// One line per idle count lowered to fit the descriptor limit.
    pub lowered: Vec<String>,
}

/// The preset for `idle_counts` idle connections beside the active ones,
/// in a process that may open `descriptor_limit` descriptors (its hard
/// limit), `runs_at_once` load runs at a time (2 side by side): a count
/// that does not fit is lowered to the most that does, and said so.
pub fn plan(idle_counts: &[usize], descriptor_limit: u64, runs_at_once: usize) -> Plan {
    let runs_at_once = runs_at_once.max(1) as u64;
    let per_run = (descriptor_limit.saturating_sub(SPARE_DESCRIPTORS) / runs_at_once) as usize;
    let fits = per_run.saturating_sub(ACTIVE_CONNECTIONS + SERVER_SPARE_DESCRIPTORS);
    let mut lowered = Vec::new();
    let mut idles: Vec<usize> = idle_counts
        .iter()
        .map(|&idle| {
            if idle <= fits {
                return idle;
            }
            lowered.push(format!(
                "{idle} idle connections: this process may open {descriptor_limit} descriptors \
                 (hard limit), room for {fits} idle beside {ACTIVE_CONNECTIONS} active{}; running \
                 {fits} instead (raise it with `ulimit -Hn` as root, or LimitNOFILE= in a unit)",
                if runs_at_once > 1 {
                    " in each of two runs at once"
                } else {
                    ""
                }
            ));
            fits
        })
        .collect();
    idles.sort_unstable();
    idles.dedup();
    Plan {
        spec: MatrixSpec {
            contenders: CONTENDERS.to_vec(),
            connections: vec![ACTIVE_CONNECTIONS],
            idles,
            cell_duration: CELL_DURATION,
            // The servers inherit this process's limit: a cell one cannot
            // hold (threaded holds two descriptors per connection) is named
            // as not run, with what it needs.
            server_descriptors: Some(descriptor_limit),
            ..MatrixSpec::default_run()
        },
        lowered,
    }
}

/// How much one server's CPU per request grew from I = 0 to one idle count.
#[derive(Debug, Clone, PartialEq)]
pub struct Growth {
    /// The server.
    pub engine: String,
    /// The idle count, above 0.
    pub idle: u64,
    /// The median of the rounds' ratios (CPU per request at `idle` over
    /// the same round's at 0) and its interval.
    pub ratio: MedianInterval,
    /// Rounds that gave a ratio.
    pub rounds: usize,
}

/// Server CPU per request in µs, where the run answered any.
pub fn cpu_us_per_request(record: &CellRecord) -> Option<f64> {
    (record.requests > 0 && record.outcome == "finished")
        .then(|| record.server_cpu_s * 1e6 / record.requests as f64)
}

/// Every server's growth factor at each idle count above 0: in each
/// measured round, its CPU per request there over its CPU per request at
/// I = 0 in the same round (the same server process: the idle count does
/// not restart it), then the median over the rounds and its interval.
pub fn growth_factors(records: &[CellRecord]) -> Vec<Growth> {
    let measured: Vec<&CellRecord> = records.iter().filter(|r| r.round > 0).collect();
    let mut growths: Vec<Growth> = Vec::new();
    for row in measured.iter().filter(|r| r.idle > 0) {
        if growths
            .iter()
            .any(|g| g.engine == row.engine && g.idle == row.idle)
        {
            continue;
        }
        let ratios: Vec<f64> = measured
            .iter()
            .filter(|r| r.cell_key() == row.cell_key())
            .filter_map(|at_idle| {
                let zero_key = CellRecord {
                    idle: 0,
                    ..(*at_idle).clone()
                }
                .cell_key();
                let at_zero = measured
                    .iter()
                    .find(|zero| zero.round == at_idle.round && zero.cell_key() == zero_key)?;
                let base = cpu_us_per_request(at_zero).filter(|&us| us > 0.0)?;
                Some(cpu_us_per_request(at_idle)? / base)
            })
            .collect();
        if let Some(ratio) = median_interval(&ratios) {
            growths.push(Growth {
                engine: row.engine.clone(),
                idle: row.idle,
                ratio,
                rounds: ratios.len(),
            });
        }
    }
    growths
}

/// The growth factor as a table cell: `1.00` at I = 0, `2.31x` with its
/// interval where the rounds give one at [`CONFIDENCE`], `-` without.
fn growth_text(growths: &[Growth], record: &CellRecord) -> String {
    if record.idle == 0 {
        return "1.00x".to_string();
    }
    match growths
        .iter()
        .find(|g| g.engine == record.engine && g.idle == record.idle)
    {
        Some(g) if g.ratio.coverage >= CONFIDENCE => format!(
            "{:.2}x [{:.2}, {:.2}]",
            g.ratio.median, g.ratio.low, g.ratio.high
        ),
        Some(g) => format!("{:.2}x", g.ratio.median),
        None => "-".to_string(),
    }
}

/// Headings of the idle table.
const HEADINGS: [&str; 7] = [
    "engine",
    "idle",
    "req/s",
    "srv µs/req",
    "syscalls/req",
    "srv sockets",
    "cpu/req growth",
];

/// The idle table: per server and idle count, the median round's req/s
/// of the active connections and its server CPU per request, the
/// counting round's system calls per request, the sockets the server
/// held, and the growth factor from I = 0; then the cells not run
/// (`left_out`, such as `select` above `FD_SETSIZE`), and what the
/// growth column means.
pub fn render(records: &[CellRecord], left_out: &[String]) -> String {
    let growths = growth_factors(records);
    let mut cells: Vec<CellSummary> = record::summarise(records);
    // Server by server, in the order they first ran, idle counts ascending:
    // each server's curve reads down one block.
    let first_run = |engine: &str| records.iter().position(|r| r.engine == engine);
    cells.sort_by_key(|cell| (first_run(&cell.median.engine), cell.median.idle));
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|cell| {
            let r = &cell.median;
            let syscalls = cell
                .counting
                .as_ref()
                .and_then(|run| {
                    Some(
                        run.server_syscalls? as f64 / Some(run.requests).filter(|&n| n > 0)? as f64,
                    )
                })
                .map_or_else(|| "n/a".to_string(), |per| format!("{per:.2}"));
            vec![
                r.engine.clone(),
                r.idle.to_string(),
                format!("{:.0}", r.req_per_s),
                cpu_us_per_request(r).map_or_else(|| "-".to_string(), |us| format!("{us:.2}")),
                syscalls,
                r.server_sockets
                    .map_or_else(|| "n/a".to_string(), |n| n.to_string()),
                growth_text(&growths, r),
            ]
        })
        .collect();
    let mut text = align(&HEADINGS, &rows, 1);
    for line in left_out {
        text.push_str(&format!("not run: {line}\n"));
    }
    let mut active: Vec<String> = cells
        .iter()
        .map(|cell| cell.median.connections.to_string())
        .collect();
    active.dedup();
    text.push_str(&format!(
        "\ncpu/req growth: the server's CPU per request at that idle count over its own at 0, \
         round by round (the same server process), median of the rounds{}; \
         {} active connections beside the idle ones, srv sockets counted at the window's end.\n",
        if growths.iter().any(|g| g.ratio.coverage >= CONFIDENCE) {
            format!(" [its {}% interval]", CONFIDENCE * 100.0)
        } else {
            " (6 rounds or more give its 95% interval)".to_string()
        },
        active.join(" or ")
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::tests::sample;

    /// The preset is the issue's: 100 active connections, idle 0, 1,000
    /// and 10,000, 64-byte echo, one cell per server and count.
    #[test]
    fn plan_is_the_issue_s_matrix_where_the_descriptors_allow_it() {
        let plan = plan(&IDLE_COUNTS, 20_000, 1);
        assert!(plan.lowered.is_empty(), "{:?}", plan.lowered);
        assert_eq!(plan.spec.idles, [0, 1_000, 10_000]);
        assert_eq!(plan.spec.connections, [ACTIVE_CONNECTIONS]);
        assert_eq!(plan.spec.sizes_bytes, [64]);
        assert_eq!(plan.spec.pipelines, [1]);
        let matrix = plan.spec.cells();
        // Every server and count is run or named as not run.
        assert_eq!(
            matrix.cells.len() + matrix.left_out.len(),
            CONTENDERS.len() * 3
        );
        // At 20,000 descriptors, threaded cannot hold 10,000 idle ones.
        assert!(
            matrix
                .left_out
                .iter()
                .any(|line| line.starts_with("threaded") && line.contains("idle=10000")),
            "{:?}",
            matrix.left_out
        );
        let roomy = super::plan(&IDLE_COUNTS, 40_000, 1).spec.cells();
        assert!(
            !roomy
                .left_out
                .iter()
                .any(|line| line.starts_with("threaded")),
            "{:?}",
            roomy.left_out
        );
    }

    /// A descriptor limit below what an idle count needs lowers that count
    /// to the most that fits, says so, and keeps the counts that fit; side
    /// by side, two runs share the limit.
    #[test]
    fn plan_lowers_what_the_descriptor_limit_cannot_hold_and_says_so() {
        let plan_5000 = plan(&IDLE_COUNTS, 5_000, 1);
        let fits =
            5_000 - SPARE_DESCRIPTORS as usize - ACTIVE_CONNECTIONS - SERVER_SPARE_DESCRIPTORS;
        assert_eq!(plan_5000.spec.idles, [0, 1_000, fits]);
        assert_eq!(plan_5000.lowered.len(), 1);
        assert!(
            plan_5000.lowered[0].starts_with("10000 idle connections: this process may open 5000"),
            "{:?}",
            plan_5000.lowered
        );
        assert!(plan_5000.lowered[0].contains(&format!("running {fits} instead")));
        // Two at once: each gets half.
        let side_by_side = plan(&IDLE_COUNTS, 5_000, 2);
        assert!(
            side_by_side.spec.idles[2] < 2_500,
            "{:?}",
            side_by_side.spec.idles
        );
        assert!(side_by_side.lowered[0].contains("two runs at once"));
        // Nothing fits but 0: one cell per server.
        assert_eq!(plan(&IDLE_COUNTS, 100, 1).spec.idles, [0]);
    }

    /// A row of `engine` at `idle` in `round`: `requests` answered for
    /// `cpu_s` of server CPU.
    fn row(engine: &str, idle: u64, round: u64, cpu_s: f64, requests: u64) -> CellRecord {
        CellRecord {
            idle,
            round,
            server_cpu_s: cpu_s,
            requests,
            ..sample(engine, 100, 10_000.0, Some(900))
        }
    }

    /// The growth factor divides each round's CPU per request by the same
    /// round's at I = 0 (not the medians of each), takes the median of
    /// those ratios, and gives it an interval from 6 rounds on.
    #[test]
    fn growth_factor_pairs_rounds_and_takes_the_median_ratio() {
        // Round r: 10 µs/req at 0 idle, (20 + r) µs/req at 1000 idle for
        // poll-like; a flat one stays at the same cost.
        let mut records = Vec::new();
        for round in 1..=7u64 {
            let base = 1.0 + round as f64 * 0.1; // a slower round costs both more
            records.push(row("slow", 0, round, 0.1 * base, 10_000));
            records.push(row(
                "slow",
                1000,
                round,
                0.2 * base * (1.0 + round as f64 / 100.0),
                10_000,
            ));
            records.push(row("flat", 0, round, 0.1 * base, 10_000));
            records.push(row("flat", 1000, round, 0.1 * base, 10_000));
        }
        // A counting round is not a measured one.
        records.push(row("slow", 1000, 0, 9.0, 10_000));
        let growths = growth_factors(&records);
        assert_eq!(growths.len(), 2);
        let slow = growths.iter().find(|g| g.engine == "slow").unwrap();
        assert_eq!(slow.rounds, 7);
        // Ratios 2.02 .. 2.14; the median is round 4's.
        assert!((slow.ratio.median - 2.08).abs() < 1e-9, "{slow:?}");
        assert!(slow.ratio.coverage >= CONFIDENCE);
        assert!(slow.ratio.low >= 2.02 - 1e-9 && slow.ratio.high <= 2.14 + 1e-9);
        let flat = growths.iter().find(|g| g.engine == "flat").unwrap();
        assert!((flat.ratio.median - 1.0).abs() < 1e-9, "{flat:?}");
    }

    /// A round without its I = 0 partner, or with nothing answered, gives
    /// no ratio; too few rounds give a median without an interval.
    #[test]
    fn growth_factor_leaves_out_unpaired_rounds_and_shows_no_interval_for_few() {
        let records = vec![
            row("poll", 0, 1, 0.1, 10_000),
            row("poll", 5000, 1, 0.3, 10_000),
            row("poll", 5000, 2, 0.3, 10_000),
            row("poll", 0, 3, 0.1, 0),
            row("poll", 5000, 3, 0.3, 10_000),
        ];
        let growths = growth_factors(&records);
        assert_eq!(growths.len(), 1);
        assert_eq!(growths[0].rounds, 1);
        assert!((growths[0].ratio.median - 3.0).abs() < 1e-9);
        let table = render(&records, &["select at idle=10000: too many".to_string()]);
        assert!(table.contains("3.00x"), "{table}");
        assert!(
            !table.contains("3.00x ["),
            "no interval from one round: {table}"
        );
        assert!(
            table.contains("not run: select at idle=10000: too many"),
            "{table}"
        );
        assert!(
            table.contains("6 rounds or more give its 95% interval"),
            "{table}"
        );
    }
}
