//! `sockbench compare`: every engine and two yardsticks, measured in one run.
//!
//! Every server is a separate process on `127.0.0.1:0` (or `[::1]:0`, or a
//! fresh Unix socket) ([`crate::sys::process`]); the load generator runs
//! in this process ([`cell`]); what each side cost is read from `/proc` and the
//! kernel's counters around each run. The servers of one *group* (same
//! transport, service and simulated work) run side by side, one process
//! per contender, and are stopped with SIGTERM when the group is done.
//!
//! Within a group the run is *paired and interleaved*: round after round
//! (`--rounds N`), each cell is run by every contender back to back, in an
//! order rotated from one cell to the next (ABC, BCA, CAB, …), so a slow
//! spell of the machine falls on every contender alike. With
//! `--side-by-side`, turns give way to pairs: each contender's run of a
//! measured round happens at the same moment as a run of the baseline,
//! both servers on the server core under equal quotas, so even a spell
//! shorter than a run falls on both sides of the pair. With
//! `--baseline ENGINE`, [`verdict`] turns the rounds into ratios,
//! intervals and verdicts. With `--server-cpu FRACTION`, each server runs
//! in a CPU-quota cgroup ([`crate::sys::cgroup`]), so that the server,
//! not the load generator, is the bottleneck. `docs/METHOD.md` explains the method.
//! Results:
//!
//! - `OUT/NAME.csv`: one row per cell and round ([`record`] documents the
//!   columns), rewritten after every run so an interrupted run keeps its
//!   rows;
//! - `OUT/NAME.verdicts.csv`: with `--baseline`, one row per engine and
//!   cell ([`verdict`]);
//! - `OUT/NAME.machine.txt`: where and how it was measured ([`machine`]);
//! - `OUT/NAME.table.txt`: the table printed at the end ([`table`]);
//! - a table on stdout ([`table`]) and SVG charts ([`plot`]).
//!
//! The parts, by responsibility:
//!
//! - [`matrix`]: the contenders and the cells each one runs; [`launch`]:
//!   how each contender is started (its program and command line), for
//!   the matrix and the scenarios alike; [`foreign`]: the servers
//!   sockbench did not write (nginx, Apache's MPMs, `--server`,
//!   `--target`), started from their own commands;
//! - [`plan`]: the order of the runs (groups, rounds, rotation, pairs), pure;
//! - [`runner`]: starts, pins, limits and stops the servers and runs the
//!   plan's steps; [`cell`]: one load run and what it cost;
//! - [`text`]: each run's label and headline, the notes under the tables;
//!   [`table`], [`verdict`], [`plot`]: tables, verdicts and charts;
//!   [`record`], [`machine`], [`results`]: the files;
//! - [`idle`]: the idle connections of `--idle N`, held beside a cell's
//!   active ones; [`curve`]: `--scenario idle`, the matrix preset that
//!   measures what they cost, and its table;
//! - [`scenario`]: `--scenario c10k|c100k`, with the same launch and files.
//!
//! Progress (cell i of n, ETA, and each cell's headline figures) goes to
//! stderr; with `--live` ([`CompareConfig::live`]) the live view is told
//! the same, and is fed each run's load as it goes. A cell a server
//! cannot serve well (iterative at 1000 connections) still runs, bounded
//! by the load's timeouts, and its row shows what happened; combinations
//! that are not run at all are listed with the reason before the run
//! starts.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub mod cell;
pub mod curve;
pub mod foreign;
pub mod idle;
pub mod launch;
pub mod machine;
pub mod matrix;
pub mod plan;
pub mod plot;
pub mod record;
pub mod request;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod served;
pub mod spread;
pub mod steal;
pub mod table;
pub mod text;
pub mod transport;
pub mod unp;
pub mod verdict;

use crate::live::Feed;
use crate::sys::cgroup::CpuQuota;
use crate::sys::sched;
use matrix::{Contender, MatrixSpec};
use record::CellRecord;
use results::Results;

/// The core the server runs on with `--pin`; the load generator gets core 0.
pub const SERVER_CORE: usize = 1;

