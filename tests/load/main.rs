//! The load generator end to end: clean runs against the real engines, and
//! against small misbehaving test servers (wrong answers, a stall, silence,
//! a server that dies), in-process and through the `sockbench` binary;
//! over several generator processes ([`processes`]); and over UDP
//! ([`udp`]: clean, lossy, late answers, nobody listening); and as servers
//! sockbench did not write ([`wire`]: closes, statuses, garbage).
//! Every run is loopback-only and a few seconds at most.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[path = "../util/mod.rs"]
mod util;

mod processes;
mod truth;
mod udp;
mod wire;

use sockbench::engine::listener::{bind_tcp, bind_unix};
use sockbench::engine::{self, EngineConfig, EngineKind, ListenOptions, Server};
use sockbench::load::{self, hdrlog, LoadConfig, Outcome, ProgressMode, RunLimit, Target};
use sockbench::service::{self, ServiceKind};
use sockbench::sys::process::ServerProcess;

/// Start `engine` serving `service` on a free loopback port.
fn start(engine: EngineKind, service: ServiceKind) -> Server {
    let listener = bind_tcp("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    engine::start(
        engine,
        listener,
        service::build(service, Default::default()),
        EngineConfig::default(),
    )
    .unwrap()
}

/// A short closed-loop run of `service` against `addr`.
fn short_run(addr: SocketAddr, service: ServiceKind) -> LoadConfig {
    LoadConfig {
        target: Target::Tcp(addr),
        service,
        connections: 4,
        threads: 2,
        limit: RunLimit::Duration(Duration::from_millis(500)),
        ..LoadConfig::default()
    }
}

/// A std-only test server: accepts on a background thread and hands each
/// connection to `serve` on its own thread. Threads end with the process.
fn test_server(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = Arc::new(serve);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let serve = Arc::clone(&serve);
            std::thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// Echo every chunk read, after `transform` (identity for a correct echo).
fn echo_with(mut stream: TcpStream, mut transform: impl FnMut(&mut [u8])) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        transform(&mut buf[..n]);
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// A closed-loop run against the threaded echo engine answers requests
/// without a single error.
#[test]
fn clean_echo_run_on_threaded_engine() {
    let server = start(EngineKind::Threaded, ServiceKind::Echo);
    let config = short_run(server.tcp_addr().unwrap(), ServiceKind::Echo);
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.connections_established, 4);
    assert!(report.latency().p50_us > 0);
    assert!(
        report.duration_s >= 0.45 && report.duration_s < 1.5,
        "{report}"
    );
}

/// Every load service runs clean on the reactor engine, pipelined.
#[test]
fn clean_runs_of_every_load_service_on_reactor() {
    for service in load::LOAD_SERVICES {
        let server = start(EngineKind::Reactor, service);
        let config = LoadConfig {
            pipeline: 4,
            size_bytes: 100,
            limit: RunLimit::Duration(Duration::from_millis(300)),
            ..short_run(server.tcp_addr().unwrap(), service)
        };
        let report = load::run(&config, ProgressMode::Quiet).unwrap();
        assert!(report.is_clean(), "{}: {report}", service.name());
    }
}

/// A Unix domain socket is a target like TCP.
#[test]
fn unix_socket_target_runs_clean() {
    let path = std::env::temp_dir().join(format!("sockbench-load-{}.sock", std::process::id()));
    let listener = bind_unix(&path, ListenOptions::default()).unwrap();
    let server = engine::start(
        EngineKind::Threaded,
        listener,
        service::build(ServiceKind::Echo, Default::default()),
        EngineConfig::default(),
    )
    .unwrap();
    let config = LoadConfig {
        target: Target::Unix(path),
        ..short_run("127.0.0.1:1".parse().unwrap(), ServiceKind::Echo)
    };
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    drop(server);
    assert!(report.is_clean(), "{report}");
}

