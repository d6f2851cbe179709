//! Paired rounds turned into verdicts (`compare --rounds N --baseline ENGINE`).
//!
//! In every round each engine runs each cell once, close in time to the
//! baseline's run of the same cell, so a slow spell of the machine lowers
//! both. The figure compared is therefore the ratio *within a round*:
//! `engine req/s ÷ baseline req/s`. Per cell:
//!
//! - the **median** of the rounds' ratios;
//! - a **95% confidence interval for that median**, distribution-free: the
//!   k-th smallest and k-th largest ratio, with k the largest number for
//!   which the binomial distribution (n rounds, ½) puts at most 2.5% below
//!   k. It assumes only that rounds are independent; not that ratios are
//!   normal, which on a shared VM they are not (one round in several is a
//!   30–40% outlier). With 9 or more rounds k ≥ 2, so a single wild round
//!   can only be the extreme value the interval leaves out. It needs at
//!   least 6 rounds to reach 95%; with fewer, the widest interval
//!   (smallest to largest) is shown with its lower coverage and no verdict
//!   is given. A bootstrap was not used: with 10 rounds it resamples the
//!   same few values and its percentiles are too narrow, and it is random.
//! - a **verdict**: `faster` when the whole interval is above 1.0, `slower`
//!   when it is below, `no difference` when it contains 1.0.
//!
//! A round in which either side failed (the server did not start or died,
//! or the load could not run) gives no ratio: it is left out and counted.

use std::io;
use std::path::Path;

use serde::Serialize;

use super::matrix::Contender;
use super::record::{CellKey, CellRecord};

/// The confidence the interval aims for.
pub const CONFIDENCE: f64 = 0.95;

/// What the interval says about an engine against the baseline.
/// Spelled in the CSV as in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The whole interval is above 1.0.
    #[serde(rename = "faster")]
    Faster,
    /// The whole interval is below 1.0.
    #[serde(rename = "slower")]
    Slower,
    /// The interval contains 1.0.
    #[serde(rename = "no difference")]
    NoDifference,
    /// Too few usable rounds for a 95% interval.
    #[serde(rename = "too few rounds")]
    TooFewRounds,
}

impl Verdict {
    /// How the table and the CSV spell it.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoDifference => "no difference",
            Verdict::TooFewRounds => "too few rounds",
        }
    }
}

/// One engine against the baseline in one cell, over the rounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The engine compared.
    pub engine: String,
    /// The engine it is compared with.
    pub baseline: String,
    /// Transport, service, work, connections, pipeline, size.
    pub transport: String,
    /// Service.
    pub service: String,
    /// Simulated work.
    pub work: String,
    /// Connections.
    pub connections: u64,
    /// Pipeline depth.
    pub pipeline: u64,
    /// Request size.
    pub size: u64,
    /// Rounds that gave a ratio.
    pub rounds_used: usize,
    /// Rounds left out because one side failed.
    pub rounds_left_out: usize,
    /// Median of the per-round ratios.
    pub median_ratio: Option<f64>,
    /// Lower end of the interval.
    pub ratio_low: Option<f64>,
    /// Upper end of the interval.
    pub ratio_high: Option<f64>,
    /// The interval's actual coverage (at least [`CONFIDENCE`] with enough rounds).
    pub coverage: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// A median and the distribution-free interval around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MedianInterval {
    /// The median.
    pub median: f64,
    /// The k-th smallest value.
    pub low: f64,
    /// The k-th largest value.
    pub high: f64,
    /// Probability that the interval holds the true median.
    pub coverage: f64,
}

/// The median of `values` and its interval; `None` for no values.
pub fn median_interval(values: &[f64]) -> Option<MedianInterval> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    // Largest k with P(B <= k-1) <= (1 - CONFIDENCE) / 2, B ~ Binomial(n, 1/2);
    // at least 1 (the whole range) when none reaches it.
    let tail = |k: usize| binomial_half_cdf(n, k - 1);
    let mut k = 1;
    while k < n.div_ceil(2) && tail(k + 1) <= (1.0 - CONFIDENCE) / 2.0 {
        k += 1;
    }
    Some(MedianInterval {
        median,
        low: sorted[k - 1],
        high: sorted[n - k],
        coverage: 1.0 - 2.0 * tail(k),
    })
}

