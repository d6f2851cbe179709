//! What every stream server must survive, whatever its protocol: many
//! clients at once, clients that come and go by the thousand, a client
//! that sends a lot and never reads, garbage, slow clients, and resets in
//! the middle of a reply. Each check ends by proving the server still
//! answers a well-formed request.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::client::{describe, is_timeout, random_bytes, Conn};
use super::frame::frame;
use super::{connect, exchange, expect_closed, expect_reply, expect_reply_then_close};
use super::{half_close, send, CheckResult, Failure};
use crate::engine::ListenAddr;
use crate::service::{http, sized, ServiceKind};

/// Client number `i`'s request for `kind` and the exact reply it must
/// get; each client's differs where the protocol allows, so that replies
/// crossed between clients are caught.
pub fn good_exchange(kind: ServiceKind, conn: &Conn, i: usize) -> (Vec<u8>, Vec<u8>) {
    let line = format!("client {i:03}\n");
    match kind {
        ServiceKind::Echo => (line.clone().into_bytes(), line.into_bytes()),
        ServiceKind::Upper => (line.clone().into_bytes(), line.to_uppercase().into_bytes()),
        ServiceKind::Hello => {
            let peer = conn
                .peer_as_seen_by_server()
                .map_or_else(|err| err.to_string(), |peer| peer.to_string());
            (Vec::new(), format!("Hello {peer}\n").into_bytes())
        }
        ServiceKind::Fixed16 => (vec![b'a'; 16], b"Hello World!".to_vec()),
        ServiceKind::Discard => (line.into_bytes(), Vec::new()),
        ServiceKind::Frame => {
            let request = frame(line.as_bytes());
            (request.clone(), request)
        }
        ServiceKind::Http => (http::GET_REQUEST.to_vec(), http::OK_RESPONSE.to_vec()),
        ServiceKind::Sized => {
            let answer_bytes = 10 + i;
            let mut reply = Vec::new();
            sized::write_answer(answer_bytes, &mut reply);
            (format!("{answer_bytes}\n").into_bytes(), reply)
        }
        ServiceKind::Length => unreachable!("length is a datagram service: no stream checks"),
    }
}

/// The server answers a new client's well-formed request correctly.
pub fn still_serves(addr: &ListenAddr, kind: ServiceKind) -> CheckResult {
    let mut conn = connect(addr)?;
    let (request, reply) = good_exchange(kind, &conn, 0);
    exchange(&mut conn, &request, &reply)
}

/// Clients in `many-clients-at-once`.
pub const HELD_CLIENTS: usize = 200;

/// `many-clients-at-once`: `clients` clients connect first, then all send,
/// then all read their answer (last connected first) while every other
/// connection stays open: only a server serving them all at once passes.
pub fn many_clients_at_once(addr: &ListenAddr, kind: ServiceKind, clients: usize) -> CheckResult {
    let mut conns = (0..clients)
        .map(|_| connect(addr))
        .collect::<Result<Vec<Conn>, Failure>>()?;
    let mut exchanges = Vec::new();
    for (i, conn) in conns.iter_mut().enumerate() {
        let (request, reply) = good_exchange(kind, conn, i);
        send(
            conn,
            &request,
            &format!("client {i}'s {}", describe(&request)),
        )?;
        exchanges.push((request, reply));
    }
    for (i, conn) in conns.iter_mut().enumerate().rev() {
        let (request, reply) = &exchanges[i];
        let sent = format!(
            "{}, by client {i} of {clients} all connected at once",
            describe(request)
        );
        expect_reply(conn, &sent, reply)?;
    }
    Ok(())
}

/// Clients in `closed-clients-are-released`: past the 1,024 descriptors a
/// process (and `select()`) gets by default, so a server that keeps each
/// closed client runs out.
pub const RELEASED_CLIENTS: usize = 1100;

/// `closed-clients-are-released`: 1,100 clients one after another each
/// send a request, half-close, and must get the reply then the server's
/// close; then a new client is served. A server that never closes (or
/// never forgets) the sockets of clients that left stops answering here.
pub fn closed_clients_are_released(addr: &ListenAddr, kind: ServiceKind) -> CheckResult {
    for i in 0..RELEASED_CLIENTS {
        let mut conn = connect(addr).map_err(|failure| Failure {
            sent: format!(
                "{} (client {i} of {RELEASED_CLIENTS}, one at a time)",
                failure.sent
            ),
            ..failure
        })?;
        let (request, reply) = good_exchange(kind, &conn, i);
        let sent = format!(
            "{}, then a half-close (client {i} of {RELEASED_CLIENTS}, one at a time)",
            describe(&request)
        );
        send(&mut conn, &request, &sent)?;
        half_close(&conn, &sent)?;
        expect_reply_then_close(&mut conn, &sent, &reply)?;
    }
    still_serves(addr, kind)
}

