//! Measure one cell: the load runs in this process, the server's cost is
//! read from `/proc` around it.
//!
//! Order of a cell: reset the server's peak-RSS mark, open the cell's idle
//! connections and wait until the server holds them ([`super::idle`]),
//! start the load (it ends by itself: warmup plus cell duration, with
//! connect and request timeouts, so a server that cannot keep up yields
//! timeouts and errors rather than a hang). The load run says when its measured window begins
//! and ends ([`RunEvent::Measuring`], [`RunEvent::Measured`]), and the
//! server's and our own CPU time are read at those moments, so the CPU
//! columns cover the same window as `duration_s`, `requests` and the
//! latencies. The load keeps its connections open until the end has been
//! read: a thread-per-connection server's threads are all still there to
//! be counted, and so are the server's sockets, counted then. The idle
//! connections are closed after it, and the cell ends once the server
//! has let them go. `server_rss_kb` is the peak over the whole cell, warmup
//! included: connection set-up is when memory grows.
//!
//! The cost counters ([`crate::sys::counters`]) cover the same window: system
//! calls are counted from its start (counters attached to every thread of
//! the server and of this process), context switches are the differences
//! of per-thread `/proc` readings.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use super::idle::{self, IdleConnections};
use super::matrix::Cell;
use super::record::CellRecord;
pub use super::served::Served;
use crate::engine::ListenAddr;
use crate::load::{self, LoadConfig, ProgressMode, RunEvent, RunLimit, Target, Watch};
use crate::service::ServiceKind;
use crate::sys::counters::{
    self, ContextSwitches, SwitchSnapshot, SyscallCounter, ThreadCost, Unavailable,
};
use crate::sys::proc::{MachineCpu, ProcStats};

/// What the load generator measured in one cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadFigures {
    /// Measured run length in seconds.
    pub duration_s: f64,
    /// Validated answers.
    pub requests: u64,
    /// Validated answers per second.
    pub req_per_s: f64,
    /// Answer megabytes (10^6) per second.
    pub mb_per_s: f64,
    /// p50, p90, p99, p99.9 and max latency in µs; `None` without answers.
    pub percentiles_us: Option<[u64; 5]>,
    /// Errors by kind, only the kinds that happened.
    pub errors_by_kind: Vec<(&'static str, u64)>,
    /// How the load run ended (`finished`, `server-lost`, `cut-off`).
    pub outcome: String,
    /// What the load threads cost over the measured window.
    pub generator_cost: Option<ThreadCost>,
}

/// One cell's row, and what to tell the user about it.
#[derive(Debug)]
pub struct Measured {
    /// The CSV row.
    pub record: CellRecord,
    /// Why the load could not run, if it could not.
    pub failure: Option<String>,
    /// Why system calls were not counted, if they were not.
    pub syscalls_unavailable: Option<Unavailable>,
}

/// How a cell is run, beyond its shape.
#[derive(Debug, Clone, Copy)]
pub struct RunSettings {
    /// Load generator threads (capped by the cell's connections).
    pub load_threads: usize,
    /// Server and generator pinned to their own cores.
    pub pinned: bool,
    /// The server's CPU quota, as a share of one core.
    pub server_cpu_quota: Option<f64>,
    /// Which round this is: 0 for the counting round, then from 1.
    pub round: u64,
    /// Count system calls (it slows them: only in the counting round).
    pub count_syscalls: bool,
}

/// The counters of one side, read at the start of the measured window.
struct WindowStart {
    syscalls: Result<Option<SyscallCounter>, Unavailable>,
    syscalls_at_start: Option<u64>,
    switches: Option<SwitchSnapshot>,
}

impl WindowStart {
    /// `count_switches` false: the side's switches are read elsewhere (the
    /// generator's, by its load threads). Without a pid, nothing is counted.
    fn of(pid: Option<u32>, count_syscalls: bool, count_switches: bool) -> WindowStart {
        let mut syscalls = match pid {
            Some(pid) if count_syscalls => SyscallCounter::attach(pid).map(Some),
            _ => Ok(None),
        };
        let syscalls_at_start = match &mut syscalls {
            Ok(Some(counter)) => counter.count().ok(),
            _ => None,
        };
        WindowStart {
            syscalls,
            syscalls_at_start,
            switches: pid
                .filter(|_| count_switches)
                .and_then(|pid| SwitchSnapshot::of_process(pid).ok()),
        }
    }

