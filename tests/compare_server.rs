//! `compare --server NAME=COMMAND`, `--target NAME=ADDR` and the
//! production rows, end to end through the binary, with servers the test
//! starts from a command (a few lines of Python each): rows and verdicts
//! for one that echoes and one that forks, the forking one's children
//! inside the quota, counted and stopped; clear skips for one that exits
//! at once and one that never listens; bad flags refused before anything
//! runs. Each test says so and passes where `python3` is missing.

mod util;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use util::cli::{assert_compare_refuses, csv_rows, scratch, sockbench};

/// An echo server on the port given as argument 1, a thread per connection.
const ECHO: &str = "
import socket, sys, threading
def serve(conn):
    while data := conn.recv(65536):
        conn.sendall(data)
listener = socket.create_server(('127.0.0.1', int(sys.argv[1])))
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
";

/// An echo server that forks two children sharing its listener (they
/// serve; it only waits) and ignores SIGTERM, all three. Each child
/// writes, every 20 ms, `PPID CPU_S CORES` and its `/proc/self/cgroup` to
/// `DIR/child-PID` (DIR is argument 2), renamed into place so it is
/// always whole.
const FORKING: &str = "
import os, signal, socket, sys, threading, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
listener = socket.create_server(('127.0.0.1', int(sys.argv[1])))
def serve(conn):
    while data := conn.recv(65536):
        conn.sendall(data)
def report():
    while True:
        path = f'{sys.argv[2]}/child-{os.getpid()}'
        with open(path + '.new', 'w') as f:
            cores = ','.join(map(str, sorted(os.sched_getaffinity(0))))
            f.write(f'{os.getppid()} {time.process_time()} {cores}\\n' + open('/proc/self/cgroup').read())
        os.rename(path + '.new', path)  # whole, even if killed while writing
        time.sleep(0.02)
for _ in range(2):
    if os.fork() == 0:
        threading.Thread(target=report, daemon=True).start()
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
while True:
    time.sleep(1)
";

/// Whether `python3` runs here; the tests that need it say so and pass.
fn has_python() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: python3 is not installed");
    }
    found
}

/// `NAME=python3 -c SCRIPT ARGS` for `--server`.
fn python_server(name: &str, script: &str, args: &str) -> String {
    format!("{name}=python3 -c {} {args}", shell_words::quote(script))
}

/// Whether process `pid` is still running (a zombie is not).
fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest.trim_start());
        !state.starts_with('Z') && !state.starts_with('X')
    })
}

/// What a forked child last reported.
#[derive(Debug)]
struct ChildReport {
    ppid: u32,
    cpu_s: f64,
    /// The cores it may run on, comma-separated.
    cores: String,
    /// Its `/proc/self/cgroup`.
    cgroup: String,
}

/// What each forked child last reported, by pid.
fn child_reports(dir: &Path) -> HashMap<u32, ChildReport> {
    let mut reports = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("child-").and_then(|p| p.parse().ok()) else {
            continue;
        };
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let (first, cgroup) = text.split_once('\n').unwrap_or((&text, ""));
        let fields: Vec<&str> = first.split(' ').collect();
        let [ppid, cpu_s, cores] = fields[..] else {
            panic!("PPID CPU_S CORES: {first}")
        };
        let report = ChildReport {
            ppid: ppid.parse().unwrap(),
            cpu_s: cpu_s.parse().unwrap(),
            cores: cores.to_string(),
            cgroup: cgroup.to_string(),
        };
        reports.insert(pid, report);
    }
    reports
}

