//! Server engines: one file per concurrency model, one entry point.
//!
//! | engine      | model                                                   |
//! |-------------|---------------------------------------------------------|
//! | `iterative` | one client at a time, served to completion (blocking)   |
//! | `threaded`  | one OS thread per connection (blocking)                 |
//! | `pool`      | fixed worker threads fed through a bounded channel      |
//! | `select`    | the reactor's loop, waiting in `select(2)` (`fd_set`s)  |
//! | `poll`      | the reactor's loop, waiting in `poll(2)` (`pollfd`s)    |
//! | `reactor`   | one thread, a hand-rolled mio readiness loop (epoll)    |
//! | `offload`   | the reactor loop, slow work paid by a thread pool       |
//! | `uring`     | one thread, one io_uring: completions, not readiness    |
//!
//! Stevens' chapter 30 designs (UNP vol. 1, "Client/Server Design
//! Alternatives"; `iterative`, `threaded` and `pool` are its rows 0, 6, 8):
//!
//! | engine              | row | how a worker gets its next connection     |
//! |---------------------|-----|-------------------------------------------|
//! | `fork`              | 1   | none: one child process forked per client |
//! | `prefork-accept`    | 2   | each child calls `accept` itself          |
//! | `prefork-flock`     | 3   | `accept` under a `flock` on a file        |
//! | `prefork-mutex`     | 4   | `accept` under a process-shared mutex     |
//! | `prefork-pass`      | 5   | the parent accepts, passes it (SCM_RIGHTS)|
//! | `prethreaded-mutex` | 7   | each thread calls `accept` under a mutex  |
//!
//! The process designs share their supervisor and their children's loop
//! ([`children`]); `prethreaded-mutex` shares the blocking engines' loop.
//!
//! `reactor` and `offload` can also run several loops side by side
//! ([`start_loops`], `--loops N`), one per listener, sharing nothing.
//! `select`, `poll` and `reactor` are one loop (`reactor.rs`) over three
//! ways to wait ([`readiness::Backend`]): their own files hold only the
//! waiting call and its bookkeeping.
//!
//! Engines own I/O and nothing else: what the bytes mean is the business of
//! a [`Service`]; what to keep between reads, and when a connection may be
//! read, is the session driver's ([`crate::service::buffered`]). What the
//! engines share with each other lives in [`kit`], so none imports another.
//! Every engine is started the same way, [`start`], with a listener that is
//! already bound, and returns a [`Server`] that stops gracefully.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::service::buffered::Timeouts;
use crate::service::Service;

pub mod blocking;
pub mod children;
pub mod fork;
pub mod iterative;
pub mod kit;
pub mod listener;
pub mod nonblocking;
pub mod offload;
pub mod poll;
pub mod pool;
pub mod prefork_accept;
pub mod prefork_flock;
pub mod prefork_mutex;
pub mod prefork_pass;
pub mod prethreaded_mutex;
pub mod reactor;
pub mod readiness;
pub mod ring;
pub mod select;
pub mod threaded;
pub mod udp_common;
pub mod udp_iterative;
pub mod udp_reactor;
pub mod uring;
pub mod work;

pub use listener::{ListenAddr, ListenOptions, Listener};
pub use work::Work;

/// The concurrency models, spelled as on the command line, in CSV files and
/// in bench ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// One client at a time, blocking: the lecture's first server.
    Iterative,
    /// One OS thread per connection: the lecture's concurrent server.
    Threaded,
    /// A fixed pool of worker threads fed by a bounded channel.
    Pool,
    /// The reactor's loop waiting in `select(2)`: the lecture's first
    /// readiness server, blind at and above `FD_SETSIZE`.
    Select,
    /// The reactor's loop waiting in `poll(2)`: no descriptor limit, but
    /// the whole array passed and scanned on every call.
    Poll,
    /// A single-threaded mio readiness loop (select() done right).
    Reactor,
    /// The reactor loop, with each request's work paid by a thread pool.
    Offload,
    /// A single-threaded io_uring loop: the kernel completes whole
    /// operations (accept, receive, send) and the loop reaps them.
    Uring,
    /// UNP row 1: a child process forked for every client.
    Fork,
    /// UNP row 2: `--processes N` children, each blocking in `accept` on
    /// the one listening socket they inherited.
    PreforkAccept,
    /// UNP row 3: as `prefork-accept`, with a `flock` around `accept`.
    PreforkFlock,
    /// UNP row 4: as `prefork-accept`, with a process-shared mutex (in
    /// shared memory) around `accept`.
    PreforkMutex,
    /// UNP row 5: the parent accepts and passes each connection to an idle
    /// child over a Unix socket (`SCM_RIGHTS`).
    PreforkPass,
    /// UNP row 7: `--workers N` threads, each calling `accept` under a mutex.
    PrethreadedMutex,
}

