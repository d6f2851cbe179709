//! What the live view knows, built from [`Event`]s alone: no terminal, no
//! clock of its own (the time to show is passed in), so a test can hand it
//! per-second data and check every figure the screen will show.
//!
//! The current run's seconds are a [`Timeline`], fed the same
//! [`Interval`](crate::load::Interval)s the load collector merges for the
//! report and `--timeline`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::load::progress::State;
use crate::load::{ErrorCounts, ErrorKind, Percentiles, RunEvent, Timeline};

use super::Event;

/// Progress lines kept for the log pane.
const LINES_KEPT: usize = 50;

/// A run that `compare` finished: one bar of the growing chart.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedCell {
    /// The server (`reactor`, `epoll-raw`...).
    pub engine: String,
    /// The cell's shape apart from the server (`4 conn`...).
    pub shape: String,
    /// Correct answers per second.
    pub req_per_s: f64,
    /// 99th percentile latency, if anything was answered.
    pub p99_us: Option<u64>,
    /// Errors of the run.
    pub errors: u64,
}

/// Which of compare's runs is under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellHeader {
    /// 1-based.
    pub number: usize,
    /// Runs in the whole comparison.
    pub of: usize,
    /// What it runs, as the progress line says.
    pub label: String,
}

/// The run under way.
#[derive(Debug, Clone)]
pub struct RunView {
    /// Connections asked for.
    pub connections: usize,
    /// How long it measures.
    pub measured: Duration,
    /// Its request limit, if it has one.
    pub requests_limit: Option<u64>,
    /// Where it was when last told.
    pub state: Option<State>,
    /// Its seconds so far, merged across load threads.
    pub timeline: Timeline,
}

/// Where a run is, in words and numbers, at a given moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Nothing has started yet.
    Waiting,
    /// The connections are being opened.
    Ramp {
        /// Connections up at least once.
        up: usize,
        /// Asked for.
        connections: usize,
    },
    /// Every connection is up; the unmeasured warmup runs.
    Warmup,
    /// Measuring: this far in, this much left.
    Measuring {
        /// Since measuring began, at most the measured time.
        elapsed: Duration,
        /// Until the planned end.
        remaining: Duration,
    },
}

/// One bar of the latency histogram: answers at most `upper_us`, above
/// the previous bar's bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// The upper bound, µs.
    pub upper_us: u64,
    /// Answers in the bucket.
    pub count: u64,
}

/// Everything the view shows.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The first line: what is being run.
    pub title: String,
    /// `compare` only: the run under way.
    pub cell: Option<CellHeader>,
    /// The current run, once one has started.
    pub run: Option<RunView>,
    /// `compare`: the run before, shown until the current one has a
    /// second to show (a run shorter than a second has none until it ends).
    pub previous: Option<RunView>,
    /// `compare` only: finished runs, the latest of each cell.
    pub finished: Vec<FinishedCell>,
    /// The last progress lines.
    pub lines: VecDeque<String>,
    /// The user asked to stop (`q`): the view says what happens next.
    pub stopping: bool,
    /// What stopping does, in words (load: "stopping now"; compare: after
    /// the run under way).
    pub stop_note: String,
    /// It shows a comparison (a second chart for the finished cells).
    pub is_compare: bool,
}

impl Dashboard {
    /// The run whose figures to show, and whether it is the previous one:
    /// the current run once it has a second, the previous run until then.
    pub fn shown_run(&self) -> (Option<&RunView>, bool) {
        match (&self.run, &self.previous) {
            (Some(run), _) if run.has_data() => (Some(run), false),
            (_, Some(previous)) => (Some(previous), true),
            (run, None) => (run.as_ref(), false),
        }
    }

    /// The view of one `load` run.
    pub fn for_load(title: String) -> Self {
        Dashboard {
            title,
            cell: None,
            run: None,
            previous: None,
            finished: Vec::new(),
            lines: VecDeque::new(),
            stopping: false,
            stop_note: "q pressed: stopping now".to_string(),
            is_compare: false,
        }
    }

