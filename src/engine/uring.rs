//! `uring`: one thread, one io_uring: completions instead of readiness.
//!
//! The reactor asks the kernel "which sockets can make progress?" and then
//! makes the calls itself: `epoll_wait`, then `read`, then `write`, one
//! system call each. This loop hands the kernel whole operations instead
//! ("accept connections on this socket", "receive into one of these
//! buffers", "send these bytes") through a submission queue shared with
//! it, and reaps what they did from a completion queue. One system call,
//! `io_uring_enter`, both submits everything queued in a turn and waits
//! for completions, however many sockets they concern.
//!
//! How to read it, top to bottom, beside `reactor.rs`:
//! 1. [`spawn`] builds a [`Uring`] on the engine's own thread (a ring set
//!    up with `SINGLE_ISSUER` accepts submissions from its creator only)
//!    and runs [`Uring::run`], the loop.
//! 2. Each turn is one `io_uring_enter` ([`Uring::submit_and_wait`]), then
//!    every completion is dispatched by its `user_data` ([`OpId`]): the
//!    operation's kind, and for a connection its slab index and generation.
//!    Where the reactor has `Token`s naming sockets, this loop names
//!    operations.
//! 3. After each completion, [`Uring::update`] submits exactly what the
//!    connection needs next (a send, a receive, a cancel) or closes it: the
//!    counterpart of the reactor's `update_interest`.
//!
//! The rules that make it correct, each marked where the code follows it:
//! - **Multishot.** One accept and one receive per connection stay armed
//!   and complete many times; a completion without the "more" flag is the
//!   operation's last (after `ENOBUFS`, an error, a cancel, end of stream,
//!   or a completion-queue overflow). Re-arm then, with reason.
//! - **Provided buffers.** A receive draws from the loop's buffer ring
//!   ([`super::ring::BufRing`]) when data arrives, so an idle connection holds
//!   no buffer; each buffer goes back the moment its bytes are in the
//!   session. When the ring runs dry (`ENOBUFS`) the data waits in the
//!   socket, and the connection waits in a list until buffers come back.
//! - **One send in flight per connection.** Two sends on one socket may
//!   reorder bytes. The bytes in flight are a copy, in the connection's
//!   own buffer, that nothing touches until the send completes (the
//!   session's output may grow, and move, meanwhile). A short send
//!   resubmits the rest.
//! - **Backpressure.** While unsent output is above the high-water mark,
//!   the receive is cancelled and not re-armed (a multishot receive would
//!   otherwise go on delivering).
//! - **Name operations, not descriptors.** Descriptors are reused as soon
//!   as they are closed; an operation is named by slab index plus a
//!   generation, so a stray completion can never reach a newer connection.
//! - **Cancel before close; free only after the final completion.**
//!   Closing a socket does not end a pending receive on it. A connection
//!   is closed and its memory freed only once each of its operations has
//!   completed for the last time. On stop, everything is cancelled and
//!   reaped before the buffer ring is taken back.
//! - **Never spin; every wait bounded.** `io_uring_enter` waits for a
//!   completion or the next timer (sweep, accept back-off, end of grace).
//!   Idle and slowloris timeouts, `max_connections` and accept back-off
//!   are the reactor's, through the engine kit ([`super::kit`]).
//!
//! What it does not have, and why: no ready queue for fairness (each
//! completion carries one buffer's worth, and the kernel itself moves on
//! from a busy multishot receive after a few in a row), no `WouldBlock`
//! (an operation completes when it is done), no registered ("fixed")
//! descriptors (each operation looks its socket up, about 5% of the
//! server's time in a profile at 1,000 connections: `docs/LECTURE.md`).
//!
//! The ring's plumbing (setup flags, `serve --ring-setup`; the submission
//! backlog; the eventfd; the provided buffers) is in [`super::ring`], as
//! the reactor's is in mio.

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

use io_uring::cqueue;
use slab::Slab;

