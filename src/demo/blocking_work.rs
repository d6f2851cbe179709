//! `blocking-work`: the other side of the coin.
//!
//! 1. Every request sleeps (`Work::Sleep`, say 50 ms: a slow disk or
//!    database). Several clients ask at the same moment. The reactor's one
//!    thread sleeps for each in turn, so the last waits for all of them;
//!    `threaded` and `pool` sleep in parallel threads and answer everyone in
//!    about one sleep. So does `offload`, the fix: the same one loop
//!    thread, with the sleeps handed to a pool of workers.
//! 2. Every request burns CPU (`Work::Cpu`). On a machine with C cores, C
//!    client threads against `threaded` already keep every core busy: four
//!    times as many clients add threads, not throughput.
//! 3. The same CPU work on `reactor` and on `offload`: handing computation
//!    to a pool helps only up to the number of cores (and here the load
//!    generator's threads share those cores).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{ask_line, connect, ms, start_tcp};
use crate::engine::{EngineConfig, EngineKind, ListenOptions, Work};
use crate::service::ServiceKind;

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Sleep per request, part 1.
    pub sleep: Duration,
    /// Clients asking at once, part 1.
    pub clients: usize,
    /// CPU per request, part 2.
    pub cpu: Duration,
    /// Requests per run, part 2 (shared among the client threads).
    pub cpu_requests: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            sleep: Duration::from_millis(50),
            clients: 4,
            cpu: Duration::from_millis(2),
            cpu_requests: 800,
        }
    }
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Part 1: the slowest client's wait, per engine.
    pub slowest_wait: Vec<(EngineKind, Duration)>,
    /// Part 2: the cores, and requests per second with `cores` and with
    /// `4 x cores` client threads.
    pub cores: usize,
    /// `(client threads, requests per second)`.
    pub cpu_throughput: Vec<(usize, f64)>,
    /// Part 3: requests per second with CPU work and `4 x cores` client
    /// threads, on `reactor` and on `offload`.
    pub cpu_offload: Vec<(EngineKind, f64)>,
}

/// Run the demo.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    writeln!(
        out,
        "1. Every request sleeps {} (Work::Sleep); {} clients ask at once.",
        ms(params.sleep),
        params.clients
    )?;
    writeln!(out, "   Each client's wait, fastest to slowest:")?;
    let mut slowest_wait = Vec::new();
    for engine in [
        EngineKind::Reactor,
        EngineKind::Offload,
        EngineKind::Threaded,
        EngineKind::Pool,
    ] {
        let config = EngineConfig {
            work: Work::Sleep(params.sleep),
            ..EngineConfig::default()
        };
        let (server, addr) =
            start_tcp(engine, ServiceKind::Upper, ListenOptions::default(), config)?;
        let mut waits = concurrent_requests(addr, params.clients, 1)?;
        // Sorted, so the reactor's staircase (one sleep more per client) shows.
        waits.sort();
        let slowest = waits.last().copied().unwrap_or_default();
        let shown: Vec<String> = waits.iter().map(|w| format!("{:>9}", ms(*w))).collect();
        writeln!(out, "   {:<9}{}", engine.name(), shown.join(" "))?;
        slowest_wait.push((engine, slowest));
        server.shutdown()?;
    }
    writeln!(
        out,
        "   The reactor's single thread did every sleep in turn: one slow request"
    )?;
    writeln!(
        out,
        "   stalls every client. offload is that same loop thread, handing each"
    )?;
    writeln!(
        out,
        "   sleep to its worker pool: nobody waits for anybody."
    )?;
    writeln!(out)?;

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    writeln!(
        out,
        "2. Every request burns {} of CPU (Work::Cpu) on `threaded`;",
        ms(params.cpu)
    )?;
    writeln!(out, "   this machine has {cores} core(s).")?;
    let config = EngineConfig {
        work: Work::Cpu(params.cpu),
        ..EngineConfig::default()
    };
    let (server, addr) = start_tcp(
        EngineKind::Threaded,
        ServiceKind::Upper,
        ListenOptions::default(),
        config,
    )?;
    let mut cpu_throughput = Vec::new();
    for threads in [cores, cores * 4] {
        let per_thread = (params.cpu_requests / threads).max(1);
        let started = Instant::now();
        concurrent_requests(addr, threads, per_thread)?;
        let rate = (per_thread * threads) as f64 / started.elapsed().as_secs_f64();
        writeln!(
            out,
            "   {threads:>3} client threads: {rate:>7.0} requests/s"
        )?;
        cpu_throughput.push((threads, rate));
    }
    server.shutdown()?;
    writeln!(
        out,
        "   Once every core is busy, more threads only take turns."
    )?;
    writeln!(out, "   Threads hide waiting, not computing.")?;
    writeln!(out)?;

    let threads = cores * 4;
    writeln!(
        out,
        "3. The same CPU work, {threads} client threads, on the reactor and on offload"
    )?;
    writeln!(
        out,
        "   (its pool: {} workers).",
        crate::engine::default_workers()
    )?;
    let per_thread = (params.cpu_requests / threads).max(1);
    let mut cpu_offload = Vec::new();
    for engine in [EngineKind::Reactor, EngineKind::Offload] {
        let config = EngineConfig {
            work: Work::Cpu(params.cpu),
            ..EngineConfig::default()
        };
        let (server, addr) =
            start_tcp(engine, ServiceKind::Upper, ListenOptions::default(), config)?;
        let started = Instant::now();
        concurrent_requests(addr, threads, per_thread)?;
        let rate = (per_thread * threads) as f64 / started.elapsed().as_secs_f64();
        writeln!(out, "   {:<9} {rate:>7.0} requests/s", engine.name())?;
        cpu_offload.push((engine, rate));
        server.shutdown()?;
    }
    writeln!(
        out,
        "   Offloading computation buys at most the {cores} core(s) this machine has,"
    )?;
    writeln!(
        out,
        "   shared here with the clients: a pool cannot make CPUs."
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Open src/engine/work.rs, the `work.perform` calls in src/engine/reactor.rs"
    )?;
    writeln!(out, "and blocking.rs, and src/engine/offload.rs.")?;
    Ok(Report {
        slowest_wait,
        cores,
        cpu_throughput,
        cpu_offload,
    })
}

/// `clients` threads, each on its own connection, each sending `requests`
/// lines one after another, all starting together. Returns each thread's
/// total time.
pub(super) fn concurrent_requests(
    addr: SocketAddr,
    clients: usize,
    requests: usize,
) -> io::Result<Vec<Duration>> {
    let mut streams = (0..clients)
        .map(|_| connect(addr))
        .collect::<io::Result<Vec<_>>>()?;
    let barrier = std::sync::Barrier::new(clients);
    std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .iter_mut()
            .map(|stream| {
                let barrier = &barrier;
                scope.spawn(move || -> io::Result<Duration> {
                    barrier.wait();
                    let started = Instant::now();
                    for _ in 0..requests {
                        ask_line(stream, b"work\n")?;
                    }
                    Ok(started.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| io::Error::other("client thread panicked"))?
            })
            .collect()
    })
}
