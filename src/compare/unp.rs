//! `compare --scenario unp`: Stevens' server-design table (UNIX Network
//! Programming vol. 1, 3rd ed., chapter 30) on today's Linux.
//!
//! The book runs nine servers (rows 0 to 8 of [`DESIGNS`]) against one
//! web-like client: K processes, each opening connections back to back;
//! on each it writes a line asking for N bytes, reads them and closes.
//! Its table gives the CPU each server spends per connection beyond the
//! iterative server's (the "process control" time): what forking,
//! locking, waking and passing descriptors cost, with the serving itself
//! taken out. Here the same load is [`CLIENTS`] connections of the load
//! generator, `--requests-per-connection 1`, the `sized` service asking
//! for [`ANSWER_BYTES`], against every design of the book and the modern
//! ones (the `SO_REUSEPORT` prefork, the reactor, uring).
//!
//! The scenario is a preset of the ordinary matrix ([`plan`]), measured by
//! the verdict method (`docs/METHOD.md`): each server under a CPU quota
//! ([`SERVER_CPU`]) on the server core, so the server and not the load
//! generator is the bottleneck, in [`ROUNDS`] rounds, every server a fresh
//! process in each. Its tables ([`render`]) take each design's figures
//! from the rounds: server CPU per connection (user + system, every
//! process and thread, reaped children included) with its 95% interval;
//! the same minus the iterative server's of the same round (the book's
//! column); connections per second; p99 of connect + answer; context
//! switches per connection; how the connections spread over the workers
//! ([`spread`](super::spread)). Then each of the book's summary claims
//! against those figures ([`claims`]).

use super::curve::cpu_us_per_request;
use super::matrix::{Contender, MatrixSpec};
use super::record::CellRecord;
use super::spread::{self, Spread};
use super::table::align;
use super::verdict::{median_interval, MedianInterval, CONFIDENCE};
use crate::load::request_flags::LoadService;
use crate::service::ServiceKind;
use std::time::Duration;

/// The designs in table order: the contender name and where it comes from.
pub const DESIGNS: [(&str, &str); 12] = [
    ("iterative", "row 0: iterative (the baseline)"),
    ("fork", "row 1: one fork per client"),
    ("prefork-accept", "row 2: prefork, every child in accept"),
    ("prefork-flock", "row 3: prefork, file lock around accept"),
    (
        "prefork-mutex",
        "row 4: prefork, shared mutex around accept",
    ),
    (
        "prefork-pass",
        "row 5: prefork, parent passes the descriptor",
    ),
    ("threaded", "row 6: one thread per client"),
    (
        "prethreaded-mutex",
        "row 7: prethreaded, mutex around accept",
    ),
    ("pool", "row 8: prethreaded, main thread hands over"),
    ("prefork-x2", "modern: SO_REUSEPORT, a listener per child"),
    ("reactor", "modern: one epoll loop"),
    ("uring", "modern: io_uring completions"),
];

/// The book's client processes: each has one connection open at a time.
pub const CLIENTS: usize = 5;

/// What each request asks for (the book's runs use 4,000 bytes).
pub const ANSWER_BYTES: usize = 4_000;

/// Rounds: six are the fewest that give a 95% interval of the median.
pub const ROUNDS: usize = 6;

/// Each server's CPU quota, a share of one core. A connection per
/// request costs the generator a connect and a close as well, so the
/// quota is lower than the verdicts' 0.4 to keep the server the
/// bottleneck.
pub const SERVER_CPU: f64 = 0.3;

/// Length of each cell's measured window.
pub const CELL_DURATION: Duration = Duration::from_secs(2);

/// The scenario's matrix and the designs this build cannot run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The cells: every design built × one load shape.
    pub spec: MatrixSpec,
    /// One line per design whose name is no contender of this build.
    pub not_built: Vec<String>,
}

