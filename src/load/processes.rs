//! One run over several generator processes (`sockbench load --processes
//! N`), past what one process may hold: every connection is a descriptor,
//! and a process may open at most its hard `RLIMIT_NOFILE` (20,000 here).
//!
//! How it goes:
//! 1. The parent checks the arithmetic ([`process_count`]), splits the run
//!    into near-equal shares ([`split`]: connections, rate, connect rate,
//!    request limit; the rate per connection stays the same) and starts
//!    `sockbench load --child` for each share.
//! 2. Each child opens its connections and prints `status UP REQUESTS
//!    ERRORS OPEN` lines on stdout. When every child's connections are up (or at
//!    the ramp limit), the parent writes `begin` to every child's stdin, so
//!    that all the measured windows begin together.
//! 3. At its end a child writes its latencies to an HdrHistogram log (what
//!    `--hdr-log` writes: one histogram per second, and the connect times)
//!    and prints `result JSON` with its counts per second.
//! 4. The parent reads the logs back and adds everything up into one
//!    report, exactly as the load threads of one process are added up.
//!
//! A child whose stdin closes (its parent is gone) stops. A child that dies
//! mid-run is named on stderr with how it ended; the others run to their
//! end, and the report's outcome is [`Outcome::GeneratorLost`]: its
//! figures lack that child's connections.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::capacity::{self, SPARE_DESCRIPTORS};
use super::config::Target;
use super::hdrlog::{self, CONNECT_TAG, UNCORRECTED_TAG};
use super::progress::{self, ProgressMode};
use super::report::{LoadReport, Outcome, Ramp};
use super::stats::{add_histogram, ErrorCounts, Interval};
use super::window::Window;
use super::{
    read_listen_queue, run_as, wall_clock_of, Collected, LoadConfig, Role, RunLimit, Shape,
    HARD_DEADLINE_SLACK, PROGRESS_EVERY,
};

/// How many processes run `config`: `asked`, checked, or the fewest whose
/// shares fit in the descriptor limit. The error gives the arithmetic.
pub fn process_count(config: &LoadConfig, asked: Option<usize>) -> io::Result<usize> {
    let (_, hard) = capacity::descriptor_limits()?;
    process_count_within(config.connections, asked, hard)
}

fn process_count_within(connections: usize, asked: Option<usize>, hard: u64) -> io::Result<usize> {
    let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    let per_process = hard.saturating_sub(SPARE_DESCRIPTORS);
    if per_process == 0 {
        return invalid(format!(
            "this process may open only {hard} descriptors (hard limit): raise it (`ulimit -Hn`)"
        ));
    }
    let needed = (connections as u64).div_ceil(per_process).max(1) as usize;
    let Some(asked) = asked else {
        return Ok(needed);
    };
    if asked == 0 {
        return invalid("--processes must be at least 1".into());
    }
    if asked > connections {
        return invalid(format!(
            "--processes {asked} is more than --connections {connections}: a process without a connection has nothing to do"
        ));
    }
    let share = connections.div_ceil(asked);
    if share as u64 > per_process {
        return invalid(format!(
            "{connections} connections over {asked} processes is {share} each, but a process may open {hard} descriptors (hard limit) less {SPARE_DESCRIPTORS} spare = {per_process} connections: use --processes {needed} or more (or leave it out), or raise the hard limit"
        ));
    }
    Ok(asked)
}

/// Split `config` into `processes` near-equal shares; each keeps the rate
/// per connection, so the shares' rates add up to the whole.
pub fn split(config: &LoadConfig, processes: usize) -> Vec<LoadConfig> {
    let threads_each = (config.effective_threads() / processes).max(1);
    (0..processes)
        .map(|index| {
            let connections = share(config.connections as u64, processes, index) as usize;
            let fraction = connections as f64 / config.connections as f64;
            LoadConfig {
                connections,
                threads: threads_each.min(connections),
                rate_per_s: config.rate_per_s.map(|rate| rate * fraction),
                connect_rate_per_s: config.connect_rate_per_s.map(|rate| rate * fraction),
                limit: match config.limit {
                    RunLimit::Requests(total) => {
                        RunLimit::Requests(share(total, processes, index).max(1))
                    }
                    duration => duration,
                },
                ..config.clone()
            }
        })
        .collect()
}

