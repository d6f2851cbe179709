//! The result of a load run: the figures, a human summary, and the
//! machine-readable forms (one CSV row or JSON object, a per-second timeline).
//!
//! # CSV columns ([`ReportRow`])
//! | column | meaning |
//! |---|---|
//! | `target`, `service` | where the load went, which protocol (`http1`, `redis`, `memcached` for a server sockbench did not write) |
//! | `connections`, `threads`, `pipeline`, `size_bytes` | the run's shape |
//! | `rate_per_s` | requested rate (open loop); empty for a closed loop |
//! | `duration_s` | measured time (after warmup; shorter if the run ended early) |
//! | `requests` | correct answers in that time |
//! | `sent` | requests sent that were meant to go in the measured window |
//! | `req_per_s`, `mb_per_s` | `requests` and answer bytes (10^6) per second |
//! | `p50_us` .. `max_us` | latency percentiles, µs; in rate mode from the intended send time |
//! | `uncorrected_p50_us`, `uncorrected_p99_us` | rate mode: from the actual send; else empty |
//! | `connect_p50_us`, `connect_p99_us` | connect time (start of connect to established) |
//! | `errors` | all errors; then `errors_KIND` per [`ErrorKind`](super::ErrorKind) (`errors_lost`: UDP requests not answered in time; `errors_failed`: answers in step that were not a success, a 404 or `-ERR`) |
//! | `loss_rate` | UDP: `errors_lost / sent`, 0 to 1; 0 over TCP and Unix sockets |
//! | `connections_established`, `connections_failed` | connects, reconnects included: the connections used |
//! | `closed_by_server` | connections a server closed after a whole answer (HTTP/1.0, `Connection: close`), reopened: not errors |
//! | `connections_up` | connections up (established at least once) when the ramp ended; less than `connections` means the ramp is inside the measured window |
//! | `ramp_s` | seconds from the first connect to the end of the ramp; empty if the run stopped first |
//! | `connections_open_at_end` | connections open when the run stopped |
//! | `slow_connects` | connects that took over 1 s (a SYN sent again) |
//! | `listen_overflows`, `listen_drops` | TCP to loopback: growth of the kernel's `ListenOverflows`, `ListenDrops` over the run (every listener on this machine); empty for a server elsewhere |
//! | `requests_per_connection`, `conn_per_s` | with `--requests-per-connection R`: R, and `requests / R` per second, the connections the client opened and closed; else empty |
//! | `outcome` | `finished`, `server-lost`, `cut-off`, `interrupted` (`stopped` in older files) or `generator-lost` (see [`Outcome`]) |

mod text;
pub use text::format_us;

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::capacity::PortRange;
use super::stats::{ErrorCounts, ErrorKind, FailedAnswers, Interval};
use super::timeline::TimelineRow;
use crate::service::ServiceKind;
use crate::sys::counters::ThreadCost;
use crate::sys::netstat::ListenQueue;

/// A connect slower than this waited for a retransmitted SYN: the first
/// retransmission comes after 1 s.
pub const SLOW_CONNECT_US: u64 = 1_000_000;

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It ran to its limit.
    Finished,
    /// The server stopped answering connects (UDP: datagrams were refused
    /// and none answered): ended early.
    ServerLost,
    /// Some load threads did not report by the hard deadline; the figures
    /// are what had arrived.
    CutOff,
    /// The user ended it early (SIGINT or SIGTERM, `q` in the live view);
    /// the figures cover the time it ran. Older files spell it `stopped`.
    #[serde(alias = "stopped")]
    Interrupted,
    /// With `--processes`: a generator process ended without a result (it
    /// died, or was killed, mid-run); the figures cover the others only.
    GeneratorLost,
}

impl Outcome {
    /// The short spelling, as in CSV files: `finished`, `server-lost`,
    /// `cut-off`, `interrupted`, `generator-lost`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Finished => "finished",
            Outcome::ServerLost => "server-lost",
            Outcome::CutOff => "cut-off",
            Outcome::Interrupted => "interrupted",
            Outcome::GeneratorLost => "generator-lost",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Finished => "finished",
            Outcome::ServerLost => {
                "server lost: no connection could be opened (over UDP: datagrams refused) for a second, ended early"
            }
            Outcome::CutOff => "cut off: load threads did not stop in time, partial results",
            Outcome::Interrupted => "interrupted by the user, partial results",
            Outcome::GeneratorLost => {
                "generator lost: a generator process ended without a result, the figures cover the others only"
            }
        })
    }
}