/// The preset: every design of [`DESIGNS`] this build has, [`CLIENTS`]
/// connections, one request each, `sized` asking for [`ANSWER_BYTES`].
pub fn plan() -> Plan {
    let mut contenders = Vec::new();
    let mut not_built = Vec::new();
    for (name, row) in DESIGNS {
        match name.parse::<Contender>() {
            Ok(contender) => contenders.push(contender),
            Err(_) => not_built.push(format!("{name} ({row}): not built")),
        }
    }
    Plan {
        spec: MatrixSpec {
            contenders,
            services: vec![LoadService::Own(ServiceKind::Sized)],
            connections: vec![CLIENTS],
            sizes_bytes: vec![ANSWER_BYTES],
            requests_per_connection: Some(1),
            cell_duration: CELL_DURATION,
            ..MatrixSpec::default_run()
        },
        not_built,
    }
}

/// One design's figures over the measured rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// The contender name.
    pub name: String,
    /// Server CPU µs per connection, median and interval.
    pub cpu_us: MedianInterval,
    /// The same minus the iterative server's in the same round.
    pub process_control_us: Option<MedianInterval>,
    /// Connections per second, median round.
    pub conn_per_s: f64,
    /// p99 of connect + answer in µs, median round.
    pub p99_us: Option<f64>,
    /// Server context switches per connection, median round.
    pub switches_per_conn: Option<f64>,
    /// The spread of the round with the median coefficient of variation.
    pub spread: Option<Spread>,
    /// Rounds that gave figures.
    pub rounds: usize,
}

/// Connections a row's run opened and closed: its answers over R.
fn connections_of(record: &CellRecord) -> f64 {
    record.requests as f64 / record.requests_per_connection.unwrap_or(1) as f64
}

/// Server CPU per connection of a usable row, µs.
fn cpu_us_per_connection(record: &CellRecord) -> Option<f64> {
    Some(cpu_us_per_request(record)? * record.requests_per_connection.unwrap_or(1) as f64)
}

/// The median of `values`, if any.
fn median(values: &[f64]) -> Option<f64> {
    median_interval(values).map(|m| m.median)
}

/// The figures of design `name` from the measured rounds of `records`;
/// `None` if no round of it gave any.
pub fn design(records: &[CellRecord], name: &str) -> Option<Design> {
    let rows: Vec<&CellRecord> = records
        .iter()
        .filter(|r| r.round > 0 && r.engine == name && cpu_us_per_connection(r).is_some())
        .collect();
    let cpu: Vec<f64> = rows
        .iter()
        .filter_map(|r| cpu_us_per_connection(r))
        .collect();
    let baseline_of = |round: u64| {
        records
            .iter()
            .filter(|r| r.round == round && r.engine == DESIGNS[0].0)
            .find_map(cpu_us_per_connection)
    };
    let process_control: Vec<f64> = rows
        .iter()
        .filter_map(|r| Some(cpu_us_per_connection(r)? - baseline_of(r.round)?))
        .collect();
    let switches: Vec<f64> = rows
        .iter()
        .filter_map(|r| {
            let switches = r.server_vcsw? + r.server_ivcsw?;
            Some(switches as f64 / connections_of(r))
        })
        .collect();
    let p99: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.p99_us)
        .map(|us| us as f64)
        .collect();
    let conn_per_s: Vec<f64> = rows
        .iter()
        .map(|r| r.req_per_s / r.requests_per_connection.unwrap_or(1) as f64)
        .collect();
    let mut spreads: Vec<Spread> = rows
        .iter()
        .filter_map(|r| Spread::of(&spread::parse_counts(r.server_spread.as_deref()?)?))
        .collect();
    spreads.sort_by(|a, b| a.cv.total_cmp(&b.cv));
    Some(Design {
        name: name.to_string(),
        cpu_us: median_interval(&cpu)?,
        process_control_us: median_interval(&process_control),
        conn_per_s: median(&conn_per_s)?,
        p99_us: median(&p99),
        switches_per_conn: median(&switches),
        spread: spreads.get(spreads.len() / 2).copied(),
        rounds: rows.len(),
    })
}

