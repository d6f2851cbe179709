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
    measure_start: Instant,
    /// The run's planned end (for the bar's length).
    planned_end: Instant,
    next_line: Instant,
}

impl Progress {
    pub(crate) fn new(
        mode: ProgressMode,
        run_start: Instant,
        measure_start: Instant,
        planned_end: Instant,
    ) -> Self {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let total_ms = planned_end.duration_since(run_start).as_millis() as u64;
            let style = ProgressStyle::with_template("{spinner} [{elapsed}] {wide_bar} {msg}")
                .expect("the template is valid");
            ProgressBar::new(total_ms).with_style(style)
        });
        Progress {
            mode,
            bar,
            run_start,
            measure_start,
            planned_end,
            next_line: run_start + LINE_EVERY,
        }
    }

    /// Show the state: `requests` answered and `errors` so far.
    pub(crate) fn update(&mut self, now: Instant, requests: u64, errors: u64) {
        let message = if now < self.measure_start {
            format!("warming up, {errors} errors")
        } else {
            let measured_s = now.duration_since(self.measure_start).as_secs_f64();
            let rate = if measured_s > 0.0 {
                requests as f64 / measured_s
            } else {
                0.0
            };
            format!("{requests} requests, {rate:.0} req/s, {errors} errors")
        };
        match self.mode {
            ProgressMode::Bar => {
                if let Some(bar) = &self.bar {
                    let elapsed = now.min(self.planned_end).duration_since(self.run_start);
                    bar.set_position(elapsed.as_millis() as u64);
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