/// A request limit stops at exactly that many correct answers, pipelined.
#[test]
fn request_limit_stops_at_the_count() {
    let server = start(EngineKind::Threaded, ServiceKind::Echo);
    let config = LoadConfig {
        limit: RunLimit::Requests(1001),
        pipeline: 8,
        ..short_run(server.tcp_addr().unwrap(), ServiceKind::Echo)
    };
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.requests, 1001);
}

/// A server that flips a byte of every answer gets invalid errors, and
/// none of its answers counts as a request.
#[test]
fn wrong_answers_are_invalid_errors_not_requests() {
    let addr = test_server(|stream| echo_with(stream, |bytes| bytes[0] ^= 0x20));
    let config = short_run(addr, ServiceKind::Echo);
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(report.errors.invalid > 0, "{report}");
    assert_eq!(report.requests, 0, "{report}");
    assert!(!report.is_clean());
}

/// Under a fixed rate, a server that stalls for 1 s once shows a corrected
/// p99 of about 1 s, while the uncorrected p99 (from the actual send, what
/// a closed loop would see) stays far lower: coordinated omission, shown.
#[test]
fn rate_mode_corrects_for_a_one_second_stall() {
    let stalled = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let addr = test_server(move |stream| {
        let stalled = Arc::clone(&stalled);
        echo_with(stream, move |_| {
            if started.elapsed() > Duration::from_millis(800)
                && !stalled.swap(true, Ordering::SeqCst)
            {
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    });
    let config = LoadConfig {
        connections: 1,
        threads: 1,
        rate_per_s: Some(200.0),
        limit: RunLimit::Duration(Duration::from_secs(3)),
        ..short_run(addr, ServiceKind::Echo)
    };
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(report.is_clean(), "{report}");
    let corrected = report.latency();
    let uncorrected = report.uncorrected_latency().unwrap();
    assert!(corrected.p99_us >= 900_000, "{report}");
    assert!(corrected.max_us >= 990_000, "{report}");
    assert!(uncorrected.p99_us < 200_000, "{report}");
}

/// A server that accepts but never answers gives request timeouts, and the
/// run still ends on time.
#[test]
fn silent_server_gives_timeouts_and_ends_on_time() {
    let addr = test_server(|stream| {
        // Hold the connection open, read nothing, answer nothing.
        let mut sink = [0u8; 1];
        let _ = (&stream).read(&mut sink);
        std::thread::sleep(Duration::from_secs(5));
    });
    let config = LoadConfig {
        request_timeout: Duration::from_millis(200),
        limit: RunLimit::Duration(Duration::from_secs(1)),
        ..short_run(addr, ServiceKind::Echo)
    };
    let started = Instant::now();
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "{report}");
    assert!(report.errors.timeout > 0, "{report}");
    assert_eq!(report.requests, 0);
    assert_eq!(report.outcome, Outcome::Finished);
}

/// Nobody listening: the run gives up after about a second, says the
/// server is lost, counts the refusals, and says nothing was measured.
#[test]
fn no_server_ends_the_run_early_as_server_lost() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = LoadConfig {
        limit: RunLimit::Duration(Duration::from_secs(30)),
        ..short_run(addr, ServiceKind::Echo)
    };
    let started = Instant::now();
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.outcome, Outcome::ServerLost);
    assert!(report.errors.refused > 0, "{report}");
    assert_eq!(report.ramp.duration_s, None, "{report}");
    let text = report.to_string();
    assert!(text.contains("nothing was measured"), "{text}");
}

/// A server stopped mid-run: the 30 s run ends within a few seconds with
/// the requests answered before, and errors.
#[test]
fn server_stopping_mid_run_ends_the_run_with_partial_results() {
    let server = start(EngineKind::Threaded, ServiceKind::Echo);
    let config = LoadConfig {
        limit: RunLimit::Duration(Duration::from_secs(30)),
        ..short_run(server.tcp_addr().unwrap(), ServiceKind::Echo)
    };
    let report = run_while_server_stops(server, &config);
    assert!(report.errors.total() > 0, "{report}");
}

