//! The waiting call, as the readiness loop sees it: one small [`Backend`]
//! trait, so that `reactor.rs`'s loop runs unchanged over epoll (mio),
//! `poll(2)` or `select(2)`.
//!
//! The readiness family differs in one thing: how the loop learns which
//! sockets are ready. libuv keeps one loop and puts the platform's waiting
//! call behind a backend (`src/unix/linux.c`, `src/unix/posix-poll.c`);
//! sockbench does the same. A backend says how it waits ([`Backend::wait`]),
//! how it reports what became ready ([`Backend::ready`]: tokens and a
//! [`Readiness`]), and how interest is registered, changed and removed.
//! Everything else (accepting until `WouldBlock`, draining reads, keeping
//! unsent bytes, backpressure, timeouts, stop, panic containment) is the
//! loop's, written once in `reactor.rs`.
//!
//! Three backends, three files:
//! - [`Epoll`] here: mio's `Poll`, which is epoll on Linux, edge-triggered;
//! - `select.rs`: `select(2)` over two `fd_set`s, level-triggered, and
//!   blind at and above `FD_SETSIZE`;
//! - `poll.rs`: `poll(2)` over a `pollfd` array, level-triggered.
//!
//! The loop is generic over its backend (static dispatch): no call through
//! a pointer and no copy of an event, and the `reactor`'s turn compiles as
//! it did before the trait existed (`Reactor::run`, `take_turn`, `drive`
//! and `close` are the same size in the release binary, within 3 bytes).
//!
//! Edge or level: an edge-triggered backend reports a socket once per
//! change, a level-triggered one on every wait while it stays ready. The
//! loop's rules are right for both: it drains readiness (so edges are not
//! lost), and asks for `WRITABLE` only while output is queued (so a
//! level-triggered backend does not report a writable socket with nothing
//! to write, forever).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Token};

/// What the waiting call reported for one socket: all the loop reads of an
/// event, whichever call reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// A read (or accept) would not block.
    pub is_readable: bool,
    /// A write would not block.
    pub is_writable: bool,
    /// The peer closed its writing side.
    pub is_read_closed: bool,
    /// The peer closed its reading side.
    pub is_write_closed: bool,
    /// The socket has an error to collect (the next read or write says it).
    pub is_error: bool,
}

/// A socket a backend can watch: mio registers it as a [`Source`],
/// `poll(2)` and `select(2)` by its descriptor.
pub trait Watched: Source + AsRawFd {}

impl<T: Source + AsRawFd> Watched for T {}

/// Interrupts a backend's [`wait`](Backend::wait) from another thread.
pub trait Wake: Send + Sync + 'static {
    /// Make the loop's current or next wait return.
    fn wake(&self) -> io::Result<()>;
}

impl Wake for mio::Waker {
    fn wake(&self) -> io::Result<()> {
        mio::Waker::wake(self)
    }
}

/// How a readiness loop waits, and how it learns which sockets are ready.
/// Tokens and interests are mio's types, used as plain values by every
/// backend.
pub trait Backend: Sized + Send + 'static {
    /// What one wait fills and [`ready`](Backend::ready) reads back.
    type Events;
    /// What another thread rings to interrupt a wait.
    type Waker: Wake;

    /// A backend watching nothing yet.
    fn new() -> io::Result<Self>;

    /// An empty batch of events, allocated once per loop.
    fn new_events() -> Self::Events;

    /// A waker whose ring is reported as readiness of `token`.
    fn waker(&mut self, token: Token) -> io::Result<Arc<Self::Waker>>;

    /// Start watching `source` for `interest`, reported as `token`.
    fn register<S: Watched>(
        &mut self,
        source: &mut S,
        token: Token,
        interest: Interest,
    ) -> io::Result<()>;

    /// Watch `source`, already registered, for `interest` instead.
    fn reregister<S: Watched>(
        &mut self,
        source: &mut S,
        token: Token,
        interest: Interest,
    ) -> io::Result<()>;

    /// Stop watching `source` (before it is closed: a closed descriptor's
    /// number is soon another socket's).
    fn deregister<S: Watched>(&mut self, source: &mut S) -> io::Result<()>;

    /// Block until a watched socket is ready, the waker rings, or `timeout`
    /// passes; fill `events` with what is ready.
    fn wait(&mut self, events: &mut Self::Events, timeout: Duration) -> io::Result<()>;

    /// The tokens the last wait reported, each with its readiness.
    fn ready(events: &Self::Events) -> impl Iterator<Item = (Token, Readiness)> + '_;
}