/// P(B ≤ j) for B ~ Binomial(n, ½).
fn binomial_half_cdf(n: usize, j: usize) -> f64 {
    let mut choose = 1.0; // C(n, 0)
    let mut sum = 0.0;
    for i in 0..=j.min(n) {
        if i > 0 {
            choose = choose * (n + 1 - i) as f64 / i as f64;
        }
        sum += choose;
    }
    sum / 2f64.powi(n as i32)
}

/// The verdict an interval gives.
pub fn verdict_of(interval: &MedianInterval) -> Verdict {
    if interval.coverage < CONFIDENCE {
        Verdict::TooFewRounds
    } else if interval.low > 1.0 {
        Verdict::Faster
    } else if interval.high < 1.0 {
        Verdict::Slower
    } else {
        Verdict::NoDifference
    }
}

/// Whether a row gives a usable figure: its server ran and its load ran.
fn is_usable(record: &CellRecord) -> bool {
    record.outcome == "finished" && record.requests > 0
}

/// `row`'s engine against `baseline` in one round of `row`'s cell, if both
/// sides ran in it:
/// - runs that took turns (no `beside`): the two rows' req/s ratio;
/// - side by side with the baseline: the ratio to the baseline's run
///   beside it, of the same moment;
/// - side by side with another server P (`verdict` asked for a baseline
///   other than the one the runs were paired with): the two pairs' ratios
///   to P, divided, `(engine / P) / (baseline / P)`. Each pair cancels
///   its own moment; the quotient carries the noise of both pairs.
fn round_ratio(
    records: &[CellRecord],
    row: &CellRecord,
    baseline: &str,
    round: u64,
) -> Option<f64> {
    let find = |engine: &str, beside: Option<&str>| {
        records.iter().find(|r| {
            r.engine == engine
                && r.round == round
                && r.shape_key() == row.shape_key()
                && r.beside.as_deref() == beside
        })
    };
    let ratio = |a: &CellRecord, b: &CellRecord| {
        (is_usable(a) && is_usable(b)).then(|| a.req_per_s / b.req_per_s)
    };
    let engine = row.engine.as_str();
    if let (Some(own), Some(base)) = (find(engine, None), find(baseline, None)) {
        return ratio(own, base);
    }
    if let (Some(own), Some(base)) = (find(engine, Some(baseline)), find(baseline, Some(engine))) {
        return ratio(own, base);
    }
    // Paired with some P, as the baseline was: chain through P.
    records
        .iter()
        .filter(|r| r.engine == engine && r.round == round && r.shape_key() == row.shape_key())
        .find_map(|own| {
            let partner = own.beside.as_deref()?;
            let own_partner = find(partner, Some(engine))?;
            let base = find(baseline, Some(partner))?;
            let base_partner = find(partner, Some(baseline))?;
            Some(ratio(own, own_partner)? / ratio(base, base_partner)?)
        })
}

/// Every engine other than `baseline`, cell by cell, against `baseline`,
/// from the per-round rows of a comparison (the counting round, round 0,
/// is left out). Engines in table order ([`Contender::all`]), each one's
/// cells in order of first appearance.
pub fn compare_to_baseline(records: &[CellRecord], baseline: &str) -> Vec<Comparison> {
    let measured: Vec<CellRecord> = records.iter().filter(|r| r.round > 0).cloned().collect();
    let records = &measured[..];
    let mut cells: Vec<CellKey> = Vec::new();
    for record in records.iter().filter(|r| r.engine != baseline) {
        let key = record.cell_key();
        if !cells.contains(&key) {
            cells.push(key);
        }
    }
    let mut comparisons = cells
        .into_iter()
        .map(|key| {
            let rows: Vec<&CellRecord> = records.iter().filter(|r| r.cell_key() == key).collect();
            let mut rounds: Vec<u64> = rows.iter().map(|r| r.round).collect();
            rounds.sort_unstable();
            rounds.dedup();
            let mut ratios = Vec::new();
            let mut left_out = 0;
            for round in rounds {
                match round_ratio(records, rows[0], baseline, round) {
                    Some(ratio) => ratios.push(ratio),
                    None => left_out += 1,
                }
            }
            let interval = median_interval(&ratios);
            let first = rows[0];
            Comparison {
                engine: first.engine.clone(),
                baseline: baseline.to_string(),
                transport: first.transport.clone(),
                service: first.service.clone(),
                work: first.work.clone(),
                connections: first.connections,
                pipeline: first.pipeline,
                size: first.size,
                rounds_used: ratios.len(),
                rounds_left_out: left_out,
                median_ratio: interval.map(|i| i.median),
                ratio_low: interval.map(|i| i.low),
                ratio_high: interval.map(|i| i.high),
                coverage: interval.map(|i| i.coverage),
                verdict: interval.map_or(Verdict::TooFewRounds, |i| verdict_of(&i)),
            }
        })
        .collect::<Vec<Comparison>>();
    let table_order = Contender::all();
    comparisons.sort_by_key(|c| {
        table_order
            .iter()
            .position(|contender| contender.name() == c.engine)
            .unwrap_or(table_order.len())
    });
    comparisons
}

