//! `sockbench compare`: every engine and two yardsticks, measured in one run.
//!
//! For each server in the matrix, compare starts it as a separate process
//! on `127.0.0.1:0` (or `[::1]:0`, or a fresh Unix socket) ([`server`]), runs each of its cells with the load
//! generator in this process ([`cell`]), records what the server cost from
//! `/proc`, stops it with SIGTERM and goes on. A server is restarted
//! whenever the service or the simulated work changes. Results:
//!
//! - `OUT/NAME.csv`: one row per cell ([`record`] documents the columns),
//!   rewritten after every cell so an interrupted run keeps its rows;
//! - `OUT/NAME.machine.txt`: where and how it was measured ([`machine`]);
//! - `OUT/NAME.table.txt`: the table printed at the end ([`table`]);
//! - a table on stdout ([`table`]) and SVG charts ([`plot`]).
//!
//! Progress (cell i of n, ETA, and each cell's headline figures) goes to
//! stderr. A cell a server cannot serve well (iterative at 1000
//! connections) still runs, bounded by the load's timeouts, and its row
//! shows what happened; combinations that are not run at all are listed
//! with the reason before the run starts.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub mod cell;
pub mod machine;
pub mod matrix;
pub mod plot;
pub mod record;
pub mod server;
pub mod system;
pub mod table;

use matrix::{Cell, Contender, MatrixSpec, Transport};
use record::CellRecord;
use server::{ServerProcess, Stopped};

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
    /// Rounds over the whole matrix (`--repeat`); each cell keeps its
    /// median run. At least 1.
    pub rounds: usize,
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
    /// The rows, in run order.
    pub records: Vec<CellRecord>,
}

/// Run the comparison; progress on `progress`, the table on `out`.
pub fn run(
    config: &CompareConfig,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> io::Result<CompareOutcome> {
    let matrix = config.spec.cells();
    for line in &matrix.left_out {
        writeln!(progress, "not run: {line}")?;
    }
    if matrix.cells.is_empty() {
        return Err(io::Error::other(
            "the matrix is empty: no server supports the services and work asked for",
        ));
    }
    for contender in Contender::all() {
        if matrix.cells.iter().any(|cell| cell.contender == contender) {
            program_of(config, contender)?;
        }
    }
    // Gathered before pinning, which would hide the other cores.
    let pinning = if config.pin {
        format!("server on core {SERVER_CORE} (taskset), load generator on core 0")
    } else {
        "none".to_string()
    };
    let info = machine::MachineInfo::gather(config.command_line.clone(), pinning);
    prepare_client(config, &matrix.cells)?;

    std::fs::create_dir_all(&config.out_dir).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot create {}: {err}", config.out_dir.display()),
        )
    })?;
    let csv = config.out_dir.join(format!("{}.csv", config.name));
    let machine = config.out_dir.join(format!("{}.machine.txt", config.name));
    std::fs::write(&machine, info.render())?;

    let records = run_cells(config, &matrix.cells, &csv, progress)?;

    let table = table::render(&records);
    write!(out, "{table}")?;
    write!(out, "{}", saturation_note(&records))?;
    let table_path = config.out_dir.join(format!("{}.table.txt", config.name));
    std::fs::write(&table_path, &table)?;
    let stem = config.out_dir.join(&config.name);
    let plots = plot::plot_records(&records, &stem, config.latency_connections)?;
    writeln!(out, "\nwrote {}", csv.display())?;
    writeln!(out, "wrote {}", machine.display())?;
    writeln!(out, "wrote {}", table_path.display())?;
    for path in &plots {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(CompareOutcome {
        csv,
        machine,
        plots,
        records,
    })
}

