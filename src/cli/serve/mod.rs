//! `sockbench serve`: bind, print the bound address, serve until a signal;
//! with `--processes N`, the prefork supervisor of N such servers
//! ([`prefork`]).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::engine::{self, EngineConfig, EngineKind, ListenOptions, Work};
use crate::service::{self, ServiceKind, ServiceLimits};

pub mod prefork;

/// Flags that only mean something for a stream (TCP or Unix) server:
/// passing one with `--udp` is an error rather than silently ignored.
const TCP_ONLY_FLAGS: [&str; 17] = [
    "unix",
    "backlog",
    "workers",
    "work",
    "no_reuseaddr",
    "reuseport",
    "rcvbuf",
    "sndbuf",
    "max_frame_bytes",
    "idle_timeout",
    "request_timeout",
    "max_connections",
    "grace",
    "loops",
    "processes",
    "ring_setup",
    "ring_buffers",
];

/// Options of `sockbench serve`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sockbench serve --engine iterative --service upper      # then: sockbench talk 127.0.0.1:7000
  sockbench serve --engine reactor --service http --addr 127.0.0.1:0
  sockbench serve --engine threaded --service echo --work sleep:1ms
  sockbench serve --engine offload --service echo --work sleep:1ms --workers 64
  sockbench serve --engine uring --service http --addr 127.0.0.1:0

The first line printed is `listening on ADDR`: with port 0 the kernel picks a
free port and that line tells you which.")]
pub struct ServeArgs {
    /// Concurrency model.
    #[arg(long, value_enum, default_value = "reactor")]
    pub engine: EngineKind,

    /// Protocol to serve.
    #[arg(long, value_enum, default_value = "echo")]
    pub service: ServiceKind,

    /// TCP address to listen on (IPv4 or IPv6; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7000", value_parser = super::parse_socket_addr)]
    pub addr: std::net::SocketAddr,

    /// Listen on a Unix domain stream socket at this path instead of TCP.
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    pub unix: Option<PathBuf>,

    /// listen() backlog: finished handshakes waiting for accept().
    #[arg(long, default_value_t = engine::listener::DEFAULT_BACKLOG)]
    pub backlog: i32,

    /// Worker threads for --engine pool [default: cores x 4], and the
    /// work pool of --engine offload, per loop [default: 128].
    #[arg(long)]
    pub workers: Option<usize>,

    /// Simulated cost per request: none, sleep:DURATION or cpu:DURATION.
    #[arg(long, default_value = "none")]
    pub work: Work,

    /// Time allowed for replies in flight after Ctrl-C or SIGTERM.
    #[arg(long, default_value = "5s", value_parser = super::parse_duration)]
    pub grace: Duration,

    /// Do not set SO_REUSEADDR (to see "address in use" after a restart).
    #[arg(long)]
    pub no_reuseaddr: bool,

    /// Set SO_REUSEPORT, so several servers can share the port.
    #[arg(long)]
    pub reuseport: bool,

    /// SO_RCVBUF of each connection, in bytes [default: kernel autotuning].
    #[arg(long, value_name = "BYTES")]
    pub rcvbuf: Option<usize>,

    /// SO_SNDBUF of each connection, in bytes [default: kernel autotuning];
    /// small values make partial writes and backpressure visible.
    #[arg(long, value_name = "BYTES")]
    pub sndbuf: Option<usize>,

    /// Largest frame payload for --service frame, in bytes.
    #[arg(long, default_value_t = service::frame::DEFAULT_MAX_FRAME_BYTES)]
    pub max_frame_bytes: usize,

    /// Longest line for --service upper, in bytes.
    #[arg(long, default_value_t = service::upper::DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,

    /// Close a connection after this long without a byte moving.
    #[arg(long, default_value = "60s", value_parser = super::parse_duration)]
    pub idle_timeout: Duration,

    /// Close a connection whose started request is not complete by then
    /// (slowloris defence).
    #[arg(long, default_value = "10s", value_parser = super::parse_duration)]
    pub request_timeout: Duration,

    /// Most connections served at once; more are accepted and closed.
    #[arg(long, default_value_t = engine::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Print every readiness event the reactor handles, or every
    /// completion the uring loop reaps (lecture mode).
    #[arg(long)]
    pub trace: bool,

    /// io_uring setup flags for --engine uring: defer (SINGLE_ISSUER and
    /// DEFER_TASKRUN), coop (COOP_TASKRUN) or plain (none), to measure
    /// what each buys.
    #[arg(long, value_enum, default_value = "defer")]
    pub ring_setup: engine::uring::RingSetup,