/// Everything one comparison needs.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// The cells to run.
    pub spec: MatrixSpec,
    /// Results are `OUT/NAME.csv`, `OUT/NAME.machine.txt`, `OUT/NAME-*.svg`.
    pub name: String,
    /// The results directory (created if needed).
    pub out_dir: PathBuf,
    /// Server on core [`SERVER_CORE`] (via `taskset`), load on core 0.
    pub pin: bool,
    /// Load generator threads (capped by each cell's connections).
    pub load_threads: usize,
    /// The `sockbench` binary that serves the engine rows.
    pub sockbench_exe: PathBuf,
    /// Where `tokio_echo` and `epoll_raw` were built.
    pub examples_dir: PathBuf,
    /// The command line, for the machine file.
    pub command_line: String,
    /// Concurrency of the latency-percentile chart.
    pub latency_connections: Option<u64>,
    /// Rounds (`--rounds`): every contender runs every cell once per
    /// round. At least 1.
    pub rounds: usize,
    /// The contender every other is compared with, round by round.
    pub baseline: Option<Contender>,
    /// Each server's CPU quota as a share of one core (`--server-cpu`).
    pub server_cpu: Option<f64>,
    /// The quota's enforcement period.
    pub quota_period: Duration,
    /// Each server's runs at the same moment as the baseline's
    /// (`--side-by-side`; needs a baseline).
    pub side_by_side: bool,
    /// How long a server started from its command (`--server`, the
    /// production rows) may take to accept its first connection.
    pub ready_timeout: Duration,
    /// How long such a server may take to exit after SIGTERM before its
    /// process group is killed.
    pub grace: Duration,
    /// Set (by Ctrl-C, say) to end the comparison early: the run under way
    /// finishes, the servers are stopped and what was measured is written.
    pub stop: Arc<AtomicBool>,
    /// `--live`: the view to tell which run is under way, how it goes
    /// (its load's per-second data) and what each finished run measured.
    pub live: Option<Feed>,
}

/// What a comparison wrote.
#[derive(Debug, Clone)]
pub struct CompareOutcome {
    /// The CSV, one row per cell.
    pub csv: PathBuf,
    /// The machine file.
    pub machine: PathBuf,
    /// The charts.
    pub plots: Vec<PathBuf>,
    /// The rows, one per cell and round, in run order.
    pub records: Vec<CellRecord>,
    /// With a baseline: each other engine against it, per cell.
    pub comparisons: Vec<verdict::Comparison>,
    /// The comparison was stopped early ([`CompareConfig::stop`]).
    pub stopped_early: bool,
}

