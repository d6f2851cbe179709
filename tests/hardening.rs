//! Hostile clients and resource exhaustion, against every engine they
//! apply to: slowloris, clients that never read, descriptor exhaustion,
//! resets mid-response, truncated frames, garbage, panics in a session.
//! `docs/RELIABILITY.md` maps each behaviour to the test here that proves it.
//!
//! In-process servers come from `tests/util`; where the property belongs to
//! the process (descriptor limits, SIGPIPE, memory), the real `sockbench
//! serve` binary runs as a child and is measured through `/proc` by
//! `compare`'s own [`ServerProcess`].

mod util;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockbench::check::{self, hostile};
use sockbench::engine::{EngineConfig, EngineKind, ListenAddr};
use sockbench::service::{
    self, Peer, Progress, ProtocolError, Service, ServiceKind, ServiceLimits, Session,
};
use sockbench::sys::proc::process_tree;
use sockbench::sys::process::ServerProcess;
use util::{assert_passes, random_bytes, Case, ConnExt, Transport, IO_TIMEOUT};

/// Allow the many descriptors these tests open (client and server ends
/// live in one process), up to the hard limit.
fn raise_fd_limit() {
    rlimit::increase_nofile_limit(u64::MAX).expect("raise RLIMIT_NOFILE");
}

fn tcp(engine: EngineKind) -> Case {
    Case {
        engine,
        transport: Transport::Tcp4,
        loops: 1,
    }
}

// ---------------------------------------------------------------------
// Slowloris: clients that start a request and trickle it forever.
// ---------------------------------------------------------------------

const SLOWLORIS_CLIENTS: usize = 500;
/// `select`'s slowloris clients: each costs this process three descriptors
/// (its end, the trickler's clone, the server's end), and `select` watches
/// none at or above `FD_SETSIZE` (1,024).
const SELECT_SLOWLORIS_CLIENTS: usize = 250;
const SLOW_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// 500 clients (250 for `select`) trickling an HTTP header one byte at a
/// time do not stop a normal client being served while they are still
/// connected, and every one of them is dropped by the request timeout.
fn slowloris_is_dropped_and_others_served(case: Case) {
    raise_fd_limit();
    let clients = match case.engine {
        EngineKind::Select => SELECT_SLOWLORIS_CLIENTS,
        _ => SLOWLORIS_CLIENTS,
    };
    let config = EngineConfig {
        request_timeout: SLOW_REQUEST_TIMEOUT,
        // The pool ties a worker to each connection: give it one per client,
        // or the slow clients would hold every worker (see RELIABILITY.md).
        workers: clients + 8,
        ..EngineConfig::default()
    };
    let server = case.serve_with(
        service::build(ServiceKind::Http, ServiceLimits::default()),
        config,
    );
    // `sockbench check`'s slow-clients check: a normal client is served
    // while they are all connected; they keep trickling meanwhile.
    let mut slow = hostile::slow_clients(server.addr(), ServiceKind::Http, clients)
        .unwrap_or_else(|failure| panic!("{failure}"));
    // Every slow client is dropped: its read sees end of stream or a reset
    // (the server may close while trickled bytes are unread).
    for conn in &mut slow.conns {
        match conn.read_to_end_with_timeout() {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
            Err(err) => panic!("a slowloris client was not dropped: {err}"),
        }
    }
}

// ---------------------------------------------------------------------
// Garbage, truncation, resets, panics: in-process, every engine.
// ---------------------------------------------------------------------

const STREAM_SERVICES: [ServiceKind; 8] = [
    ServiceKind::Echo,
    ServiceKind::Sized,
    ServiceKind::Upper,
    ServiceKind::Hello,
    ServiceKind::Fixed16,
    ServiceKind::Discard,
    ServiceKind::Frame,
    ServiceKind::Http,
];