    /// Receive buffers (16 KiB each) in --engine uring's buffer ring, a
    /// power of two: fewer make the ring run dry (ENOBUFS) sooner.
    #[arg(long, default_value_t = engine::uring::DEFAULT_RING_BUFFERS, value_name = "N")]
    pub ring_buffers: u16,

    /// Event loops for --engine reactor or offload, each a thread with its
    /// own poller and its own SO_REUSEPORT listener, sharing nothing
    /// (TCP only; 0: one per core). The kernel spreads new connections by a
    /// hash of their addresses; the count per loop is printed at stop.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub loops: usize,

    /// Prefork: N child processes, each serving its own SO_REUSEPORT
    /// listener, supervised by this one (TCP only). Ctrl-C or SIGTERM stops
    /// them all gracefully; a child that dies is reported and restarted.
    /// With a prefork-* engine: its N children, sharing one listener
    /// [default: 4; none restarted].
    #[arg(long, value_name = "N")]
    pub processes: Option<usize>,

    /// Set by a prefork parent on the children it starts: bind with
    /// SO_REUSEPORT and take the address the parent reserved.
    #[arg(long, hide = true)]
    pub prefork_child: bool,

    /// Serve UDP datagrams on --addr instead of TCP (services echo, upper,
    /// length; engines iterative, reactor).
    #[arg(long, conflicts_with_all = TCP_ONLY_FLAGS)]
    pub udp: bool,

    /// With --udp: drop this fraction (0.0 to 1.0) of received datagrams.
    #[arg(long, value_name = "P", default_value_t = 0.0, requires = "udp")]
    pub drop: f64,

    /// With --udp: the seed choosing which datagrams --drop loses.
    #[arg(long, value_name = "S", default_value_t = 0, requires = "udp")]
    pub seed: u64,
}

