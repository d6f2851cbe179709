//! What the blocking engines share: serving one connection with
//! blocking `read`/`write`, and stopping gracefully.
//!
//! `iterative`, `threaded` and `pool` differ only in *which thread* runs
//! [`serve_connection`]: the accepting thread itself, a new thread per
//! client, or a worker from a fixed pool. The loop below is the textbook one:
//! read what arrived, let the session answer, `sendall` the answer, repeat
//! until the peer closes.
//!
//! Stopping a blocking server is the awkward part of the model, because a
//! thread blocked in `accept` or `read` cannot be told anything. Linux
//! offers a clean way out: `shutdown(SHUT_RD)` on the listening socket makes
//! `accept` fail, and on a connection makes a blocked `read` return 0 (end
//! of input), so the session flushes its last replies as if the client had
//! half-closed. [`ActiveConnections`] remembers every open connection so a
//! stop can reach them all.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use slab::Slab;

use super::kit::{panic_message, report_served, AcceptBackoff, CapacityLog};
use super::listener::{Listener, Stream};
use super::{EngineConfig, Server};
use crate::io_util::{interrupted, is_connection_error, would_block};
use crate::service::buffered::{timeout_reason, track_partial, BufferedSession};
use crate::service::{Peer, Service};

/// Per-connection read buffer for the blocking engines: each connection's
/// thread owns one while it serves (the reactor, by contrast, shares one).
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Serve one connection to the end with blocking I/O: the lecture's loop.
///
/// Blocking calls wait forever unless told otherwise, so every wait here is
/// bounded: a client that goes quiet for `idle_timeout` (reading or
/// writing) is dropped, and so is one that starts a request and does not
/// finish it within `request_timeout` (a slowloris client trickling bytes).
pub fn serve_connection(
    mut stream: Stream,
    peer: &Peer,
    service: &dyn Service,
    config: &EngineConfig,
) -> io::Result<()> {
    let mut session = BufferedSession::open(service, peer);
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    // A client that never reads its answers would block `write_all` for
    // ever once the socket buffers fill: bound that wait too.
    stream.set_write_timeout(Some(config.idle_timeout))?;
    let mut read_timeout = None;
    let mut partial_since: Option<Instant> = None;
    loop {
        // `sendall`: a blocking write_all returns once every byte is queued
        // in the kernel, however many partial writes that takes.
        let unsent = session.unsent();
        if !unsent.is_empty() {
            let len = unsent.len();
            stream.write_all(unsent)?;
            session.handle_sent(len);
        }
        if session.is_done() {
            break;
        }
        let wait = match partial_since {
            Some(since) => config
                .request_timeout
                .saturating_sub(since.elapsed())
                .min(config.idle_timeout),
            None => config.idle_timeout,
        };
        if wait.is_zero() {
            return Err(timed_out(partial_since.is_some(), config));
        }
        // Only touch the socket option when the bound changes: in the
        // common case (no partial request) that is once per connection.
        if read_timeout != Some(wait) {
            stream.set_read_timeout(Some(wait))?;
            read_timeout = Some(wait);
        }
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(err) if interrupted(&err) => continue,
            // SO_RCVTIMEO expired (Linux reports it as EAGAIN).
            Err(err) if would_block(&err) || err.kind() == io::ErrorKind::TimedOut => {
                return Err(timed_out(partial_since.is_some(), config))
            }
            Err(err) => return Err(err),
        };
        let outcome = if n == 0 {
            // The peer half-closed (or a stop shut our read side down).
            session.handle_eof().map(|()| 0)
        } else {
            session.handle_received(&buf[..n])
        };
        match outcome {
            Ok(requests) => config.work.perform(requests),
            Err(err) => log::warn!("{peer}: closing: {err}"),
        }
        partial_since = track_partial(partial_since, session.has_partial_request(), Instant::now);
    }
    // Half-close our side so the client reads a clean end of stream.
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// The error for a connection dropped by one of the timeouts.
fn timed_out(has_partial_request: bool, config: &EngineConfig) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        timeout_reason(has_partial_request, &config.timeouts()),
    )
}