/// Run every cell, restarting the server when the next cell needs another;
/// with several rounds, the whole matrix again each round. Rounds rather
/// than back-to-back repeats of a cell: a slow spell of a shared machine
/// then lands on different cells in different rounds, instead of on every
/// run of the few cells measured during it.
fn run_cells(
    config: &CompareConfig,
    cells: &[Cell],
    csv: &Path,
    progress: &mut dyn Write,
) -> io::Result<Vec<CellRecord>> {
    let started = Instant::now();
    let rounds = config.rounds.max(1);
    let steps: Vec<(usize, usize)> = (0..rounds)
        .flat_map(|round| (0..cells.len()).map(move |index| (round, index)))
        .collect();
    let planned: Vec<Duration> = steps
        .iter()
        .map(|&(_, index)| cells[index].duration)
        .collect();
    let mut runs: Vec<Vec<CellRecord>> = vec![Vec::new(); cells.len()];
    let mut running: Option<(ServerProcess, &Cell)> = None;
    for (step, &(round, index)) in steps.iter().enumerate() {
        let cell = &cells[index];
        let reuse = match &mut running {
            Some((server, served)) if served.same_server(cell) => match server.exited()? {
                None => true,
                Some(status) => {
                    writeln!(
                        progress,
                        "  server {} had exited ({status}); starting it again{}",
                        cell.contender,
                        server.stderr_excerpt()
                    )?;
                    false
                }
            },
            _ => false,
        };
        if !reuse {
            if let Some((server, served)) = running.take() {
                stop(server, served, progress)?;
            }
            running = Some((start_server(config, cell)?, cell));
        }
        let (server, _) = running.as_ref().expect("a server was just started");

        let round_note = if rounds > 1 {
            format!("round {} of {rounds}: ", round + 1)
        } else {
            String::new()
        };
        writeln!(
            progress,
            "[{}/{}] {round_note}{cell}{}",
            step + 1,
            steps.len(),
            eta(started.elapsed(), step, &planned)
        )?;
        let (record, failure) = cell::measure(cell, server, config.load_threads, config.pin)?;
        if let Some(reason) = failure {
            writeln!(progress, "  load failed: {reason}")?;
        }
        writeln!(progress, "  {}", headline(&record))?;
        runs[index].push(record);
        // Rewritten after every run: an interrupted comparison keeps the
        // medians of what it measured.
        record::write_csv(csv, &medians(&runs))?;
    }
    if let Some((server, served)) = running.take() {
        stop(server, served, progress)?;
    }
    Ok(medians(&runs))
}

/// One row per cell measured so far: its median run.
fn medians(runs: &[Vec<CellRecord>]) -> Vec<CellRecord> {
    runs.iter()
        .filter(|cell_runs| !cell_runs.is_empty())
        .map(|cell_runs| record::median_run(cell_runs))
        .collect()
}

/// Raise the descriptor limit (for this process and the servers it
/// starts), and pin this process to core 0 with `--pin`.
fn prepare_client(config: &CompareConfig, cells: &[Cell]) -> io::Result<()> {
    // Raised here, before any server starts, so the servers inherit it.
    let most = cells.iter().map(|cell| cell.connections).max().unwrap_or(1);
    crate::load::ensure_descriptors(most)?;
    if config.pin {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores <= SERVER_CORE {
            return Err(io::Error::other(format!(
                "--pin needs at least {} cores, this machine has {cores}",
                SERVER_CORE + 1
            )));
        }
        if system::find_in_path("taskset").is_none() {
            return Err(io::Error::other(
                "--pin needs `taskset` to pin the server, and it is not on PATH: \
                 install util-linux (apt-get install util-linux), or run without --pin",
            ));
        }
        system::pin_current_thread(0)?;
    }
    Ok(())
}

/// The program that serves `contender`: this sockbench, or a built example.
fn program_of(config: &CompareConfig, contender: Contender) -> io::Result<PathBuf> {
    let example = match contender {
        Contender::Engine(_) => return Ok(config.sockbench_exe.clone()),
        Contender::Tokio => "tokio_echo",
        Contender::EpollRaw => "epoll_raw",
    };
    let path = config.examples_dir.join(example);
    if path.is_file() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "the {contender} reference server is not built: {} does not exist. \
                 Build it with `cargo build --release --examples` (./scripts/compare.sh does), \
                 point --examples-dir at it, or leave it out with --engines",
                path.display()
            ),
        ))
    }
}