/// 64 KiB of random bytes into every service: the connection ends (or is
/// answered) within the timeout rather than hanging, and the server goes
/// on serving well-formed requests.
fn garbage_into_every_service(case: Case) {
    for kind in STREAM_SERVICES {
        assert_passes(hostile::garbage(case.serve(kind).addr(), kind));
    }
}

/// A frame cut off by end of input gets no answer and is closed; the
/// server goes on serving.
fn truncated_frame_is_closed(case: Case) {
    assert_passes(check::frame::truncated_frame_is_closed(
        case.serve(ServiceKind::Frame).addr(),
    ));
}

/// A client that resets its connection while a large reply is being
/// written (the server's write fails with ECONNRESET or EPIPE) ends that
/// connection only.
fn reset_mid_response_ends_only_that_connection(case: Case) {
    assert_passes(hostile::reset_mid_response(
        case.serve(ServiceKind::Echo).addr(),
    ));
}

/// A client that sends 32 MiB and never reads does not keep another
/// client from being served (backpressure, or a thread of its own).
fn never_reading_client_does_not_block_others(case: Case) {
    let server = case.serve(ServiceKind::Echo);
    assert_passes(hostile::never_reading_client(
        server.addr(),
        ServiceKind::Echo,
    ));
}

/// A test-only service whose handler panics on `panic`: a bug in one
/// session, injected.
#[derive(Debug)]
struct PanicOnRequest;

#[derive(Debug)]
struct PanicOnRequestSession;

impl Service for PanicOnRequest {
    fn name(&self) -> &'static str {
        "panic-on-request"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(PanicOnRequestSession)
    }
}

impl Session for PanicOnRequestSession {
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        if input.starts_with(b"panic") {
            panic!("injected bug in a session");
        }
        output.extend_from_slice(input);
        Ok(Progress::continue_after(input.len(), 1))
    }

    fn handle_eof(
        &mut self,
        _unconsumed: &[u8],
        _output: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }
}

/// A panic while handling one connection closes that connection only: a
/// client connected before the panic and one connected after are served.
fn panic_in_one_connection_is_contained(case: Case) {
    let engine = case.engine;
    // Two pool workers: one for the client connected before, one for the
    // victim. If the panic killed its worker, nobody would serve "after".
    let config = EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    };
    let server = case.serve_with(Arc::new(PanicOnRequest), config);
    let mut before = if engine == EngineKind::Iterative {
        None // One client at a time: there is no "other" connection.
    } else {
        let mut conn = server.connect();
        conn.write_all(b"hi").expect("send");
        conn.assert_reads(b"hi");
        Some(conn)
    };
    let mut victim = server.connect();
    victim.write_all(b"panic").expect("send the poison");
    match victim.read_to_end_with_timeout() {
        Ok(reply) => assert!(reply.is_empty(), "the panicking connection answered"),
        Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
        Err(err) => panic!("the panicking connection was not closed: {err}"),
    }
    if let Some(conn) = &mut before {
        conn.write_all(b"again").expect("send");
        conn.assert_reads(b"again");
    }
    let mut after = server.connect();
    after.write_all(b"after").expect("send");
    after.assert_reads(b"after");
}

// ---------------------------------------------------------------------
// Child processes: descriptor exhaustion, SIGPIPE, memory bounds.
// ---------------------------------------------------------------------

/// A server to run as a child process: an engine case, and how many
/// prefork processes serve it (`--processes`; 1 is a plain process).
#[derive(Debug, Clone, Copy)]
struct Child {
    case: Case,
    processes: usize,
}

impl From<Case> for Child {
    fn from(case: Case) -> Child {
        Child { case, processes: 1 }
    }
}

/// `sockbench serve` as a child process, measured through `/proc` by the
/// same code `compare` uses (with prefork, the supervisor and every
/// worker), and killed when dropped.
struct ChildServer {
    process: ServerProcess,
    addr: SocketAddr,
}

