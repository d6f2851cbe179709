//! `sockbench compare`: every engine and two yardsticks, measured in one run.
//!
//! Every server is a separate process on `127.0.0.1:0` (or `[::1]:0`, or a
//! fresh Unix socket) ([`crate::sys::process`]); the load generator runs in this
//! process ([`cell`]); what each side cost is read from `/proc` and the
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
//! in a CPU-quota cgroup ([`crate::sys::cgroup`]), so that the server, not the load
//! generator, is the bottleneck. `docs/METHOD.md` explains the method.
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
//! Progress (cell i of n, ETA, and each cell's headline figures) goes to
//! stderr; with `--live` ([`CompareConfig::live`]) the live view is told
//! the same, and is fed each run's load as it goes. A cell a server
//! cannot serve well (iterative at 1000 connections) still runs, bounded
//! by the load's timeouts, and its row shows what happened; combinations
//! that are not run at all are listed with the reason before the run
//! starts.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub mod cell;
pub mod machine;
pub mod matrix;
pub mod plot;
pub mod record;
pub mod scenario;
pub mod table;
pub mod verdict;

use crate::live::{self, CellHeader, Feed, FinishedCell};
use crate::sys::cgroup::CpuQuota;
use crate::sys::counters::SyscallCounter;
use crate::sys::process::{self, ServerProcess, Stopped};
use crate::sys::sched;
use cell::RunSettings;
use matrix::{Cell, Contender, MatrixSpec, Transport};
use record::{CellRecord, CellSummary};

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
        if matrix.cells.iter().any(|cell| cell.contender == contender) {
            program_of(config, contender)?;
        }
    }
    if let Some(baseline) = config.baseline {
        if !matrix.cells.iter().any(|cell| cell.contender == baseline) {
            return Err(io::Error::other(format!(
                "--baseline {baseline} is not among the servers run: add it to --engines"
            )));
        }
    }
    // Gathered before pinning, which would hide the other cores.
    let pinning = if config.pin {
        format!("server on core {SERVER_CORE} (taskset), load generator on core 0")
    } else {
        "none".to_string()
    };
    let mut info = machine::MachineInfo::gather(config.command_line.clone(), pinning);
    // A quota made and dropped now: a machine without a writable CPU
    // cgroup fails here, before anything runs, and the file says what was set.
    let quota_text = match config.server_cpu {
        Some(fraction) => CpuQuota::create(fraction, config.quota_period)?.describe(),
        None => "none".to_string(),
    };
    info.method
        .push(("server cpu quota".to_string(), quota_text));
    // Under a quota the servers' groups outweigh other work on the machine
    // (quota.rs); the generator is raised likewise, before any load thread
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

    let records = run_rounds(config, &matrix.cells, &csv, progress)?;
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

    let mut table = table::render(&cells);
    table.push_str(&saturation_note(&cells));
    table.push_str(&side_by_side_note(&records));
    table.push_str(
        "\nCost per request, server and load generator (CPU and context switches: the median round; system calls: the counting round):\n\n",
    );
    table.push_str(&table::render_costs(&cells));
    let comparisons = match config.baseline {
        Some(baseline) => verdict::compare_to_baseline(&records, baseline.name()),
        None => Vec::new(),
    };
    let mut written = vec![csv.clone(), machine.clone()];
    if let Some(baseline) = config.baseline {
        table.push_str(&format!(
            "\nAgainst {baseline}, round by round: median req/s ratio, {}% interval of the median, verdict:\n\n",
            verdict::CONFIDENCE * 100.0
        ));
        table.push_str(&verdict::render(&comparisons));
        let path = config.out_dir.join(format!("{}.verdicts.csv", config.name));
        verdict::write_csv(&path, &comparisons)?;
        let how = format!(
            "the verdicts of the rounds in {} against {baseline}",
            csv.display()
        );
        written.push(machine::write_derived(&path, &machine, &how)?);
        written.push(path);
    }
    write!(out, "{table}")?;
    let table_path = config.out_dir.join(format!("{}.table.txt", config.name));
    std::fs::write(&table_path, &table)?;
    written.push(table_path);
    let stem = config.out_dir.join(&config.name);
    let medians: Vec<CellRecord> = cells.iter().map(|cell| cell.median.clone()).collect();
    let plots = plot::plot_records(&medians, &stem, config.latency_connections)?;
    writeln!(out)?;
    for path in written.iter().chain(&plots) {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(CompareOutcome {
        csv,
        machine,
        plots,
        records,
        comparisons,
        stopped_early,
    })
}