/// Bytes the never-reading client sends at most.
pub const NEVER_READ_BYTES: usize = 32 * 1024 * 1024;

/// How long one write of the never-reading client may block before the
/// server is taken to have stopped reading from it (backpressure).
const STALLED_WRITE: Duration = Duration::from_millis(500);

/// A well-formed stream of requests for `kind`, in 64 KiB or so, to send
/// over and over.
fn bulk(kind: ServiceKind) -> Vec<u8> {
    match kind {
        ServiceKind::Upper => [vec![b'x'; 64 * 1024 - 1], b"\n".to_vec()].concat(),
        ServiceKind::Frame => frame(&random_bytes(64 * 1024, 5)),
        ServiceKind::Http => http::GET_REQUEST.repeat(64 * 1024 / http::GET_REQUEST.len()),
        _ => random_bytes(64 * 1024, 5),
    }
}

/// `never-reading-client`: one client sends up to 32 MiB of requests and
/// never reads a reply; meanwhile another client must be served. A server
/// that blocks writing to the first (a blocking `sendall` in a `select()`
/// loop) serves nobody else and fails here.
pub fn never_reading_client(addr: &ListenAddr, kind: ServiceKind) -> CheckResult {
    let mut hog = connect(addr)?;
    let chunk = bulk(kind);
    let _ = hog.set_write_timeout(Some(STALLED_WRITE));
    let (mut sent, mut offset) = (0, 0);
    while sent < NEVER_READ_BYTES {
        match hog.write(&chunk[offset..]) {
            Ok(n) => {
                sent += n;
                offset = (offset + n) % chunk.len();
            }
            // The server stopped reading from it (backpressure), or
            // dropped it: either way the other client's turn.
            Err(err) if is_timeout(&err) => break,
            Err(_) => break,
        }
    }
    let mut other = connect(addr)?;
    let (request, reply) = good_exchange(kind, &other, 1);
    let what = format!(
        "{} from a second client, while the first has sent {} MiB and read nothing",
        describe(&request),
        sent / (1024 * 1024)
    );
    send(&mut other, &request, &what)?;
    expect_reply(&mut other, &what, &reply)
}

/// `garbage`: 64 KiB of random bytes, three times: each connection is
/// answered or closed within the timeout rather than left hanging, and
/// the server goes on serving well-formed requests.
pub fn garbage(addr: &ListenAddr, kind: ServiceKind) -> CheckResult {
    for seed in 0..3 {
        let mut conn = connect(addr)?;
        let sent = format!("64 KiB of random bytes (seed {seed}), then a half-close");
        // The server may close early (a protocol error) and reset us.
        let _ = conn.write_all(&random_bytes(64 * 1024, seed));
        let _ = conn.shutdown_write();
        expect_closed(&mut conn, &sent)?;
    }
    still_serves(addr, kind)
}

/// Clients in `slow-clients`.
pub const SLOW_CLIENTS: usize = 500;

/// The start of a request that a slow client never finishes, and the byte
/// it trickles after it (`None`: it sends nothing more); `None` for the
/// services that answer whatever arrives.
fn unfinished_request(kind: ServiceKind) -> Option<(Vec<u8>, Option<u8>)> {
    match kind {
        ServiceKind::Echo => Some((Vec::new(), None)),
        ServiceKind::Discard => Some((Vec::new(), Some(b'x'))),
        ServiceKind::Upper => Some((b"a line that never ends".to_vec(), Some(b'x'))),
        ServiceKind::Frame => Some((1000u32.to_be_bytes().to_vec(), Some(b'x'))),
        ServiceKind::Http => Some((b"GET / HTTP/1.1\r\nX-Slow: ".to_vec(), Some(b'x'))),
        // A trickled digit would soon make the line too long: half a number only.
        ServiceKind::Sized => Some((b"40".to_vec(), None)),
        ServiceKind::Hello | ServiceKind::Fixed16 | ServiceKind::Length => None,
    }
}

