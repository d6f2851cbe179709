//! A run that goes wrong still tells the truth (issue 19), through the
//! `sockbench` binary: SIGINT and SIGTERM mid-run keep the results and
//! exit 130 and 143; bad numbers and over-budget requests are refused
//! before the run with what is wrong; a refused connect says so without
//! a table of zeros; a run with no valid answer shows no percentiles.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use sockbench::engine::EngineKind;
use sockbench::service::ServiceKind;

use super::util::cli::{csv_rows, scratch, sockbench};
use super::{start, wait_bounded};

/// Start `sockbench load` against an echo server for 30 s with `--csv`,
/// wait for its first progress line with answers counted, send it
/// `signal` by PID, and return its exit code, stdout and CSV rows.
fn interrupted_run(
    signal: libc::c_int,
    test: &str,
) -> (
    Option<i32>,
    String,
    Vec<std::collections::HashMap<String, String>>,
) {
    let server = start(EngineKind::Threaded, ServiceKind::Echo);
    let dir = scratch(test);
    let csv = dir.join("run.csv");
    let mut load = Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .arg("load")
        .args(["--addr", &server.tcp_addr().unwrap().to_string()])
        .args(["--connections", "2", "--duration", "30s"])
        .args(["--csv", csv.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Progress lines (stderr is no terminal) come every 2 s; the first
    // with answers counted says the run has made progress.
    let stderr = BufReader::new(load.stderr.take().unwrap());
    let mut lines = stderr.lines();
    let progressed = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains(" requests in the first ") && !line.contains(": 0 requests"));
    assert!(progressed, "no progress line with answers");
    let pid = libc::pid_t::try_from(load.id()).unwrap();
    // SAFETY: kill(2) on our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    // Drain stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let status = wait_bounded(&mut load, Duration::from_secs(10));
    let mut stdout = String::new();
    load.stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let rows = csv_rows(&csv);
    std::fs::remove_dir_all(&dir).unwrap();
    (status.code(), stdout, rows)
}

/// SIGINT mid-run ends the window now: the summary is printed, the CSV
/// row written with outcome interrupted and the answers so far, exit 130.
#[test]
fn sigint_mid_run_writes_the_csv_and_exits_130() {
    let (code, stdout, rows) = interrupted_run(libc::SIGINT, "sigint");
    assert_eq!(code, Some(130), "{stdout}");
    assert!(stdout.contains("interrupted by the user"), "{stdout}");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "interrupted");
    assert!(
        rows[0]["requests"].parse::<u64>().unwrap() > 0,
        "{:?}",
        rows[0]
    );
}

/// SIGTERM does the same and exits 143.
#[test]
fn sigterm_mid_run_writes_the_csv_and_exits_143() {
    let (code, stdout, rows) = interrupted_run(libc::SIGTERM, "sigterm");
    assert_eq!(code, Some(143), "{stdout}");
    assert_eq!(rows[0]["outcome"], "interrupted");
    assert!(
        rows[0]["requests"].parse::<u64>().unwrap() > 0,
        "{:?}",
        rows[0]
    );
}

/// `sockbench load ARGS` is refused before any connection with a message
/// containing `wanted`.
fn assert_refused(args: &[&str], wanted: &str) {
    let mut argv = vec!["load", "--addr", "127.0.0.1:9", "--duration", "1s"];
    argv.extend_from_slice(args);
    let output = sockbench(&argv);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} ran: {stderr}");
    assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
}

/// `--threads 0` and negative counts and rates are refused saying what
/// is wrong, not with clap's "unexpected argument".
#[test]
fn zero_threads_and_negative_numbers_are_refused_with_clear_lines() {
    assert_refused(&["--threads", "0"], "must be at least 1, got 0");
    assert_refused(&["--rate", "-5"], "must be positive, got -5");
    assert_refused(&["--connections", "-3"], "must be positive, got -3");
    assert_refused(&["--connect-rate", "-1"], "must be positive, got -1");
    assert_refused(&["--pipeline", "-2"], "must be positive, got -2");
    assert_refused(&["--size", "-64"], "must be positive, got -64");
}

/// Requests outstanding over the budget are refused with the arithmetic.
#[test]
fn requests_over_the_memory_budget_are_refused_with_the_arithmetic() {
    assert_refused(
        &["--size", "1073741824", "--connections", "4"],
        "1073741824 B x 4 connections x 1 pipelined = 4.00 GiB, over the 1 GiB budget",
    );
}

/// A TCP port nobody listens on: one line saying so, no table of zeros,
/// no word of UDP.
#[test]
fn a_refused_connect_says_so_without_a_table() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let output = sockbench(&["load", "--addr", &addr, "--duration", "5s"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("connection refused at {addr}"))
            && stderr.contains("is the server running?"),
        "{stderr}"
    );
    assert!(!stdout.contains("latency"), "{stdout}");
    assert!(!stderr.contains("UDP"), "{stderr}");
}

/// `--size` given to http, whose requests have their own size, is warned
/// about in one line.
#[test]
fn size_with_http_is_warned_about() {
    let server = start(EngineKind::Threaded, ServiceKind::Http);
    let addr = server.tcp_addr().unwrap().to_string();
    let output = sockbench(&[
        "load",
        "--addr",
        &addr,
        "--service",
        "http",
        "--size",
        "512",
        "--requests",
        "10",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--size 512 is ignored with --service http"),
        "{stderr}"
    );
}

/// `load --service http` against an echo server: no answer is valid, so
/// no percentiles are shown, and the run fails saying why.
#[test]
fn a_run_with_no_valid_answer_shows_no_percentiles() {
    let server = start(EngineKind::Threaded, ServiceKind::Echo);
    let addr = server.tcp_addr().unwrap().to_string();
    let output = sockbench(&[
        "load",
        "--addr",
        &addr,
        "--service",
        "http",
        "--duration",
        "1s",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stdout.contains("latency   none: no answer was valid"),
        "{stdout}"
    );
    assert!(!stdout.contains("latency   p50"), "{stdout}");
    assert!(stderr.contains("no answer was valid"), "{stderr}");
    assert!(
        stdout.contains(
            r#"HTTP status line is not 200: "GET / HTTP/1.1": the server sent the request back"#
        ),
        "{stdout}"
    );
}

/// `load --service echo` against an http server: the first wrong answer
/// is shown escaped, with where it differs and the hint; `--json` carries it.
#[test]
fn an_echo_run_against_http_names_the_mismatch() {
    let server = start(EngineKind::Threaded, ServiceKind::Http);
    let addr = server.tcp_addr().unwrap().to_string();
    let output = sockbench(&["load", "--addr", &addr, "--duration", "1s", "--json"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("echo answer differs from the expected one at byte 0 of 64: expected \""),
        "{stderr}"
    );
    assert!(stderr.contains(r#"got "HTTP/1.1 "#), "{stderr}");
    assert!(
        stderr.contains("the answers look like HTTP: is the server running --service http?"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let first = json["first_invalid"].as_str().unwrap();
    assert!(first.contains("look like HTTP"), "{first}");
}
