//! One client connection of a load thread: its socket (TCP, Unix, or a
//! connected UDP socket), its buffers and requests in flight ([`Conn`],
//! gone at a close), and its place in the run ([`Slot`], kept across
//! reconnects), with the two I/O moves the loop makes on it: write what is
//! queued ([`Conn::flush`]) and read what arrived ([`Conn::read_stream`]).
//! Checking the answers is the loop's (`mod.rs`): it counts them.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token};

use crate::io_util::{forward_source, interrupted, would_block};
use crate::load::config::Target;
use crate::load::source::connect_from;
use crate::load::stats::ErrorKind;

/// Bits of a request id that count the requests of one connection; the
/// bits above hold the connection's global number.
pub(super) const REQUEST_COUNT_BITS: u32 = 40;

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct InFlight {
    pub(super) id: u64,
    /// When it was meant to go (rate mode), else when it went.
    pub(super) intended: Instant,
    /// When it went.
    pub(super) sent: Instant,
    /// Meant to go inside the measured window (not during the ramp or the
    /// warmup): its answer, or its loss, is part of the figures.
    pub(super) measured: bool,
}

impl InFlight {
    /// The latency of an answer arriving `now`: from the intended send time
    /// (corrected, in rate mode) and from the actual send, in µs.
    pub(super) fn latencies_us(&self, now: Instant) -> (u64, u64) {
        (micros(now - self.intended), micros(now - self.sent))
    }
}

/// A client socket: TCP, Unix, or a connected UDP socket (whose `read` and
/// `write` receive and send one whole datagram).
#[derive(Debug)]
pub(super) enum Stream {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
    Udp(mio::net::UdpSocket),
}

impl Stream {
    /// Start a non-blocking connect, over TCP from `source` if given. For
    /// UDP, `connect` sends nothing: it only fixes the peer, and is done at
    /// once.
    pub(super) fn connect(target: &Target, source: Option<IpAddr>) -> io::Result<Stream> {
        match target {
            Target::Tcp(addr) => Ok(Stream::Tcp(match source {
                Some(source) => connect_from(source, *addr)?,
                None => mio::net::TcpStream::connect(*addr)?,
            })),
            Target::Unix(path) => Ok(Stream::Unix(mio::net::UnixStream::connect(path)?)),
            Target::Udp(addr) => {
                let any: SocketAddr = match addr {
                    SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                    SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
                };
                let socket = mio::net::UdpSocket::bind(any)?;
                socket.connect(*addr)?;
                Ok(Stream::Udp(socket))
            }
        }
    }

