//! What the engines share beyond the session driver, written once: the
//! accept back-off, the connection cap's log, panic containment, the event
//! loops' deadlines (accept pause, stop grace, timeout sweep) and the
//! `--trace` sink.
//!
//! Every engine may use this module and none owns it, so no engine imports
//! another. The blocking engines use the back-off, the cap and the panic
//! text; the event loops (`reactor`, `offload`, `uring`) also keep their
//! timers in a [`Deadlines`] and wait until its earliest.

use std::any::Any;
use std::fmt;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::EngineConfig;
use crate::io_util::is_out_of_descriptors;
use crate::service::buffered::{Timeouts, Timers};

/// Enforces the connection cap, logging once each time the server fills
/// up rather than once per refused client.
#[derive(Debug, Default)]
pub struct CapacityLog {
    is_full: bool,
}

impl CapacityLog {
    /// Whether one more connection fits beside the `open` ones.
    pub fn admit(&mut self, open: usize, max_connections: usize) -> bool {
        let fits = open < max_connections;
        if !fits && !self.is_full {
            log::warn!(
                "{max_connections} connections open (the --max-connections limit): closing new ones until some end"
            );
        } else if fits && self.is_full {
            log::warn!("below the connection limit again: accepting");
        }
        self.is_full = !fits;
        fits
    }
}

/// Back-off state for a failing `accept`.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    delay: Option<Duration>,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// Accepting worked again: the next failure starts a new episode.
    pub fn reset(&mut self) {
        if self.delay.take().is_some() {
            log::warn!("accept recovered");
        }
    }

    /// How long to wait after `err`; logs the first failure of an episode.
    pub fn next_delay(&mut self, err: &io::Error) -> Duration {
        let delay = match self.delay {
            None => {
                let hint = if is_out_of_descriptors(err) {
                    " (out of file descriptors: raise `ulimit -n` or lower the connection count)"
                } else {
                    ""
                };
                log::warn!("accept failed: {err}{hint}; backing off");
                Self::FIRST
            }
            Some(d) => (d * 2).min(Self::MAX),
        };
        self.delay = Some(delay);
        delay
    }
}

/// Write the spread line of a pooled design's worker as it stops, to
/// standard error: `sockbench: worker W served N connections` (W counts
/// from 0 within the server). `compare --scenario unp` reads these lines to
/// show how connections spread over the children or threads.
///
/// One `write(2)` of a line formatted on the stack: lines from several
/// children never interleave, and a forked child takes no lock (not even
/// std's stderr lock, which another thread may have held at the fork).
pub fn report_served(worker: usize, connections: u64) {
    let (line, len) = served_line(worker, connections);
    // SAFETY: writes `len` initialised bytes of `line` to descriptor 2.
    unsafe {
        libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), len);
    }
}

/// The spread line, newline included, in a stack buffer: (buffer, length).
fn served_line(worker: usize, connections: u64) -> ([u8; 96], usize) {
    let mut line = [0u8; 96];
    let mut cursor = io::Cursor::new(&mut line[..]);
    // 96 bytes hold the text with two 20-digit numbers: this cannot fail.
    let _ = writeln!(
        cursor,
        "sockbench: worker {worker} served {connections} connections"
    );
    let len = cursor.position() as usize;
    (line, len)
}

/// The text of a panic payload, when it has one.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "no message"
    }
}

/// Run a session call, turning a panic in it (a bug) into the reason to
/// close that one connection rather than the whole loop.
pub fn contained<T>(call: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(call))
        .map_err(|panic| format!("handler panicked ({})", panic_message(&panic)))
}

/// How often an event loop looks for expired connections: a quarter of
/// the shorter timeout, so a timeout fires at most 25% late.
pub fn sweep_interval(timeouts: &Timeouts) -> Duration {
    (timeouts.idle.min(timeouts.request) / 4).max(Duration::from_millis(10))
}

/// An event loop's own timers: the accept pause (with its back-off), the
/// end of a stop's grace, the next timeout sweep. The loop waits until the
/// earliest ([`Deadlines::wait`]) and asks, once per turn, which are due.
#[derive(Debug)]
pub struct Deadlines {
    timeouts: Timeouts,
    grace: Duration,
    /// While accept fails (out of descriptors), accepting pauses until
    /// this instant instead of being retried in a tight loop.
    accept_paused_until: Option<Instant>,
    accept_backoff: AcceptBackoff,
    /// Set by a stop: after this instant, remaining connections are cut off.
    stop_deadline: Option<Instant>,
    /// When to next look for connections past their timeouts.
    next_sweep: Instant,
}