/// A median with its interval when the rounds give one at [`CONFIDENCE`].
fn with_interval(m: &MedianInterval) -> String {
    if m.coverage >= CONFIDENCE {
        format!("{:.1} [{:.1}, {:.1}]", m.median, m.low, m.high)
    } else {
        format!("{:.1}", m.median)
    }
}

/// Headings of the design table.
const HEADINGS: [&str; 8] = [
    "design",
    "book",
    "srv µs/conn",
    "process control µs",
    "conn/s",
    "p99 connect+answer",
    "cs/conn",
    "spread min-max, cv",
];

/// Both tables: the designs (every one of [`DESIGNS`], those without
/// figures said so: `not_built` names the ones this build lacks), then
/// the book's claims against them, then what the columns mean.
pub fn render(records: &[CellRecord], not_built: &[String]) -> String {
    let designs: Vec<Design> = DESIGNS
        .iter()
        .filter_map(|(name, _)| design(records, name))
        .collect();
    let rows: Vec<Vec<String>> = DESIGNS
        .iter()
        .map(|(name, row)| {
            let Some(d) = designs.iter().find(|d| d.name == *name) else {
                let why = if not_built
                    .iter()
                    .any(|line| line.starts_with(&format!("{name} (")))
                {
                    "not run: not built"
                } else {
                    "not run (see the progress output)"
                };
                return vec![name.to_string(), row.to_string(), why.to_string()];
            };
            let dash = || "-".to_string();
            vec![
                d.name.clone(),
                row.to_string(),
                with_interval(&d.cpu_us),
                d.process_control_us
                    .as_ref()
                    .map_or_else(dash, with_interval),
                format!("{:.0}", d.conn_per_s),
                d.p99_us.map_or_else(dash, |us| format!("{us:.0} µs")),
                d.switches_per_conn.map_or_else(dash, |n| format!("{n:.1}")),
                d.spread.map_or_else(dash, |s| s.to_string()),
            ]
        })
        .collect();
    let mut text = align(&HEADINGS, &rows, 2);
    text.push_str(&format!(
        "\nsrv µs/conn: server CPU (user + system, every process and thread, reaped children included) per connection, median of the rounds [its {}% interval from 6 rounds]; process control: the same minus the iterative server's of the same round, the book's column; cs/conn: the server's context switches per connection (threads alive at the window's ends: a thread or child per client that ended is not counted); spread: connections per worker of a pooled design, from the lines its workers write when stopped (warmup included), the round with the median cv.\n",
        CONFIDENCE * 100.0
    ));
    text.push_str("\nThe book's claims against these figures:\n\n");
    let claim_rows: Vec<Vec<String>> = claims(records, &designs)
        .into_iter()
        .map(|claim| vec![claim.claim.to_string(), claim.verdict, claim.numbers])
        .collect();
    text.push_str(&align(&["claim", "today", "figures"], &claim_rows, 3));
    text
}

/// One of the book's claims checked against the figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// What the book says.
    pub claim: &'static str,
    /// `holds`, `does not hold`, or why it was not checked.
    pub verdict: String,
    /// The figures it was judged by.
    pub numbers: String,
}

/// `holds` or `does not hold`.
fn verdict(holds: bool) -> String {
    if holds { "holds" } else { "does not hold" }.to_string()
}

/// Design `a`'s CPU per connection over `b`'s, paired by round (both ran
/// in each round, fresh, back to back, as the verdicts pair them): the
/// median of the rounds' ratios and its interval.
fn paired_ratio(records: &[CellRecord], a: &str, b: &str) -> Option<MedianInterval> {
    let of = |name: &str, round: u64| {
        records
            .iter()
            .filter(|r| r.round == round && r.engine == name)
            .find_map(cpu_us_per_connection)
    };
    let mut rounds: Vec<u64> = records
        .iter()
        .filter(|r| r.round > 0)
        .map(|r| r.round)
        .collect();
    rounds.sort_unstable();
    rounds.dedup();
    let ratios: Vec<f64> = rounds
        .iter()
        .filter_map(|&round| Some(of(a, round)? / of(b, round)?))
        .collect();
    median_interval(&ratios)
}

