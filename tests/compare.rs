//! `sockbench compare` and `sockbench plot` end to end, through the binary:
//! a tiny matrix (two engines × 1 and 4 connections × 0.3 s), then the
//! files it must leave behind. The reference rows are left out: their
//! example binaries are not built by `cargo test --test compare`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The columns the issue requires, in this order, at the start of the header.
const REQUIRED_COLUMNS: [&str; 18] = [
    "engine",
    "service",
    "work",
    "connections",
    "pipeline",
    "size",
    "duration_s",
    "requests",
    "req_per_s",
    "mb_per_s",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "max_us",
    "errors",
    "errors_by_kind",
    "server_cpu_s",
];

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockbench-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run the sockbench binary with `args`.
fn sockbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .args(args)
        .output()
        .expect("run the sockbench binary")
}

/// Names of the SVG files in `dir`, sorted.
fn svgs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".svg"))
        .collect();
    names.sort();
    names
}

/// A tiny compare writes a CSV with the required columns and one row per
/// cell, the machine file and the plots; `plot` redraws the plots from the CSV.
#[test]
fn smoke_compare_writes_one_row_per_cell_and_plots() {
    let dir = scratch("compare-smoke");
    let out_dir = dir.to_str().unwrap();
    let run = sockbench(&[
        "compare",
        "--engines",
        "threaded,reactor",
        "--connections",
        "1,4",
        "--duration",
        "300ms",
        "--name",
        "smoke",
        "--out-dir",
        out_dir,
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "compare failed: {stderr}");
    assert!(stderr.contains("[4/4]"), "progress lines missing: {stderr}");

    let csv = std::fs::read_to_string(dir.join("smoke.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..REQUIRED_COLUMNS.len()], REQUIRED_COLUMNS);
    for column in ["server_rss_kb", "client_cpu_s", "outcome"] {
        assert!(header.contains(&column), "{column} missing from {header:?}");
    }
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    let cells: Vec<(&str, &str)> = rows.iter().map(|row| (row[0], row[3])).collect();
    assert_eq!(
        cells,
        [
            ("threaded", "1"),
            ("threaded", "4"),
            ("reactor", "1"),
            ("reactor", "4")
        ]
    );
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    for row in &rows {
        let requests: u64 = row[column("requests")].parse().unwrap();
        assert!(requests > 0, "no request answered in {row:?}");
        let rss_kb: u64 = row[column("server_rss_kb")].parse().unwrap();
        assert!(rss_kb > 0, "no server memory recorded in {row:?}");
    }

    let machine = std::fs::read_to_string(dir.join("smoke.machine.txt")).unwrap();
    assert!(
        machine.contains("nproc: ") && machine.contains("command: "),
        "{machine}"
    );
    assert!(machine.contains("--connections 1,4"), "{machine}");

    let expected = ["smoke-latency.svg", "smoke-p99.svg", "smoke-throughput.svg"];
    assert_eq!(svgs(&dir), expected);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.lines().next().unwrap().starts_with("engine"),
        "{stdout}"
    );

    for svg in expected {
        std::fs::remove_file(dir.join(svg)).unwrap();
    }
    let replot = sockbench(&["plot", dir.join("smoke.csv").to_str().unwrap()]);
    assert!(
        replot.status.success(),
        "{}",
        String::from_utf8_lossy(&replot.stderr)
    );
    assert_eq!(svgs(&dir), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--repeat 3` runs the matrix in three rounds and keeps one row per cell:
/// the median run, with the run count and the req/s range around it.
#[test]
fn repeat_keeps_one_median_row_per_cell_with_its_range() {
    let dir = scratch("compare-repeat");
    let run = sockbench(&[
        "compare",
        "--engines",
        "reactor",
        "--connections",
        "1,4",
        "--duration",
        "200ms",
        "--repeat",
        "3",
        "--name",
        "repeat",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "compare failed: {stderr}");
    assert!(
        stderr.contains("[6/6] round 3 of 3: reactor"),
        "progress lines missing: {stderr}"
    );
    let mut reader = csv::Reader::from_path(dir.join("repeat.csv")).unwrap();
    let rows: Vec<std::collections::HashMap<String, String>> =
        reader.deserialize().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "one row per cell, not per run: {rows:?}");
    for row in &rows {
        let number = |name: &str| -> f64 { row[name].parse().unwrap() };
        assert_eq!(row["runs"], "3", "{row:?}");
        assert!(number("req_per_s") > 0.0, "{row:?}");
        assert!(
            number("req_per_s_min") <= number("req_per_s")
                && number("req_per_s") <= number("req_per_s_max"),
            "the median is not within the range: {row:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--repeat 0` is refused: a cell must run at least once.
#[test]
fn repeat_zero_is_refused() {
    let run = sockbench(&["compare", "--repeat", "0", "--smoke"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("--repeat"), "{stderr}");
}

/// An unknown engine is refused with the list of valid names.
#[test]
fn unknown_engine_is_refused_with_the_valid_names() {
    let run = sockbench(&["compare", "--engines", "nginx"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("iterative, threaded, pool, reactor, offload, tokio, epoll-raw"),
        "{stderr}"
    );
}

/// A reference row whose example is not built fails before anything runs,
/// saying how to build it.
#[test]
fn missing_reference_server_says_how_to_build_it() {
    let dir = scratch("compare-missing");
    let run = sockbench(&[
        "compare",
        "--engines",
        "epoll-raw",
        "--examples-dir",
        dir.to_str().unwrap(),
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("cargo build --release --examples"),
        "{stderr}"
    );
    assert!(!dir.join("compare.csv").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Compare drives every transport: the same engine over IPv4, IPv6 and a
/// Unix socket gives one served row each, and the CSV names the transport.
#[test]
fn compare_runs_over_ipv4_ipv6_and_unix_sockets() {
    let dir = scratch("compare-transports");
    let run = sockbench(&[
        "compare",
        "--engines",
        "reactor",
        "--transports",
        "tcp4,tcp6,unix",
        "--connections",
        "2",
        "--duration",
        "300ms",
        "--name",
        "transports",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "compare failed: {stderr}");
    let csv = std::fs::read_to_string(dir.join("transports.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    let transports: Vec<&str> = rows.iter().map(|row| row[column("transport")]).collect();
    assert_eq!(transports, ["tcp4", "tcp6", "unix"]);
    for row in &rows {
        let requests: u64 = row[column("requests")].parse().unwrap();
        assert!(requests > 0, "no request answered in {row:?}");
        assert_eq!(row[column("errors")], "0", "{row:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
