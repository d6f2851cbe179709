//! `partial-io`: TCP is a byte stream, not a sequence of messages.
//!
//! Three things the notes warn about, made visible on a plain listener:
//! 1. three `send`s of short messages arrive in **one** `recv`;
//! 2. one `send` of 4 MiB arrives in **many** `recv`s;
//! 3. a non-blocking `send` of 4 MiB to a peer that is not reading returns
//!    a **partial** count: only what fit in the socket buffers.
//!
//! That is why `sendall` (a loop around `send`) and a `recv_all` loop (until
//! N bytes, or until EOF) exist.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use super::{connect, loopback_any_port, wait_until_readable, CLIENT_TIMEOUT};
use crate::io_util::would_block;

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Size of the big send.
    pub big_send_bytes: usize,
    /// The receiver's buffer, per `recv` call.
    pub recv_buffer_bytes: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            big_send_bytes: 4 * 1024 * 1024,
            recv_buffer_bytes: 64 * 1024,
        }
    }
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Bytes returned by the one `recv` after three small sends.
    pub first_recv_bytes: usize,
    /// Bytes of the three small sends together.
    pub small_sends_bytes: usize,
    /// `recv` calls it took to receive the big send.
    pub big_recv_calls: usize,
    /// What one non-blocking `send` of the big buffer returned.
    pub nonblocking_send_bytes: usize,
}

/// Run the demo.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    let listener = TcpListener::bind(loopback_any_port())?;
    let addr = listener.local_addr()?;

    // 1. Three sends, one recv.
    let messages: [&[u8]; 3] = [b"one ", b"two ", b"three"];
    let small_sends_bytes: usize = messages.iter().map(|m| m.len()).sum();
    let mut client = connect(addr)?;
    let (mut server_side, _) = listener.accept()?;
    server_side.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    for message in messages {
        client.write_all(message)?;
    }
    wait_until_readable(&server_side, small_sends_bytes)?;
    let mut buf = vec![0u8; params.recv_buffer_bytes];
    let first_recv_bytes = server_side.read(&mut buf)?;
    writeln!(
        out,
        "1. The client called send() three times: {:?}, {:?}, {:?}.",
        "one ", "two ", "three"
    )?;
    writeln!(
        out,
        "   The server's first recv() returned {first_recv_bytes} bytes: {:?}",
        String::from_utf8_lossy(&buf[..first_recv_bytes])
    )?;
    writeln!(
        out,
        "   TCP kept the bytes and their order, not the boundaries between the sends."
    )?;
    writeln!(out)?;

    // 2. One big send, many recvs.
    let big = vec![b'x'; params.big_send_bytes];
    let sender = std::thread::spawn(move || -> io::Result<()> {
        client.write_all(&big)?; // sendall
        client.shutdown(std::net::Shutdown::Write)
    });
    let started = Instant::now();
    let (mut big_recv_calls, mut received) = (0usize, 0usize);
    let mut largest = 0usize;
    loop {
        let n = server_side.read(&mut buf)?; // recv_all: until EOF
        if n == 0 {
            break;
        }
        big_recv_calls += 1;
        received += n;
        largest = largest.max(n);
    }
    sender
        .join()
        .map_err(|_| io::Error::other("sender thread panicked"))??;
    writeln!(
        out,
        "2. The client sent {} bytes with one sendall().",
        params.big_send_bytes
    )?;
    writeln!(
        out,
        "   The server needed {big_recv_calls} recv() calls of at most {} bytes (largest {largest})",
        params.recv_buffer_bytes,
    )?;
    writeln!(
        out,
        "   to get all {received}, in {:.1} ms.",
        started.elapsed().as_secs_f64() * 1e3
    )?;
    writeln!(out)?;

    // 3. A non-blocking send returns a partial count.
    let mut client = TcpStream::connect(addr)?;
    let (_not_reading, _) = listener.accept()?;
    client.set_nonblocking(true)?;
    let big = vec![b'y'; params.big_send_bytes];
    let nonblocking_send_bytes = match client.write(&big) {
        Ok(n) => n,
        Err(err) if would_block(&err) => 0,
        Err(err) => return Err(err),
    };
    writeln!(
        out,
        "3. A non-blocking send() of {} bytes to a peer that is not reading",
        params.big_send_bytes
    )?;
    writeln!(
        out,
        "   returned {nonblocking_send_bytes}: only what fit in the kernel's buffers."
    )?;
    writeln!(out, "   The rest is the caller's to send later.")?;
    writeln!(out)?;
    writeln!(
        out,
        "So: loop on send (sendall), loop on recv (recv_all), frame your messages"
    )?;
    writeln!(out, "(sockbench demo framing).")?;
    writeln!(out, "Open src/engine/blocking.rs (write_all)")?;
    writeln!(
        out,
        " and src/engine/reactor.rs (write_some keeps the rest)."
    )?;
    Ok(Report {
        first_recv_bytes,
        small_sends_bytes,
        big_recv_calls,
        nonblocking_send_bytes,
    })
}