/// The comparisons as an aligned text table.
pub fn render(comparisons: &[Comparison]) -> String {
    let headings = [
        "engine", "vs", "service", "work", "conns", "pipe", "size", "rounds", "ratio", "interval",
        "verdict",
    ];
    let rows: Vec<Vec<String>> = comparisons
        .iter()
        .map(|c| {
            let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_string(), |r| format!("{r:.3}"));
            let interval = match (c.ratio_low, c.ratio_high, c.coverage) {
                (Some(low), Some(high), Some(coverage)) => {
                    let pct = |r: f64| format!("{:+.1}%", (r - 1.0) * 100.0);
                    let mut text = format!("{low:.3}-{high:.3} ({} to {})", pct(low), pct(high));
                    if coverage < CONFIDENCE {
                        text.push_str(&format!(", {:.1}% only", coverage * 100.0));
                    }
                    text
                }
                _ => "-".to_string(),
            };
            let rounds = if c.rounds_left_out > 0 {
                format!("{} ({} left out)", c.rounds_used, c.rounds_left_out)
            } else {
                c.rounds_used.to_string()
            };
            vec![
                c.engine.clone(),
                c.baseline.clone(),
                c.service.clone(),
                c.work.clone(),
                c.connections.to_string(),
                c.pipeline.to_string(),
                c.size.to_string(),
                rounds,
                ratio(c.median_ratio),
                interval,
                c.verdict.text().to_string(),
            ]
        })
        .collect();
    super::table::align(&headings, &rows, 4)
}