use super::kit::{contained, CapacityLog, Deadlines, Trace};
use super::listener::Stream;
use super::ring::{BufRing, EventFd, Ring};
use super::{EngineConfig, Listener, Server};
use crate::io_util::{interrupted, is_connection_error};
use crate::service::buffered::{BufferedSession, Timers};
use crate::service::{Peer, Service};
use crate::trace_line;

/// Receive buffers in the ring by default (`--ring-buffers`), and the size
/// of each. 512 x 16 KiB = 8 MiB, touched only as data arrives; each is
/// back in the ring within the turn that filled it.
pub const DEFAULT_RING_BUFFERS: u16 = 512;

pub use super::ring::{probe, RingSetup};
const RECV_BUFFER_BYTES: usize = 16 * 1024;
/// The buffer group receives draw from (the ring has one).
const BUFFER_GROUP: u16 = 0;
/// Most bytes one send carries (the copy in flight stays bounded).
const MAX_SEND_BYTES: usize = 256 * 1024;

/// Start the io_uring loop on its own thread. Returns once its ring is set
/// up, or with the reason it cannot be.
pub fn spawn(
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    let local_addr = listener.local_addr()?;
    let wake = Arc::new(EventFd::new()?);
    let stop_wake = Arc::clone(&wake);
    let (ready, is_ready) = crossbeam_channel::bounded(1);
    let server = Server::spawn(
        "uring",
        local_addr,
        move || stop_wake.ring(),
        move || {
            // Built here, on the thread that submits: SINGLE_ISSUER.
            let uring = match Uring::new(listener, service, config, wake) {
                Ok(uring) => uring,
                Err(err) => {
                    let _ = ready.send(Err(err));
                    return Ok(());
                }
            };
            let _ = ready.send(Ok(()));
            uring.run()
        },
    )?;
    match is_ready.recv() {
        Ok(Ok(())) => Ok(server),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(io::Error::other(
            "the uring thread ended before its ring was set up",
        )),
    }
}

/// What an operation is, in the top byte of its `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The multishot accept on the listener.
    Accept = 1,
    /// The poll on the stop eventfd.
    Wake,
    /// A connection's multishot receive.
    Recv,
    /// A connection's send.
    Send,
    /// A cancel request; its target's own completion says what happened.
    Cancel,
}

/// An operation's name, packed into the 64-bit `user_data` the kernel
/// hands back with each completion: kind (8 bits), the connection's
/// generation (24 bits), its slab index (32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpId {
    kind: Kind,
    generation: u32,
    key: usize,
}

impl OpId {
    const GENERATION_MASK: u32 = (1 << 24) - 1;

    /// An operation that belongs to no connection.
    fn of_loop(kind: Kind) -> OpId {
        OpId {
            kind,
            generation: 0,
            key: 0,
        }
    }

    fn encode(self) -> u64 {
        (self.kind as u64) << 56
            | u64::from(self.generation & Self::GENERATION_MASK) << 32
            | self.key as u64 & 0xFFFF_FFFF
    }

    fn decode(user_data: u64) -> Option<OpId> {
        let kind = match user_data >> 56 {
            1 => Kind::Accept,
            2 => Kind::Wake,
            3 => Kind::Recv,
            4 => Kind::Send,
            5 => Kind::Cancel,
            _ => return None,
        };
        Some(OpId {
            kind,
            generation: (user_data >> 32) as u32 & Self::GENERATION_MASK,
            key: (user_data & 0xFFFF_FFFF) as usize,
        })
    }
}

/// Where a connection's receive stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecvState {
    /// Not armed: not wanted now (closing, backpressure) or not yet.
    Idle,
    /// Armed: completions will keep coming.
    Armed,
    /// A cancel is on its way; the final completion has not come yet.
    Cancelling,
    /// Ended with `ENOBUFS`: in [`Uring::waiting_for_buffers`].
    WaitingForBuffers,
}

/// Where a connection's send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendState {
    Idle,
    InFlight,
    Cancelling,
}

