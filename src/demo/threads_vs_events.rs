//! `threads-vs-events`: what an idle connection costs each model.
//!
//! Hold N idle connections (default 2,000) on `threaded`, then on `reactor`,
//! and read this process's thread count and resident memory (RSS) from
//! `/proc/self/status` before and after. Threaded pays one OS thread (a
//! stack, a kernel task) per client; the reactor pays a slab entry.
//!
//! Both ends of every connection live in this process, so N connections
//! need 2N descriptors: the soft open-file limit is raised to the hard one
//! first, and N is lowered (and the narrative says so) if that is not
//! enough.

use std::io::{self, Write};
use std::net::TcpStream;

use super::{ask_line, connect, process_status, start_tcp};
use crate::engine::{EngineConfig, EngineKind, ListenOptions};
use crate::service::ServiceKind;

/// Descriptors kept free for everything else the process opens.
const SPARE_DESCRIPTORS: u64 = 64;

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Idle connections to hold on each engine.
    pub connections: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params { connections: 2_000 }
    }
}

/// One engine's cost.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// The engine measured.
    pub engine: EngineKind,
    /// Threads the process gained holding the connections.
    pub threads_added: usize,
    /// Resident memory gained, in KiB.
    pub rss_added_kib: u64,
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Connections actually held (lower than asked if descriptors ran short).
    pub connections: usize,
    /// Threaded first, then reactor.
    pub costs: Vec<Cost>,
}

/// Run the demo.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    let limit = raise_open_file_limit()?;
    let affordable = (limit.saturating_sub(SPARE_DESCRIPTORS) / 2) as usize;
    let connections = params.connections.min(affordable);
    if connections < params.connections {
        writeln!(out, "Open-file limit is {limit}: holding {connections} connections instead of {} (raise `ulimit -n`).", params.connections)?;
    }
    writeln!(
        out,
        "Holding {connections} idle connections on each engine (both ends in this process)."
    )?;
    let mut costs = Vec::new();
    for engine in [EngineKind::Threaded, EngineKind::Reactor] {
        let before = process_status()?;
        let (server, addr) = start_tcp(
            engine,
            ServiceKind::Upper,
            ListenOptions::default(),
            EngineConfig::default(),
        )?;
        let clients = open_idle_clients(addr, connections)?;
        let during = process_status()?;
        let cost = Cost {
            engine,
            threads_added: during.threads.saturating_sub(before.threads),
            rss_added_kib: during.rss_kib.saturating_sub(before.rss_kib),
        };
        writeln!(
            out,
            "  {:<9} threads +{:<6} RSS +{:>7} KiB   {:>6.1} KiB per connection (client side included)",
            engine.name(),
            cost.threads_added,
            cost.rss_added_kib,
            cost.rss_added_kib as f64 / connections.max(1) as f64
        )?;
        costs.push(cost);
        drop(clients);
        server.shutdown()?;
    }
    writeln!(
        out,
        "Threaded: one thread per client, each with its own stack. Reactor: one thread for all."
    )?;
    writeln!(out, "Compare src/engine/threaded.rs (spawn per accept) with src/engine/reactor.rs (a slab entry).")?;
    Ok(Report { connections, costs })
}

/// Connect `n` clients, each exchanging one line so the server has really
/// accepted it (and, for threaded, started its thread), then leave them idle.
fn open_idle_clients(addr: std::net::SocketAddr, n: usize) -> io::Result<Vec<TcpStream>> {
    (0..n)
        .map(|_| {
            let mut client = connect(addr)?;
            ask_line(&mut client, b"x\n")?;
            Ok(client)
        })
        .collect()
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now.
fn raise_open_file_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Ok(limit.rlim_cur)
}
