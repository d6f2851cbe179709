//! `offload`: the reactor loop, plus a thread pool that pays for slow work.
//!
//! The `blocking-work` demo shows the reactor's weakness: one 50 ms request
//! stalls every connection, because the loop's only thread does the work.
//! The standard fix (libuv's thread pool, nginx's `aio threads`) is to keep
//! the loop for I/O only and hand the slow part of each request to worker
//! threads. This file is that fix; the loop itself is `reactor.rs`'s: it
//! differs only where a request's `--work` is paid (`WorkPayer` in
//! `read_some`) and in honouring a connection's `is_work_out`, each place
//! marked "(`offload`)" there.
//!
//! Why a separate engine and not `reactor --offload-workers N`: it is a
//! different concurrency model with its own row in every table, and with
//! its own name a figure can never be read as "the reactor" by mistake.
//! What it shares with the reactor (the whole loop) still lives once, in
//! `reactor.rs`; this file holds only what makes it this model: the pool.
//!
//! How one request travels, and how it differs from `reactor.rs`:
//! 1. The loop reads bytes and lets the session parse them and produce the
//!    answer, as in the reactor (parsing is cheap and sans-IO).
//! 2. Instead of paying the request's `--work` on the loop thread, the loop
//!    sends a [`Job`] (the connection's token and how many requests it
//!    carries) down a crossbeam channel to [`Pool`]'s workers, and marks
//!    the connection "work out": its answer is held, and **reading from it
//!    pauses**, so a second request cannot overtake the first. Answers stay
//!    in request order without any sequence numbers.
//! 3. A worker pays the work (sleeps or spins), puts the token on the
//!    completion channel and wakes the loop through mio's [`Waker`].
//! 4. The loop takes each completed token, releases the held answer (it is
//!    written as usual) and resumes reading that connection.
//!
//! With no `--work` there is nothing to hand off and it behaves exactly as
//! `reactor`. With `sleep:` work it answers as many clients at once as it
//! has workers; with `cpu:` work the workers can only be as fast as there
//! are cores to run them.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use mio::{Token, Waker};

use super::reactor::{self, WorkSite};
use super::{EngineConfig, Listener, Server, Work};
use crate::service::Service;

/// Start the offload engine: the reactor loop, with a pool of
/// `config.workers` threads paying each request's `--work`.
pub fn spawn(
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    reactor::spawn_loops(vec![listener], service, config, WorkSite::Pool)
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
    pub fn start(workers: usize, work: Work, waker: Arc<Waker>) -> io::Result<Pool> {
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
