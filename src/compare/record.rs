//! One CSV row per cell: the file `sockbench plot` and the README read.
//!
//! Columns, in order (latencies are from the client's side, in µs; a cell
//! that answered no request leaves its latency columns empty rather than
//! claiming 0 µs):
//!
//! | column | meaning |
//! |---|---|
//! | `engine` | the server: a contender's name ([`Contender::name`](super::matrix::Contender::name); `Contender::all` lists them) |
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
//! | `client_cpu_s` | CPU time (user + system) of this run's load threads in the measured window, each thread reading its own (`getrusage(RUSAGE_THREAD)`), so a run beside another in the same process (`--side-by-side`) counts only itself |
//! | `outcome` | how the load run ended: `finished`, `server-lost` (no connection could be opened: ended early), `cut-off` (load threads stopped at the hard deadline) or `load-failed` (it could not run: see the progress output) |
//! | `pinned` | server and generator pinned to separate cores (`--pin`) |
//! | `transport` | `tcp4`, `tcp6` or `unix` (absent in files from before it existed: read as `tcp4`) |
//! | `round` | which round of `--rounds N` this row is (1 to N); every round's row is kept, so the statistics can be redone from this file. Round 0 is the counting round, a run of at most 1 s per cell in which system calls are counted; it is left out of throughput figures and ratios, because counting slows every system call. Absent in older files: read as 1 |
//! | `server_cpu_quota` | the server's CPU quota as a share of one core (`--server-cpu`), empty without one |
//! | `load_threads` | load generator threads |
//! | `server_syscalls`, `client_syscalls` | system calls made in the measured window by the server process (all its threads) and by the load generator (this process); counted in round 0 only, empty in other rounds and where they cannot be counted (`counters`) |
//! | `server_vcsw`, `server_ivcsw`, `client_vcsw`, `client_ivcsw` | voluntary and involuntary context switches in the measured window, server and generator, summed over threads (`counters`; the generator's from its load threads, as `client_cpu_s`) |
//! | `load_core_cpu_s` | CPU time of the whole generator process over the window: with `--side-by-side` both runs of the pair, which share the generator's core; what the `bound` column's "load" is judged by (empty in older files: `client_cpu_s` is used) |
//! | `beside` | with `--side-by-side`, the server whose run took place at the same moment (the baseline for an engine's row, the engine for a baseline's row); empty when runs took turns |
//! | `idle` | idle connections held open and silent beside the active ones for the whole cell (`--idle`, [`idle`](super::idle)); 0 in older files |
//! | `server_sockets` | sockets the server held (its whole process tree, listener included, from `/proc`) when the window's end was read, every connection still open: at least `connections` + `idle` + 1 when it took them all up; empty in older files |
//! | `steal_cores` | the time the hypervisor gave this machine's cores to other guests over the window, in cores (steal of `/proc/stat`); above 0.1 the tables mark the row `!` (see `docs/METHOD.md`, "Steal"); empty in older files |
//! | `server_pid` | the server's process id in this run (the supervisor's, for prefork): a new one every round, since every round starts fresh server processes; empty where no server ran |
//! | `requests_per_connection` | with `--scenario unp`: answers after which the client closed each connection and opened another (1: a connection per request); empty: connections stayed open |
//! | `server_spread` | connections each worker of a pooled server (prefork child, prethreaded or pool thread) served in this round, `;`-separated in worker order, from the `sockbench: worker W served N connections` lines it writes when stopped ([`spread`](super::spread)); empty for the other servers, and for rounds with a server not stopped yet |

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
    /// Round of `--rounds` (from 1).
    #[serde(default = "one")]
    pub round: u64,
    /// Server CPU quota as a share of one core, if any.
    #[serde(default)]
    pub server_cpu_quota: Option<f64>,
    /// Load generator threads.
    #[serde(default)]
    pub load_threads: u64,
    /// Server system calls in the window.
    #[serde(default)]
    pub server_syscalls: Option<u64>,
    /// Server voluntary context switches in the window.
    #[serde(default)]
    pub server_vcsw: Option<u64>,
    /// Server involuntary context switches in the window.
    #[serde(default)]
    pub server_ivcsw: Option<u64>,
    /// Load generator system calls in the window.
    #[serde(default)]
    pub client_syscalls: Option<u64>,
    /// Load generator voluntary context switches in the window.
    #[serde(default)]
    pub client_vcsw: Option<u64>,
    /// Load generator involuntary context switches in the window.
    #[serde(default)]
    pub client_ivcsw: Option<u64>,
    /// CPU time of the whole generator process in the window (both runs
    /// of a side-by-side pair).
    #[serde(default)]
    pub load_core_cpu_s: Option<f64>,
    /// The server that ran at the same moment (`--side-by-side`).
    #[serde(default)]
    pub beside: Option<String>,
    /// The server's process id in this run.
    #[serde(default)]
    pub server_pid: Option<u32>,
    /// Idle connections held beside the active ones.
    #[serde(default)]
    pub idle: u64,
    /// The server's open sockets at the window's end.
    #[serde(default)]
    pub server_sockets: Option<u64>,
    /// Answers per connection before the client closed it.
    #[serde(default)]
    pub requests_per_connection: Option<u64>,
    /// Connections each worker served, `;`-separated, worker 0 first.
    #[serde(default)]
    pub server_spread: Option<String>,
    /// The time the hypervisor gave this machine's cores to other guests
    /// over the window, in cores (`/proc/stat` steal).
    #[serde(default)]
    pub steal_cores: Option<f64>,
}