/// Run `config` (30 s long) and stop `server` half a second in: the run
/// ends within seconds as `ServerLost`, keeping the answers from before.
fn run_while_server_stops(server: Server, config: &LoadConfig) -> load::LoadReport {
    let killer = std::thread::spawn(move || {
        // The scenario: let the load run a little, then take the server away.
        std::thread::sleep(Duration::from_millis(500));
        server.shutdown().unwrap();
    });
    let started = Instant::now();
    let report = load::run(config, ProgressMode::Quiet).unwrap();
    killer.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "{report}");
    assert_eq!(report.outcome, Outcome::ServerLost, "{report}");
    assert!(report.requests > 0, "{report}");
    report
}

/// A TCP listener on a free loopback port with the shortest accept queue
/// (backlog 0): while nobody accepts, further SYNs are dropped.
fn listener_with_backlog_0() -> (TcpListener, SocketAddr) {
    let options = ListenOptions {
        backlog: 0,
        ..ListenOptions::default()
    };
    let listener = match bind_tcp("127.0.0.1:0".parse().unwrap(), options).unwrap() {
        engine::listener::Listener::Tcp(listener) => listener,
        _ => unreachable!("bound TCP"),
    };
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Measuring begins when the last connection is up, not at the first
/// connect: five connections opened at 10 per second take 0.4 s to come up,
/// and the measured window starts after that.
#[test]
fn measurement_begins_when_every_connection_is_up() {
    let server = start(EngineKind::Reactor, ServiceKind::Echo);
    let config = LoadConfig {
        connections: 5,
        connect_rate_per_s: Some(10.0),
        limit: RunLimit::Duration(Duration::from_millis(300)),
        ..short_run(server.tcp_addr().unwrap(), ServiceKind::Echo)
    };
    let before = SystemTime::now();
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.ramp.up, 5, "{report}");
    assert!(report.ramp.duration_s.unwrap() >= 0.4, "{report}");
    let window_after_start = report.started_at.duration_since(before).unwrap();
    assert!(window_after_start >= Duration::from_millis(400), "{report}");
    let text = report.to_string();
    assert!(
        text.contains("connections 5 asked, all up after a"),
        "{text}"
    );
}

/// What a watch was told of the window's edges: which, when, and the whole
/// process's CPU time then; with `closed` (a message per connection the
/// server saw close), it also checks that none closed by the end.
#[derive(Debug, Default)]
struct EdgeRecorder {
    edges: std::sync::Mutex<Vec<Edge>>,
    closed: Option<std::sync::mpsc::Receiver<()>>,
}

/// One edge of the measured window, as [`EdgeRecorder`] saw it.
#[derive(Debug)]
struct Edge {
    name: &'static str,
    at: SystemTime,
    process_cpu_s: f64,
}

impl load::Watch for EdgeRecorder {
    fn see(&self, event: load::RunEvent) {
        let name = match event {
            load::RunEvent::Measuring => "measuring",
            load::RunEvent::Measured => "measured",
            _ => return,
        };
        self.edges.lock().unwrap().push(Edge {
            name,
            at: SystemTime::now(),
            process_cpu_s: sockbench::sys::counters::ThreadCost::of_this_process().cpu_s,
        });
        if let (Some(closed), "measured") = (&self.closed, name) {
            // A negative check: while the watch reads the window's end,
            // no connection closes (the run holds them until it returns).
            let closed = closed.recv_timeout(Duration::from_millis(300));
            assert!(
                closed.is_err(),
                "a connection closed before the end was read"
            );
        }
    }

    fn should_stop(&self) -> bool {
        false
    }
}

