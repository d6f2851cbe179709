//! `reactor`: one thread, a hand-rolled mio readiness loop.
//!
//! This is the lecture's `select()` server done right. One thread asks the
//! kernel "which of my sockets can make progress?" (`Poll::poll`), and for
//! each answer does only what will not block: accept, read, write. Nothing
//! waits for a slow client, so one thread holds thousands of connections.
//!
//! How the loop asks is its backend ([`Backend`], `readiness.rs`): epoll
//! through mio for `reactor` and `offload`; `select.rs` and `poll.rs` run
//! this same loop over `select(2)` and `poll(2)`, and hold only their
//! waiting call and its bookkeeping. The loop is generic over the backend,
//! so the reactor pays nothing for the choice.
//!
//! How to read it, top to bottom:
//! 1. [`spawn`] builds a [`Reactor`] and runs [`Reactor::run`], the loop
//!    (with `--loops N`, [`spawn_loops`] builds N and runs each on a thread).
//! 2. The loop dispatches each event by [`Token`]: [`LISTENER`] means
//!    connections are waiting ([`Reactor::accept_all`]), [`WAKER`] means
//!    "stop" ([`Reactor::begin_stop`]) or, for `offload`, "work is done"
//!    ([`Reactor::handle_wake`]), anything else is a slab key naming a
//!    connection ([`Reactor::drive`]).
//! 3. [`Reactor::drive`] reads until `WouldBlock`, lets the session answer,
//!    writes until `WouldBlock`, then registers interest in exactly what the
//!    connection now waits for ([`Reactor::update_interest`]).
//!
//! The rules that make it correct, each marked where the code follows it:
//! - **Drain readiness.** mio reports edges: after an event, keep reading
//!   (or accepting, or writing) until `WouldBlock`, or you may never hear
//!   about that socket again. One Linux-specific shortcut, explained where
//!   it is taken: a short read already proves the queue empty, unless the
//!   peer has closed (its end of stream may be waiting behind the bytes).
//!   `select` and `poll` report levels, not edges: a socket still ready is
//!   reported again, so draining is never wrong for them, only sooner.
//! - **Keep partial writes.** `write` may take only part of the buffer; the
//!   rest stays queued and is flushed when the socket is `WRITABLE` again.
//!   (mio's own example turns a short write into an error; we do not.)
//! - **Backpressure.** While a connection's unsent output is above the
//!   high-water mark, stop reading from it: a client that never reads its
//!   answers cannot make the server buffer without bound.
//! - **Fairness.** A connection gets a bounded number of reads per turn; if
//!   it still has data it goes to the back of a ready queue, so one busy
//!   client cannot starve the others.
//! - **One read buffer**, owned by the loop: an idle connection holds none.
//! - **Never spin.** The wait blocks until something happens or the next
//!   timeout check is due (every few seconds); it returns at once only
//!   while the ready queue has work. Interest is `WRITABLE` only while
//!   output is queued: a level-triggered backend would otherwise report
//!   an idle socket's free send buffer on every wait.
//! - **Every wait is bounded.** Idle connections and half-sent requests
//!   (slowloris) are closed by a periodic sweep; past `max_connections`,
//!   new clients are closed at once.
//! - **Work runs here.** With `--work`, every request's cost is paid on this
//!   one thread, stalling every other connection. That is the lesson.
//!   (`offload.rs` is the fix: the same loop, with the work paid by a pool.)
//!
//! Several loops (`--loops N`, [`spawn_loops`]): each loop is a
//! self-contained [`Reactor`] on its own thread, with its own poller,
//! connections, buffer and listening socket; they share nothing but the
//! port. Every listener is bound with `SO_REUSEPORT`, and the kernel picks
//! the listener for each new connection by hashing its addresses and
//! ports. The hash spreads many clients evenly, but it knows nothing of
//! load: a few connections can land on one loop while another idles, and a
//! connection stays on the loop that accepted it. The per-loop counts
//! printed at stop (and the loop number in `--trace`) show how even it was.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Interest, Token};
use slab::Slab;