impl ChildServer {
    /// Start `sockbench serve` for `child` (its engine, `--loops` and
    /// `--processes` when it has several) with `args`; `fd_limit` lowers
    /// both the soft and the hard RLIMIT_NOFILE of the child only (and so
    /// of each prefork worker, which inherits it).
    fn start(child: impl Into<Child>, args: &[&str], fd_limit: Option<u64>) -> ChildServer {
        let Child { case, processes } = child.into();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sockbench"));
        command
            .args([
                "serve",
                "--engine",
                case.engine.name(),
                "--addr",
                "127.0.0.1:0",
            ])
            .args(args);
        if case.loops > 1 {
            command.args(["--loops", &case.loops.to_string()]);
        }
        if processes > 1 {
            command.args(["--processes", &processes.to_string()]);
        }
        if let Some(limit) = fd_limit {
            // SAFETY: setrlimit is async-signal-safe; nothing else runs
            // between fork and exec here.
            unsafe {
                command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, limit, limit));
            }
        }
        let process = ServerProcess::start(command, IO_TIMEOUT).expect("start sockbench serve");
        // The supervisor says `listening on` once every worker listens, so
        // the workers are all there by now: the properties below are then
        // really the workers'.
        let tree = process_tree(process.pid()).expect("list the server's processes");
        let expected = if processes > 1 { processes + 1 } else { 1 };
        assert_eq!(
            tree.len(),
            expected,
            "server processes (prefork: the supervisor too): {tree:?}"
        );
        let ListenAddr::Tcp(addr) = *process.addr() else {
            unreachable!("started on a TCP address")
        };
        ChildServer { process, addr }
    }

    /// CPU time (user + system) the child has used so far.
    fn cpu_time(&self) -> Duration {
        Duration::from_secs_f64(self.process.stats().expect("read /proc/PID").cpu_s)
    }

    /// Peak resident memory (VmHWM) of the child, in KiB.
    fn peak_rss_kib(&self) -> u64 {
        self.process.stats().expect("read /proc/PID").peak_rss_kb
    }

    /// Whether the child is still running.
    fn is_running(&mut self) -> bool {
        self.process.exited().expect("try_wait").is_none()
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream
    }
}

/// Whether `stream` gets its echo of `ping` within `wait`.
fn is_served(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut reply = [0u8; 4];
    let served = stream.read_exact(&mut reply).is_ok() && &reply == b"ping";
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    served
}

/// Descriptor limit for the EMFILE child: enough for the server's own
/// descriptors and a few dozen connections.
const EMFILE_FD_LIMIT: u64 = 64;

/// With RLIMIT_NOFILE at 64, clients past the limit wait unserved while
/// `accept` fails with EMFILE; meanwhile the server does not spin (CPU
/// under a third of a core); once served clients leave, the waiting ones
/// are accepted and answered. With prefork, each worker has the limit:
/// the first to run out makes a client wait.
fn emfile_backs_off_and_recovers(child: impl Into<Child>) {
    let child = child.into();
    let server = ChildServer::start(child, &["--service", "echo"], Some(EMFILE_FD_LIMIT));
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for _ in 0..EMFILE_FD_LIMIT * child.processes as u64 {
        let mut client = server.connect();
        client.write_all(b"ping").expect("send");
        if is_served(&mut client, Duration::from_millis(500)) {
            served.push(client);
        } else {
            waiting.push(client);
            break;
        }
    }
    assert!(!served.is_empty(), "no client was served at all");
    assert!(
        !waiting.is_empty(),
        "{} clients all served: the descriptor limit was never reached",
        served.len()
    );
    // More clients pile up in the backlog while accept keeps failing.
    for _ in 0..5 {
        let mut client = server.connect();
        client.write_all(b"ping").expect("send");
        waiting.push(client);
    }
    let window = Duration::from_secs(2);
    let (cpu_before, wall_before) = (server.cpu_time(), Instant::now());
    std::thread::sleep(window); // The measurement window itself.
    let cpu_used = server.cpu_time() - cpu_before;
    let wall = wall_before.elapsed();
    assert!(
        cpu_used < wall / 3,
        "server used {cpu_used:?} of CPU in {wall:?} while out of descriptors: it spins"
    );
    drop(served); // Frees descriptors in the server.
    for client in &mut waiting {
        assert!(
            is_served(client, IO_TIMEOUT),
            "a waiting client was not served after descriptors were freed"
        );
    }
}