/// Share `index` of `total` split `parts` ways, the remainder going to the
/// first shares.
fn share(total: u64, parts: usize, index: usize) -> u64 {
    let parts = parts as u64;
    total / parts + u64::from((index as u64) < total % parts)
}

/// The command line of a `--child` generator process running `config` and
/// writing its latencies to `hdr_log`: the inverse of `LoadArgs::config`
/// (`src/cli/load.rs`), which the round trip test there checks.
pub fn child_args(config: &LoadConfig, hdr_log: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["load".into(), "--child".into()];
    let mut flag = |name: &str, value: String| {
        args.push(format!("--{name}").into());
        args.push(value.into());
    };
    let duration = |d: Duration| humantime::format_duration(d).to_string();
    match &config.target {
        Target::Tcp(addr) => flag("addr", addr.to_string()),
        Target::Udp(addr) => flag("addr", addr.to_string()),
        Target::Unix(_) => {}
    }
    flag("service", config.service.name().to_owned());
    flag("connections", config.connections.to_string());
    if config.threads > 0 {
        flag("threads", config.threads.to_string());
    }
    match config.limit {
        RunLimit::Duration(d) => flag("duration", duration(d)),
        RunLimit::Requests(n) => flag("requests", n.to_string()),
    }
    flag("size", config.size_bytes.to_string());
    flag("pipeline", config.pipeline.to_string());
    if let Some(rate) = config.rate_per_s {
        flag("rate", rate.to_string());
    }
    flag("warmup", duration(config.warmup));
    flag("connect-timeout", duration(config.connect_timeout));
    flag("request-timeout", duration(config.request_timeout));
    if let Some(rate) = config.connect_rate_per_s {
        flag("connect-rate", rate.to_string());
    }
    if let Some(limit) = config.ramp_limit {
        flag("ramp-limit", duration(limit));
    }
    if !config.sources.is_empty() {
        let list: Vec<String> = config.sources.iter().map(|ip| ip.to_string()).collect();
        flag("source", list.join(","));
    }
    match &config.target {
        Target::Unix(path) => args.extend(["--unix".into(), path.clone().into_os_string()]),
        Target::Udp(_) => args.push("--udp".into()),
        Target::Tcp(_) => {}
    }
    args.extend(["--hdr-log".into(), hdr_log.as_os_str().to_owned()]);
    args
}

/// `exe load --child ...`: the generator process that runs `share`.
pub fn child_command(exe: &Path, share: &LoadConfig, hdr_log: &Path) -> Command {
    let mut command = Command::new(exe);
    command.args(child_args(share, hdr_log));
    command
}

/// What a child tells its parent at its end (the histograms go in its log).
#[derive(Debug, Serialize, Deserialize)]
struct ChildResult {
    threads: usize,
    duration_s: f64,
    seconds: Vec<SecondCounts>,
    established: u64,
    failed: u64,
    open_at_end: u64,
    outcome: Outcome,
}

/// The counts of one second of a child's measurement.
#[derive(Debug, Serialize, Deserialize)]
struct SecondCounts {
    second: u64,
    sent: u64,
    requests: u64,
    bytes: u64,
    errors: ErrorCounts,
}

impl ChildResult {
    fn of(report: &LoadReport) -> Self {
        ChildResult {
            threads: report.threads,
            duration_s: report.duration_s,
            seconds: report
                .intervals
                .iter()
                .map(|interval| SecondCounts {
                    second: interval.second,
                    sent: interval.sent,
                    requests: interval.requests,
                    bytes: interval.bytes,
                    errors: interval.errors,
                })
                .collect(),
            established: report.connections_established,
            failed: report.connections_failed,
            open_at_end: report.connections_open_at_end,
            outcome: report.outcome,
        }
    }
}

/// The child side: run this share when the parent says `begin`, write the
/// latencies to `hdr_log`, print the result line.
pub fn run_child(config: &LoadConfig, hdr_log: &Path) -> io::Result<()> {
    let report = run_as(config, ProgressMode::Quiet, Role::Child, None)?;
    hdrlog::write_log(hdr_log, &report)?;
    let json = serde_json::to_string(&ChildResult::of(&report)).map_err(io::Error::other)?;
    let mut out = io::stdout().lock();
    writeln!(out, "result {json}")?;
    out.flush()
}

