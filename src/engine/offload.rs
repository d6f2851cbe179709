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
//! `reactor.rs`, and the pool that pays the work sits beside the work it
//! pays, in `work.rs` ([`super::work::Pool`]); this file holds what makes
//! it this model: how the two are put together, and why.
//!
//! How one request travels, and how it differs from `reactor.rs`:
//! 1. The loop reads bytes and lets the session parse them and produce the
//!    answer, as in the reactor (parsing is cheap and sans-IO).
//! 2. Instead of paying the request's `--work` on the loop thread, the loop
//!    sends a [`Job`](super::work::Job) (the connection's token and how many requests it
//!    carries) down a crossbeam channel to [`Pool`](super::work::Pool)'s workers, and marks
//!    the connection "work out": its answer is held, and **reading from it
//!    pauses**, so a second request cannot overtake the first. Answers stay
//!    in request order without any sequence numbers.
//! 3. A worker pays the work (sleeps or spins), puts the token on the
//!    completion channel and wakes the loop through mio's `Waker`.
//! 4. The loop takes each completed token, releases the held answer (it is
//!    written as usual) and resumes reading that connection.
//!
//! With no `--work` there is nothing to hand off and it behaves exactly as
//! `reactor`. With `sleep:` work it answers as many clients at once as it
//! has workers; with `cpu:` work the workers can only be as fast as there
//! are cores to run them.

use std::io;
use std::sync::Arc;

use super::reactor::{self, WorkSite};
use super::{EngineConfig, Listener, Server};
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
