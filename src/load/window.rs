//! When the measurement begins: once every connection is up, not while they
//! are still being opened.
//!
//! Opening thousands of connections takes seconds, and a listen queue that
//! overflows makes some of them wait for a SYN retransmit (1 s, then 2 s...).
//! Measured from the first connect, a run mixes that ramp into its latencies
//! and its rate: a 15,000-connection run reported a p99 of 521 ms and 12,685
//! of 15,000 req/s that way, with nothing saying why.
//!
//! So the load threads count the connections established at least once
//! ([`Window::connection_up`]), and the measurement begins `--warmup` after
//! the last of them is up. If they are not all up by the ramp limit, it
//! begins anyway ([`Window::begin`]) and the report says loudly how many were
//! up: the ramp is then inside the measured window.
//!
//! It also keeps the one figure about connections that changes between two
//! seconds and that the live view shows: how many are open now.
//!
//! With several generator processes, each says how many of its connections
//! are up, the parent adds them up in its own window
//! ([`Window::set_counts`]) and tells them all to begin at once (their
//! windows do not begin by themselves: `begins_when_up` false), so that
//! their windows coincide.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The start of the measured window, shared by the load threads and the
/// collector of one run.
#[derive(Debug)]
pub(crate) struct Window {
    /// Connections asked for.
    connections: usize,
    /// Load without measuring for this long once the ramp is over.
    warmup: Duration,
    /// Begin as soon as every connection is up (a parent process decides
    /// otherwise).
    begins_when_up: bool,
    /// Connections established at least once.
    up: AtomicUsize,
    /// Connections established and not closed since.
    open: AtomicUsize,
    /// When the last connection came up.
    all_up_at: OnceLock<Instant>,
    /// When the ramp was declared over, and how many were up then.
    ramp_end: OnceLock<(Instant, usize)>,
}

impl Window {
    pub(crate) fn new(connections: usize, warmup: Duration, begins_when_up: bool) -> Self {
        Window {
            connections,
            warmup,
            begins_when_up,
            up: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            all_up_at: OnceLock::new(),
            ramp_end: OnceLock::new(),
        }
    }

    /// A connection was established for the first time. `true` when it
    /// was the last, and the ramp ended with it (the collector is then told
    /// at once, so it can announce the window's start on time).
    pub(crate) fn connection_up(&self, now: Instant) -> bool {
        let up = self.up.fetch_add(1, Ordering::Relaxed) + 1;
        if up != self.connections {
            return false;
        }
        let _ = self.all_up_at.set(now);
        self.begins_when_up && self.begin(now)
    }

    /// A connection was established (for the first time or again).
    pub(crate) fn connection_opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// An established connection was closed.
    pub(crate) fn connection_closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A parent process's window: its children have `up` connections
    /// established at least once and `open` open now. `true` when this
    /// ended the ramp (the last connection is up).
    pub(crate) fn set_counts(&self, up: usize, open: usize, now: Instant) -> bool {
        self.up.store(up, Ordering::Relaxed);
        self.open.store(open, Ordering::Relaxed);
        if up != self.connections {
            return false;
        }
        let _ = self.all_up_at.set(now);
        self.begins_when_up && self.begin(now)
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// End the ramp at `now`: measuring begins after the warmup. Only the
    /// first call counts, and says so with `true`.
    pub(crate) fn begin(&self, now: Instant) -> bool {
        self.ramp_end.set((now, self.up())).is_ok()
    }

    /// Connections established at least once so far.
    pub(crate) fn up(&self) -> usize {
        self.up.load(Ordering::Relaxed)
    }

    /// When every connection had come up, if they all have.
    pub(crate) fn all_up_at(&self) -> Option<Instant> {
        self.all_up_at.get().copied()
    }

    /// When the ramp ended and how many connections were up then.
    pub(crate) fn ramp_end(&self) -> Option<(Instant, usize)> {
        self.ramp_end.get().copied()
    }

    /// When measuring begins, once the ramp has ended.
    pub(crate) fn begins(&self) -> Option<Instant> {
        self.ramp_end().map(|(at, _)| at + self.warmup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window begins, after the warmup, when the last connection is up.
    #[test]
    fn window_begins_after_the_last_connection_and_the_warmup() {
        let window = Window::new(2, Duration::from_secs(1), true);
        let start = Instant::now();
        assert!(!window.connection_up(start));
        assert_eq!(window.begins(), None);
        let last = start + Duration::from_millis(300);
        assert!(
            window.connection_up(last),
            "the last connection ends the ramp"
        );
        assert_eq!(window.begins(), Some(last + Duration::from_secs(1)));
        assert_eq!(window.ramp_end(), Some((last, 2)));
    }

    /// Ended early (the ramp limit), it remembers how few were up; a later
    /// end changes nothing.
    #[test]
    fn window_ended_by_the_limit_keeps_the_count_then() {
        let window = Window::new(3, Duration::ZERO, true);
        let start = Instant::now();
        window.connection_up(start);
        window.begin(start + Duration::from_secs(6));
        window.connection_up(start + Duration::from_secs(7));
        assert!(
            !window.connection_up(start + Duration::from_secs(8)),
            "the ramp had already ended"
        );
        assert_eq!(window.ramp_end(), Some((start + Duration::from_secs(6), 1)));
        assert_eq!(window.all_up_at(), Some(start + Duration::from_secs(8)));
    }

    /// A child process's window waits for its parent even when all are up.
    #[test]
    fn window_of_a_child_waits_to_be_told() {
        let window = Window::new(1, Duration::ZERO, false);
        let now = Instant::now();
        assert!(!window.connection_up(now), "the parent ends the ramp");
        assert_eq!(window.all_up_at(), Some(now));
        assert_eq!(window.begins(), None);
    }
}
