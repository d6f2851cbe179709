//! What the integration tests share: start any engine on any transport
//! in-process, connect to it, and read with timeouts, so that a broken
//! engine fails a test instead of hanging it.
//!
//! - [`Case`]: one cell of the suite (an engine over a [`Transport`]);
//!   [`Case::serve`] starts a [`TestServer`] that shuts down when dropped.
//! - [`Conn`]: a client connection over any transport, with every blocking
//!   call bounded by [`IO_TIMEOUT`].
//! - [`NotifyingEcho`]: a test-only service that reports each arrival on a
//!   channel: a readiness signal, so tests never sleep to synchronise.
//! - [`random_bytes`], [`assert_same_bytes`], [`read_http_response`].
//! - [`cli`]: running the `sockbench` binary and reading its CSVs.

// Each test crate compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod cli;

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use sockbench::engine::listener::{bind_tcp, bind_tcp_group, bind_unix, BindError};
use sockbench::engine::{
    self, EngineConfig, EngineKind, ListenAddr, ListenOptions, Listener, Server,
};
use sockbench::service::{
    self, Peer, Progress, ProtocolError, Service, ServiceKind, ServiceLimits, Session,
};

/// The longest any one blocking connect, read or write may take before the
/// test fails: generous for a loaded 2-core machine, short enough that a
/// hung engine is reported rather than waited on forever.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How the client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP over IPv4 loopback, `127.0.0.1:0`.
    Tcp4,
    /// TCP over IPv6 loopback, `[::1]:0`.
    Tcp6,
    /// A Unix domain stream socket in the temp directory.
    Unix,
}

impl Transport {
    /// Every transport the suite runs over.
    pub const ALL: [Transport; 3] = [Transport::Tcp4, Transport::Tcp6, Transport::Unix];

    /// `count` listeners sharing one fresh TCP address (`SO_REUSEPORT`),
    /// for the multi-loop engines. Unix sockets have no port to share.
    pub fn bind_group(self, count: usize) -> Result<Vec<Listener>, BindError> {
        let options = ListenOptions::default();
        match self {
            Transport::Tcp4 => {
                bind_tcp_group(SocketAddr::from(([127, 0, 0, 1], 0)), options, count)
            }
            Transport::Tcp6 => {
                bind_tcp_group("[::1]:0".parse().expect("valid address"), options, count)
            }
            Transport::Unix => panic!("SO_REUSEPORT groups are TCP only"),
        }
    }

    /// A listener on a fresh, free address of this transport.
    pub fn bind(self) -> Result<Listener, BindError> {
        let options = ListenOptions::default();
        match self {
            Transport::Tcp4 => bind_tcp(SocketAddr::from(([127, 0, 0, 1], 0)), options),
            Transport::Tcp6 => bind_tcp("[::1]:0".parse().expect("valid address"), options),
            Transport::Unix => bind_unix(&unique_socket_path(), options),
        }
    }
}

/// A socket path no other test in any running test process uses.
fn unique_socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("sockbench-test-{}-{n}.sock", std::process::id()))
}

/// One cell of the suite: which engine, over which transport, with how
/// many event loops.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The engine under test.
    pub engine: EngineKind,
    /// How clients reach it.
    pub transport: Transport,
    /// Event loops (`--loops`), each with its own `SO_REUSEPORT` listener;
    /// 1 is the engine as it comes.
    pub loops: usize,
}

impl Case {
    /// Serve a built-in service with the default limits and engine settings.
    pub fn serve(self, kind: ServiceKind) -> TestServer {
        let service = service::build(kind, ServiceLimits::default());
        self.serve_with(service, EngineConfig::default())
    }

    /// Serve any service (test-only ones included) with `config`.
    pub fn serve_with(self, service: Arc<dyn Service>, config: EngineConfig) -> TestServer {
        let listeners = match self.loops {
            1 => self.transport.bind().map(|listener| vec![listener]),
            loops => self.transport.bind_group(loops),
        }
        .unwrap_or_else(|err| panic!("{self:?}: cannot bind: {err}"));
        let addr = listeners[0].local_addr().expect("listener has an address");
        let stop_bound = config.grace + IO_TIMEOUT;
        let server = engine::start_loops(self.engine, listeners, service, config)
            .unwrap_or_else(|err| panic!("{self:?}: cannot start the engine: {err}"));
        TestServer {
            server: Some(server),
            addr,
            stop_bound,
        }
    }
}

