//! `idle-connections`: why epoll exists, in under 30 seconds.
//!
//! `poll(2)` (and `select(2)`) hands the kernel the whole set of
//! descriptors on every call, and the kernel looks at every one, busy or
//! idle; epoll keeps the set in the kernel and returns only the ready
//! ones. So a `poll` server's CPU per request grows with the connections
//! it holds that do nothing, and the reactor's (epoll, through mio) does
//! not. The demo measures exactly that, a small `compare --scenario idle`:
//! it runs `sockbench compare` as a child process once per engine (a few
//! busy clients echo 64-byte lines beside 0, then [`Params::idle_counts`]'s
//! second count of idle connections that never send), reads the CSV it
//! wrote and prints the server's CPU time per request, and the system calls
//! it made per request. Running the command, not calling its code, keeps
//! the demo apart from `compare` (issue 18) and shows the class the command
//! that makes the full-size curve.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;

use crate::engine::EngineKind;

/// The engine that scans every descriptor on every call.
const SCANNING: EngineKind = EngineKind::Poll;

/// The scanning engine, then the one that does not scan.
const ENGINES: [EngineKind; 2] = [SCANNING, EngineKind::Reactor];

/// `compare --name`: its CSV is `OUT/NAME.csv`.
const RESULTS_NAME: &str = "idle-connections";

/// How many of a failed `compare`'s last stderr lines the error shows.
const STDERR_TAIL_LINES: usize = 10;

/// Settings.
#[derive(Debug, Clone)]
pub struct Params {
    /// The two sizes: no idle connections, then many.
    pub idle_counts: [usize; 2],
    /// Busy clients, each one request at a time.
    pub active: usize,
    /// Measured time of each run (after a warmup of a fifth of it).
    pub duration: Duration,
    /// The `sockbench` binary whose `compare` runs the servers and the load.
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

/// One row of the CSV `compare` wrote: the columns the demo reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    /// The engine, as `--engines` spells it.
    pub engine: String,
    /// 0 for the counting round (system calls counted, which slows them),
    /// then the measured round.
    pub round: u64,
    /// Idle connections held beside the busy ones.
    pub idle: u64,
    /// Requests the busy clients had answered in the window.
    pub requests: u64,
    /// Their rate.
    pub req_per_s: f64,
    /// CPU time the server process used in the window.
    pub server_cpu_s: f64,
    /// System calls the server made in the window (counting round only).
    pub server_syscalls: Option<u64>,
    /// Sockets the server held at the window's end.
    pub server_sockets: Option<u64>,
    /// `finished`, or why the run stopped.
    pub outcome: String,
}

impl Row {
    /// Server CPU per request in µs, where the run answered any.
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        (self.requests > 0 && self.outcome == "finished")
            .then(|| self.server_cpu_s * 1e6 / self.requests as f64)
    }

    /// Server system calls per request, where they were counted.
    fn syscalls_per_request(&self) -> Option<f64> {
        let syscalls = self.server_syscalls.filter(|_| self.requests > 0)?;
        Some(syscalls as f64 / self.requests as f64)
    }
}

/// What was measured: one row per engine and idle count, in run order
/// (each engine at both counts, the scanning one first).
#[derive(Debug, Clone)]
pub struct Report {
    /// Each engine's measured round at each idle count.
    pub rows: Vec<Row>,
    /// The counting round's rows (system calls counted), where the
    /// machine lets `compare` count them.
    pub counted: Vec<Row>,
}