    /// System calls and context switches since the start, where counted.
    fn finish(mut self, pid: Option<u32>) -> (Option<u64>, Option<ContextSwitches>) {
        let syscalls = match (&mut self.syscalls, self.syscalls_at_start) {
            (Ok(Some(counter)), Some(start)) => counter.count().ok().map(|end| end - start),
            _ => None,
        };
        let switches = self.switches.and_then(|start| {
            SwitchSnapshot::of_process(pid?)
                .ok()
                .map(|end| end.since(&start))
        });
        (syscalls, switches)
    }
}

/// Both sides' counters when the load's measured window began.
struct Opened {
    server: io::Result<ProcStats>,
    process_cpu_s: f64,
    /// The machine's steal so far, and when it was read.
    steal: Option<(f64, Instant)>,
    server_window: WindowStart,
    client_window: WindowStart,
}

/// What both sides cost over the measured window, read at its end.
struct Closed {
    /// The server's CPU time and peak memory at the start and the end.
    server: io::Result<(ProcStats, ProcStats)>,
    load_core_cpu_s: f64,
    /// The hypervisor's steal over the window, in cores.
    steal_cores: Option<f64>,
    server_syscalls: Option<u64>,
    server_switches: Option<ContextSwitches>,
    client_syscalls: Option<u64>,
    syscalls_unavailable: Option<Unavailable>,
    /// The server's open sockets once the window's figures were read.
    server_sockets: Option<u64>,
}

/// The window's edges as the load run tells them ([`RunEvent::Measuring`],
/// [`RunEvent::Measured`]): the server's and this process's counters are
/// read at those moments, so they cover the load's own measured window.
/// The load keeps its connections open until it has told the end, so a
/// server's per-connection threads are still there to be read. Every other
/// event goes on to the live view, if there is one.
struct WindowReader<'a> {
    server: Served<'a>,
    count_syscalls: bool,
    live: Option<&'a dyn Watch>,
    opened: RefCell<Option<Opened>>,
    closed: RefCell<Option<Closed>>,
}

impl fmt::Debug for WindowReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowReader")
            .field("server", &self.server.pid)
            .field("is_open", &self.opened.borrow().is_some())
            .finish_non_exhaustive()
    }
}

impl WindowReader<'_> {
    fn open(&self) {
        *self.opened.borrow_mut() = Some(Opened {
            server: self.server.stats(),
            process_cpu_s: counters::process_cpu_s(),
            steal: MachineCpu::read().map(|cpu| (cpu.steal_s, Instant::now())),
            server_window: WindowStart::of(self.server.pid, self.count_syscalls, true),
            client_window: WindowStart::of(Some(std::process::id()), self.count_syscalls, false),
        });
    }

    /// Read the end of the window, if it was opened and not yet closed.
    fn close(&self) {
        let Some(opened) = self.opened.borrow_mut().take() else {
            return;
        };
        let syscalls_unavailable = opened.server_window.syscalls.as_ref().err().cloned();
        let (server_syscalls, server_switches) = opened.server_window.finish(self.server.pid);
        // The generator's switches are its load threads' own (not the whole
        // process's): a run beside another in this process counts only itself.
        let (client_syscalls, _) = opened.client_window.finish(Some(std::process::id()));
        *self.closed.borrow_mut() = Some(Closed {
            server: opened
                .server
                .and_then(|before| self.server.stats().map(|after| (before, after))),
            load_core_cpu_s: counters::process_cpu_s() - opened.process_cpu_s,
            steal_cores: opened
                .steal
                .zip(MachineCpu::read())
                .and_then(|((before, at), after)| {
                    let span_s = at.elapsed().as_secs_f64();
                    (span_s > 0.0).then(|| round((after.steal_s - before).max(0.0) / span_s, 2))
                }),
            server_syscalls,
            server_switches,
            client_syscalls,
            syscalls_unavailable,
            // Counted after the figures: a readlink per descriptor is not
            // the window's work. The connections are all still open.
            server_sockets: idle::server_sockets(self.server).ok(),
        });
    }
}

impl Watch for WindowReader<'_> {
    fn see(&self, event: RunEvent) {
        match event {
            RunEvent::Measuring => self.open(),
            RunEvent::Measured => self.close(),
            _ => {}
        }
        if let Some(live) = self.live {
            live.see(event);
        }
    }

    fn should_stop(&self) -> bool {
        self.live.is_some_and(|live| live.should_stop())
    }
}