    /// After a readiness event on a connecting socket: `Ok(true)` once
    /// connected, `Ok(false)` if still connecting (a spurious event), the
    /// connect error otherwise (mio's documented recipe).
    pub(super) fn is_connected(&self) -> io::Result<bool> {
        let (error, peer) = match self {
            Stream::Tcp(s) => (s.take_error()?, s.peer_addr().map(drop)),
            Stream::Unix(s) => (s.take_error()?, s.peer_addr().map(drop)),
            Stream::Udp(s) => (s.take_error()?, s.peer_addr().map(drop)),
        };
        if let Some(err) = error {
            return Err(err);
        }
        match peer {
            Ok(()) => {
                if let Stream::Tcp(s) = self {
                    // Small requests must not wait for Nagle.
                    s.set_nodelay(true)?;
                }
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(err) => Err(err),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Udp(s) => s.recv(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Udp(s) => s.send(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

forward_source!(Stream { Tcp, Unix, Udp });

/// One open (or opening) connection.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) stream: Stream,
    /// `Some(start)` while the handshake runs.
    pub(super) connecting_since: Option<Instant>,
    /// When the connect began (kept after the handshake).
    pub(super) opened_at: Instant,
    /// Requests queued; `out[out_sent..]` is not written yet.
    pub(super) out: Vec<u8>,
    pub(super) out_sent: usize,
    /// Bytes read and not yet matched to a request.
    pub(super) input: Vec<u8>,
    pub(super) in_flight: VecDeque<InFlight>,
    /// Answers read on this connection: a close after one may be allowed.
    pub(super) answers: u64,
    /// Registered for WRITABLE too (while connecting or output is pending).
    pub(super) wants_writable: bool,
}

impl Conn {
    /// A socket whose connect has just begun, registered for both
    /// directions (WRITABLE says the handshake is over).
    pub(super) fn connecting(stream: Stream, now: Instant) -> Self {
        Conn {
            stream,
            connecting_since: Some(now),
            opened_at: now,
            out: Vec::new(),
            out_sent: 0,
            input: Vec::new(),
            in_flight: VecDeque::new(),
            answers: 0,
            wants_writable: true,
        }
    }

    /// Whether another request may go on this connection, which closes
    /// after `per_connection` answers (`None`: it stays open).
    pub(super) fn has_room_for_request(&self, per_connection: Option<u64>) -> bool {
        per_connection.map_or(true, |limit| {
            self.answers + (self.in_flight.len() as u64) < limit
        })
    }

    /// Whether every request this connection is for has been answered,
    /// so the client closes it (first, keeping TIME_WAIT on its side).
    pub(super) fn is_used_up(&self, per_connection: Option<u64>) -> bool {
        per_connection.is_some_and(|limit| self.answers >= limit) && self.in_flight.is_empty()
    }

    /// With a connection per R requests, the first request of a
    /// connection is timed from the start of its connect: a client that
    /// opens a connection to ask pays for the handshake too (the figure
    /// UNP's table is about). `None`: timed from its send.
    pub(super) fn first_request_opened_at(&self, per_connection: Option<u64>) -> Option<Instant> {
        let is_first = self.answers == 0 && self.in_flight.is_empty();
        (per_connection.is_some() && is_first).then_some(self.opened_at)
    }

    /// Write queued requests until done or the socket is full; keep
    /// WRITABLE interest (under `token`) exactly while something is left.
    pub(super) fn flush(&mut self, registry: &Registry, token: Token) -> Result<(), Close> {
        while self.out_sent < self.out.len() {
            match self.stream.write(&self.out[self.out_sent..]) {
                Ok(0) => return Err(Close::Error(ErrorKind::Closed)),
                Ok(n) => self.out_sent += n,
                Err(err) if would_block(&err) => break,
                Err(err) if interrupted(&err) => continue,
                Err(err) => return Err(Close::Error(ErrorKind::of_io(&err))),
            }
        }
        if self.out_sent == self.out.len() {
            self.out.clear();
            self.out_sent = 0;
        }
        let wants_writable = !self.out.is_empty();
        if wants_writable != self.wants_writable {
            let interest = if wants_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry
                .reregister(&mut self.stream, token, interest)
                .map_err(|err| Close::Error(ErrorKind::of_io(&err)))?;
            self.wants_writable = wants_writable;
        }
        Ok(())
    }

    /// A stream: append what arrived to `input`, through `read_buf`;
    /// `Ok(true)` once the peer's EOF is read. `read_closed`: the peer has
    /// closed, so read on until the EOF.
    pub(super) fn read_stream(
        &mut self,
        read_buf: &mut [u8],
        read_closed: bool,
    ) -> Result<bool, Close> {
        loop {
            match self.stream.read(read_buf) {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    self.input.extend_from_slice(&read_buf[..n]);
                    if n < read_buf.len() && !read_closed {
                        // A short read drained the socket: the next arrival
                        // raises a new edge (tokio relies on the same), so
                        // the read that would say WouldBlock is saved.
                        return Ok(false);
                    }
                }
                Err(err) if would_block(&err) => return Ok(false),
                Err(err) if interrupted(&err) => continue,
                Err(err) => return Err(Close::Error(ErrorKind::of_io(&err))),
            }
        }
    }
}

/// A connection's place in the run, kept across reconnects.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) conn: Option<Conn>,
    /// The connection's global number.
    pub(super) number: usize,
    /// When to (re)connect while `conn` is `None`.
    pub(super) connect_at: Instant,
    /// Requests sent on this slot, for ids.
    pub(super) requests_sent: u64,
    /// Rate mode: when the next request is meant to go (set at the first
    /// connect, then advancing on schedule whatever happens).
    pub(super) next_intended: Option<Instant>,
    /// Rate mode: an entry for this slot is in the send queue.
    pub(super) in_send_queue: bool,
    /// Has been established at least once (counts toward the ramp).
    pub(super) has_been_up: bool,
}

impl Slot {
    /// The ids of every request this slot has sent.
    pub(super) fn sent_ids(&self) -> Range<u64> {
        request_id(self.number, 0)..request_id(self.number, self.requests_sent)
    }
}

/// The id of request number `count` of connection `number`: unique across
/// threads, and consecutive within a connection.
pub(super) fn request_id(number: usize, count: u64) -> u64 {
    ((number as u64) << REQUEST_COUNT_BITS) | count
}

/// What an event says about a socket.
#[derive(Debug, Clone, Copy)]
pub(super) struct Readiness {
    /// There may be bytes (or an EOF, or an error) to read.
    pub(super) readable: bool,
    /// The peer closed its side (or the socket failed).
    pub(super) read_closed: bool,
}

/// Why a connection is being closed.
#[derive(Debug, Clone, Copy)]
pub(super) enum Close {
    /// A failure, counted.
    Error(ErrorKind),
    /// The server closed with nothing owed, or the client has had the
    /// answers a connection is for: just reconnect.
    Clean,
    /// A server sockbench did not write closed (or said it would) after a
    /// whole answer: reconnect, counted as closed by the server.
    ByServer,
}

/// A duration in whole microseconds, as histograms record it.
pub(super) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
