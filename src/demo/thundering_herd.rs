//! `thundering-herd`: one connection arrives where several waiters sleep
//! on one port; how many does the kernel wake?
//!
//! Stevens' prefork servers (UNP ch. 30, rows 2 to 4) have every child
//! block in `accept` on one listening socket. On the kernels of the book,
//! one arriving connection woke every child, all but one went back to
//! sleep (the thundering herd), which is why rows 3 and 4 put a lock around
//! `accept`. The demo counts the woken waiters for five ways to wait: plain
//! `accept`, `accept` under a `flock`, `epoll_wait` on a shared listener
//! with and without `EPOLLEXCLUSIVE`, and `SO_REUSEPORT` (one listener
//! each). A waiter "woke" when its voluntary context switches (from
//! `/proc/self/task/TID/status`) grew: it ran, and slept again.
//!
//! The waiters are threads: the kernel wakes tasks on a socket's wait
//! queue, and a thread is a task as a child process is (the engines
//! `prefork-accept` and `prefork-flock` are the process version).

use std::fs::File;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{connect, loopback_any_port, CLIENT_TIMEOUT};
use crate::engine::listener::{bind_tcp, bind_tcp_group, Listener};
use crate::engine::ListenOptions;

/// The five ways to wait for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Every waiter blocks in `accept` on one listener.
    Accept,
    /// Every waiter takes a `flock` first; the holder blocks in `accept`.
    AcceptUnderFlock,
    /// Every waiter has its own epoll instance watching one listener.
    Epoll,
    /// The same, registered with `EPOLLEXCLUSIVE` (Linux 4.5).
    EpollExclusive,
    /// Every waiter blocks in `accept` on its own `SO_REUSEPORT` listener.
    ReusePort,
}

impl Wait {
    /// Every way, in the order the demo shows them.
    pub const ALL: [Wait; 5] = [
        Wait::Accept,
        Wait::AcceptUnderFlock,
        Wait::Epoll,
        Wait::EpollExclusive,
        Wait::ReusePort,
    ];

    fn label(self) -> &'static str {
        match self {
            Wait::Accept => "accept, no lock",
            Wait::AcceptUnderFlock => "accept under a flock",
            Wait::Epoll => "epoll_wait, one listener",
            Wait::EpollExclusive => "epoll_wait, EPOLLEXCLUSIVE",
            Wait::ReusePort => "accept, SO_REUSEPORT",
        }
    }
}

/// The demo's settings.
#[derive(Debug, Clone)]
pub struct Params {
    /// Waiters per case.
    pub waiters: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params { waiters: 4 }
    }
}

/// What one case measured.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// How the waiters waited.
    pub wait: Wait,
    /// How many waited.
    pub waiters: usize,
    /// How many woke for the one connection.
    pub woke: usize,
    /// How many accepted it (one, or the connection was lost).
    pub accepted: usize,
}

/// What was measured.
#[derive(Debug)]
pub struct Report {
    /// One case per way to wait, in [`Wait::ALL`] order.
    pub cases: Vec<Case>,
}

/// Run the demo.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    writeln!(
        out,
        "One connection arrives; {} threads wait for it on one port. Woken: the",
        params.waiters
    )?;
    writeln!(
        out,
        "waiters whose voluntary context switches grew (they ran, then slept)."
    )?;
    writeln!(out)?;
    let mut cases = Vec::new();
    for wait in Wait::ALL {
        let case = measure(wait, params.waiters)?;
        writeln!(
            out,
            "  {:<27} woke {} of {}, accepted {}",
            wait.label(),
            case.woke,
            case.waiters,
            case.accepted
        )?;
        cases.push(case);
    }
    writeln!(out)?;
    for line in [
        "The book's kernels woke every child asleep in accept for each connection,",
        "hence the lock around accept in its rows 3 and 4. Linux wakes one accept",
        "waiter (an exclusive wait, since the 2.4 kernels): no lock is needed, and",
        "a lock adds wake-ups of its own: the holder's release wakes the threads",
        "queued on the flock, which race for it. epoll still wakes every epoll",
        "instance that watches the listener, unless registered",
        "with EPOLLEXCLUSIVE (Linux 4.5), or each worker has its own listener",
        "(SO_REUSEPORT, Linux 3.9: the kernel picks one by a hash of the addresses).",
        "Open src/engine/prefork_accept.rs and src/engine/prefork_flock.rs.",
    ] {
        writeln!(out, "{line}")?;
    }
    Ok(Report { cases })
}

/// Shared by a case's waiters and the demo.
#[derive(Debug, Default)]
struct Shared {
    is_stopping: AtomicBool,
    accepted: AtomicUsize,
}

