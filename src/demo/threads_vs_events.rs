//! `threads-vs-events`: what an idle connection costs each model.
//!
//! Hold N idle connections (default 2,000) on `threaded`, then on `reactor`,
//! each engine running as a server process of its own (`sockbench serve`),
//! and read that process's thread count and resident memory (RSS) from
//! `/proc/PID/status` before and after, plus the kernel's memory for the
//! sockets as the scenarios of `compare` read it ([`KernelMemory`]): the
//! slab caches that hold the socket structures, and the pages of socket
//! buffers (`TCP: mem`), which an idle socket does not hold. Threaded pays
//! one OS thread (a stack, a kernel task) per client; the reactor pays a
//! slab entry; both pay the kernel for the sockets.
//!
//! A process of its own per engine, because measured in one process the
//! second engine reuses the heap the first one freed and shows almost
//! nothing. The clients live in this process: N connections need N
//! descriptors here and N in the server; the soft open-file limit is raised
//! to the hard one first (servers inherit it), and N is lowered (and the
//! narrative says so) if that is not enough.

use std::io::{self, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;

use super::{ask_line, connect, process_status_of};
use crate::engine::{EngineKind, ListenAddr};
use crate::sys::netstat::KernelMemory;
use crate::sys::process::{ServerProcess, READY_TIMEOUT, STOP_TIMEOUT};

/// Descriptors kept free for everything else the process opens.
const SPARE_DESCRIPTORS: u64 = 64;

/// Settings.
#[derive(Debug, Clone)]
pub struct Params {
    /// Idle connections to hold on each engine.
    pub connections: usize,
    /// The `sockbench` binary that serves each engine.
    pub server_exe: PathBuf,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            connections: 2_000,
            // Run from the `sockbench` binary, this is that binary.
            server_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sockbench")),
        }
    }
}

/// One engine's cost.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// The engine measured.
    pub engine: EngineKind,
    /// Threads the server process gained holding the connections.
    pub threads_added: usize,
    /// Resident memory the server process gained, in KiB.
    pub rss_added_kib: u64,
    /// Kernel slab caches gained (the socket structures, both ends, and
    /// for threaded the kernel tasks), in KiB; machine-wide, so other work
    /// on the machine shows up in it.
    pub slab_added_kib: u64,
    /// TCP socket buffer pages gained, both ends, in KiB (machine-wide
    /// `TCP: mem`): none for sockets with nothing queued.
    pub tcp_buffers_added_kib: u64,
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
    let limit = crate::sys::limits::raise_descriptor_limit(u64::MAX)?;
    let affordable = limit.saturating_sub(SPARE_DESCRIPTORS) as usize;
    let connections = params.connections.min(affordable);
    if connections < params.connections {
        writeln!(
            out,
            "Open-file limit is {limit}: holding {connections} connections, not {}.",
            params.connections
        )?;
        writeln!(out, "Raise `ulimit -n` to hold them all.")?;
    }
    writeln!(
        out,
        "Holding {connections} idle connections on each engine, each its own server process."
    )?;
    writeln!(
        out,
        "  engine    threads   server RSS  per conn  kernel slab  per conn  buffers"
    )?;
    let mut costs = Vec::new();
    for engine in [EngineKind::Threaded, EngineKind::Reactor] {
        let mut command = Command::new(&params.server_exe);
        command.args(["serve", "--engine", engine.name(), "--service", "upper"]);
        command.args(["--addr", "127.0.0.1:0", "--max-connections"]);
        command.arg((connections + 1).to_string());
        let server = ServerProcess::start(command, READY_TIMEOUT)?;
        let ListenAddr::Tcp(addr) = *server.addr() else {
            return Err(io::Error::other("the server did not listen on TCP"));
        };
        let pid = server.pid().to_string();
        let (before, kernel_before) = (process_status_of(&pid)?, KernelMemory::read()?);
        let clients = open_idle_clients(addr, connections)?;
        let (during, kernel_during) = (process_status_of(&pid)?, KernelMemory::read()?);
        let cost = Cost {
            engine,
            threads_added: during.threads.saturating_sub(before.threads),
            rss_added_kib: during.rss_kib.saturating_sub(before.rss_kib),
            slab_added_kib: kernel_during
                .slab_kib
                .saturating_sub(kernel_before.slab_kib),
            tcp_buffers_added_kib: kernel_during
                .tcp_buffers_kib
                .saturating_sub(kernel_before.tcp_buffers_kib),
        };
        let per = |kib: u64| kib as f64 / connections.max(1) as f64;
        writeln!(
            out,
            "  {:<9} {:>+7} {:>+8} KiB {:>5.1} KiB {:>+8} KiB {:>5.1} KiB {:>+4} KiB",
            engine.name(),
            cost.threads_added,
            cost.rss_added_kib,
            per(cost.rss_added_kib),
            cost.slab_added_kib,
            per(cost.slab_added_kib),
            cost.tcp_buffers_added_kib,
        )?;
        costs.push(cost);
        drop(clients);
        server.stop(STOP_TIMEOUT)?;
    }
    writeln!(
        out,
        "Threaded: one thread per client, each with its own stack. Reactor: one for all."
    )?;
    writeln!(
        out,
        "The kernel holds both ends of every loopback connection, in either model:"
    )?;
    writeln!(
        out,
        "slab (/proc/meminfo Slab) is the socket structures, plus for threaded each"
    )?;
    writeln!(
        out,
        "thread's kernel task; buffers (TCP: mem in /proc/net/sockstat) are pages of"
    )?;
    writeln!(
        out,
        "queued data, none when idle. Both machine-wide: other work shows in them too."
    )?;
    writeln!(out, "Compare src/engine/threaded.rs (spawn per accept)")?;
    writeln!(out, "   with src/engine/reactor.rs (a slab entry).")?;
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