use super::kit::{contained, CapacityLog, Deadlines, Trace};
use super::nonblocking::{NbListener, NbStream};
use super::readiness::{Backend, Epoll, Readiness, Wake};
use super::work::{Job, Pool};
use super::{EngineConfig, Listener, Server};
use crate::io_util::{interrupted, is_connection_error, would_block};
use crate::service::buffered::{BufferedSession, Timers};
use crate::service::{Peer, Service};
use crate::trace_line;

/// The listening socket's token. Connection tokens are slab keys, which
/// start at 0, so the two fixed tokens sit at the top of the range.
const LISTENER: Token = Token(usize::MAX);
/// Woken from another thread: to stop, or (`offload`) because work is done.
/// mio allows one waker per poller, so both share it.
const WAKER: Token = Token(usize::MAX - 1);

/// Size of the loop's single read buffer.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Reads one connection may do per turn before others get theirs.
const READS_PER_TURN: usize = 16;

/// Start the reactor on its own thread.
pub fn spawn(
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    spawn_loops(vec![listener], service, config, WorkSite::Loop)
}

/// Where each request's `--work` is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkSite {
    /// On the loop thread (`reactor`).
    Loop,
    /// By a pool of `config.workers` threads per loop (`offload`).
    Pool,
}

/// Start one loop per listener, each on its own thread, sharing nothing.
/// The listeners must share one address (`SO_REUSEPORT`), so that clients
/// see one server. Stopping the server stops every loop.
pub fn spawn_loops(
    listeners: Vec<Listener>,
    service: Arc<dyn Service>,
    config: EngineConfig,
    site: WorkSite,
) -> io::Result<Server> {
    let name = match site {
        WorkSite::Loop => "reactor",
        WorkSite::Pool => "offload",
    };
    spawn_on::<Epoll>(name, listeners, service, config, site)
}

/// Start engine `name`: one loop per listener, each waiting through its
/// own backend `B` (epoll for `reactor` and `offload`; `select.rs` and
/// `poll.rs` start theirs here too).
pub(super) fn spawn_on<B: Backend>(
    name: &'static str,
    listeners: Vec<Listener>,
    service: Arc<dyn Service>,
    config: EngineConfig,
    site: WorkSite,
) -> io::Result<Server> {
    let Some(first) = listeners.first() else {
        return Err(io::Error::other(format!(
            "{name} needs at least one listener"
        )));
    };
    let local_addr = first.local_addr()?;
    let count = listeners.len();
    let stop_requested = Arc::new(AtomicBool::new(false));
    let mut reactors = Vec::with_capacity(count);
    let mut wakers = Vec::with_capacity(count);
    for (index, listener) in listeners.into_iter().enumerate() {
        let label = match count {
            1 => name.to_string(),
            _ => format!("{name} {index}"),
        };
        let mut reactor = Reactor::<B>::new(listener, Arc::clone(&service), config.clone(), label)?;
        let waker = reactor.backend.waker(WAKER)?;
        // With no work there is nothing to hand off: offload is the reactor.
        if site == WorkSite::Pool && config.work != super::Work::None {
            reactor.pool = Some(Pool::start(
                config.workers,
                config.work,
                Arc::clone(&waker),
            )?);
        }
        reactor.stop_requested = Arc::clone(&stop_requested);
        reactors.push(reactor);
        wakers.push(waker);
    }
    let stopper = move || {
        stop_requested.store(true, Ordering::Relaxed);
        for waker in &wakers {
            if let Err(err) = waker.wake() {
                log::warn!("cannot wake the {name} loop to stop it: {err}");
            }
        }
    };
    Server::spawn(name, local_addr, stopper, move || run_loops(reactors))
}

