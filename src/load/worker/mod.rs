//! One load thread: a mio readiness loop driving many non-blocking client
//! connections, as the `reactor` engine does on the server side.
//!
//! Each turn of the loop: stop if the run is over; hand the finished second
//! to the collector; open the connections whose time has come (the ramp, or
//! a reconnect); send the requests whose intended time has come (rate mode);
//! expire connections and requests that waited too long; then wait in
//! `poll` for readiness, no longer than the next of those deadlines; read
//! and check the answers of every ready connection, and only then send
//! their next requests, together.
//!
//! A connection is a [`Slot`]: its place in the ramp, its request counter
//! and schedule survive reconnects; the socket and buffers ([`Conn`]) do not.
//! Answers are checked at the front of the read buffer in request order
//! ([`Protocol::check_response`]); a wrong answer closes the connection. A
//! server sockbench did not write may also answer in step with a failure
//! (counted, the connection goes on) or close after a whole answer
//! (reconnected, not an error): `read_answers` says when.
//!
//! This file is the loop and what it counts; [`connection`] is one
//! connection (socket, buffers, requests in flight, its reads and writes);
//! [`timer`] is when the loop wakes (the `timerfd`, the queues of slots due
//! to connect or to send, the timeout scan).
//!
//! Over UDP the same loop drives a second kind of "connection": a UDP
//! socket `connect`ed to the server, so the kernel passes it only the
//! server's datagrams and an ICMP "port unreachable" comes back as
//! `ECONNREFUSED`. Each request is one datagram, one is outstanding per
//! socket, and each datagram read is judged alone
//! ([`Protocol::check_datagram`]). What differs from TCP:
//! - a request unanswered within the request timeout is *lost*: counted,
//!   never resent, and the socket goes on with its next request (a stream
//!   would have to be closed: its answers could no longer be matched);
//! - a late answer to a lost request is recognised and ignored;
//! - a socket is "open" as soon as it exists, which proves nothing about the
//!   server: only an answer does. Refusals count like failed connects, and
//!   a thread that has had refusals and no answer for [`GIVE_UP_AFTER`]
//!   ends the run, as when a TCP server is gone.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token};

use super::config::{LoadConfig, Target};
use super::protocol::{Check, Protocol};
use super::stats::{new_histogram, record_us, ErrorKind, FailedAnswers, Interval};
use super::window::Window;
use super::wire::Answer;
use crate::io_util::interrupted;
use crate::sys::counters::ThreadCost;
use connection::{micros, request_id, Close, Conn, InFlight, Readiness, Slot, Stream};
use timer::{timeout_scan_every, DueQueue, WakeTimer};

mod connection;
mod timer;
mod udp;

/// Wait this long before retrying a connection that could not be opened.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// A thread whose connections are all down, and which has not managed to
/// open one for this long (with attempts failing), decides the server is
/// gone and ends the run. Over UDP: refusals and no answer for this long.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(1);

/// Bytes read per `read` call (also more than the largest datagram).
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The run's time line, shared by every thread.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    /// When connecting began.
    pub run_start: Instant,
    /// When measuring begins: after the ramp and the warmup.
    pub window: Arc<Window>,
    /// How long the measurement lasts (the most, with a request limit).
    pub measured: Duration,
}

/// What threads tell the collector.
#[derive(Debug)]
pub(crate) enum Message {
    /// A finished second (or the last, partial one).
    Interval(Interval),
    /// This thread's connection was the last up: the ramp is over, and the
    /// measured window begins after the warmup.
    RampEnded,
    /// The thread has stopped; its last interval was sent before this.
    Done(ThreadSummary),
}