/// In a child: a thread that ends the ramp when the parent writes `begin`,
/// and stops the run when stdin closes.
pub(crate) fn listen_to_parent(window: Arc<Window>, stop: Arc<AtomicBool>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("sockbench-load-parent".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                match line.as_deref() {
                    Ok("begin") => {
                        window.begin(Instant::now());
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            // The parent is gone, or done with us.
            stop.store(true, Ordering::Relaxed);
        })?;
    Ok(())
}

/// In a child: one status line for the parent.
pub(crate) fn tell_parent(state: &progress::State) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "status {} {} {} {}",
        state.up, state.requests, state.errors, state.open
    )?;
    out.flush()
}

/// A line from a child, with the child's index.
#[derive(Debug)]
enum Heard {
    Status {
        up: usize,
        requests: u64,
        errors: u64,
        open: usize,
    },
    Result(Box<ChildResult>),
    /// Its stdout closed.
    Gone,
}

/// One child as the parent sees it.
struct Generator {
    child: Child,
    /// Connections of its share.
    connections: usize,
    stdin: Option<ChildStdin>,
    hdr_log: PathBuf,
    up: usize,
    open: usize,
    requests: u64,
    errors: u64,
    result: Option<ChildResult>,
    gone: bool,
}

/// The parent side: run `config` over `processes` children, each started
/// by `command(share, hdr_log)` (a `sockbench load --child` command line),
/// and merge what they measured into one report.
pub fn run_parent(
    config: &LoadConfig,
    processes: usize,
    progress: ProgressMode,
    command: &dyn Fn(&LoadConfig, &Path) -> Command,
) -> io::Result<LoadReport> {
    config.validate()?;
    if let Ok(range) = capacity::PortRange::read() {
        capacity::check_ports(config, &range)?;
    }
    let scratch = Scratch::new()?;
    let listen_before = read_listen_queue(config);
    let run_start = Instant::now();
    let (sender, heard) = crossbeam_channel::unbounded();
    let mut generators = Vec::with_capacity(processes);
    for (index, share) in split(config, processes).iter().enumerate() {
        let hdr_log = scratch.0.join(format!("generator-{index}.hlog"));
        let mut child = command(share, &hdr_log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!("cannot start a generator process: {err}"),
                )
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let sender = sender.clone();
        std::thread::spawn(move || hear_child(index, stdout, sender));
        generators.push(Generator {
            connections: share.connections,
            stdin: child.stdin.take(),
            child,
            hdr_log,
            up: 0,
            open: 0,
            requests: 0,
            errors: 0,
            result: None,
            gone: false,
        });
    }
    drop(sender);

    let measured = match config.limit {
        RunLimit::Duration(duration) => duration,
        RunLimit::Requests(_) => config.max_duration,
    };
    let ramp_limit = run_start + config.effective_ramp_limit();
    let mut ramp_end: Option<(Instant, usize)> = None;
    let mut all_up_at = None;
    let mut display = progress::Progress::new(progress, run_start, measured);
    let outcome = loop {
        let now = Instant::now();
        let up: usize = generators.iter().map(|g| g.up).sum();
        if up == config.connections && all_up_at.is_none() {
            all_up_at = Some(now);
        }
        if ramp_end.is_none() && (up == config.connections || now >= ramp_limit) {
            ramp_end = Some((now, up));
            for generator in &mut generators {
                // A child that is gone cannot hear it; its absence shows later.
                if let Some(stdin) = generator.stdin.as_mut() {
                    let _ = stdin.write_all(b"begin\n").and_then(|()| stdin.flush());
                }
            }
        }
        if generators.iter().all(|g| g.gone) {
            break Outcome::Finished;
        }
        let deadline =
            ramp_end.map(|(at, _)| at + config.warmup + measured + 2 * HARD_DEADLINE_SLACK);
        if deadline.is_some_and(|deadline| now >= deadline) {
            break Outcome::CutOff;
        }
        if ramp_end.is_none() && generators.iter().any(|g| g.gone) {
            // A child failed before measuring began: its message is above.
            break Outcome::CutOff;
        }
        match heard.recv_timeout(PROGRESS_EVERY) {
            Ok((index, message)) => {
                let generator: &mut Generator = &mut generators[index];
                match message {
                    Heard::Status {
                        up,
                        requests,
                        errors,
                        open,
                    } => {
                        generator.up = up;
                        generator.requests = requests;
                        generator.errors = errors;
                        generator.open = open;
                    }
                    Heard::Result(result) => generator.result = Some(*result),
                    Heard::Gone => generator.gone = true,
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break Outcome::Finished,
        }
        display.update(
            Instant::now(),
            progress::State {
                up: generators.iter().map(|g| g.up).sum(),
                open: generators.iter().map(|g| g.open).sum(),
                connections: config.connections,
                measure_start: ramp_end.map(|(at, _)| at + config.warmup),
                requests: generators.iter().map(|g| g.requests).sum(),
                errors: generators.iter().map(|g| g.errors).sum(),
            },
        );
    };
    display.finish();
    for generator in &mut generators {
        generator.stdin = None; // closing stdin stops a child still running
    }
    for (index, generator) in generators.iter_mut().enumerate() {
        if !generator.gone {
            let _ = generator.child.kill();
        }
        let status = generator.child.wait();
        if generator.result.is_none() {
            let how = status.map_or_else(
                |err| format!("its status is unknown: {err}"),
                |s| s.to_string(),
            );
            eprintln!(
                "load: generator process {} of {processes} (pid {}) ended without a result ({how}): its {} connections are missing from the figures",
                index + 1,
                generator.child.id(),
                generator.connections,
            );
        }
    }
    let missing = generators.iter().filter(|g| g.result.is_none()).count();
    if ramp_end.is_none() || missing == processes {
        return Err(io::Error::other(format!(
            "{missing} of {processes} generator processes ended without a result (see their messages above)"
        )));
    }

    let mut collected = Collected::new(config.rate_per_s.is_some());
    let mut threads = 0;
    let mut duration_s: f64 = 0.0;
    let mut outcome = if missing > 0 {
        Outcome::GeneratorLost
    } else {
        outcome
    };
    for generator in &generators {
        let Some(result) = &generator.result else {
            continue;
        };
        threads += result.threads;
        duration_s = duration_s.max(result.duration_s);
        outcome = worse(outcome, result.outcome);
        add_child(
            &mut collected,
            result,
            &generator.hdr_log,
            config.rate_per_s.is_some(),
        )?;
    }
    let (ended, up) = ramp_end.expect("checked above");
    let since_start = |at: Instant| at.duration_since(run_start).as_secs_f64();
    let ramp = Ramp {
        up: up as u64,
        duration_s: Some(since_start(ended)),
        all_up_s: all_up_at.map(since_start),
    };
    let listen_queue =
        listen_before.and_then(|before| Some(read_listen_queue(config)?.since(before)));
    Ok(collected.into_report(
        config,
        Shape {
            threads,
            started_at: wall_clock_of(ended + config.warmup),
            duration_s,
            ramp,
            listen_queue,
        },
        outcome,
    ))
}

/// A directory for the children's logs, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("sockbench-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir); // left by an earlier process of this id
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Read a child's stdout lines and pass on what they say.
fn hear_child(
    index: usize,
    stdout: impl io::Read,
    sender: crossbeam_channel::Sender<(usize, Heard)>,
) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let heard = if let Some(json) = line.strip_prefix("result ") {
            match serde_json::from_str(json) {
                Ok(result) => Heard::Result(Box::new(result)),
                Err(_) => continue,
            }
        } else if let Some(status) = line.strip_prefix("status ") {
            let numbers: Vec<u64> = status
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            let [up, requests, errors, open] = numbers[..] else {
                continue;
            };
            Heard::Status {
                up: up as usize,
                requests,
                errors,
                open: open as usize,
            }
        } else {
            continue;
        };
        if sender.send((index, heard)).is_err() {
            return;
        }
    }
    let _ = sender.send((index, Heard::Gone));
}

