//! What Stevens' process designs share (`fork`, `prefork-accept`,
//! `-flock`, `-mutex`, `-pass`): the parent's supervisor (fork children,
//! wait, reap, stop them all, restart none) and the child's side (what it
//! does right after `fork`, its stop signal, its serving loop, its exit).
//!
//! How to read it: [`super::run_process_design`] picks the design (and
//! [`super::start`] runs it on a thread of its own); each design's own file says
//! only how a child gets its next connection. [`Supervisor`] is the parent:
//! it waits in `poll(2)` on its stop pipe, a pipe SIGCHLD writes to, and
//! whatever the design adds (the listener for `fork`, the children's
//! channels for `prefork-pass`). [`serve_children_loop`] is every prefork
//! child: get a connection, serve it to its end with the blocking loop of
//! [`super::blocking`], print the spread line when stopped.
//!
//! Rules the child follows, and why:
//! - **The parent forks while single-threaded.** After `fork` only the
//!   forking thread exists in the child; a lock another thread held at that
//!   moment (the allocator's, stdio's, a logger's) stays locked for ever,
//!   which is why POSIX allows only async-signal-safe calls there. What we
//!   found in `sockbench serve`: before an engine starts it has one thread
//!   (env_logger and the descriptor limit start none; signal-hook's
//!   `Signals` would not either, but is not used for these designs); the
//!   engine thread, the stats of `compare` and the `--trace` sink come
//!   later or not at all. So `serve` runs these designs on its main thread
//!   ([`super::run_process_design`]), their signals reaching it through a pipe
//!   ([`stop_on_signals`]), and the parent never starts a thread: a child
//!   may then do anything. In-process (the test suites, [`super::start`]) the
//!   parent is a thread of a process with others; there the child takes no
//!   lock another thread could hold: glibc's allocator re-arms its locks
//!   across `fork`, the spread line is one `write(2)` ([`super::kit`]),
//!   tests install no logger.
//! - **It closes every descriptor it does not need** (the book's child
//!   closes the listening socket too): a child of a busy process would
//!   otherwise hold other connections open, and their clients would never
//!   see end of stream.
//! - **It leaves with `_exit`**, never by returning: the parent's
//!   destructors (a Unix listener removes its socket file, a server joins
//!   its threads) must run once, in the parent, not once per child.
//! - **Its stop is a signal**: SIGTERM (or SIGINT) sets a flag and shuts
//!   down the read side of what the child blocks on, both async-signal-safe
//!   calls, so a blocked `read` sees end of input (the session flushes its
//!   last replies, as in [`super::blocking`]) and a blocked `accept` fails.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::SIGCHLD;
use signal_hook::SigId;

use super::blocking::serve_and_log;
use super::kit::{report_served, AcceptBackoff};
use super::listener::Stream;
use super::{EngineConfig, Listener};
use crate::io_util::{interrupted, is_connection_error};
use crate::service::{Peer, Service};

/// Time allowed past the grace period before a stopping child is killed.
const STOP_SLACK: Duration = Duration::from_secs(2);

/// Asks a running process design to stop (idempotent, from any thread).
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<UnixStream>);

impl StopHandle {
    /// Ask for the stop: one byte on the supervisor's pipe.
    pub fn stop(&self) {
        let _ = (&*self.0).write(&[1]);
    }
}

/// The supervisor's end of the stop pipe.
#[derive(Debug)]
pub struct StopSignal(UnixStream);

/// A stop pipe: the handle writes, the supervisor polls.
pub fn stop_channel() -> io::Result<(StopHandle, StopSignal)> {
    let (write, read) = UnixStream::pair()?;
    write.set_nonblocking(true)?;
    Ok((StopHandle(Arc::new(write)), StopSignal(read)))
}

/// Make each of `signals` fire `handle`: signal-hook writes a byte to the
/// stop pipe from the handler (async-signal-safe), no thread involved.
pub fn stop_on_signals(handle: &StopHandle, signals: &[i32]) -> io::Result<()> {
    for &signal in signals {
        signal_hook::low_level::pipe::register(signal, handle.0.try_clone()?)?;
    }
    Ok(())
}

