//! `sockbench compare` and `sockbench plot` end to end, through the binary:
//! a tiny matrix (two engines × 1 and 4 connections × 0.3 s), then the
//! files it must leave behind. The reference rows are left out: their
//! example binaries are not built by `cargo test --test compare`.

mod util;

use std::path::Path;

use util::cli::{assert_last_progress_line_is_complete, csv_rows, scratch, sockbench};

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
    assert_last_progress_line_is_complete(&stderr);

    let csv = std::fs::read_to_string(dir.join("smoke.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..REQUIRED_COLUMNS.len()], REQUIRED_COLUMNS);
    for column in ["server_rss_kb", "client_cpu_s", "outcome"] {
        assert!(header.contains(&column), "{column} missing from {header:?}");
    }
    let round = header.iter().position(|c| *c == "round").unwrap();
    // The measured round; a counting round (0) may come before it.
    let rows: Vec<Vec<&str>> = lines
        .map(|line| line.split(',').collect::<Vec<&str>>())
        .filter(|row| row[round] == "1")
        .collect();
    let mut cells: Vec<(&str, &str)> = rows.iter().map(|row| (row[0], row[3])).collect();
    cells.sort();
    assert_eq!(
        cells,
        [
            ("reactor", "1"),
            ("reactor", "4"),
            ("threaded", "1"),
            ("threaded", "4")
        ]
    );
    // The table lists the cells server by server, in --engines order.
    let stdout = String::from_utf8_lossy(&run.stdout);
    let table_engines: Vec<&str> = stdout
        .lines()
        .skip(2)
        .take(4)
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        table_engines,
        ["threaded", "threaded", "reactor", "reactor"],
        "{stdout}"
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

/// With `--server-cpu 0.25`, the server is held to a quarter of a core
/// (its CPU time over the window stays near or under that), the CSV and
/// the machine file record the quota, and the quota groups are gone
/// afterwards. Skipped, with the reason printed, where no CPU cgroup is
/// writable (the refusal is then checked instead).
#[test]
fn server_cpu_quota_holds_the_server_and_is_recorded_and_removed() {
    let dir = scratch("compare-quota");
    let run = sockbench(&[
        "compare",
        "--engines",
        "reactor",
        "--connections",
        "10",
        "--duration",
        "1s",
        "--server-cpu",
        "0.25",
        "--name",
        "quota",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    if stderr.contains("needs a writable CPU cgroup") {
        assert!(!run.status.success());
        assert!(!dir.join("quota.csv").exists(), "nothing ran");
        eprintln!("skipped: {}", stderr.trim());
        return;
    }
    assert!(run.status.success(), "compare failed: {stderr}");
    let rows = csv_rows(&dir.join("quota.csv"));
    assert_eq!(rows[0]["server_cpu_quota"], "0.25");
    let busy: f64 = rows[0]["server_cpu_s"].parse::<f64>().unwrap()
        / rows[0]["duration_s"].parse::<f64>().unwrap();
    assert!(
        busy <= 0.30,
        "the server used {busy:.3} of a core under a 0.25 quota"
    );
    let machine = std::fs::read_to_string(dir.join("quota.machine.txt")).unwrap();
    assert!(
        machine.contains("server cpu quota: 0.25 of a core")
            && (machine.contains("cpu.cfs_quota_us = 2500")
                || machine.contains("cpu.max = \"2500")),
        "{machine}"
    );
    assert!(
        machine.contains("load generator priority: nice -20"),
        "the generator's priority is recorded: {machine}"
    );
    let leftovers: Vec<String> = ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup"]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("sockbench-"))
        .filter(|name| {
            // Only groups of processes that are gone: a parallel test's live ones are not ours.
            let pid = name.split('-').nth(1).unwrap_or("");
            !Path::new(&format!("/proc/{pid}")).exists()
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "quota groups left behind: {leftovers:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With `--side-by-side`, every measured run of an engine happens at the
/// same moment as one of the baseline's: each row names the server beside
/// it, and the generator process's CPU over a run's window covers both
/// runs of the pair (more than the run's own load threads used), while
/// the counting round still runs each server alone. Skipped, with the
/// reason printed, where no CPU cgroup is writable.
#[test]
fn side_by_side_runs_each_engine_at_the_same_moment_as_the_baseline() {
    let dir = scratch("compare-side-by-side");
    let run = sockbench(&[
        "compare",
        "--engines",
        "pool,reactor",
        "--baseline",
        "reactor",
        "--side-by-side",
        "--pin",
        "--server-cpu",
        "0.25",
        "--rounds",
        "2",
        "--connections",
        "10",
        "--duration",
        "1s",
        "--name",
        "pair",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    if stderr.contains("needs a writable CPU cgroup") || stderr.contains("--pin needs") {
        assert!(!run.status.success());
        eprintln!("skipped: {}", stderr.trim());
        return;
    }
    assert!(run.status.success(), "compare failed: {stderr}");
    let rows = csv_rows(&dir.join("pair.csv"));
    let measured: Vec<_> = rows.iter().filter(|r| r["round"] != "0").collect();
    assert_eq!(
        measured.len(),
        4,
        "one pool and one reactor row per round: {rows:?}"
    );
    for round in ["1", "2"] {
        let of = |engine: &str| {
            measured
                .iter()
                .find(|r| r["round"] == round && r["engine"] == engine)
                .unwrap_or_else(|| panic!("no {engine} row in round {round}"))
        };
        let (pool, reactor) = (of("pool"), of("reactor"));
        assert_eq!(pool["beside"], "reactor");
        assert_eq!(reactor["beside"], "pool");
        let number = |row: &std::collections::HashMap<String, String>, column: &str| -> f64 {
            row[column].parse().unwrap()
        };
        // Over the pair: the generator process's CPU in each run's window
        // covers that run and a good part of the other (all of it when
        // the windows coincide; a third leaves room for a ramp that takes
        // longer on one side on a loaded machine). Runs that took turns
        // would cover only themselves.
        let own: f64 = [pool, reactor]
            .iter()
            .map(|r| number(r, "client_cpu_s"))
            .sum();
        let core: f64 = [pool, reactor]
            .iter()
            .map(|r| number(r, "load_core_cpu_s"))
            .sum();
        assert!(
            core >= own * (1.0 + 1.0 / 3.0),
            "round {round}: the generator's CPU over the runs' windows ({core:.3} s) does not cover both runs ({own:.3} s): {pool:?} {reactor:?}"
        );
    }
    assert!(
        rows.iter()
            .filter(|r| r["round"] == "0")
            .all(|r| r["beside"].is_empty()),
        "the counting round runs each server alone"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A server that cannot start is recorded round by round as
/// `server-failed`, its ratios are left out and counted, and no verdict is
/// given: never a silent zero. The broken server is a stand-in `epoll_raw`
/// that exits at once.
#[test]
fn a_server_that_fails_every_round_is_left_out_and_counted() {
    let dir = scratch("compare-failing");
    let examples = dir.join("examples");
    std::fs::create_dir_all(&examples).unwrap();
    let fake = examples.join("epoll_raw");
    std::fs::write(&fake, "#!/bin/sh\necho 'cannot serve today' >&2\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = sockbench(&[
        "compare",
        "--engines",
        "reactor,epoll-raw",
        "--connections",
        "2",
        "--duration",
        "200ms",
        "--rounds",
        "6",
        "--baseline",
        "reactor",
        "--examples-dir",
        examples.to_str().unwrap(),
        "--name",
        "failing",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "compare failed: {stderr}");
    assert!(
        stderr.contains("server epoll-raw failed to start"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot serve today"),
        "its stderr is shown: {stderr}"
    );
    let rows = csv_rows(&dir.join("failing.csv"));
    let failed: Vec<_> = rows.iter().filter(|r| r["engine"] == "epoll-raw").collect();
    assert!(failed.len() >= 6, "{rows:?}");
    assert!(failed
        .iter()
        .all(|r| r["outcome"] == "server-failed" && r["requests"] == "0"));
    let verdicts = csv_rows(&dir.join("failing.verdicts.csv"));
    assert_eq!(verdicts[0]["engine"], "epoll-raw");
    assert_eq!(verdicts[0]["rounds_used"], "0");
    assert_eq!(verdicts[0]["rounds_left_out"], "6");
    assert_eq!(verdicts[0]["verdict"], "too few rounds");
    assert!(stdout.contains("0 (6 left out)"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A prefork server's cost is its workers' too: the supervisor alone
/// would show next to no CPU for thousands of answers, the whole tree
/// shows about as much as the load generator spends.
#[test]
fn prefork_cost_columns_count_the_children_that_serve() {
    let dir = scratch("compare-prefork");
    let run = sockbench(&[
        "compare",
        "--engines",
        "prefork-x2",
        "--connections",
        "4",
        "--duration",
        "1s",
        "--name",
        "prefork",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "compare failed: {stderr}");
    let rows = csv_rows(&dir.join("prefork.csv"));
    let row = rows.iter().find(|r| r["round"] == "1").unwrap();
    let number = |name: &str| -> f64 { row[name].parse().unwrap() };
    assert!(number("requests") > 1000.0, "{row:?}");
    assert!(
        number("server_cpu_s") > 0.3 * number("client_cpu_s"),
        "server CPU {} against load CPU {}: the children are not counted",
        number("server_cpu_s"),
        number("client_cpu_s")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Ctrl-C ends a comparison early and cleanly: the run under way
/// finishes, every server is stopped (none outlives compare), what was
/// measured is written, and the exit status says it was interrupted (130).
/// The servers listen on Unix sockets whose paths carry compare's pid, so
/// any left behind would be found by their command lines.
#[test]
fn ctrl_c_stops_the_servers_and_writes_what_was_measured() {
    let dir = scratch("compare-ctrl-c");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .args([
            "compare",
            "--engines",
            "reactor,threaded",
            "--transports",
            "unix",
            "--connections",
            "2",
            "--duration",
            "300ms",
            "--rounds",
            "100",
            "--name",
            "interrupted",
            "--out-dir",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The CSV is rewritten after every run: its first row says runs are under way.
    let csv = dir.join("interrupted.csv");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&csv).is_ok_and(|text| text.lines().count() >= 3) {
        assert!(
            std::time::Instant::now() < deadline,
            "no run finished within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped early"), "{stderr}");
    let rows = csv_rows(&csv);
    assert!(!rows.is_empty() && rows.len() < 200, "{} rows", rows.len());
    assert!(dir.join("interrupted.table.txt").exists());
    let marker = format!("sockbench-compare-{pid}-");
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.unwrap().path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&marker))
        .collect();
    assert!(left.is_empty(), "servers left running: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `sockbench verdict` redoes a comparison's statistics from its CSV:
/// against the same baseline it gives exactly what compare wrote, and it
/// can take another baseline; a baseline absent from the file is refused.
#[test]
fn verdict_redoes_the_statistics_from_the_csv() {
    let dir = scratch("compare-verdict");
    let run = sockbench(&[
        "compare",
        "--engines",
        "threaded,reactor,pool",
        "--connections",
        "4",
        "--duration",
        "200ms",
        "--rounds",
        "6",
        "--baseline",
        "reactor",
        "--name",
        "v",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let csv = dir.join("v.csv");
    let again = dir.join("again.csv");
    let redo = sockbench(&[
        "verdict",
        csv.to_str().unwrap(),
        "--baseline",
        "reactor",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(
        redo.status.success(),
        "{}",
        String::from_utf8_lossy(&redo.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        std::fs::read_to_string(dir.join("v.verdicts.csv")).unwrap()
    );
    // Both verdict files name the machine their figures came from: how
    // they were made, then the run's machine file.
    let run_machine = std::fs::read_to_string(dir.join("v.machine.txt")).unwrap();
    for verdicts in [dir.join("v.verdicts.csv"), again.clone()] {
        let beside = std::fs::read_to_string(verdicts.with_extension("machine.txt"))
            .unwrap_or_else(|err| panic!("no machine file beside {}: {err}", verdicts.display()));
        assert!(beside.starts_with("derived: "), "{beside}");
        assert!(
            beside.ends_with(&run_machine) && run_machine.contains("nproc: "),
            "{beside}"
        );
    }
    let other = sockbench(&["verdict", csv.to_str().unwrap(), "--baseline", "pool"]);
    let stdout = String::from_utf8_lossy(&other.stdout);
    assert!(other.status.success());
    assert!(
        stdout.contains("reactor") && stdout.contains("pool"),
        "{stdout}"
    );
    let absent = sockbench(&["verdict", csv.to_str().unwrap(), "--baseline", "tokio"]);
    assert!(!absent.status.success());
    assert!(String::from_utf8_lossy(&absent.stderr).contains("no measured rows of tokio"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bad method flags are refused with one line naming the flag, before
/// anything runs (no results directory is made).
#[test]
fn bad_rounds_baseline_and_server_cpu_are_refused_before_running() {
    let dir = scratch("compare-refused");
    let out = dir.join("never");
    for (args, flag) in [
        (vec!["--rounds", "0"], "--rounds"),
        (
            vec!["--engines", "reactor,pool", "--baseline", "epoll-raw"],
            "--baseline",
        ),
        (vec!["--server-cpu", "0"], "--server-cpu"),
        (vec!["--server-cpu=-0.5"], "--server-cpu"),
        (vec!["--server-cpu", "64"], "--server-cpu"),
        (
            vec!["--server-cpu", "0.5", "--quota-period", "5s"],
            "--quota-period",
        ),
        (
            vec!["--side-by-side", "--pin", "--server-cpu", "0.4"],
            "--baseline",
        ),
        (
            vec![
                "--side-by-side",
                "--engines",
                "reactor,pool",
                "--baseline",
                "reactor",
                "--pin",
                "--server-cpu",
                "0.7",
            ],
            "--server-cpu",
        ),
    ] {
        let mut all = vec!["compare", "--smoke", "--out-dir", out.to_str().unwrap()];
        all.extend(&args);
        let run = sockbench(&all);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(stderr.trim().lines().count() <= 4, "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} ran something");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An unknown engine is refused with the list of valid names.
#[test]
fn unknown_engine_is_refused_with_the_valid_names() {
    let run = sockbench(&["compare", "--engines", "lighttpd"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(
            "iterative, threaded, pool, select, poll, reactor, offload, uring, fork, prefork-accept, prefork-flock, prefork-mutex, prefork-pass, prethreaded-mutex, reactor-x2, prefork-x2, tokio, epoll-raw"
        ),
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
    let rows: Vec<Vec<&str>> = lines
        .map(|line| line.split(',').collect::<Vec<&str>>())
        .filter(|row| row[column("round")] != "0")
        .collect();
    let transports: Vec<&str> = rows.iter().map(|row| row[column("transport")]).collect();
    assert_eq!(transports, ["tcp4", "tcp6", "unix"]);
    for row in &rows {
        let requests: u64 = row[column("requests")].parse().unwrap();
        assert!(requests > 0, "no request answered in {row:?}");
        assert_eq!(row[column("errors")], "0", "{row:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