/// Add one child's counts (from its result) and histograms (from its log)
/// to what was collected, second by second.
fn add_child(
    collected: &mut Collected,
    result: &ChildResult,
    hdr_log: &Path,
    rate_mode: bool,
) -> io::Result<()> {
    let lines = hdrlog::read_log(hdr_log)?;
    for counts in &result.seconds {
        let mut interval = Interval::new(counts.second, rate_mode);
        interval.sent = counts.sent;
        interval.requests = counts.requests;
        interval.bytes = counts.bytes;
        interval.errors = counts.errors;
        let start = Duration::from_secs(counts.second);
        for line in lines.iter().filter(|line| line.start == start) {
            match line.tag.as_str() {
                "" => add_histogram(&mut interval.latency_us, &line.histogram),
                UNCORRECTED_TAG => {
                    if let Some(uncorrected) = interval.uncorrected_us.as_mut() {
                        add_histogram(uncorrected, &line.histogram);
                    }
                }
                _ => {}
            }
        }
        collected.add_interval(&interval);
    }
    for line in lines.iter().filter(|line| line.tag == CONNECT_TAG) {
        add_histogram(&mut collected.connect_us, &line.histogram);
    }
    collected.established += result.established;
    collected.failed += result.failed;
    collected.open_at_end += result.open_at_end;
    collected.server_lost |= result.outcome == Outcome::ServerLost;
    Ok(())
}

