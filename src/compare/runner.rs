//! The runner: it starts, pins, limits and stops the servers, and runs
//! the [`plan`]'s steps, one load run per cell (two at the
//! same moment side by side), keeping every run's row.
//!
//! Each server is a process of its own ([`ServerProcess`]), started from
//! its contender's command line ([`launch`]), with
//! `--pin` on the server core (`taskset`), with `--server-cpu` in a
//! CPU-quota cgroup of its own ([`CpuQuota`]). The servers of a group are
//! started afresh in every round and stopped (SIGTERM) at its end.
//!
//! A server sockbench did not write ([`foreign`]) goes through the same
//! steps from its own command ([`ExternalServer`]): the quota group is
//! made first and the server's first process joins it, and the server
//! core, between fork and exec, so whatever it forks is born inside
//! both; it is stopped with its whole process group (SIGKILL after
//! `--grace`), and removing its group kills anything of it still there.
//! A contender whose server fails to start (it exits, or never accepts
//! within `--ready-timeout`) is skipped, with the reason, for the rest of
//! its group; the others run.

use std::io::{self, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Instant;

use super::cell::{self, Measured, RunSettings, Served};
use super::foreign::{self, Foreign};
use super::launch::{self, Programs};
use super::matrix::{Cell, Contender};
use super::plan::{self, Step};
use super::record::{self, CellRecord};
use super::{spread, text, CompareConfig, SERVER_CORE};
use crate::engine::ListenAddr;
use crate::external::{self, ExternalServer, Placement};
use crate::live::{self, CellHeader};
use crate::sys::cgroup::CpuQuota;
use crate::sys::counters::SyscallCounter;
use crate::sys::process::{self, ServerProcess, Stopped};
use crate::sys::{proc, sched};

/// A server under test and its CPU quota, if it has one. Fields drop in
/// order: the process is stopped before its cgroup is removed.
#[derive(Debug)]
struct Running {
    process: Process,
    _quota: Option<CpuQuota>,
}

/// What runs a contender's server.
#[derive(Debug)]
enum Process {
    /// A sockbench server or a yardstick, which says where it listens.
    Ours(ServerProcess),
    /// A server started from its own command.
    Theirs(ExternalServer),
    /// A `--target`: already running, not ours to start or stop.
    Target(ListenAddr),
}

impl Process {
    /// Where it listens and what is measured.
    fn served(&self) -> Served<'_> {
        match self {
            Process::Ours(process) => Served::from(process),
            Process::Theirs(server) => Served {
                addr: server.addr(),
                pid: Some(server.pid()),
            },
            Process::Target(addr) => Served { addr, pid: None },
        }
    }

    /// How it exited, with its last words, if it has exited on its own.
    fn exited(&mut self) -> io::Result<Option<String>> {
        Ok(match self {
            Process::Ours(process) => process
                .exited()?
                .map(|status| format!("{status}{}", process.stderr_excerpt())),
            Process::Theirs(server) => server
                .exited()?
                .map(|status| format!("{status}{}", server.stderr_excerpt())),
            Process::Target(_) => None,
        })
    }
}

/// The servers of one group, one slot per contender (empty when its
/// server could not be started), and the contenders skipped for the rest
/// of the group because theirs would not start.
#[derive(Debug, Default)]
struct Servers {
    slots: Vec<(Contender, Option<Running>)>,
    skipped: Vec<Contender>,
}

