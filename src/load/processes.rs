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
//!    report, exactly as the load threads of one process are added up: the
//!    same collector (`collect`, in `load/mod.rs`) follows both, the
//!    children here being its source (`Generators`), the lines they
//!    exchange in `load/pipe.rs`.
//!
//! A child whose stdin closes (its parent is gone) stops. A child that dies
//! mid-run is named on stderr with how it ended; the others run to their
//! end, and the report's outcome is [`Outcome::GeneratorLost`]: its
//! figures lack that child's connections.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::capacity::{self, SPARE_DESCRIPTORS};
use super::collector::{collect, worse, Collected, Ending, Source, Start, HARD_DEADLINE_SLACK};
use super::config::Target;
use super::config::{LoadConfig, RunLimit};
use super::hdrlog::{self, CONNECT_TAG, UNCORRECTED_TAG};
use super::pipe::{self, hear_child, ChildResult, Heard};
use super::progress::ProgressMode;
use super::report::{LoadReport, Outcome};
use super::stats::{add_histogram, Interval};
use super::threads::{run_as, Role};
use super::window::Window;
use super::wire_request::WireRequest;

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
    match (&config.target, &config.wire) {
        (_, Some(WireRequest::Http { .. })) => {} // the URL names the server
        (Target::Tcp(addr) | Target::Udp(addr), _) => flag("addr", addr.to_string()),
        (Target::Unix(_), _) => {}
    }
    match &config.wire {
        None => flag("service", config.service.name().to_owned()),
        Some(WireRequest::Http {
            url,
            method,
            headers,
            body,
            expect_status,
            expect_body,
        }) => {
            flag("url", url.clone());
            flag("method", method.as_str().to_owned());
            for header in headers {
                flag("header", header.clone());
            }
            let optional = [
                ("body", body.clone()),
                ("expect-status", expect_status.map(|code| code.to_string())),
                ("expect-body", expect_body.clone()),
            ];
            for (name, value) in optional {
                if let Some(value) = value {
                    flag(name, value);
                }
            }
        }
        Some(
            wire
            @ (WireRequest::Redis { command, keys } | WireRequest::Memcached { command, keys }),
        ) => {
            flag("service", wire.protocol().to_owned());
            if let Some(command) = command {
                flag("command", command.clone());
            }
            flag("keys", keys.to_string());
        }
    }
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
    if let Some(requests) = config.requests_per_connection {
        flag("requests-per-connection", requests.to_string());
    }
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

/// The child side: run this share when the parent says `begin`, write the
/// latencies to `hdr_log`, print the result line.
pub fn run_child(config: &LoadConfig, hdr_log: &Path) -> io::Result<()> {
    let report = run_as(config, ProgressMode::Quiet, Role::Child, None)?;
    hdrlog::write_log(hdr_log, &report)?;
    pipe::tell_result(&report)
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
    let start = Start::new(config)?;
    let generators = Generators::start(config, processes, start.run_start, command)?;
    collect(config, start, generators, progress, None)
}

/// The generator processes of a run, as the collector's [`Source`].
struct Generators {
    generators: Vec<Generator>,
    heard: Receiver<(usize, Heard)>,
    /// The whole run's ramp: the children's connections added up.
    window: Window,
    ramp_limit: Instant,
    /// Every child has been told to `begin`.
    is_begun: bool,
    rate_mode: bool,
    /// Holds the children's logs until they are read.
    _scratch: Scratch,
}

impl Generators {
    /// Start a child per share of `config`.
    fn start(
        config: &LoadConfig,
        processes: usize,
        run_start: Instant,
        command: &dyn Fn(&LoadConfig, &Path) -> Command,
    ) -> io::Result<Self> {
        let scratch = Scratch::new()?;
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
        Ok(Generators {
            generators,
            heard,
            window: Window::new(config.connections, config.warmup, true),
            ramp_limit: run_start + config.effective_ramp_limit(),
            is_begun: false,
            rate_mode: config.rate_per_s.is_some(),
            _scratch: scratch,
        })
    }