/// The transport of rows written before the column existed.
fn tcp4() -> String {
    "tcp4".to_string()
}

/// The run count of rows written before the column existed.
fn one() -> u64 {
    1
}

/// A cell over all its rounds, for tables and plots: the run with the
/// median req/s, whole (its latencies and CPU times belong together), with
/// the count and the req/s range beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct CellSummary {
    /// The median run; for an even count the lower of the two middle runs,
    /// so at least half the runs reached the req/s shown.
    pub median: CellRecord,
    /// How many rounds ran the cell.
    pub runs: usize,
    /// Lowest req/s over the rounds.
    pub req_per_s_min: f64,
    /// Highest req/s over the rounds.
    pub req_per_s_max: f64,
    /// The cell's run in the counting round (round 0), where system calls
    /// were counted, if there was one.
    pub counting: Option<CellRecord>,
}

/// One summary per cell, in order of first appearance: rows of the same
/// cell (same [`CellRecord::cell_key`]) from different rounds are one cell.
/// The counting round's rows are kept apart: their throughput was slowed
/// by the counting.
pub fn summarise(records: &[CellRecord]) -> Vec<CellSummary> {
    let mut cells: Vec<(CellKey, Vec<&CellRecord>)> = Vec::new();
    for record in records.iter().filter(|r| r.round > 0) {
        let key = record.cell_key();
        match cells.iter_mut().find(|(k, _)| *k == key) {
            Some((_, runs)) => runs.push(record),
            None => cells.push((key, vec![record])),
        }
    }
    cells
        .into_iter()
        .map(|(key, mut runs)| {
            runs.sort_by(|a, b| a.req_per_s.total_cmp(&b.req_per_s));
            CellSummary {
                counting: records
                    .iter()
                    .find(|r| r.round == 0 && r.cell_key() == key)
                    .cloned(),
                median: runs[(runs.len() - 1) / 2].clone(),
                runs: runs.len(),
                req_per_s_min: runs[0].req_per_s,
                req_per_s_max: runs[runs.len() - 1].req_per_s,
            }
        })
        .collect()
}

/// What makes two rows the same cell: everything but the round and the
/// figures.
pub type CellKey = (String, String, String, String, u64, u64, u64, u64);