/// What a paired ratio says: cheaper or dearer when its interval lies
/// wholly below or above 1, else no difference (too few rounds for an
/// interval say no difference too: nothing was shown).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Order {
    Cheaper,
    NoDifference,
    Dearer,
}

impl Order {
    fn of(ratio: &MedianInterval) -> Order {
        if ratio.coverage < CONFIDENCE {
            Order::NoDifference
        } else if ratio.high < 1.0 {
            Order::Cheaper
        } else if ratio.low > 1.0 {
            Order::Dearer
        } else {
            Order::NoDifference
        }
    }

    fn words(self) -> &'static str {
        match self {
            Order::Cheaper => "cheaper",
            Order::NoDifference => "no difference",
            Order::Dearer => "dearer",
        }
    }
}

/// How a claim about pairs of designs is judged from their orders.
#[derive(Debug, Clone, Copy)]
enum Wanted {
    /// The first of each pair is cheaper: "holds" when every pair is,
    /// "does not hold" when one is dearer, else "no difference" or
    /// "partly".
    Cheaper,
    /// The first of each pair is no dearer (the lock it goes without
    /// buys nothing): "holds" unless one is dearer.
    NoDearer,
}

/// Each claim of the book's summary (section 30.13), judged by the
/// designs' CPU per connection paired by round (process control for the
/// first).
pub fn claims(records: &[CellRecord], designs: &[Design]) -> Vec<Claim> {
    let find = |name: &str| designs.iter().find(|d| d.name == name);
    let cpu = |d: &Design| d.cpu_us.median;
    let not_checked = |claim: &'static str, names: &[&str]| {
        let mut missing: Vec<&str> = Vec::new();
        for &name in names {
            if find(name).is_none() && !missing.contains(&name) {
                missing.push(name);
            }
        }
        Claim {
            claim,
            verdict: format!("not checked: {} not run", missing.join(", ")),
            numbers: String::new(),
        }
    };
    let judge = |claim: &'static str, wanted: Wanted, pairs: &[(&str, &str)]| {
        let names: Vec<&str> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        if names.iter().any(|n| find(n).is_none()) {
            return not_checked(claim, &names);
        }
        let mut orders = Vec::new();
        let mut numbers = Vec::new();
        for &(a, b) in pairs {
            let Some(ratio) = paired_ratio(records, a, b) else {
                return not_checked(claim, &[a, b]);
            };
            let order = Order::of(&ratio);
            orders.push(order);
            let (a, b) = (find(a).expect("checked"), find(b).expect("checked"));
            numbers.push(format!(
                "{} {:.1} vs {} {:.1} µs/conn, ratio {:.2} [{:.2}, {:.2}]: {}",
                a.name,
                cpu(a),
                b.name,
                cpu(b),
                ratio.median,
                ratio.low,
                ratio.high,
                order.words()
            ));
        }
        let all = |wanted: Order| orders.iter().all(|&o| o == wanted);
        let verdict = match wanted {
            _ if orders.contains(&Order::Dearer) => verdict(false),
            Wanted::NoDearer => verdict(true),
            Wanted::Cheaper if all(Order::Cheaper) => verdict(true),
            Wanted::Cheaper if all(Order::NoDifference) => "no difference".to_string(),
            Wanted::Cheaper => "partly".to_string(),
        };
        Claim {
            claim,
            verdict,
            numbers: numbers.join("; "),
        }
    };
    vec![
        pool_claim(designs),
        judge(
            "(b) every child calling accept beats passing descriptors",
            Wanted::Cheaper,
            &[("prefork-accept", "prefork-pass")],
        ),
        judge(
            "(c) threads are faster than processes",
            Wanted::Cheaper,
            &[("prethreaded-mutex", "prefork-mutex"), ("threaded", "fork")],
        ),
        judge(
            "(d) Linux needs no lock around accept",
            Wanted::NoDearer,
            &[
                ("prefork-accept", "prefork-flock"),
                ("prefork-accept", "prefork-mutex"),
            ],
        ),
        judge(
            "(e) a shared mutex is cheaper than a file lock",
            Wanted::Cheaper,
            &[("prefork-mutex", "prefork-flock")],
        ),
    ]
}

