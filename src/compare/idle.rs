//! Idle connections (`--idle N`): open and silent beside a cell's active
//! ones, the load `select(2)` and `poll(2)` pay for and epoll does not.
//!
//! They are opened by this process, not by the load generator: they send
//! nothing, so they need no event loop, and the load's figures stay those
//! of the active connections alone. Order, for a cell with `idle > 0`:
//!
//! 1. read the server's own count of open sockets (`/proc`: its listener,
//!    maybe a connection still closing);
//! 2. open the idle connections, then wait until the server holds at
//!    least that many sockets and its listener: they are accepted, not
//!    queued in the backlog, so the server watches every one of them for
//!    the whole window (what it had before may include the last cell's
//!    connections, still closing, so the count asked for does not add it);
//! 3. run the load (its warmup, its window);
//! 4. close them, and wait until the server's count is back where it
//!    began, so the next cell does not start with this one's leftovers.
//!
//! Each is a descriptor of this process too: the matrix's descriptor
//! budget counts them ([`super::runner::prepare_client`]).

use std::io;
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use super::served::Served;
use crate::engine::ListenAddr;
use crate::sys::proc;

/// Longest wait for the server to take up, or let go of, every idle
/// connection: 10,000 accepts or closes take well under a second.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server whose count has not moved for this long has stopped taking
/// them up (out of threads, say): waiting longer would not help.
const STALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest wait for one idle connection to be established.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How often the server's socket count is read while waiting: a count
/// is a `readlink` per descriptor, some 10 ms at 10,000.
const RECOUNT_EVERY: Duration = Duration::from_millis(20);

/// Idle connections to one server, open until [`IdleConnections::close`].
#[derive(Debug)]
pub struct IdleConnections {
    sockets: Vec<OwnedFd>,
    /// The server's socket count before they were opened.
    server_sockets_before: u64,
}

impl IdleConnections {
    /// Open `count` connections to `server` and wait until it holds them
    /// all; none for `count == 0`, without reading the server's count.
    pub fn open(server: Served<'_>, count: usize) -> io::Result<IdleConnections> {
        if count == 0 {
            return Ok(IdleConnections {
                sockets: Vec::new(),
                server_sockets_before: 0,
            });
        }
        let before = server_sockets(server)?;
        let mut sockets = Vec::with_capacity(count);
        for opened in 0..count {
            let socket = connect(server.addr).map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!(
                        "idle connection {} of {count} failed after {opened} opened: {err} \
                         (a descriptor limit? see `ulimit -n`, or ask for fewer with --idle)",
                        opened + 1
                    ),
                )
            })?;
            sockets.push(socket);
        }
        // The idle connections and the listener.
        let wanted = count as u64 + 1;
        wait_for_count(server, |held| held >= wanted).map_err(|held| {
            io::Error::other(format!(
                "the server holds {held} sockets, not the {wanted} of {count} idle connections and \
                 its listener: it stopped taking them up, or turns them away"
            ))
        })?;
        Ok(IdleConnections {
            sockets,
            server_sockets_before: before,
        })
    }

    /// How many are open.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Close them all, and wait until the server has closed its ends too
    /// (its socket count is back to what it was before they were opened).
    pub fn close(self, server: Served<'_>) -> io::Result<()> {
        if self.sockets.is_empty() {
            return Ok(());
        }
        let count = self.sockets.len();
        drop(self.sockets);
        let before = self.server_sockets_before;
        wait_for_count(server, |held| held <= before).map_err(|held| {
            io::Error::other(format!(
                "the server still holds {held} sockets after {count} idle connections were \
                 closed, not the {before} it had before: it has not seen the ends of some"
            ))
        })
    }
}

/// The server's open sockets now (its whole process tree), from `/proc`.
pub fn server_sockets(server: Served<'_>) -> io::Result<u64> {
    let pid = server.pid.ok_or_else(|| {
        io::Error::other("a --target's sockets cannot be counted: hold idle connections beside a server compare starts")
    })?;
    proc::tree_holding(pid, true)?
        .sockets
        .ok_or_else(|| io::Error::other("the server's sockets could not be counted in /proc"))
}

/// Read the server's socket count until `is_settled` holds for it, at
/// most [`SETTLE_TIMEOUT`], or [`STALL_TIMEOUT`] without a change; the
/// last count when it never did. Polled: the server's count is only to
/// be had from `/proc`, with no signal of change.
fn wait_for_count(server: Served<'_>, is_settled: impl Fn(u64) -> bool) -> Result<(), u64> {
    let started = Instant::now();
    let mut last = None;
    let mut last_change = started;
    loop {
        let held = server_sockets(server).unwrap_or(0);
        if is_settled(held) {
            return Ok(());
        }
        if last != Some(held) {
            last = Some(held);
            last_change = Instant::now();
        }
        if started.elapsed() >= SETTLE_TIMEOUT || last_change.elapsed() >= STALL_TIMEOUT {
            return Err(held);
        }
        thread::sleep(RECOUNT_EVERY);
    }
}

/// One connection to `addr`, as a bare descriptor: it is never read or
/// written, only held and closed.
fn connect(addr: &ListenAddr) -> io::Result<OwnedFd> {
    match addr {
        ListenAddr::Tcp(addr) => Ok(TcpStream::connect_timeout(addr, CONNECT_TIMEOUT)?.into()),
        ListenAddr::Unix(path) => Ok(UnixStream::connect(path)?.into()),
        ListenAddr::Udp(addr) => Err(io::Error::other(format!(
            "{addr} is UDP: there are no connections to hold idle"
        ))),
    }
}