/// `true`, after printing why, when `engine` cannot run on this machine:
/// `uring` where io_uring is missing (ENOSYS) or forbidden (EPERM). The
/// suites' macros skip such a cell with that line rather than fail it.
pub fn is_unavailable(engine: EngineKind) -> bool {
    if engine != EngineKind::Uring {
        return false;
    }
    match engine::uring::probe() {
        Ok(()) => false,
        Err(err) => {
            eprintln!("skipped: {err}");
            true
        }
    }
}

/// Every test in a test binary shares one descriptor table, and `select`
/// cannot watch a descriptor at or above `FD_SETSIZE` (1,024): beside a
/// test holding a thousand sockets, an in-process `select` server would be
/// handed numbers it must refuse. So a `select` test runs alone, and every
/// other test holds a share.
static DESCRIPTOR_TABLE: RwLock<()> = RwLock::new(());

/// Held for the length of one test: alone for `select`, shared otherwise.
#[derive(Debug)]
pub enum DescriptorTable {
    /// No other test runs meanwhile.
    Alone(RwLockWriteGuard<'static, ()>),
    /// Other tests (not `select`'s) run meanwhile.
    Shared(RwLockReadGuard<'static, ()>),
}

/// Take the process's descriptor table as a test of `engine` needs it (a
/// failed test's panic does not keep the others from it).
pub fn hold_descriptor_table(engine: EngineKind) -> DescriptorTable {
    match engine {
        EngineKind::Select => DescriptorTable::Alone(
            DESCRIPTOR_TABLE
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        ),
        _ => DescriptorTable::Shared(
            DESCRIPTOR_TABLE
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        ),
    }
}

/// A running server that is shut down (and waited for, within a bound)
/// when dropped, so no test leaks an engine thread or a socket file.
#[derive(Debug)]
pub struct TestServer {
    server: Option<Server>,
    addr: ListenAddr,
    /// How long a shutdown may take: the grace period plus [`IO_TIMEOUT`].
    stop_bound: Duration,
}

impl TestServer {
    /// A new client connection, with timeouts set.
    pub fn connect(&self) -> Conn {
        Conn::connect(&self.addr)
    }

    /// Ask the engine to stop; returns at once.
    pub fn stop(&self) {
        if let Some(server) = &self.server {
            server.stop();
        }
    }

    /// Stop and wait for the engine; fails the test if it takes longer than
    /// the grace period plus [`IO_TIMEOUT`].
    pub fn shutdown(mut self) -> io::Result<()> {
        let server = self.server.take().expect("server not yet shut down");
        shutdown_within(server, self.stop_bound)
            .unwrap_or_else(|| panic!("engine did not stop within {:?}", self.stop_bound))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let stopped = shutdown_within(server, self.stop_bound);
            if stopped.is_none() && !std::thread::panicking() {
                panic!("engine did not stop within {:?}", self.stop_bound);
            }
        }
    }
}

/// Shut `server` down on a helper thread; `None` if it is not done within
/// `bound` (the helper thread is then left behind, and the test fails).
fn shutdown_within(server: Server, bound: Duration) -> Option<io::Result<()>> {
    let (done, finished) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = done.send(server.shutdown());
    });
    finished.recv_timeout(bound).ok()
}

/// A client connection over any transport. Every read and write is bounded
/// by [`IO_TIMEOUT`]; a timeout surfaces as an error, never as a hang.
#[derive(Debug)]
pub enum Conn {
    /// TCP, with `TCP_NODELAY` so each write leaves at once.
    Tcp(TcpStream),
    /// A Unix domain stream.
    Unix(UnixStream),
}

impl Conn {
    fn connect(addr: &ListenAddr) -> Conn {
        let conn = match addr {
            ListenAddr::Tcp(addr) => {
                let stream = TcpStream::connect_timeout(addr, IO_TIMEOUT)
                    .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
                stream.set_nodelay(true).expect("set TCP_NODELAY");
                Conn::Tcp(stream)
            }
            ListenAddr::Unix(path) => Conn::Unix(
                UnixStream::connect(path)
                    .unwrap_or_else(|err| panic!("cannot connect to {}: {err}", path.display())),
            ),
            ListenAddr::Udp(addr) => panic!("stream tests cannot connect to UDP {addr}"),
        };
        conn.set_read_timeout(IO_TIMEOUT);
        match &conn {
            Conn::Tcp(s) => s.set_write_timeout(Some(IO_TIMEOUT)),
            Conn::Unix(s) => s.set_write_timeout(Some(IO_TIMEOUT)),
        }
        .expect("set write timeout");
        conn
    }