impl EngineKind {
    /// Every engine, in the order tables list them.
    pub const ALL: [EngineKind; 14] = [
        EngineKind::Iterative,
        EngineKind::Threaded,
        EngineKind::Pool,
        EngineKind::Select,
        EngineKind::Poll,
        EngineKind::Reactor,
        EngineKind::Offload,
        EngineKind::Uring,
        EngineKind::Fork,
        EngineKind::PreforkAccept,
        EngineKind::PreforkFlock,
        EngineKind::PreforkMutex,
        EngineKind::PreforkPass,
        EngineKind::PrethreadedMutex,
    ];

    /// The one spelling of this engine's name.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Iterative => "iterative",
            EngineKind::Threaded => "threaded",
            EngineKind::Pool => "pool",
            EngineKind::Select => "select",
            EngineKind::Poll => "poll",
            EngineKind::Reactor => "reactor",
            EngineKind::Offload => "offload",
            EngineKind::Uring => "uring",
            EngineKind::Fork => "fork",
            EngineKind::PreforkAccept => "prefork-accept",
            EngineKind::PreforkFlock => "prefork-flock",
            EngineKind::PreforkMutex => "prefork-mutex",
            EngineKind::PreforkPass => "prefork-pass",
            EngineKind::PrethreadedMutex => "prethreaded-mutex",
        }
    }

    /// Stevens' designs that serve from child processes this process
    /// forks (`fork` and the `prefork-*` ones): `serve` runs them on its
    /// main thread, before any other thread exists ([`children`]).
    pub fn forks_children(self) -> bool {
        matches!(
            self,
            EngineKind::Fork
                | EngineKind::PreforkAccept
                | EngineKind::PreforkFlock
                | EngineKind::PreforkMutex
                | EngineKind::PreforkPass
        )
    }

    /// The engines whose `--processes N` is their own count of children
    /// (the `prefork-*` designs), rather than N copies of the whole server.
    pub fn is_prefork_design(self) -> bool {
        self.forks_children() && self != EngineKind::Fork
    }

    /// Stevens' designs, in the book's row order (rows 0 to 8).
    pub const STEVENS: [EngineKind; 9] = [
        EngineKind::Iterative,
        EngineKind::Fork,
        EngineKind::PreforkAccept,
        EngineKind::PreforkFlock,
        EngineKind::PreforkMutex,
        EngineKind::PreforkPass,
        EngineKind::Threaded,
        EngineKind::PrethreadedMutex,
        EngineKind::Pool,
    ];
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How long replies in flight may take to finish once a stop is asked for.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Above this much unsent output, a connection's reading is paused: with
/// one 64 KiB read on top, a connection holds at most 128 KiB of output.
pub const DEFAULT_OUTPUT_HIGH_WATER_BYTES: usize = 64 * 1024;

/// A connection that moves no byte either way for this long is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A request that has started arriving must complete within this long: the
/// defence against slowloris clients, who trickle a byte now and then to
/// dodge the idle timeout while holding a connection forever.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; further clients are accepted and closed at
/// once (with a logged reason) rather than left waiting in the backlog.
/// Below the 20,000 descriptors a process may hold here, with room to spare.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_000;