/// A watch is told once that the measured window begins and once that it
/// has ended, in that order, no earlier than the report's window; and every
/// connection is still open when it hears of the end.
#[test]
fn a_watch_hears_the_window_edges_with_every_connection_open() {
    let (closed_tx, closed) = std::sync::mpsc::channel();
    let closed_tx = std::sync::Mutex::new(closed_tx);
    let addr = test_server(move |stream| {
        echo_with(stream, |_| {});
        let _ = closed_tx.lock().unwrap().send(());
    });
    let config = short_run(addr, ServiceKind::Echo);
    let recorder = EdgeRecorder {
        closed: Some(closed),
        ..EdgeRecorder::default()
    };
    let report = load::run_watched(&config, ProgressMode::Quiet, &recorder).unwrap();
    assert!(report.is_clean(), "{report}");
    let edges = recorder.edges.into_inner().unwrap();
    let names: Vec<&str> = edges.iter().map(|edge| edge.name).collect();
    assert_eq!(names, ["measuring", "measured"]);
    // (Wall-clock readings of monotonic instants: a millisecond of slack.)
    let slack = Duration::from_millis(1);
    assert!(
        edges[0].at + slack >= report.started_at,
        "told of the start early"
    );
    let RunLimit::Duration(measured) = config.limit else {
        unreachable!()
    };
    assert!(
        edges[1].at + slack >= report.started_at + measured,
        "told of the end early"
    );
    // Afterwards every connection closes: the negative check above could
    // have seen a close.
    let closed = recorder.closed.expect("given above");
    for _ in 0..config.connections {
        closed
            .recv_timeout(Duration::from_secs(10))
            .expect("every connection closes once the run is over");
    }
}

/// The load threads' own cost covers the measured window, not the warmup
/// before it: with a warmup three times the window, it stays near what the
/// whole process used between the window's edges (counted from the warmup,
/// it would be about four times that).
#[test]
fn generator_cost_leaves_the_warmup_out() {
    let server = start(EngineKind::Reactor, ServiceKind::Echo);
    let config = LoadConfig {
        warmup: Duration::from_millis(900),
        limit: RunLimit::Duration(Duration::from_millis(300)),
        ..short_run(server.tcp_addr().unwrap(), ServiceKind::Echo)
    };
    let recorder = EdgeRecorder::default();
    let report = load::run_watched(&config, ProgressMode::Quiet, &recorder).unwrap();
    assert!(report.is_clean(), "{report}");
    let cost = report
        .generator_cost
        .expect("the load threads read their cost");
    let edges = recorder.edges.into_inner().unwrap();
    let [start, end] = &edges[..] else {
        panic!("two edges, not {edges:?}")
    };
    let window_cpu_s = end.process_cpu_s - start.process_cpu_s;
    assert!(
        cost.cpu_s <= 1.5 * window_cpu_s + 0.02,
        "the load threads' cost ({:.3} s) is more than the process used in the window ({window_cpu_s:.3} s)",
        cost.cpu_s
    );
}

/// A server that accepts nobody: only what fits in its accept queue
/// connects, so the ramp limit ends the ramp, and the report says loudly
/// that the ramp is inside the measured window; the kernel counted the
/// dropped SYNs.
#[test]
fn ramp_limit_starts_the_window_and_the_report_warns() {
    let (_listener, addr) = listener_with_backlog_0();
    let config = LoadConfig {
        connections: 4,
        connect_timeout: Duration::from_secs(2),
        ramp_limit: Some(Duration::from_millis(300)),
        limit: RunLimit::Duration(Duration::from_millis(300)),
        ..short_run(addr, ServiceKind::Echo)
    };
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(report.ramp.up < 4, "{report}");
    assert!(report.is_ramp_in_window(), "{report}");
    assert!(!report.is_clean());
    let text = report.to_string();
    assert!(text.contains("WARNING   only"), "{text}");
    assert!(
        text.contains("ramp is inside the measured window"),
        "{text}"
    );
    assert!(report.listen_queue.unwrap().drops > 0, "{report}");
    assert_eq!(report.row().connections_up, report.ramp.up);
}

