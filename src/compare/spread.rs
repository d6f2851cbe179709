//! How connections spread over the workers of a pooled server: the
//! `sockbench: worker W served N connections` lines each prefork child,
//! prethreaded thread and pool thread writes on the server's stderr when
//! it stops (`engine::kit::report_served`), read back and summed up.
//!
//! UNP's chapter 30 shows this spread for its preforked servers (Figure
//! 30.13): with every child blocked in `accept`, the kernel hands each
//! connection to one of them, and how evenly it does is the figure. Here
//! it is [`Spread`]: the fewest and most connections a worker served and
//! the coefficient of variation (standard deviation over mean, 0 when
//! every worker served as many).

use std::fmt;

/// What every line starts with.
const PREFIX: &str = "sockbench: worker ";

/// The worker index and connection count of one spread line, or `None`
/// for any other line (the server's own log lines are skipped).
pub fn parse_line(line: &str) -> Option<(usize, u64)> {
    let rest = line.trim_end().strip_prefix(PREFIX)?;
    let (worker, rest) = rest.split_once(" served ")?;
    let count = rest.strip_suffix(" connections")?;
    Some((worker.parse().ok()?, count.parse().ok()?))
}

/// The connections each worker served, worker 0 first, from a server's
/// last stderr lines; empty when it wrote none (a design that is not a
/// pool). A worker that wrote no line counts 0.
pub fn counts_of(lines: &[String]) -> Vec<u64> {
    let parsed: Vec<(usize, u64)> = lines.iter().filter_map(|line| parse_line(line)).collect();
    let workers = parsed
        .iter()
        .map(|&(worker, _)| worker + 1)
        .max()
        .unwrap_or(0);
    let mut counts = vec![0; workers];
    for (worker, count) in parsed {
        counts[worker] = count;
    }
    counts
}

/// `counts` as the CSV keeps them: `3;5;4`.
pub fn format_counts(counts: &[u64]) -> String {
    counts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(";")
}

/// The counts of a CSV cell written by [`format_counts`]; `None` if it is
/// empty or not that.
pub fn parse_counts(text: &str) -> Option<Vec<u64>> {
    let counts: Option<Vec<u64>> = text.split(';').map(|n| n.trim().parse().ok()).collect();
    counts.filter(|counts| !counts.is_empty())
}

/// The spread of connections over a server's workers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Workers that wrote a line (or were skipped between two that did).
    pub workers: usize,
    /// Fewest connections one worker served.
    pub min: u64,
    /// Most connections one worker served.
    pub max: u64,
    /// Population standard deviation over the mean; 0 with no connections.
    pub cv: f64,
}

impl Spread {
    /// The spread of `counts`; `None` without workers.
    pub fn of(counts: &[u64]) -> Option<Spread> {
        let workers = counts.len();
        if workers == 0 {
            return None;
        }
        let mean = counts.iter().sum::<u64>() as f64 / workers as f64;
        let variance = counts
            .iter()
            .map(|&count| (count as f64 - mean).powi(2))
            .sum::<f64>()
            / workers as f64;
        Some(Spread {
            workers,
            min: *counts.iter().min()?,
            max: *counts.iter().max()?,
            cv: if mean > 0.0 {
                variance.sqrt() / mean
            } else {
                0.0
            },
        })
    }
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{} over {}, cv {:.2}",
            self.min, self.max, self.workers, self.cv
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line exactly as the shared interface spells it is read; near
    /// misses and the server's other lines are not.
    #[test]
    fn spread_lines_are_read_exactly_as_the_interface_spells_them() {
        assert_eq!(
            parse_line("sockbench: worker 3 served 1250 connections"),
            Some((3, 1250))
        );
        assert_eq!(
            parse_line("sockbench: worker 0 served 0 connections\n"),
            Some((0, 0))
        );
        for other in [
            "sockbench: worker 3 served 1250 connection",
            "sockbench: worker x served 1 connections",
            "worker 3 served 1250 connections",
            "[WARN] 127.0.0.1:4000: closing: request \"\" is not a number",
            "sockbench: worker -1 served 4 connections",
        ] {
            assert_eq!(parse_line(other), None, "{other}");
        }
    }

    /// Counts are put in worker order, a silent worker counts 0, other
    /// lines are skipped; the CSV form reads back.
    #[test]
    fn counts_follow_worker_order_and_round_trip_the_csv() {
        let lines: Vec<String> = [
            "SIGTERM: no new connections",
            "sockbench: worker 2 served 7 connections",
            "sockbench: worker 0 served 5 connections",
        ]
        .map(String::from)
        .to_vec();
        let counts = counts_of(&lines);
        assert_eq!(counts, [5, 0, 7]);
        assert_eq!(format_counts(&counts), "5;0;7");
        assert_eq!(parse_counts("5;0;7"), Some(counts));
        assert_eq!(parse_counts(""), None);
        assert!(counts_of(&[]).is_empty());
    }

    /// Even counts have cv 0; 1 and 3 have mean 2, deviation 1, cv 0.5.
    #[test]
    fn spread_gives_min_max_and_coefficient_of_variation() {
        let even = Spread::of(&[4, 4, 4, 4]).unwrap();
        assert_eq!((even.min, even.max, even.cv), (4, 4, 0.0));
        let uneven = Spread::of(&[1, 3]).unwrap();
        assert_eq!((uneven.min, uneven.max, uneven.cv), (1, 3, 0.5));
        assert_eq!(uneven.to_string(), "1-3 over 2, cv 0.50");
        assert_eq!(Spread::of(&[0, 0]).unwrap().cv, 0.0);
        assert_eq!(Spread::of(&[]), None);
    }
}