/// One connection: its socket, its protocol state, its operations.
#[derive(Debug)]
struct Connection {
    stream: Stream,
    peer: Peer,
    session: BufferedSession,
    /// Part of every operation's name: tells this connection from an
    /// earlier one in the same slab slot.
    generation: u32,
    recv: RecvState,
    send: SendState,
    /// The bytes of the send in flight: a copy of the start of the
    /// session's unsent output, untouched until the send completes.
    sending: Vec<u8>,
    /// How much of `sending` the kernel has taken so far.
    sending_done: usize,
    /// Idle and slowloris timeouts.
    timers: Timers,
    /// Set when the connection is to be closed whatever its state (error,
    /// timeout, panic): outstanding operations are cancelled, then it is
    /// closed.
    abort: Option<String>,
}

impl Connection {
    /// No operation of this connection is in flight: it may be closed.
    fn is_quiet(&self) -> bool {
        self.recv != RecvState::Armed
            && self.recv != RecvState::Cancelling
            && self.send == SendState::Idle
    }
}

/// The loop: its ring, its buffers, its connections.
// Field order matters: the ring is closed before the receive buffers and
// the connections' send buffers are freed (and those only once nothing is
// in flight, see `finish`).
struct Uring {
    ring: Ring,
    buffers: BufRing,
    /// `None` once stopping: no new connections.
    listener: Option<Listener>,
    is_accept_armed: bool,
    connections: Slab<Connection>,
    next_generation: u32,
    /// Connections whose receive ended with `ENOBUFS`, as (key, generation).
    waiting_for_buffers: Vec<(usize, u32)>,
    /// A buffer went back to the ring this turn.
    is_buffer_returned: bool,
    /// Completions reaped this turn: (user_data, result, flags).
    completions: Vec<(u64, i32, u32)>,
    service: Arc<dyn Service>,
    config: EngineConfig,
    trace: Trace,
    /// Accept pause (re-armed at its end, or sooner when a connection
    /// closes), stop grace, timeout sweep.
    deadlines: Deadlines,
    /// The loop's clock, read once per turn when the wait returns: what
    /// the connections' timers are handed.
    now: Instant,
    capacity: CapacityLog,
    wake: Arc<EventFd>,
}

impl Uring {
    /// Set up the ring (flags per `config.ring_setup`) and its buffers.
    fn new(
        listener: Listener,
        service: Arc<dyn Service>,
        config: EngineConfig,
        wake: Arc<EventFd>,
    ) -> io::Result<Uring> {
        let ring = Ring::new(config.ring_setup)?;
        let buffers = BufRing::register(
            &ring.uring,
            BUFFER_GROUP,
            config.ring_buffers,
            RECV_BUFFER_BYTES,
        )?;
        let now = Instant::now();
        Ok(Uring {
            ring,
            buffers,
            listener: Some(listener),
            is_accept_armed: false,
            connections: Slab::new(),
            next_generation: 0,
            waiting_for_buffers: Vec::new(),
            is_buffer_returned: false,
            completions: Vec::new(),
            service,
            trace: Trace::new(config.trace, &config.trace_to),
            deadlines: Deadlines::new(&config, now),
            now,
            capacity: CapacityLog::default(),
            config,
            wake,
        })
    }

    /// The loop. Returns once stopped and every connection is closed (or
    /// the grace period is over), after reaping every operation.
    fn run(mut self) -> io::Result<()> {
        self.arm_wake();
        self.arm_accept();
        let served = self.serve();
        self.finish();
        served
    }

    fn serve(&mut self) -> io::Result<()> {
        loop {
            self.submit_and_wait()?;
            self.now = Instant::now();
            self.reap();
            self.rearm_waiting_for_buffers();
            self.resume_accept_if_due();
            self.close_expired_if_due();
            if self.is_finished() {
                return Ok(());
            }
        }
    }

    /// The turn's one system call: submit everything queued since the
    /// last, and wait until at least one completion is there, or the next
    /// timer is due. (With `DEFER_TASKRUN`, this wait is also when the
    /// kernel finishes the operations whose data has arrived.)
    fn submit_and_wait(&mut self) -> io::Result<()> {
        self.ring.enter(self.deadlines.wait(Instant::now()))
    }