/// Run the first loop on this thread and the others on threads of their
/// own; when all have stopped, say how many connections each one served
/// (the kernel's `SO_REUSEPORT` balancing, made visible).
fn run_loops<B: Backend>(mut reactors: Vec<Reactor<B>>) -> io::Result<()> {
    if reactors.len() == 1 {
        return reactors.remove(0).run().map(|_| ());
    }
    let count = reactors.len();
    let results: Vec<io::Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = reactors
            .into_iter()
            .enumerate()
            .map(|(index, reactor)| {
                std::thread::Builder::new()
                    .name(format!("sockbench-loop-{index}"))
                    .spawn_scoped(scope, move || reactor.run())
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle?
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("loop thread panicked")))
            })
            .collect()
    });
    let counts: Vec<String> = results
        .iter()
        .enumerate()
        .map(|(index, result)| match result {
            Ok(accepted) => format!("loop {index}: {accepted}"),
            Err(err) => format!("loop {index}: failed ({err})"),
        })
        .collect();
    eprintln!(
        "  connections per loop ({count} loops, SO_REUSEPORT hash): {}",
        counts.join(", ")
    );
    results
        .into_iter()
        .try_for_each(|result| result.map(|_| ()))
}

/// One connection: its socket, its protocol state, and what we know of its
/// readiness.
#[derive(Debug)]
struct Connection {
    stream: NbStream,
    peer: Peer,
    session: BufferedSession,
    /// The interest registered with the poller right now.
    interest: Interest,
    /// The last read returned `WouldBlock`: wait for a `READABLE` event.
    is_read_drained: bool,
    /// The peer closed its side (or a stop shut ours): read to the end.
    is_read_closed: bool,
    /// The last write returned `WouldBlock`: wait for a `WRITABLE` event.
    is_write_blocked: bool,
    /// Waiting in the ready queue for another turn.
    is_queued: bool,
    /// Idle and slowloris timeouts.
    timers: Timers,
    /// (`offload`) Its latest requests' work is at the pool: their answer
    /// is held and reading pauses until the work is done.
    is_work_out: bool,
}

impl Connection {
    /// Closing, flushed, and (`offload`) no work out: nothing more will
    /// happen here.
    fn is_done(&self) -> bool {
        !self.is_work_out && self.session.is_done()
    }

    /// Whether to read from it now: the session driver's rule (wants
    /// input, below the high-water mark), and (`offload`) no work of its
    /// out, so answers cannot overtake each other.
    fn may_read(&self, high_water_bytes: usize) -> bool {
        !self.is_work_out && self.session.may_read(high_water_bytes)
    }
}

/// A self-contained readiness loop: its own backend (the waiting call),
/// connections and buffer. Several could run side by side, one per core.
struct Reactor<B: Backend> {
    /// `reactor`, or `reactor 1` when there are several loops: the name
    /// `--trace` prints.
    label: String,
    trace: Trace,
    /// How the loop waits: epoll (mio), `poll(2)` or `select(2)`.
    backend: B,
    /// `None` once stopping: no new connections.
    listener: Option<NbListener>,
    connections: Slab<Connection>,
    /// Connections that still had data when their turn ended.
    ready: VecDeque<Token>,
    read_buffer: Vec<u8>,
    service: Arc<dyn Service>,
    config: EngineConfig,
    /// Accept pause, stop grace, timeout sweep.
    deadlines: Deadlines,
    /// The loop's clock, read once per turn when `poll` returns: what the
    /// connections' timers are handed.
    now: Instant,
    capacity: CapacityLog,
    /// Set (before waking us) when the server is asked to stop.
    stop_requested: Arc<AtomicBool>,
    /// (`offload`) The workers that pay each request's `--work`.
    pool: Option<Pool>,
    /// Connections accepted, reported at stop.
    accepted: u64,
}