    /// Once the ramp is over (every connection up, or the ramp limit),
    /// tell every child to begin, so that their windows coincide.
    fn begin_when_ramp_ends(&mut self) {
        if self.is_begun || self.window.ramp_end().is_none() {
            return;
        }
        self.is_begun = true;
        for generator in &mut self.generators {
            // A child that is gone cannot hear it; its absence shows later.
            if let Some(stdin) = generator.stdin.as_mut() {
                let _ = stdin.write_all(b"begin\n").and_then(|()| stdin.flush());
            }
        }
    }
}

impl Source for Generators {
    // Children start late and write their logs at their end: more slack.
    const LATE_SLACK: Duration = HARD_DEADLINE_SLACK.saturating_mul(2);

    fn window(&self) -> &Window {
        &self.window
    }

    fn ramp_limit(&self) -> Option<Instant> {
        Some(self.ramp_limit)
    }

    fn hear(&mut self, timeout: Duration, _: &mut Collected) -> Option<Interval> {
        // The collector may have ended the ramp at its limit.
        self.begin_when_ramp_ends();
        match self.heard.recv_timeout(timeout) {
            Ok((
                index,
                Heard::Status {
                    up,
                    requests,
                    errors,
                    open,
                },
            )) => {
                let generator = &mut self.generators[index];
                generator.up = up;
                generator.requests = requests;
                generator.errors = errors;
                generator.open = open;
                let up = self.generators.iter().map(|g| g.up).sum();
                let open = self.generators.iter().map(|g| g.open).sum();
                self.window.set_counts(up, open, Instant::now());
                self.begin_when_ramp_ends();
            }
            Ok((index, Heard::Result(result))) => self.generators[index].result = Some(*result),
            Ok((index, Heard::Gone)) => self.generators[index].gone = true,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                for generator in &mut self.generators {
                    generator.gone = true;
                }
            }
        }
        // Their seconds arrive with their results, at the end.
        None
    }

    fn is_over(&self) -> bool {
        // A child that fails before measuring begins ends the run: its
        // message is above.
        let is_any_gone = self.generators.iter().any(|g| g.gone);
        let is_all_gone = self.generators.iter().all(|g| g.gone);
        is_all_gone || (is_any_gone && self.window.ramp_end().is_none())
    }

    fn so_far(&self, _: &Collected) -> (u64, u64) {
        (
            self.generators.iter().map(|g| g.requests).sum(),
            self.generators.iter().map(|g| g.errors).sum(),
        )
    }

    fn stop(&self) {
        // Nothing to do at once: `finish` closes the children's stdin, which
        // stops them.
    }

    fn finish(mut self, collected: &mut Collected, is_cut_off: bool) -> io::Result<Ending> {
        let processes = self.generators.len();
        for generator in &mut self.generators {
            generator.stdin = None; // closing stdin stops a child still running
        }
        for (index, generator) in self.generators.iter_mut().enumerate() {
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
        let missing = self
            .generators
            .iter()
            .filter(|g| g.result.is_none())
            .count();
        if self.window.ramp_end().is_none() || missing == processes {
            return Err(io::Error::other(format!(
                "{missing} of {processes} generator processes ended without a result (see their messages above)"
            )));
        }
        let mut threads = 0;
        let mut duration_s: f64 = 0.0;
        let mut outcome = match (missing, is_cut_off) {
            (1.., _) => Outcome::GeneratorLost,
            (0, true) => Outcome::CutOff,
            (0, false) => Outcome::Finished,
        };
        for generator in &self.generators {
            let Some(result) = &generator.result else {
                continue;
            };
            threads += result.threads;
            duration_s = duration_s.max(result.duration_s);
            outcome = worse(outcome, result.outcome);
            add_child(collected, result, &generator.hdr_log, self.rate_mode)?;
        }
        Ok(Ending {
            threads,
            outcome,
            duration_s: Some(duration_s),
        })
    }
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
    collected.closed_by_server += result.closed_by_server;
    collected.failed_answers.merge(&result.failed_answers);
    collected.open_at_end += result.open_at_end;
    collected.server_lost |= result.outcome == Outcome::ServerLost;
    Ok(())
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
}