/// What a thread reports once, at its end.
#[derive(Debug)]
pub(crate) struct ThreadSummary {
    /// Connect times in µs (warmup included).
    pub connect_us: Histogram<u64>,
    /// Connections established, reconnects included.
    pub established: u64,
    /// Connection attempts that failed.
    pub failed: u64,
    /// When the thread stopped.
    pub stopped_at: Instant,
    /// The thread stopped because the server could no longer be reached.
    pub server_lost: bool,
    /// Connections open when the thread stopped.
    pub open_at_end: u64,
    /// What this thread cost over the measured window; `None` if the
    /// window never began.
    pub cost: Option<ThreadCost>,
    /// Connections the server closed after a whole answer, reopened.
    pub closed_by_server: u64,
    /// Answers that were not a success, by kind, and the first invalid one.
    pub failed_answers: FailedAnswers,
}

/// A thread's share of the run.
#[derive(Debug)]
pub(crate) struct Assignment {
    /// Global connection numbers this thread opens (they order the ramp and
    /// make request ids unique across threads).
    pub connections: Vec<usize>,
    /// With a request limit, this thread's share of it.
    pub quota: Option<u64>,
}

/// One load thread. Built and run on its own thread by [`run_thread`].
struct Worker {
    poll: Poll,
    timer: WakeTimer,
    protocol: Protocol,
    target: Target,
    /// TCP: local addresses to connect from, slot `n` from `n % len`.
    sources: Vec<IpAddr>,
    /// The target is UDP: see the module docs for what differs.
    is_udp: bool,
    pipeline: usize,
    /// Close and reopen each connection after this many answers.
    requests_per_connection: Option<u64>,
    /// Rate mode: time between two requests of one connection.
    send_interval: Option<Duration>,
    /// Rate mode: total rate, to stagger the connections' schedules.
    rate_per_s: f64,
    connect_timeout: Duration,
    request_timeout: Duration,
    clock: Clock,
    stop: Arc<AtomicBool>,
    messages: Sender<Message>,
    quota: Option<u64>,

    slots: Vec<Slot>,
    /// Slots waiting to connect, by time.
    connect_queue: DueQueue,
    /// Rate mode: slots with a future intended send, by time.
    send_queue: DueQueue,
    read_buf: Vec<u8>,
    scratch: Vec<u8>,
    /// Slots handled in this turn whose next requests have not gone out
    /// yet: they go together once every event of the turn is handled.
    answered: Vec<usize>,

    /// When measuring begins and ends, once the ramp is over.
    measure_start: Option<Instant>,
    stop_at: Option<Instant>,
    /// This thread's cost when measuring began.
    cost_at_start: Option<ThreadCost>,

    // What this thread measured.
    current: Interval,
    /// The end of the current second, once measuring has begun.
    next_tick: Option<Instant>,
    next_scan: Instant,
    scan_every: Duration,
    connect_us: Histogram<u64>,
    established: u64,
    failed: u64,
    completed_measured: u64,
    in_flight_total: u64,
    open_count: usize,
    /// When the server last showed it is there: a connection established,
    /// or over UDP an answer.
    server_seen_at: Instant,
    /// Failed connects (and UDP refusals) since then.
    failures_since_seen: u64,
    closed_by_server: u64,
    failed_answers: FailedAnswers,
}