impl<B: Backend> Reactor<B> {
    /// Register the listener with a new backend.
    fn new(
        listener: Listener,
        service: Arc<dyn Service>,
        config: EngineConfig,
        label: String,
    ) -> io::Result<Self> {
        let mut backend = B::new()?;
        let mut listener = NbListener::from_listener(listener)?;
        backend.register(&mut listener, LISTENER, Interest::READABLE)?;
        let now = Instant::now();
        Ok(Reactor {
            label,
            trace: Trace::new(config.trace, &config.trace_to),
            backend,
            listener: Some(listener),
            connections: Slab::new(),
            ready: VecDeque::new(),
            read_buffer: vec![0; READ_BUFFER_BYTES],
            service,
            deadlines: Deadlines::new(&config, now),
            now,
            capacity: CapacityLog::default(),
            config,
            stop_requested: Arc::new(AtomicBool::new(false)),
            pool: None,
            accepted: 0,
        })
    }

    /// The event loop. Returns once stopped and every connection is closed,
    /// with how many connections it accepted.
    fn run(mut self) -> io::Result<u64> {
        let mut events = B::new_events();
        loop {
            // The waiting call and its bookkeeping: the one part of a turn
            // that is the backend's (epoll, `poll(2)` or `select(2)`). Each
            // reports the same tokens and `Readiness`; the rest of the loop
            // is the same for all.
            if let Err(err) = self.backend.wait(&mut events, self.poll_timeout()) {
                if interrupted(&err) {
                    continue; // A signal arrived; nothing happened to our sockets.
                }
                return Err(err);
            }
            self.now = Instant::now();
            for (token, readiness) in B::ready(&events) {
                match token {
                    LISTENER => self.accept_all(),
                    WAKER => self.handle_wake(),
                    token => self.handle_event(token, readiness),
                }
            }
            self.run_ready_queue();
            self.resume_accept_if_due();
            self.close_expired_if_due();
            if self.is_finished() {
                return Ok(self.accepted);
            }
        }
    }

    /// How long the wait may block: until the next scheduled check, unless
    /// queued work is waiting.
    fn poll_timeout(&self) -> Duration {
        if !self.ready.is_empty() {
            return Duration::ZERO; // Work is queued: just collect new events.
        }
        self.deadlines.wait(Instant::now())
    }