/// Run `cell` against `server` and return its CSV row. A load run that
/// fails outright is recorded as a row with one `load-failed` error, and
/// the reason is returned beside it to be shown.
/// With `watch`, the load run tells it how it goes (the live view).
pub fn measure(
    cell: &Cell,
    server: Served<'_>,
    settings: RunSettings,
    watch: Option<&dyn Watch>,
) -> io::Result<Measured> {
    let peak_is_per_cell = server.reset_peak_rss();
    let reader = WindowReader {
        server,
        count_syscalls: settings.count_syscalls,
        live: watch,
        opened: RefCell::new(None),
        closed: RefCell::new(None),
    };
    // Held from before the warmup to after the window's end was read.
    let load = IdleConnections::open(server, cell.idle).and_then(|idle| {
        let load = run_load(server.addr, cell, settings.load_threads, &reader);
        reader.close();
        idle.close(server)?;
        load
    });
    // A run that ended before its window did (it failed) is read now.
    reader.close();
    let (mut figures, failure) = match load {
        Ok(figures) => (figures, None),
        Err(err) => (
            LoadFigures {
                errors_by_kind: vec![("load-failed", 1)],
                outcome: "load-failed".to_string(),
                ..LoadFigures::default()
            },
            Some(err.to_string()),
        ),
    };
    let closed = reader.closed.into_inner();
    let generator = figures.generator_cost;
    // Checked again now, so a server that died at the window's end counts
    // too: its cost is unknown and written as 0, and the outcome says so.
    let is_alive = server.stats().is_ok();
    let (server_cpu_s, server_rss_kb) = match closed.as_ref().map(|closed| &closed.server) {
        Some(Ok((before, after))) if is_alive => (
            after.cpu_s - before.cpu_s,
            if peak_is_per_cell {
                after.peak_rss_kb
            } else {
                after.peak_rss_kb.max(before.peak_rss_kb)
            },
        ),
        // No window was measured (the load failed first): nothing it cost.
        None if is_alive => (0.0, 0),
        _ => {
            figures.outcome = "server-died".to_string();
            (0.0, 0)
        }
    };
    let costs = Costs {
        server_cpu_s,
        server_rss_kb,
        client_cpu_s: generator.map_or(0.0, |cost| cost.cpu_s),
        load_core_cpu_s: closed.as_ref().map_or(0.0, |closed| closed.load_core_cpu_s),
        steal_cores: closed.as_ref().and_then(|closed| closed.steal_cores),
        server_syscalls: closed.as_ref().and_then(|closed| closed.server_syscalls),
        server_switches: closed.as_ref().and_then(|closed| closed.server_switches),
        client_syscalls: closed.as_ref().and_then(|closed| closed.client_syscalls),
        client_switches: generator.map(|cost| cost.switches),
        server_sockets: closed.as_ref().and_then(|closed| closed.server_sockets),
    };
    Ok(Measured {
        record: CellRecord {
            server_pid: server.pid,
            ..record_of(cell, settings, figures, costs)
        },
        failure,
        syscalls_unavailable: closed.and_then(|closed| closed.syscalls_unavailable),
    })
}

/// A row for a run that could not happen (its server would not start):
/// the cell's shape, no figures, and `outcome` as the reason.
pub fn failed_record(cell: &Cell, settings: RunSettings, outcome: &'static str) -> CellRecord {
    let figures = LoadFigures {
        errors_by_kind: vec![(outcome, 1)],
        outcome: outcome.to_string(),
        ..LoadFigures::default()
    };
    record_of(cell, settings, figures, Costs::default())
}

/// What the cell cost each side over the measured window.
#[derive(Debug, Default)]
struct Costs {
    server_cpu_s: f64,
    server_rss_kb: u64,
    client_cpu_s: f64,
    load_core_cpu_s: f64,
    steal_cores: Option<f64>,
    server_syscalls: Option<u64>,
    server_switches: Option<ContextSwitches>,
    client_syscalls: Option<u64>,
    client_switches: Option<ContextSwitches>,
    server_sockets: Option<u64>,
}