/// Start the server for `cell` on port 0 and wait for its address.
fn start_server(config: &CompareConfig, cell: &Cell) -> io::Result<ServerProcess> {
    let program = program_of(config, cell.contender)?;
    let mut args: Vec<String> = Vec::new();
    if let Contender::Engine(kind) = cell.contender {
        args.extend(["serve".into(), "--engine".into(), kind.name().into()]);
        args.extend(["--work".into(), cell.work.to_string()]);
    }
    match cell.transport {
        Transport::Tcp4 => args.extend(["--addr".into(), "127.0.0.1:0".into()]),
        Transport::Tcp6 => args.extend(["--addr".into(), "[::1]:0".into()]),
        Transport::Unix => args.extend(["--unix".into(), fresh_unix_socket_path()]),
    }
    if cell.contender != Contender::EpollRaw {
        args.extend(["--service".into(), cell.service.name().into()]);
    }
    let command = if config.pin {
        let mut command = Command::new("taskset");
        command
            .args(["-c", &SERVER_CORE.to_string()])
            .arg(&program)
            .args(&args);
        command
    } else {
        let mut command = Command::new(&program);
        command.args(&args);
        command
    };
    ServerProcess::start(command, server::READY_TIMEOUT)
}

/// A socket path in the temp directory that no other server of this run
/// uses (a server removes its file when it stops).
fn fresh_unix_socket_path() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir()
        .join(format!("sockbench-compare-{}-{n}.sock", std::process::id()))
        .display()
        .to_string()
}

/// Stop a server; say so if it had to be killed.
fn stop(server: ServerProcess, served: &Cell, progress: &mut dyn Write) -> io::Result<()> {
    let excerpt = server.stderr_excerpt();
    match server.stop(server::STOP_TIMEOUT)? {
        Stopped::Exited(status) if status.success() => Ok(()),
        Stopped::Exited(status) => writeln!(
            progress,
            "  note: {} server exited with {status} when stopped{excerpt}",
            served.contender
        ),
        Stopped::Killed => writeln!(
            progress,
            "  note: {} server ignored SIGTERM for {:?} and was killed",
            served.contender,
            server::STOP_TIMEOUT
        ),
    }
}

/// `  (ETA 1m 12s)` from the average time of the runs done so far, or from
/// the planned durations of the runs (`planned`, one per run) before the
/// first one is done.
fn eta(elapsed: Duration, done: usize, planned: &[Duration]) -> String {
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
fn saturation_note(records: &[CellRecord]) -> String {
    let saturated = records
        .iter()
        .filter(|record| table::generator_saturated(record))
        .count();
    if saturated == 0 {
        return String::new();
    }
    format!(
        "\n* in {saturated} of {} cells the pinned load generator used {}% or more of its core: \
         their req/s may be the generator's limit rather than the server's, \
         so read them as a lower bound for the server.\n",
        records.len(),
        table::GENERATOR_SATURATED_PERCENT,
    )
}

/// One line of headline figures for the progress output.
fn headline(record: &CellRecord) -> String {
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
    use crate::compare::record::tests::sample;

    /// The note counts the cells whose pinned generator filled its core,
    /// and is absent when there are none.
    #[test]
    fn saturation_note_counts_the_cells_whose_generator_filled_its_core() {
        let calm = sample("reactor", 100, 50000.0, Some(800));
        assert_eq!(saturation_note(std::slice::from_ref(&calm)), "");
        let mut full = sample("epoll-raw", 1000, 90000.0, Some(900));
        full.pinned = true;
        full.client_cpu_s = full.duration_s;
        let note = saturation_note(&[calm, full]);
        assert!(note.contains("in 1 of 2 cells"), "{note}");
    }
}