/// A server that starts accepting half a second late: the SYNs it dropped
/// meanwhile are sent again after 1 s, so those connects are counted as
/// slower than 1 s, and the ramp (all of them up) still ends before
/// measuring begins.
#[test]
fn connects_after_a_dropped_syn_are_counted_as_slow() {
    let (listener, addr) = listener_with_backlog_0();
    std::thread::spawn(move || {
        // The scenario: a server busy for the first half second.
        std::thread::sleep(Duration::from_millis(500));
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || echo_with(stream, |_| {}));
        }
    });
    let config = LoadConfig {
        connections: 4,
        connect_timeout: Duration::from_secs(5),
        limit: RunLimit::Duration(Duration::from_millis(200)),
        ..short_run(addr, ServiceKind::Echo)
    };
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(report.slow_connects() >= 1, "{report}");
    assert!(report.ramp.duration_s.unwrap() >= 1.0, "{report}");
    assert_eq!(report.row().slow_connects, report.slow_connects());
    assert!(report.listen_queue.unwrap().drops > 0, "{report}");
}

/// `--source` spreads the connections over the addresses given: the
/// server sees each of them, and the run is clean.
#[test]
fn source_addresses_are_used_in_turn() {
    let peers = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let seen = Arc::clone(&peers);
    let addr = test_server(move |stream| {
        seen.lock()
            .unwrap()
            .insert(stream.peer_addr().unwrap().ip());
        echo_with(stream, |_| {});
    });
    let config = LoadConfig {
        sources: load::source::parse_sources("127.0.0.2-127.0.0.3").unwrap(),
        ..short_run(addr, ServiceKind::Echo)
    };
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(report.is_clean(), "{report}");
    let peers: Vec<String> = peers
        .lock()
        .unwrap()
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    assert_eq!(peers, ["127.0.0.2", "127.0.0.3"]);
}