    fn set_read_timeout(&self, timeout: Duration) {
        match self {
            Conn::Tcp(s) => s.set_read_timeout(Some(timeout)),
            Conn::Unix(s) => s.set_read_timeout(Some(timeout)),
        }
        .expect("set read timeout");
    }

    /// A second handle to the same connection (e.g. for a writer thread).
    pub fn try_clone(&self) -> Conn {
        match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone().expect("clone tcp stream")),
            Conn::Unix(s) => Conn::Unix(s.try_clone().expect("clone unix stream")),
        }
    }

    /// Half-close: tell the server no more requests are coming.
    pub fn shutdown_write(&self) {
        match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
        }
        .expect("shutdown(Write)");
    }

    /// The peer as the server sees this client: for TCP, this end's address.
    pub fn peer_as_seen_by_server(&self) -> Peer {
        match self {
            Conn::Tcp(s) => Peer::Inet(s.local_addr().expect("local address")),
            Conn::Unix(_) => Peer::Unix,
        }
    }

    /// Read exactly `len` bytes, failing the test with what did arrive if
    /// the connection ends or stalls first.
    #[track_caller]
    pub fn read_exact_bytes(&mut self, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match self.read(&mut buf[filled..]) {
                Ok(0) => panic!("connection closed after {filled} of {len} expected bytes"),
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => panic!("read failed after {filled} of {len} expected bytes: {err}"),
            }
        }
        buf
    }

    /// Read exactly `expected.len()` bytes and check they are `expected`.
    #[track_caller]
    pub fn assert_reads(&mut self, expected: &[u8]) {
        let actual = self.read_exact_bytes(expected.len());
        assert!(
            actual == expected,
            "got {:?}, expected {:?}",
            String::from_utf8_lossy(&actual),
            String::from_utf8_lossy(expected)
        );
    }

    /// Read until the server closes; the whole read is bounded by
    /// [`IO_TIMEOUT`] (a timeout is returned as `ErrorKind::TimedOut`).
    pub fn read_to_end_with_timeout(&mut self) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + IO_TIMEOUT;
        let mut received = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let result = loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break Err(io::Error::new(io::ErrorKind::TimedOut, "no end of stream"));
            };
            self.set_read_timeout(left.max(Duration::from_millis(1)));
            match self.read(&mut buf) {
                Ok(0) => break Ok(received),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if is_timeout(&err) => {
                    break Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no end of stream within {IO_TIMEOUT:?} ({} bytes read)",
                            received.len()
                        ),
                    ))
                }
                Err(err) => break Err(err),
            }
        };
        self.set_read_timeout(IO_TIMEOUT);
        result
    }

    /// A negative check: nothing arrives (and the connection stays open)
    /// for `wait`.
    #[track_caller]
    pub fn assert_silent_for(&mut self, wait: Duration) {
        self.set_read_timeout(wait);
        let mut byte = [0u8; 1];
        match self.read(&mut byte) {
            Ok(0) => panic!("expected silence, but the server closed the connection"),
            Ok(_) => panic!("expected silence for {wait:?}, but data arrived"),
            Err(err) if is_timeout(&err) => {}
            Err(err) => panic!("expected silence, but the read failed: {err}"),
        }
        self.set_read_timeout(IO_TIMEOUT);
    }

    /// Write `request` from a second thread while this one reads the
    /// `reply_len`-byte reply: neither side can then deadlock on full
    /// socket buffers, and the server is made to write partially.
    #[track_caller]
    pub fn write_while_reading(&mut self, request: &[u8], reply_len: usize) -> Vec<u8> {
        let mut writer = self.try_clone();
        std::thread::scope(|scope| {
            let writing = scope.spawn(move || writer.write_all(request));
            let reply = self.read_exact_bytes(reply_len);
            writing
                .join()
                .expect("writer thread panicked")
                .expect("write the request");
            reply
        })
    }
}

