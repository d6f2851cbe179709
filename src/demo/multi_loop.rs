//! `multi-loop`: one reactor loop, then two, on the machine we have.
//!
//! `reactor --loops 2` runs two self-contained loops, each on its own
//! `SO_REUSEPORT` listener; the kernel spreads the clients over them (the
//! engine prints the count per loop when it stops, under the rate). A second loop can
//! only help if there is a second core for it to run on, and here the
//! clients of this demo run on the same cores as the server:
//!
//! 1. Every request burns CPU on the server (`Work::Cpu`): the server is
//!    the bottleneck, so a second loop has real work to take over, up to
//!    what the cores left over by the clients allow.
//! 2. No work: answering costs about as much as asking, so clients and
//!    loops take turns on the same cores, and a second loop mostly waits
//!    for them.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::blocking_work::concurrent_requests;
use super::loopback_any_port;
use crate::engine::{self, EngineConfig, EngineKind, ListenOptions, Work};
use crate::service::{self, ServiceKind, ServiceLimits};

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Client threads, each with its own connection.
    pub clients: usize,
    /// Requests per client thread, per run.
    pub requests: usize,
    /// CPU per request, part 1.
    pub cpu: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            clients: 8,
            requests: 200,
            cpu: Duration::from_micros(500),
        }
    }
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Cores this process may use.
    pub cores: usize,
    /// `(work, loops, requests per second)` for each run.
    pub rates: Vec<(Work, usize, f64)>,
}

/// Run the demo.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    writeln!(
        out,
        "{} client threads against `reactor` with 1 loop, then 2;",
        params.clients
    )?;
    writeln!(
        out,
        "this machine has {cores} core(s), shared by the loops and the clients."
    )?;
    let mut rates = Vec::new();
    for (part, work) in [(1, Work::Cpu(params.cpu)), (2, Work::None)] {
        writeln!(out)?;
        writeln!(out, "{part}. work {work}:")?;
        let mut one_loop_rate = None;
        for loops in [1, 2] {
            let (rate, server) = measure(params, work, loops)?;
            let versus = one_loop_rate
                .map(|one: f64| format!("  ({:.2}x one loop)", rate / one))
                .unwrap_or_default();
            writeln!(out, "  {loops} loop(s): {rate:>7.0} requests/s{versus}")?;
            // The engine prints its connections per loop as it stops: after
            // the rate it belongs to, not in the middle of another line.
            out.flush()?;
            server.shutdown()?;
            one_loop_rate.get_or_insert(rate);
            rates.push((work, loops, rate));
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "What {cores} shared core(s) allow: a second loop helps only while the server's"
    )?;
    writeln!(
        out,
        "own work is the bottleneck and a core is free for it; when the clients cost"
    )?;
    writeln!(
        out,
        "as much CPU as the server (part 2), loops and clients take turns on the cores."
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "`sockbench compare --engines reactor,reactor-x2,tokio --connections 100,1000`"
    )?;
    writeln!(
        out,
        "measures it with the load generator's own cost beside it (not with --pin,"
    )?;
    writeln!(
        out,
        "which puts the whole server, both loops, on one core)."
    )?;
    writeln!(out, "Open src/engine/reactor.rs (spawn_loops).")?;
    Ok(Report { cores, rates })
}

/// Requests per second of `params.clients` threads against the reactor
/// with `loops` loops, every request costing `work`, and the server, still
/// running, for the caller to stop once it has said so.
fn measure(params: &Params, work: Work, loops: usize) -> io::Result<(f64, engine::Server)> {
    let listeners =
        engine::listener::bind_tcp_group(loopback_any_port(), ListenOptions::default(), loops)?;
    let config = EngineConfig {
        work,
        ..EngineConfig::default()
    };
    let echo = service::build(ServiceKind::Upper, ServiceLimits::default());
    let server = engine::start_loops(EngineKind::Reactor, listeners, echo, config)?;
    let addr = server
        .tcp_addr()
        .ok_or_else(|| io::Error::other("a TCP server has an IP address"))?;
    let started = Instant::now();
    concurrent_requests(addr, params.clients, params.requests)?;
    let rate = (params.clients * params.requests) as f64 / started.elapsed().as_secs_f64();
    Ok((rate, server))
}
