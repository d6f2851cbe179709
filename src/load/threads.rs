//! The load threads of this process: started with their share of the
//! connections ([`assign`]), each running its mio loop ([`super::worker`]),
//! and followed by the collector as its [`Source`]. A child generator
//! process ([`Role::Child`]) runs the same threads, its ramp ended by its
//! parent ([`super::pipe`]).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::capacity::ensure_descriptors;
use super::collector::{
    collect, measured, Collected, Ending, Source, Start, Watch, HARD_DEADLINE_SLACK,
};
use super::config::{LoadConfig, RunLimit};
use super::pipe;
use super::prime;
use super::progress::{self, ProgressMode};
use super::report::{LoadReport, Outcome};
use super::stats::{add_histogram, Interval};
use super::window::Window;
use super::worker::{self, Assignment, Clock, Message, ThreadSummary};

/// Run one load test to its end and return what it measured. Fails only for
/// a bad configuration or when the machine cannot run it (descriptor limit,
/// local ports, threads); server failures are counted in the report.
pub fn run(config: &LoadConfig, progress: ProgressMode) -> io::Result<LoadReport> {
    run_as(config, progress, Role::Alone, None)
}

/// [`run`], telling `watch` how it goes; `watch` may end it early.
pub fn run_watched(
    config: &LoadConfig,
    progress: ProgressMode,
    watch: &dyn Watch,
) -> io::Result<LoadReport> {
    run_as(config, progress, Role::Alone, Some(watch))
}

/// Whether this process is the whole run or one of several generator
/// processes (`load/processes.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The ramp ends when every connection is up, or at the ramp limit.
    Alone,
    /// The parent ends the ramp (a `begin` line on stdin) and hears how the
    /// run goes (`status` lines on stdout); stdin closing stops the run.
    Child,
}

/// [`run`], as the whole run or as one of several processes.
pub(crate) fn run_as(
    config: &LoadConfig,
    progress: ProgressMode,
    role: Role,
    watch: Option<&dyn Watch>,
) -> io::Result<LoadReport> {
    let start = Start::new(config)?;
    ensure_descriptors(config.connections)?;
    if let Some(wire) = &config.wire {
        prime::prime(wire, &config.target, config.connect_timeout)?;
    }
    let threads = LoadThreads::start(config, start.run_start, role)?;
    collect(config, start, threads, progress, watch)
}

/// The load threads of this process, as the collector's [`Source`].
struct LoadThreads {
    role: Role,
    clock: Clock,
    /// A child's ramp ends when its parent says so.
    ramp_limit: Option<Instant>,
    stop: Arc<AtomicBool>,
    messages: Receiver<Message>,
    handles: Vec<JoinHandle<io::Result<()>>>,
    /// Threads that have reported their end.
    done: usize,
    /// The channel closed before every thread reported: one failed.
    is_broken: bool,
    /// The load threads keep their connections open until this is dropped,
    /// once a watcher has been told the window's end: what it reads then
    /// (such as a server's thread per connection) is still there.
    hold_connections: Sender<()>,
}

impl LoadThreads {
    /// Start the threads of `config`, their connections beginning at
    /// `run_start`.
    fn start(config: &LoadConfig, run_start: Instant, role: Role) -> io::Result<Self> {
        let threads = config.effective_threads();
        let window = Arc::new(Window::new(
            config.connections,
            config.warmup,
            role == Role::Alone,
        ));
        let clock = Clock {
            run_start,
            window: Arc::clone(&window),
            measured: measured(config),
        };
        let stop = Arc::new(AtomicBool::new(false));
        if role == Role::Child {
            pipe::listen_to_parent(Arc::clone(&window), Arc::clone(&stop))?;
        }
        let (sender, messages) = crossbeam_channel::unbounded();
        let (hold_connections, connections_held) = crossbeam_channel::bounded::<()>(0);
        let mut handles = Vec::with_capacity(threads);
        for (index, assignment) in assign(config, threads).into_iter().enumerate() {
            let config = config.clone();
            let thread_stop = Arc::clone(&stop);
            let sender = sender.clone();
            let clock = clock.clone();
            let held = connections_held.clone();
            let handle = std::thread::Builder::new()
                .name(format!("sockbench-load-{index}"))
                .spawn(move || {
                    worker::run_thread(&config, assignment, clock, thread_stop, sender, held)
                })
                .inspect_err(|_| stop.store(true, Ordering::Relaxed))?;
            handles.push(handle);
        }
        Ok(LoadThreads {
            role,
            ramp_limit: (role == Role::Alone).then(|| run_start + config.effective_ramp_limit()),
            clock,
            stop,
            messages,
            handles,
            done: 0,
            is_broken: false,
            hold_connections,
        })
    }
}

