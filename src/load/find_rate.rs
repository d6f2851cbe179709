//! `--find-rate --slo p99=10ms`: the highest fixed request rate the server
//! sustains while meeting a latency objective.
//!
//! A closed-loop probe gives the most the server does at all; then short
//! open-loop runs bisect between 0 and that: a rate passes when the run is
//! clean, reaches at least [`ACHIEVED_FRACTION`] of the rate asked for, and
//! its corrected latency at the objective's percentile is within bounds.
//! At most [`MAX_STEPS`] runs (the probe included), each as long as the
//! configured `--duration`.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use super::config::{LoadConfig, RunLimit};
use super::progress::ProgressMode;
use super::report::format_us;
use super::threads::run;

/// Most runs in one search, the closed-loop probe included.
pub const MAX_STEPS: usize = 8;

/// A rate passes only if the run achieved this fraction of it.
pub const ACHIEVED_FRACTION: f64 = 0.9;

/// Stop bisecting once the bounds are this close (relative).
const PRECISION: f64 = 0.02;

/// A latency objective: the latency at `percentile` must not exceed `limit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// 0..100, e.g. 99.0 for p99.
    pub percentile: f64,
    /// The bound.
    pub limit: Duration,
}

impl FromStr for Slo {
    type Err = String;

    /// Parse `p99=10ms`, `p99.9=2ms`, `p50=500us`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hint =
            || format!("'{s}' is not a latency objective: write it like p99=10ms or p99.9=2ms");
        let (name, limit) = s.split_once('=').ok_or_else(hint)?;
        let percentile: f64 = name
            .strip_prefix('p')
            .and_then(|p| p.parse().ok())
            .filter(|p| *p > 0.0 && *p <= 100.0)
            .ok_or_else(hint)?;
        let limit = humantime::parse_duration(limit).map_err(|_| hint())?;
        Ok(Slo { percentile, limit })
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p{} <= {}",
            self.percentile,
            format_us(self.limit.as_micros() as u64)
        )
    }
}

/// One run of the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStep {
    /// The rate asked for; `None` for the closed-loop probe.
    pub rate_per_s: Option<f64>,
    /// Correct answers per second achieved.
    pub achieved_req_per_s: f64,
    /// Corrected latency at the objective's percentile, µs.
    pub latency_us: u64,
    /// Errors in the run.
    pub errors: u64,
    /// Whether the rate met the objective (always false for the probe).
    pub passed: bool,
}

/// The search's result.
#[derive(Debug, Clone)]
pub struct FindRateReport {
    /// The objective.
    pub slo: Slo,
    /// The highest rate that passed, if any did.
    pub best_rate_per_s: Option<f64>,
    /// Every run, in order.
    pub steps: Vec<RateStep>,
}

impl fmt::Display for FindRateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>12} {:>12} {:>12} {:>7}  verdict",
            "rate", "achieved", "latency", "errors"
        )?;
        for step in &self.steps {
            let rate = step
                .rate_per_s
                .map_or("closed loop".into(), |r| format!("{r:.0}/s"));
            let verdict = match (step.rate_per_s, step.passed) {
                (None, _) => "probe",
                (Some(_), true) => "meets the objective",
                (Some(_), false) => "misses",
            };
            writeln!(
                f,
                "{rate:>12} {:>10.0}/s {:>12} {:>7}  {verdict}",
                step.achieved_req_per_s,
                format_us(step.latency_us),
                step.errors
            )?;
        }
        match self.best_rate_per_s {
            Some(rate) => write!(f, "highest rate meeting {}: {rate:.0} req/s", self.slo),
            None => write!(f, "no rate tried met {}", self.slo),
        }
    }
}

/// Search for the highest rate meeting `slo`. `config.limit` must be a
/// duration: the length of each step. Steps are reported as plain lines
/// unless `progress` is quiet.
pub fn find_rate(
    config: &LoadConfig,
    slo: Slo,
    progress: ProgressMode,
) -> io::Result<FindRateReport> {
    if !matches!(config.limit, RunLimit::Duration(_)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--find-rate runs short timed steps: give each step's length with --duration, not --requests",
        ));
    }
    let mut report = FindRateReport {
        slo,
        best_rate_per_s: None,
        steps: Vec::new(),
    };
    let step = |rate_per_s: Option<f64>| -> io::Result<RateStep> {
        let step_config = LoadConfig {
            rate_per_s,
            ..config.clone()
        };
        let result = run(&step_config, ProgressMode::Quiet)?;
        let latency_us = result.percentile_us(slo.percentile);
        let achieved = result.req_per_s();
        let step = RateStep {
            rate_per_s,
            achieved_req_per_s: achieved,
            latency_us,
            errors: result.errors.total(),
            passed: rate_per_s.is_some_and(|rate| {
                result.is_clean()
                    && achieved >= ACHIEVED_FRACTION * rate
                    && latency_us <= slo.limit.as_micros() as u64
            }),
        };
        if progress != ProgressMode::Quiet {
            let rate = rate_per_s.map_or("closed-loop probe".into(), |r| format!("rate {r:.0}/s"));
            eprintln!(
                "find-rate: {rate}: {achieved:.0} req/s, p{} {}, {} errors",
                slo.percentile,
                format_us(latency_us),
                step.errors
            );
        }
        Ok(step)
    };
    let probe = step(None)?;
    report.steps.push(probe);
    if probe.achieved_req_per_s <= 0.0 {
        return Err(io::Error::other(
            "the closed-loop probe got no answer: is the server running and does it speak this service?",
        ));
    }
    let (mut low, mut high) = (0.0, probe.achieved_req_per_s);
    let mut rate = high;
    while report.steps.len() < MAX_STEPS {
        let result = step(Some(rate))?;
        report.steps.push(result);
        if result.passed {
            report.best_rate_per_s = Some(rate);
            low = rate;
        } else {
            high = rate;
        }
        if result.passed && rate >= probe.achieved_req_per_s || (high - low) <= PRECISION * high {
            break;
        }
        rate = (low + high) / 2.0;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `p99=10ms` and `p99.9=500us` parse; nonsense says how to write it.
    #[test]
    fn slo_parses_percentile_and_bound() {
        let slo: Slo = "p99=10ms".parse().unwrap();
        assert_eq!(slo.percentile, 99.0);
        assert_eq!(slo.limit, Duration::from_millis(10));
        let slo: Slo = "p99.9=500us".parse().unwrap();
        assert_eq!(slo.percentile, 99.9);
        let err = "99=10ms".parse::<Slo>().unwrap_err();
        assert!(err.contains("p99=10ms"), "{err}");
        assert!("p120=1ms".parse::<Slo>().is_err());
    }
}