    /// Accept every waiting connection (drain the listener's readiness).
    fn accept_all(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    self.deadlines.accept_succeeded();
                    if self
                        .capacity
                        .admit(self.connections.len(), self.config.max_connections)
                    {
                        self.add_connection(stream, peer);
                    } // else: dropping the stream closes it; the client learns at once.
                }
                // The backlog is empty: wait for the next event.
                Err(err) if would_block(&err) => return,
                // That client gave up before we took it; take the next.
                Err(err) if interrupted(&err) || is_connection_error(&err) => continue,
                // Out of descriptors, or worse. Retrying now would fail again
                // (and every new client would wake us to fail again): stop
                // listening for a while instead. Logged once per episode.
                Err(err) => {
                    self.pause_accept(&err);
                    return;
                }
            }
        }
    }

    /// Take the listener out of the backend for the back-off after `err`.
    fn pause_accept(&mut self, err: &io::Error) {
        if let Some(listener) = &mut self.listener {
            if let Err(err) = self.backend.deregister(listener) {
                log::warn!("cannot pause the listener: {err}");
            }
            self.deadlines.accept_failed(err, self.now);
        }
    }

    /// Put the listener back once its pause is over. Registering again
    /// reports the backlog's readiness at once if clients are waiting.
    fn resume_accept_if_due(&mut self) {
        if !self.deadlines.take_accept_resume(self.now) {
            return;
        }
        let Some(listener) = &mut self.listener else {
            return;
        };
        match self
            .backend
            .register(listener, LISTENER, Interest::READABLE)
        {
            Ok(()) => self.accept_all(),
            Err(err) => self.deadlines.accept_failed(&err, self.now),
        }
    }

    /// Register a new connection and give it its first turn (a greeting may
    /// be waiting to be sent).
    fn add_connection(&mut self, mut stream: NbStream, peer: Peer) {
        let entry = self.connections.vacant_entry();
        let token = Token(entry.key());
        if let Err(err) = self
            .backend
            .register(&mut stream, token, Interest::READABLE)
        {
            log::warn!("{peer}: cannot register connection: {err}");
            return;
        }
        self.accepted += 1;
        trace_line!(
            self.trace,
            "[{}] accept    #{} from {peer} ({} accepted here)",
            self.label,
            token.0,
            self.accepted
        );
        let session = BufferedSession::open(self.service.as_ref(), &peer);
        entry.insert(Connection {
            stream,
            peer,
            session,
            interest: Interest::READABLE,
            // A new socket may already hold data: try reading at once.
            is_read_drained: false,
            is_read_closed: false,
            is_write_blocked: false,
            is_queued: false,
            timers: Timers::new(self.now),
            is_work_out: false,
        });
        self.drive(token);
    }

    /// A readiness event for a connection: note what became possible, then
    /// let the connection make progress.
    fn handle_event(&mut self, token: Token, event: Readiness) {
        // Events for a closed connection can still be in the batch
        // ("sporadic events happen"): ignore tokens we no longer know.
        let Some(conn) = self.connections.get_mut(token.0) else {
            return;
        };
        if self.trace.is_on() {
            let what = match (event.is_readable, event.is_writable) {
                (true, true) => "readable+writable",
                (true, false) => "readable",
                (false, true) => "writable",
                (false, false) => "error/hup",
            };
            trace_line!(self.trace, "[{}] {what:<9} #{}", self.label, token.0);
        }
        // Errors and hang-ups are reported as readiness too: the next read
        // or write returns the error or end of stream.
        if event.is_readable || event.is_read_closed || event.is_error {
            conn.is_read_drained = false;
        }
        if event.is_read_closed || event.is_error {
            conn.is_read_closed = true;
        }
        if event.is_writable || event.is_write_closed || event.is_error {
            conn.is_write_blocked = false;
        }
        conn.timers.touch(self.now);
        self.drive(token);
    }

    /// Give queued connections another turn, in order. Connections queued
    /// during this pass wait for the next one, after fresh events.
    fn run_ready_queue(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(token) = self.ready.pop_front() else {
                break;
            };
            if let Some(conn) = self.connections.get_mut(token.0) {
                conn.is_queued = false;
                self.drive(token);
            }
        }
    }

    /// One turn for a connection. A panic in its session (a bug) would
    /// otherwise take down every connection this thread serves: contain it
    /// and close only that connection.
    fn drive(&mut self, token: Token) {
        if let Err(why) = contained(|| self.take_turn(token)) {
            log::error!("connection #{}: {why}; closed, server goes on", token.0);
            self.close(token, &why);
        }
    }

    /// Read, answer, write, then decide what to wait for next, or close.
    fn take_turn(&mut self, token: Token) {
        let high_water = self.config.output_high_water_bytes;
        let Some(conn) = self.connections.get_mut(token.0) else {
            return;
        };
        let work = WorkPayer {
            pool: self.pool.as_ref(),
            token,
            trace: &self.trace,
            label: &self.label,
        };
        let result = read_some(conn, &mut self.read_buffer, high_water, &self.config, work)
            .and_then(|()| write_some(conn));
        conn.timers
            .note_partial(conn.session.has_partial_request(), self.now);
        // The turn's budget ran out (or writing relieved backpressure) with
        // data still unread. Epoll does not report readiness twice, so
        // remember the connection ourselves: it gets another turn after the
        // others (`select` and `poll` would report it again; the queue
        // keeps one order for every backend).
        if result.is_ok() && conn.may_read(high_water) && !conn.is_read_drained && !conn.is_queued {
            conn.is_queued = true;
            self.ready.push_back(token);
        }
        match result {
            Ok(()) if conn.is_done() => self.close(token, "done"),
            Ok(()) => {
                if let Err(err) = self.update_interest(token) {
                    self.close(token, &err.to_string());
                }
            }
            // A reset or broken pipe ends this connection only.
            Err(err) => self.close(token, &err.to_string()),
        }
    }

    /// Register interest in what the connection waits for now: `READABLE`
    /// while it may read, `WRITABLE` only while output is queued.
    fn update_interest(&mut self, token: Token) -> io::Result<()> {
        let high_water = self.config.output_high_water_bytes;
        let Some(conn) = self.connections.get_mut(token.0) else {
            return Ok(());
        };
        let readable = conn.may_read(high_water).then_some(Interest::READABLE);
        // (`offload`) Held output (work out) is not written yet: no need
        // to hear of room for it.
        let writable =
            (!conn.session.unsent().is_empty() && !conn.is_work_out).then_some(Interest::WRITABLE);
        let wanted = match (readable, writable) {
            (Some(r), Some(w)) => r | w,
            (Some(only), None) | (None, Some(only)) => only,
            // Neither: the connection is closing and flushed (is_done), or
            // its work is out; the registration stays as it is meanwhile.
            // (Work is out only in `offload`, which waits through epoll:
            // its edges do not report the unchanged interest again.)
            (None, None) => return Ok(()),
        };
        if wanted != conn.interest {
            self.backend.reregister(&mut conn.stream, token, wanted)?;
            conn.interest = wanted;
        }
        Ok(())
    }

    /// Close a connection: deregister before dropping, as mio asks (and as
    /// `poll`'s and `select`'s sets need: the number is soon reused).
    fn close(&mut self, token: Token, why: &str) {
        let Some(mut conn) = self.connections.try_remove(token.0) else {
            return;
        };
        trace_line!(
            self.trace,
            "[{}] closed    #{} ({why})",
            self.label,
            token.0
        );
        let _ = self.backend.deregister(&mut conn.stream);
        // Half-close first so the client reads a clean end of stream.
        let _ = conn.stream.shutdown(Shutdown::Write);
        if why != "done" {
            log::info!("{}: connection ended: {why}", conn.peer);
        }
    }

    /// Every so often, close connections that have been idle too long or
    /// have held a partial request too long (slowloris). A sweep over all
    /// connections is simple and cheap at the interval it runs.
    fn close_expired_if_due(&mut self) {
        let expired = self.deadlines.expired_if_due(
            self.connections
                .iter()
                // (`offload`) A connection whose work is out waits on us, not idle.
                .filter(|(_, conn)| !conn.is_work_out)
                .map(|(key, conn)| (Token(key), &conn.timers)),
            self.now,
        );
        for (token, why) in expired {
            self.close(token, &why);
        }
    }

    /// The waker rang: a stop was asked for, or (`offload`) workers have
    /// finished some work.
    fn handle_wake(&mut self) {
        if self.stop_requested.load(Ordering::Relaxed) {
            self.begin_stop();
        }
        self.complete_offloaded_work();
    }

    /// (`offload`) Release the held answers of connections whose work is
    /// done, and let each carry on: write, then read its next requests.
    fn complete_offloaded_work(&mut self) {
        let Some(pool) = &self.pool else {
            return;
        };
        let done: Vec<Token> = pool.completed().collect();
        for token in done {
            // A connection with work out is never closed before it returns
            // (only the end of the loop drops it), so the token is its own.
            if let Some(conn) = self.connections.get_mut(token.0) {
                conn.is_work_out = false;
                conn.timers.touch(self.now);
                trace_line!(self.trace, "[{}] work done #{}", self.label, token.0);
            }
            self.drive(token);
        }
    }

    /// Stop: close the listener (no new connections) and shut down every
    /// connection's read side, so each session sees end of input, answers
    /// what it has, and closes once flushed. Whatever is left when the grace
    /// period ends is cut off.
    fn begin_stop(&mut self) {
        if !self.deadlines.begin_stop(self.now) {
            return;
        }
        if let Some(mut listener) = self.listener.take() {
            let _ = self.backend.deregister(&mut listener);
        }
        let tokens: Vec<Token> = self.connections.iter().map(|(key, _)| Token(key)).collect();
        for token in tokens {
            if let Some(conn) = self.connections.get_mut(token.0) {
                let _ = conn.stream.shutdown(Shutdown::Read);
                conn.is_read_drained = false;
                conn.is_read_closed = true;
            }
            self.drive(token);
        }
    }

    /// Stopped, and either every connection has closed or time is up.
    fn is_finished(&self) -> bool {
        self.deadlines.is_finished(self.connections.len(), self.now)
    }
}