impl Report {
    /// How many times the CPU per request at the second idle count is
    /// that at the first, for `engine`.
    pub fn growth(&self, engine: EngineKind) -> Option<f64> {
        let at = |idle: u64| {
            self.rows
                .iter()
                .find(|row| row.engine == engine.name() && row.idle == idle)
                .and_then(Row::cpu_us_per_request)
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

    /// System calls per request of `row`'s engine and idle count, from
    /// the counting round.
    fn syscalls_per_request(&self, row: &Row) -> Option<f64> {
        self.counted
            .iter()
            .find(|counted| counted.engine == row.engine && counted.idle == row.idle)
            .and_then(Row::syscalls_per_request)
    }
}

/// Run the demo.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    let [few, many] = params.idle_counts;
    // The child `compare` inherits the limit: raised here, a limit too low
    // for the idle connections is an error before anything runs.
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
    let mut report = Report {
        rows: Vec::new(),
        counted: Vec::new(),
    };
    for engine in ENGINES {
        let (measured, counted) = compare(engine, params)?
            .into_iter()
            .partition::<Vec<_>, _>(|row| row.round > 0);
        report.counted.extend(counted);
        for idle in params.idle_counts {
            let row = measured
                .iter()
                .find(|row| row.idle == idle as u64)
                .ok_or_else(|| {
                    io::Error::other(format!(
                        "sockbench compare wrote no measured row for {engine} with {idle} \
                         idle connections: run `sockbench compare --engines {engine} \
                         --idle {few},{many}` to see why"
                    ))
                })?;
            writeln!(
                out,
                "{:<9} {idle:>6} {:>9.0} {:>14} {:>13} {:>13}",
                engine.name(),
                row.req_per_s,
                figure(row.cpu_us_per_request(), "-"),
                figure(report.syscalls_per_request(row), "n/a"),
                row.server_sockets
                    .map_or_else(|| "n/a".to_string(), |n| n.to_string()),
            )?;
            report.rows.push(row.clone());
        }
        out.flush()?;
    }
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

/// A figure with two decimals, or `missing`.
fn figure(value: Option<f64>, missing: &str) -> String {
    value.map_or_else(|| missing.to_string(), |value| format!("{value:.2}"))
}

/// `sockbench compare` for `engine` at both idle counts, one round (after
/// its counting round, where system calls can be counted); every row of
/// the CSV it wrote.
fn compare(engine: EngineKind, params: &Params) -> io::Result<Vec<Row>> {
    let out_dir = ScratchDir::new()?;
    let [few, many] = params.idle_counts;
    let args = [
        "compare".to_string(),
        "--engines".to_string(),
        engine.name().to_string(),
        "--services".to_string(),
        "echo".to_string(),
        "--connections".to_string(),
        params.active.to_string(),
        "--idle".to_string(),
        format!("{few},{many}"),
        "--duration".to_string(),
        format!("{}ms", params.duration.as_millis()),
        "--rounds".to_string(),
        "1".to_string(),
        "--sizes".to_string(),
        "64".to_string(),
        // One load thread, as many as the busy clients need on any machine.
        "--load-threads".to_string(),
        "1".to_string(),
        "--name".to_string(),
        RESULTS_NAME.to_string(),
        "--out-dir".to_string(),
        out_dir.0.display().to_string(),
    ];
    let shown = format!("{} {}", params.server_exe.display(), args.join(" "));
    // Its progress lines are wider than the screen: kept for an error,
    // not shown. Its tables and plots go to the scratch directory's files
    // and stdout, which the demo does not need.
    let output = Command::new(&params.server_exe)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|err| io::Error::other(format!("cannot run `{shown}`: {err}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = &lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..];
        return Err(io::Error::other(format!(
            "`{shown}` failed ({}); its last lines:\n{}",
            output.status,
            tail.join("\n")
        )));
    }
    read_rows(&out_dir.0.join(format!("{RESULTS_NAME}.csv")))
}

/// Every row of a `compare` CSV.
fn read_rows(csv: &Path) -> io::Result<Vec<Row>> {
    let unreadable = |err: csv::Error| {
        io::Error::other(format!(
            "cannot read {}: {err} (was it written by this sockbench?)",
            csv.display()
        ))
    };
    csv::Reader::from_path(csv)
        .map_err(unreadable)?
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(unreadable)
}

/// A new, empty directory for one `compare` run's files, removed with
/// everything in it when dropped.
#[derive(Debug)]
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> io::Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("sockbench-demo-idle-{}-{n}", std::process::id()));
        // Left by an earlier process that had this id and crashed.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir)?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Only our own files are in it; a failure leaves a temp directory.
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns the demo reads, from a CSV with more columns than it
    /// needs, the counting round's system calls beside the measured
    /// round's empty cell.
    #[test]
    fn rows_are_read_from_a_compare_csv() {
        let dir = ScratchDir::new().unwrap();
        let csv = dir.0.join("rows.csv");
        fs::write(
            &csv,
            "engine,requests,req_per_s,server_cpu_s,outcome,round,server_syscalls,idle,server_sockets\n\
             poll,1000,2000.0,0.01,finished,0,2500,0,11\n\
             poll,500,1000.0,0.02,finished,1,,1000,1011\n",
        )
        .unwrap();
        let rows = read_rows(&csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].syscalls_per_request(), Some(2.5));
        assert_eq!(rows[1].syscalls_per_request(), None);
        assert_eq!(rows[1].cpu_us_per_request(), Some(40.0));
        assert_eq!((rows[1].idle, rows[1].server_sockets), (1000, Some(1011)));
    }

    /// A `compare` that fails is an error naming the command it ran and
    /// showing what it said last.
    #[test]
    fn a_failing_compare_names_the_command_and_its_last_lines() {
        // `sh compare ...` exits non-zero: there is no script `compare`.
        let params = Params {
            idle_counts: [0, 1],
            active: 1,
            duration: Duration::from_millis(100),
            server_exe: PathBuf::from("/bin/sh"),
        };
        let err = compare(EngineKind::Poll, &params).unwrap_err().to_string();
        assert!(err.contains("`/bin/sh compare --engines poll"), "{err}");
        // The shell's own complaint, after the command line.
        let (_, said) = err.split_once("its last lines:\n").expect("the lines");
        assert!(said.contains("No such file"), "{err}");
    }
}