/// Run every step of the plan, a group's servers started afresh in each
/// round and stopped at its end; every run's row is kept, and the CSV
/// rewritten after each run so an interrupted comparison keeps them.
pub fn run_rounds(
    config: &CompareConfig,
    cells: &[Cell],
    csv: &Path,
    progress: &mut dyn Write,
) -> io::Result<Vec<CellRecord>> {
    let started = Instant::now();
    let counting = can_count_syscalls(progress)?;
    let side_by_side = config.baseline.filter(|_| config.side_by_side);
    let groups = plan::plan(cells, config.rounds.max(1), counting, side_by_side);
    let planned = plan::planned_durations(&groups);
    let mut records = Vec::new();
    let mut done = 0;
    'groups: for steps in &groups {
        let group_start = records.len();
        let mut servers = Servers::default();
        let mut round_of_servers = None;
        for step in steps {
            if config.stop.load(Ordering::Relaxed) {
                servers.stop_all(progress)?;
                break 'groups;
            }
            // Fresh server processes in every round. What one process gets
            // by chance (where its code, stack and heap land in memory)
            // stays with it for as long as it runs and moves its speed by
            // a percent or two; kept for every round, it would shift the
            // whole run while the interval, made of the rounds, missed it.
            if let Some(round) = round_of_servers.filter(|&round| round != step.round) {
                let last_words = servers.stop_all(progress)?;
                note_spread(&mut records[group_start..], round, &last_words);
                record::write_csv(csv, &records)?;
            }
            round_of_servers = Some(step.round);
            let runs = step.runs();
            let label = text::run_label(step.round, config.rounds, &runs);
            writeln!(
                progress,
                "[{}/{}] {label}{}",
                done + 1,
                planned.len(),
                text::eta(started.elapsed(), done, &planned)
            )?;
            done += 1;
            if let Some(feed) = &config.live {
                feed.send(live::Event::Cell(CellHeader {
                    number: done,
                    of: planned.len(),
                    label,
                }));
            }
            let settings = RunSettings {
                load_threads: config.load_threads,
                pinned: config.pin,
                server_cpu_quota: config.server_cpu,
                round: step.round,
                count_syscalls: step.round == 0,
            };
            let measured = run_step(config, &runs, settings, &mut servers, progress)?;
            records.extend(records_of(
                config, step, &runs, measured, settings, progress,
            )?);
            record::write_csv(csv, &records)?;
        }
        let last_words = servers.stop_all(progress)?;
        if let Some(round) = round_of_servers {
            note_spread(&mut records[group_start..], round, &last_words);
            record::write_csv(csv, &records)?;
        }
    }
    Ok(records)
}

/// Put the connections each worker served, from the spread lines its
/// server wrote when stopped (`last_words`, per contender), in the rows
/// of that server in `round`: one server process served them all.
fn note_spread(records: &mut [CellRecord], round: u64, last_words: &[(Contender, Vec<String>)]) {
    for (contender, lines) in last_words {
        let counts = spread::counts_of(lines);
        if counts.is_empty() {
            continue; // not a pooled design
        }
        for record in records
            .iter_mut()
            .filter(|record| record.round == round && record.engine == contender.name())
        {
            record.server_spread = Some(spread::format_counts(&counts));
        }
    }
}

/// Whether system calls can be counted here; if not, say why. Counting
/// slows every system call (docs/METHOD.md), so they are counted in a
/// short round of their own, not in the rounds whose throughput is
/// compared.
fn can_count_syscalls(progress: &mut dyn Write) -> io::Result<bool> {
    match SyscallCounter::attach(std::process::id()) {
        Ok(_) => Ok(true),
        Err(reason) => {
            writeln!(
                progress,
                "note: system calls are not counted (n/a): {reason}"
            )?;
            Ok(false)
        }
    }
}

/// Make sure every run's server is up, then run the loads, each of a
/// side-by-side pair on a thread of its own, started together: they share
/// the moment, not a process's figures (each load run counts its own
/// threads' cost). `None` for a run whose server could not be started.
fn run_step(
    config: &CompareConfig,
    runs: &[Cell],
    settings: RunSettings,
    servers: &mut Servers,
    progress: &mut dyn Write,
) -> io::Result<Vec<Option<Measured>>> {
    let mut up = Vec::new();
    for cell in runs {
        up.push(servers.ensure_running(config, cell, progress)?);
    }
    let servers = &*servers;
    thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .zip(&up)
            .zip(0..)
            .map(|((cell, &is_up), index)| {
                let server = servers.running(cell.contender).filter(|_| is_up);
                // The live view follows one load run: the engine's, not
                // the baseline's beside it.
                let feed = config.live.as_ref().filter(|_| index == 0);
                scope.spawn(move || match server {
                    Some(server) => {
                        let watch = feed.map(|feed| feed as &dyn crate::load::Watch);
                        cell::measure(cell, server.process.served(), settings, watch).map(Some)
                    }
                    None => Ok(None),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a measuring thread does not panic"))
            .collect()
    })
}

/// The rows of one step's runs, each said on `progress` (and to the live
/// view) as it is made.
fn records_of(
    config: &CompareConfig,
    step: &Step<'_>,
    runs: &[Cell],
    measured: Vec<Option<Measured>>,
    settings: RunSettings,
    progress: &mut dyn Write,
) -> io::Result<Vec<CellRecord>> {
    let paired = step.beside.is_some();
    let mut records = Vec::new();
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
                let who = if paired {
                    format!("{}: ", cell.contender)
                } else {
                    String::new()
                };
                writeln!(progress, "  {who}{}", text::headline(&measured.record))?;
                measured.record
            }
            None => cell::failed_record(cell, settings, "server-failed"),
        };
        // The other run of the pair, by name: the verdict pairs each
        // engine's row with the baseline's row of its moment.
        record.beside = paired.then(|| runs[1 - index].contender.name().to_string());
        if let Some(feed) = &config.live {
            feed.send(live::Event::Finished(text::finished_cell(cell, &record)));
        }
        records.push(record);
    }
    Ok(records)
}

