//! When a load thread wakes: the `timerfd` that ends its wait in `poll`
//! ([`WakeTimer`]), the queues of slots waiting for a moment to connect or
//! to send ([`DueQueue`]), and how often timeouts are looked for
//! ([`timeout_scan_every`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// Connect and request timeouts are checked every 1/32 of the shorter of
/// the two, but no more often than every 10 ms (each check visits every
/// connection of the thread: checking every few milliseconds would cost a
/// pass over the whole table every few hundred requests) and no less often
/// than every 50 ms, which is also how soon the stop flag is seen.
const TIMEOUT_SCAN_FRACTION: u32 = 32;
const TIMEOUT_SCAN_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_millis(50));

/// How often a thread looks for connect and request timeouts.
pub(super) fn timeout_scan_every(connect_timeout: Duration, request_timeout: Duration) -> Duration {
    (connect_timeout.min(request_timeout) / TIMEOUT_SCAN_FRACTION)
        .clamp(TIMEOUT_SCAN_BOUNDS.0, TIMEOUT_SCAN_BOUNDS.1)
}

/// A `timerfd` in the poll set that wakes the loop at its next deadline
/// (the end of a second, a timeout scan, a connect of the ramp, a scheduled
/// send), so `poll` itself waits with no timeout. Two reasons:
/// - a timed `epoll_wait` sets a kernel timer every time it sleeps (in a
///   virtual machine, programming the timer is a trip to the hypervisor),
///   while this timer is set again only when the deadline changes;
/// - epoll's timeout counts in whole milliseconds, which would add up to a
///   millisecond of lateness to every corrected latency in rate mode.
#[derive(Debug)]
pub(super) struct WakeTimer {
    fd: OwnedFd,
    /// The deadline the timer is set for.
    armed_for: Option<Instant>,
}

/// The timer's token: beyond any slot index.
pub(super) const TIMER: Token = Token(usize::MAX);

impl WakeTimer {
    pub(super) fn new(registry: &Registry) -> io::Result<Self> {
        // SAFETY: plain syscall; the returned descriptor is owned below.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        registry.register(&mut SourceFd(&fd.as_raw_fd()), TIMER, Interest::READABLE)?;
        Ok(WakeTimer {
            fd,
            armed_for: None,
        })
    }

    /// Fire once at `deadline`, unless already set for it (setting it again
    /// resets a pending expiry, so its event need not be read).
    pub(super) fn wake_at(&mut self, deadline: Instant, now: Instant) -> io::Result<()> {
        if self.armed_for == Some(deadline) {
            return Ok(());
        }
        // At least 1 ns: zero would disarm.
        let after = deadline.duration_since(now).max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec; the old value is not wanted.
        if unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) }
            != 0
        {
            return Err(io::Error::last_os_error());
        }
        self.armed_for = Some(deadline);
        Ok(())
    }
}

/// Slots waiting for a moment (to connect, or to send), earliest first.
#[derive(Debug, Default)]
pub(super) struct DueQueue(BinaryHeap<Reverse<(Instant, usize)>>);

impl DueQueue {
    /// Slot `index` is due at `at`.
    pub(super) fn push(&mut self, at: Instant, index: usize) {
        self.0.push(Reverse((at, index)));
    }

    /// When the earliest slot is due.
    pub(super) fn next_at(&self) -> Option<Instant> {
        self.0.peek().map(|Reverse((at, _))| *at)
    }

    /// Take the earliest slot, if it is due by `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<usize> {
        let &Reverse((at, index)) = self.0.peek()?;
        (at <= now).then(|| {
            self.0.pop();
            index
        })
    }
}

impl FromIterator<(Instant, usize)> for DueQueue {
    fn from_iter<I: IntoIterator<Item = (Instant, usize)>>(due: I) -> Self {
        DueQueue(due.into_iter().map(Reverse).collect())
    }
}
