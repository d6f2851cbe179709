//! `select`: the reactor's loop, waiting in `select(2)` over two `fd_set`s.
//!
//! The lecture's first readiness server (seed 003), for real. The model is
//! `reactor.rs`'s, unchanged: one thread, non-blocking sockets, a loop that
//! asks "which of my sockets can make progress?" and does only what will
//! not block. Only the question differs, and that is all this file holds:
//! how the loop waits, and the sets it waits on.
//!
//! How it differs from `reactor.rs` (epoll, through mio):
//! - **The whole set, every call.** An `fd_set` is a bitmap indexed by
//!   descriptor number. `select(2)` overwrites the sets it is given with
//!   the answer, so each wait hands the kernel fresh copies of the
//!   interest sets, the kernel checks every descriptor up to the highest,
//!   and `FdSets::wait` then scans every bit again to find the ready
//!   ones. Idle connections cost on every call: that is why epoll exists.
//! - **Level-triggered**, like `poll.rs`: a socket is reported on every
//!   call while it stays ready (the loop's rules cover it, `readiness.rs`
//!   says how); the waker's eventfd is reset when it is reported.
//! - **`FD_SETSIZE`.** The bitmap has 1,024 bits: `select` cannot watch
//!   descriptor 1,024 or above, and writing its bit would write past the
//!   set (memory corruption). A connection that gets such a descriptor is
//!   refused (`FdSets::watch` says why) and closed by the loop, which
//!   serves the others on. `poll(2)` has no such limit.
//!
//! Bookkeeping: `read` and `write` are the interest sets, `tokens` the
//! token of each watched descriptor (indexed by descriptor, like the sets),
//! and `nfds` one more than the highest watched descriptor: how far the
//! kernel and the scan must look.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use mio::{Interest, Token};

use super::reactor::{self, WorkSite};
use super::readiness::{DescriptorSet, EventFdWaker, Readiness};
use super::{EngineConfig, Listener, Server};
use crate::service::Service;

/// Descriptors every process holds below the connections: standard input,
/// output and error, the listener and the waker.
const DESCRIPTORS_BEFORE_CONNECTIONS: usize = 5;

/// Start the `select` engine: the reactor's loop over two `fd_set`s. Says
/// first what `FD_SETSIZE` means for it, and warns when
/// `--max-connections` asks for more than it can watch.
pub fn spawn(
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    let fd_setsize = libc::FD_SETSIZE;
    eprintln!(
        "select: watches descriptors below FD_SETSIZE ({fd_setsize}) only; a connection given one at or above it is refused and closed (--engine poll has no such limit)"
    );
    let most_connections = fd_setsize - DESCRIPTORS_BEFORE_CONNECTIONS;
    if config.max_connections > most_connections {
        log::warn!(
            "--max-connections {} is above what select() can watch: descriptors stop at FD_SETSIZE ({fd_setsize}), so about {most_connections} connections at most",
            config.max_connections
        );
    }
    reactor::spawn_on::<FdSets>("select", vec![listener], service, config, WorkSite::Loop)
}

/// The interest sets `select(2)` is handed, and whose bit is whose.
struct FdSets {
    /// Descriptors watched for reading.
    read: libc::fd_set,
    /// Descriptors watched for writing.
    write: libc::fd_set,
    /// The token of each watched descriptor, by descriptor number
    /// (`FD_SETSIZE` entries: no descriptor above is ever watched).
    tokens: Vec<Option<Token>>,
    /// One more than the highest watched descriptor: `select`'s first
    /// argument, and where the scan for ready bits stops.
    nfds: usize,
    /// The waker's eventfd, reset whenever a wait reports it.
    waker: Option<Arc<EventFdWaker>>,
}

/// An empty `fd_set`.
fn empty_set() -> libc::fd_set {
    // SAFETY: an fd_set is a plain bitmap; all zeroes is the empty set,
    // which FD_ZERO would also make.
    unsafe { std::mem::zeroed() }
}

/// `fd`'s slot, if `select` can watch it: never past the end of a set.
fn slot(fd: RawFd) -> io::Result<usize> {
    match usize::try_from(fd) {
        Ok(slot) if slot < libc::FD_SETSIZE => Ok(slot),
        _ => Err(io::Error::other(format!(
            "descriptor {fd} is at or above FD_SETSIZE ({}): select() cannot watch it (--engine poll can)",
            libc::FD_SETSIZE
        ))),
    }
}

impl FdSets {
    /// `fd`'s slot, if it is watched.
    fn watched_slot(&self, fd: RawFd) -> io::Result<usize> {
        match slot(fd) {
            Ok(slot) if self.tokens[slot].is_some() => Ok(slot),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("descriptor {fd} is not watched"),
            )),
        }
    }

    /// Put `fd` (watched, so below FD_SETSIZE) in exactly the sets
    /// `interest` names.
    fn set_interest(&mut self, fd: RawFd, interest: Interest) {
        // SAFETY: callers checked `fd` against FD_SETSIZE (`slot`).
        unsafe {
            match interest.is_readable() {
                true => libc::FD_SET(fd, &mut self.read),
                false => libc::FD_CLR(fd, &mut self.read),
            }
            match interest.is_writable() {
                true => libc::FD_SET(fd, &mut self.write),
                false => libc::FD_CLR(fd, &mut self.write),
            }
        }
    }
}

