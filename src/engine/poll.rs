//! `poll`: the reactor's loop, waiting in `poll(2)` over a `pollfd` array.
//!
//! The model is `reactor.rs`'s, unchanged: one thread, non-blocking
//! sockets, a loop that asks "which of my sockets can make progress?" and
//! does only what will not block. Only the question differs, and that is
//! all this file holds: how the loop waits, and the array it waits on.
//!
//! How it differs from `reactor.rs` (epoll, through mio):
//! - **The whole set, every call.** epoll keeps the interest list in the
//!   kernel; `poll(2)` is handed the whole array on every call, and the
//!   kernel checks every entry. With 10,000 idle connections beside 100
//!   busy ones, each wait passes and scans 10,100 entries to find a few
//!   ready ones, and so does `PollFds::wait` after it: the cost per
//!   request grows with the connections held, not with the work done.
//!   That is why epoll exists (`compare --scenario idle` measures it).
//! - **Level-triggered.** `poll` reports a socket on every call while it
//!   stays ready, where mio reports each change once. The loop's rules
//!   cover both (`readiness.rs` says how); here it means the waker's
//!   eventfd must be [reset](EventFdWaker::reset) when it is reported.
//! - **No limit on descriptor numbers**, unlike `select.rs`.
//!
//! Bookkeeping: `fds` is the array `poll(2)` reads, `tokens[i]` the token
//! of `fds[i]`, and `index_of` finds a descriptor's entry. Removing an
//! entry moves the last one into its place (`swap_remove`), so the map is
//! fixed for that one moved entry and the array never has holes.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use mio::{Interest, Token};

use super::reactor::{self, WorkSite};
use super::readiness::{DescriptorSet, EventFdWaker, Readiness};
use super::{EngineConfig, Listener, Server};
use crate::service::Service;

/// Start the `poll` engine: the reactor's loop over a `pollfd` array.
pub fn spawn(
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    reactor::spawn_on::<PollFds>("poll", vec![listener], service, config, WorkSite::Loop)
}

/// The array `poll(2)` reads, and how to find an entry in it.
struct PollFds {
    /// One entry per watched descriptor, in no particular order.
    fds: Vec<libc::pollfd>,
    /// `tokens[i]` is the token of `fds[i]`.
    tokens: Vec<Token>,
    /// Where each watched descriptor's entry is in `fds`.
    index_of: HashMap<RawFd, usize>,
    /// The waker's eventfd, reset whenever a wait reports it.
    waker: Option<Arc<EventFdWaker>>,
}

impl PollFds {
    /// Where `fd`'s entry is.
    fn index(&self, fd: RawFd) -> io::Result<usize> {
        self.index_of.get(&fd).copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("descriptor {fd} is not watched"),
            )
        })
    }
}

/// The `pollfd` event bits for `interest`.
fn poll_events(interest: Interest) -> libc::c_short {
    let mut events = 0;
    if interest.is_readable() {
        events |= libc::POLLIN;
    }
    if interest.is_writable() {
        events |= libc::POLLOUT;
    }
    events
}

/// What the loop reads of an entry's `revents`. Hang-ups and errors come
/// whether asked for or not; the next read or write collects them.
fn readiness_of(revents: libc::c_short) -> Readiness {
    let is_hung_up = revents & libc::POLLHUP != 0;
    Readiness {
        is_readable: revents & libc::POLLIN != 0,
        is_writable: revents & libc::POLLOUT != 0,
        is_read_closed: is_hung_up,
        is_write_closed: is_hung_up,
        is_error: revents & (libc::POLLERR | libc::POLLNVAL) != 0,
    }
}

/// A wait's `timeout` in whole milliseconds, rounded up: a deadline 0.4 ms
/// away must not become a zero timeout, or the loop would spin until then.
fn timeout_ms(timeout: Duration) -> libc::c_int {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
}

impl DescriptorSet for PollFds {
    fn empty() -> io::Result<Self> {
        Ok(PollFds {
            fds: Vec::new(),
            tokens: Vec::new(),
            index_of: HashMap::new(),
            waker: None,
        })
    }

    fn keep_waker(&mut self, waker: Arc<EventFdWaker>) {
        self.waker = Some(waker);
    }