/// Run one load thread to its end, then report. Errors setting up the loop
/// (no `Poll`) are returned; everything else is counted. The connections
/// are closed once `held` is let go (its sender dropped).
pub(crate) fn run_thread(
    config: &LoadConfig,
    assignment: Assignment,
    clock: Clock,
    stop: Arc<AtomicBool>,
    messages: Sender<Message>,
    held: Receiver<()>,
) -> io::Result<()> {
    let total_connections = config.connections as f64;
    let slots = assignment
        .connections
        .iter()
        .map(|&number| Slot {
            conn: None,
            number,
            connect_at: clock.run_start
                + config.connect_rate_per_s.map_or(Duration::ZERO, |rate| {
                    Duration::from_secs_f64(number as f64 / rate)
                }),
            requests_sent: 0,
            next_intended: None,
            in_send_queue: false,
            has_been_up: false,
        })
        .collect::<Vec<_>>();
    let connect_queue = slots
        .iter()
        .enumerate()
        .map(|(index, slot)| (slot.connect_at, index))
        .collect();
    let rate_per_s = config.rate_per_s.unwrap_or(0.0);
    let poll = Poll::new()?;
    let timer = WakeTimer::new(poll.registry())?;
    let mut worker = Worker {
        poll,
        timer,
        protocol: config.protocol(),
        target: config.target.clone(),
        sources: config.sources.clone(),
        is_udp: config.target.is_udp(),
        pipeline: config.pipeline,
        requests_per_connection: config.requests_per_connection,
        send_interval: config
            .rate_per_s
            .map(|rate| Duration::from_secs_f64(total_connections / rate)),
        rate_per_s,
        connect_timeout: config.connect_timeout,
        request_timeout: config.request_timeout,
        clock: clock.clone(),
        stop,
        messages,
        quota: assignment.quota,
        slots,
        connect_queue,
        send_queue: DueQueue::default(),
        read_buf: vec![0; READ_CHUNK_BYTES],
        scratch: Vec::new(),
        answered: Vec::new(),
        measure_start: None,
        cost_at_start: None,
        stop_at: None,
        current: Interval::new(0, config.rate_per_s.is_some()),
        next_tick: None,
        next_scan: clock.run_start,
        scan_every: timeout_scan_every(config.connect_timeout, config.request_timeout),
        connect_us: new_histogram(),
        established: 0,
        failed: 0,
        completed_measured: 0,
        in_flight_total: 0,
        open_count: 0,
        server_seen_at: clock.run_start,
        failures_since_seen: 0,
        closed_by_server: 0,
        failed_answers: FailedAnswers::default(),
    };
    let result = worker.run();
    // The connections close when `worker` is dropped, after this.
    let _ = held.recv();
    result
}