/// The designs that keep a pool of processes or threads.
const POOLS: [&str; 6] = [
    "prefork-accept",
    "prefork-flock",
    "prefork-mutex",
    "prefork-pass",
    "prethreaded-mutex",
    "pool",
];

/// (a) every pool's process control is a tenth of `fork`'s or less.
fn pool_claim(designs: &[Design]) -> Claim {
    let claim = "(a) a pool cuts process control >= 10x against a fork per client";
    let process_control = |name: &str| {
        designs
            .iter()
            .find(|d| d.name == name)
            .and_then(|d| d.process_control_us.map(|m| m.median))
    };
    let pools: Vec<(&str, f64)> = POOLS
        .iter()
        .filter_map(|&name| Some((name, process_control(name)?)))
        .collect();
    let Some(fork) = process_control("fork").filter(|_| !pools.is_empty()) else {
        return Claim {
            claim,
            verdict: "not checked: fork or every pool not run".to_string(),
            numbers: String::new(),
        };
    };
    // A pool at or below the baseline has cut all of it.
    let holds = pools.iter().all(|&(_, pool)| pool <= fork / 10.0);
    let numbers: Vec<String> = pools
        .iter()
        .map(|&(name, pool)| {
            if pool > 0.0 {
                format!("{name} {pool:.1} ({:.0}x)", fork / pool)
            } else {
                format!("{name} {pool:.1} (at the baseline)")
            }
        })
        .collect();
    Claim {
        claim,
        verdict: verdict(holds),
        numbers: format!("fork {fork:.1} µs; {}", numbers.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::tests::sample;

    /// A row of `engine` in `round`: `requests` connections (R = 1) for
    /// `cpu_s` of server CPU.
    fn row(engine: &str, round: u64, cpu_s: f64, requests: u64) -> CellRecord {
        CellRecord {
            round,
            server_cpu_s: cpu_s,
            requests,
            requests_per_connection: Some(1),
            server_spread: None,
            ..sample(engine, 5, requests as f64 / 3.0, Some(900))
        }
    }

    /// The preset is the book's load: 5 clients, a connection per
    /// request, 4,000 bytes from `sized`; the designs this build lacks
    /// are named, the others run in the book's order.
    #[test]
    fn plan_is_the_books_load_over_every_design_built() {
        let plan = plan();
        assert_eq!(plan.spec.connections, [CLIENTS]);
        assert_eq!(plan.spec.services, [LoadService::Own(ServiceKind::Sized)]);
        assert_eq!(plan.spec.sizes_bytes, [4000]);
        assert_eq!(plan.spec.requests_per_connection, Some(1));
        assert_eq!(
            plan.spec.contenders.len() + plan.not_built.len(),
            DESIGNS.len()
        );
        assert_eq!(plan.spec.contenders[0].name(), "iterative");
        for line in &plan.not_built {
            assert!(line.ends_with(": not built"), "{line}");
        }
    }

    /// CPU per connection is per round; process control subtracts the
    /// iterative server's of the same round, so the baseline's is 0.
    #[test]
    fn process_control_subtracts_the_same_rounds_baseline() {
        let records = vec![
            row("iterative", 1, 0.010, 1000), // 10 µs/conn
            row("fork", 1, 0.100, 1000),      // 100
            row("iterative", 2, 0.020, 1000), // 20
            row("fork", 2, 0.120, 1000),      // 120
            row("fork", 0, 9.0, 10),          // the counting round: left out
        ];
        let fork = design(&records, "fork").unwrap();
        assert_eq!(fork.rounds, 2);
        assert!((fork.cpu_us.median - 110.0).abs() < 1e-9);
        assert!((fork.process_control_us.unwrap().median - 95.0).abs() < 1e-9);
        let baseline = design(&records, "iterative").unwrap();
        assert_eq!(baseline.process_control_us.unwrap().median, 0.0);
        assert!(design(&records, "pool").is_none());
    }

    /// The spread column comes from the rows' worker counts.
    #[test]
    fn spread_is_read_from_the_rows() {
        let records = vec![
            row("iterative", 1, 0.01, 100),
            CellRecord {
                server_spread: Some("1;3".to_string()),
                ..row("pool", 1, 0.02, 100)
            },
        ];
        let pool = design(&records, "pool").unwrap();
        assert_eq!(pool.spread.unwrap().cv, 0.5);
    }

    /// Six rounds of `designs` (name, server CPU s for 1,000 connections),
    /// each round's figures a little apart, as measured ones are.
    fn rounds(designs: &[(&str, f64)]) -> Vec<CellRecord> {
        (1..=6)
            .flat_map(|round| {
                designs.iter().map(move |&(name, cpu_s)| {
                    row(name, round, cpu_s * (1.0 + 0.01 * round as f64), 1000)
                })
            })
            .collect()
    }

    fn judged(records: &[CellRecord]) -> Vec<Claim> {
        let designs: Vec<Design> = DESIGNS
            .iter()
            .filter_map(|(name, _)| design(records, name))
            .collect();
        claims(records, &designs)
    }

    /// Claim (a) holds when every pool's process control is a tenth of
    /// fork's or less, and says which pools it checked; a pair claim
    /// holds when the paired ratio's interval lies below 1; a claim whose
    /// designs did not run says which are missing.
    #[test]
    fn claims_are_judged_from_the_figures() {
        let records = rounds(&[
            ("iterative", 0.010),
            ("fork", 0.110),           // 100 µs over the baseline
            ("prefork-accept", 0.015), // 5: 20x
            ("prefork-pass", 0.030),   // 20: 5x
        ]);
        let claims = judged(&records);
        assert_eq!(claims[0].verdict, "does not hold");
        assert!(
            claims[0].numbers.contains("prefork-accept 5.2 (20x)"),
            "{}",
            claims[0].numbers
        );
        assert_eq!(claims[1].verdict, "holds", "{}", claims[1].numbers);
        assert!(
            claims[1].numbers.contains("ratio 0.50"),
            "{}",
            claims[1].numbers
        );
        assert!(
            claims[2]
                .verdict
                .starts_with("not checked: prethreaded-mutex, prefork-mutex, threaded not run"),
            "{}",
            claims[2].verdict
        );
        let text = render(
            &records,
            &["uring (modern: io_uring completions): not built".to_string()],
        );
        assert!(text.contains("not run: not built"));
        assert!(text.contains("(a) a pool cuts process control"));
    }

    /// Designs within each other's noise are no difference, not a claim
    /// refuted: "threads are faster" is partly true when one pair is
    /// cheaper and the other even, and "no lock is needed" holds when
    /// going without is no dearer.
    #[test]
    fn even_designs_are_no_difference_not_a_refutation() {
        let mut records = rounds(&[
            ("iterative", 0.010),
            ("fork", 0.100),
            ("threaded", 0.020),
            ("prefork-accept", 0.012),
            ("prefork-flock", 0.012),
            ("prefork-mutex", 0.012),
            ("prethreaded-mutex", 0.012),
        ]);
        // Round by round, prefork-mutex a little above and below the others.
        for record in &mut records {
            if record.engine == "prefork-mutex" {
                record.server_cpu_s *= if record.round % 2 == 0 { 1.02 } else { 0.98 };
            }
        }
        let claims = judged(&records);
        assert_eq!(claims[2].verdict, "partly", "{}", claims[2].numbers);
        assert!(
            claims[2].numbers.contains("no difference"),
            "{}",
            claims[2].numbers
        );
        assert_eq!(claims[3].verdict, "holds", "{}", claims[3].numbers);
        assert_eq!(claims[4].verdict, "no difference", "{}", claims[4].numbers);
    }
}