impl Servers {
    /// Make sure the server of `cell`'s contender runs, starting it
    /// (again) if it is not running; `false`, said on `progress`, if it
    /// cannot be started.
    fn ensure_running(
        &mut self,
        config: &CompareConfig,
        cell: &Cell,
        progress: &mut dyn Write,
    ) -> io::Result<bool> {
        if self.skipped.contains(&cell.contender) {
            return Ok(false);
        }
        let index = match self.slots.iter().position(|(c, _)| *c == cell.contender) {
            Some(index) => index,
            None => {
                self.slots.push((cell.contender, None));
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index].1;
        if let Some(server) = slot {
            if let Some(how) = server.process.exited()? {
                writeln!(
                    progress,
                    "  server {} had exited ({how}); starting it again",
                    cell.contender,
                )?;
                *slot = None;
            }
        }
        if slot.is_none() {
            match start_server(config, cell) {
                Ok(server) => *slot = Some(server),
                Err(err) => {
                    writeln!(
                        progress,
                        "  server {} failed to start, so it is skipped for the rest of this group (its rows say server-failed; the others run): {err}",
                        cell.contender
                    )?;
                    self.skipped.push(cell.contender);
                }
            }
        }
        Ok(slot.is_some())
    }

    /// The running server of `contender`, if it has one.
    fn running(&self, contender: Contender) -> Option<&Running> {
        self.slots
            .iter()
            .find(|(c, _)| *c == contender)
            .and_then(|(_, server)| server.as_ref())
    }

    /// Stop every running server of the group; the last lines each wrote
    /// on stderr.
    fn stop_all(&mut self, progress: &mut dyn Write) -> io::Result<Vec<(Contender, Vec<String>)>> {
        let mut last_words = Vec::new();
        for (contender, server) in self.slots.drain(..) {
            if let Some(server) = server {
                last_words.push((contender, stop(server, contender, progress)?));
            }
        }
        Ok(last_words)
    }
}

/// Raise the descriptor limit (for this process and the servers it
/// starts), and pin this process to core 0 with `--pin`.
pub fn prepare_client(config: &CompareConfig, cells: &[Cell]) -> io::Result<()> {
    // Raised here, before any server starts, so the servers inherit it.
    // Side by side, two runs hold their connections at once.
    let most = cells
        .iter()
        .map(|cell| cell.connections + cell.idle)
        .max()
        .unwrap_or(1)
        * if config.side_by_side { 2 } else { 1 };
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

/// The contenders' programs of this comparison.
pub fn programs(config: &CompareConfig) -> Programs<'_> {
    Programs {
        sockbench_exe: &config.sockbench_exe,
        examples_dir: &config.examples_dir,
    }
}

/// Start the server for `cell` on port 0, on the server core with
/// `--pin`, in its CPU quota group with `--server-cpu`, and wait for its
/// address.
fn start_server(config: &CompareConfig, cell: &Cell) -> io::Result<Running> {
    if let Contender::Foreign(foreign) = cell.contender {
        return start_foreign(config, foreign);
    }
    let program = programs(config).built(cell.contender)?;
    let serve_flags = ["--work".to_string(), cell.work.to_string()];
    // The matrix runs sockbench's servers with its own services only.
    let service = cell.service.own().ok_or_else(|| {
        io::Error::other(format!(
            "{} does not speak {}",
            cell.contender, cell.service
        ))
    })?;
    let args = launch::server_args(cell.contender, &serve_flags, cell.transport, service);
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
        for pid in proc::process_tree(process.pid())? {
            quota.add(pid)?;
        }
    }
    Ok(Running {
        process: Process::Ours(process),
        _quota: quota,
    })
}

