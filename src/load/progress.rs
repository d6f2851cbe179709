//! Showing a run while it goes: an `indicatif` bar on a terminal, a plain
//! line every few seconds otherwise (logs, CI, `compare`), or nothing.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How a run shows its progress on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A progress bar (for a terminal).
    Bar,
    /// A plain line every few seconds (for logs).
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// A bar when stderr is a terminal, lines otherwise.
    pub fn auto() -> Self {
        if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

/// Time between two plain progress lines.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// The live display of one run.
#[derive(Debug)]
pub(crate) struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    run_start: Instant,
    /// How long the measurement lasts once it begins (the bar's length
    /// is set then).
    measured: Duration,
    /// When measuring begins, once the ramp is over.
    measure_start: Option<Instant>,
    next_line: Instant,
    /// The answers counted so far and when that count last grew: the load
    /// threads report in steps, so a rate over the time since measuring
    /// began would fall between two steps while the count stands still.
    counted: (u64, Instant),
}

/// Where the run is, for the display (and the live view, [`super::RunEvent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// Connections up at least once.
    pub up: usize,
    /// Connections open now.
    pub open: usize,
    /// Connections asked for.
    pub connections: usize,
    /// When measuring begins, once the ramp is over.
    pub measure_start: Option<Instant>,
    /// Answers measured so far.
    pub requests: u64,
    /// Errors so far.
    pub errors: u64,
}

impl Progress {
    pub(crate) fn new(mode: ProgressMode, run_start: Instant, measured: Duration) -> Self {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let style = ProgressStyle::with_template("{spinner} [{elapsed}] {wide_bar} {msg}")
                .expect("the template is valid");
            // Its length is known once the ramp is over.
            ProgressBar::new(0).with_style(style)
        });
        Progress {
            mode,
            bar,
            run_start,
            measured,
            measure_start: None,
            next_line: run_start + LINE_EVERY,
            counted: (0, run_start),
        }
    }

    /// Show the state.
    pub(crate) fn update(&mut self, now: Instant, state: State) {
        if self.measure_start.is_none() {
            if let (Some(start), Some(bar)) = (state.measure_start, &self.bar) {
                let planned_end = start + self.measured;
                bar.set_length(planned_end.duration_since(self.run_start).as_millis() as u64);
            }
            self.measure_start = state.measure_start;
        }
        let State {
            up,
            connections,
            requests,
            errors,
            ..
        } = state;
        if requests != self.counted.0 {
            self.counted = (requests, now);
        }
        let message = match self.measure_start {
            None => format!("opening connections: {up} of {connections} up, {errors} errors"),
            Some(start) if now < start => format!("warming up, {errors} errors"),
            Some(start) => {
                let (counted, at) = self.counted;
                measuring_message(counted, at.saturating_duration_since(start), errors)
            }
        };
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    if let Some(start) = self.measure_start {
                        let elapsed = now
                            .min(start + self.measured)
                            .duration_since(self.run_start);
                        bar.set_position(elapsed.as_millis() as u64);
                    }
                    bar.set_message(message);
                }
            }
            ProgressMode::Lines if now >= self.next_line => {
                let elapsed = now.duration_since(self.run_start).as_secs();
                eprintln!("load: {elapsed} s: {message}");
                self.next_line = now + LINE_EVERY;
            }
            ProgressMode::Lines | ProgressMode::Quiet => {}
        }
    }

    /// Remove the bar before the summary is printed.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The progress message while measuring: `requests` answered in the first
/// `counted` of the window, and the rate over that same interval, so the
/// two always add up.
fn measuring_message(requests: u64, counted: Duration, errors: u64) -> String {
    let counted_s = counted.as_secs_f64();
    let rate = if counted_s > 0.0 {
        requests as f64 / counted_s
    } else {
        0.0
    };
    format!("{requests} requests in the first {counted_s:.1} s ({rate:.0} req/s), {errors} errors")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count and the rate describe one interval: 65,095 answers in
    /// 1.0 s are 65,095 req/s, whenever the line is printed.
    #[test]
    fn measuring_message_gives_count_and_rate_of_one_interval() {
        assert_eq!(
            measuring_message(65_095, Duration::from_secs(1), 0),
            "65095 requests in the first 1.0 s (65095 req/s), 0 errors"
        );
        assert_eq!(
            measuring_message(0, Duration::ZERO, 2),
            "0 requests in the first 0.0 s (0 req/s), 2 errors"
        );
    }

    /// A count that stands still between two reports keeps its rate: the
    /// line does not read as a collapse.
    #[test]
    fn a_count_standing_still_keeps_its_rate() {
        let start = Instant::now();
        let mut progress = Progress::new(ProgressMode::Quiet, start, Duration::from_secs(10));
        let state = |requests| State {
            up: 1,
            open: 1,
            connections: 1,
            measure_start: Some(start),
            requests,
            errors: 0,
        };
        progress.update(start + Duration::from_secs(1), state(1000));
        progress.update(start + Duration::from_secs(3), state(1000));
        assert_eq!(progress.counted, (1000, start + Duration::from_secs(1)));
    }
}
