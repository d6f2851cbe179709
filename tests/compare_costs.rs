//! `sockbench compare --rounds --baseline` end to end, through the binary,
//! with the cost columns. A test binary of its own: cargo runs test
//! binaries one after another, so this one measures with no other test
//! loading the machine, and its context-switch comparison means something.

mod util;

use util::cli::{
    assert_last_progress_line_is_complete, counted_syscalls, csv_rows, scratch, sockbench,
};

/// `--rounds 6 --baseline threaded`: the CSV keeps every round's row (one
/// per engine, cell and round, plus the counting round 0), the verdicts
/// file has one row per other engine and cell, and the table shows ratio,
/// interval and verdict. The cost columns are there and plausible: at 100
/// connections the reactor (one thread, many ready sockets per wake-up)
/// makes fewer context switches per request than one thread per
/// connection, each of which blocks after every answer (or, with requests
/// always queued, is taken off the core); and every server
/// makes at least one system call per request answered, counted in the
/// counting round only.
#[test]
fn rounds_keep_every_row_and_give_verdicts_and_costs() {
    let dir = scratch("compare-rounds");
    let run = sockbench(&[
        "compare",
        "--engines",
        "threaded,reactor",
        "--connections",
        "100",
        "--duration",
        "300ms",
        "--rounds",
        "6",
        "--baseline",
        "threaded",
        "--name",
        "rounds",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "compare failed: {stderr}");
    assert_last_progress_line_is_complete(&stderr);
    assert!(stderr.contains("] round 6 of 6: "), "{stderr}");
    let counted = counted_syscalls(&stderr);
    // Paired and alternating: the two engines take turns, never one twice in a row.
    let engines_in_run_order: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with('['))
        .map(|line| line.split("] ").nth(1).unwrap())
        .map(|rest| rest.rsplit(": ").next().unwrap().split(' ').next().unwrap())
        .collect();
    assert!(engines_in_run_order.len() >= 12, "{stderr}");
    assert!(
        engines_in_run_order
            .windows(2)
            .all(|pair| pair[0] != pair[1]),
        "{engines_in_run_order:?}"
    );

    let all_rows = csv_rows(&dir.join("rounds.csv"));
    let first_round = if counted { 0 } else { 1 };
    for engine in ["threaded", "reactor"] {
        let mut rounds: Vec<u32> = all_rows
            .iter()
            .filter(|r| r["engine"] == engine)
            .map(|r| r["round"].parse().unwrap())
            .collect();
        rounds.sort();
        assert_eq!(rounds, (first_round..=6).collect::<Vec<u32>>(), "{engine}");
    }
    for row in &all_rows {
        let has_syscalls = !row["server_syscalls"].is_empty();
        assert_eq!(
            has_syscalls,
            row["round"] == "0",
            "counted in round 0 only: {row:?}"
        );
    }
    // Every round starts fresh server processes: no two runs of an engine
    // in different rounds share one.
    for engine in ["threaded", "reactor"] {
        let runs: Vec<&str> = all_rows
            .iter()
            .filter(|r| r["engine"] == engine)
            .map(|r| r["server_pid"].as_str())
            .collect();
        let distinct: std::collections::HashSet<&str> = runs.iter().copied().collect();
        assert!(runs.iter().all(|pid| !pid.is_empty()), "{runs:?}");
        assert_eq!(distinct.len(), runs.len(), "{engine}: {runs:?}");
    }
    let (counting, rows): (Vec<_>, Vec<_>) = all_rows.iter().partition(|r| r["round"] == "0");
    let verdicts = csv_rows(&dir.join("rounds.verdicts.csv"));
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert_eq!(verdicts[0]["engine"], "reactor");
    assert_eq!(verdicts[0]["rounds_used"], "6");
    let number = |row: &std::collections::HashMap<String, String>, name: &str| -> f64 {
        row[name]
            .parse()
            .unwrap_or_else(|_| panic!("{name} in {row:?}"))
    };
    assert!(number(&verdicts[0], "ratio_low") <= number(&verdicts[0], "median_ratio"));
    assert!(number(&verdicts[0], "median_ratio") <= number(&verdicts[0], "ratio_high"));
    assert!(stdout.contains("Against threaded"), "{stdout}");
    assert!(
        ["faster", "slower", "no difference"]
            .iter()
            .any(|v| stdout.contains(v)),
        "{stdout}"
    );
    assert!(stdout.contains("Cost per request"), "{stdout}");

    let per_request = |engine: &str, column: &str| -> f64 {
        let mut count = 0.0;
        let mut requests = 0.0;
        for row in rows.iter().filter(|r| r["engine"] == engine) {
            count += number(row, column);
            requests += number(row, "requests");
        }
        count / requests
    };
    // Both kinds together: a hundred threads either wait (voluntary) or,
    // when requests are always queued for them on a busy machine, are
    // taken off the core (involuntary); the reactor's one thread does
    // little of either.
    let switches =
        |engine: &str| per_request(engine, "server_vcsw") + per_request(engine, "server_ivcsw");
    let (threaded_cs, reactor_cs) = (switches("threaded"), switches("reactor"));
    assert!(
        reactor_cs < threaded_cs,
        "context switches per request: reactor {reactor_cs:.3}, threaded {threaded_cs:.3}"
    );
    for row in &counting {
        let per_request = number(row, "server_syscalls") / number(row, "requests");
        assert!(
            (1.0..100.0).contains(&per_request),
            "{per_request} per request: {row:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
