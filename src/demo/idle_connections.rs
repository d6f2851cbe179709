//! `idle-connections`: why epoll exists, in under 30 seconds.
//!
//! `poll(2)` (and `select(2)`) hands the kernel the whole set of
//! descriptors on every call, and the kernel looks at every one, busy or
//! idle; epoll keeps the set in the kernel and returns only the ready
//! ones. So a `poll` server's CPU per request grows with the connections
//! it holds that do nothing, and the reactor's (epoll, through mio) does
//! not. The demo measures exactly that, as `compare --scenario idle` does
//! at full size ([`crate::compare::curve`]): each engine is a server
//! process of its own; a few busy clients echo 64-byte lines beside 0, then
//! [`Params::idle_counts`]'s second count of idle connections that never
//! send ([`crate::compare::idle`]); the figure is the server's CPU time
//! per request, and the system calls it made per request.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::compare::cell::{self, RunSettings};
use crate::compare::curve::cpu_us_per_request;
use crate::compare::launch;
use crate::compare::matrix::{Cell, Contender, Transport};
use crate::compare::record::CellRecord;
use crate::engine::{EngineKind, Work};
use crate::service::ServiceKind;
use crate::sys::process::{ServerProcess, READY_TIMEOUT, STOP_TIMEOUT};

/// The engine that scans every descriptor on every call.
const SCANNING: EngineKind = EngineKind::Poll;

/// The scanning engine, then the one that does not scan.
const ENGINES: [EngineKind; 2] = [SCANNING, EngineKind::Reactor];

/// Settings.
#[derive(Debug, Clone)]
pub struct Params {
    /// The two sizes: no idle connections, then many.
    pub idle_counts: [usize; 2],
    /// Busy clients, each one request at a time.
    pub active: usize,
    /// Measured time of each run (after a warmup of a fifth of it).
    pub duration: Duration,
    /// The `sockbench` binary that serves each engine.
    pub server_exe: PathBuf,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            idle_counts: [0, 5_000],
            active: 20,
            duration: Duration::from_millis(1500),
            // Run from the `sockbench` binary, this is that binary.
            server_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sockbench")),
        }
    }
}

/// What was measured: one row per engine and idle count, in run order
/// (each engine at both counts, the scanning one first).
#[derive(Debug, Clone)]
pub struct Report {
    /// Each run's figures, as `compare` records them.
    pub rows: Vec<CellRecord>,
}

impl Report {
    /// How many times the CPU per request at the second idle count is
    /// that at the first, for `engine`.
    pub fn growth(&self, engine: EngineKind) -> Option<f64> {
        let at = |idle: u64| {
            self.rows
                .iter()
                .find(|row| row.engine == engine.name() && row.idle == idle)
                .and_then(cpu_us_per_request)
        };
        let [first, second] = self.idle_counts();
        Some(at(second)? / at(first).filter(|&us| us > 0.0)?)
    }

    /// The two idle counts measured.
    fn idle_counts(&self) -> [u64; 2] {
        let most = self.rows.iter().map(|row| row.idle).max().unwrap_or(0);
        let least = self.rows.iter().map(|row| row.idle).min().unwrap_or(0);
        [least, most]
    }
}

/// Run the demo.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    let [few, many] = params.idle_counts;
    crate::load::ensure_descriptors(params.active + many)?;
    writeln!(
        out,
        "Idle connections: what watching sockets that do nothing costs per request."
    )?;
    writeln!(
        out,
        "Each engine is a server process; {} busy clients echo 64-byte lines for",
        params.active
    )?;
    writeln!(
        out,
        "{:.1} s beside {few}, then {many}, idle connections that never send a byte.",
        params.duration.as_secs_f64()
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "engine      idle     req/s  server µs/req  syscalls/req  sockets held"
    )?;
    let mut rows = Vec::new();
    for engine in ENGINES {
        for idle in params.idle_counts {
            let row = measure(engine, idle, params)?;
            let syscalls = row
                .server_syscalls
                .filter(|_| row.requests > 0)
                .map_or_else(
                    || "n/a".to_string(),
                    |n| format!("{:.2}", n as f64 / row.requests as f64),
                );
            writeln!(
                out,
                "{:<9} {idle:>6} {:>9.0} {:>14} {syscalls:>13} {:>13}",
                engine.name(),
                row.req_per_s,
                cpu_us_per_request(&row).map_or_else(|| "-".to_string(), |us| format!("{us:.2}")),
                row.server_sockets
                    .map_or_else(|| "n/a".to_string(), |n| n.to_string()),
            )?;
            out.flush()?;
            rows.push(row);
        }
    }
    let report = Report { rows };
    writeln!(out)?;
    for engine in ENGINES {
        match report.growth(engine) {
            Some(growth) => writeln!(
                out,
                "{}: with {many} idle connections each request cost {growth:.2}x the CPU.",
                engine.name()
            )?,
            None => writeln!(
                out,
                "{}: a run answered nothing (see above).",
                engine.name()
            )?,
        }
    }
    writeln!(
        out,
        "poll(2) passes the kernel every descriptor on every call, and the kernel"
    )?;
    writeln!(
        out,
        "scans them all, busy or idle; epoll (the reactor, through mio) keeps the set"
    )?;
    writeln!(
        out,
        "in the kernel and hands back only the ready ones (Banga and Mogul, 1998)."
    )?;
    writeln!(
        out,
        "Open src/engine/{}.rs next to src/engine/reactor.rs:",
        SCANNING.name()
    )?;
    writeln!(
        out,
        "the loop is the same, the waiting call is not. Full size: --scenario idle."
    )?;
    Ok(report)
}

/// One run: `engine` as a server process of its own, the busy clients
/// beside `idle` idle connections, its system calls counted.
fn measure(engine: EngineKind, idle: usize, params: &Params) -> io::Result<CellRecord> {
    let contender = Contender::Engine(engine);
    let mut command = Command::new(&params.server_exe);
    command.args(launch::server_args(
        contender,
        &[],
        Transport::Tcp4,
        ServiceKind::Echo,
    ));
    let server = ServerProcess::start(command, READY_TIMEOUT)?;
    let cell = Cell {
        contender,
        transport: Transport::Tcp4,
        service: ServiceKind::Echo,
        work: Work::None,
        connections: params.active,
        pipeline: 1,
        size_bytes: 64,
        idle,
        duration: params.duration,
    };
    let settings = RunSettings {
        load_threads: 1,
        pinned: false,
        server_cpu_quota: None,
        round: 1,
        // Counting slows every system call alike, at both idle counts.
        count_syscalls: true,
    };
    let measured = cell::measure(&cell, &server, settings, None)?;
    server.stop(STOP_TIMEOUT)?;
    match measured.failure {
        Some(reason) => Err(io::Error::other(format!(
            "{engine} with {idle} idle connections: {reason}"
        ))),
        None => Ok(measured.record),
    }
}
