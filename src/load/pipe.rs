//! What a generator process and its parent say to each other (`load
//! --processes`, `load/processes.rs`): the parent writes `begin` on the
//! child's stdin when the ramp is over, and closes it to stop the child;
//! the child prints `status UP REQUESTS ERRORS OPEN` lines on stdout as it
//! goes, and `result JSON` ([`ChildResult`]) at its end.

use std::io::{self, BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::progress;
use super::report::{LoadReport, Outcome};
use super::stats::{ErrorCounts, FailedAnswers};
use super::window::Window;

/// What a child tells its parent at its end (the histograms go in its log).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChildResult {
    pub(crate) threads: usize,
    pub(crate) duration_s: f64,
    pub(crate) seconds: Vec<SecondCounts>,
    pub(crate) established: u64,
    pub(crate) failed: u64,
    pub(crate) open_at_end: u64,
    pub(crate) closed_by_server: u64,
    pub(crate) failed_answers: FailedAnswers,
    pub(crate) outcome: Outcome,
}

/// The counts of one second of a child's measurement.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SecondCounts {
    pub(crate) second: u64,
    pub(crate) sent: u64,
    pub(crate) requests: u64,
    pub(crate) bytes: u64,
    pub(crate) errors: ErrorCounts,
}

impl ChildResult {
    /// The result line's content, from the child's report.
    pub(crate) fn of(report: &LoadReport) -> Self {
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
            closed_by_server: report.closed_by_server,
            failed_answers: report.failed_answers.clone(),
            outcome: report.outcome,
        }
    }
}

/// In a child: print the result line.
pub(crate) fn tell_result(report: &LoadReport) -> io::Result<()> {
    let json = serde_json::to_string(&ChildResult::of(report)).map_err(io::Error::other)?;
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
pub(crate) enum Heard {
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

/// Read a child's stdout lines and pass on what they say.
pub(crate) fn hear_child(
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