/// The CSV row of `cell` from what the load and the counters measured.
fn record_of(cell: &Cell, settings: RunSettings, figures: LoadFigures, costs: Costs) -> CellRecord {
    let percentile = |i: usize| figures.percentiles_us.map(|p| p[i]);
    CellRecord {
        engine: cell.contender.name().to_string(),
        transport: cell.transport.name().to_string(),
        service: cell.service.name().to_string(),
        work: cell.work.to_string(),
        connections: cell.connections as u64,
        pipeline: cell.pipeline as u64,
        size: cell.size_bytes as u64,
        idle: cell.idle as u64,
        duration_s: round(figures.duration_s, 3),
        requests: figures.requests,
        req_per_s: round(figures.req_per_s, 3),
        mb_per_s: round(figures.mb_per_s, 3),
        p50_us: percentile(0),
        p90_us: percentile(1),
        p99_us: percentile(2),
        p999_us: percentile(3),
        max_us: percentile(4),
        errors: figures.errors_by_kind.iter().map(|(_, n)| n).sum(),
        errors_by_kind: figures
            .errors_by_kind
            .iter()
            .map(|(kind, n)| format!("{kind}={n}"))
            .collect::<Vec<_>>()
            .join(";"),
        server_cpu_s: round(costs.server_cpu_s, 3),
        server_rss_kb: costs.server_rss_kb,
        client_cpu_s: round(costs.client_cpu_s, 3),
        outcome: figures.outcome,
        pinned: settings.pinned,
        round: settings.round,
        server_cpu_quota: settings.server_cpu_quota,
        load_threads: load_threads_of(cell, settings.load_threads) as u64,
        server_syscalls: costs.server_syscalls,
        server_vcsw: costs.server_switches.map(|s| s.voluntary),
        server_ivcsw: costs.server_switches.map(|s| s.involuntary),
        client_syscalls: costs.client_syscalls,
        client_vcsw: costs.client_switches.map(|s| s.voluntary),
        client_ivcsw: costs.client_switches.map(|s| s.involuntary),
        load_core_cpu_s: Some(round(costs.load_core_cpu_s, 3)),
        beside: None,
        server_pid: None,
        server_sockets: costs.server_sockets,
        requests_per_connection: cell.requests_per_connection,
        server_spread: None,
        steal_cores: costs.steal_cores,
    }
}

/// Generator threads for `cell`: at most one per connection.
fn load_threads_of(cell: &Cell, load_threads: usize) -> usize {
    load_threads.clamp(1, cell.connections.max(1))
}

/// `value` rounded to `decimals` places, so the CSV reads cleanly.
pub(crate) fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Longest wait for a connection to be established.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for an answer: past it a request counts as a timeout. Cells
/// shorter than twice this use half their length, so a connection left
/// waiting for the whole cell (iterative with many clients) shows up as a
/// timeout instead of vanishing from the figures.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The shortest request timeout, for very short (smoke) cells.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest unmeasured warmup before a cell (a fifth of the cell otherwise).
const MAX_WARMUP: Duration = Duration::from_secs(1);

/// The unmeasured warmup before `cell`: a fifth of it, at most [`MAX_WARMUP`].
fn warmup_of(cell: &Cell) -> Duration {
    (cell.duration / 5).min(MAX_WARMUP)
}

/// The one place compare talks to the load generator: a closed-loop run
/// of the cell's shape against `addr`, after a short unmeasured warmup in
/// which connections open (errors in it still count).
fn run_load(
    addr: &ListenAddr,
    cell: &Cell,
    load_threads: usize,
    watch: &dyn Watch,
) -> io::Result<LoadFigures> {
    let config = LoadConfig {
        target: match addr {
            ListenAddr::Tcp(addr) => Target::Tcp(*addr),
            ListenAddr::Unix(path) => Target::Unix(path.clone()),
            ListenAddr::Udp(addr) => Target::Udp(*addr),
        },
        // Unused beside a wire request (redis, memcached, --path).
        service: cell.service.own().unwrap_or(ServiceKind::Echo),
        wire: cell.request.wire(cell.service, addr)?,
        connections: cell.connections,
        threads: load_threads_of(cell, load_threads),
        limit: RunLimit::Duration(cell.duration),
        size_bytes: cell.size_bytes,
        pipeline: cell.pipeline,
        warmup: warmup_of(cell),
        connect_timeout: CONNECT_TIMEOUT,
        request_timeout: (cell.duration / 2).clamp(MIN_REQUEST_TIMEOUT, MAX_REQUEST_TIMEOUT),
        requests_per_connection: cell.requests_per_connection,
        ..LoadConfig::default()
    };
    let report = load::run_watched(&config, ProgressMode::Quiet, watch)?;
    let latency = report.latency();
    Ok(LoadFigures {
        duration_s: report.duration_s,
        requests: report.requests,
        req_per_s: report.req_per_s(),
        mb_per_s: report.mb_per_s(),
        percentiles_us: (!report.latency_us.is_empty()).then_some([
            latency.p50_us,
            latency.p90_us,
            latency.p99_us,
            latency.p999_us,
            latency.max_us,
        ]),
        errors_by_kind: report.errors.by_kind(),
        outcome: report.outcome.name().to_string(),
        generator_cost: report.generator_cost,
    })
}