    /// The view of a comparison.
    pub fn for_compare(title: String) -> Self {
        Dashboard {
            stop_note: "q pressed: stopping after this run".to_string(),
            is_compare: true,
            ..Dashboard::for_load(title)
        }
    }

    /// Take in one event.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Run(RunEvent::Started {
                connections,
                measured,
                requests,
            }) => {
                self.run = Some(RunView {
                    connections,
                    measured,
                    requests_limit: requests,
                    state: None,
                    // The live figures are the corrected latencies in rate
                    // mode too: those are the ones the report leads with.
                    timeline: Timeline::new(false),
                });
            }
            Event::Run(RunEvent::Progress(state)) => {
                if let Some(run) = &mut self.run {
                    run.state = Some(state);
                }
            }
            Event::Run(RunEvent::Interval(interval)) => {
                if let Some(run) = &mut self.run {
                    run.timeline.add(&interval);
                }
            }
            // The phase shown comes from the progress state's window start.
            Event::Run(RunEvent::Measuring | RunEvent::Measured) => {}
            Event::Cell(header) => {
                self.cell = Some(header);
                if let Some(run) = self.run.take().filter(RunView::has_data) {
                    self.previous = Some(run);
                }
            }
            Event::Finished(cell) => {
                match self
                    .finished
                    .iter_mut()
                    .find(|f| f.engine == cell.engine && f.shape == cell.shape)
                {
                    // A later round of the same cell replaces the earlier.
                    Some(earlier) => *earlier = cell,
                    None => self.finished.push(cell),
                }
            }
            Event::Line(line) => {
                if self.lines.len() == LINES_KEPT {
                    self.lines.pop_front();
                }
                self.lines.push_back(line);
            }
        }
    }
}

impl RunView {
    /// Some load thread has reported a second.
    pub fn has_data(&self) -> bool {
        self.timeline.latest().is_some()
    }

    /// Where the run is at `now`.
    pub fn phase(&self, now: Instant) -> Phase {
        let Some(state) = self.state else {
            return Phase::Waiting;
        };
        match state.measure_start {
            None => Phase::Ramp {
                up: state.up,
                connections: state.connections,
            },
            Some(start) if now < start => Phase::Warmup,
            Some(start) => {
                let elapsed = now.duration_since(start).min(self.measured);
                Phase::Measuring {
                    elapsed,
                    remaining: self.measured - elapsed,
                }
            }
        }
    }

    /// The chart's line: each second's requests/s held flat across that
    /// second (two points, its start and its end), so one second already
    /// shows as a line. The planned last second may be shorter (a 300 ms
    /// run has only that): its rate is over its own length.
    pub fn rate_points(&self) -> Vec<(f64, f64)> {
        self.timeline
            .seconds()
            .flat_map(|interval| {
                let length_s = self.length_s(interval.second);
                let rate = interval.requests as f64 / length_s;
                let start_s = interval.second as f64;
                [(start_s, rate), (start_s + length_s, rate)]
            })
            .collect()
    }

    /// The latest second's number and percentiles, once one is in.
    pub fn last_second(&self) -> Option<(u64, Percentiles)> {
        let latest = self.timeline.latest()?;
        (!latest.latency_us.is_empty())
            .then(|| (latest.second, Percentiles::of(&latest.latency_us)))
    }

    /// Percentiles of every answer so far.
    pub fn overall(&self) -> Option<Percentiles> {
        let total = &self.timeline.total().latency_us;
        (!total.is_empty()).then(|| Percentiles::of(total))
    }

    /// Answers in the seconds reported so far, and their rate over those
    /// seconds.
    pub fn answers(&self) -> (u64, f64) {
        let requests = self.timeline.total().requests;
        let covered_s = self
            .timeline
            .latest()
            .map_or(0.0, |last| last.second as f64 + self.length_s(last.second));
        let rate = if covered_s > 0.0 {
            requests as f64 / covered_s
        } else {
            0.0
        };
        (requests, rate)
    }