impl Deadlines {
    /// The timers of a loop started at `now`.
    pub fn new(config: &EngineConfig, now: Instant) -> Deadlines {
        let timeouts = config.timeouts();
        Deadlines {
            timeouts,
            grace: config.grace,
            accept_paused_until: None,
            accept_backoff: AcceptBackoff::default(),
            stop_deadline: None,
            next_sweep: now + sweep_interval(&timeouts),
        }
    }

    /// How long the loop may wait from `now`: until the earliest deadline.
    pub fn wait(&self, now: Instant) -> Duration {
        [self.accept_paused_until, self.stop_deadline]
            .into_iter()
            .flatten()
            .fold(self.next_sweep, Instant::min)
            .saturating_duration_since(now)
    }

    /// An accept succeeded: a back-off episode, if any, is over.
    pub fn accept_succeeded(&mut self) {
        self.accept_backoff.reset();
    }

    /// An accept failed with `err` at `now` (out of descriptors, or
    /// worse): retrying at once would fail again, so pause accepting for
    /// the back-off's next delay.
    pub fn accept_failed(&mut self, err: &io::Error, now: Instant) {
        self.accept_paused_until = Some(now + self.accept_backoff.next_delay(err));
    }

    /// Accepting is paused.
    pub fn is_accept_paused(&self) -> bool {
        self.accept_paused_until.is_some()
    }

    /// A descriptor is free again: end the pause at `now` rather than at
    /// the end of the back-off.
    pub fn shorten_accept_pause(&mut self, now: Instant) {
        if self.accept_paused_until.is_some() {
            self.accept_paused_until = Some(now);
        }
    }

    /// Whether the accept pause is over at `now`; it ends when this says so.
    pub fn take_accept_resume(&mut self, now: Instant) -> bool {
        match self.accept_paused_until {
            Some(until) if now >= until => {
                self.accept_paused_until = None;
                true
            }
            _ => false,
        }
    }

    /// When a timeout sweep is due at `now`: the connections among
    /// `timers` past a timeout, with why (and the next sweep is scheduled).
    /// Otherwise none, and `timers` is not even looked at.
    pub fn expired_if_due<'a, K>(
        &mut self,
        timers: impl Iterator<Item = (K, &'a Timers)>,
        now: Instant,
    ) -> Vec<(K, String)> {
        if now < self.next_sweep {
            return Vec::new();
        }
        self.next_sweep = now + sweep_interval(&self.timeouts);
        timers
            .filter_map(|(key, timers)| Some((key, timers.expired(now, &self.timeouts)?)))
            .collect()
    }

    /// Begin a stop at `now`: the grace period starts and accepting ends.
    /// `false` if a stop is already under way (there is nothing to begin).
    pub fn begin_stop(&mut self, now: Instant) -> bool {
        if self.stop_deadline.is_some() {
            return false;
        }
        self.stop_deadline = Some(now + self.grace);
        self.accept_paused_until = None;
        true
    }

    /// A stop is under way.
    pub fn is_stopping(&self) -> bool {
        self.stop_deadline.is_some()
    }

    /// Stopped, and either no connection is `open` or the grace is over.
    pub fn is_finished(&self, open: usize, now: Instant) -> bool {
        match self.stop_deadline {
            None => false,
            Some(deadline) => open == 0 || now >= deadline,
        }
    }
}

/// Where `--trace` lines go: standard output (the default, for the
/// lecture), or a capture a demo or a test reads back.
#[derive(Debug, Clone, Default)]
pub enum TraceSink {
    /// Print each line.
    #[default]
    Stdout,
    /// Keep each line for [`TraceCapture::take_lines`].
    Capture(TraceCapture),
}

/// Trace lines kept in memory, shared with the engine that writes them.
#[derive(Debug, Clone, Default)]
pub struct TraceCapture(Arc<Mutex<Vec<String>>>);