/// Write the comparisons as CSV.
pub fn write_csv(path: &Path, comparisons: &[Comparison]) -> io::Result<()> {
    let mut writer = csv::Writer::from_path(path).map_err(io::Error::other)?;
    for comparison in comparisons {
        writer.serialize(comparison).map_err(io::Error::other)?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::tests::sample;

    /// The interval's ranks are the textbook ones: n = 10 gives the 2nd
    /// and 9th values (97.9%), n = 6 the extremes (96.9%), and n = 5 no
    /// 95% interval (93.75%, no verdict).
    #[test]
    fn interval_ranks_and_coverage_match_the_binomial_table() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let ten = median_interval(&values).unwrap();
        assert_eq!((ten.median, ten.low, ten.high), (5.5, 2.0, 9.0));
        assert!((ten.coverage - 0.9785).abs() < 1e-3, "{}", ten.coverage);
        let six = median_interval(&values[..6]).unwrap();
        assert_eq!((six.low, six.high), (1.0, 6.0));
        assert!((six.coverage - 0.96875).abs() < 1e-9);
        let five = median_interval(&values[..5]).unwrap();
        assert_eq!(five.median, 3.0);
        assert!((five.coverage - 0.9375).abs() < 1e-9);
        assert_eq!(verdict_of(&five), Verdict::TooFewRounds);
        assert_eq!(median_interval(&[]), None);
    }

    /// Consistently higher ratios are `faster`, lower `slower`, straddling
    /// 1.0 `no difference`.
    #[test]
    fn verdicts_follow_where_the_interval_lies() {
        let around = |centre: f64| -> Vec<f64> {
            (0..10).map(|i| centre + (i as f64 - 4.5) * 0.004).collect()
        };
        let verdict = |values: Vec<f64>| verdict_of(&median_interval(&values).unwrap());
        assert_eq!(verdict(around(1.10)), Verdict::Faster);
        assert_eq!(verdict(around(0.90)), Verdict::Slower);
        assert_eq!(verdict(around(1.00)), Verdict::NoDifference);
    }

    /// One wild round, far off in either direction, moves neither the
    /// verdict nor the interval past its neighbour.
    #[test]
    fn one_wild_round_does_not_flip_the_verdict() {
        let steady: Vec<f64> = (0..10).map(|i| 1.05 + i as f64 * 0.002).collect();
        assert_eq!(
            verdict_of(&median_interval(&steady).unwrap()),
            Verdict::Faster
        );
        for wild in [0.55, 1.9] {
            let mut with_outlier = steady.clone();
            with_outlier[3] = wild;
            let interval = median_interval(&with_outlier).unwrap();
            assert_eq!(verdict_of(&interval), Verdict::Faster, "wild round {wild}");
            assert!(
                interval.low >= 1.05 && interval.high <= 1.07,
                "{interval:?}"
            );
        }
    }

    /// Side by side, a round holds one baseline run per other engine: each
    /// engine's ratio is taken against the run beside it, not another.
    #[test]
    fn side_by_side_ratios_pair_runs_of_the_same_moment() {
        let mut rows = Vec::new();
        for round in 1..=8u64 {
            // Each moment of the machine has its own speed; within a pair
            // both sides share it.
            for (engine, rate, moment_speed) in
                [("reactor", 95_000.0, 1.3), ("tokio", 90_000.0, 0.7)]
            {
                let mut row = sample(engine, 100, rate * moment_speed, Some(900));
                row.round = round;
                row.beside = Some("epoll-raw".to_string());
                let mut base = sample("epoll-raw", 100, 100_000.0 * moment_speed, Some(900));
                base.round = round;
                base.beside = Some(engine.to_string());
                rows.extend([row, base]);
            }
        }
        let comparisons = compare_to_baseline(&rows, "epoll-raw");
        let ratio = |engine: &str| {
            let c = comparisons.iter().find(|c| c.engine == engine).unwrap();
            (c.median_ratio.unwrap(), c.rounds_used)
        };
        let (reactor, used) = ratio("reactor");
        assert!((reactor - 0.95).abs() < 1e-9, "reactor {reactor}");
        assert_eq!(used, 8);
        let (tokio, _) = ratio("tokio");
        assert!((tokio - 0.90).abs() < 1e-9, "tokio {tokio}");
        // Against tokio, from the same rows: reactor and tokio never ran
        // together, so each pair's ratio to epoll-raw is divided.
        let against_tokio = compare_to_baseline(&rows, "tokio");
        let reactor = against_tokio
            .iter()
            .find(|c| c.engine == "reactor")
            .unwrap();
        assert!(
            (reactor.median_ratio.unwrap() - 0.95 / 0.90).abs() < 1e-9,
            "{reactor:?}"
        );
        assert_eq!((reactor.rounds_used, reactor.rounds_left_out), (8, 0));
        let epoll = against_tokio
            .iter()
            .find(|c| c.engine == "epoll-raw")
            .unwrap();
        assert!(
            (epoll.median_ratio.unwrap() - 1.0 / 0.90).abs() < 1e-9,
            "{epoll:?}"
        );
        assert_eq!(
            epoll.rounds_used, 8,
            "one ratio per round: the run beside tokio"
        );
    }

    /// Ratios pair each round with the baseline's same round and same
    /// cell; a failed round on either side is left out and counted.
    #[test]
    fn ratios_pair_rounds_and_leave_failed_ones_out() {
        let mut rows = Vec::new();
        for round in 1..=10u64 {
            // The machine's speed drifts from round to round; the pair does not.
            let speed = 1.0 + (round % 3) as f64 * 0.2;
            for (engine, rate) in [("epoll-raw", 100_000.0), ("reactor", 110_000.0)] {
                let mut row = sample(engine, 100, rate * speed, Some(900));
                row.round = round;
                rows.push(row);
            }
        }
        rows[3].outcome = "server-died".to_string(); // reactor, round 2
        rows[6].requests = 0; // epoll-raw, round 4
        let mut counting = sample("reactor", 100, 1.0, Some(900));
        counting.round = 0;
        rows.push(counting);
        let comparisons = compare_to_baseline(&rows, "epoll-raw");
        assert_eq!(
            comparisons.len(),
            1,
            "the baseline is not compared with itself"
        );
        let reactor = &comparisons[0];
        assert_eq!((reactor.rounds_used, reactor.rounds_left_out), (8, 2));
        assert!((reactor.median_ratio.unwrap() - 1.1).abs() < 1e-9);
        assert_eq!(reactor.verdict, Verdict::Faster);
        let table = render(&comparisons);
        assert!(
            table.contains("8 (2 left out)") && table.contains("faster"),
            "{table}"
        );
    }
}