/// A client that resets while the real binary is writing to it makes the
/// write fail with EPIPE/ECONNRESET: the process is not killed by SIGPIPE
/// and goes on serving.
fn sigpipe_never_kills_the_server(child: impl Into<Child>) {
    let mut server = ChildServer::start(child, &["--service", "echo"], None);
    for _ in 0..5 {
        let mut client = server.connect();
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        let _ = client.write_all(&random_bytes(1024 * 1024, 2));
        drop(client); // RST while the echo is being written back.
    }
    let mut client = server.connect();
    client.write_all(b"ping").expect("send");
    assert!(is_served(&mut client, IO_TIMEOUT), "server stopped serving");
    assert!(server.is_running(), "server process died");
}

/// Connections that never read, and how much each one sends.
const NON_READERS: usize = 1000;
const NON_READER_SEND_BYTES: usize = 512 * 1024;
/// The stated bound: the process's own memory plus, per connection, one
/// read buffer (64 KiB), at most the output high-water mark plus one read
/// of queued output (128 KiB), and a thread's touched stack for the
/// blocking engines: 256 KiB per connection over a 64 MiB base.
const RSS_BOUND_KIB: u64 = 64 * 1024 + NON_READERS as u64 * 256;

/// 1,000 clients that send 512 KiB each and never read their answers:
/// the server stops reading from them (backpressure, or a blocked write)
/// instead of buffering, so its peak RSS stays within the stated bound,
/// which is below what buffering everything would take.
fn never_reading_clients_keep_rss_bounded(child: impl Into<Child>) {
    let child = child.into();
    let engine = child.case.engine;
    raise_fd_limit();
    const _: () = assert!(RSS_BOUND_KIB < (NON_READERS * NON_READER_SEND_BYTES / 1024) as u64);
    let server = ChildServer::start(
        child,
        // Small server-side buffers too: otherwise the kernel would absorb
        // the bytes whatever the server's own policy.
        &[
            "--service",
            "echo",
            "--workers",
            "1100",
            "--backlog",
            "2048",
            "--rcvbuf",
            "8192",
            "--sndbuf",
            "8192",
        ],
        None,
    );
    let chunk = vec![b'x'; 64 * 1024];
    let mut clients: Vec<(TcpStream, usize)> = (0..NON_READERS)
        .map(|_| {
            let stream = server.connect();
            // Small kernel buffers on the client side, so the kernel cannot
            // hide what is sent (or the replies nobody reads): whether the
            // bytes pile up is then the server's choice alone.
            let sock = socket2::SockRef::from(&stream);
            sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
            sock.set_send_buffer_size(8192).expect("SO_SNDBUF");
            stream.set_nonblocking(true).expect("non-blocking");
            (stream, 0)
        })
        .collect();
    // Push until every client has sent its share or nobody can send more
    // (three rounds in a row without progress).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut idle_rounds = 0;
    while idle_rounds < 3 && Instant::now() < deadline {
        let mut progress = false;
        for (stream, sent) in &mut clients {
            while *sent < NON_READER_SEND_BYTES {
                let want = (NON_READER_SEND_BYTES - *sent).min(chunk.len());
                match stream.write(&chunk[..want]) {
                    Ok(n) => {
                        *sent += n;
                        progress = true;
                    }
                    Err(_) => break, // WouldBlock: the server stopped reading.
                }
            }
        }
        idle_rounds = if progress { 0 } else { idle_rounds + 1 };
        if !progress {
            // Give the server a moment to drain what it can, then retry.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let peak = server.peak_rss_kib();
    assert!(
        peak <= RSS_BOUND_KIB,
        "{engine}: peak RSS {peak} KiB above the bound of {RSS_BOUND_KIB} KiB"
    );
}

/// A client stays connected through an instant idle timeout if it keeps
/// traffic flowing, and is dropped once it goes quiet.
fn idle_connection_is_dropped(case: Case) {
    let config = EngineConfig {
        idle_timeout: Duration::from_millis(300),
        ..EngineConfig::default()
    };
    let server = case.serve_with(
        service::build(ServiceKind::Echo, ServiceLimits::default()),
        config,
    );
    let mut conn = server.connect();
    conn.write_all(b"hi").expect("send");
    conn.assert_reads(b"hi");
    // Then silence: the server must close within the timeout (plus the
    // reactor's sweep interval); the read fails the test if it has not by
    // the test's own IO timeout, 30 times longer.
    let rest = conn
        .read_to_end_with_timeout()
        .expect("idle connection closed");
    assert!(rest.is_empty());
}

/// With `max_connections` reached, a new client is accepted and closed at
/// once; when one leaves, new clients are served again.
fn connection_cap_closes_extra_clients(case: Case) {
    let config = EngineConfig {
        max_connections: 2,
        ..EngineConfig::default()
    };
    let server = case.serve_with(
        service::build(ServiceKind::Echo, ServiceLimits::default()),
        config,
    );
    let mut first = server.connect();
    first.write_all(b"1").expect("send");
    first.assert_reads(b"1");
    let mut second = server.connect();
    second.write_all(b"2").expect("send");
    second.assert_reads(b"2");
    let mut extra = server.connect();
    let _ = extra.write_all(b"3");
    match extra.read_to_end_with_timeout() {
        Ok(reply) => assert!(reply.is_empty(), "the extra client was served"),
        Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
        Err(err) => panic!("the extra client was not closed: {err}"),
    }
    // The first client leaves: its end of stream reaches the server, which
    // closes the connection (our read sees it end) and then frees its place.
    first.shutdown_write().expect("half-close");
    first
        .read_to_end_with_timeout()
        .expect("the server closes the connection its client left");
    // The place is freed just after the close: each try that is turned
    // away is one more round trip to the server, until the deadline.
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut served_again = false;
    while !served_again && Instant::now() < deadline {
        let mut next = server.connect();
        let _ = next.write_all(b"4");
        let mut byte = [0u8; 1];
        served_again = matches!(next.read(&mut byte), Ok(1));
    }
    assert!(
        served_again,
        "no client served within {IO_TIMEOUT:?} after one left"
    );
}

/// A pids cgroup of its own for one child process, so the child can be
/// made to run out of threads (root ignores RLIMIT_NPROC; a cgroup's
/// `pids.max` binds everyone). Removed when dropped, after the child.
struct PidsCgroup {
    dir: std::path::PathBuf,
}

impl PidsCgroup {
    /// A fresh cgroup under the pids hierarchy (cgroup v1) or the unified
    /// one where it has the pids controller (v2); `None` where neither is
    /// writable here (not root, or no such controller).
    fn create() -> Option<PidsCgroup> {
        let name = format!("sockbench-test-{}", std::process::id());
        ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
            .iter()
            .find_map(|root| {
                let dir = std::path::Path::new(root).join(&name);
                std::fs::create_dir(&dir).ok()?;
                let cgroup = PidsCgroup { dir };
                cgroup.dir.join("pids.max").exists().then_some(cgroup)
            })
    }

    fn write(&self, file: &str, value: &str) {
        std::fs::write(self.dir.join(file), value)
            .unwrap_or_else(|err| panic!("write {value} to {file} of {:?}: {err}", self.dir));
    }

    /// Move process `pid`, all its threads, into this cgroup.
    fn add(&self, pid: u32) {
        self.write("cgroup.procs", &pid.to_string());
    }

    /// Tasks (threads) in the cgroup now.
    fn current(&self) -> u64 {
        let text = std::fs::read_to_string(self.dir.join("pids.current")).expect("pids.current");
        text.trim().parse().expect("a number in pids.current")
    }

    /// At most `max` tasks: creating one more fails with EAGAIN.
    fn limit(&self, max: u64) {
        self.write("pids.max", &max.to_string());
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // The child was killed and reaped just before; the kernel may take
        // a moment to let go of the cgroup. Bounded: give up after a second.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("could not remove the test cgroup {:?}", self.dir);
    }
}

/// The thread-per-connection engine out of threads: a client it cannot
/// start a thread for is closed at once (not left hanging), the process
/// and the clients it already serves carry on, the reason is logged, and
/// once threads are free again new clients are served.
#[test]
fn threaded_closes_a_client_it_has_no_thread_for_and_recovers() {
    let Some(cgroup) = PidsCgroup::create() else {
        eprintln!("skipped: no writable pids cgroup here (needs root and the pids controller)");
        return;
    };
    // Declared after the cgroup: dropped (killed) before it is removed.
    let mut server = ChildServer::start(tcp(EngineKind::Threaded), &["--service", "echo"], None);
    cgroup.add(server.process.pid());
    let idle = cgroup.current();
    cgroup.limit(idle + 2); // room for two connection threads
    let mut served = Vec::new();
    for _ in 0..2 {
        let mut client = server.connect();
        client.write_all(b"ping").expect("send");
        assert!(
            is_served(&mut client, IO_TIMEOUT),
            "one of the first two clients was not served"
        );
        served.push(client);
    }
    let mut refused = server.connect();
    let _ = refused.write_all(b"ping"); // may already fail: the server closed it
    let mut byte = [0u8; 1];
    match refused.read(&mut byte) {
        Ok(0) => {}
        Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("the client with no thread was not closed: {other:?}"),
    }
    assert!(server.is_running(), "the server died when out of threads");
    for client in &mut served {
        client.write_all(b"ping").expect("send");
        assert!(
            is_served(client, IO_TIMEOUT),
            "a served client lost its service"
        );
    }
    drop(served);
    // Their threads end on EOF; wait (bounded) until the cgroup shows it.
    let deadline = Instant::now() + IO_TIMEOUT;
    while cgroup.current() > idle {
        assert!(Instant::now() < deadline, "connection threads did not end");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut next = server.connect();
    next.write_all(b"ping").expect("send");
    assert!(
        is_served(&mut next, IO_TIMEOUT),
        "no client served once threads were free"
    );
    let log = server.process.stderr_excerpt();
    assert!(
        log.contains("cannot start a thread"),
        "the refusal was not logged: {log}"
    );
}

/// One `#[test]` per engine for each body, so failures name the engine;
/// `Name = Engine x N` runs the engine with N event loops (`--loops N`),
/// `Name = Engine in N processes` as N prefork processes (`--processes N`;
/// only the bodies that run the server as a child process).
macro_rules! per_engine {
    ($engine:ident: $($body:ident),* $(,)?) => {
        per_engine!($engine = $engine x 1: $($body),*);
    };
    ($name:ident = $engine:ident in $processes:literal processes: $($body:ident),* $(,)?) => {
        #[allow(non_snake_case)]
        mod $name {
            $(
                #[doc = concat!("`", stringify!($body), "` on this engine, prefork.")]
                #[test]
                fn $body() {
                    super::$body(super::Child {
                        case: super::tcp(sockbench::engine::EngineKind::$engine),
                        processes: $processes,
                    });
                }
            )*
        }
    };
    ($name:ident = $engine:ident x $loops:literal: $($body:ident),* $(,)?) => {
        #[allow(non_snake_case)]
        mod $name {
            $(
                #[doc = concat!("`", stringify!($body), "` on this engine.")]
                #[test]
                fn $body() {
                    if crate::util::is_unavailable(sockbench::engine::EngineKind::$engine) {
                        return;
                    }
                    let _table =
                        crate::util::hold_descriptor_table(sockbench::engine::EngineKind::$engine);
                    super::$body(super::Case {
                        loops: $loops,
                        ..super::tcp(sockbench::engine::EngineKind::$engine)
                    });
                }
            )*
        }
    };
}

per_engine!(Iterative: garbage_into_every_service, truncated_frame_is_closed,
    reset_mid_response_ends_only_that_connection, panic_in_one_connection_is_contained,
    idle_connection_is_dropped);
per_engine!(Threaded: slowloris_is_dropped_and_others_served, never_reading_client_does_not_block_others, garbage_into_every_service,
    truncated_frame_is_closed, reset_mid_response_ends_only_that_connection,
    panic_in_one_connection_is_contained, emfile_backs_off_and_recovers,
    sigpipe_never_kills_the_server, never_reading_clients_keep_rss_bounded,
    idle_connection_is_dropped, connection_cap_closes_extra_clients);
per_engine!(Pool: slowloris_is_dropped_and_others_served, never_reading_client_does_not_block_others, garbage_into_every_service,
    truncated_frame_is_closed, reset_mid_response_ends_only_that_connection,
    panic_in_one_connection_is_contained, never_reading_clients_keep_rss_bounded,
    idle_connection_is_dropped, connection_cap_closes_extra_clients);
per_engine!(Select: slowloris_is_dropped_and_others_served, never_reading_client_does_not_block_others, garbage_into_every_service,
    truncated_frame_is_closed, reset_mid_response_ends_only_that_connection,
    panic_in_one_connection_is_contained, emfile_backs_off_and_recovers,
    sigpipe_never_kills_the_server, never_reading_clients_keep_rss_bounded,
    idle_connection_is_dropped, connection_cap_closes_extra_clients);
per_engine!(Poll: slowloris_is_dropped_and_others_served, never_reading_client_does_not_block_others, garbage_into_every_service,
    truncated_frame_is_closed, reset_mid_response_ends_only_that_connection,
    panic_in_one_connection_is_contained, emfile_backs_off_and_recovers,
    sigpipe_never_kills_the_server, never_reading_clients_keep_rss_bounded,
    idle_connection_is_dropped, connection_cap_closes_extra_clients);
per_engine!(Reactor: slowloris_is_dropped_and_others_served, never_reading_client_does_not_block_others, garbage_into_every_service,
    truncated_frame_is_closed, reset_mid_response_ends_only_that_connection,
    panic_in_one_connection_is_contained, emfile_backs_off_and_recovers,
    sigpipe_never_kills_the_server, never_reading_clients_keep_rss_bounded,
    idle_connection_is_dropped, connection_cap_closes_extra_clients);
per_engine!(Offload: slowloris_is_dropped_and_others_served, never_reading_client_does_not_block_others, garbage_into_every_service,
    truncated_frame_is_closed, reset_mid_response_ends_only_that_connection,
    panic_in_one_connection_is_contained, emfile_backs_off_and_recovers,
    sigpipe_never_kills_the_server, never_reading_clients_keep_rss_bounded,
    idle_connection_is_dropped, connection_cap_closes_extra_clients);
per_engine!(Uring: slowloris_is_dropped_and_others_served, never_reading_client_does_not_block_others, garbage_into_every_service,
    truncated_frame_is_closed, reset_mid_response_ends_only_that_connection,
    panic_in_one_connection_is_contained, emfile_backs_off_and_recovers,
    sigpipe_never_kills_the_server, never_reading_clients_keep_rss_bounded,
    idle_connection_is_dropped, connection_cap_closes_extra_clients);
// Two loops, each with its own listener and limits: every defence holds on
// each loop. The connection cap is per loop (each loop is self-contained),
// so the cap test, which counts clients across the server, is not run here.
per_engine!(ReactorX2 = Reactor x 2: slowloris_is_dropped_and_others_served, never_reading_client_does_not_block_others,
    garbage_into_every_service, truncated_frame_is_closed,
    reset_mid_response_ends_only_that_connection, panic_in_one_connection_is_contained,
    emfile_backs_off_and_recovers, sigpipe_never_kills_the_server,
    never_reading_clients_keep_rss_bounded, idle_connection_is_dropped);
// Prefork: the properties of a process hold in each worker (descriptor
// limit, SIGPIPE) and across them (memory: the bound covers the supervisor
// and both workers, whose peaks are added).
per_engine!(ReactorPrefork2 = Reactor in 2 processes: emfile_backs_off_and_recovers,
    sigpipe_never_kills_the_server, never_reading_clients_keep_rss_bounded);
// Stevens' designs. `fork` gives each client a process, as `threaded` a
// thread: every defence applies, the cap counting live children. Its
// parent holds no connection (each child has its own descriptor table),
// so there is no descriptor limit to reach, and 1,000 never-reading
// clients would be 1,000 processes: those two bodies are not run on it.
per_engine!(Fork: slowloris_is_dropped_and_others_served, never_reading_client_does_not_block_others,
    garbage_into_every_service, truncated_frame_is_closed,
    reset_mid_response_ends_only_that_connection, panic_in_one_connection_is_contained,
    sigpipe_never_kills_the_server, idle_connection_is_dropped,
    connection_cap_closes_extra_clients);
// The prefork designs serve one client per child, like `iterative` N times
// over: slow or never-reading clients hold every child until the request
// or idle timeout drops them, so those bodies are left out, as for
// `iterative`; `idle_connection_is_dropped` shows the timeouts at work.
// The process properties run on the binary with 2 children.
per_engine!(PreforkAccept: garbage_into_every_service, truncated_frame_is_closed,
    reset_mid_response_ends_only_that_connection, panic_in_one_connection_is_contained,
    idle_connection_is_dropped);
per_engine!(PreforkFlock: garbage_into_every_service, truncated_frame_is_closed,
    reset_mid_response_ends_only_that_connection, panic_in_one_connection_is_contained,
    idle_connection_is_dropped);
per_engine!(PreforkMutex: garbage_into_every_service, truncated_frame_is_closed,
    reset_mid_response_ends_only_that_connection, panic_in_one_connection_is_contained,
    idle_connection_is_dropped);
per_engine!(PreforkPass: garbage_into_every_service, truncated_frame_is_closed,
    reset_mid_response_ends_only_that_connection, panic_in_one_connection_is_contained,
    idle_connection_is_dropped);
per_engine!(PreforkAcceptChildren = PreforkAccept in 2 processes: sigpipe_never_kills_the_server);
per_engine!(PreforkFlockChildren = PreforkFlock in 2 processes: sigpipe_never_kills_the_server);
per_engine!(PreforkMutexChildren = PreforkMutex in 2 processes: sigpipe_never_kills_the_server);
per_engine!(PreforkPassChildren = PreforkPass in 2 processes: sigpipe_never_kills_the_server);
// `prethreaded-mutex` ties a thread to a connection, as `pool` does: the
// same bodies, with one worker per slow client.
per_engine!(PrethreadedMutex: slowloris_is_dropped_and_others_served, never_reading_client_does_not_block_others,
    garbage_into_every_service, truncated_frame_is_closed,
    reset_mid_response_ends_only_that_connection, panic_in_one_connection_is_contained,
    never_reading_clients_keep_rss_bounded, idle_connection_is_dropped,
    connection_cap_closes_extra_clients);