    /// Handle every completion the kernel has posted.
    fn reap(&mut self) {
        let mut completions = std::mem::take(&mut self.completions);
        self.ring.reap_into(&mut completions);
        trace_line!(
            self.trace,
            "[uring] io_uring_enter #{}: {} completions",
            self.ring.enters,
            completions.len()
        );
        for &(user_data, result, flags) in &completions {
            self.handle_completion(user_data, result, flags);
        }
        completions.clear();
        self.completions = completions;
    }

    /// One completion: count it out if it is its operation's last, then
    /// hand it to whoever the operation belongs to.
    fn handle_completion(&mut self, user_data: u64, result: i32, flags: u32) {
        // A multishot operation's last completion, or any other's only one.
        if !cqueue::more(flags) {
            self.ring.in_flight -= 1;
        }
        let Some(op) = OpId::decode(user_data) else {
            log::warn!("completion with unknown user_data {user_data:#x}: ignored");
            return;
        };
        match op.kind {
            Kind::Wake => self.begin_stop(),
            Kind::Accept => self.handle_accept(result, flags),
            Kind::Cancel => {}
            Kind::Recv | Kind::Send => {
                let is_ours = self
                    .connections
                    .get(op.key)
                    .is_some_and(|conn| conn.generation == op.generation);
                if !is_ours {
                    // A stray completion for a connection already gone
                    // (cannot happen while slots are freed only when quiet,
                    // but costs nothing to guard): return its buffer.
                    if let Some(id) = cqueue::buffer_select(flags) {
                        self.buffers.recycle(id);
                    }
                    return;
                }
                if op.kind == Kind::Recv {
                    self.handle_recv(op.key, result, flags);
                } else {
                    self.handle_send(op.key, result);
                }
                self.update(op.key);
            }
        }
    }

    /// A completion of the multishot accept: a new connection, or why not.
    fn handle_accept(&mut self, result: i32, flags: u32) {
        if !cqueue::more(flags) {
            self.is_accept_armed = false;
        }
        if result >= 0 {
            // SAFETY: a successful accept's result is a new descriptor
            // that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(result) };
            self.deadlines.accept_succeeded();
            // Stopping (the accept's cancel is on its way), or full:
            // dropping the descriptor closes it; the client learns at once.
            if !self.deadlines.is_stopping()
                && self
                    .capacity
                    .admit(self.connections.len(), self.config.max_connections)
            {
                self.add_connection(fd);
            }
        } else {
            let err = io::Error::from_raw_os_error(-result);
            // Cancelled (a stop), or that client gave up before we took
            // it: nothing to do. Anything else (out of descriptors): wait
            // before accepting again, instead of failing again at once.
            if result != -libc::ECANCELED && !interrupted(&err) && !is_connection_error(&err) {
                self.deadlines.accept_failed(&err, self.now);
            }
        }
        if !self.is_accept_armed {
            if self.deadlines.is_stopping() {
                self.listener = None; // Its last operation is done: close it.
            } else if !self.deadlines.is_accept_paused() {
                self.arm_accept(); // Ended for a reason that has passed.
            }
        }
    }

    /// Take a newly accepted descriptor as a connection and give it its
    /// first operations (a greeting may be waiting to be sent).
    fn add_connection(&mut self, fd: OwnedFd) {
        let Some(listener) = &self.listener else {
            return;
        };
        let (stream, peer) = match listener.adopt(fd) {
            Ok(adopted) => adopted,
            // Reset before we got to it: nothing to serve.
            Err(err) => {
                log::info!("accepted connection unusable: {err}");
                return;
            }
        };
        let service = &self.service;
        let session = match contained(|| BufferedSession::open(service.as_ref(), &peer)) {
            Ok(session) => session,
            Err(why) => {
                log::error!("{peer}: {why}; closed, server goes on");
                return;
            }
        };
        let generation = self.next_generation;
        self.next_generation = (generation + 1) & OpId::GENERATION_MASK;
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        trace_line!(self.trace, "[uring] accepted  #{key} from {peer}");
        entry.insert(Connection {
            stream,
            peer,
            session,
            generation,
            recv: RecvState::Idle,
            send: SendState::Idle,
            sending: Vec::new(),
            sending_done: 0,
            timers: Timers::new(self.now),
            abort: None,
        });
        self.update(key);
    }

