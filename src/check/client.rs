//! The checks' client: one connection over TCP or a Unix socket, every
//! blocking call bounded by [`IO_TIMEOUT`], and every shortfall returned
//! with what did arrive, so that a broken server fails a check (with the
//! evidence) instead of hanging it.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use crate::engine::ListenAddr;
use crate::service::Peer;

/// The longest any one connect, read or write may take: generous for a
/// loaded 2-core machine or a server in Python, short enough that a hung
/// server is reported rather than waited on.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A client connection over any stream transport.
#[derive(Debug)]
pub enum Conn {
    /// TCP, with `TCP_NODELAY` so each write leaves at once.
    Tcp(TcpStream),
    /// A Unix domain stream.
    Unix(UnixStream),
}

/// A read that ended before the bytes it waited for: what did arrive, and
/// why it stopped.
#[derive(Debug)]
pub struct Shortfall {
    /// The bytes that arrived first.
    pub received: Vec<u8>,
    /// "end of stream", "nothing for 10s", or the error.
    pub reason: String,
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.received.is_empty() {
            write!(f, "nothing, then {}", self.reason)
        } else {
            write!(f, "{}, then {}", describe(&self.received), self.reason)
        }
    }
}

impl Conn {
    /// Connect to `addr` with read and write timeouts of [`IO_TIMEOUT`].
    pub fn connect(addr: &ListenAddr) -> io::Result<Conn> {
        let conn = match addr {
            ListenAddr::Tcp(addr) => {
                let stream = TcpStream::connect_timeout(addr, IO_TIMEOUT)?;
                stream.set_nodelay(true)?;
                Conn::Tcp(stream)
            }
            ListenAddr::Unix(path) => Conn::Unix(UnixStream::connect(path)?),
            ListenAddr::Udp(addr) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{addr} is UDP: the checks speak to stream servers only"),
                ))
            }
        };
        conn.set_read_timeout(IO_TIMEOUT)?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(conn)
    }

    fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_read_timeout(Some(timeout)),
            Conn::Unix(s) => s.set_read_timeout(Some(timeout)),
        }
    }

    /// Bound each write by `timeout` (`None`: wait as long as it takes).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_write_timeout(timeout),
            Conn::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    /// A second handle to the same connection (e.g. for a writer thread).
    pub fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
        })
    }

    /// Half-close: tell the server no more requests are coming.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
        }
    }

    /// The peer as the server sees this client: for TCP, this end's address.
    pub fn peer_as_seen_by_server(&self) -> io::Result<Peer> {
        Ok(match self {
            Conn::Tcp(s) => Peer::Inet(s.local_addr()?),
            Conn::Unix(_) => Peer::Unix,
        })
    }

    /// Read exactly `len` bytes; a [`Shortfall`] if the connection ends,
    /// fails or stalls for [`IO_TIMEOUT`] first.
    pub fn read_exact_bytes(&mut self, len: usize) -> Result<Vec<u8>, Shortfall> {
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match self.read(&mut buf[filled..]) {
                Ok(0) => return Err(shortfall(buf, filled, "end of stream".into())),
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(shortfall(buf, filled, reason(&err))),
            }
        }
        Ok(buf)
    }

    /// Read until the server closes; the whole read is bounded by
    /// [`IO_TIMEOUT`] (a timeout is returned as `ErrorKind::TimedOut`).
    pub fn read_to_end_with_timeout(&mut self) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + IO_TIMEOUT;
        let mut received = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let result = loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break Err(no_end_of_stream(received.len()));
            };
            self.set_read_timeout(left.max(Duration::from_millis(1)))?;
            match self.read(&mut buf) {
                Ok(0) => break Ok(received),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if is_timeout(&err) => break Err(no_end_of_stream(received.len())),
                Err(err) => break Err(err),
            }
        };
        self.set_read_timeout(IO_TIMEOUT)?;
        result
    }

    /// `Ok` if nothing arrives (and the connection stays open) for `wait`;
    /// otherwise what happened instead.
    pub fn check_silent_for(&mut self, wait: Duration) -> Result<(), String> {
        self.set_read_timeout(wait).map_err(|err| err.to_string())?;
        let mut byte = [0u8; 1];
        let outcome = match self.read(&mut byte) {
            Ok(0) => Err("the server closed the connection".to_string()),
            Ok(_) => Err(format!("data arrived within {wait:?}")),
            Err(err) if is_timeout(&err) => Ok(()),
            Err(err) => Err(format!("the read failed: {err}")),
        };
        self.set_read_timeout(IO_TIMEOUT)
            .map_err(|err| err.to_string())?;
        outcome
    }

    /// Write `request` from a second thread while this one reads the reply
    /// and compares it with `expected` as it arrives. Reading starts only
    /// once [`HEAD_START_BYTES`] are out (or the writes stall), so that the
    /// server's socket buffer fills and its writes come up short: a server
    /// that drops what a short write did not take is caught. Neither side
    /// can deadlock, and a reply that goes wrong fails at its first wrong
    /// byte rather than after megabytes. The error says what came.
    pub fn write_while_matching(&mut self, request: &[u8], expected: &[u8]) -> Result<(), String> {
        let mut writer = self.try_clone().map_err(|err| err.to_string())?;
        let (head_start, started) = crossbeam_channel::bounded(1);
        std::thread::scope(|scope| {
            let writing =
                scope.spawn(move || write_signalling_head_start(&mut writer, request, head_start));
            // The writer signals (or ends, dropping the sender) within its
            // own bounds; the wait is bounded all the same.
            let _ = started.recv_timeout(IO_TIMEOUT);
            let matched = self.read_matching(expected);
            if matched.is_err() {
                // Unblock the writer, which may wait on a server that has
                // stopped reading.
                let _ = match self {
                    Conn::Tcp(s) => s.shutdown(Shutdown::Both),
                    Conn::Unix(s) => s.shutdown(Shutdown::Both),
                };
            }
            let written = writing.join().expect("writer thread panicked");
            // A write error matters only if the reply went wrong too: a
            // server may close once it has answered everything.
            match (matched, written) {
                (Err(why), Err(err)) => Err(format!("{why} (and sending failed: {err})")),
                (matched, _) => matched,
            }
        })
    }

    /// Read `expected.len()` bytes, comparing each chunk as it comes.
    fn read_matching(&mut self, expected: &[u8]) -> Result<(), String> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut matched = 0;
        while matched < expected.len() {
            let want = (expected.len() - matched).min(buf.len());
            let n = match self.read(&mut buf[..want]) {
                Ok(0) => return Err(format!("{matched} bytes as expected, then end of stream")),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return Err(format!(
                        "{matched} bytes as expected, then {}",
                        reason(&err)
                    ))
                }
            };
            if let Some(at) = buf[..n]
                .iter()
                .zip(&expected[matched..])
                .position(|(a, e)| a != e)
            {
                let offset = matched + at;
                return Err(format!(
                    "{offset} bytes as expected, then {} where {} belongs: bytes lost or reordered",
                    describe(&buf[at..n.min(at + 8)]),
                    describe(&expected[offset..(offset + 8).min(expected.len())])
                ));
            }
            matched += n;
        }
        Ok(())
    }
}

