//! Simulated per-request work: the "make this request expensive" knob.
//!
//! `--work sleep:1ms` models a request that waits on something slow (a disk,
//! another service): the thread is blocked but the CPU is free. `--work
//! cpu:100us` models computation: the thread spins and the core is busy.
//! Threads hide the first kind and cannot hide the second once every core is
//! busy; an event loop hides neither, because its one thread does the work
//! for every connection. The engines charge the work in whichever thread
//! handles the connection, so the difference shows in the figures.
//!
//! Or in a [`Pool`] of threads beside the loop (`offload`): the loop sends
//! a [`Job`] per connection whose requests need work, and takes back the
//! connection's token, through the loop's waker, once the work is paid.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::Token;

use super::readiness::Wake;

/// What each answered request costs the thread that handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Work {
    /// Requests are free (the default).
    #[default]
    None,
    /// Block the thread for this long per request.
    Sleep(Duration),
    /// Keep the CPU busy for this long per request.
    Cpu(Duration),
}

impl Work {
    /// Spend the work for `requests` requests in the calling thread.
    #[inline] // Called on every read of every engine; `none` must cost a test, not a call.
    pub fn perform(self, requests: usize) {
        if requests == 0 {
            return;
        }
        match self {
            Work::None => {}
            Work::Sleep(per_request) => std::thread::sleep(per_request * requests as u32),
            Work::Cpu(per_request) => spin_for(per_request * requests as u32),
        }
    }
}

/// Busy-wait on the CPU: this spin *is* the simulated computation.
fn spin_for(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Work::None => f.write_str("none"),
            Work::Sleep(d) => write!(f, "sleep:{}", humantime::format_duration(*d)),
            Work::Cpu(d) => write!(f, "cpu:{}", humantime::format_duration(*d)),
        }
    }
}

impl FromStr for Work {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "none" {
            return Ok(Work::None);
        }
        let usage = || {
            format!("invalid work '{s}': expected none, sleep:DURATION or cpu:DURATION (e.g. sleep:1ms, cpu:100us)")
        };
        let (kind, duration) = s.split_once(':').ok_or_else(usage)?;
        let duration = humantime::parse_duration(duration)
            .map_err(|e| format!("invalid work duration in '{s}': {e} (e.g. 1ms, 100us)"))?;
        match kind {
            "sleep" => Ok(Work::Sleep(duration)),
            "cpu" => Ok(Work::Cpu(duration)),
            _ => Err(usage()),
        }
    }
}

/// One connection's requests whose work is to be paid off the loop.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    /// The connection, as the loop knows it.
    pub token: Token,
    /// Requests answered in the read that produced this job.
    pub requests: usize,
}

/// The worker threads, the channel that feeds them and the one that brings
/// completed tokens back to the loop.
#[derive(Debug)]
pub struct Pool {
    /// `None` once closed: workers finish what they hold, then exit.
    jobs: Option<Sender<Job>>,
    completed: Receiver<Token>,
    /// Set when the loop has gone: queued jobs are skipped, not paid.
    is_closed: Arc<AtomicBool>,
    /// A worker has rung the waker and the loop has not yet collected:
    /// other workers finishing meanwhile need not ring again (one system
    /// call saved per request under load).
    is_wake_pending: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Start `workers` threads paying `work` for each job; each completion
    /// is sent back and announced through `waker`.
    pub fn start<W: Wake>(workers: usize, work: Work, waker: Arc<W>) -> io::Result<Pool> {
        // Unbounded, yet bounded in practice: a connection has at most one
        // job out (its reading pauses meanwhile), so there are never more
        // jobs than connections, and connections are capped.
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let (done, completed) = crossbeam_channel::unbounded();
        let is_closed = Arc::new(AtomicBool::new(false));
        let is_wake_pending = Arc::new(AtomicBool::new(false));
        let workers = (0..workers.max(1))
            .map(|i| {
                let (queue, done) = (queue.clone(), done.clone());
                let (waker, is_closed) = (Arc::clone(&waker), Arc::clone(&is_closed));
                let is_wake_pending = Arc::clone(&is_wake_pending);
                std::thread::Builder::new()
                    .name(format!("sockbench-offload-{i}"))
                    .spawn(move || {
                        for job in queue {
                            if is_closed.load(Ordering::Relaxed) {
                                return;
                            }
                            // The slow part, off the loop: the other
                            // connections keep being served meanwhile.
                            work.perform(job.requests);
                            let _ = done.send(job.token);
                            // Sent before looking: if a wake is pending,
                            // the loop will find this token when it comes.
                            if is_wake_pending.swap(true, Ordering::SeqCst) {
                                continue;
                            }
                            if let Err(err) = waker.wake() {
                                log::warn!("offload worker cannot wake the loop: {err}");
                            }
                        }
                    })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Pool {
            jobs: Some(jobs),
            completed,
            is_closed,
            is_wake_pending,
            workers,
        })
    }

    /// Hand a job to the workers.
    pub fn submit(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            // Cannot fail: the workers hold the queue until we close it.
            let _ = jobs.send(job);
        }
    }

    /// Tokens whose work is paid, in the order the workers finished.
    pub fn completed(&self) -> impl Iterator<Item = Token> + '_ {
        // Cleared before collecting: a worker finishing after this point
        // rings again, so no completion is left unannounced.
        self.is_wake_pending.store(false, Ordering::SeqCst);
        self.completed.try_iter()
    }
}

impl Drop for Pool {
    /// Close the queue and wait for the workers: each finishes at most the
    /// job it holds (after a stop whose grace ran out, anything still
    /// queued is dropped with its connection).
    fn drop(&mut self) {
        self.is_closed.store(true, Ordering::Relaxed);
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textual forms the CLI accepts parse, and print back the same way.
    #[test]
    fn work_parses_and_round_trips() {
        for text in ["none", "sleep:1ms", "cpu:100us"] {
            let work: Work = text.parse().unwrap();
            assert_eq!(work.to_string(), text);
        }
        assert_eq!(
            "sleep:50ms".parse(),
            Ok(Work::Sleep(Duration::from_millis(50)))
        );
    }

    /// Malformed work specs are rejected with a hint.
    #[test]
    fn work_rejects_bad_specs() {
        for text in ["sleep", "nap:1ms", "cpu:fast", ""] {
            let err = text.parse::<Work>().unwrap_err();
            assert!(err.contains("e.g."), "{err}");
        }
    }
}