/// `timeout` as `select`'s `timeval`, rounded up to the microsecond: a
/// deadline a few nanoseconds away must not become a zero timeout.
fn timeval_of(timeout: Duration) -> libc::timeval {
    let micros = timeout.as_nanos().div_ceil(1_000);
    libc::timeval {
        tv_sec: libc::time_t::try_from(micros / 1_000_000).unwrap_or(libc::time_t::MAX),
        tv_usec: (micros % 1_000_000) as libc::suseconds_t,
    }
}

impl DescriptorSet for FdSets {
    fn empty() -> io::Result<Self> {
        Ok(FdSets {
            read: empty_set(),
            write: empty_set(),
            tokens: vec![None; libc::FD_SETSIZE],
            nfds: 0,
            waker: None,
        })
    }

    fn keep_waker(&mut self, waker: Arc<EventFdWaker>) {
        self.waker = Some(waker);
    }

    /// Watch `fd` for `interest`, if it fits in the sets.
    fn watch(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let slot = slot(fd)?;
        if self.tokens[slot].is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("descriptor {fd} is watched already"),
            ));
        }
        self.tokens[slot] = Some(token);
        self.nfds = self.nfds.max(slot + 1);
        self.set_interest(fd, interest);
        Ok(())
    }

    /// Watch the already watched `fd` for `interest` instead.
    fn change(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let slot = self.watched_slot(fd)?;
        self.tokens[slot] = Some(token);
        self.set_interest(fd, interest);
        Ok(())
    }

    /// Stop watching `fd`: clear its bits, and lower `nfds` past every
    /// unwatched descriptor at the top.
    fn unwatch(&mut self, fd: RawFd) -> io::Result<()> {
        let slot = self.watched_slot(fd)?;
        self.tokens[slot] = None;
        // SAFETY: `fd` is below FD_SETSIZE (`watched_slot`), inside both sets.
        unsafe {
            libc::FD_CLR(fd, &mut self.read);
            libc::FD_CLR(fd, &mut self.write);
        }
        while self.nfds > 0 && self.tokens[self.nfds - 1].is_none() {
            self.nfds -= 1;
        }
        Ok(())
    }

    fn wait(&mut self, events: &mut Vec<(Token, Readiness)>, timeout: Duration) -> io::Result<()> {
        events.clear();
        // select overwrites its sets with the answer: hand it copies.
        let mut readable = self.read;
        let mut writable = self.write;
        let mut timeout = timeval_of(timeout);
        // SAFETY: both sets are valid fd_sets holding only descriptors
        // below `nfds` <= FD_SETSIZE; no exception set.
        let ready = unsafe {
            libc::select(
                self.nfds as libc::c_int,
                &mut readable,
                &mut writable,
                std::ptr::null_mut(),
                &mut timeout,
            )
        };
        if ready < 0 {
            return Err(io::Error::last_os_error());
        }
        // The other half of select's cost: test every watched bit to find
        // the `ready` ones (a socket both readable and writable counts
        // twice). Stop once every one is found.
        let mut left = ready as usize;
        for (slot, token) in self.tokens[..self.nfds].iter().enumerate() {
            if left == 0 {
                break;
            }
            let Some(token) = *token else {
                continue;
            };
            let fd = slot as RawFd;
            // SAFETY: `fd` < nfds <= FD_SETSIZE.
            let (is_readable, is_writable) =
                unsafe { (libc::FD_ISSET(fd, &readable), libc::FD_ISSET(fd, &writable)) };
            if !is_readable && !is_writable {
                continue;
            }
            left -= usize::from(is_readable) + usize::from(is_writable);
            if let Some(waker) = &self.waker {
                if fd == waker.as_raw_fd() {
                    waker.reset(); // Level-triggered: quiet it, or it reports forever.
                }
            }
            // select says no more: hang-ups and errors show as readable
            // or writable, and the next read or write collects them.
            let readiness = Readiness {
                is_readable,
                is_writable,
                ..Readiness::default()
            };
            events.push((token, readiness));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::readiness::{Backend, Wake};

    /// Which of `fds` are in `set`.
    fn members(set: &libc::fd_set, fds: &[RawFd]) -> Vec<RawFd> {
        // SAFETY: the test descriptors are all below FD_SETSIZE.
        let is_member = |&&fd: &&RawFd| unsafe { libc::FD_ISSET(fd, set) };
        fds.iter().filter(is_member).copied().collect()
    }

    /// Registering puts a descriptor in the sets its interest names;
    /// changing the interest moves it between them.
    #[test]
    fn select_sets_hold_what_each_interest_names() {
        let mut sets = FdSets::new().unwrap();
        let fds = [3, 64, 65];
        sets.watch(3, Token(0), Interest::READABLE).unwrap();
        sets.watch(64, Token(1), Interest::READABLE | Interest::WRITABLE)
            .unwrap();
        sets.watch(65, Token(2), Interest::WRITABLE).unwrap();
        assert_eq!(members(&sets.read, &fds), [3, 64]);
        assert_eq!(members(&sets.write, &fds), [64, 65]);
        assert_eq!(sets.nfds, 66);
        sets.change(3, Token(7), Interest::WRITABLE).unwrap();
        sets.change(64, Token(1), Interest::READABLE).unwrap();
        assert_eq!(members(&sets.read, &fds), [64]);
        assert_eq!(members(&sets.write, &fds), [3, 65]);
        assert_eq!(sets.tokens[3], Some(Token(7)));
        assert!(sets.watch(3, Token(8), Interest::READABLE).is_err());
        assert!(sets.change(4, Token(8), Interest::READABLE).is_err());
    }

    /// Closing clears the descriptor from both sets and forgets its token;
    /// `nfds` drops past every unwatched descriptor at the top.
    #[test]
    fn select_unwatch_clears_both_sets_and_lowers_nfds() {
        let mut sets = FdSets::new().unwrap();
        let fds = [5, 9, 20];
        for (i, &fd) in fds.iter().enumerate() {
            let interest = Interest::READABLE | Interest::WRITABLE;
            sets.watch(fd, Token(i), interest).unwrap();
        }
        sets.unwatch(9).unwrap();
        assert_eq!(members(&sets.read, &fds), [5, 20]);
        assert_eq!(members(&sets.write, &fds), [5, 20]);
        assert_eq!(sets.tokens[9], None);
        assert_eq!(sets.nfds, 21, "a hole below the top does not move nfds");
        sets.unwatch(20).unwrap();
        assert_eq!(sets.nfds, 6);
        sets.unwatch(5).unwrap();
        assert_eq!(sets.nfds, 0);
        assert!(members(&sets.read, &fds).is_empty());
        assert!(sets.unwatch(5).is_err(), "removed already");
    }

    /// A descriptor at or above FD_SETSIZE is refused with the reason,
    /// before any bit is touched.
    #[test]
    fn select_refuses_descriptors_at_or_above_fd_setsize() {
        let mut sets = FdSets::new().unwrap();
        let limit = libc::FD_SETSIZE as RawFd;
        let err = sets.watch(limit, Token(0), Interest::READABLE).unwrap_err();
        assert!(err.to_string().contains("FD_SETSIZE (1024)"), "{err}");
        assert!(sets
            .watch(limit + 5000, Token(0), Interest::READABLE)
            .is_err());
        assert!(sets.watch(-1, Token(0), Interest::READABLE).is_err());
        assert_eq!(sets.nfds, 0);
        sets.watch(limit - 1, Token(1), Interest::READABLE).unwrap();
        assert_eq!(sets.nfds, libc::FD_SETSIZE);
    }

    /// A wait reports the ready descriptors with their tokens, and resets
    /// the waker it reports, so the next wait does not report it again.
    #[test]
    fn select_wait_reports_ready_bits_and_quiets_the_waker() {
        let mut sets = FdSets::new().unwrap();
        let waker = sets.waker(Token(usize::MAX - 1)).unwrap();
        let (mut near, far) = std::os::unix::net::UnixStream::pair().unwrap();
        sets.watch(far.as_raw_fd(), Token(5), Interest::READABLE)
            .unwrap();
        let mut events = FdSets::new_events();
        Backend::wait(&mut sets, &mut events, Duration::ZERO).unwrap();
        assert!(events.is_empty(), "nothing is ready yet: {events:?}");
        std::io::Write::write_all(&mut near, b"x").unwrap();
        waker.wake().unwrap();
        Backend::wait(&mut sets, &mut events, Duration::ZERO).unwrap();
        let mut tokens: Vec<Token> = events.iter().map(|(token, _)| *token).collect();
        tokens.sort();
        assert_eq!(tokens, [Token(5), Token(usize::MAX - 1)]);
        assert!(events.iter().all(|(_, ready)| ready.is_readable));
        Backend::wait(&mut sets, &mut events, Duration::ZERO).unwrap();
        assert_eq!(events.len(), 1, "the unread byte is still reported");
        assert_eq!(events[0].0, Token(5));
    }

    /// A wait's timeout rounds up to the next microsecond, never down to 0.
    #[test]
    fn select_timeout_rounds_up_to_whole_microseconds() {
        let tv = timeval_of(Duration::from_nanos(1_500_000_001));
        assert_eq!((tv.tv_sec, tv.tv_usec), (1, 500_001));
        let tv = timeval_of(Duration::ZERO);
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 0));
    }
}