/// Whether `slow-clients` applies to `kind` (not to the services that
/// answer as soon as anything, or nothing, arrives).
pub fn has_unfinished_request(kind: ServiceKind) -> bool {
    unfinished_request(kind).is_some()
}

/// Slow clients, still connected and trickling until dropped.
#[derive(Debug)]
pub struct SlowClients {
    /// The slow connections, for a caller that wants to see them dropped.
    pub conns: Vec<Conn>,
    trickling: Arc<AtomicBool>,
    trickler: Option<JoinHandle<()>>,
}

impl Drop for SlowClients {
    fn drop(&mut self) {
        self.trickling.store(false, Ordering::Relaxed);
        if let Some(trickler) = self.trickler.take() {
            let _ = trickler.join();
        }
    }
}

/// `count` clients each start a request and trickle it a byte every
/// 500 ms; a normal client must be served while they are all still
/// connected. Returns them, still trickling, so that a caller can also
/// check that the server drops them in time.
pub fn slow_clients(
    addr: &ListenAddr,
    kind: ServiceKind,
    count: usize,
) -> Result<SlowClients, Failure> {
    let Some((start, trickle)) = unfinished_request(kind) else {
        panic!("{} answers any input: no slow request exists", kind.name());
    };
    let mut conns = Vec::with_capacity(count);
    for _ in 0..count {
        let mut conn = connect(addr)?;
        send(&mut conn, &start, "the start of a request")?;
        conns.push(conn);
    }
    let mut writers = conns
        .iter()
        .map(Conn::try_clone)
        .collect::<Result<Vec<Conn>, _>>()
        .map_err(|err| Failure::new("nothing", "a second handle", err.to_string()))?;
    let trickling = Arc::new(AtomicBool::new(true));
    let trickler = trickle.map(|byte| {
        let trickling = Arc::clone(&trickling);
        std::thread::spawn(move || {
            // The pace of the attack, not a synchronisation: a byte per
            // client every 500 ms keeps each one under any idle timeout.
            while trickling.load(Ordering::Relaxed) {
                for w in &mut writers {
                    let _ = w.write_all(&[byte]);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    });
    let mut slow = SlowClients {
        conns,
        trickling,
        trickler,
    };
    let mut normal = connect(addr)?;
    let (request, reply) = good_exchange(kind, &normal, 0);
    let sent = format!(
        "{} while {count} other clients each hold an unfinished request ({})",
        describe(&request),
        describe(&start)
    );
    send(&mut normal, &request, &sent)?;
    expect_reply(&mut normal, &sent, &reply)?;
    // Proof that the slow clients were still connected when the normal
    // one was answered: the first of them has not been closed yet.
    if let Some(first) = slow.conns.first_mut() {
        first
            .check_silent_for(Duration::from_millis(10))
            .map_err(|got| Failure::new(&sent, "the first slow client still connected", got))?;
    }
    Ok(slow)
}

/// `slow-clients`: 500 clients that start a request and trickle it do not
/// stop a normal client being served while they are connected.
pub fn slow_clients_do_not_block_others(addr: &ListenAddr, kind: ServiceKind) -> CheckResult {
    slow_clients(addr, kind, SLOW_CLIENTS).map(drop)
}

/// `reset-mid-response`: three clients that reset their connection while
/// a 4 MiB echo is being written to them end that connection only: the
/// server goes on serving.
pub fn reset_mid_response(addr: &ListenAddr) -> CheckResult {
    for _ in 0..3 {
        let mut conn = connect(addr)?;
        if let Conn::Tcp(stream) = &conn {
            // SO_LINGER 0: close() sends RST instead of FIN.
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
        }
        let request = random_bytes(4 * 1024 * 1024, 1);
        let mut writer = conn
            .try_clone()
            .map_err(|err| Failure::new("nothing", "a second handle", err.to_string()))?;
        let sending = std::thread::spawn(move || {
            let _ = writer.write_all(&request);
        });
        let started = conn.read_exact_bytes(1024).map(drop).map_err(|short| {
            Failure::new(
                "4 MiB of random bytes",
                "the echo to start",
                short.to_string(),
            )
        });
        drop(conn); // The reader's handle: with the writer's, this resets.
        let _ = sending.join();
        started?;
    }
    still_serves(addr, ServiceKind::Echo)
}