/// Serve one connection and log how it ended. A panic in the session (a
/// bug) is contained here: that connection is closed, the server goes on.
pub fn serve_and_log(stream: Stream, peer: &Peer, service: &dyn Service, config: &EngineConfig) {
    let served = panic::catch_unwind(AssertUnwindSafe(|| {
        serve_connection(stream, peer, service, config)
    }));
    match served {
        Ok(Ok(())) => {}
        // A reset, broken pipe or timeout ends this connection only.
        Ok(Err(err)) => log::info!("{peer}: connection ended: {err}"),
        Err(panic) => log::error!(
            "{peer}: connection handler panicked ({}); connection closed, server goes on",
            panic_message(&panic)
        ),
    }
}

/// Every connection a blocking engine is serving, so a stop can reach them,
/// and a count the engine can wait on.
#[derive(Debug, Default)]
struct ActiveConnections {
    state: Mutex<ActiveState>,
    emptied: Condvar,
}

#[derive(Debug, Default)]
struct ActiveState {
    streams: Slab<Stream>,
    is_stopping: bool,
}

/// Removes a connection from [`ActiveConnections`] when it ends.
#[derive(Debug)]
pub struct Registration {
    active: Arc<ActiveConnections>,
    key: Option<usize>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut state = self.active.state.lock().unwrap_or_else(|e| e.into_inner());
            state.streams.remove(key);
            if state.streams.is_empty() {
                self.active.emptied.notify_all();
            }
        }
    }
}

impl ActiveConnections {
    /// Remember `stream` while the returned registration lives. If a stop is
    /// already under way, its read side is shut down at once, so a
    /// connection accepted during the stop is not missed.
    pub fn register(self: &Arc<Self>, stream: &Stream) -> Registration {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = match stream.try_clone() {
            Ok(handle) => {
                if state.is_stopping {
                    let _ = handle.shutdown(Shutdown::Read);
                }
                Some(state.streams.insert(handle))
            }
            // Out of descriptors for the clone: this connection cannot be
            // interrupted by a stop, but it still ends when its client does.
            Err(err) => {
                log::warn!("cannot track connection for graceful stop: {err}");
                None
            }
        };
        Registration {
            active: Arc::clone(self),
            key,
        }
    }

    /// Begin a stop: every connection stops reading (its session sees end
    /// of input and flushes its last replies).
    pub fn stop_reading(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.is_stopping = true;
        for (_, stream) in state.streams.iter() {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }

    /// Wait until every connection has ended, or the deadline passes; then
    /// cut off whatever is left. Returns how many had to be cut off.
    pub fn wait_or_cut_off(&self, deadline: Instant) -> usize {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while !state.streams.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .emptied
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        for (_, stream) in state.streams.iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        state.streams.len()
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .streams
            .len()
    }
}

/// What a blocking engine's stop does, from any thread: wake the accept
/// loop and make every connection finish.
#[derive(Debug)]
struct BlockingStop {
    listener: Arc<Listener>,
    /// The connections a stop must reach (and the cap counts).
    active: Arc<ActiveConnections>,
    is_stopped: AtomicBool,
}

impl BlockingStop {
    /// A stop for this listener and these connections.
    pub fn new(listener: Arc<Listener>, active: Arc<ActiveConnections>) -> Arc<Self> {
        Arc::new(BlockingStop {
            listener,
            active,
            is_stopped: AtomicBool::new(false),
        })
    }