/// A server under test and its CPU quota, if it has one. Fields drop in
/// order: the process is stopped before its cgroup is removed.
#[derive(Debug)]
struct Running {
    process: ServerProcess,
    _quota: Option<CpuQuota>,
}

/// One run of the plan: a cell in a round, alone or beside the baseline's.
#[derive(Debug, Clone, Copy)]
struct Step<'a> {
    /// The round recorded in the CSV: 0 for the counting round, then 1 to N.
    round: u64,
    cell: &'a Cell,
    /// (`--side-by-side`) The baseline's same cell, run at the same moment.
    beside: Option<&'a Cell>,
}

/// The longest run of a cell in the counting round: system calls per
/// request settle within a second.
const COUNTING_RUN: Duration = Duration::from_secs(1);

/// The order of every run, group by group: in each group (the cells one
/// server per contender serves, started afresh in every round, see
/// [`run_rounds`]), round after round, each cell's shape
/// run by every contender back to back, the contenders' order rotated
/// from one shape (and round) to the next. With `counting`, a counting
/// round (round 0) comes first. With `side_by_side` (the baseline), every
/// other contender's run of a measured round is paired with a run of the
/// baseline at the same moment; the counting round still runs one server
/// at a time, since its counters are per process.
fn plan(
    cells: &[Cell],
    rounds: usize,
    counting: bool,
    side_by_side: Option<Contender>,
) -> Vec<Vec<Step<'_>>> {
    let mut groups: Vec<Vec<&Cell>> = Vec::new();
    for cell in cells {
        match groups
            .iter_mut()
            .find(|group| group.iter().any(|other| other.same_group(cell)))
        {
            Some(group) => group.push(cell),
            None => groups.push(vec![cell]),
        }
    }
    let first_round = if counting { 0 } else { 1 };
    groups
        .into_iter()
        .map(|group| {
            let mut contenders: Vec<Contender> = Vec::new();
            let mut shapes: Vec<&Cell> = Vec::new();
            for cell in &group {
                if !contenders.contains(&cell.contender) {
                    contenders.push(cell.contender);
                }
                if !shapes.iter().any(|shape| shape.same_shape(cell)) {
                    shapes.push(cell);
                }
            }
            let mut steps = Vec::new();
            let mut turn = 0;
            for round in first_round..=rounds as u64 {
                for shape in &shapes {
                    // Rotated by one from one cell to the next (ABC, BCA,
                    // CAB, ...): every contender takes every place in
                    // turn, and none ever runs right after itself, which
                    // would give one side of a pair conditions the other
                    // lacks. Two contenders simply alternate (AB, AB, ...):
                    // for them any change of order runs one twice in a row.
                    let find = |contender: Contender| {
                        group
                            .iter()
                            .find(|c| c.contender == contender && c.same_shape(shape))
                            .copied()
                    };
                    let baseline = side_by_side.filter(|_| round > 0);
                    let beside = baseline.and_then(find);
                    let runners: Vec<Contender> = contenders
                        .iter()
                        .copied()
                        .filter(|c| beside.is_none() || Some(*c) != baseline)
                        .collect();
                    let n = runners.len();
                    let shift = if n > 2 { turn % n } else { 0 };
                    turn += 1;
                    for contender in runners.iter().cycle().skip(shift).take(n) {
                        if let Some(cell) = find(*contender) {
                            steps.push(Step {
                                round,
                                cell,
                                beside,
                            });
                        }
                    }
                }
            }
            steps
        })
        .collect()
}