    /// A completion of a connection's receive: bytes in a buffer, end of
    /// stream, an empty buffer ring, or an error.
    fn handle_recv(&mut self, key: usize, result: i32, flags: u32) {
        let (trace, now) = (&self.trace, self.now);
        let conn = &mut self.connections[key];
        if !cqueue::more(flags) {
            conn.recv = RecvState::Idle;
        }
        conn.timers.touch(now);
        match result {
            n if n > 0 => {
                let Some(id) = cqueue::buffer_select(flags) else {
                    conn.abort = Some("received data without a buffer".into());
                    return;
                };
                let data = self.buffers.filled(id, n as usize);
                trace_line!(trace, "[uring] received  #{key} {n} bytes in buffer {id}");
                let outcome = contained(|| conn.session.handle_received(data));
                // The bytes are in the session (or refused): the buffer
                // goes back to the ring at once.
                self.buffers.recycle(id);
                self.is_buffer_returned = true;
                match outcome {
                    Ok(Ok(requests)) => self.config.work.perform(requests),
                    Ok(Err(err)) => log::warn!("{}: closing: {err}", conn.peer),
                    Err(why) => abort_with(conn, key, why),
                }
                conn.timers
                    .note_partial(conn.session.has_partial_request(), now);
            }
            // End of stream: the peer half-closed.
            0 => {
                trace_line!(trace, "[uring] end of stream #{key}");
                match contained(|| conn.session.handle_eof()) {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => log::warn!("{}: closing: {err}", conn.peer),
                    Err(why) => abort_with(conn, key, why),
                }
            }
            // The ring ran dry: the data waits in the socket, and this
            // connection waits for buffers to come back.
            n if n == -libc::ENOBUFS => {
                if conn.abort.is_none() && !conn.session.is_closing() {
                    conn.recv = RecvState::WaitingForBuffers;
                    self.waiting_for_buffers.push((key, conn.generation));
                }
            }
            // Our own cancel (backpressure, closing, a stop).
            n if n == -libc::ECANCELED => {}
            n => conn.abort = Some(io::Error::from_raw_os_error(-n).to_string()),
        }
    }

    /// A completion of a connection's send: how much went, or an error.
    fn handle_send(&mut self, key: usize, result: i32) {
        let conn = &mut self.connections[key];
        conn.send = SendState::Idle;
        conn.timers.touch(self.now);
        match result {
            n if n > 0 => {
                let n = n as usize;
                trace_line!(self.trace, "[uring] sent      #{key} {n} bytes");
                conn.session.handle_sent(n);
                conn.sending_done += n;
                if conn.sending_done < conn.sending.len() && conn.abort.is_none() {
                    // A short send: the rest goes next, before anything new.
                    submit_send(&mut self.ring, conn, key);
                }
            }
            0 => conn.abort = Some(io::Error::from(io::ErrorKind::WriteZero).to_string()),
            n if n == -libc::ECANCELED => {}
            // A reset or broken pipe ends this connection only.
            n => conn.abort = Some(io::Error::from_raw_os_error(-n).to_string()),
        }
    }