/// Latency percentiles in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest value.
    pub max_us: u64,
}

impl Percentiles {
    /// The percentiles of a histogram (all 0 when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        Percentiles {
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

/// How the connections came up before the measurement began.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ramp {
    /// Connections established at least once when the ramp ended: all of
    /// them, unless the ramp limit ended it.
    pub up: u64,
    /// Seconds from the first connect to the end of the ramp; `None` if the
    /// run stopped before the ramp ended (nothing was measured).
    pub duration_s: Option<f64>,
    /// Seconds from the first connect until every connection had been up
    /// (later than the ramp's end if the ramp limit ended it); `None` if
    /// they never all were.
    pub all_up_s: Option<f64>,
}

/// Everything one load run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The server, as displayed (`127.0.0.1:7000`, `unix:/path`,
    /// `udp:127.0.0.1:7000`).
    pub target: String,
    /// The load went over UDP: lost requests are part of the figures.
    pub is_udp: bool,
    /// The protocol spoken.
    pub service: ServiceKind,
    /// A server sockbench did not write: the protocol's name and what was
    /// asked (`("redis", "PING")`); `service` is then unused.
    pub wire: Option<(&'static str, String)>,
    /// Connections held open.
    pub connections: usize,
    /// Load threads used.
    pub threads: usize,
    /// Requests outstanding per connection.
    pub pipeline: usize,
    /// Request size (see `LoadConfig::size_bytes`).
    pub size_bytes: usize,
    /// Requested rate in rate mode.
    pub rate_per_s: Option<f64>,
    /// `--requests-per-connection`: answers after which the client closes
    /// a connection and opens another; `None`: connections stay open.
    pub requests_per_connection: Option<u64>,
    /// Wall-clock time when the measurement began (after the warmup).
    pub started_at: SystemTime,
    /// Measured seconds.
    pub duration_s: f64,
    /// Correct answers measured.
    pub requests: u64,
    /// Requests sent that were meant to go in the measured window.
    pub sent: u64,
    /// Bytes of those answers.
    pub bytes: u64,
    /// Latency, µs: from the intended send time in rate mode.
    pub latency_us: Histogram<u64>,
    /// Rate mode: latency from the actual send, µs.
    pub uncorrected_latency_us: Option<Histogram<u64>>,
    /// Connect times, µs (ramp and warmup included).
    pub connect_us: Histogram<u64>,
    /// Errors by kind (ramp and warmup included).
    pub errors: ErrorCounts,
    /// Connections established, reconnects included.
    pub connections_established: u64,
    /// Connection attempts that failed.
    pub connections_failed: u64,
    /// Connections the server closed after a whole answer, reopened.
    pub closed_by_server: u64,
    /// Answers that were not a success, by kind, and the first invalid one.
    pub failed_answers: FailedAnswers,
    /// How the connections came up before measuring.
    pub ramp: Ramp,
    /// Connections open when the run stopped.
    pub connections_open_at_end: u64,
    /// TCP to a loopback address: how much the kernel's listen-queue
    /// counters grew over the run (every listener on this machine); `None`
    /// for a server elsewhere, or if they could not be read.
    pub listen_queue: Option<ListenQueue>,
    /// One entry per second of the measurement, in order.
    pub intervals: Vec<Interval>,
    /// CPU time and context switches of the load threads over the measured
    /// window (read by each thread, so another run in the same process is
    /// not counted); `None` if measuring never began, or for a run of
    /// several generator processes.
    pub generator_cost: Option<ThreadCost>,
    /// How the run ended.
    pub outcome: Outcome,
}

