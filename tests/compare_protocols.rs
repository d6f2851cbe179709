//! `compare` with the protocols of servers sockbench did not write, end
//! to end through the binary: the redis and memcached rows (sockbench's
//! own servers listed as not run, since they do not speak them), `load`'s
//! request flags and `--path` reaching every contender, flags no service
//! of the run would send refused before anything runs, and the c10k
//! scenario over an Apache MPM. A test whose server is missing here says
//! so and passes (`./scripts/real-servers.sh` installs them).

mod util;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use util::cli::{assert_compare_refuses, csv_rows, scratch, sockbench};

/// Whether `program` is installed (Debian puts daemons in /usr/sbin); if
/// not, the test says so.
fn installed(program: &str) -> bool {
    let found = ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .any(|dir| Path::new(dir).join(program).exists());
    if !found {
        eprintln!("skipped: {program} is not installed (./scripts/real-servers.sh installs it)");
    }
    found
}

/// The rows of a compare CSV but those of its counting round (round 0,
/// made where system calls can be counted).
fn measured_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut rows = csv_rows(path);
    rows.retain(|row| row["round"] != "0");
    rows
}

/// PATH with /usr/sbin, where Debian puts the servers.
fn path_with_sbin() -> String {
    format!("{}:/usr/sbin", std::env::var("PATH").unwrap_or_default())
}

/// Run compare with `args` and /usr/sbin on PATH.
fn compare(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .arg("compare")
        .args(args)
        .env("PATH", path_with_sbin())
        .output()
        .expect("run the sockbench binary")
}

/// `--services redis,memcached` without `--engines` runs the redis and
/// memcached rows, each on its own protocol, and lists sockbench's servers
/// as not run because they do not speak it; `--command` and `--keys` reach
/// redis (a SET over 100 keys answers +OK, counted as answers).
#[test]
fn redis_and_memcached_rows_run_their_protocols_and_ours_are_listed_as_not_run() {
    if !installed("redis-server") || !installed("memcached") {
        return;
    }
    let dir = scratch("compare-protocols-keyed");
    let out_dir = dir.to_str().unwrap();
    let run = compare(&[
        "--services",
        "redis,memcached",
        "--duration",
        "300ms",
        "--connections",
        "2",
        "--name",
        "keyed",
        "--out-dir",
        out_dir,
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "compare failed: {stderr}");
    assert!(
        stderr.contains("not run: reactor with service redis and work none: does not speak redis"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("not run: redis with service memcached and work none: it speaks redis only"),
        "{stderr}"
    );
    assert!(stdout.contains("redis: one event loop"), "{stdout}");
    assert!(
        stdout.contains("memcached: an event loop per thread"),
        "{stdout}"
    );
    let rows = measured_rows(&dir.join("keyed.csv"));
    let services: Vec<(&str, &str)> = rows
        .iter()
        .map(|row| (row["engine"].as_str(), row["service"].as_str()))
        .collect();
    assert_eq!(
        services,
        [("redis", "redis"), ("memcached", "memcached")],
        "{rows:?}"
    );
    for row in &rows {
        assert_eq!(row["outcome"], "finished", "{row:?}\n{stderr}");
        assert_eq!(row["errors"], "0", "{row:?}");
        assert!(row["requests"].parse::<u64>().unwrap() > 0, "{row:?}");
    }

    let set = compare(&[
        "--services",
        "redis",
        "--command",
        "SET k:{n} v",
        "--keys",
        "100",
        "--duration",
        "300ms",
        "--connections",
        "2",
        "--name",
        "set",
        "--out-dir",
        out_dir,
    ]);
    let stderr = String::from_utf8_lossy(&set.stderr);
    assert!(set.status.success(), "compare failed: {stderr}");
    let rows = measured_rows(&dir.join("set.csv"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["errors"], "0", "{rows:?}");
    assert!(rows[0]["requests"].parse::<u64>().unwrap() > 0, "{rows:?}");
}

/// `--path` and `--expect-body` go to every contender: a Python HTTP
/// server started with `--server` serves `configs/www/static.txt` and
/// passes with its exact body, and the same run expecting another body
/// counts every answer as failed.
#[test]
fn path_and_request_flags_reach_the_contenders() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let www = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/www");
    let body = std::fs::read_to_string(format!("{www}/static.txt")).unwrap();
    let server = format!("py=python3 -m http.server {{port}} --bind 127.0.0.1 --directory {www}");
    let dir = scratch("compare-protocols-path");
    let out_dir = dir.to_str().unwrap();
    for (name, expected, clean) in [("right", body.as_str(), true), ("wrong", "not this", false)] {
        let run = sockbench(&[
            "compare",
            "--server",
            &server,
            "--engines",
            "py",
            "--services",
            "http",
            "--path",
            "/static.txt",
            "--expect-body",
            expected,
            "--duration",
            "300ms",
            "--connections",
            "1",
            "--ready-timeout",
            "5s",
            "--name",
            name,
            "--out-dir",
            out_dir,
        ]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "compare failed: {stderr}");
        let rows = measured_rows(&dir.join(format!("{name}.csv")));
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        if clean {
            assert_eq!(row["errors"], "0", "{row:?}\n{stderr}");
            assert!(row["requests"].parse::<u64>().unwrap() > 0, "{row:?}");
        } else {
            assert_eq!(row["requests"], "0", "no answer passes: {row:?}");
            assert!(row["errors_by_kind"].contains("failed"), "{row:?}");
        }
    }
}

/// Request flags that no service of the run would send, or that a
/// service's protocol cannot carry, are refused before anything runs,
/// each saying why.
#[test]
fn request_flags_for_another_protocol_are_refused() {
    let dir = scratch("compare-protocols-refused");
    let cases: [(&[&str], &str); 6] = [
        (&["--command", "PING"], "--command and --keys go with"),
        (
            &["--services", "http", "--keys", "10"],
            "--command and --keys go with",
        ),
        (&["--header", "Accept: text/plain"], "go with --path"),
        (
            &["--path", "/static.txt"],
            "--path goes with --services http",
        ),
        (
            &["--services", "redis,memcached", "--command", "INCR k"],
            "--services memcached: --command",
        ),
        (
            &["--services", "http", "--header", "nocolon"],
            "--services http: --header",
        ),
    ];
    assert_compare_refuses(&dir, &cases);
}

/// The c10k scenario runs an Apache MPM when named, loaded with http:
/// its row holds connections and answers them.
#[test]
fn c10k_runs_an_apache_mpm_when_named() {
    if !installed("apache2") {
        return;
    }
    let dir = scratch("compare-protocols-c10k");
    let run = compare(&[
        "--scenario",
        "c10k",
        "--scale",
        "0.001",
        "--engines",
        "apache-event",
        "--name",
        "c10k-apache",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "compare failed: {stderr}");
    let rows = csv_rows(&dir.join("c10k-apache.csv"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["engine"], "apache-event", "{row:?}");
    assert_eq!(row["outcome"], "finished", "{row:?}\n{stderr}");
    assert_eq!(row["errors"], "0", "{row:?}\n{stderr}");
    assert!(row["requests"].parse::<u64>().unwrap() > 0, "{row:?}");
    assert!(row["server_threads"].parse::<u64>().unwrap() > 1, "{row:?}");
}
