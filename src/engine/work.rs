//! Simulated per-request work: the "make this request expensive" knob.
//!
//! `--work sleep:1ms` models a request that waits on something slow (a disk,
//! another service): the thread is blocked but the CPU is free. `--work
//! cpu:100us` models computation: the thread spins and the core is busy.
//! Threads hide the first kind and cannot hide the second once every core is
//! busy; an event loop hides neither, because its one thread does the work
//! for every connection. The engines charge the work in whichever thread
//! handles the connection, so the difference shows in the figures.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// What each answered request costs the thread that handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Work {
    /// Requests are free (the default).
    #[default]
    None,
    /// Block the thread for this long per request.
    Sleep(Duration),
    /// Keep the CPU busy for this long per request.
    Cpu(Duration),
}

impl Work {
    /// Spend the work for `requests` requests in the calling thread.
    pub fn perform(self, requests: usize) {
        if requests == 0 {
            return;
        }
        match self {
            Work::None => {}
            Work::Sleep(per_request) => std::thread::sleep(per_request * requests as u32),
            Work::Cpu(per_request) => spin_for(per_request * requests as u32),
        }
    }
}

/// Busy-wait on the CPU: this spin *is* the simulated computation.
fn spin_for(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Work::None => f.write_str("none"),
            Work::Sleep(d) => write!(f, "sleep:{}", humantime::format_duration(*d)),
            Work::Cpu(d) => write!(f, "cpu:{}", humantime::format_duration(*d)),
        }
    }
}

impl FromStr for Work {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "none" {
            return Ok(Work::None);
        }
        let usage = || {
            format!("invalid work '{s}': expected none, sleep:DURATION or cpu:DURATION (e.g. sleep:1ms, cpu:100us)")
        };
        let (kind, duration) = s.split_once(':').ok_or_else(usage)?;
        let duration = humantime::parse_duration(duration)
            .map_err(|e| format!("invalid work duration in '{s}': {e} (e.g. 1ms, 100us)"))?;
        match kind {
            "sleep" => Ok(Work::Sleep(duration)),
            "cpu" => Ok(Work::Cpu(duration)),
            _ => Err(usage()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textual forms the CLI accepts parse, and print back the same way.
    #[test]
    fn work_parses_and_round_trips() {
        for text in ["none", "sleep:1ms", "cpu:100us"] {
            let work: Work = text.parse().unwrap();
            assert_eq!(work.to_string(), text);
        }
        assert_eq!(
            "sleep:50ms".parse(),
            Ok(Work::Sleep(Duration::from_millis(50)))
        );
    }

    /// Malformed work specs are rejected with a hint.
    #[test]
    fn work_rejects_bad_specs() {
        for text in ["sleep", "nap:1ms", "cpu:fast", ""] {
            let err = text.parse::<Work>().unwrap_err();
            assert!(err.contains("e.g."), "{err}");
        }
    }
}