/// Run the comparison; progress on `progress`, the table on `out`.
pub fn run(
    config: &CompareConfig,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> io::Result<CompareOutcome> {
    let mut matrix = config.spec.cells();
    matrix.leave_out_unavailable();
    for line in &matrix.left_out {
        writeln!(progress, "not run: {line}")?;
    }
    if matrix.cells.is_empty() {
        return Err(io::Error::other(
            "the matrix is empty: no server supports the services and work asked for",
        ));
    }
    for contender in Contender::all() {
        let is_ours = !matches!(contender, Contender::Foreign(_));
        if is_ours && matrix.cells.iter().any(|cell| cell.contender == contender) {
            runner::programs(config).built(contender)?;
        }
    }
    if let Some(baseline) = config.baseline {
        if !matrix.cells.iter().any(|cell| cell.contender == baseline) {
            return Err(io::Error::other(format!(
                "--baseline {baseline} is not among the servers run: add it to --engines"
            )));
        }
    }
    let info = machine_info(config)?;
    runner::prepare_client(config, &matrix.cells)?;

    let results = Results::create(&config.out_dir, &config.name)?;
    let csv = results.file(".csv");
    let machine = results.file(".machine.txt");
    std::fs::write(&machine, info.render())?;

    let records = runner::run_rounds(config, &matrix.cells, &csv, progress)?;
    let stopped_early = config.stop.load(Ordering::Relaxed);
    if stopped_early {
        writeln!(
            progress,
            "stopped early: the tables below cover the {} runs made",
            records.len()
        )?;
    }
    // Tables list the cells server by server, as the matrix does; the
    // CSV keeps the order they ran in.
    let mut cells = record::summarise(&records);
    let position = |engine: &str| {
        config
            .spec
            .contenders
            .iter()
            .position(|c| c.name() == engine)
    };
    cells.sort_by_key(|cell| position(&cell.median.engine));

    // A --target is only loaded: its rows say so where a cost would be.
    let unmeasured: Vec<&str> = config
        .spec
        .contenders
        .iter()
        .filter(|c| matches!(c, Contender::Foreign(foreign::Foreign::Target(_))))
        .map(|c| c.name())
        .collect();
    let mut table = table::render(&cells, &unmeasured);
    table.push_str(&text::saturation_note(&cells));
    table.push_str(&text::foreign_note(&config.spec.contenders));
    table.push_str(&text::side_by_side_note(&records));
    table.push_str(
        "\nCost per request, server and load generator (CPU and context switches: the median round; system calls: the counting round):\n\n",
    );
    table.push_str(&table::render_costs(&cells, &unmeasured));
    let comparisons = match config.baseline {
        Some(baseline) => verdict::compare_to_baseline(&records, baseline.name()),
        None => Vec::new(),
    };
    if records.iter().any(|record| record.idle > 0) {
        table.push_str(
            "\nIdle connections: what holding them costs each server per request of the active ones:\n\n",
        );
        table.push_str(&curve::render(&records, &matrix.left_out));
    }
    if records
        .iter()
        .any(|record| record.requests_per_connection.is_some())
    {
        table.push_str(
            "\nUNP chapter 30, a connection per request: what each server design spends per connection:\n\n",
        );
        table.push_str(&unp::render(&records, &unp::plan().not_built));
    }
    let mut written = vec![csv.clone(), machine.clone()];
    if let Some(baseline) = config.baseline {
        table.push_str(&format!(
            "\nAgainst {baseline}, round by round: median req/s ratio, {}% interval of the median, verdict:\n\n",
            verdict::CONFIDENCE * 100.0
        ));
        table.push_str(&verdict::render(&comparisons));
        let path = results.file(".verdicts.csv");
        verdict::write_csv(&path, &comparisons)?;
        let how = format!(
            "the verdicts of the rounds in {} against {baseline}",
            csv.display()
        );
        written.push(machine::write_derived(&path, &machine, &how)?);
        written.push(path);
    }
    written.push(results.write_table(out, &table)?);
    let stem = config.out_dir.join(&config.name);
    let medians: Vec<CellRecord> = cells.iter().map(|cell| cell.median.clone()).collect();
    let plots = plot::plot_records(&medians, &stem, config.latency_connections)?;
    results::list_written(out, written.iter().chain(&plots))?;
    Ok(CompareOutcome {
        csv,
        machine,
        plots,
        records,
        comparisons,
        stopped_early,
    })
}

/// Where and how the comparison is measured, for the machine file. It
/// also makes (and drops) a quota now, so that a machine without a
/// writable CPU cgroup fails before anything runs, and raises this
/// process's priority under a quota, before any load thread exists.
fn machine_info(config: &CompareConfig) -> io::Result<machine::MachineInfo> {
    // Gathered before pinning, which would hide the other cores.
    let pinning = if config.pin {
        format!("server on core {SERVER_CORE} (taskset), load generator on core 0")
    } else {
        "none".to_string()
    };
    let mut info = machine::MachineInfo::gather(config.command_line.clone(), pinning);
    // A quota made and dropped now: the file says what was set.
    let quota_text = match config.server_cpu {
        Some(fraction) => CpuQuota::create(fraction, config.quota_period)?.describe(),
        None => "none".to_string(),
    };
    info.method
        .push(("server cpu quota".to_string(), quota_text));
    // Under a quota the servers' groups outweigh other work on the machine
    // (sys::cgroup); the generator is raised likewise, before any load thread
    // exists, so that every one inherits it.
    if config.server_cpu.is_some() {
        sched::raise_priority()?;
        info.method.push((
            "load generator priority".to_string(),
            format!(
                "nice {} (servers: their quota groups' weight), above other work on the machine",
                sched::LOAD_NICE
            ),
        ));
    }
    let pairing = if config.side_by_side {
        "in each, every server runs each cell at the same moment as the baseline (side by side: both servers on the server core under equal quotas, one load run for each), the servers' order rotated from one cell to the next"
    } else {
        "in each, every server runs each cell back to back, the order rotated from one cell to the next (ABC, BCA, CAB, ...; two servers alternate)"
    };
    info.method.push((
        "rounds".to_string(),
        format!(
            "{}; {pairing}; every server a fresh process in each round",
            config.rounds
        ),
    ));
    if let Some(baseline) = config.baseline {
        info.method
            .push(("baseline".to_string(), baseline.to_string()));
    }
    Ok(info)
}