/// Settings every engine understands (each uses the ones that apply to it).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads for `pool` and `prethreaded-mutex`, and per loop for
    /// `offload`.
    pub workers: usize,
    /// Child processes of the `prefork-*` designs.
    pub processes: usize,
    /// Simulated cost of each answered request.
    pub work: Work,
    /// Time allowed for replies in flight after a stop.
    pub grace: Duration,
    /// Unsent output above which the reactor stops reading a connection.
    pub output_high_water_bytes: usize,
    /// Print every readiness event the reactor handles (for the lecture).
    pub trace: bool,
    /// Where those lines go: standard output unless a demo or a test
    /// captures them.
    pub trace_to: kit::TraceSink,
    /// Close a connection after this long without a byte moving.
    pub idle_timeout: Duration,
    /// Close a connection whose partial request is not complete by then.
    pub request_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// `uring`'s ring setup flags.
    pub ring_setup: uring::RingSetup,
    /// `uring`'s receive buffers (a power of two).
    pub ring_buffers: u16,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: default_workers(),
            processes: DEFAULT_PREFORK_CHILDREN,
            work: Work::None,
            grace: DEFAULT_GRACE,
            output_high_water_bytes: DEFAULT_OUTPUT_HIGH_WATER_BYTES,
            trace: false,
            trace_to: kit::TraceSink::default(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            ring_setup: uring::RingSetup::default(),
            ring_buffers: uring::DEFAULT_RING_BUFFERS,
        }
    }
}

impl EngineConfig {
    /// The idle and request timeouts, as the sans-IO timers take them.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            idle: self.idle_timeout,
            request: self.request_timeout,
        }
    }
}

/// `pool`'s default size: four workers per core, so some blocking work can
/// overlap without one thread per client.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) * 4
}

/// Children of a `prefork-*` design unless told otherwise: two per core
/// here, so one child blocked in a slow client leaves others accepting.
pub const DEFAULT_PREFORK_CHILDREN: usize = 4;

/// `offload`'s default pool size (per loop). Sized for waiting, not for
/// computing: a worker blocked in a slow call costs a stack, not a core,
/// and each waits for one request, so the pool bounds how many slow
/// requests are under way at once; 128 covers the comparison's
/// 100-connection cells. For `cpu:` work, workers beyond the core count
/// only take turns (`sockbench demo blocking-work`, part 3).
pub const DEFAULT_OFFLOAD_WORKERS: usize = 128;

/// The default `--workers` of `kind`.
pub fn default_workers_for(kind: EngineKind) -> usize {
    match kind {
        EngineKind::Offload => DEFAULT_OFFLOAD_WORKERS,
        _ => default_workers(),
    }
}

/// Start `kind` serving `service` on `listener`, in a background thread.
pub fn start(
    kind: EngineKind,
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    match kind {
        EngineKind::Iterative => iterative::spawn(listener, service, config),
        EngineKind::Threaded => threaded::spawn(listener, service, config),
        EngineKind::Pool => pool::spawn(listener, service, config),
        EngineKind::Select => select::spawn(listener, service, config),
        EngineKind::Poll => poll::spawn(listener, service, config),
        EngineKind::Reactor => reactor::spawn(listener, service, config),
        EngineKind::Offload => offload::spawn(listener, service, config),
        EngineKind::Uring => uring::spawn(listener, service, config),
        EngineKind::PrethreadedMutex => prethreaded_mutex::spawn(listener, service, config),
        EngineKind::Fork
        | EngineKind::PreforkAccept
        | EngineKind::PreforkFlock
        | EngineKind::PreforkMutex
        | EngineKind::PreforkPass => {
            let local_addr = listener.local_addr()?;
            let (handle, signal) = children::stop_channel()?;
            Server::spawn(
                kind.name(),
                local_addr,
                move || handle.stop(),
                move || run_process_design(kind, listener, service, config, signal, || {}),
            )
        }
    }
}

/// Run process design `kind` (`fork`, `prefork-*`) on the calling thread
/// until `stop` fires, then stop every child and return. `on_ready` runs
/// once the children the design starts with are forked (`serve` prints
/// `listening on` there). `sockbench serve` calls this on its main thread,
/// before any other thread exists; [`start`] on a thread of its own (the
/// rules, and why, are in [`children`]).
pub fn run_process_design(
    kind: EngineKind,
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
    stop: children::StopSignal,
    on_ready: impl FnOnce() + 'static,
) -> io::Result<()> {
    let mut supervisor = children::Supervisor::new(stop, config.grace)?;
    supervisor.on_ready = Some(Box::new(on_ready));
    let (service, listener) = (service.as_ref(), &listener);
    match kind {
        EngineKind::Fork => fork::run(&mut supervisor, listener, service, &config),
        EngineKind::PreforkAccept => {
            prefork_accept::run(&mut supervisor, listener, service, &config)
        }
        EngineKind::PreforkFlock => prefork_flock::run(&mut supervisor, listener, service, &config),
        EngineKind::PreforkMutex => prefork_mutex::run(&mut supervisor, listener, service, &config),
        EngineKind::PreforkPass => prefork_pass::run(&mut supervisor, listener, service, &config),
        other => Err(io::Error::other(format!(
            "engine {other} is not a process design: use engine::start"
        ))),
    }
}