/// The level-triggered backends (`select`, `poll`): they watch descriptor
/// numbers, wake through an [`EventFdWaker`] they watch like any socket,
/// and report a wait's batch as a list. Each implements only this, how it
/// keeps its set and how it waits; the [`Backend`] glue is written once,
/// below, for both.
pub trait DescriptorSet: Sized + Send + 'static {
    /// A set watching nothing yet.
    fn empty() -> io::Result<Self>;
    /// Keep the waker (already watched): a wait that reports it resets it.
    fn keep_waker(&mut self, waker: Arc<EventFdWaker>);
    /// Watch `fd` for `interest`, reported as `token`.
    fn watch(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()>;
    /// Watch the already watched `fd` for `interest` instead.
    fn change(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()>;
    /// Stop watching `fd`.
    fn unwatch(&mut self, fd: RawFd) -> io::Result<()>;
    /// Block until a watched descriptor is ready, or `timeout` passes;
    /// fill `events` with what is ready.
    fn wait(&mut self, events: &mut Vec<(Token, Readiness)>, timeout: Duration) -> io::Result<()>;
}

impl<T: DescriptorSet> Backend for T {
    type Events = Vec<(Token, Readiness)>;
    type Waker = EventFdWaker;

    fn new() -> io::Result<Self> {
        T::empty()
    }

    fn new_events() -> Self::Events {
        Vec::new()
    }

    fn waker(&mut self, token: Token) -> io::Result<Arc<EventFdWaker>> {
        let waker = Arc::new(EventFdWaker::new()?);
        self.watch(waker.as_raw_fd(), token, Interest::READABLE)?;
        self.keep_waker(Arc::clone(&waker));
        Ok(waker)
    }

    fn register<S: Watched>(
        &mut self,
        source: &mut S,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.watch(source.as_raw_fd(), token, interest)
    }

    fn reregister<S: Watched>(
        &mut self,
        source: &mut S,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.change(source.as_raw_fd(), token, interest)
    }

    fn deregister<S: Watched>(&mut self, source: &mut S) -> io::Result<()> {
        self.unwatch(source.as_raw_fd())
    }

    fn wait(&mut self, events: &mut Self::Events, timeout: Duration) -> io::Result<()> {
        DescriptorSet::wait(self, events, timeout)
    }

    fn ready(events: &Self::Events) -> impl Iterator<Item = (Token, Readiness)> + '_ {
        events.iter().copied()
    }
}

/// Readiness events handled per `epoll_wait`.
const EPOLL_EVENTS_CAPACITY: usize = 1024;

/// mio's `Poll`: epoll on Linux, edge-triggered. The kernel keeps the
/// interest list, so a wait costs what is ready, not what is watched.
#[derive(Debug)]
pub struct Epoll {
    poll: mio::Poll,
}

impl Backend for Epoll {
    type Events = Events;
    type Waker = mio::Waker;

    fn new() -> io::Result<Self> {
        Ok(Epoll {
            poll: mio::Poll::new()?,
        })
    }

    fn new_events() -> Events {
        Events::with_capacity(EPOLL_EVENTS_CAPACITY)
    }

    fn waker(&mut self, token: Token) -> io::Result<Arc<mio::Waker>> {
        Ok(Arc::new(mio::Waker::new(self.poll.registry(), token)?))
    }

    fn register<S: Watched>(
        &mut self,
        source: &mut S,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.poll.registry().register(source, token, interest)
    }

    fn reregister<S: Watched>(
        &mut self,
        source: &mut S,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.poll.registry().reregister(source, token, interest)
    }

    fn deregister<S: Watched>(&mut self, source: &mut S) -> io::Result<()> {
        self.poll.registry().deregister(source)
    }

    fn wait(&mut self, events: &mut Events, timeout: Duration) -> io::Result<()> {
        self.poll.poll(events, Some(timeout))
    }

    fn ready(events: &Events) -> impl Iterator<Item = (Token, Readiness)> + '_ {
        events.iter().map(|event| {
            let readiness = Readiness {
                is_readable: event.is_readable(),
                is_writable: event.is_writable(),
                is_read_closed: event.is_read_closed(),
                is_write_closed: event.is_write_closed(),
                is_error: event.is_error(),
            };
            (event.token(), readiness)
        })
    }
}

/// The waker of the level-triggered backends (`select`, `poll`): an
/// `eventfd` they watch for reading like any socket. A ring makes it
/// readable; the backend [resets](EventFdWaker::reset) it when it reports
/// it, or every later wait would return at once.
#[derive(Debug)]
pub struct EventFdWaker {
    counter: File,
}

impl EventFdWaker {
    /// A new, unrung eventfd, non-blocking.
    pub fn new() -> io::Result<EventFdWaker> {
        // SAFETY: eventfd takes no pointers; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        let counter = unsafe { File::from_raw_fd(fd) };
        Ok(EventFdWaker { counter })
    }

    /// Take the rings so far: the descriptor is quiet until the next one.
    /// A ring after this reset makes it readable again, so none is lost.
    pub fn reset(&self) {
        let mut count = [0u8; 8];
        // Empty already (`WouldBlock`) is as good as emptied.
        let _ = (&self.counter).read(&mut count);
    }
}

impl AsRawFd for EventFdWaker {
    fn as_raw_fd(&self) -> RawFd {
        self.counter.as_raw_fd()
    }
}

impl Wake for EventFdWaker {
    fn wake(&self) -> io::Result<()> {
        match (&self.counter).write(&1u64.to_ne_bytes()) {
            Ok(_) => Ok(()),
            // The counter is full: it is rung already, and stays readable.
            Err(err) if crate::io_util::would_block(&err) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An eventfd waker is readable once rung and quiet once reset.
    #[test]
    fn eventfd_waker_rings_until_reset() {
        let waker = EventFdWaker::new().unwrap();
        let is_readable = |waker: &EventFdWaker| {
            let mut fd = libc::pollfd {
                fd: waker.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, zero timeout.
            let n = unsafe { libc::poll(&mut fd, 1, 0) };
            n == 1 && fd.revents & libc::POLLIN != 0
        };
        assert!(!is_readable(&waker));
        waker.wake().unwrap();
        waker.wake().unwrap();
        assert!(is_readable(&waker));
        waker.reset();
        assert!(!is_readable(&waker));
    }
}