/// One child the supervisor watches.
#[derive(Debug)]
struct ChildProcess {
    /// Its index (W in its spread line).
    index: usize,
    pid: libc::pid_t,
}

/// What woke the supervisor.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// A stop was asked for.
    Stop,
    /// The design's descriptor at this position of `extra` is ready.
    Ready(usize),
    /// Something else (a child ended and was reaped, or a signal).
    Other,
}

/// The parent of a process design: its children, its stop pipe and the
/// pipe SIGCHLD writes to.
pub struct Supervisor {
    children: Vec<ChildProcess>,
    stop: StopSignal,
    child_ended: UnixStream,
    child_ended_id: SigId,
    grace: Duration,
    parent_pid: libc::pid_t,
    /// Run at the first [`wait`](Self::wait): by then the design has
    /// forked the children it starts with.
    pub on_ready: Option<Box<dyn FnOnce()>>,
    /// Whether a child ending is news (a prefork child should not end
    /// before the stop) or routine (`fork`'s children end with their client).
    pub child_exit_is_routine: bool,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("children", &self.children)
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A supervisor stopped by `stop`, giving children `grace` to finish.
    pub fn new(stop: StopSignal, grace: Duration) -> io::Result<Supervisor> {
        let (write, read) = UnixStream::pair()?;
        write.set_nonblocking(true)?;
        read.set_nonblocking(true)?;
        let child_ended_id = signal_hook::low_level::pipe::register(SIGCHLD, write)?;
        Ok(Supervisor {
            children: Vec::new(),
            stop,
            child_ended: read,
            child_ended_id,
            grace,
            // SAFETY: getpid has no preconditions.
            parent_pid: unsafe { libc::getpid() },
            child_exit_is_routine: false,
            on_ready: None,
        })
    }

