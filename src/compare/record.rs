//! One CSV row per cell: the file `sockbench plot` and the README read.
//!
//! Columns, in order (latencies are from the client's side, in µs; a cell
//! that answered no request leaves its latency columns empty rather than
//! claiming 0 µs):
//!
//! | column | meaning |
//! |---|---|
//! | `engine` | `iterative`, `threaded`, `pool`, `reactor`, `tokio` or `epoll-raw` |
//! | `service`, `work` | protocol, and simulated work per request (`none`, `sleep:1ms`, `cpu:100us`) |
//! | `connections`, `pipeline`, `size` | open connections, requests outstanding per connection, request bytes |
//! | `duration_s` | measured length of the run (each cell starts with an unmeasured warmup of a fifth of its length, at most 1 s, in which connections open; errors in it still count) |
//! | `requests` | answers received and validated |
//! | `req_per_s`, `mb_per_s` | validated answers per second; answer megabytes (10^6) per second |
//! | `p50_us` … `max_us` | latency percentiles: 50, 90, 99, 99.9, max |
//! | `errors` | failed requests and connections, all kinds |
//! | `errors_by_kind` | the same split by kind, `kind=count` separated by `;` |
//! | `server_cpu_s` | server CPU time (user + system) in the measured window (after the warmup); 0 if the server died during the cell |
//! | `server_rss_kb` | server peak resident memory (`VmHWM`) during the cell, warmup included (the process's lifetime peak where the kernel refuses to reset it); 0 if the server died |
//! | `client_cpu_s` | load generator CPU time (user + system) in the measured window |
//! | `outcome` | how the load run ended: `finished`, `server-lost` (no connection could be opened: ended early), `cut-off` (load threads stopped at the hard deadline) or `load-failed` (it could not run: see the progress output) |
//! | `pinned` | server and generator pinned to separate cores (`--pin`) |
//! | `transport` | `tcp4`, `tcp6` or `unix` (absent in files from before it existed: read as `tcp4`) |
//! | `runs` | how many times the cell ran (`--repeat`); every other column is from the run with the median `req_per_s` (the lower of the two middle runs for an even count). Absent in older files: read as 1 |
//! | `req_per_s_min`, `req_per_s_max` | the lowest and highest `req_per_s` over the runs: how far this machine's noise moved the cell (empty in older files) |

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One cell's figures, as one CSV row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// Server row name.
    pub engine: String,
    /// Service name.
    pub service: String,
    /// Simulated work per request.
    pub work: String,
    /// Open connections.
    pub connections: u64,
    /// Requests outstanding per connection.
    pub pipeline: u64,
    /// Request size in bytes.
    pub size: u64,
    /// Measured run length in seconds.
    pub duration_s: f64,
    /// Validated answers.
    pub requests: u64,
    /// Validated answers per second.
    pub req_per_s: f64,
    /// Answer megabytes (10^6) per second.
    pub mb_per_s: f64,
    /// Median latency.
    pub p50_us: Option<u64>,
    /// 90th percentile latency.
    pub p90_us: Option<u64>,
    /// 99th percentile latency.
    pub p99_us: Option<u64>,
    /// 99.9th percentile latency.
    pub p999_us: Option<u64>,
    /// Largest latency.
    pub max_us: Option<u64>,
    /// Errors of every kind.
    pub errors: u64,
    /// `kind=count;kind=count`, empty when there were none.
    pub errors_by_kind: String,
    /// Server CPU time during the cell.
    pub server_cpu_s: f64,
    /// Server peak RSS during the cell.
    pub server_rss_kb: u64,
    /// Load generator CPU time during the cell.
    pub client_cpu_s: f64,
    /// How the load run ended.
    pub outcome: String,
    /// Whether `--pin` was on.
    pub pinned: bool,
    /// `tcp4`, `tcp6` or `unix`.
    #[serde(default = "tcp4")]
    pub transport: String,
    /// Runs of this cell; the figures are the median run's.
    #[serde(default = "one")]
    pub runs: u64,
    /// Lowest req/s over the runs.
    #[serde(default)]
    pub req_per_s_min: Option<f64>,
    /// Highest req/s over the runs.
    #[serde(default)]
    pub req_per_s_max: Option<f64>,
}

/// The transport of rows written before the column existed.
fn tcp4() -> String {
    "tcp4".to_string()
}

/// The run count of rows written before the column existed.
fn one() -> u64 {
    1
}

/// One row for a cell run several times (`--repeat`): the run with the
/// median req/s, whole (its latencies and CPU times belong together), with
/// the run count and the req/s range beside it. For an even count the lower
/// of the two middle runs is taken, so at least half the runs reached the
/// req/s shown. `runs` must not be empty.
pub fn median_run(runs: &[CellRecord]) -> CellRecord {
    let mut by_rate: Vec<&CellRecord> = runs.iter().collect();
    by_rate.sort_by(|a, b| a.req_per_s.total_cmp(&b.req_per_s));
    let mut median = by_rate[(by_rate.len() - 1) / 2].clone();
    median.runs = runs.len() as u64;
    median.req_per_s_min = by_rate.first().map(|r| r.req_per_s);
    median.req_per_s_max = by_rate.last().map(|r| r.req_per_s);
    median
}