impl CellRecord {
    /// The cell this row measured: engine, transport, service, work,
    /// connections, pipeline, size, idle connections.
    pub fn cell_key(&self) -> CellKey {
        (
            self.engine.clone(),
            self.transport.clone(),
            self.service.clone(),
            self.work.clone(),
            self.connections,
            self.pipeline,
            self.size,
            self.idle,
        )
    }

    /// The same cell measured against another server: the key without the engine.
    pub fn shape_key(&self) -> CellKey {
        let mut key = self.cell_key();
        key.0 = String::new();
        key
    }

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

/// Write the header and `records` (compare's rows, or a scenario's) to `path`.
pub fn write_csv<T: Serialize>(path: &Path, records: &[T]) -> io::Result<()> {
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
            round: 1,
            server_cpu_quota: None,
            load_threads: 1,
            server_syscalls: Some((req_per_s * 3.0 * 2.0) as u64),
            server_vcsw: Some(100),
            server_ivcsw: Some(10),
            client_syscalls: Some((req_per_s * 3.0 * 2.0) as u64),
            client_vcsw: Some(100),
            client_ivcsw: Some(10),
            load_core_cpu_s: None,
            beside: None,
            server_pid: None,
            idle: 0,
            server_sockets: None,
            requests_per_connection: None,
            server_spread: None,
            steal_cores: None,
        }
    }

    /// A CSV from before the `transport` column (and the round, quota and
    /// counter columns after it) reads as TCP over IPv4, round 1, with no
    /// counts.
    #[test]
    fn rows_without_transport_read_as_tcp4_run_once() {
        let dir = std::env::temp_dir().join(format!("sockbench-old-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.csv");
        write_csv(&path, &[sample("reactor", 10, 1.0, Some(5))]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        // Every column after `pinned` is newer: cut them off each line.
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        let newer = header.len() - 1 - header.iter().position(|&c| c == "pinned").unwrap();
        let old: String = text
            .lines()
            .map(|line| line.rsplitn(newer + 1, ',').last().unwrap().to_string() + "\n")
            .collect();
        assert!(old.starts_with("engine,") && old.lines().next().unwrap().ends_with(",pinned"));
        std::fs::write(&path, old).unwrap();
        let records = read_csv(&path).unwrap();
        assert_eq!(records[0].transport, "tcp4");
        assert_eq!(records[0].round, 1);
        assert_eq!(records[0].server_syscalls, None);
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

    /// Rows of one cell from several rounds are one summary: the median
    /// run's row, whole, with the count and the range; of an even count,
    /// the lower middle run. Another cell stays apart, and so does the
    /// counting round's row.
    #[test]
    fn summary_keeps_the_median_row_and_the_range_per_cell() {
        let mut rows: Vec<CellRecord> = [(120.0, 7), (90.0, 3), (100.0, 5)]
            .iter()
            .enumerate()
            .map(|(round, &(rate, p99))| {
                let mut row = sample("reactor", 100, rate, Some(p99));
                row.round = round as u64 + 1;
                row
            })
            .collect();
        rows.push(sample("reactor", 1000, 80.0, Some(9)));
        let mut counting = sample("reactor", 100, 10.0, Some(99));
        counting.round = 0;
        rows.push(counting.clone());
        let summaries = summarise(&rows);
        assert_eq!(summaries.len(), 2);
        let median = &summaries[0];
        assert_eq!(median.median.req_per_s, 100.0);
        assert_eq!(
            median.median.p99_us,
            Some(5),
            "figures from one run, not mixed"
        );
        assert_eq!(median.runs, 3);
        assert_eq!((median.req_per_s_min, median.req_per_s_max), (90.0, 120.0));
        assert_eq!(summaries[1].runs, 1);
        assert_eq!(
            median.counting,
            Some(counting),
            "the counting round kept apart"
        );
        assert_eq!(summaries[1].counting, None);
        let of_two = summarise(&rows[..2]);
        assert_eq!(of_two[0].median.req_per_s, 90.0);
        assert_eq!(of_two[0].runs, 2);
    }
}