    /// Submit what the connection needs now, from its state: a send of its
    /// unsent output if none is in flight, its receive armed while it may
    /// read (cancelled while it may not), cancels when it is to close; and
    /// close it once it is done and quiet.
    fn update(&mut self, key: usize) {
        let high_water = self.config.output_high_water_bytes;
        let Some(conn) = self.connections.get_mut(key) else {
            return;
        };
        if conn.abort.is_none() && conn.send == SendState::Idle && !conn.session.unsent().is_empty()
        {
            let unsent = conn.session.unsent();
            conn.sending.clear();
            conn.sending
                .extend_from_slice(&unsent[..unsent.len().min(MAX_SEND_BYTES)]);
            conn.sending_done = 0;
            submit_send(&mut self.ring, conn, key);
        }
        let wants_read = conn.abort.is_none() && conn.session.may_read(high_water);
        match (conn.recv, wants_read) {
            (RecvState::Idle, true) => {
                let (socket, id) = (conn.stream.as_raw_fd(), op_of(conn, Kind::Recv, key));
                // SAFETY: the buffer ring lives until every operation is
                // reaped (`finish`); the socket lives until this
                // operation's final completion (`close_if_quiet`).
                unsafe { self.ring.recv_multi(socket, BUFFER_GROUP, id) };
                conn.recv = RecvState::Armed;
            }
            // Backpressure or closing: a multishot receive goes on until
            // cancelled.
            (RecvState::Armed, false) => {
                cancel(&mut self.ring, op_of(conn, Kind::Recv, key));
                conn.recv = RecvState::Cancelling;
            }
            (RecvState::WaitingForBuffers, false) => conn.recv = RecvState::Idle,
            _ => {}
        }
        if conn.abort.is_some() && conn.send == SendState::InFlight {
            cancel(&mut self.ring, op_of(conn, Kind::Send, key));
            conn.send = SendState::Cancelling;
        }
        self.close_if_quiet(key);
    }

    /// Close a connection that is done (or aborted) and has no operation
    /// in flight: half-close first so the client reads a clean end of
    /// stream, then let the socket drop.
    fn close_if_quiet(&mut self, key: usize) {
        let Some(conn) = self.connections.get(key) else {
            return;
        };
        if !conn.is_quiet() || (conn.abort.is_none() && !conn.session.is_done()) {
            return;
        }
        let conn = self.connections.remove(key);
        let why = conn.abort.as_deref().unwrap_or("done");
        trace_line!(self.trace, "[uring] closed    #{key} ({why})");
        let _ = conn.stream.shutdown(Shutdown::Write);
        if why != "done" {
            log::info!("{}: connection ended: {why}", conn.peer);
        }
        // A descriptor is free again: if accept is paused for lack of
        // them, try it now rather than at the end of the back-off.
        self.deadlines.shorten_accept_pause(self.now);
    }

    /// Mark a connection to be closed whatever its state; its operations
    /// are cancelled and it closes once they have all completed.
    fn abort(&mut self, key: usize, why: String) {
        if let Some(conn) = self.connections.get_mut(key) {
            conn.abort.get_or_insert(why);
            self.update(key);
        }
    }

    /// Buffers have come back this turn (each is returned in the turn
    /// that filled it): re-arm the receives that found the ring empty.
    fn rearm_waiting_for_buffers(&mut self) {
        if !std::mem::take(&mut self.is_buffer_returned) || self.waiting_for_buffers.is_empty() {
            return;
        }
        for (key, generation) in std::mem::take(&mut self.waiting_for_buffers) {
            let Some(conn) = self.connections.get_mut(key) else {
                continue;
            };
            if conn.generation == generation && conn.recv == RecvState::WaitingForBuffers {
                conn.recv = RecvState::Idle;
                self.update(key);
            }
        }
    }

