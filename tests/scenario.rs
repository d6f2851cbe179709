//! `sockbench compare --scenario` end to end, through the binary, scaled
//! down (`--scale`) so that each run takes seconds: the rows it writes,
//! and the input it refuses. The reference servers are left out
//! (`--engines`): their example binaries are not built by `cargo test`.

mod util;

use util::cli::{csv_rows, scratch, sockbench};

/// c100k at 1/500 (200 connections over 8 generator processes and 8 source
/// addresses, against the prefork reactor and the one-process reactor):
/// every connection is held by the server through the window, nothing
/// fails, and the memory columns are filled.
#[test]
fn scaled_c100k_holds_every_connection_on_prefork_and_reactor() {
    let dir = scratch("scenario-c100k");
    let run = sockbench(&[
        "compare",
        "--scenario",
        "c100k",
        "--scale",
        "0.002",
        "--engines",
        "prefork-x8,reactor",
        "--out-dir",
        dir.to_str().unwrap(),
        "--name",
        "small",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let rows = csv_rows(&dir.join("small.csv"));
    let engines: Vec<&str> = rows.iter().map(|r| r["engine"].as_str()).collect();
    assert_eq!(engines, ["prefork-x8", "reactor"]);
    for row in &rows {
        assert_eq!(row["connections"], "200", "{row:?}");
        assert_eq!(
            row["server_connections"], "200",
            "held by the server: {row:?}"
        );
        assert_eq!(row["connections_up"], "200", "{row:?}");
        assert_eq!(row["errors"], "0", "{row:?}");
        assert_eq!(row["outcome"], "finished", "{row:?}");
        assert_eq!(row["generator_processes"], "8", "{row:?}");
        assert_eq!(row["sources"], "8", "{row:?}");
        assert!(row["requests"].parse::<u64>().unwrap() > 0, "{row:?}");
        for column in [
            "rss_per_connection_kib",
            "slab_per_connection_kib",
            "p99_us",
        ] {
            assert!(!row[column].is_empty(), "{column} empty: {row:?}");
        }
    }
    assert!(
        rows[0]["server_threads"].parse::<u64>().unwrap() >= 8,
        "8 processes"
    );
    let machine = std::fs::read_to_string(dir.join("small.machine.txt")).unwrap();
    assert!(
        machine.contains("scenario: c100k (scale 0.002): 200 connections")
            && machine.contains("net.core.somaxconn"),
        "{machine}"
    );
    let table = std::fs::read_to_string(dir.join("small.table.txt")).unwrap();
    assert!(table.contains("| prefork-x8 | 200 / 200 |"), "{table}");
    assert!(!table.contains("held 199 of"), "{table}");
}

/// c10k at 1/100: iterative serves one connection at a time, so it holds 1
/// of 150, and the table says where it fell short; the reactor holds all.
#[test]
fn scaled_c10k_shows_the_iterative_server_holding_one_connection() {
    let dir = scratch("scenario-c10k");
    let run = sockbench(&[
        "compare",
        "--scenario",
        "c10k",
        "--scale",
        "0.01",
        "--engines",
        "iterative,reactor",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let rows = csv_rows(&dir.join("c10k.csv"));
    assert_eq!(rows[0]["engine"], "iterative");
    assert_eq!(rows[0]["server_connections"], "1", "{:?}", rows[0]);
    assert_eq!(rows[1]["server_connections"], "150", "{:?}", rows[1]);
    assert_eq!(rows[1]["errors"], "0", "{:?}", rows[1]);
    let table = std::fs::read_to_string(dir.join("c10k.table.txt")).unwrap();
    assert!(
        table.contains("- iterative: held 1 of 150 connections"),
        "{table}"
    );
    assert!(!table.contains("- reactor:"), "{table}");
}

/// A flag the scenario sets, an unknown scenario, a scale out of range and
/// an engine the scenario does not run are each refused with a line saying
/// what to do, and a non-zero exit.
#[test]
fn scenario_refuses_what_it_sets_itself_and_unknown_names() {
    let refused = |args: &[&str], expected: &str| {
        let run = sockbench(args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    };
    refused(
        &["compare", "--scenario", "c10k", "--connections", "5"],
        "--scenario c10k sets the load and the servers itself, so --connections cannot go with it: drop --connections",
    );
    refused(
        &["compare", "--scenario", "c100k", "--rounds", "3"],
        "so --rounds cannot go with it",
    );
    refused(
        &["compare", "--scenario", "c1m"],
        "possible values: c10k, c100k",
    );
    refused(
        &["compare", "--scenario", "c10k", "--scale", "2"],
        "--scale 2: give a fraction above 0 and at most 1",
    );
    refused(
        &["compare", "--scenario", "c100k", "--engines", "pool"],
        "--engines pool: the c100k scenario runs prefork-x8, reactor, tokio, threaded",
    );
    refused(&["compare", "--scale", "0.1"], "--scenario");
    let one_line = sockbench(&["compare", "--scenario", "c10k", "--pin"]);
    assert_eq!(
        String::from_utf8_lossy(&one_line.stderr).lines().count(),
        1,
        "one line"
    );
}
