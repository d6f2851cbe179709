//! `sockbench load --processes N`: several generator processes, one
//! report, through the `sockbench` binary.

use std::io::{BufRead, BufReader};

use super::*;

/// `--processes 2`: two generator processes, one report. Every connection
/// asked for is up before measuring, the merged histogram (written with
/// `--hdr-log`) holds exactly the requests the report counts, and the
/// rate given is the total.
#[test]
fn cli_processes_merge_into_one_report_and_one_histogram() {
    let (_server, addr) = spawn_server(&["--engine", "reactor", "--service", "echo"]);
    let dir = util::cli::scratch("processes");
    let hlog = dir.join("merged.hlog");
    let output = util::cli::sockbench(&[
        "load",
        "--addr",
        &addr,
        "--processes",
        "2",
        "--connections",
        "6",
        "--rate",
        "600",
        "--duration",
        "2s",
        "--json",
        "--hdr-log",
        hlog.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("load: 2 generator processes"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["connections"], 6, "{json}");
    assert_eq!(json["connections_up"], 6, "{json}");
    assert_eq!(json["connections_established"], 6, "{json}");
    assert_eq!(json["errors"], 0, "{json}");
    let requests = json["requests"].as_u64().unwrap();
    // 600 req/s for 2 s in total: far above what one share (300/s) makes.
    assert!((1000..=1300).contains(&requests), "{json}");
    let merged = hdrlog::merge_logs(std::slice::from_ref(&hlog)).unwrap();
    assert_eq!(merged.latency().unwrap().len(), requests);
    assert_eq!(merged.by_tag[hdrlog::CONNECT_TAG].len(), 6);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `--processes 2` with one generator process killed mid-run: the parent
/// names it and how it ended, the other runs to its end, the report's
/// outcome says a generator was lost, the exit status is non-zero, and the
/// run ends by itself.
#[test]
fn cli_processes_report_a_generator_killed_mid_run() {
    let (_server, addr) = spawn_server(&["--engine", "reactor", "--service", "echo"]);
    let mut run = Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .args([
            "load",
            "--addr",
            &addr,
            "--processes",
            "2",
            "--connections",
            "4",
        ])
        .args(["--rate", "400", "--duration", "6s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Progress lines come every 2 s; the first with answers in it means
    // measuring has begun.
    let mut stderr = BufReader::new(run.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        let line = stderr
            .next()
            .unwrap_or_else(|| panic!("stderr ended before measuring began: {seen:?}"))
            .unwrap();
        let measuring = line.contains(" requests in the first ") && !line.contains(": 0 requests");
        seen.push(line);
        if measuring {
            break;
        }
    }
    let tree = sockbench::sys::proc::process_tree(run.id()).unwrap();
    assert_eq!(tree.len(), 3, "the parent and two generators: {tree:?}");
    let killed = tree[1];
    // SAFETY: kill(2) on a process this test's child started.
    assert_eq!(
        unsafe { libc::kill(killed as libc::pid_t, libc::SIGKILL) },
        0
    );
    let rest = std::thread::spawn(move || stderr.map_while(Result::ok).collect::<Vec<_>>());
    let status = wait_bounded(&mut run, Duration::from_secs(30));
    let stderr = rest.join().unwrap().join("\n");
    let mut stdout = String::new();
    run.stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(!status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("(pid {killed}) ended without a result (signal: 9"))
            && stderr.contains("its 2 connections are missing from the figures"),
        "{stderr}"
    );
    assert!(
        stderr.contains("load run not clean (generator lost"),
        "{stderr}"
    );
    assert!(stdout.contains("outcome   generator lost"), "{stdout}");
    assert!(
        stdout.contains("requests"),
        "the other generator's figures: {stdout}"
    );
}

/// A share larger than one process may hold is refused with the arithmetic
/// (where the hard descriptor limit leaves room to show it under the ports
/// limit).
#[test]
fn cli_refuses_processes_that_cannot_hold_their_share() {
    let (_, hard) = load::capacity::descriptor_limits().unwrap();
    let connections = hard - load::capacity::SPARE_DESCRIPTORS + 1;
    if connections > 28_000 {
        eprintln!("skipped: the hard descriptor limit ({hard}) is above the ports of one address");
        return;
    }
    let output = util::cli::sockbench(&[
        "load",
        "--processes",
        "1",
        "--connections",
        &connections.to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!(
            "{connections} connections over 1 processes is {connections} each"
        )) && stderr.contains("--processes 2 or more"),
        "{stderr}"
    );
}