/// Start `waiters` threads waiting the `wait` way, send one connection,
/// and count who woke.
fn measure(wait: Wait, waiters: usize) -> io::Result<Case> {
    let listeners: Vec<Arc<Listener>> = match wait {
        Wait::ReusePort => bind_tcp_group(loopback_any_port(), ListenOptions::default(), waiters)?
            .into_iter()
            .map(Arc::new)
            .collect(),
        _ => vec![Arc::new(bind_tcp(
            loopback_any_port(),
            ListenOptions::default(),
        )?)],
    };
    let addr: SocketAddr = match listeners[0].local_addr()? {
        crate::engine::ListenAddr::Tcp(addr) => addr,
        other => return Err(io::Error::other(format!("a TCP listener, not {other}"))),
    };
    if matches!(wait, Wait::Epoll | Wait::EpollExclusive) {
        listeners[0].set_nonblocking(true)?;
    }
    let lock_path = std::env::temp_dir().join(format!(
        "sockbench-herd-{}-{}",
        std::process::id(),
        addr.port()
    ));
    let shared = Arc::new(Shared::default());
    let (tids_tx, tids) = crossbeam_channel::unbounded();
    let (accepted_tx, accepted) = crossbeam_channel::unbounded();
    let mut threads = Vec::new();
    for i in 0..waiters {
        let listener = Arc::clone(&listeners[i % listeners.len()]);
        let shared = Arc::clone(&shared);
        let (tids_tx, accepted_tx) = (tids_tx.clone(), accepted_tx.clone());
        let lock = match wait {
            Wait::AcceptUnderFlock => Some(
                File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)?,
            ),
            _ => None,
        };
        threads.push(std::thread::spawn(move || -> io::Result<()> {
            // SAFETY: gettid has no preconditions.
            let _ = tids_tx.send(unsafe { libc::gettid() });
            let mut on_accept = || {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let _ = accepted_tx.send(());
            };
            match wait {
                Wait::Epoll | Wait::EpollExclusive => wait_in_epoll(
                    &listener,
                    wait == Wait::EpollExclusive,
                    &shared,
                    &mut on_accept,
                ),
                _ => wait_in_accept(&listener, lock.as_ref(), &shared, &mut on_accept),
            }
        }));
    }
    drop((tids_tx, accepted_tx));
    let tids: Vec<i32> = tids.iter().take(waiters).collect();
    let outcome = (|| -> io::Result<usize> {
        wait_until_all_asleep(&tids)?;
        let before = switches(&tids)?;
        let _client = connect(addr)?;
        accepted
            .recv_timeout(CLIENT_TIMEOUT)
            .map_err(|_| io::Error::other("nobody accepted the connection"))?;
        wait_until_all_asleep(&tids)?;
        let after = switches(&tids)?;
        Ok(before.iter().zip(&after).filter(|(b, a)| a > b).count())
    })();
    shared.is_stopping.store(true, Ordering::SeqCst);
    for listener in &listeners {
        // Every waiter's accept or epoll_wait returns: the demo's end.
        let _ = listener.shutdown_accept();
    }
    for thread in threads {
        let _ = thread.join();
    }
    let _ = std::fs::remove_file(&lock_path);
    Ok(Case {
        wait,
        waiters,
        woke: outcome?,
        accepted: shared.accepted.load(Ordering::SeqCst),
    })
}

/// Block in `accept` (under `lock`'s flock, if any) until the stop.
fn wait_in_accept(
    listener: &Listener,
    lock: Option<&File>,
    shared: &Shared,
    on_accept: &mut dyn FnMut(),
) -> io::Result<()> {
    while !shared.is_stopping.load(Ordering::SeqCst) {
        if let Some(file) = lock {
            flock(file.as_raw_fd(), libc::LOCK_EX)?;
        }
        let accepted = listener.accept();
        if let Some(file) = lock {
            flock(file.as_raw_fd(), libc::LOCK_UN)?;
        }
        if accepted.is_ok() {
            on_accept();
        }
    }
    Ok(())
}

/// Block in `epoll_wait` on an epoll instance of this waiter's own that
/// watches the shared listener; accept when woken (one wins, the others
/// find nothing), until the stop.
fn wait_in_epoll(
    listener: &Listener,
    exclusive: bool,
    shared: &Shared,
    on_accept: &mut dyn FnMut(),
) -> io::Result<()> {
    // SAFETY: a new epoll descriptor, closed below.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = libc::EPOLLIN as u32
        | if exclusive {
            libc::EPOLLEXCLUSIVE as u32
        } else {
            0
        };
    let mut event = libc::epoll_event {
        events: flags,
        u64: 0,
    };
    // SAFETY: valid descriptors and event.
    if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, listener.as_raw_fd(), &mut event) } < 0
    {
        let err = io::Error::last_os_error();
        // SAFETY: ours to close.
        unsafe { libc::close(epoll) };
        return Err(err);
    }
    while !shared.is_stopping.load(Ordering::SeqCst) {
        let mut ready = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: room for one event.
        if unsafe { libc::epoll_wait(epoll, &mut ready, 1, -1) } > 0 && listener.accept().is_ok() {
            on_accept();
        }
    }
    // SAFETY: ours to close.
    unsafe { libc::close(epoll) };
    Ok(())
}

fn flock(fd: RawFd, operation: i32) -> io::Result<()> {
    // SAFETY: flock on a descriptor this thread's File owns.
    if unsafe { libc::flock(fd, operation) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Wait (bounded) until every thread in `tids` sleeps (state `S`): then
/// each is blocked where it waits, and any woken one has slept again.
fn wait_until_all_asleep(tids: &[i32]) -> io::Result<()> {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        let mut asleep = 0;
        for tid in tids {
            let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))?;
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.trim_start().chars().next());
            asleep += usize::from(state == Some('S'));
        }
        if asleep == tids.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the waiters never slept",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Each thread's voluntary context switches so far.
fn switches(tids: &[i32]) -> io::Result<Vec<u64>> {
    tids.iter()
        .map(|tid| {
            let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status"))?;
            crate::sys::proc::status_field(&status, "voluntary_ctxt_switches:")
                .ok_or_else(|| io::Error::other("no voluntary_ctxt_switches in /proc"))
        })
        .collect()
}