impl TraceCapture {
    /// The lines written since the last call, in order.
    pub fn take_lines(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// An engine's trace: off, or on with its sink. When off, a trace point
/// costs one test of an `Option` ([`trace_line!`](crate::trace_line)): its text is
/// not even formatted.
#[derive(Debug, Clone)]
pub struct Trace {
    sink: Option<TraceSink>,
}

impl Trace {
    /// On when `is_on`, writing to `sink`.
    pub fn new(is_on: bool, sink: &TraceSink) -> Trace {
        Trace {
            sink: is_on.then(|| sink.clone()),
        }
    }

    /// Whether lines are wanted.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// Write one line (use [`trace_line!`](crate::trace_line), which checks
    /// [`is_on`](Self::is_on) first).
    #[cold]
    pub fn line(&self, args: fmt::Arguments<'_>) {
        match &self.sink {
            None => {}
            Some(TraceSink::Stdout) => println!("{args}"),
            Some(TraceSink::Capture(capture)) => capture
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(args.to_string()),
        }
    }
}

/// `trace_line!(trace, "format", args..)`: one trace line, formatted only when
/// the [`Trace`] is on.
#[macro_export]
macro_rules! trace_line {
    ($trace:expr, $($arg:tt)*) => {
        if $trace.is_on() {
            $trace.line(format_args!($($arg)*));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Back-off doubles from 10 ms up to 1 s and starts over after a reset.
    #[test]
    fn accept_backoff_doubles_and_caps() {
        let err = io::Error::from_raw_os_error(libc::EMFILE);
        let mut backoff = AcceptBackoff::default();
        let delays: Vec<_> = (0..10).map(|_| backoff.next_delay(&err)).collect();
        assert_eq!(delays[0], Duration::from_millis(10));
        assert_eq!(delays[1], Duration::from_millis(20));
        assert_eq!(*delays.last().unwrap(), Duration::from_secs(1));
        backoff.reset();
        assert_eq!(backoff.next_delay(&err), Duration::from_millis(10));
    }

    /// A loop waits until its earliest deadline: the sweep, then an accept
    /// pause or a stop's grace when they come sooner.
    #[test]
    fn deadlines_wait_for_the_earliest() {
        let config = EngineConfig {
            idle_timeout: Duration::from_secs(8),
            request_timeout: Duration::from_secs(4),
            grace: Duration::from_millis(500),
            ..EngineConfig::default()
        };
        let start = Instant::now();
        let mut deadlines = Deadlines::new(&config, start);
        assert_eq!(deadlines.wait(start), Duration::from_secs(1));
        deadlines.accept_failed(&io::Error::from_raw_os_error(libc::EMFILE), start);
        assert_eq!(deadlines.wait(start), Duration::from_millis(10));
        assert!(!deadlines.take_accept_resume(start));
        assert!(deadlines.take_accept_resume(start + Duration::from_millis(10)));
        assert!(deadlines.begin_stop(start));
        assert!(!deadlines.begin_stop(start), "a stop begins once");
        assert_eq!(deadlines.wait(start), Duration::from_millis(500));
        assert!(!deadlines.is_finished(1, start));
        assert!(deadlines.is_finished(0, start));
        assert!(deadlines.is_finished(1, start + config.grace));
    }

    /// The spread line is exactly the text `compare --scenario unp` parses,
    /// whole even with the largest counts.
    #[test]
    fn served_line_is_the_spread_line() {
        let (line, len) = served_line(3, 1250);
        assert_eq!(
            &line[..len],
            b"sockbench: worker 3 served 1250 connections\n"
        );
        let (line, len) = served_line(usize::MAX, u64::MAX);
        assert!(line[..len].ends_with(b" connections\n"));
    }

    /// A captured trace holds the lines written while on, none while off.
    #[test]
    fn trace_writes_to_its_capture_only_when_on() {
        let capture = TraceCapture::default();
        let sink = TraceSink::Capture(capture.clone());
        let on = Trace::new(true, &sink);
        let off = Trace::new(false, &sink);
        crate::trace_line!(on, "[loop] accept    #{}", 3);
        crate::trace_line!(off, "[loop] never");
        assert_eq!(capture.take_lines(), ["[loop] accept    #3"]);
        assert!(capture.take_lines().is_empty());
    }
}
