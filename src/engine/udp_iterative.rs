//! `iterative` over UDP: the seeds' UDP server, a blocking loop.
//!
//! ```text
//! while True:
//!     msg, address = sock.recvfrom(MAX)
//!     sock.sendto(answer(msg), address)
//! ```
//!
//! One socket, one thread, every client. There is no `accept`: each
//! `recv_from` returns one whole datagram and the address it came from, and
//! `send_to` answers that address. A client that sends nothing costs the
//! server nothing, which is why this loop, unlike the TCP iterative server,
//! is not stuck behind an idle client.
//!
//! Stopping: a thread blocked in `recv_from` hears nothing but datagrams, so
//! the stopper sets a flag and then sends the socket an empty datagram; the
//! loop wakes, sees the flag and returns.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::kit::{Trace, TraceSink};
use super::udp_common::{send_wake_datagram, UdpConfig, MAX_DATAGRAM_BYTES};
use super::{ListenAddr, Server};
use crate::io_util::{interrupted, is_connection_error};
use crate::service::{answer_datagram, Peer, Service};
use crate::trace_line;

/// Start the blocking UDP loop on its own thread. The socket may be in
/// either blocking mode; it is made blocking here.
pub fn spawn(
    socket: UdpSocket,
    service: Arc<dyn Service>,
    config: UdpConfig,
) -> io::Result<Server> {
    socket.set_nonblocking(false)?;
    let local_addr = socket.local_addr()?;
    let is_stopping = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&is_stopping);
    let stopper = move || {
        stop_flag.store(true, Ordering::SeqCst);
        if let Err(err) = send_wake_datagram(local_addr) {
            log::warn!("cannot wake the UDP server to stop it: {err}");
        }
    };
    Server::spawn(
        "udp-iterative",
        ListenAddr::Udp(local_addr),
        stopper,
        move || serve(&socket, service.as_ref(), config, &is_stopping),
    )
}

/// The loop: receive one datagram, answer it, repeat until stopped.
fn serve(
    socket: &UdpSocket,
    service: &dyn Service,
    config: UdpConfig,
    is_stopping: &AtomicBool,
) -> io::Result<()> {
    let mut datagram = vec![0u8; MAX_DATAGRAM_BYTES];
    let mut reply = Vec::new();
    let mut arrivals: u64 = 0;
    let trace = Trace::new(config.trace, &TraceSink::Stdout);
    loop {
        let (len, from) = match socket.recv_from(&mut datagram) {
            Ok(received) => received,
            // A signal: nothing was received, call again.
            Err(err) if interrupted(&err) => continue,
            // An ICMP error for an earlier answer (the client is gone):
            // it concerns that client only.
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => return Err(err),
        };
        if is_stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let index = arrivals;
        arrivals += 1;
        if config.drop.is_dropped(index) {
            trace_line!(
                trace,
                "[udp-iterative] dropped  #{index} from {from} ({len} bytes)"
            );
            continue; // Lost on purpose: the client's timeout must notice.
        }
        let peer = Peer::Inet(from);
        if let Err(err) = answer_datagram(service, &peer, &datagram[..len], &mut reply) {
            log::info!("{from}: datagram refused: {err}");
            continue;
        }
        trace_line!(
            trace,
            "[udp-iterative] answered #{index} from {from} ({len} bytes in, {} out)",
            reply.len()
        );
        if reply.is_empty() {
            continue; // The service had nothing to say (e.g. `discard`).
        }
        // One datagram out; if the kernel cannot take it, it is lost, as
        // any datagram may be. The client's retry covers it.
        if let Err(err) = socket.send_to(&reply, from) {
            log::info!("{from}: answer not sent: {err}");
        }
    }
}