/// Run `sockbench serve`.
pub fn run(args: ServeArgs) -> io::Result<ExitCode> {
    super::init_logging();
    if args.udp {
        return run_udp(args);
    }
    if args.backlog < 1 {
        return Err(io::Error::other("--backlog must be at least 1"));
    }
    if args.service == ServiceKind::Length {
        return Err(io::Error::other(
            "the length service answers datagrams: use it with --udp",
        ));
    }
    let loops = match args.loops {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let design_children = args.engine.is_prefork_design();
    let processes = args.processes.unwrap_or(if design_children {
        engine::DEFAULT_PREFORK_CHILDREN
    } else {
        1
    });
    let reuseport_processes = if design_children { 1 } else { processes };
    if (loops > 1 || reuseport_processes > 1) && args.unix.is_some() {
        return Err(io::Error::other(
            "--loops and --processes share a TCP port through SO_REUSEPORT, which Unix sockets lack: drop --unix",
        ));
    }
    if loops > 1 && !matches!(args.engine, EngineKind::Reactor | EngineKind::Offload) {
        return Err(io::Error::other(engine::loops_refusal(args.engine)));
    }
    if processes == 0 {
        return Err(io::Error::other("--processes must be at least 1"));
    }
    if reuseport_processes > 1 && !args.prefork_child {
        return prefork::supervise(&prefork::Prefork {
            addr: args.addr,
            processes,
            grace: args.grace,
            what: format!(
                "engine {}, service {}, work {}",
                args.engine,
                args.service.name(),
                args.work
            ),
        });
    }
    let options = ListenOptions {
        backlog: args.backlog,
        reuseaddr: !args.no_reuseaddr,
        reuseport: args.reuseport || args.prefork_child,
        recv_buffer_bytes: args.rcvbuf,
        send_buffer_bytes: args.sndbuf,
    };
    let listeners = match &args.unix {
        Some(path) => vec![engine::listener::bind_unix(path, options)?],
        None if loops > 1 => engine::listener::bind_tcp_group(args.addr, options, loops)?,
        None => vec![engine::listener::bind_tcp(args.addr, options)?],
    };
    let limits = ServiceLimits {
        max_frame_bytes: args.max_frame_bytes,
        max_line_bytes: args.max_line_bytes,
        ..ServiceLimits::default()
    };
    let config = EngineConfig {
        workers: args
            .workers
            .unwrap_or_else(|| engine::default_workers_for(args.engine)),
        work: args.work,
        grace: args.grace,
        trace: args.trace,
        idle_timeout: args.idle_timeout,
        request_timeout: args.request_timeout,
        max_connections: args.max_connections,
        ring_setup: args.ring_setup,
        ring_buffers: args.ring_buffers,
        processes,
        ..EngineConfig::default()
    };
    // Each connection is a descriptor: allow as many as the hard limit does.
    let fd_limit = crate::sys::limits::raise_descriptor_limit(u64::MAX)?;
    if (config.max_connections as u64) + 64 > fd_limit {
        log::warn!(
            "--max-connections {} is above what {fd_limit} open files allow: expect accept failures (EMFILE) before the cap",
            config.max_connections
        );
    }
    let service = service::build(args.service, limits);
    if args.engine.forks_children() {
        let listener = listeners.into_iter().next().expect("one listener");
        return serve_forking_design(args.engine, listener, service, config, processes);
    }
    // Signals are registered before serving, so an early Ctrl-C is not lost.
    let signals = Signals::new([SIGINT, SIGTERM])?;
    let server = engine::start_loops(args.engine, listeners, service, config)?;
    let description = format!(
        "{} (engine {}{}, service {}, work {})",
        server.local_addr(),
        args.engine,
        match loops {
            1 => String::new(),
            n => format!(" x {n} loops"),
        },
        args.service.name(),
        args.work
    );
    serve_until_signal(server, &description, signals, args.grace)
}

/// Serve one of Stevens' process designs (`fork`, `prefork-*`) on this,
/// the main thread, until SIGINT or SIGTERM: no thread has been started
/// yet, and none will be, so the children are forked from a single-threaded
/// process (`engine::children` says why that matters).
fn serve_forking_design(
    kind: EngineKind,
    listener: engine::Listener,
    service: std::sync::Arc<dyn service::Service>,
    config: EngineConfig,
    processes: usize,
) -> io::Result<ExitCode> {
    let (handle, stop) = engine::children::stop_channel()?;
    // Registered before serving, so an early Ctrl-C is not lost.
    engine::children::stop_on_signals(&handle, &[SIGINT, SIGTERM])?;
    let children = if kind.is_prefork_design() {
        format!(", {processes} processes")
    } else {
        String::new()
    };
    let listening = format!(
        "listening on {} (engine {kind}{children}, service {}, work {})",
        listener.local_addr()?,
        service.name(),
        config.work
    );
    // Printed once the children are forked, so that whoever reads it finds
    // them all there.
    let announce = move || {
        let mut stdout = io::stdout().lock();
        let _ = writeln!(stdout, "{listening}");
        let _ = stdout.flush();
    };
    engine::run_process_design(kind, listener, service, config, stop, announce)?;
    Ok(ExitCode::SUCCESS)
}

/// Print `listening on DESCRIPTION` (its first word is the bound address,
/// which scripts read), serve until SIGINT or SIGTERM, then stop gracefully.
fn serve_until_signal(
    server: engine::Server,
    description: &str,
    mut signals: Signals,
    grace: Duration,
) -> io::Result<ExitCode> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {description}")?;
    stdout.flush()?;
    drop(stdout);
    if let Some(signal) = signals.forever().next() {
        let name = if signal == SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        if server.udp_addr().is_some() {
            // UDP has no connections: every datagram read was answered at once.
            eprintln!("{name}: stopping; no more datagrams are read");
        } else {
            eprintln!("{name}: no new connections; finishing replies in flight (up to {grace:?})");
        }
    }
    server.shutdown()?;
    Ok(ExitCode::SUCCESS)
}

/// `serve --udp`: one socket, every client; runs until a signal.
fn run_udp(args: ServeArgs) -> io::Result<ExitCode> {
    engine::udp_common::check_udp_engine(args.engine)?;
    if !matches!(
        args.service,
        ServiceKind::Echo | ServiceKind::Upper | ServiceKind::Length
    ) {
        return Err(io::Error::other(format!(
            "service {} does not answer datagrams: with --udp use --service echo, upper or length",
            args.service.name()
        )));
    }
    let loss =
        engine::udp_common::DropPolicy::new(args.drop, args.seed).map_err(io::Error::other)?;
    let socket = engine::udp_common::bind_udp(args.addr)?;
    let limits = ServiceLimits {
        max_line_bytes: args.max_line_bytes,
        ..ServiceLimits::default()
    };
    let config = engine::udp_common::UdpConfig {
        drop: loss,
        trace: args.trace,
    };
    let signals = Signals::new([SIGINT, SIGTERM])?;
    let server = engine::start_udp(
        args.engine,
        socket,
        service::build(args.service, limits),
        config,
    )?;
    let description = format!(
        "{} (udp, engine {}, service {}, {loss})",
        server.local_addr(),
        args.engine,
        args.service.name(),
    );
    serve_until_signal(server, &description, signals, args.grace)
}