/// An echoing server and a forking one that ignores SIGTERM each get a
/// row per round and a verdict; the forking one's children are in its
/// quota group (where a cgroup can be made) and on the server core (where
/// there are two), its CPU is its children's (not its idle first
/// process's alone), and no process of either outlives the comparison.
#[test]
fn own_servers_get_rows_and_verdicts_and_their_whole_tree_is_one_server() {
    if !has_python() {
        return;
    }
    let dir = scratch("compare-server-own");
    let reports = dir.join("reports");
    std::fs::create_dir(&reports).unwrap();
    let quota =
        sockbench::sys::cgroup::CpuQuota::create(0.5, sockbench::sys::cgroup::DEFAULT_PERIOD)
            .map(drop)
            .map_err(|err| eprintln!("no quota in this run: {err}"))
            .is_ok();
    let echo = python_server("echo", ECHO, "{port}");
    let forking = python_server(
        "forking",
        FORKING,
        &format!("{{port}} {}", reports.display()),
    );
    let mut args = vec![
        "compare",
        "--server",
        &echo,
        "--server",
        &forking,
        "--engines",
        "echo,forking",
        "--baseline",
        "echo",
        "--rounds",
        "2",
        "--duration",
        "300ms",
        "--connections",
        "2",
        "--grace",
        "300ms",
        "--name",
        "own",
        "--out-dir",
        dir.to_str().unwrap(),
    ];
    if quota {
        args.extend(["--server-cpu", "0.5"]);
    }
    let pin = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    if pin {
        args.push("--pin");
    }
    let run = sockbench(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "compare failed: {stderr}");

    let rows = csv_rows(&dir.join("own.csv"));
    for name in ["echo", "forking"] {
        let measured: Vec<_> = rows
            .iter()
            .filter(|row| row["engine"] == name && row["round"] != "0")
            .collect();
        assert_eq!(measured.len(), 2, "two measured rounds of {name}: {rows:?}");
        for row in &measured {
            assert_eq!(row["outcome"], "finished", "{name}: {row:?}\n{stderr}");
            assert!(row["requests"].parse::<u64>().unwrap() > 0, "{row:?}");
        }
    }
    let verdicts = csv_rows(&dir.join("own.verdicts.csv"));
    assert!(
        verdicts
            .iter()
            .any(|row| row.values().any(|v| v == "forking")),
        "a verdict row for forking against echo: {verdicts:?}"
    );
    assert!(
        stdout.contains("forking: started from the command you gave"),
        "{stdout}"
    );
    assert!(
        stderr.contains("forking: a process of its group outlived SIGTERM"),
        "the SIGTERM-ignoring server is killed, and said so: {stderr}"
    );

    let children = child_reports(&reports);
    assert!(children.len() >= 4, "two children a round: {children:?}");
    for (pid, child) in &children {
        assert!(!is_running(*pid), "child {pid} outlived the comparison");
        if quota {
            assert!(
                child.cgroup.contains("sockbench-"),
                "child {pid} outside the quota: {child:?}"
            );
        }
        if pin {
            assert_eq!(child.cores, "1", "child {pid} on the server core only");
        }
    }
    // The last round's row against its children's own CPU: the row's
    // window is most of their life, so it is close to their sum; the
    // first process, which only waits, would give about 0.
    let last = rows.iter().rfind(|row| row["engine"] == "forking").unwrap();
    let server_pid: u32 = last["server_pid"].parse().unwrap();
    assert!(
        !is_running(server_pid),
        "the forking server outlived the comparison"
    );
    let children_cpu_s: f64 = children
        .values()
        .filter(|child| child.ppid == server_pid)
        .map(|child| child.cpu_s)
        .sum();
    let row_cpu_s: f64 = last["server_cpu_s"].parse().unwrap();
    assert!(
        row_cpu_s > 0.4 * children_cpu_s && row_cpu_s < 1.2 * children_cpu_s + 0.02,
        "row {row_cpu_s} s (server {server_pid}) against its children's {children_cpu_s} s: {children:?}"
    );
}