/// Run every step of the [`plan`], a group's servers started afresh in
/// each round and stopped at its end; every run's row is kept.
fn run_rounds(
    config: &CompareConfig,
    cells: &[Cell],
    csv: &Path,
    progress: &mut dyn Write,
) -> io::Result<Vec<CellRecord>> {
    let started = Instant::now();
    // Counting system calls slows every one of them (docs/METHOD.md), so
    // they are counted in a short round of their own, not in the rounds
    // whose throughput is compared.
    let counting = match SyscallCounter::attach(std::process::id()) {
        Ok(_) => true,
        Err(reason) => {
            writeln!(
                progress,
                "note: system calls are not counted (n/a): {reason}"
            )?;
            false
        }
    };
    let side_by_side = config.baseline.filter(|_| config.side_by_side);
    let groups = plan(cells, config.rounds.max(1), counting, side_by_side);
    let run_of = |cell: &Cell, round: u64| {
        let mut cell = cell.clone();
        if round == 0 {
            cell.duration = cell.duration.min(COUNTING_RUN);
        }
        cell
    };
    let planned: Vec<Duration> = groups
        .iter()
        .flatten()
        .map(|s| run_of(s.cell, s.round).duration)
        .collect();
    let mut records = Vec::new();
    let mut step_number = 0;
    'groups: for steps in &groups {
        let mut servers: Vec<(Contender, Option<Running>)> = Vec::new();
        let mut round_of_servers = None;
        for step in steps {
            if config.stop.load(Ordering::Relaxed) {
                stop_all(&mut servers, progress)?;
                break 'groups;
            }
            // Fresh server processes in every round. What one process gets
            // by chance (where its code, stack and heap land in memory)
            // stays with it for as long as it runs and moves its speed by
            // a percent or two; kept for every round, it would shift the
            // whole run while the interval, made of the rounds, missed it.
            if round_of_servers.is_some_and(|round| round != step.round) {
                stop_all(&mut servers, progress)?;
            }
            round_of_servers = Some(step.round);
            let cell = run_of(step.cell, step.round);
            let beside = step.beside.map(|cell| run_of(cell, step.round));
            let round_label = match step.round {
                0 => "counting round (system calls): ".to_string(),
                round if config.rounds > 1 => format!("round {round} of {}: ", config.rounds),
                _ => String::new(),
            };
            let beside_label = match &beside {
                Some(other) => format!(", beside {}", other.contender),
                None => String::new(),
            };
            writeln!(
                progress,
                "[{}/{}] {round_label}{cell}{beside_label}{}",
                step_number + 1,
                planned.len(),
                eta(started.elapsed(), step_number, &planned)
            )?;
            step_number += 1;
            if let Some(feed) = &config.live {
                feed.send(live::Event::Cell(CellHeader {
                    number: step_number,
                    of: planned.len(),
                    label: format!("{round_label}{cell}{beside_label}"),
                }));
            }
            let settings = RunSettings {
                load_threads: config.load_threads,
                pinned: config.pin,
                server_cpu_quota: config.server_cpu,
                round: step.round,
                count_syscalls: step.round == 0,
            };
            let mut runs = vec![cell];
            runs.extend(beside);
            let mut up = Vec::new();
            for cell in &runs {
                up.push(ensure_running(config, cell, &mut servers, progress)?);
            }
            let measured = thread::scope(|scope| {
                // Each run of a side-by-side pair on a thread of its own,
                // started together: they share the moment, not a process's
                // figures (each load run counts its own threads' cost).
                let handles: Vec<_> = runs
                    .iter()
                    .zip(&up)
                    .zip(0..)
                    .map(|((cell, &is_up), index)| {
                        let server = running(&servers, cell.contender).filter(|_| is_up);
                        // The live view follows one load run: the engine's,
                        // not the baseline's beside it.
                        let feed = config.live.as_ref().filter(|_| index == 0);
                        scope.spawn(move || match server {
                            Some(server) => {
                                let watch = feed.map(|feed| feed as &dyn crate::load::Watch);
                                cell::measure(cell, &server.process, settings, watch).map(Some)
                            }
                            None => Ok(None),
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().expect("a measuring thread does not panic"))
                    .collect::<io::Result<Vec<Option<cell::Measured>>>>()
            })?;
            let names: Vec<String> = runs
                .iter()
                .map(|c| c.contender.name().to_string())
                .collect();
            for (index, (cell, measured)) in runs.iter().zip(measured).enumerate() {
                let mut record = match measured {
                    Some(measured) => {
                        if let Some(reason) = &measured.failure {
                            writeln!(progress, "  {}: load failed: {reason}", cell.contender)?;
                        }
                        if let Some(reason) = &measured.syscalls_unavailable {
                            writeln!(
                                progress,
                                "  note: system calls of this server not counted: {reason}"
                            )?;
                        }
                        let who = if runs.len() > 1 {
                            format!("{}: ", cell.contender)
                        } else {
                            String::new()
                        };
                        writeln!(progress, "  {who}{}", headline(&measured.record))?;
                        measured.record
                    }
                    None => cell::failed_record(cell, settings, "server-failed"),
                };
                // The other run of the pair, by name: the verdict pairs
                // each engine's row with the baseline's row of its moment.
                record.beside = (runs.len() > 1).then(|| names[1 - index].clone());
                if let Some(feed) = &config.live {
                    feed.send(live::Event::Finished(finished_cell(cell, &record)));
                }
                records.push(record);
            }
            // Rewritten after every run: an interrupted comparison keeps
            // what it measured.
            record::write_csv(csv, &records)?;
        }
        stop_all(&mut servers, progress)?;
    }
    Ok(records)
}

/// Make sure the server of `cell`'s contender runs, starting it (again) if
/// it is not running; `false`, said on `progress`, if it cannot be started.
fn ensure_running(
    config: &CompareConfig,
    cell: &Cell,
    servers: &mut Vec<(Contender, Option<Running>)>,
    progress: &mut dyn Write,
) -> io::Result<bool> {
    let index = match servers.iter().position(|(c, _)| *c == cell.contender) {
        Some(index) => index,
        None => {
            servers.push((cell.contender, None));
            servers.len() - 1
        }
    };
    let slot = &mut servers[index].1;
    if let Some(server) = slot {
        if let Some(status) = server.process.exited()? {
            writeln!(
                progress,
                "  server {} had exited ({status}); starting it again{}",
                cell.contender,
                server.process.stderr_excerpt()
            )?;
            *slot = None;
        }
    }
    if slot.is_none() {
        match start_server(config, cell) {
            Ok(server) => *slot = Some(server),
            Err(err) => writeln!(
                progress,
                "  server {} failed to start: {err}",
                cell.contender
            )?,
        }
    }
    Ok(slot.is_some())
}

/// The running server of `contender`, if it has one.
fn running(servers: &[(Contender, Option<Running>)], contender: Contender) -> Option<&Running> {
    servers
        .iter()
        .find(|(c, _)| *c == contender)
        .and_then(|(_, server)| server.as_ref())
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
        if process::find_in_path("taskset").is_none() {
            return Err(io::Error::other(
                "--pin needs `taskset` to pin the server, and it is not on PATH: \
                 install util-linux (apt-get install util-linux), or run without --pin",
            ));
        }
        sched::pin_current_thread(0)?;
    }
    Ok(())
}

/// The program that serves `contender`: this sockbench, or a built example.
fn program_of(config: &CompareConfig, contender: Contender) -> io::Result<PathBuf> {
    let example = match contender {
        Contender::Engine(_) | Contender::ReactorX2 | Contender::PreforkX2 => {
            return Ok(config.sockbench_exe.clone())
        }
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

/// Start the server for `cell` on port 0, in its CPU quota group with
/// `--server-cpu`, and wait for its address.
fn start_server(config: &CompareConfig, cell: &Cell) -> io::Result<Running> {
    let program = program_of(config, cell.contender)?;
    let mut args: Vec<String> = Vec::new();
    if let Some(serve_args) = cell.contender.serve_args() {
        args.push("serve".into());
        args.extend(serve_args.into_iter().map(String::from));
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
    let quota = match config.server_cpu {
        Some(fraction) => Some(CpuQuota::create(fraction, config.quota_period)?),
        None => None,
    };
    let process = ServerProcess::start(command, process::READY_TIMEOUT)?;
    if let Some(quota) = &quota {
        // The whole tree: a prefork server has forked its workers by now,
        // and a process moved alone leaves its children outside.
        for pid in crate::sys::proc::process_tree(process.pid())? {
            quota.add(pid)?;
        }
    }
    Ok(Running {
        process,
        _quota: quota,
    })
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

/// Stop a server and remove its quota group; say so if it had to be killed.
/// Stop every running server of a group.
fn stop_all(
    servers: &mut Vec<(Contender, Option<Running>)>,
    progress: &mut dyn Write,
) -> io::Result<()> {
    for (contender, server) in servers.drain(..) {
        if let Some(server) = server {
            stop(server, contender, progress)?;
        }
    }
    Ok(())
}

fn stop(server: Running, contender: Contender, progress: &mut dyn Write) -> io::Result<()> {
    let Running { process, _quota } = server;
    let excerpt = process.stderr_excerpt();
    match process.stop(process::STOP_TIMEOUT)? {
        Stopped::Exited(status) if status.success() => Ok(()),
        Stopped::Exited(status) => writeln!(
            progress,
            "  note: {contender} server exited with {status} when stopped{excerpt}"
        ),
        Stopped::Killed => writeln!(
            progress,
            "  note: {contender} server ignored SIGTERM for {:?} and was killed",
            process::STOP_TIMEOUT
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
fn saturation_note(cells: &[CellSummary]) -> String {
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

/// Under the table, side by side: how many paired runs had a server that
/// did not use its quota. Equal quotas make a pair's req/s ratio its cost
/// ratio only while both servers use them up; a server short of its quota
/// (the machine busy with other work, or the server waiting on something)
/// got what the scheduler gave it, and the pair's ratio says less.
fn side_by_side_note(records: &[CellRecord]) -> String {
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
fn finished_cell(cell: &Cell, record: &CellRecord) -> FinishedCell {
    let mut shape = format!("{} conn", cell.connections);
    if cell.pipeline > 1 {
        shape.push_str(&format!(" x{}", cell.pipeline));
    }
    if cell.size_bytes != 64 {
        shape.push_str(&format!(" {}B", cell.size_bytes));
    }
    if cell.service != crate::service::ServiceKind::Echo {
        shape.push_str(&format!(" {}", cell.service.name()));
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
    use crate::compare::record::tests::sample;

    /// Each round runs every contender once per cell, back to back, the
    /// order rotated from one cell to the next so that no contender runs
    /// twice in a row (two contenders simply alternate); groups (here: two
    /// kinds of work) are run one after the other.
    #[test]
    fn plan_interleaves_contenders_and_alternates_their_order() {
        let spec = MatrixSpec {
            contenders: vec![
                Contender::Engine(crate::engine::EngineKind::Pool),
                Contender::Engine(crate::engine::EngineKind::Reactor),
                Contender::Engine(crate::engine::EngineKind::Threaded),
            ],
            connections: vec![1, 10],
            works: vec![crate::engine::Work::None, "sleep:1ms".parse().unwrap()],
            ..MatrixSpec::default_run()
        };
        let cells = spec.cells().cells;
        let groups = plan(&cells, 2, false, None);
        assert_eq!(groups.len(), 2, "one group per kind of work");
        let order: Vec<String> = groups[0]
            .iter()
            .map(|step| {
                format!(
                    "{}:{}:{}",
                    step.round - 1,
                    step.cell.connections,
                    &step.cell.contender.name()[..1]
                )
            })
            .collect();
        assert_eq!(
            order.join(" "),
            "0:1:p 0:1:r 0:1:t 0:10:r 0:10:t 0:10:p 1:1:t 1:1:p 1:1:r 1:10:p 1:10:r 1:10:t"
        );
        let runs: Vec<Contender> = groups[0].iter().map(|step| step.cell.contender).collect();
        assert!(
            runs.windows(2).all(|pair| pair[0] != pair[1]),
            "no contender runs twice in a row"
        );
        let two = MatrixSpec {
            contenders: spec.contenders[..2].to_vec(),
            ..spec.clone()
        };
        let two_cells = two.cells().cells;
        let alternating: Vec<&str> = plan(&two_cells, 2, false, None)[0]
            .iter()
            .map(|step| step.cell.contender.name())
            .collect();
        assert_eq!(alternating, ["pool", "reactor"].repeat(4));
        assert!(groups[1]
            .iter()
            .all(|step| step.cell.work != crate::engine::Work::None));
    }

    /// Side by side, every other contender's measured run is paired with
    /// the baseline's same cell, in rotated order; the counting round
    /// still runs each server alone.
    #[test]
    fn side_by_side_pairs_every_run_with_the_baselines() {
        let baseline = Contender::EpollRaw;
        let spec = MatrixSpec {
            contenders: vec![
                Contender::Engine(crate::engine::EngineKind::Pool),
                Contender::Engine(crate::engine::EngineKind::Reactor),
                Contender::Engine(crate::engine::EngineKind::Threaded),
                baseline,
            ],
            connections: vec![1, 10],
            ..MatrixSpec::default_run()
        };
        let cells = spec.cells().cells;
        let groups = plan(&cells, 2, true, Some(baseline));
        assert_eq!(groups.len(), 1);
        let order: Vec<String> = groups[0]
            .iter()
            .map(|step| {
                let name = |cell: &Cell| cell.contender.name()[..1].to_string();
                format!(
                    "{}:{}:{}{}",
                    step.round,
                    step.cell.connections,
                    name(step.cell),
                    step.beside
                        .map_or(String::new(), |b| format!("+{}", name(b)))
                )
            })
            .collect();
        assert_eq!(
            order.join(" "),
            "0:1:p 0:1:r 0:1:t 0:1:e 0:10:r 0:10:t 0:10:e 0:10:p \
             1:1:t+e 1:1:p+e 1:1:r+e 1:10:p+e 1:10:r+e 1:10:t+e \
             2:1:r+e 2:1:t+e 2:1:p+e 2:10:t+e 2:10:p+e 2:10:r+e"
        );
        for step in groups[0].iter().filter(|step| step.round > 0) {
            let beside = step.beside.expect("paired");
            assert!(beside.same_shape(step.cell), "paired with the same cell");
        }
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