    /// Children alive (forked and not yet reaped).
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// Whether no child is alive.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Fork child `index`, which keeps descriptors 0 to 2 and `keep`
    /// (closing every other), then runs `body` and exits. `body` never
    /// returns to the parent's code.
    pub fn fork_child(
        &mut self,
        index: usize,
        keep: &[RawFd],
        body: impl FnOnce() -> i32,
    ) -> io::Result<libc::pid_t> {
        // SAFETY: the child runs only `after_fork` and `body` (see the
        // module's rules), then `_exit`s without unwinding into our caller.
        let pid = unsafe { libc::fork() };
        match pid {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                after_fork(self.parent_pid, keep);
                let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
                    .unwrap_or(libc::EXIT_FAILURE);
                // SAFETY: ends this child without running the parent's
                // destructors or flushing its copies of the parent's buffers.
                unsafe { libc::_exit(status) }
            }
            pid => {
                self.children.push(ChildProcess { index, pid });
                Ok(pid)
            }
        }
    }

    /// Wait until a stop, a ready descriptor among `extra` (each polled for
    /// reading), or a child's end, which is reaped here.
    pub fn wait(&mut self, extra: &[RawFd]) -> io::Result<Wake> {
        if let Some(on_ready) = self.on_ready.take() {
            on_ready();
        }
        let mut fds: Vec<libc::pollfd> = [self.stop.0.as_raw_fd(), self.child_ended.as_raw_fd()]
            .iter()
            .chain(extra)
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if interrupted(&err) {
                Ok(Wake::Other)
            } else {
                Err(err)
            };
        }
        if fds[1].revents != 0 {
            drain(&self.child_ended);
            self.reap();
        }
        if fds[0].revents != 0 {
            return Ok(Wake::Stop);
        }
        Ok(fds[2..]
            .iter()
            .position(|fd| fd.revents != 0)
            .map_or(Wake::Other, Wake::Ready))
    }

    /// Wait for the stop, reaping (and reporting) children meanwhile.
    pub fn wait_for_stop(&mut self) -> io::Result<()> {
        while self.wait(&[])? != Wake::Stop {}
        Ok(())
    }

    /// Reap every child that has ended, without blocking. Not restarted:
    /// a prefork child that dies is reported and the others go on.
    fn reap(&mut self) -> usize {
        let before = self.children.len();
        let is_routine = self.child_exit_is_routine;
        self.children.retain(|child| {
            let mut status = 0;
            // SAFETY: waits for our own child only, never another's.
            match unsafe { libc::waitpid(child.pid, &mut status, libc::WNOHANG) } {
                0 => true,
                _ if is_routine => false,
                _ => {
                    log::warn!(
                        "worker {} (pid {}) ended ({}): not restarted; the others go on",
                        child.index,
                        child.pid,
                        describe_status(status)
                    );
                    false
                }
            }
        });
        before - self.children.len()
    }

    /// Stop every child: SIGTERM, up to the grace period (plus a little)
    /// for each to finish its connection, then SIGKILL for any left; every
    /// one is reaped before this returns.
    pub fn stop_all(&mut self) {
        self.child_exit_is_routine = true;
        self.signal_all(libc::SIGTERM);
        let deadline = Instant::now() + self.grace + STOP_SLACK;
        while !self.children.is_empty() {
            self.reap();
            let left = deadline.saturating_duration_since(Instant::now());
            if self.children.is_empty() || left.is_zero() {
                break;
            }
            let mut fd = libc::pollfd {
                fd: self.child_ended.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd. Waits for SIGCHLD's byte or the
            // deadline (rounded up to a millisecond).
            unsafe { libc::poll(&mut fd, 1, left.as_millis() as i32 + 1) };
            drain(&self.child_ended);
        }
        if !self.children.is_empty() {
            log::warn!(
                "{} workers still running {:?} after the stop: killing them",
                self.children.len(),
                self.grace + STOP_SLACK
            );
            self.signal_all(libc::SIGKILL);
            for child in self.children.drain(..) {
                // SAFETY: blocks until our own (killed) child is reaped.
                unsafe { libc::waitpid(child.pid, std::ptr::null_mut(), 0) };
            }
        }
    }

    fn signal_all(&self, signal: i32) {
        for child in &self.children {
            // SAFETY: our child, not yet reaped, so its pid is not reused.
            unsafe { libc::kill(child.pid, signal) };
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if !self.children.is_empty() {
            self.stop_all();
        }
        signal_hook::low_level::unregister(self.child_ended_id);
    }
}

/// Read whatever bytes wait on a non-blocking pipe.
fn drain(mut pipe: &UnixStream) {
    let mut buf = [0u8; 64];
    while matches!(pipe.read(&mut buf), Ok(n) if n > 0) {}
}

/// `exited 3`, `killed by signal 9`: a wait status in words.
fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exited {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status}")
    }
}

// ---------------------------------------------------------------- the child

/// Set by the child's SIGTERM handler.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// The connection the child is serving, or -1: a stop shuts its read side.
static CONNECTION: AtomicI32 = AtomicI32::new(-1);
/// What the child blocks on between connections (the listener, or its
/// channel from the parent), or -1: a stop shuts its read side too.
static WAITS_ON: AtomicI32 = AtomicI32::new(-1);

/// The child's SIGTERM and SIGINT handler: only atomics and `shutdown(2)`,
/// both async-signal-safe.
extern "C" fn on_stop_signal(_: libc::c_int) {
    STOPPING.store(true, Ordering::SeqCst);
    for fd in [
        CONNECTION.load(Ordering::SeqCst),
        WAITS_ON.load(Ordering::SeqCst),
    ] {
        if fd >= 0 {
            // SAFETY: shutdown is async-signal-safe; a stale descriptor
            // only makes it fail.
            unsafe { libc::shutdown(fd, libc::SHUT_RD) };
        }
    }
}

