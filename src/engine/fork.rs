//! `fork`: UNP ch. 30 row 1, a child process forked for every client.
//!
//! The classic Unix concurrent server: the parent loops on `accept`, forks,
//! and goes straight back to `accept`; the child serves that one client
//! with the blocking loop of [`super::blocking`] and exits. How it differs
//! from its neighbours: `iterative` (row 0) serves the client itself, so
//! the next waits; `prefork-accept` (row 2) forks its children once, before
//! any client comes, and each serves client after client. Here every
//! connection pays a `fork` (copying the page tables) and an `exit`: the
//! process-control cost the book's table measures.
//!
//! The parent keeps itself single-threaded (the rules in [`super::children`]):
//! it waits in `poll(2)` on the listener, its stop pipe and the pipe SIGCHLD
//! writes to, so accepting, reaping and stopping are one thread's turns.
//! Each child that ends is reaped on the SIGCHLD after it (`waitpid` with
//! `WNOHANG`, for our own children only): no zombie is left behind. The
//! child closes the listener, the parent closes the connection, as in the
//! book. `--max-connections` caps the children alive at once.
//!
//! Slow clients: a child is one client's, so a slowloris client costs one
//! process until the request timeout drops it (the blocking loop's
//! timeouts), and never delays another client.

use std::io;
use std::os::fd::AsRawFd;

use super::children::{serve_in_child, set_waits_on, Supervisor, Wake};
use super::kit::{AcceptBackoff, CapacityLog};
use super::{EngineConfig, Listener};
use crate::io_util::{interrupted, is_connection_error, would_block};
use crate::service::Service;

/// Accept and fork until the stop, then stop every child still serving.
pub fn run(
    supervisor: &mut Supervisor,
    listener: &Listener,
    service: &dyn Service,
    config: &EngineConfig,
) -> io::Result<()> {
    supervisor.child_exit_is_routine = true;
    // Non-blocking, so a connection that vanished between the poll and the
    // accept cannot block the parent (the children's copies never accept).
    listener.set_nonblocking(true)?;
    let mut capacity = CapacityLog::default();
    let mut backoff = AcceptBackoff::default();
    let mut client = 0usize;
    loop {
        match supervisor.wait(&[listener.as_raw_fd()])? {
            Wake::Stop => break,
            Wake::Other => continue,
            Wake::Ready(_) => {}
        }
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) if would_block(&err) || interrupted(&err) || is_connection_error(&err) => {
                continue
            }
            Err(err) => {
                std::thread::sleep(backoff.next_delay(&err));
                continue;
            }
        };
        backoff.reset();
        if !capacity.admit(supervisor.len(), config.max_connections) {
            continue; // Dropping the stream closes it.
        }
        // The accepted socket blocks: Linux's accept does not pass the
        // listener's O_NONBLOCK on.
        let conn = stream.as_raw_fd();
        client += 1;
        let forked = supervisor.fork_child(client, &[conn], || {
            set_waits_on(-1);
            serve_in_child(stream, &peer, service, config);
            0
        });
        if let Err(err) = forked {
            // Out of processes: this client is refused, the server goes on.
            log::warn!("cannot fork for a connection, closing it: {err}");
        }
        // The parent's copy of the connection was moved into the closure
        // above and dropped with it: the child's copy is the only one left.
    }
    supervisor.stop_all();
    listener.set_nonblocking(false)
}