/// Start a server sockbench did not write from its command, inside its
/// quota group and on the server core from its first instruction (a
/// `--target` is only looked up: it runs already).
fn start_foreign(config: &CompareConfig, foreign: Foreign) -> io::Result<Running> {
    let command = match foreign {
        Foreign::Target(named) => {
            // Not ours to start: only make sure something accepts there.
            TcpStream::connect_timeout(&named.addr, config.ready_timeout).map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!(
                        "nothing accepts at {} ({err}): start that server first, or fix --target {}=ADDR",
                        named.addr, named.name
                    ),
                )
            })?;
            return Ok(Running {
                process: Process::Target(ListenAddr::Tcp(named.addr)),
                _quota: None,
            });
        }
        Foreign::Command(named) => named.command.clone(),
        Foreign::Production(server) => server.command(&foreign::configs_dir())?,
    };
    let quota = match config.server_cpu {
        Some(fraction) => Some(CpuQuota::create(fraction, config.quota_period)?),
        None => None,
    };
    let placement = Placement {
        quota: quota.as_ref(),
        core: config.pin.then_some(SERVER_CORE),
    };
    let server = command.start_placed(config.ready_timeout, config.grace, placement)?;
    Ok(Running {
        process: Process::Theirs(server),
        _quota: quota,
    })
}

/// Stop a server and remove its quota group; say so if it had to be
/// killed or exited badly. Returns the last lines it wrote on stderr
/// (none for a server sockbench did not write).
fn stop(
    server: Running,
    contender: Contender,
    progress: &mut dyn Write,
) -> io::Result<Vec<String>> {
    let Running { process, _quota } = server;
    let child = match process {
        Process::Ours(child) => child,
        Process::Theirs(server) => {
            return stop_theirs(server, contender, progress).map(|()| Vec::new())
        }
        Process::Target(_) => return Ok(Vec::new()),
    };
    let excerpt = child.stderr_excerpt();
    let (stopped, last_words) = child.stop_with_last_words(process::STOP_TIMEOUT)?;
    match stopped {
        Stopped::Exited(status) if status.success() => {}
        Stopped::Exited(status) => writeln!(
            progress,
            "  note: {contender} server exited with {status} when stopped{excerpt}"
        )?,
        Stopped::Killed => writeln!(
            progress,
            "  note: {contender} server ignored SIGTERM for {:?} and was killed",
            process::STOP_TIMEOUT
        )?,
    }
    Ok(last_words)
}

/// Stop a server started from its command, with its process group; say
/// so if it had to be killed.
fn stop_theirs(
    server: ExternalServer,
    contender: Contender,
    progress: &mut dyn Write,
) -> io::Result<()> {
    let grace = server.grace();
    match server.stop()? {
        external::Stopped::Exited(_) => Ok(()),
        external::Stopped::Killed => writeln!(
            progress,
            "  note: {contender}: a process of its group outlived SIGTERM by {grace:?} and was killed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::tests::sample;
    use crate::engine::EngineKind;

    /// The spread lines a server wrote go to its own rows of that round
    /// only; a server that wrote none (not a pool) leaves its rows empty.
    #[test]
    fn spread_lines_go_to_the_rows_of_their_server_and_round() {
        let row = |engine: &str, round: u64| CellRecord {
            round,
            ..sample(engine, 5, 100.0, Some(900))
        };
        let mut records = vec![row("pool", 1), row("pool", 2), row("reactor", 2)];
        let lines = |text: &[&str]| text.iter().map(|line| line.to_string()).collect();
        let last_words = [
            (
                Contender::Engine(EngineKind::Pool),
                lines(&[
                    "sockbench: worker 1 served 9 connections",
                    "sockbench: worker 0 served 11 connections",
                ]),
            ),
            (
                Contender::Engine(EngineKind::Reactor),
                lines(&["SIGTERM: no new connections"]),
            ),
        ];
        note_spread(&mut records, 2, &last_words);
        assert_eq!(records[0].server_spread, None);
        assert_eq!(records[1].server_spread.as_deref(), Some("11;9"));
        assert_eq!(records[2].server_spread, None);
    }
}