    /// Arm the multishot accept on the listener.
    fn arm_accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        let id = OpId::of_loop(Kind::Accept).encode();
        // SAFETY: the listener is closed only after this operation's final
        // completion (`handle_accept`, `finish`).
        unsafe { self.ring.accept_multi(listener.as_raw_fd(), id) };
        self.is_accept_armed = true;
    }

    /// Arm the poll on the stop eventfd.
    fn arm_wake(&mut self) {
        let id = OpId::of_loop(Kind::Wake).encode();
        // SAFETY: the eventfd is shared through an `Arc` this loop holds
        // until it has reaped everything.
        unsafe { self.ring.poll_readable(self.wake.as_raw_fd(), id) };
    }

    /// Re-arm accept once its back-off is over.
    fn resume_accept_if_due(&mut self) {
        if self.deadlines.take_accept_resume(self.now) && !self.is_accept_armed {
            self.arm_accept();
        }
    }

    /// Every so often, close connections idle too long or holding a
    /// partial request too long (slowloris), as the reactor does.
    fn close_expired_if_due(&mut self) {
        let expired = self.deadlines.expired_if_due(
            self.connections
                .iter()
                .filter(|(_, conn)| conn.abort.is_none())
                .map(|(key, conn)| (key, &conn.timers)),
            self.now,
        );
        for (key, why) in expired {
            self.abort(key, why);
        }
    }

    /// Stop: cancel the accept (the listener closes once it has ended) and
    /// treat a stop as every connection's end of input: each session
    /// answers what it has and closes once flushed. Whatever is left when
    /// the grace period ends is cut off.
    fn begin_stop(&mut self) {
        if !self.deadlines.begin_stop(self.now) {
            return;
        }
        if self.is_accept_armed {
            cancel(&mut self.ring, OpId::of_loop(Kind::Accept).encode());
        } else {
            self.listener = None;
        }
        let keys: Vec<usize> = self.connections.iter().map(|(key, _)| key).collect();
        for key in keys {
            let conn = &mut self.connections[key];
            match contained(|| conn.session.handle_eof()) {
                Ok(Ok(())) => {}
                Ok(Err(err)) => log::warn!("{}: closing: {err}", conn.peer),
                Err(why) => abort_with(conn, key, why),
            }
            self.update(key);
        }
    }

    /// Stopped, and either every connection has closed or time is up.
    fn is_finished(&self) -> bool {
        self.deadlines.is_finished(self.connections.len(), self.now)
    }

    /// Cancel whatever is still in flight and reap until nothing is, so
    /// that no buffer is freed while the kernel may still use it; then
    /// take the buffer ring back. If the kernel does not finish in time
    /// ([`Ring::drain`]), leak the memory rather than risk that.
    fn finish(mut self) {
        let buffers = &mut self.buffers;
        let cancel_all = OpId::of_loop(Kind::Cancel).encode();
        if !self.ring.drain(cancel_all, |id| buffers.recycle(id)) {
            std::mem::forget(self.connections);
            std::mem::forget(self.buffers);
            return;
        }
        if let Err(err) = self.buffers.unregister(&self.ring.uring) {
            log::warn!("uring stop: cannot unregister the buffer ring: {err}");
        }
    }
}

/// The name of a connection's operation of `kind`.
fn op_of(conn: &Connection, kind: Kind, key: usize) -> u64 {
    OpId {
        kind,
        generation: conn.generation,
        key,
    }
    .encode()
}

/// Submit the rest of `conn.sending` (all of it, for a new send).
fn submit_send(ring: &mut Ring, conn: &mut Connection, key: usize) {
    let rest = &conn.sending[conn.sending_done..];
    let (socket, id) = (conn.stream.as_raw_fd(), op_of(conn, Kind::Send, key));
    // SAFETY: `conn.sending`'s heap buffer is not touched (written,
    // resized or freed) while the send is in flight: it is refilled only
    // when `conn.send` is `Idle`, and the connection (with the buffer) is
    // removed only when quiet. Moving the `Connection` (the slab growing)
    // does not move the heap buffer. The socket lives as long.
    unsafe { ring.send(socket, rest, id) };
    conn.send = SendState::InFlight;
}

/// Ask the kernel to cancel the operation named `user_data`.
fn cancel(ring: &mut Ring, user_data: u64) {
    ring.cancel(user_data, OpId::of_loop(Kind::Cancel).encode());
}

/// Abort a connection whose session panicked, saying so in the log.
fn abort_with(conn: &mut Connection, key: usize, why: String) {
    log::error!("connection #{key}: {why}; closed, server goes on");
    conn.abort.get_or_insert(why);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An operation's name survives the trip through `user_data`, and the
    /// generation tells two connections in one slot apart.
    #[test]
    fn op_id_round_trips_and_keeps_generations_apart() {
        let op = OpId {
            kind: Kind::Send,
            generation: 0xAB_CDEF,
            key: 4_000_000,
        };
        assert_eq!(OpId::decode(op.encode()), Some(op));
        let next = OpId {
            generation: op.generation + 1,
            ..op
        };
        assert_ne!(op.encode(), next.encode());
        assert_eq!(OpId::decode(0), None);
    }
}