/// A server that exits at once and one that never listens are skipped,
/// each with the reason (its status and stderr; the timeout), while the
/// others run.
#[test]
fn servers_that_exit_or_never_listen_are_skipped_with_the_reason() {
    if !has_python() {
        return;
    }
    let dir = scratch("compare-server-skips");
    let exits = python_server(
        "exits",
        "import sys; sys.stderr.write('no config file here\\n'); sys.exit(3)",
        "{port}",
    );
    let mute = python_server("mute", "import time; time.sleep(60)", "{port}");
    let run = sockbench(&[
        "compare",
        "--server",
        &exits,
        "--server",
        &mute,
        "--engines",
        "exits,reactor,mute",
        "--duration",
        "300ms",
        "--connections",
        "2",
        // Long enough for python3 to start (a pyenv shim is slow), short for a test.
        "--ready-timeout",
        "2s",
        "--name",
        "skips",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "compare failed: {stderr}");
    assert!(stderr.contains("server exits failed to start"), "{stderr}");
    assert!(stderr.contains("exit status: 3"), "{stderr}");
    assert!(stderr.contains("no config file here"), "{stderr}");
    assert!(stderr.contains("server mute failed to start"), "{stderr}");
    assert!(stderr.contains("did not accept a connection"), "{stderr}");
    let rows = csv_rows(&dir.join("skips.csv"));
    for row in &rows {
        let expected = if row["engine"] == "reactor" {
            "finished"
        } else {
            "server-failed"
        };
        assert_eq!(row["outcome"], expected, "{row:?}");
    }
    assert!(rows.iter().any(|row| row["engine"] == "reactor"));
}

/// A server already running is loaded as a target: rows with answers,
/// no process measured, and its row and the note under the table say so;
/// a target where nothing listens is skipped, saying so.
#[test]
fn a_running_server_is_loaded_as_a_target_without_costs() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = scratch("compare-server-target");
    let target = format!("mine={addr}");
    let gone = format!("gone={gone}");
    let run = sockbench(&[
        "compare",
        "--target",
        &target,
        "--target",
        &gone,
        "--engines",
        "mine,gone",
        "--duration",
        "300ms",
        "--connections",
        "2",
        "--name",
        "target",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "compare failed: {stderr}");
    assert!(stdout.contains("mine: already running at"), "{stdout}");
    assert!(stdout.contains("no cost columns"), "{stdout}");
    assert!(stdout.contains("n/a (target)"), "its row says so: {stdout}");
    assert!(stderr.contains("server gone failed to start"), "{stderr}");
    assert!(stderr.contains("nothing accepts at"), "{stderr}");
    for row in csv_rows(&dir.join("target.csv")) {
        if row["engine"] == "gone" {
            assert_eq!(row["outcome"], "server-failed", "{row:?}");
            continue;
        }
        assert_eq!(row["outcome"], "finished", "{row:?}");
        assert!(row["requests"].parse::<u64>().unwrap() > 0);
        assert_eq!(row["server_pid"], "", "a target is not measured: {row:?}");
    }
}

/// Bad `--server` and `--target` flags are refused before anything runs,
/// each saying what to write instead.
#[test]
fn bad_server_flags_are_refused_before_anything_runs() {
    let dir = scratch("compare-server-refused");
    let cases: [(&[&str], &str); 4] = [
        (&["--server", "py=python3 server.py 7000"], "put {port}"),
        (
            &["--server", "reactor=python3 server.py {port}"],
            "built-in server's name",
        ),
        (
            &[
                "--server",
                "py=python3 a.py {port}",
                "--server",
                "py=python3 b.py {port}",
            ],
            "given twice",
        ),
        (&["--target", "far=192.0.2.1:80"], "not a loopback address"),
    ];
    assert_compare_refuses(&dir, &cases);
}

/// nginx is a contender like any other where it is installed; where it
/// is not, it is listed as not run with the install command.
#[test]
fn nginx_runs_as_a_contender_or_is_listed_with_the_install_line() {
    let dir = scratch("compare-server-nginx");
    let run = sockbench(&[
        "compare",
        "--engines",
        "nginx,reactor",
        "--services",
        "http",
        "--duration",
        "300ms",
        "--connections",
        "2",
        "--name",
        "nginx",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "compare failed: {stderr}");
    let rows = csv_rows(&dir.join("nginx.csv"));
    if stderr.contains("not run: nginx") {
        assert!(stderr.contains("./scripts/real-servers.sh"), "{stderr}");
        assert!(
            rows.iter().all(|row| row["engine"] == "reactor"),
            "{rows:?}"
        );
        eprintln!("nginx is not installed here: listed as not run");
        return;
    }
    let nginx: Vec<_> = rows.iter().filter(|row| row["engine"] == "nginx").collect();
    assert!(!nginx.is_empty(), "{rows:?}");
    for row in nginx {
        assert_eq!(row["outcome"], "finished", "{row:?}\n{stderr}");
        assert_eq!(row["errors"], "0", "{row:?}");
    }
    assert!(
        stdout.contains("nginx: prefork + an event loop per worker"),
        "{stdout}"
    );
}

/// `--verdicts` sets the method: a quota, pinning, side by side, and a
/// baseline (the first server named where epoll-raw does not run); a
/// `--rounds` given too overrides its part. Skipped where no CPU cgroup
/// can be made or the machine has one core.
#[test]
fn verdicts_sets_the_method_in_one_flag() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Err(err) =
        sockbench::sys::cgroup::CpuQuota::create(0.4, sockbench::sys::cgroup::DEFAULT_PERIOD)
    {
        eprintln!("skipped: --verdicts needs a CPU cgroup: {err}");
        return;
    }
    if cores < 2 {
        eprintln!("skipped: --verdicts pins, which needs two cores");
        return;
    }
    let dir = scratch("compare-server-verdicts");
    let run = sockbench(&[
        "compare",
        "--verdicts",
        "--rounds",
        "2",
        "--engines",
        "threaded,reactor",
        "--duration",
        "300ms",
        "--connections",
        "2",
        "--name",
        "verdicts",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "compare failed: {stderr}");
    let machine = std::fs::read_to_string(dir.join("verdicts.machine.txt")).unwrap();
    for expected in [
        "0.4 of a core",
        "server on core 1",
        "side by side",
        "baseline: threaded",
    ] {
        assert!(machine.contains(expected), "{expected}: {machine}");
    }
    assert!(stdout.contains("Against threaded"), "{stdout}");
    let rows = csv_rows(&dir.join("verdicts.csv"));
    assert!(rows
        .iter()
        .all(|row| row["round"].parse::<u32>().unwrap() <= 2));
    assert!(
        rows.iter().any(|row| row["beside"] == "threaded"),
        "{rows:?}"
    );
}
