//! What the integration tests share: start any engine on any transport
//! in-process, connect to it, and read with timeouts, so that a broken
//! engine fails a test instead of hanging it.
//!
//! - [`Case`]: one cell of the suite (an engine over a [`Transport`]);
//!   [`Case::serve`] starts a [`TestServer`] that shuts down when dropped.
//! - [`Conn`]: `sockbench::check`'s client connection, every blocking call
//!   bounded by [`IO_TIMEOUT`]; [`ConnExt`] adds the assertions tests use.
//! - [`assert_passes`]: a check of `sockbench::check` (the same functions
//!   `sockbench check` grades any server with) must pass.
//! - [`NotifyingEcho`]: a test-only service that reports each arrival on a
//!   channel: a readiness signal, so tests never sleep to synchronise.
//! - [`cli`]: running the `sockbench` binary and reading its CSVs.

// Each test crate compiles this module and uses a different part of it.
#![allow(dead_code, unused_imports)]

pub mod cli;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
pub use sockbench::check::client::{random_bytes, Conn, IO_TIMEOUT};
use sockbench::check::{self, CheckResult};
use sockbench::engine::listener::{bind_tcp, bind_tcp_group, bind_unix, BindError};
use sockbench::engine::{
    self, EngineConfig, EngineKind, ListenAddr, ListenOptions, Listener, Server,
};
use sockbench::service::{
    self, Peer, Progress, ProtocolError, Service, ServiceKind, ServiceLimits, Session,
};

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
    #[track_caller]
    pub fn connect(&self) -> Conn {
        Conn::connect(&self.addr)
            .unwrap_or_else(|err| panic!("cannot connect to {}: {err}", self.addr))
    }

    /// Where the server listens, for the checks.
    pub fn addr(&self) -> &ListenAddr {
        &self.addr
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

/// A check must pass; its evidence is the failure message otherwise.
#[track_caller]
pub fn assert_passes(result: CheckResult) {
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// The assertions tests make on a [`Conn`], on top of its fallible calls.
pub trait ConnExt {
    /// Read exactly `expected.len()` bytes and check they are `expected`.
    fn assert_reads(&mut self, expected: &[u8]);
    /// Nothing arrives (and the connection stays open) for `wait`.
    fn assert_silent_for(&mut self, wait: Duration);
}

impl ConnExt for Conn {
    #[track_caller]
    fn assert_reads(&mut self, expected: &[u8]) {
        assert_passes(check::expect_reply(self, "the test's request", expected));
    }

    #[track_caller]
    fn assert_silent_for(&mut self, wait: Duration) {
        if let Err(what) = self.check_silent_for(wait) {
            panic!("expected silence for {wait:?}, but {what}");
        }
    }
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