/// What every child does first: die with its parent, keep only `keep`
/// (and 0 to 2), take SIGTERM and SIGINT as its stop, SIGCHLD as default.
fn after_fork(parent_pid: libc::pid_t, keep: &[RawFd]) {
    // SAFETY: prctl, getppid, close_range and sigaction are plain system
    // calls on this process's own state.
    unsafe {
        // Orphaned (the parent killed), a child stops rather than serve on.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        if libc::getppid() != parent_pid {
            libc::_exit(libc::EXIT_FAILURE);
        }
        let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd > 2).collect();
        keep.sort_unstable();
        let mut from = 3;
        for fd in keep {
            if fd > from {
                libc::syscall(libc::SYS_close_range, from as u32, (fd - 1) as u32, 0);
            }
            from = fd + 1;
        }
        libc::syscall(libc::SYS_close_range, from as u32, u32::MAX, 0);
        let mut action: libc::sigaction = std::mem::zeroed();
        // No SA_RESTART: a blocked accept, lock or receive returns EINTR.
        action.sa_sigaction = on_stop_signal as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    }
    STOPPING.store(false, Ordering::SeqCst);
    CONNECTION.store(-1, Ordering::SeqCst);
    WAITS_ON.store(-1, Ordering::SeqCst);
}

/// Whether this child was told to stop.
pub fn is_stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// Tell the stop handler what this child blocks on between connections.
pub fn set_waits_on(fd: RawFd) {
    WAITS_ON.store(fd, Ordering::SeqCst);
}

/// Serve one connection to its end in a child, reachable by a stop.
pub fn serve_in_child(stream: Stream, peer: &Peer, service: &dyn Service, config: &EngineConfig) {
    CONNECTION.store(stream.as_raw_fd(), Ordering::SeqCst);
    // A stop that came before the store above has not seen this
    // connection: shut its read side here (the session flushes, then ends).
    if is_stopping() {
        let _ = stream.shutdown(std::net::Shutdown::Read);
    }
    serve_and_log(stream, peer, service, config);
    CONNECTION.store(-1, Ordering::SeqCst);
}

/// A prefork child's life: get a connection from `next` (`Ok(None)`: no
/// more will come), serve it to its end, again, until stopped; then print
/// the spread line and return the exit status. `next` is the only thing
/// the four prefork designs do differently.
pub fn serve_children_loop(
    index: usize,
    service: &dyn Service,
    config: &EngineConfig,
    mut next: impl FnMut() -> io::Result<Option<(Stream, Peer)>>,
) -> i32 {
    let mut served = 0u64;
    let mut backoff = AcceptBackoff::default();
    while !is_stopping() {
        match next() {
            Ok(Some((stream, peer))) => {
                backoff.reset();
                served += 1;
                serve_in_child(stream, &peer, service, config);
            }
            Ok(None) => break,
            Err(_) if is_stopping() => break,
            // The listener was shut down: another child's stop (its signal
            // comes first); ours follows, and no connection can come.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => break,
            Err(err) if interrupted(&err) || is_connection_error(&err) => continue,
            Err(err) => std::thread::sleep(backoff.next_delay(&err)),
        }
    }
    report_served(index, served);
    0
}

/// Fork `config.processes` children, each running [`serve_children_loop`]
/// with the `next` that `design` makes for it (in the child, after the
/// fork), keeping `keep` open; then wait for the stop and stop them all.
/// The supervisor of `prefork-accept`, `-flock` and `-mutex`.
pub fn prefork<F>(
    supervisor: &mut Supervisor,
    listener: &Listener,
    service: &dyn Service,
    config: &EngineConfig,
    keep: &[RawFd],
    design: impl Fn() -> F,
) -> io::Result<()>
where
    F: FnMut() -> io::Result<Option<(Stream, Peer)>>,
{
    let mut keep = keep.to_vec();
    keep.push(listener.as_raw_fd());
    for index in 0..config.processes.max(1) {
        let forked = supervisor.fork_child(index, &keep, || {
            set_waits_on(listener.as_raw_fd());
            serve_children_loop(index, service, config, design())
        });
        if let Err(err) = forked {
            supervisor.stop_all();
            return Err(io::Error::new(
                err.kind(),
                format!("cannot fork worker {index}: {err} (lower --processes)"),
            ));
        }
    }
    supervisor.wait_for_stop()?;
    supervisor.stop_all();
    Ok(())
}