    /// Ask for the stop (idempotent).
    pub fn stop(&self) {
        if !self.is_stopped.swap(true, Ordering::SeqCst) {
            self.active.stop_reading();
            if let Err(err) = self.listener.shutdown_accept() {
                log::warn!("cannot wake the accept loop: {err}");
            }
        }
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.is_stopped.load(Ordering::SeqCst)
    }
}

/// Start a blocking engine: accept on a thread of its own and hand each
/// connection, already registered so a stop can reach it, to `dispatch`,
/// which decides which thread serves it. That decision is the only thing
/// the three blocking engines do differently.
///
/// After a stop, `dispatch` is dropped (a pool's queue closes with it), the
/// connections get `grace` to finish, and `finish` runs (a pool joins its
/// workers there).
pub fn spawn_engine(
    name: &str,
    listener: Listener,
    config: &EngineConfig,
    dispatch: impl FnMut(Stream, Peer, Registration) + Send + 'static,
    finish: impl FnOnce() + Send + 'static,
) -> io::Result<Server> {
    let local_addr = listener.local_addr()?;
    let listener = Arc::new(listener);
    let active = Arc::new(ActiveConnections::default());
    let stop = BlockingStop::new(Arc::clone(&listener), Arc::clone(&active));
    let stopper = Arc::clone(&stop);
    let (grace, max_connections) = (config.grace, config.max_connections);
    let mut dispatch = dispatch;
    Server::spawn(
        name,
        local_addr,
        move || stopper.stop(),
        move || {
            accept_loop(
                || listener.accept(),
                &stop,
                max_connections,
                |stream, peer| {
                    let registration = active.register(&stream);
                    dispatch(stream, peer, registration);
                },
            )?;
            drop(dispatch);
            active.wait_or_cut_off(Instant::now() + grace);
            finish();
            Ok(())
        },
    )
}

/// Start a blocking engine whose `workers` threads each accept for
/// themselves, through `accept` (which may take a lock around the call),
/// and serve what they accept to its end, then accept again: the shape of
/// `prethreaded-mutex`. Each worker prints its spread line as it stops
/// ([`report_served`]). The stop is the other blocking engines' own: the
/// listener's read side is shut (every `accept` fails), every connection's
/// too, and the connections get `grace` to finish.
pub fn spawn_self_accepting(
    name: &str,
    listener: Listener,
    service: Arc<dyn Service>,
    config: &EngineConfig,
    accept: impl Fn(&Listener) -> io::Result<(Stream, Peer)> + Send + Sync + 'static,
) -> io::Result<Server> {
    let local_addr = listener.local_addr()?;
    let listener = Arc::new(listener);
    let active = Arc::new(ActiveConnections::default());
    let stop = BlockingStop::new(Arc::clone(&listener), Arc::clone(&active));
    let (stopped, is_stopped) = crossbeam_channel::bounded::<()>(1);
    let stopper = Arc::clone(&stop);
    let accept = Arc::new(accept);
    let config = Arc::new(config.clone());
    let mut workers = Vec::with_capacity(config.workers.max(1));
    for index in 0..config.workers.max(1) {
        let (listener, stop, active) = (
            Arc::clone(&listener),
            Arc::clone(&stop),
            Arc::clone(&active),
        );
        let (accept, service, config) = (
            Arc::clone(&accept),
            Arc::clone(&service),
            Arc::clone(&config),
        );
        workers.push(
            std::thread::Builder::new()
                .name(format!("sockbench-worker-{index}"))
                .spawn(move || {
                    let mut served = 0;
                    let accepted = accept_loop(
                        || accept(&listener),
                        &stop,
                        config.max_connections,
                        |stream, peer| {
                            let _registration = active.register(&stream);
                            served += 1;
                            serve_and_log(stream, &peer, service.as_ref(), &config);
                        },
                    );
                    report_served(index, served);
                    accepted
                })?,
        );
    }
    let grace = config.grace;
    Server::spawn(
        name,
        local_addr,
        move || {
            stopper.stop();
            let _ = stopped.try_send(());
        },
        move || {
            let _ = is_stopped.recv();
            active.wait_or_cut_off(Instant::now() + grace);
            for worker in workers {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a worker thread panicked")))?;
            }
            Ok(())
        },
    )
}

/// The accept loop the blocking engines share: hand each accepted
/// connection to `dispatch` until a stop is asked for.
///
/// Past `max_connections` open connections, a new client is accepted and
/// closed at once: it learns straight away that the server is full, rather
/// than waiting unseen in the backlog.
///
/// Accept errors never end the loop: a connection reset before we took it
/// is skipped; running out of descriptors (EMFILE/ENFILE) backs off,
/// doubling up to a second, and is logged once per episode rather than per
/// attempt: retrying at once would spin a core and flood the log.
fn accept_loop(
    mut accept: impl FnMut() -> io::Result<(Stream, Peer)>,
    stop: &BlockingStop,
    max_connections: usize,
    mut dispatch: impl FnMut(Stream, Peer),
) -> io::Result<()> {
    let mut backoff = AcceptBackoff::default();
    let mut capacity = CapacityLog::default();
    loop {
        match accept() {
            Ok((stream, peer)) => {
                backoff.reset();
                if stop.is_stopped() {
                    break;
                }
                if !capacity.admit(stop.active.len(), max_connections) {
                    continue; // Dropping the stream closes it.
                }
                dispatch(stream, peer);
            }
            Err(_) if stop.is_stopped() => break,
            Err(err) if interrupted(&err) || is_connection_error(&err) => continue,
            Err(err) => std::thread::sleep(backoff.next_delay(&err)),
        }
    }
    Ok(())
}
