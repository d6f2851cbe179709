//! Measure one cell: the load runs in this process, the server's cost is
//! read from `/proc` around it.
//!
//! Order of a cell: reset the server's peak-RSS mark, start the load (it
//! ends by itself: warmup plus cell duration, with connect and request
//! timeouts, so a server that cannot keep up yields timeouts and errors
//! rather than a hang). When the warmup ends, a sampling thread reads the
//! server's and our own CPU time; when the load returns, they are read
//! again. The CPU columns are the differences, so they cover the same
//! window as `duration_s`, `requests` and the latencies (plus the moments
//! the load takes to stop). `server_rss_kb` is the peak over the whole
//! cell, warmup included: connection set-up is when memory grows.

use std::io;
use std::thread;
use std::time::Duration;

use super::matrix::Cell;
use super::record::CellRecord;
use super::server::ServerProcess;
use super::system;
use crate::engine::ListenAddr;
use crate::load::{self, ErrorKind, LoadConfig, Outcome, ProgressMode, RunLimit, Target};

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
}

/// Run `cell` against `server` and return its CSV row. A load run that
/// fails outright is recorded as a row with one `load-failed` error, and
/// the reason is returned beside it to be shown.
pub fn measure(
    cell: &Cell,
    server: &ServerProcess,
    load_threads: usize,
    pinned: bool,
) -> io::Result<(CellRecord, Option<String>)> {
    let peak_is_per_cell = server.reset_peak_rss();
    let warmup = warmup_of(cell);
    let (at_warmup_end, load) = thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            // A timed sample, not synchronisation: the load's warmup ends now.
            thread::sleep(warmup);
            (server.stats(), system::process_cpu_s())
        });
        let load = run_load(server.addr(), cell, load_threads, warmup);
        (
            sampler.join().expect("the sampling thread does not panic"),
            load,
        )
    });
    let (server_before, client_before) = at_warmup_end;
    let (figures, failure) = match load {
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
    let client_cpu_s = system::process_cpu_s() - client_before;
    let (server_cpu_s, server_rss_kb) = match (server_before, server.stats()) {
        (Ok(before), Ok(after)) => (
            after.cpu_s - before.cpu_s,
            if peak_is_per_cell {
                after.peak_rss_kb
            } else {
                after.peak_rss_kb.max(before.peak_rss_kb)
            },
        ),
        // The server died during the cell: its cost is unknown and written
        // as 0; the errors and outcome columns say what happened.
        _ => (0.0, 0),
    };
    let percentile = |i: usize| figures.percentiles_us.map(|p| p[i]);
    let req_per_s = round(figures.req_per_s, 3);
    let record = CellRecord {
        engine: cell.contender.name().to_string(),
        transport: cell.transport.name().to_string(),
        service: cell.service.name().to_string(),
        work: cell.work.to_string(),
        connections: cell.connections as u64,
        pipeline: cell.pipeline as u64,
        size: cell.size_bytes as u64,
        duration_s: round(figures.duration_s, 3),
        requests: figures.requests,
        req_per_s,
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
        server_cpu_s: round(server_cpu_s, 3),
        server_rss_kb,
        client_cpu_s: round(client_cpu_s, 3),
        outcome: figures.outcome,
        pinned,
        runs: 1,
        req_per_s_min: Some(req_per_s),
        req_per_s_max: Some(req_per_s),
    };
    Ok((record, failure))
}

/// `value` rounded to `decimals` places, so the CSV reads cleanly.
fn round(value: f64, decimals: i32) -> f64 {
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
    warmup: Duration,
) -> io::Result<LoadFigures> {
    let config = LoadConfig {
        target: match addr {
            ListenAddr::Tcp(addr) => Target::Tcp(*addr),
            ListenAddr::Unix(path) => Target::Unix(path.clone()),
            ListenAddr::Udp(addr) => Target::Udp(*addr),
        },
        service: cell.service,
        connections: cell.connections,
        threads: load_threads.clamp(1, cell.connections.max(1)),
        limit: RunLimit::Duration(cell.duration),
        size_bytes: cell.size_bytes,
        pipeline: cell.pipeline,
        warmup,
        connect_timeout: CONNECT_TIMEOUT,
        request_timeout: (cell.duration / 2).clamp(MIN_REQUEST_TIMEOUT, MAX_REQUEST_TIMEOUT),
        ..LoadConfig::default()
    };
    let report = load::run(&config, ProgressMode::Quiet)?;
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
        errors_by_kind: ErrorKind::ALL
            .into_iter()
            .map(|kind| (kind.name(), report.errors.get(kind)))
            .filter(|&(_, count)| count > 0)
            .collect(),
        outcome: match report.outcome {
            Outcome::Finished => "finished",
            Outcome::ServerLost => "server-lost",
            Outcome::CutOff => "cut-off",
        }
        .to_string(),
    })
}