/// `true` for the errors a socket read timeout produces (EAGAIN on Linux).
fn is_timeout(err: &io::Error) -> bool {
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

/// Compare two byte strings, reporting lengths and the first difference
/// instead of dumping megabytes.
#[track_caller]
pub fn assert_same_bytes(actual: &[u8], expected: &[u8]) {
    if actual == expected {
        return;
    }
    let first_difference = actual
        .iter()
        .zip(expected)
        .position(|(a, e)| a != e)
        .unwrap_or(actual.len().min(expected.len()));
    panic!(
        "bytes differ: got {} bytes, expected {}; first difference at offset {first_difference}",
        actual.len(),
        expected.len()
    );
}

/// Echo that reports the size of each arrival on a channel, so a test
/// knows the server holds its request without sleeping.
#[derive(Debug)]
pub struct NotifyingEcho {
    arrivals: Sender<usize>,
}

impl NotifyingEcho {
    /// The service, and the receiving end of its arrivals.
    pub fn new() -> (Arc<Self>, Receiver<usize>) {
        let (arrivals, received) = crossbeam_channel::unbounded();
        (Arc::new(NotifyingEcho { arrivals }), received)
    }
}

#[derive(Debug)]
struct NotifyingEchoSession {
    arrivals: Sender<usize>,
}

impl Service for NotifyingEcho {
    fn name(&self) -> &'static str {
        "notifying-echo"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(NotifyingEchoSession {
            arrivals: self.arrivals.clone(),
        })
    }
}

impl Session for NotifyingEchoSession {
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        output.extend_from_slice(input);
        // The test may have stopped listening; the echo goes on regardless.
        let _ = self.arrivals.send(input.len());
        Ok(Progress::continue_after(input.len(), 1))
    }

    fn handle_eof(&mut self, unconsumed: &[u8], output: &mut Vec<u8>) -> Result<(), ProtocolError> {
        output.extend_from_slice(unconsumed);
        Ok(())
    }
}

/// Lines `N\n` echoed back, each counted as N requests, so that with
/// `--work` a line costs N times the work: requests that take different
/// times. Each line's arrival at the server is reported on a channel, with
/// the instant the server read it.
#[derive(Debug)]
pub struct CostedLines {
    arrivals: Sender<(Vec<u8>, Instant)>,
}

impl CostedLines {
    /// The service, and the receiving end of its arrivals (each line read).
    pub fn new() -> (Arc<Self>, Receiver<(Vec<u8>, Instant)>) {
        let (arrivals, received) = crossbeam_channel::unbounded();
        (Arc::new(CostedLines { arrivals }), received)
    }
}

#[derive(Debug)]
struct CostedLinesSession {
    arrivals: Sender<(Vec<u8>, Instant)>,
}

impl Service for CostedLines {
    fn name(&self) -> &'static str {
        "costed-lines"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(CostedLinesSession {
            arrivals: self.arrivals.clone(),
        })
    }
}

impl Session for CostedLinesSession {
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        let (mut consumed, mut cost) = (0, 0);
        while let Some(end) = input[consumed..].iter().position(|&b| b == b'\n') {
            let line = &input[consumed..consumed + end + 1];
            consumed += end + 1;
            cost += std::str::from_utf8(&line[..end])
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| ProtocolError::new("expected a number per line"))?;
            output.extend_from_slice(line);
            let _ = self.arrivals.send((line.to_vec(), Instant::now()));
        }
        Ok(Progress::continue_after(consumed, cost))
    }

    fn handle_eof(
        &mut self,
        _unconsumed: &[u8],
        _output: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }
}

/// One parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code, e.g. 200.
    pub status: u16,
    /// Header names (as sent) and values.
    pub headers: Vec<(String, String)>,
    /// The body: `Content-Length` bytes, or everything up to EOF without it.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read one response: status line, headers, then a body delimited by
/// `Content-Length` (or by EOF if the server sent none).
pub fn read_http_response(reader: &mut impl BufRead) -> HttpResponse {
    let status_line = read_crlf_line(reader);
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(
        parts.next(),
        Some("HTTP/1.1"),
        "status line {status_line:?}"
    );
    let status = parts
        .next()
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status code in {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let line = read_crlf_line(reader);
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("malformed header line {line:?}"));
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    match response.header("Content-Length") {
        Some(len) => {
            let len: usize = len.parse().expect("numeric Content-Length");
            response.body = vec![0u8; len];
            reader.read_exact(&mut response.body).expect("read body");
        }
        None => {
            reader
                .read_to_end(&mut response.body)
                .expect("read body to EOF");
        }
    }
    response
}

/// One `\r\n`-terminated line, without its terminator.
fn read_crlf_line(reader: &mut impl BufRead) -> String {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).expect("read a line");
    assert!(
        line.ends_with(b"\r\n"),
        "expected a CRLF-terminated line, got {:?}",
        String::from_utf8_lossy(&line)
    );
    line.truncate(line.len() - 2);
    String::from_utf8(line).expect("response head is ASCII")
}
