//! The per-second record of a run: every load thread's [`Interval`]s,
//! merged second by second, and their running total.
//!
//! One source for everything that looks at a run second by second: the
//! collector builds the report from it (its totals, `--timeline`, the
//! HdrHistogram log), and the live view (`--live`, [`crate::live`]) builds
//! its own from the same intervals as they arrive ([`super::Watch`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::stats::Interval;

/// One row of `--timeline`: one second of the measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimelineRow {
    /// Seconds since the measurement began.
    pub second: u64,
    /// Correct answers in that second.
    pub requests: u64,
    /// Errors in that second (second 0 includes the ramp's and the warmup's).
    pub errors: u64,
    /// Median latency of that second, µs.
    pub p50_us: u64,
    /// 99th percentile latency of that second, µs.
    pub p99_us: u64,
}

impl TimelineRow {
    /// The row of one (merged) second.
    pub fn of(interval: &Interval) -> Self {
        TimelineRow {
            second: interval.second,
            requests: interval.requests,
            errors: interval.errors.total(),
            p50_us: interval.latency_us.value_at_quantile(0.5),
            p99_us: interval.latency_us.value_at_quantile(0.99),
        }
    }
}

/// Intervals merged by second, and everything merged so far.
#[derive(Debug, Clone)]
pub struct Timeline {
    rate_mode: bool,
    by_second: BTreeMap<u64, Interval>,
    total: Interval,
}

impl Timeline {
    /// An empty timeline; `rate_mode` keeps the uncorrected latencies too.
    pub fn new(rate_mode: bool) -> Self {
        Timeline {
            rate_mode,
            by_second: BTreeMap::new(),
            total: Interval::new(0, rate_mode),
        }
    }

    /// Add one thread's interval to its second and to the total.
    pub fn add(&mut self, interval: &Interval) {
        self.total.merge(interval);
        self.by_second
            .entry(interval.second)
            .or_insert_with(|| Interval::new(interval.second, self.rate_mode))
            .merge(interval);
    }

    /// Every second so far, merged across threads, in order.
    pub fn seconds(&self) -> impl Iterator<Item = &Interval> {
        self.by_second.values()
    }

    /// The latest second any thread has reported (its other threads'
    /// shares may still be on their way).
    pub fn latest(&self) -> Option<&Interval> {
        self.by_second.values().next_back()
    }

    /// Everything so far (its `second` means nothing).
    pub fn total(&self) -> &Interval {
        &self.total
    }

    /// One `--timeline` row per second.
    pub fn rows(&self) -> Vec<TimelineRow> {
        self.seconds().map(TimelineRow::of).collect()
    }

    /// The total and the seconds, for the report.
    pub(crate) fn into_parts(self) -> (Interval, Vec<Interval>) {
        (self.total, self.by_second.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(second: u64, requests: u64, latency_us: u64) -> Interval {
        let mut interval = Interval::new(second, false);
        for _ in 0..requests {
            interval.record_answer(10, latency_us, latency_us);
        }
        interval
    }

    /// Two threads' shares of a second add up in that second and in the
    /// total; rows follow the seconds in order, whatever order they came in.
    #[test]
    fn timeline_merges_threads_by_second() {
        let mut timeline = Timeline::new(false);
        timeline.add(&interval(1, 3, 200));
        timeline.add(&interval(0, 2, 100));
        timeline.add(&interval(1, 1, 200));
        let rows = timeline.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].second, rows[0].requests), (0, 2));
        assert_eq!((rows[1].second, rows[1].requests), (1, 4));
        assert_eq!(rows[1].p50_us, 200);
        assert_eq!(timeline.total().requests, 6);
        assert_eq!(timeline.latest().map(|i| i.second), Some(1));
    }
}