/// The outcome of a run made of two: a lost generator beats a cut-off,
/// which beats a lost server, which beats a stop by the user, which beats
/// a finish.
fn worse(a: Outcome, b: Outcome) -> Outcome {
    let rank = |o: Outcome| match o {
        Outcome::Finished => 0,
        Outcome::Stopped => 1,
        Outcome::ServerLost => 2,
        Outcome::CutOff => 3,
        Outcome::GeneratorLost => 4,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shares add up to the whole: connections, rate, requests; each
    /// keeps the rate per connection.
    #[test]
    fn split_shares_add_up_to_the_whole() {
        let config = LoadConfig {
            connections: 10,
            threads: 4,
            rate_per_s: Some(1000.0),
            connect_rate_per_s: Some(500.0),
            limit: RunLimit::Requests(7),
            ..LoadConfig::default()
        };
        let shares = split(&config, 3);
        let connections: Vec<usize> = shares.iter().map(|s| s.connections).collect();
        assert_eq!(connections, [4, 3, 3]);
        let rate: f64 = shares.iter().map(|s| s.rate_per_s.unwrap()).sum();
        assert!((rate - 1000.0).abs() < 1e-9);
        assert_eq!(shares[0].rate_per_s, Some(400.0));
        assert_eq!(shares[1].connect_rate_per_s, Some(150.0));
        let requests: u64 = shares
            .iter()
            .map(|s| match s.limit {
                RunLimit::Requests(n) => n,
                RunLimit::Duration(_) => 0,
            })
            .sum();
        assert_eq!(requests, 7);
        assert!(shares.iter().all(|s| s.threads == 1));
    }

    /// Left out, the count is the fewest processes whose shares fit; asked
    /// for too few, the arithmetic is given.
    #[test]
    fn process_count_fits_the_descriptor_limit() {
        assert_eq!(process_count_within(15_000, None, 20_000).unwrap(), 1);
        assert_eq!(process_count_within(100_000, None, 20_000).unwrap(), 6);
        assert_eq!(process_count_within(100_000, Some(8), 20_000).unwrap(), 8);
        let message = process_count_within(100_000, Some(4), 20_000)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("100000 connections over 4 processes is 25000 each")
                && message.contains("= 19936 connections")
                && message.contains("--processes 6 or more"),
            "{message}"
        );
        assert!(process_count_within(3, Some(4), 20_000).is_err());
        assert!(process_count_within(3, Some(0), 20_000).is_err());
    }

    /// Outcomes combine to the worst.
    #[test]
    fn worse_outcome_wins() {
        assert_eq!(
            worse(Outcome::Finished, Outcome::ServerLost),
            Outcome::ServerLost
        );
        assert_eq!(worse(Outcome::CutOff, Outcome::ServerLost), Outcome::CutOff);
        assert_eq!(
            worse(Outcome::Finished, Outcome::Finished),
            Outcome::Finished
        );
    }
}
