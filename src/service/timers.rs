//! The two timeouts every engine enforces, decided in one place: a
//! connection that moves no byte for the idle timeout is dropped, and so is
//! one whose started request is not complete within the request timeout (a
//! slowloris client trickling bytes to dodge the idle timeout).
//!
//! Sans-IO like the rest of `service/`: nothing here reads a clock. The
//! caller passes `now` (as quinn-proto's `Connection` is handed `now`), so
//! an event loop reads the clock once per turn, and a test can step time.
//! The blocking engines turn these rules into socket timeouts; the event
//! loops keep a [`Timers`] per connection and sweep them now and then.

use std::time::{Duration, Instant};

/// The two limits, as the engine's configuration sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Drop a connection after this long without a byte moving.
    pub idle: Duration,
    /// Drop a connection whose partial request is not complete by then.
    pub request: Duration,
}

/// When a connection last moved a byte, and when its current partial
/// request began.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    last_active: Instant,
    partial_since: Option<Instant>,
}

impl Timers {
    /// A connection that is active at `now`, with no partial request.
    pub fn new(now: Instant) -> Timers {
        Timers {
            last_active: now,
            partial_since: None,
        }
    }

    /// Something moved at `now`: the idle clock starts again.
    pub fn touch(&mut self, now: Instant) {
        self.last_active = now;
    }

    /// After the session has seen input: start the request clock when a
    /// partial request appears, stop it when none is left.
    pub fn note_partial(&mut self, has_partial_request: bool, now: Instant) {
        self.partial_since = track_partial(self.partial_since, has_partial_request, || now);
    }

    /// Why the connection is to be dropped at `now`, if it is.
    pub fn expired(&self, now: Instant, timeouts: &Timeouts) -> Option<String> {
        match self.partial_since {
            Some(since) if now - since >= timeouts.request => Some(timeout_reason(true, timeouts)),
            _ if now - self.last_active >= timeouts.idle => Some(timeout_reason(false, timeouts)),
            _ => None,
        }
    }
}

/// When the current partial request began: kept while one is pending,
/// started at `now()` when one appears, cleared when none is left. `now` is
/// called only when a partial request appears, so a blocking engine pays
/// for no clock read on the requests that arrive whole.
pub fn track_partial(
    since: Option<Instant>,
    has_partial_request: bool,
    now: impl FnOnce() -> Instant,
) -> Option<Instant> {
    match (has_partial_request, since) {
        (true, None) => Some(now()),
        (true, since) => since,
        (false, _) => None,
    }
}

/// The reason logged for a connection dropped by a timeout.
pub fn timeout_reason(has_partial_request: bool, timeouts: &Timeouts) -> String {
    if has_partial_request {
        format!(
            "request not complete after {:?} (slow client): dropped",
            timeouts.request
        )
    } else {
        format!("idle for {:?}: dropped", timeouts.idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        idle: Duration::from_secs(60),
        request: Duration::from_secs(10),
    };

    /// A partial request expires on the request timeout, long before the
    /// idle one, even while bytes keep trickling in (slowloris).
    #[test]
    fn partial_request_expires_on_the_request_timeout() {
        let start = Instant::now();
        let mut timers = Timers::new(start);
        timers.note_partial(true, start);
        let trickle = start + Duration::from_secs(9);
        timers.touch(trickle);
        timers.note_partial(true, trickle);
        assert_eq!(timers.expired(trickle, &TIMEOUTS), None);
        let why = timers
            .expired(start + TIMEOUTS.request, &TIMEOUTS)
            .expect("the request timeout has passed");
        assert!(why.contains("slow client"), "{why}");
    }

    /// With no partial request, only the idle timeout applies, counted
    /// from the last byte that moved.
    #[test]
    fn idle_timeout_counts_from_the_last_activity() {
        let start = Instant::now();
        let mut timers = Timers::new(start);
        timers.note_partial(true, start);
        timers.note_partial(false, start);
        let later = start + Duration::from_secs(30);
        timers.touch(later);
        assert_eq!(timers.expired(start + TIMEOUTS.idle, &TIMEOUTS), None);
        let why = timers
            .expired(later + TIMEOUTS.idle, &TIMEOUTS)
            .expect("idle for the whole timeout");
        assert!(why.starts_with("idle for"), "{why}");
    }
}
