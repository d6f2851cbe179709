//! `reactor` over UDP: one mio loop, one non-blocking `UdpSocket`.
//!
//! The same shape as the TCP [`super::reactor`], with much less in it: there
//! are no connections, so no slab, no per-client buffers, no accept. The loop
//! waits until the socket is readable, then drains it: `recv_from` until
//! `WouldBlock`, answering each datagram as it comes. A second token, the
//! [`WAKER`], lets another thread ask the loop to stop.
//!
//! Sending: a UDP `send_to` either takes the whole datagram or none of it.
//! When the socket's send buffer is full it returns `WouldBlock`; the answer
//! is then lost, exactly as a router would lose it, and the client's retry
//! (timeout and backoff) covers it. A TCP server may not do that: it must
//! keep the unsent bytes. That difference is the lesson.

use std::io;
use std::net::UdpSocket as StdUdpSocket;
use std::sync::Arc;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use super::kit::{Trace, TraceSink};
use super::udp_common::{UdpConfig, MAX_DATAGRAM_BYTES};
use super::{ListenAddr, Server};
use crate::io_util::{interrupted, is_connection_error, would_block};
use crate::service::{answer_datagram, Peer, Service};
use crate::trace_line;

/// The server socket's token.
const SOCKET: Token = Token(0);
/// Woken from another thread to ask the loop to stop.
const WAKER: Token = Token(1);
/// Readiness events handled per `poll` call (two sources: few events).
const EVENTS_CAPACITY: usize = 16;

/// Start the UDP readiness loop on its own thread.
pub fn spawn(
    socket: StdUdpSocket,
    service: Arc<dyn Service>,
    config: UdpConfig,
) -> io::Result<Server> {
    socket.set_nonblocking(true)?;
    let local_addr = socket.local_addr()?;
    let mut socket = UdpSocket::from_std(socket);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let stopper = move || {
        if let Err(err) = waker.wake() {
            log::warn!("cannot wake the UDP reactor to stop it: {err}");
        }
    };
    let mut udp_loop = UdpLoop {
        poll,
        socket,
        service,
        trace: Trace::new(config.trace, &TraceSink::Stdout),
        config,
        datagram: vec![0; MAX_DATAGRAM_BYTES],
        reply: Vec::new(),
        arrivals: 0,
    };
    Server::spawn(
        "udp-reactor",
        ListenAddr::Udp(local_addr),
        stopper,
        move || udp_loop.run(),
    )
}

/// The loop's state: its poller, its socket, and its two buffers.
struct UdpLoop {
    poll: Poll,
    socket: UdpSocket,
    service: Arc<dyn Service>,
    config: UdpConfig,
    /// `--trace`: a line per datagram.
    trace: Trace,
    /// Where each datagram is received (one, reused).
    datagram: Vec<u8>,
    /// Where each answer is built (one, reused).
    reply: Vec<u8>,
    /// Datagrams received so far: the index the drop decision is made on.
    arrivals: u64,
}

impl UdpLoop {
    /// Wait for readiness, handle it, until the waker says stop.
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            if let Err(err) = self.poll.poll(&mut events, None) {
                if interrupted(&err) {
                    continue; // A signal arrived; nothing happened to our socket.
                }
                return Err(err);
            }
            for event in events.iter() {
                match event.token() {
                    SOCKET => self.receive_all()?,
                    WAKER => return Ok(()),
                    _ => {} // Sporadic events happen: ignore unknown tokens.
                }
            }
        }
    }

    /// Drain readiness: receive and answer until `WouldBlock`, or we may
    /// never hear about this socket again.
    fn receive_all(&mut self) -> io::Result<()> {
        loop {
            let (len, from) = match self.socket.recv_from(&mut self.datagram) {
                Ok(received) => received,
                // Nothing more queued: back to `poll`.
                Err(err) if would_block(&err) => return Ok(()),
                // A signal: try again.
                Err(err) if interrupted(&err) => continue,
                // An ICMP error about an earlier answer: that client only.
                Err(err) if is_connection_error(&err) => continue,
                Err(err) => return Err(err),
            };
            self.handle_datagram(len, from);
        }
    }

    /// Drop it (on purpose) or answer it.
    fn handle_datagram(&mut self, len: usize, from: std::net::SocketAddr) {
        let trace = &self.trace;
        let index = self.arrivals;
        self.arrivals += 1;
        if self.config.drop.is_dropped(index) {
            trace_line!(
                trace,
                "[udp-reactor] dropped  #{index} from {from} ({len} bytes)"
            );
            return; // Lost on purpose: the client's timeout must notice.
        }
        let peer = Peer::Inet(from);
        let datagram = &self.datagram[..len];
        if let Err(err) = answer_datagram(self.service.as_ref(), &peer, datagram, &mut self.reply) {
            log::info!("{from}: datagram refused: {err}");
            return;
        }
        trace_line!(
            trace,
            "[udp-reactor] answered #{index} from {from} ({len} bytes in, {} out)",
            self.reply.len()
        );
        if self.reply.is_empty() {
            return; // The service had nothing to say (e.g. `discard`).
        }
        match self.socket.send_to(&self.reply, from) {
            Ok(_) => {}
            // Send buffer full: the answer is lost, as datagrams may be.
            Err(err) if would_block(&err) => {
                log::debug!("{from}: answer dropped: send buffer full")
            }
            Err(err) => log::info!("{from}: answer not sent: {err}"),
        }
    }
}