/// Who pays the `--work` of the requests a read completes.
struct WorkPayer<'a> {
    /// `None`: the loop thread itself (`reactor`).
    pool: Option<&'a Pool>,
    /// The connection being read.
    token: Token,
    /// The loop's trace, and its label.
    trace: &'a Trace,
    label: &'a str,
}

/// Read until `WouldBlock`, the turn's budget, or backpressure; feed each
/// read to the session and pay the simulated work for its requests.
fn read_some(
    conn: &mut Connection,
    buffer: &mut [u8],
    high_water: usize,
    config: &EngineConfig,
    work: WorkPayer<'_>,
) -> io::Result<()> {
    for _ in 0..READS_PER_TURN {
        if conn.is_read_drained || !conn.may_read(high_water) {
            return Ok(());
        }
        let outcome = match conn.stream.read(buffer) {
            // End of stream: the peer half-closed (or a stop shut reading).
            Ok(0) => conn.session.handle_eof().map(|()| 0),
            Ok(n) => {
                // A short read emptied the socket's queue. Linux's epoll
                // reports every later arrival as a new edge, so waiting for
                // the next event now is as safe as reading once more to see
                // `WouldBlock`, and saves a system call per request. Not
                // once the peer has closed: its end of stream may sit right
                // behind these bytes, and no new edge would announce it.
                // (Portable code always reads until `WouldBlock`, as mio
                // advises. `select` and `poll` report a socket again while
                // it stays readable, end of stream included: safe there too.)
                conn.is_read_drained = n < buffer.len() && !conn.is_read_closed;
                conn.session.handle_received(&buffer[..n])
            }
            Err(err) if would_block(&err) => {
                conn.is_read_drained = true;
                return Ok(());
            }
            Err(err) if interrupted(&err) => continue,
            Err(err) => return Err(err),
        };
        match (outcome, work.pool) {
            // Paid on the loop's only thread: every connection waits.
            (Ok(requests), None) => config.work.perform(requests),
            // Paid by a worker: only this connection waits. Its answer is
            // held and reading stops until the work is done.
            (Ok(requests), Some(pool)) if requests > 0 => {
                pool.submit(Job {
                    token: work.token,
                    requests,
                });
                conn.is_work_out = true;
                trace_line!(
                    work.trace,
                    "[{}] work out  #{} ({requests} requests)",
                    work.label,
                    work.token.0
                );
                return Ok(());
            }
            (Ok(_), Some(_)) => {}
            (Err(err), _) => log::warn!("{}: closing: {err}", conn.peer),
        }
    }
    Ok(())
}

/// Write queued output until it is all sent or the socket is full. A
/// partial write keeps the rest queued for the next `WRITABLE` event.
/// (`offload`) While work is out, the output holds its answer: nothing is
/// written.
fn write_some(conn: &mut Connection) -> io::Result<()> {
    while !conn.is_write_blocked && !conn.is_work_out && !conn.session.unsent().is_empty() {
        match conn.stream.write(conn.session.unsent()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => conn.session.handle_sent(n),
            Err(err) if would_block(&err) => conn.is_write_blocked = true,
            Err(err) if interrupted(&err) => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