impl Worker {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut server_lost = false;
        loop {
            let now = Instant::now();
            self.see_window(now);
            if self.is_finished(now) {
                break;
            }
            self.tick(now);
            self.open_due_connections(now);
            self.send_due_requests(now);
            if now >= self.next_scan {
                self.expire(now);
                self.next_scan = now + self.scan_every;
            }
            if self.is_server_lost(now) {
                server_lost = true;
                // The server is gone for everyone: end the whole run.
                self.stop.store(true, Ordering::Relaxed);
                break;
            }
            let deadline = self.next_deadline();
            let timeout = if deadline <= now {
                Some(Duration::ZERO) // something is due already: just look
            } else {
                self.timer.wake_at(deadline, now)?;
                None
            };
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if interrupted(&err) {
                    continue; // a signal: just poll again
                }
                return Err(err);
            }
            let now = Instant::now();
            // Answers read below are measured if the window has begun.
            self.see_window(now);
            for event in events.iter() {
                let index = event.token().0;
                // Readiness for a socket closed earlier in this batch, for
                // none at all (spurious), or of the wake timer (whose only
                // job is to wake us; arming it again resets it) is ignored.
                if self
                    .slots
                    .get(index)
                    .is_some_and(|slot| slot.conn.is_some())
                {
                    let ready = Readiness {
                        readable: event.is_readable() || event.is_error(),
                        read_closed: event.is_read_closed() || event.is_error(),
                    };
                    self.handle_ready(index, ready, now);
                }
            }
            self.send_answered(now);
        }
        let stopped_at = Instant::now();
        let cost = self
            .cost_at_start
            .map(|start| ThreadCost::of_this_thread().since(start));
        let last = std::mem::replace(&mut self.current, Interval::new(0, false));
        // The collector may have stopped listening (its deadline passed):
        // nothing more to do then.
        let _ = self.messages.send(Message::Interval(last));
        let _ = self.messages.send(Message::Done(ThreadSummary {
            connect_us: std::mem::replace(&mut self.connect_us, new_histogram()),
            established: self.established,
            failed: self.failed,
            stopped_at,
            server_lost,
            open_at_end: self.open_count as u64,
            cost,
            closed_by_server: self.closed_by_server,
            failed_answers: std::mem::take(&mut self.failed_answers),
        }));
        Ok(())
    }

    /// Learn when measuring begins, once the ramp is over (the thread whose
    /// connection completed the ramp, or the collector, decides), and read
    /// this thread's cost at its first turn inside the window: the start is
    /// learned a warmup before it comes.
    fn see_window(&mut self, now: Instant) {
        if self.measure_start.is_none() {
            if let Some(begins) = self.clock.window.begins() {
                self.measure_start = Some(begins);
                self.stop_at = Some(begins + self.clock.measured);
                self.next_tick = Some(begins + Duration::from_secs(1));
            }
        }
        if self.cost_at_start.is_none() && self.measure_start.is_some_and(|start| now >= start) {
            self.cost_at_start = Some(ThreadCost::of_this_thread());
        }
    }

    /// The run is over for this thread: time is up, someone asked to stop,
    /// or its share of a request limit is done.
    fn is_finished(&self, now: Instant) -> bool {
        self.stop_at.is_some_and(|stop_at| now >= stop_at)
            || self.stop.load(Ordering::Relaxed)
            || self.quota.is_some_and(|q| self.completed_measured >= q)
    }

    /// All connections down, none opened for a while, attempts failing.
    /// Over UDP an open socket proves nothing: refusals, and no answer for
    /// a while.
    fn is_server_lost(&self, now: Instant) -> bool {
        (self.open_count == 0 || self.is_udp)
            && self.failures_since_seen > 0
            && now.duration_since(self.server_seen_at) >= GIVE_UP_AFTER
    }

    /// The server showed it is there.
    fn server_seen(&mut self, now: Instant) {
        self.server_seen_at = now;
        self.failures_since_seen = 0;
    }

    /// Hand finished seconds to the collector.
    fn tick(&mut self, now: Instant) {
        let (Some(next_tick), Some(measure_start)) = (self.next_tick, self.measure_start) else {
            return; // still ramping up: errors gather in second 0
        };
        if now < next_tick {
            return;
        }
        let second = now.duration_since(measure_start).as_secs();
        let rate_mode = self.send_interval.is_some();
        let done = std::mem::replace(&mut self.current, Interval::new(second, rate_mode));
        let _ = self.messages.send(Message::Interval(done));
        self.next_tick = Some(measure_start + Duration::from_secs(second + 1));
    }

    /// When the next thing this thread must do is due.
    fn next_deadline(&self) -> Instant {
        let mut until = self.next_scan;
        // Until its cost is read, the window's start is a deadline too.
        let cost_due = self.measure_start.filter(|_| self.cost_at_start.is_none());
        for deadline in [self.next_tick, self.stop_at, cost_due]
            .into_iter()
            .flatten()
        {
            until = until.min(deadline);
        }
        for due in [self.connect_queue.next_at(), self.send_queue.next_at()]
            .into_iter()
            .flatten()
        {
            until = until.min(due);
        }
        until
    }

    /// May another request go out? Not once the thread's share of a
    /// request limit is answered or on its way.
    fn may_send(&self) -> bool {
        self.quota
            .map_or(true, |q| self.completed_measured + self.in_flight_total < q)
    }

    fn open_due_connections(&mut self, now: Instant) {
        while let Some(index) = self.connect_queue.pop_due(now) {
            self.connect(index, now);
        }
    }

    /// Start connecting slot `index`.
    fn connect(&mut self, index: usize, now: Instant) {
        let source = (!self.sources.is_empty())
            .then(|| self.sources[self.slots[index].number % self.sources.len()]);
        let mut stream = match Stream::connect(&self.target, source) {
            Ok(stream) => stream,
            Err(err) => return self.connect_failed(index, ErrorKind::of_io(&err), now),
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = self
            .poll
            .registry()
            .register(&mut stream, Token(index), interest)
        {
            return self.connect_failed(index, ErrorKind::of_io(&err), now);
        }
        self.slots[index].conn = Some(Conn::connecting(stream, now));
    }

    /// A connection could not be opened: count it, retry after a pause.
    fn connect_failed(&mut self, index: usize, kind: ErrorKind, now: Instant) {
        self.current.errors.add(kind);
        self.failed += 1;
        if !kind.is_local() {
            self.failures_since_seen += 1;
        }
        let at = now + RECONNECT_BACKOFF;
        self.slots[index].connect_at = at;
        self.connect_queue.push(at, index);
    }

    /// The handshake finished: record it and start sending.
    fn connected(&mut self, index: usize, now: Instant) {
        let slot = &mut self.slots[index];
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        let Some(started) = conn.connecting_since.take() else {
            return;
        };
        record_us(&mut self.connect_us, micros(now - started));
        self.established += 1;
        self.open_count += 1;
        self.clock.window.connection_opened();
        if !std::mem::replace(&mut self.slots[index].has_been_up, true)
            && self.clock.window.connection_up(now)
        {
            let _ = self.messages.send(Message::RampEnded);
        }
        if !self.is_udp {
            // (A UDP socket is set up locally: only an answer counts.)
            self.server_seen(now);
        }
        let slot = &mut self.slots[index];
        if let Some(interval) = self.send_interval {
            // The schedule starts at the first connect and is staggered
            // over the connections, so they do not all send at once.
            let stagger = Duration::from_secs_f64(slot.number as f64 / self.rate_per_s);
            slot.next_intended
                .get_or_insert(now + stagger.min(interval));
        }
        self.send_more(index, now);
    }

    /// Rate mode: send for every slot whose intended time has come.
    fn send_due_requests(&mut self, now: Instant) {
        while let Some(index) = self.send_queue.pop_due(now) {
            self.slots[index].in_send_queue = false;
            self.send_more(index, now);
        }
    }

    /// Queue what slot `index` may send now, then write it: in a closed
    /// loop, up to `pipeline` outstanding; in rate mode, every request whose
    /// intended time has come (late ones keep their intended time, so their
    /// lateness counts in their latency), up to `pipeline` outstanding.
    fn send_more(&mut self, index: usize, now: Instant) {
        let may_send = self.may_send();
        let slot = &mut self.slots[index];
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        if conn.connecting_since.is_some() {
            return;
        }
        let mut queued = 0;
        let mut budget = self.quota.map_or(u64::MAX, |q| {
            q.saturating_sub(self.completed_measured + self.in_flight_total)
        });
        while may_send
            && budget > 0
            && conn.in_flight.len() < self.pipeline
            && conn.has_room_for_request(self.requests_per_connection)
        {
            let intended = match (self.send_interval, slot.next_intended) {
                (Some(interval), Some(next)) if next <= now => {
                    slot.next_intended = Some(next + interval);
                    next
                }
                (Some(_), _) => break, // not yet time
                (None, _) => conn
                    .first_request_opened_at(self.requests_per_connection)
                    .unwrap_or(now),
            };
            let id = request_id(slot.number, slot.requests_sent);
            slot.requests_sent += 1;
            self.protocol.write_request(id, &mut conn.out);
            let measured = self.measure_start.is_some_and(|start| intended >= start);
            conn.in_flight.push_back(InFlight {
                id,
                intended,
                sent: now,
                measured,
            });
            queued += 1;
            budget -= 1;
            self.current.sent += u64::from(measured);
        }
        self.in_flight_total += queued;
        if let (Some(next), false) = (slot.next_intended, slot.in_send_queue) {
            if next > now {
                slot.in_send_queue = true;
                self.send_queue.push(next, index);
            }
            // Otherwise it is late and waits for an answer to make room:
            // `send_answered` calls `send_more` again.
        }
        if let Err(close) = self.flush(index) {
            self.close(index, now, close);
        }
    }

    /// Write slot `index`'s queued requests ([`Conn::flush`]).
    fn flush(&mut self, index: usize) -> Result<(), Close> {
        match self.slots[index].conn.as_mut() {
            Some(conn) => conn.flush(self.poll.registry(), Token(index)),
            None => Ok(()),
        }
    }

    /// A readiness event for slot `index`.
    fn handle_ready(&mut self, index: usize, ready: Readiness, now: Instant) {
        let connecting = self.slots[index]
            .conn
            .as_ref()
            .is_some_and(|conn| conn.connecting_since.is_some());
        if connecting {
            match self.slots[index]
                .conn
                .as_ref()
                .map(|c| c.stream.is_connected())
            {
                Some(Ok(true)) => self.connected(index, now),
                Some(Ok(false)) | None => return, // spurious: still connecting
                Some(Err(err)) => {
                    self.drop_conn(index);
                    return self.connect_failed(index, ErrorKind::of_io(&err), now);
                }
            }
        }
        let read = if !ready.readable {
            Ok(()) // only writable: no read syscall that would find nothing
        } else if self.is_udp {
            self.read_datagrams(index, now)
        } else {
            self.read_answers(index, ready.read_closed, now)
        };
        let result = read.and_then(|()| self.flush(index));
        match result {
            Ok(()) => self.answered.push(index),
            Err(close) => self.close(index, now, close),
        }
    }

    /// Send the next requests of every slot handled in this turn, one burst
    /// after all the reading. A server asleep in its `poll` is woken by the
    /// first of them and finds the rest waiting, instead of being woken (at
    /// the cost of a cross-core wake-up, paid by this thread) for each.
    fn send_answered(&mut self, now: Instant) {
        let mut answered = std::mem::take(&mut self.answered);
        for &index in &answered {
            self.send_more(index, now);
        }
        answered.clear();
        self.answered = answered; // keep the allocation for the next turn
    }

    /// Read what arrived and match it to the requests in flight.
    /// `read_closed`: the peer has closed, so read on until the EOF.
    ///
    /// A server sockbench did not write may close after an answer: when
    /// the answer says so (`Connection: close`, HTTP/1.0), or at an answer
    /// boundary after at least one answer. Then the connection is
    /// reopened, counted as closed by the server, not as an error; what
    /// was still in flight on it is abandoned. A close inside an answer,
    /// or before any, stays an error.
    fn read_answers(&mut self, index: usize, read_closed: bool, now: Instant) -> Result<(), Close> {
        let Some(conn) = self.slots[index].conn.as_mut() else {
            return Ok(());
        };
        let eof = conn.read_stream(&mut self.read_buf, read_closed)?;
        let mut consumed = 0;
        let mut is_closing = false;
        loop {
            // Borrowed again each time round: `count_answer` needs `self`.
            let conn = self.slots[index].conn.as_mut().expect("still open");
            let Some(request) = conn.in_flight.front().copied() else {
                break;
            };
            let input = &conn.input[consumed..];
            let check = if eof {
                self.protocol
                    .check_at_eof(request.id, input, &mut self.scratch)
            } else {
                self.protocol
                    .check_response(request.id, input, &mut self.scratch)
            };
            let answer = match check {
                Check::Incomplete => break,
                Check::Invalid(why) => {
                    self.failed_answers.note_invalid(why);
                    return Err(Close::Error(ErrorKind::Invalid));
                }
                Check::Valid(len) => Answer::success(len),
                Check::Answer(answer) => answer,
            };
            let text_at = consumed;
            consumed += answer.len_bytes;
            conn.in_flight.pop_front();
            conn.answers += 1;
            match &answer.failure {
                None => self.count_answer(request, answer.len_bytes, now),
                Some(failure) => {
                    let text = &conn.input[text_at..][failure.text.clone()];
                    self.failed_answers
                        .add(failure.kind, || String::from_utf8_lossy(text).into_owned());
                    self.in_flight_total -= 1;
                    self.current.errors.add(ErrorKind::Failed);
                }
            }
            if answer.is_closing {
                is_closing = true;
                break;
            }
        }
        let allows_close = self.protocol.allows_close_after_answer();
        let conn = self.slots[index].conn.as_mut().expect("still open");
        conn.input.drain(..consumed);
        if is_closing {
            // Nothing more will be answered here: reopen now rather than
            // wait for the server's FIN.
            return Err(Close::ByServer);
        }
        if conn.in_flight.is_empty() && !conn.input.is_empty() {
            // Bytes that answer no request.
            return Err(Close::Error(ErrorKind::Invalid));
        }
        if conn.is_used_up(self.requests_per_connection) {
            return Err(Close::Clean); // the client closes first
        }
        if eof {
            return Err(if conn.in_flight.is_empty() {
                Close::Clean
            } else if allows_close && conn.input.is_empty() && conn.answers > 0 {
                Close::ByServer
            } else {
                Close::Error(ErrorKind::Closed)
            });
        }
        Ok(())
    }

    /// Count an answer of `len` bytes to `request`, just taken off its
    /// connection's requests in flight; it is measured unless the request
    /// was meant to go during the ramp or the warmup.
    fn count_answer(&mut self, request: InFlight, len: usize, now: Instant) {
        self.in_flight_total -= 1;
        if request.measured {
            self.completed_measured += 1;
            let (latency_us, uncorrected_us) = request.latencies_us(now);
            self.current.record_answer(len, latency_us, uncorrected_us);
        }
    }

    /// Connect and request timeouts.
    fn expire(&mut self, now: Instant) {
        for index in 0..self.slots.len() {
            let Some(conn) = self.slots[index].conn.as_ref() else {
                continue;
            };
            if let Some(started) = conn.connecting_since {
                if now.duration_since(started) >= self.connect_timeout {
                    self.drop_conn(index);
                    self.connect_failed(index, ErrorKind::ConnectTimeout, now);
                }
            } else if conn
                .in_flight
                .front()
                .is_some_and(|oldest| now.duration_since(oldest.sent) >= self.request_timeout)
            {
                if self.is_udp {
                    self.lose(index, now);
                } else {
                    self.close(index, now, Close::Error(ErrorKind::Timeout));
                }
            }
        }
    }

    /// Close an established connection and reconnect it at once; what was
    /// in flight is abandoned (and counted once, as the error). A refusal
    /// (a UDP socket hears of it after connecting) is a failed connect:
    /// retried after a pause, and a sign the server may be gone.
    fn close(&mut self, index: usize, now: Instant, close: Close) {
        if self.drop_conn(index) {
            self.open_count -= 1;
            self.clock.window.connection_closed();
        }
        let kind = match close {
            Close::Error(ErrorKind::Refused) => {
                return self.connect_failed(index, ErrorKind::Refused, now)
            }
            Close::Error(kind) => Some(kind),
            Close::Clean => None,
            Close::ByServer => {
                self.closed_by_server += 1;
                None
            }
        };
        if let Some(kind) = kind {
            self.current.errors.add(kind);
        }
        self.slots[index].connect_at = now;
        self.connect_queue.push(now, index);
    }

    /// Deregister and drop slot `index`'s socket. Returns whether it had
    /// been established.
    fn drop_conn(&mut self, index: usize) -> bool {
        let Some(mut conn) = self.slots[index].conn.take() else {
            return false;
        };
        // Dropping closes the socket, which also removes it from epoll;
        // deregistering first is mio's documented order.
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.in_flight_total -= conn.in_flight.len() as u64;
        conn.connecting_since.is_none()
    }
}