impl CellRecord {
    /// The latency percentiles with their labels, for tables and plots.
    pub fn percentiles(&self) -> [(&'static str, Option<u64>); 5] {
        [
            ("p50", self.p50_us),
            ("p90", self.p90_us),
            ("p99", self.p99_us),
            ("p99.9", self.p999_us),
            ("max", self.max_us),
        ]
    }
}

/// Write the header and `records` to `path`.
pub fn write_csv(path: &Path, records: &[CellRecord]) -> io::Result<()> {
    let mut writer = csv::Writer::from_path(path).map_err(|err| csv_error(path, err))?;
    for record in records {
        writer
            .serialize(record)
            .map_err(|err| csv_error(path, err))?;
    }
    writer.flush()
}

/// Read every record of a CSV written by [`write_csv`].
pub fn read_csv(path: &Path) -> io::Result<Vec<CellRecord>> {
    let mut reader = csv::Reader::from_path(path).map_err(|err| csv_error(path, err))?;
    reader
        .deserialize()
        .collect::<Result<Vec<CellRecord>, csv::Error>>()
        .map_err(|err| csv_error(path, err))
}

/// A CSV error as an `io::Error` naming the file.
fn csv_error(path: &Path, err: csv::Error) -> io::Error {
    io::Error::other(format!(
        "{}: {err} (is it a CSV written by `sockbench compare`?)",
        path.display()
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record with plausible figures, for this module's and others' tests.
    pub(crate) fn sample(
        engine: &str,
        connections: u64,
        req_per_s: f64,
        p99_us: Option<u64>,
    ) -> CellRecord {
        CellRecord {
            engine: engine.to_string(),
            service: "echo".to_string(),
            work: "none".to_string(),
            connections,
            pipeline: 1,
            size: 64,
            duration_s: 3.0,
            requests: (req_per_s * 3.0) as u64,
            req_per_s,
            mb_per_s: req_per_s * 128.0 / 1e6,
            p50_us: p99_us.map(|p| p / 4),
            p90_us: p99_us.map(|p| p / 2),
            p99_us,
            p999_us: p99_us.map(|p| p * 2),
            max_us: p99_us.map(|p| p * 5),
            errors: 0,
            errors_by_kind: String::new(),
            server_cpu_s: 2.5,
            server_rss_kb: 4096,
            client_cpu_s: 2.0,
            outcome: "finished".to_string(),
            pinned: false,
            transport: "tcp4".to_string(),
            runs: 1,
            req_per_s_min: Some(req_per_s),
            req_per_s_max: Some(req_per_s),
        }
    }

    /// A CSV from before the `transport` column (and the run columns after
    /// it) reads as TCP over IPv4, run once, with no range.
    #[test]
    fn rows_without_transport_read_as_tcp4_run_once() {
        let dir = std::env::temp_dir().join(format!("sockbench-old-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.csv");
        write_csv(&path, &[sample("reactor", 10, 1.0, Some(5))]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let old: String = text
            .lines()
            .map(|line| line.rsplitn(5, ',').last().unwrap().to_string() + "\n")
            .collect();
        assert!(old.starts_with("engine,") && old.lines().next().unwrap().ends_with(",pinned"));
        std::fs::write(&path, old).unwrap();
        let records = read_csv(&path).unwrap();
        assert_eq!(records[0].transport, "tcp4");
        assert_eq!(records[0].runs, 1);
        assert_eq!(records[0].req_per_s_min, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Records survive a write and a read, empty latencies included.
    #[test]
    fn records_round_trip_through_csv() {
        let dir = std::env::temp_dir().join(format!("sockbench-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.csv");
        let mut failed = sample("iterative", 1000, 0.0, None);
        failed.errors = 999;
        failed.errors_by_kind = "timeout=999".to_string();
        let records = vec![sample("reactor", 100, 50_000.0, Some(900)), failed];
        write_csv(&path, &records).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("engine,service,work,connections,pipeline,size,duration_s,requests,")
        );
        assert_eq!(read_csv(&path).unwrap(), records);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Of several runs, the row is the median run's, whole, with the count
    /// and the range; of an even count, the lower middle run.
    #[test]
    fn median_run_keeps_the_median_row_and_the_range() {
        let runs: Vec<CellRecord> = [(120.0, 7), (90.0, 3), (100.0, 5)]
            .iter()
            .map(|&(rate, p99)| sample("reactor", 100, rate, Some(p99)))
            .collect();
        let median = median_run(&runs);
        assert_eq!(median.req_per_s, 100.0);
        assert_eq!(median.p99_us, Some(5), "figures from one run, not mixed");
        assert_eq!(median.runs, 3);
        assert_eq!(
            (median.req_per_s_min, median.req_per_s_max),
            (Some(90.0), Some(120.0))
        );
        let median_of_two = median_run(&runs[..2]);
        assert_eq!(median_of_two.req_per_s, 90.0);
        assert_eq!(median_of_two.runs, 2);
        assert_eq!(median_run(&runs[..1]), runs[0]);
    }
}