/// Start `kind` with one event loop per listener (`--loops N`). The
/// listeners share one address through `SO_REUSEPORT`
/// ([`listener::bind_tcp_group`]). Only the event-loop engines have loops
/// to multiply; the others are refused with the reason.
pub fn start_loops(
    kind: EngineKind,
    mut listeners: Vec<Listener>,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    let site = match kind {
        EngineKind::Reactor => reactor::WorkSite::Loop,
        EngineKind::Offload => reactor::WorkSite::Pool,
        _ if listeners.len() == 1 => return start(kind, listeners.remove(0), service, config),
        _ => return Err(io::Error::other(loops_refusal(kind))),
    };
    reactor::spawn_loops(listeners, service, config, site)
}

/// Why `--loops N` is refused for `kind`.
pub fn loops_refusal(kind: EngineKind) -> String {
    match kind {
        EngineKind::Uring => {
            "--loops applies to the mio event loops (reactor, offload): uring runs one ring on one thread".to_string()
        }
        EngineKind::Select | EngineKind::Poll => format!(
            "--loops applies to the mio event loops (reactor, offload): {kind} is the lecture's one loop over {kind}(2)"
        ),
        _ => format!(
            "--loops applies to the event-loop engines (reactor, offload), not {kind}: its threads already share one listener"
        ),
    }
}

/// Start a UDP engine (`iterative` or `reactor`) answering datagrams on
/// `socket`, in a background thread. Other engines are refused with the
/// reason: UDP has no connections to hand to threads.
pub fn start_udp(
    kind: EngineKind,
    socket: std::net::UdpSocket,
    service: Arc<dyn Service>,
    config: udp_common::UdpConfig,
) -> io::Result<Server> {
    udp_common::check_udp_engine(kind)?;
    match kind {
        EngineKind::Reactor => udp_reactor::spawn(socket, service, config),
        _ => udp_iterative::spawn(socket, service, config),
    }
}

/// A running server. Dropping it stops it and waits for it.
pub struct Server {
    local_addr: ListenAddr,
    stopper: Box<dyn Fn() + Send + Sync>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Run `body` (the engine's main loop) on a thread named `sockbench-NAME`.
    /// `stopper` must make `body` return soon, gracefully, and be idempotent.
    pub fn spawn(
        name: &str,
        local_addr: ListenAddr,
        stopper: impl Fn() + Send + Sync + 'static,
        body: impl FnOnce() -> io::Result<()> + Send + 'static,
    ) -> io::Result<Server> {
        let thread = std::thread::Builder::new()
            .name(format!("sockbench-{name}"))
            .spawn(body)?;
        Ok(Server {
            local_addr,
            stopper: Box::new(stopper),
            thread: Some(thread),
        })
    }

    /// Where clients connect (the real port when bound to port 0).
    pub fn local_addr(&self) -> &ListenAddr {
        &self.local_addr
    }

    /// The TCP address, for callers that bound TCP.
    pub fn tcp_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.local_addr {
            ListenAddr::Tcp(addr) => Some(*addr),
            ListenAddr::Unix(_) | ListenAddr::Udp(_) => None,
        }
    }

    /// The UDP address, for callers that started a UDP server.
    pub fn udp_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.local_addr {
            ListenAddr::Udp(addr) => Some(*addr),
            ListenAddr::Tcp(_) | ListenAddr::Unix(_) => None,
        }
    }

    /// Ask the server to stop: no new connections; replies in flight finish
    /// within the grace period. Returns at once.
    pub fn stop(&self) {
        (self.stopper)();
    }

    /// Stop and wait until the engine has finished.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop();
        self.join_engine()
    }

    fn join_engine(&mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("engine thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if let Err(err) = self.join_engine() {
            log::warn!("engine stopped with an error: {err}");
        }
    }
}