    /// How long second `second` of the measurement is: 1 s, or less for
    /// the planned last one.
    fn length_s(&self, second: u64) -> f64 {
        let left_s = (self.measured.as_secs_f64() - second as f64).clamp(0.0, 1.0);
        if left_s > 0.0 {
            left_s
        } else {
            1.0
        }
    }

    /// Errors so far, by kind (the ramp's and warmup's are in second 0,
    /// which arrives with the first second measured).
    pub fn errors(&self) -> ErrorCounts {
        self.timeline.total().errors
    }

    /// The latency histogram, from the bucket of the fastest answer to
    /// that of the slowest: in 1-2-5 steps, or in powers of ten when those
    /// would be more than `most` buckets.
    pub fn histogram(&self, most: usize) -> Vec<Bucket> {
        let total = &self.timeline.total().latency_us;
        if total.is_empty() {
            return Vec::new();
        }
        let mut bounds = bucket_bounds(total.min(), total.max(), &[1, 2, 5]);
        if bounds.len() > most {
            bounds = bucket_bounds(total.min(), total.max(), &[1]);
        }
        let mut buckets: Vec<Bucket> = bounds
            .into_iter()
            .map(|upper_us| Bucket { upper_us, count: 0 })
            .collect();
        for recorded in total.iter_recorded() {
            let value_us = recorded.value_iterated_to();
            let index = buckets
                .iter()
                .position(|bucket| value_us <= bucket.upper_us)
                .unwrap_or(buckets.len() - 1);
            buckets[index].count += recorded.count_at_value();
        }
        buckets
    }
}

/// Upper bounds (µs) covering `min_us..=max_us`, in `steps` of each power
/// of ten (`[1, 2, 5]`: 1, 2, 5, 10, 20, 50...).
fn bucket_bounds(min_us: u64, max_us: u64, steps_of_ten: &[u64]) -> Vec<u64> {
    let mut steps = Vec::new();
    let mut decade = 1u64;
    let covers_max = |steps: &[u64]| matches!(steps.last(), Some(&last) if last >= max_us);
    while !covers_max(&steps) {
        for &step in steps_of_ten {
            let Some(bound) = step.checked_mul(decade) else {
                return steps; // past any latency
            };
            if bound >= min_us && !covers_max(&steps) {
                steps.push(bound);
            }
        }
        decade = decade.saturating_mul(10);
    }
    steps
}

/// Every kind that happened, with its count.
pub fn error_kinds(errors: &ErrorCounts) -> Vec<(&'static str, u64)> {
    ErrorKind::ALL
        .into_iter()
        .map(|kind| (kind.name(), errors.get(kind)))
        .filter(|&(_, count)| count > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Interval;

    /// Each second is a flat step at its rate; the short last second of a
    /// 1.5 s run counts over its half second.
    #[test]
    fn rate_points_hold_each_seconds_rate_across_it() {
        let mut run = RunView {
            connections: 1,
            measured: Duration::from_millis(1500),
            requests_limit: None,
            state: None,
            timeline: Timeline::new(false),
        };
        for (second, requests) in [(0, 1000), (1, 300)] {
            let mut interval = Interval::new(second, false);
            interval.requests = requests;
            run.timeline.add(&interval);
        }
        assert_eq!(
            run.rate_points(),
            vec![(0.0, 1000.0), (1.0, 1000.0), (1.0, 600.0), (1.5, 600.0)]
        );
    }

    /// Buckets start at the fastest answer's and end at the slowest's.
    #[test]
    fn buckets_cover_the_fastest_to_the_slowest_answer() {
        let steps = [1, 2, 5];
        assert_eq!(bucket_bounds(70, 900, &steps), vec![100, 200, 500, 1000]);
        assert_eq!(bucket_bounds(1, 1, &steps), vec![1]);
        assert_eq!(bucket_bounds(3, 20, &steps), vec![5, 10, 20]);
        assert_eq!(
            bucket_bounds(70, 20_000, &[1]),
            vec![100, 1000, 10_000, 100_000]
        );
    }
}