impl Source for LoadThreads {
    const LATE_SLACK: Duration = HARD_DEADLINE_SLACK;

    fn window(&self) -> &Window {
        &self.clock.window
    }

    fn ramp_limit(&self) -> Option<Instant> {
        self.ramp_limit
    }

    fn hear(&mut self, timeout: Duration, collected: &mut Collected) -> Option<Interval> {
        match self.messages.recv_timeout(timeout) {
            Ok(Message::Interval(interval)) => return Some(interval),
            Ok(Message::Done(summary)) => {
                self.done += 1;
                add_summary(collected, summary);
            }
            Ok(Message::RampEnded) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => self.is_broken = true, // a thread failed
        }
        None
    }

    fn is_over(&self) -> bool {
        self.done == self.handles.len() || self.is_broken
    }

    fn so_far(&self, collected: &Collected) -> (u64, u64) {
        (collected.requests, collected.errors)
    }

    fn tell(&mut self, state: &progress::State) -> io::Result<()> {
        match self.role {
            Role::Child => pipe::tell_parent(state),
            Role::Alone => Ok(()),
        }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn finish(self, _: &mut Collected, _: bool) -> io::Result<Ending> {
        drop(self.hold_connections);
        let threads = self.handles.len();
        let is_all_done = self.done == threads;
        if is_all_done {
            for handle in self.handles {
                match handle.join() {
                    Ok(result) => result?,
                    Err(_) => return Err(io::Error::other("a load thread panicked")),
                }
            }
        }
        // Otherwise the late threads are left behind: they see `stop` and end
        // on their own; their results are not waited for.
        Ok(Ending {
            threads,
            outcome: if is_all_done {
                Outcome::Finished
            } else {
                Outcome::CutOff
            },
            duration_s: None,
        })
    }
}

/// Add what one load thread reported at its end.
fn add_summary(collected: &mut Collected, summary: ThreadSummary) {
    add_histogram(&mut collected.connect_us, &summary.connect_us);
    collected.established += summary.established;
    collected.failed += summary.failed;
    collected.closed_by_server += summary.closed_by_server;
    collected.failed_answers.merge(&summary.failed_answers);
    collected.open_at_end += summary.open_at_end;
    collected.server_lost |= summary.server_lost;
    collected.stopped_at = collected.stopped_at.max(Some(summary.stopped_at));
    if let Some(cost) = summary.cost {
        collected.cost = Some(collected.cost.unwrap_or_default().plus(cost));
    }
}

/// Spread connections over threads round-robin (connection `n` goes to
/// thread `n % threads`), and a request limit in near-equal shares.
fn assign(config: &LoadConfig, threads: usize) -> Vec<Assignment> {
    (0..threads)
        .map(|index| Assignment {
            connections: (index..config.connections).step_by(threads).collect(),
            quota: match config.limit {
                RunLimit::Requests(total) => {
                    let threads = threads as u64;
                    Some(total / threads + u64::from((index as u64) < total % threads))
                }
                RunLimit::Duration(_) => None,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections go round-robin; request shares add up to the limit.
    #[test]
    fn assign_spreads_connections_and_requests() {
        let config = LoadConfig {
            connections: 5,
            limit: RunLimit::Requests(10),
            ..LoadConfig::default()
        };
        let shares = assign(&config, 3);
        assert_eq!(shares[0].connections, vec![0, 3]);
        assert_eq!(shares[2].connections, vec![2]);
        let total: u64 = shares.iter().map(|s| s.quota.unwrap()).sum();
        assert_eq!(total, 10);
    }
}