/// One row of the CSV file or the JSON object; see the module docs.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)] // the columns are documented in the module table
pub struct ReportRow {
    pub target: String,
    pub service: String,
    pub connections: usize,
    pub threads: usize,
    pub pipeline: usize,
    pub size_bytes: usize,
    pub rate_per_s: Option<f64>,
    pub duration_s: f64,
    pub requests: u64,
    pub sent: u64,
    pub req_per_s: f64,
    pub mb_per_s: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub uncorrected_p50_us: Option<u64>,
    pub uncorrected_p99_us: Option<u64>,
    pub connect_p50_us: u64,
    pub connect_p99_us: u64,
    pub errors: u64,
    pub errors_refused: u64,
    pub errors_reset: u64,
    pub errors_connect_timeout: u64,
    pub errors_timeout: u64,
    pub errors_lost: u64,
    pub errors_invalid: u64,
    pub errors_failed: u64,
    pub errors_closed: u64,
    pub errors_no_port: u64,
    pub errors_no_descriptor: u64,
    pub errors_other: u64,
    pub loss_rate: f64,
    pub connections_established: u64,
    pub connections_failed: u64,
    pub closed_by_server: u64,
    pub connections_up: u64,
    pub ramp_s: Option<f64>,
    pub connections_open_at_end: u64,
    pub slow_connects: u64,
    pub listen_overflows: Option<u64>,
    pub listen_drops: Option<u64>,
    pub requests_per_connection: Option<u64>,
    pub conn_per_s: Option<f64>,
    pub outcome: Outcome,
}

impl LoadReport {
    /// The protocol spoken: the service, or the wire protocol's name.
    pub fn protocol(&self) -> &'static str {
        self.wire
            .as_ref()
            .map_or(self.service.name(), |(name, _)| name)
    }

    /// Correct answers per second.
    pub fn req_per_s(&self) -> f64 {
        per_second(self.requests as f64, self.duration_s)
    }

    /// With a connection per R requests: connections opened and closed
    /// per second, `requests / R` (each closes after its R-th answer).
    pub fn connections_per_s(&self) -> Option<f64> {
        let connections = self.requests as f64 / self.requests_per_connection? as f64;
        Some(per_second(connections, self.duration_s))
    }

    /// Answer bytes per second, in MB (10^6 bytes).
    pub fn mb_per_s(&self) -> f64 {
        per_second(self.bytes as f64 / 1e6, self.duration_s)
    }

    /// Latency at `percentile` (0..=100), µs.
    pub fn percentile_us(&self, percentile: f64) -> u64 {
        self.latency_us.value_at_percentile(percentile)
    }

    /// Latency percentiles (corrected in rate mode).
    pub fn latency(&self) -> Percentiles {
        Percentiles::of(&self.latency_us)
    }

    /// Rate mode: percentiles of the latency from the actual send.
    pub fn uncorrected_latency(&self) -> Option<Percentiles> {
        self.uncorrected_latency_us.as_ref().map(Percentiles::of)
    }

    /// Connect-time percentiles.
    pub fn connect(&self) -> Percentiles {
        Percentiles::of(&self.connect_us)
    }

    /// UDP: the fraction of the requests sent that were lost (0 to 1).
    pub fn loss_rate(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.errors.lost as f64 / self.sent as f64
        }
    }

    /// Ran to its limit, answered something, had every connection up before
    /// measuring, and nothing went wrong (over UDP: nothing was lost either).
    pub fn is_clean(&self) -> bool {
        self.outcome == Outcome::Finished
            && self.errors.total() == 0
            && self.requests > 0
            && !self.is_ramp_in_window()
    }

    /// Not every connection was up when measuring began: the measured
    /// window holds connects, and its latencies and rate show them.
    pub fn is_ramp_in_window(&self) -> bool {
        self.ramp.up < self.connections as u64
    }

    /// Connects that took over a second ([`SLOW_CONNECT_US`]), warmup
    /// included: each waited for its SYN to be sent again.
    pub fn slow_connects(&self) -> u64 {
        if self.connect_us.max() < SLOW_CONNECT_US {
            return 0;
        }
        self.connect_us
            .count_between(SLOW_CONNECT_US, self.connect_us.max())
    }

    /// The CSV row / JSON object.
    pub fn row(&self) -> ReportRow {
        let latency = self.latency();
        let uncorrected = self.uncorrected_latency();
        let connect = self.connect();
        let errors = &self.errors;
        ReportRow {
            target: self.target.clone(),
            service: self.protocol().to_owned(),
            connections: self.connections,
            threads: self.threads,
            pipeline: self.pipeline,
            size_bytes: self.size_bytes,
            rate_per_s: self.rate_per_s,
            duration_s: round_to(self.duration_s, 3),
            requests: self.requests,
            sent: self.sent,
            req_per_s: round_to(self.req_per_s(), 3),
            mb_per_s: round_to(self.mb_per_s(), 6),
            p50_us: latency.p50_us,
            p90_us: latency.p90_us,
            p99_us: latency.p99_us,
            p999_us: latency.p999_us,
            max_us: latency.max_us,
            uncorrected_p50_us: uncorrected.map(|p| p.p50_us),
            uncorrected_p99_us: uncorrected.map(|p| p.p99_us),
            connect_p50_us: connect.p50_us,
            connect_p99_us: connect.p99_us,
            errors: errors.total(),
            errors_refused: errors.refused,
            errors_reset: errors.reset,
            errors_connect_timeout: errors.connect_timeout,
            errors_timeout: errors.timeout,
            errors_lost: errors.lost,
            errors_invalid: errors.invalid,
            errors_failed: errors.failed,
            errors_closed: errors.closed,
            errors_no_port: errors.no_port,
            errors_no_descriptor: errors.no_descriptor,
            errors_other: errors.other,
            loss_rate: round_to(self.loss_rate(), 6),
            connections_established: self.connections_established,
            connections_failed: self.connections_failed,
            closed_by_server: self.closed_by_server,
            connections_up: self.ramp.up,
            ramp_s: self.ramp.duration_s.map(|s| round_to(s, 3)),
            connections_open_at_end: self.connections_open_at_end,
            slow_connects: self.slow_connects(),
            listen_overflows: self.listen_queue.map(|q| q.overflows),
            listen_drops: self.listen_queue.map(|q| q.drops),
            requests_per_connection: self.requests_per_connection,
            conn_per_s: self.connections_per_s().map(|rate| round_to(rate, 1)),
            outcome: self.outcome,
        }
    }

    /// One row per second of the measurement.
    pub fn timeline(&self) -> Vec<TimelineRow> {
        self.intervals.iter().map(TimelineRow::of).collect()
    }

    /// Append [`LoadReport::row`] to a CSV file, writing the header first
    /// when the file is new or empty.
    pub fn append_csv_row(&self, path: &Path) -> io::Result<()> {
        append_csv(path, &[self.row()])
    }

    /// Write the timeline as CSV (replacing the file).
    pub fn write_timeline(&self, path: &Path) -> io::Result<()> {
        let mut writer = csv::Writer::from_path(path).map_err(csv_error)?;
        for row in self.timeline() {
            writer.serialize(row).map_err(csv_error)?;
        }
        writer.flush()
    }
}