/// More connections than one source address has ports are refused before
/// anything starts, with the arithmetic and the fix; a source address off
/// loopback is refused too.
#[test]
fn cli_refuses_connections_that_cannot_fit_in_the_ports() {
    let output = util::cli::sockbench(&["load", "--connections", "70000", "--duration", "1s"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("70000 connections to 127.0.0.1:7000 cannot fit: one source address × ")
            && stderr.contains("--source 127.0.0.2-127.0.0."),
        "{stderr}"
    );
    let output = util::cli::sockbench(&["load", "--source", "192.0.2.1", "--duration", "1s"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("is not a loopback address"), "{stderr}");
}

/// Two runs' HdrHistogram logs merge into one histogram holding every
/// request of both.
#[test]
fn hdr_logs_of_two_runs_merge_into_one_histogram() {
    let server = start(EngineKind::Threaded, ServiceKind::Echo);
    let config = LoadConfig {
        rate_per_s: Some(400.0),
        ..short_run(server.tcp_addr().unwrap(), ServiceKind::Echo)
    };
    let dir = std::env::temp_dir();
    let mut paths = Vec::new();
    let mut reports = Vec::new();
    for name in ["a", "b"] {
        let report = load::run(&config, ProgressMode::Quiet).unwrap();
        let path = dir.join(format!(
            "sockbench-merge-{name}-{}.hlog",
            std::process::id()
        ));
        hdrlog::write_log(&path, &report).unwrap();
        paths.push(path);
        reports.push(report);
    }
    let merged = hdrlog::merge_logs(&paths).unwrap();
    for path in &paths {
        std::fs::remove_file(path).unwrap();
    }
    let latency = merged.latency().unwrap();
    assert_eq!(latency.len(), reports[0].requests + reports[1].requests);
    let max = reports[0].latency().max_us.max(reports[1].latency().max_us);
    assert_eq!(latency.max(), max);
    let uncorrected = &merged.by_tag[hdrlog::UNCORRECTED_TAG];
    assert_eq!(uncorrected.len(), latency.len());
}

/// Start `sockbench serve ARGS --addr 127.0.0.1:0` as a child process
/// (killed when dropped); returns it and the address it bound.
fn spawn_server(args: &[&str]) -> (ServerProcess, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sockbench"));
    command
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0"]);
    let server = ServerProcess::start(command, Duration::from_secs(10)).unwrap();
    let addr = server.addr().to_string();
    (server, addr)
}

/// Wait for `child` at most `limit`; kill it and fail if it is still running.
fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("sockbench load did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `sockbench load` against a server killed by PID mid-run ends within
/// seconds, prints the partial results, and exits non-zero.
#[test]
fn cli_exits_non_zero_when_the_server_is_killed() {
    let (server, addr) = spawn_server(&["--engine", "threaded"]);
    let mut load = Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .args([
            "load",
            "--addr",
            &addr,
            "--connections",
            "4",
            "--duration",
            "30s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The scenario: the load runs for a moment, then the server dies.
    std::thread::sleep(Duration::from_millis(700));
    let pid = libc::pid_t::try_from(server.pid()).unwrap();
    // SAFETY: kill(2) on our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let status = wait_bounded(&mut load, Duration::from_secs(10));
    let mut stdout = String::new();
    load.stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(!status.success());
    assert!(stdout.contains("server lost"), "{stdout}");
    assert!(stdout.contains("requests"), "{stdout}");
}

/// `sockbench load` writes its CSV row (with header), JSON object, timeline
/// and HdrHistogram log; `merge-hdr` reads the log back.
#[test]
fn cli_writes_csv_json_timeline_and_hdr_log() {
    let server = start(EngineKind::Threaded, ServiceKind::Echo);
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let csv = dir.join(format!("sockbench-cli-{id}.csv"));
    let timeline = dir.join(format!("sockbench-cli-{id}-timeline.csv"));
    let hlog = dir.join(format!("sockbench-cli-{id}.hlog"));
    let _ = std::fs::remove_file(&csv);
    let output = Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .arg("load")
        .args(["--addr", &server.tcp_addr().unwrap().to_string()])
        .args([
            "--connections",
            "2",
            "--duration",
            "1500ms",
            "--rate",
            "300",
            "--json",
        ])
        .arg("--csv")
        .arg(&csv)
        .arg("--timeline")
        .arg(&timeline)
        .arg("--hdr-log")
        .arg(&hlog)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let requests = json["requests"].as_u64().unwrap();
    assert!(requests > 0);
    assert!(json["uncorrected_p99_us"].as_u64().is_some());
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert!(csv_text.starts_with("target,service,"), "{csv_text}");
    assert_eq!(csv_text.lines().count(), 2);
    let timeline_text = std::fs::read_to_string(&timeline).unwrap();
    assert!(timeline_text.starts_with("second,requests,errors,p50_us,p99_us"));
    assert_eq!(timeline_text.lines().count(), 3, "{timeline_text}"); // header + 2 seconds
    let merged = Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .arg("merge-hdr")
        .arg(&hlog)
        .arg(&hlog)
        .output()
        .unwrap();
    assert!(merged.status.success());
    let text = String::from_utf8_lossy(&merged.stdout);
    assert!(
        text.contains(&format!("{} requests", 2 * requests)),
        "{text}"
    );
    for path in [csv, timeline, hlog] {
        std::fs::remove_file(path).unwrap();
    }
}

/// `--find-rate` searches in short steps and names a rate for an easy
/// objective.
#[test]
fn find_rate_names_a_rate_for_an_easy_objective() {
    let server = start(EngineKind::Threaded, ServiceKind::Echo);
    let config = LoadConfig {
        limit: RunLimit::Duration(Duration::from_millis(200)),
        ..short_run(server.tcp_addr().unwrap(), ServiceKind::Echo)
    };
    let slo = "p50=1s".parse().unwrap();
    let report = load::find_rate(&config, slo, ProgressMode::Quiet).unwrap();
    assert!(report.steps.len() <= load::find_rate::MAX_STEPS);
    assert!(
        report.best_rate_per_s.is_some_and(|rate| rate > 0.0),
        "{report}"
    );
}
