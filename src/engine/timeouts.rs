//! The two timeouts every engine enforces, decided in one place: a
//! connection that moves no byte for `idle_timeout` is dropped, and so is
//! one whose started request is not complete within `request_timeout` (a
//! slowloris client trickling bytes to dodge the idle timeout).
//!
//! The blocking engines turn these into socket timeouts; the event loops
//! (`reactor`, `uring`) keep a [`Timers`] per connection and sweep them
//! every [`sweep_interval`].

use std::time::{Duration, Instant};

use super::EngineConfig;

/// When a connection last moved a byte, and when its current partial
/// request began.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    last_active: Instant,
    partial_since: Option<Instant>,
}

impl Timers {
    /// A connection that is active now, with no partial request.
    pub fn new() -> Timers {
        Timers {
            last_active: Instant::now(),
            partial_since: None,
        }
    }

    /// Something moved: the idle clock starts again.
    pub fn touch(&mut self) {
        self.last_active = Instant::now();
    }

    /// After the session has seen input: start the request clock when a
    /// partial request appears, stop it when none is left.
    pub fn note_partial(&mut self, has_partial_request: bool) {
        self.partial_since = track_partial(self.partial_since, has_partial_request);
    }

    /// Why the connection is to be dropped at `now`, if it is.
    pub fn expired(&self, now: Instant, config: &EngineConfig) -> Option<String> {
        match self.partial_since {
            Some(since) if now - since >= config.request_timeout => {
                Some(timeout_reason(true, config))
            }
            _ if now - self.last_active >= config.idle_timeout => {
                Some(timeout_reason(false, config))
            }
            _ => None,
        }
    }
}

impl Default for Timers {
    fn default() -> Self {
        Timers::new()
    }
}

/// When the current partial request began: kept while one is pending,
/// started now when one appears, cleared when none is left.
pub fn track_partial(since: Option<Instant>, has_partial_request: bool) -> Option<Instant> {
    match (has_partial_request, since) {
        (true, None) => Some(Instant::now()),
        (true, since) => since,
        (false, _) => None,
    }
}

/// The reason logged for a connection dropped by a timeout.
pub fn timeout_reason(has_partial_request: bool, config: &EngineConfig) -> String {
    if has_partial_request {
        format!(
            "request not complete after {:?} (slow client): dropped",
            config.request_timeout
        )
    } else {
        format!("idle for {:?}: dropped", config.idle_timeout)
    }
}

/// How often an event loop looks for expired connections: a quarter of
/// the shorter timeout, so a timeout fires at most 25% late.
pub fn sweep_interval(config: &EngineConfig) -> Duration {
    (config.idle_timeout.min(config.request_timeout) / 4).max(Duration::from_millis(10))
}

/// How long an event loop may wait: until the earliest of its deadlines
/// (accept back-off, end of a stop's grace, next sweep) that is set, from
/// `now`; `None` when none is set.
pub fn wait_until_earliest(deadlines: &[Option<Instant>], now: Instant) -> Option<Duration> {
    deadlines
        .iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(now))
}