    /// Add an entry for `fd`.
    fn watch(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        if self.index_of.contains_key(&fd) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("descriptor {fd} is watched already"),
            ));
        }
        self.index_of.insert(fd, self.fds.len());
        self.fds.push(libc::pollfd {
            fd,
            events: poll_events(interest),
            revents: 0,
        });
        self.tokens.push(token);
        Ok(())
    }

    /// Change what `fd`'s entry asks for, and its token.
    fn change(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let index = self.index(fd)?;
        self.fds[index].events = poll_events(interest);
        self.tokens[index] = token;
        Ok(())
    }

    /// Remove `fd`'s entry: the last entry takes its place.
    fn unwatch(&mut self, fd: RawFd) -> io::Result<()> {
        let index = self.index(fd)?;
        self.index_of.remove(&fd);
        self.fds.swap_remove(index);
        self.tokens.swap_remove(index);
        if let Some(moved) = self.fds.get(index) {
            self.index_of.insert(moved.fd, index);
        }
        Ok(())
    }

    fn wait(&mut self, events: &mut Vec<(Token, Readiness)>, timeout: Duration) -> io::Result<()> {
        events.clear();
        // SAFETY: `fds` is a valid array of `fds.len()` entries, which the
        // kernel only writes the `revents` of.
        let ready = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout_ms(timeout),
            )
        };
        if ready < 0 {
            return Err(io::Error::last_os_error());
        }
        // The other half of poll's cost: find the `ready` entries among
        // all of them. Stop once every one is found.
        let mut left = ready as usize;
        for (entry, &token) in self.fds.iter().zip(&self.tokens) {
            if left == 0 {
                break;
            }
            if entry.revents == 0 {
                continue;
            }
            left -= 1;
            if let Some(waker) = &self.waker {
                if entry.fd == waker.as_raw_fd() {
                    waker.reset(); // Level-triggered: quiet it, or it reports forever.
                }
            }
            events.push((token, readiness_of(entry.revents)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::readiness::{Backend, Wake};

    /// The descriptors and tokens in the array, in array order, after
    /// checking that the index map points at each entry and at no other.
    fn entries(fds: &PollFds) -> Vec<(RawFd, Token)> {
        assert_eq!(fds.index_of.len(), fds.fds.len());
        assert_eq!(fds.tokens.len(), fds.fds.len());
        for (index, entry) in fds.fds.iter().enumerate() {
            assert_eq!(fds.index_of[&entry.fd], index, "index of {}", entry.fd);
        }
        fds.fds
            .iter()
            .map(|e| e.fd)
            .zip(fds.tokens.clone())
            .collect()
    }

    /// Registering adds an entry asking for what the interest says;
    /// changing it rewrites its events and token in place.
    #[test]
    fn poll_entry_asks_for_the_registered_interest() {
        let mut fds = PollFds::new().unwrap();
        fds.watch(7, Token(0), Interest::READABLE).unwrap();
        assert_eq!(fds.fds[0].events, libc::POLLIN);
        fds.change(7, Token(3), Interest::READABLE | Interest::WRITABLE)
            .unwrap();
        assert_eq!(fds.fds[0].events, libc::POLLIN | libc::POLLOUT);
        fds.change(7, Token(3), Interest::WRITABLE).unwrap();
        assert_eq!(fds.fds[0].events, libc::POLLOUT);
        assert_eq!(entries(&fds), [(7, Token(3))]);
        assert!(fds.watch(7, Token(4), Interest::READABLE).is_err());
        assert!(fds.change(8, Token(4), Interest::READABLE).is_err());
    }

    /// Removing from the middle moves the last entry into the hole and
    /// keeps the index map right; removing the rest empties everything.
    #[test]
    fn poll_index_map_stays_consistent_after_removing_from_the_middle() {
        let mut fds = PollFds::new().unwrap();
        for fd in 10..15 {
            fds.watch(fd, Token(fd as usize), Interest::READABLE)
                .unwrap();
        }
        fds.unwatch(11).unwrap();
        assert_eq!(
            entries(&fds),
            [
                (10, Token(10)),
                (14, Token(14)),
                (12, Token(12)),
                (13, Token(13))
            ]
        );
        fds.unwatch(13).unwrap(); // The last entry: nothing moves.
        fds.change(14, Token(99), Interest::WRITABLE).unwrap();
        assert_eq!(fds.fds[fds.index(14).unwrap()].events, libc::POLLOUT);
        assert_eq!(
            entries(&fds),
            [(10, Token(10)), (14, Token(99)), (12, Token(12))]
        );
        assert!(fds.unwatch(11).is_err(), "removed already");
        for fd in [10, 12, 14] {
            fds.unwatch(fd).unwrap();
        }
        assert!(entries(&fds).is_empty());
    }

    /// A wait reports the ready entries with their tokens, and resets the
    /// waker it reports, so the next wait does not report it again.
    #[test]
    fn poll_wait_reports_ready_entries_and_quiets_the_waker() {
        let mut fds = PollFds::new().unwrap();
        let waker = fds.waker(Token(usize::MAX - 1)).unwrap();
        let (mut near, far) = std::os::unix::net::UnixStream::pair().unwrap();
        fds.watch(far.as_raw_fd(), Token(5), Interest::READABLE)
            .unwrap();
        let mut events = PollFds::new_events();
        Backend::wait(&mut fds, &mut events, Duration::ZERO).unwrap();
        assert!(events.is_empty(), "nothing is ready yet: {events:?}");
        std::io::Write::write_all(&mut near, b"x").unwrap();
        waker.wake().unwrap();
        Backend::wait(&mut fds, &mut events, Duration::ZERO).unwrap();
        let tokens: Vec<Token> = events.iter().map(|(token, _)| *token).collect();
        assert_eq!(tokens, [Token(usize::MAX - 1), Token(5)]);
        assert!(events.iter().all(|(_, ready)| ready.is_readable));
        Backend::wait(&mut fds, &mut events, Duration::ZERO).unwrap();
        assert_eq!(events.len(), 1, "the unread byte is still reported");
        assert_eq!(events[0].0, Token(5));
    }

    /// A wait's timeout rounds up to the next millisecond, never down to 0.
    #[test]
    fn poll_timeout_rounds_up_to_whole_milliseconds() {
        assert_eq!(timeout_ms(Duration::ZERO), 0);
        assert_eq!(timeout_ms(Duration::from_micros(400)), 1);
        assert_eq!(timeout_ms(Duration::from_millis(7)), 7);
        assert_eq!(timeout_ms(Duration::from_secs(1 << 40)), libc::c_int::MAX);
    }
}