/// Append rows to a CSV file, with a header if the file is new or empty.
pub fn append_csv<T: Serialize>(path: &Path, rows: &[T]) -> io::Result<()> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let is_new = file.metadata()?.len() == 0;
    let mut writer = csv::WriterBuilder::new()
        .has_headers(is_new)
        .from_writer(file);
    for row in rows {
        writer.serialize(row).map_err(csv_error)?;
    }
    writer.flush()
}

fn csv_error(err: csv::Error) -> io::Error {
    io::Error::other(err)
}

fn per_second(amount: f64, duration_s: f64) -> f64 {
    if duration_s > 0.0 {
        amount / duration_s
    } else {
        0.0
    }
}

/// Round to `decimals` places, so CSV cells stay readable.
fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::stats::{new_histogram, ErrorKind};

    fn report() -> LoadReport {
        let mut latency = new_histogram();
        for us in 1..=100 {
            latency.record(us).unwrap();
        }
        LoadReport {
            target: "127.0.0.1:1".into(),
            is_udp: false,
            service: ServiceKind::Echo,
            wire: None,
            connections: 1,
            threads: 1,
            pipeline: 1,
            size_bytes: 64,
            rate_per_s: None,
            requests_per_connection: None,
            started_at: SystemTime::now(),
            duration_s: 2.0,
            requests: 100,
            sent: 100,
            bytes: 6400,
            latency_us: latency,
            uncorrected_latency_us: None,
            connect_us: new_histogram(),
            errors: ErrorCounts::default(),
            connections_established: 1,
            connections_failed: 0,
            closed_by_server: 0,
            failed_answers: FailedAnswers::default(),
            ramp: Ramp {
                up: 1,
                duration_s: Some(0.001),
                all_up_s: Some(0.001),
            },
            connections_open_at_end: 1,
            listen_queue: None,
            intervals: Vec::new(),
            generator_cost: None,
            outcome: Outcome::Finished,
        }
    }

    /// A run without an answer says why: invalid answers first, then
    /// connections closed before any answer, with the service to check.
    #[test]
    fn a_run_without_an_answer_says_what_happened() {
        let mut report = LoadReport {
            requests: 0,
            ..report()
        };
        assert_eq!(report.why_no_answer(), "no request was answered");
        report.errors.add(ErrorKind::Closed);
        let why = report.why_no_answer();
        assert!(
            why.contains("the connection was closed before any answer (1 closed")
                && why.ends_with("does the server speak --service echo?"),
            "{why}"
        );
        report.errors.add(ErrorKind::Invalid);
        assert_eq!(report.why_no_answer(), "no answer was valid (1 invalid)");
    }

    /// Rates divide by the measured duration; percentiles come from the histogram.
    #[test]
    fn row_has_rates_and_percentiles() {
        let row = report().row();
        assert_eq!(row.req_per_s, 50.0);
        assert_eq!(row.mb_per_s, 0.0032);
        assert_eq!(row.p50_us, 50);
        assert_eq!(row.max_us, 100);
        assert_eq!(row.uncorrected_p99_us, None);
        assert_eq!(row.conn_per_s, None);
    }

    /// With a connection per two requests, 100 answers in 2 s are 25
    /// connections a second, in the row and the summary.
    #[test]
    fn connections_per_second_are_answers_over_r() {
        let report = LoadReport {
            requests_per_connection: Some(2),
            ..report()
        };
        assert_eq!(report.row().conn_per_s, Some(25.0));
        assert!(report.to_string().contains("25.0 connections/s"));
    }

    /// The CSV header is written once, then one row per append.
    #[test]
    fn csv_header_written_only_for_a_new_file() {
        let path = std::env::temp_dir().join(format!("sockbench-csv-{}.csv", std::process::id()));
        let _ = std::fs::remove_file(&path);
        report().append_csv_row(&path).unwrap();
        report().append_csv_row(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("target,service,connections"));
        assert!(lines[0].ends_with("outcome"));
        assert!(lines[1].contains(",echo,"));
    }

    /// A run with errors, or one that ended early, is not clean.
    #[test]
    fn is_clean_needs_no_errors_and_a_finished_run() {
        assert!(report().is_clean());
        let mut with_error = report();
        with_error.errors.add(ErrorKind::Reset);
        assert!(!with_error.is_clean());
        let mut lost = report();
        lost.outcome = Outcome::ServerLost;
        assert!(!lost.is_clean());
    }

    /// Running out of ports or descriptors on this machine is named, with
    /// the limit and what to change.
    #[test]
    fn local_shortages_are_explained() {
        let mut short = report();
        short.errors.add(ErrorKind::NoPort);
        short.errors.add(ErrorKind::NoDescriptor);
        let text = short.to_string();
        assert!(
            text.contains("1 connects found no free local port (EADDRNOTAVAIL)")
                && text.contains("add --source 127.0.0.2-127.0.0.9"),
            "{text}"
        );
        assert!(
            text.contains("1 sockets could not be opened (EMFILE/ENFILE)")
                && text.contains("--processes"),
            "{text}"
        );
        assert_eq!(short.row().errors_no_port, 1);
        assert!(!report().to_string().contains("limit     "));
    }

    /// Over UDP the summary and the row give the loss rate, lost / sent.
    #[test]
    fn udp_report_shows_loss_rate() {
        let mut udp = report();
        udp.is_udp = true;
        udp.sent = 125;
        for _ in 0..25 {
            udp.errors.add(ErrorKind::Lost);
        }
        assert_eq!(udp.row().loss_rate, 0.2);
        assert_eq!(udp.row().errors_lost, 25);
        let text = udp.to_string();
        assert!(text.contains("loss      25 of 125 sent (20.00%)"), "{text}");
        assert!(!report().to_string().contains("loss"));
    }
}