/// Bytes written before the reader of [`Conn::write_while_matching`] starts.
pub const HEAD_START_BYTES: usize = 1024 * 1024;

/// How long a write may block before the writer counts as stalled (the
/// server has stopped reading: backpressure) and lets the reader start.
const STALLED_WRITE: Duration = Duration::from_millis(200);

/// Write all of `request`, signalling once [`HEAD_START_BYTES`] are out or
/// a write stalls; give up after [`IO_TIMEOUT`] without progress.
fn write_signalling_head_start(
    writer: &mut Conn,
    request: &[u8],
    head_start: crossbeam_channel::Sender<()>,
) -> io::Result<()> {
    writer.set_write_timeout(Some(STALLED_WRITE))?;
    let mut written = 0;
    let mut last_progress = Instant::now();
    while written < request.len() {
        let end = (written + 64 * 1024).min(request.len());
        match writer.write(&request[written..end]) {
            Ok(n) => {
                written += n;
                last_progress = Instant::now();
                if written >= HEAD_START_BYTES {
                    let _ = head_start.try_send(());
                }
            }
            Err(err) if is_timeout(&err) => {
                let _ = head_start.try_send(());
                if last_progress.elapsed() >= IO_TIMEOUT {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the server stopped reading",
                    ));
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

fn shortfall(mut buf: Vec<u8>, filled: usize, reason: String) -> Shortfall {
    buf.truncate(filled);
    Shortfall {
        received: buf,
        reason,
    }
}

fn no_end_of_stream(read: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no end of stream within {IO_TIMEOUT:?} ({read} bytes read)"),
    )
}

/// What a failed read means, in the words of a scorecard.
fn reason(err: &io::Error) -> String {
    if is_timeout(err) {
        format!("nothing more for {IO_TIMEOUT:?}")
    } else {
        format!("error: {err}")
    }
}

/// `true` for the errors a socket read timeout produces (EAGAIN on Linux).
pub fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `len` pseudo-random bytes, the same for the same `seed` on every run.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    SmallRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// Bytes longest shown whole in a scorecard; longer ones are cut.
const SHOWN_BYTES: usize = 40;

/// Bytes as a scorecard shows them: escaped and quoted, cut after
/// [`SHOWN_BYTES`] with the full length said.
pub fn describe(bytes: &[u8]) -> String {
    let shown: String = bytes[..bytes.len().min(SHOWN_BYTES)]
        .escape_ascii()
        .to_string();
    if bytes.len() > SHOWN_BYTES {
        format!("\"{shown}\"... ({} bytes)", bytes.len())
    } else {
        format!("\"{shown}\"")
    }
}

/// `Ok` if the two are equal; otherwise the lengths and the first offset
/// where they differ, instead of megabytes.
pub fn compare_bytes(actual: &[u8], expected: &[u8]) -> Result<(), String> {
    if actual == expected {
        return Ok(());
    }
    let first_difference = actual
        .iter()
        .zip(expected)
        .position(|(a, e)| a != e)
        .unwrap_or(actual.len().min(expected.len()));
    Err(format!(
        "{} bytes, differing from the expected {} at offset {first_difference}: {}",
        actual.len(),
        expected.len(),
        describe(&actual[first_difference.min(actual.len())..])
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short bytes are shown whole and escaped; long ones are cut with
    /// their length.
    #[test]
    fn describe_escapes_and_cuts() {
        assert_eq!(describe(b"hi\n\xff"), "\"hi\\n\\xff\"");
        let long = describe(&[b'a'; 100]);
        assert!(long.ends_with("... (100 bytes)"), "{long}");
    }

    /// A difference is located, not dumped.
    #[test]
    fn compare_bytes_names_the_first_difference() {
        assert!(compare_bytes(b"abc", b"abc").is_ok());
        let err = compare_bytes(b"abX", b"abc").unwrap_err();
        assert!(err.contains("at offset 2"), "{err}");
        let err = compare_bytes(b"ab", b"abc").unwrap_err();
        assert!(err.starts_with("2 bytes"), "{err}");
    }
}
