//! The load generator over UDP: clean, lossy, late answers, nobody
//! listening.

use std::net::UdpSocket;
use std::sync::atomic::AtomicU64;

use sockbench::engine::udp_common::{bind_udp, DropPolicy, UdpConfig};

use super::*;

/// Start a UDP `engine` serving `service` on a free loopback port, dropping
/// datagrams as `drop` says.
fn start_udp(engine: EngineKind, service: ServiceKind, drop: DropPolicy) -> Server {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    engine::start_udp(
        engine,
        socket,
        service::build(service, Default::default()),
        UdpConfig { drop, trace: false },
    )
    .unwrap()
}

/// A short closed-loop UDP run of `service` against `addr`.
fn short_udp_run(addr: SocketAddr, service: ServiceKind) -> LoadConfig {
    LoadConfig {
        target: Target::Udp(addr),
        ..short_run(addr, service)
    }
}

/// At most one request per connection is neither answered nor lost (the
/// one outstanding at the end): no request is counted twice.
fn assert_each_request_counted_once(report: &load::LoadReport) {
    let settled = report.requests + report.errors.lost;
    assert!(settled <= report.sent, "{report}");
    assert!(
        report.sent - settled <= report.connections as u64,
        "{report}"
    );
}

/// Over UDP, both engines answer echo, upper and length with no loss and
/// no wrong answer.
#[test]
fn udp_runs_clean_on_both_engines_with_every_udp_service() {
    for engine in [EngineKind::Iterative, EngineKind::Reactor] {
        for service in load::UDP_LOAD_SERVICES {
            let server = start_udp(engine, service, DropPolicy::NONE);
            let config = LoadConfig {
                limit: RunLimit::Duration(Duration::from_millis(300)),
                ..short_udp_run(server.udp_addr().unwrap(), service)
            };
            let report = load::run(&config, ProgressMode::Quiet).unwrap();
            let what = format!("{engine} {}: {report}", service.name());
            assert!(report.is_clean(), "{what}");
            assert!(report.requests > 0, "{what}");
            assert_eq!(report.errors.lost, 0, "{what}");
            assert!(report.to_string().contains("loss      0 of"), "{what}");
            assert_each_request_counted_once(&report);
        }
    }
}

/// A server dropping 30% of datagrams: with a 50 ms request timeout the
/// lost requests are counted (15% to 45% of those sent), none is counted
/// as answered, and the run ends on time.
#[test]
fn udp_loss_is_counted_and_the_run_ends_on_time() {
    for engine in [EngineKind::Iterative, EngineKind::Reactor] {
        let drop = DropPolicy::new(0.3, 7).unwrap();
        let server = start_udp(engine, ServiceKind::Echo, drop);
        let config = LoadConfig {
            request_timeout: Duration::from_millis(50),
            limit: RunLimit::Duration(Duration::from_secs(1)),
            ..short_udp_run(server.udp_addr().unwrap(), ServiceKind::Echo)
        };
        let started = Instant::now();
        let report = load::run(&config, ProgressMode::Quiet).unwrap();
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}: {report}");
        assert_eq!(report.outcome, Outcome::Finished, "{report}");
        assert!(
            (0.15..=0.45).contains(&report.loss_rate()),
            "{engine}: {report}"
        );
        assert!(report.requests > 0, "{report}");
        assert_eq!(report.errors.invalid, 0, "{report}");
        assert_eq!(report.row().errors_lost, report.errors.lost);
        assert_each_request_counted_once(&report);
    }
}

/// `--find-rate` over UDP: against a server that loses nothing, the search
/// names a rate; against one that drops a third of the datagrams, every
/// step has losses, so it names none rather than a rate no client gets.
#[test]
fn find_rate_over_udp_names_a_rate_only_when_the_server_keeps_up() {
    let slo = "p50=1s".parse().unwrap();
    for (drop, expect_rate) in [
        (DropPolicy::NONE, true),
        (DropPolicy::new(0.3, 11).unwrap(), false),
    ] {
        let server = start_udp(EngineKind::Reactor, ServiceKind::Echo, drop);
        let config = LoadConfig {
            request_timeout: Duration::from_millis(50),
            limit: RunLimit::Duration(Duration::from_millis(200)),
            ..short_udp_run(server.udp_addr().unwrap(), ServiceKind::Echo)
        };
        let report = load::find_rate(&config, slo, ProgressMode::Quiet).unwrap();
        assert!(report.steps.len() <= load::find_rate::MAX_STEPS, "{report}");
        assert_eq!(
            report.best_rate_per_s.is_some_and(|rate| rate > 0.0),
            expect_rate,
            "drop {}: {report}",
            drop.probability()
        );
        if !expect_rate {
            assert!(report.steps.iter().all(|step| !step.passed), "{report}");
        }
    }
}

/// A std-only UDP server that answers with `answer(datagram)`, but holds
/// every third datagram's answer and sends it just before the next answer:
/// by then the client has given that request up, and the late answer
/// arrives while another request is outstanding. Counts the late answers.
fn late_answering_udp_server(answer: fn(&[u8]) -> Vec<u8>, late: Arc<AtomicU64>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        let mut held: Option<Vec<u8>> = None;
        for arrival in 0u64.. {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            if arrival % 3 == 0 {
                held = Some(answer(&buf[..len]));
                continue;
            }
            if let Some(old) = held.take() {
                let _ = socket.send_to(&old, from);
                late.fetch_add(1, Ordering::Relaxed);
            }
            let _ = socket.send_to(&answer(&buf[..len]), from);
        }
    });
    addr
}

/// A late answer to a lost request is ignored, not taken for the answer
/// to the request then outstanding (echo: by its number; length: by its
/// size), and is no error.
#[test]
fn udp_late_answers_are_ignored_not_mistaken_for_the_current_one() {
    let echo: fn(&[u8]) -> Vec<u8> = |datagram| datagram.to_vec();
    let length: fn(&[u8]) -> Vec<u8> =
        |datagram| format!("The msg was {} bytes long", datagram.len()).into_bytes();
    for (service, answer) in [(ServiceKind::Echo, echo), (ServiceKind::Length, length)] {
        let late = Arc::new(AtomicU64::new(0));
        let addr = late_answering_udp_server(answer, Arc::clone(&late));
        let config = LoadConfig {
            connections: 1,
            threads: 1,
            request_timeout: Duration::from_millis(50),
            limit: RunLimit::Duration(Duration::from_millis(500)),
            ..short_udp_run(addr, service)
        };
        let report = load::run(&config, ProgressMode::Quiet).unwrap();
        let what = format!("{}: {report}", service.name());
        assert!(late.load(Ordering::Relaxed) > 0, "{what}");
        assert_eq!(report.errors.invalid, 0, "{what}");
        assert!(report.errors.lost > 0, "{what}");
        assert!(report.requests > report.errors.lost, "{what}");
        assert_each_request_counted_once(&report);
        // Every third request is lost, never more.
        assert!((0.2..0.4).contains(&report.loss_rate()), "{what}");
    }
}

/// Nobody listening on the UDP port: the refusals (ICMP, seen as
/// ECONNREFUSED on the connected sockets) end a 30 s run within seconds.
#[test]
fn udp_with_nobody_listening_ends_early_with_refused() {
    let addr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = LoadConfig {
        limit: RunLimit::Duration(Duration::from_secs(30)),
        ..short_udp_run(addr, ServiceKind::Echo)
    };
    let started = Instant::now();
    let report = load::run(&config, ProgressMode::Quiet).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "{report}");
    assert_eq!(report.outcome, Outcome::ServerLost, "{report}");
    assert!(report.errors.refused > 0, "{report}");
    assert_eq!(report.requests, 0);
}

/// A UDP server stopped mid-run: the answers before count, then the
/// refusals end the 30 s run within seconds.
#[test]
fn udp_server_stopping_mid_run_ends_the_run_with_partial_results() {
    let server = start_udp(EngineKind::Reactor, ServiceKind::Echo, DropPolicy::NONE);
    let config = LoadConfig {
        limit: RunLimit::Duration(Duration::from_secs(30)),
        ..short_udp_run(server.udp_addr().unwrap(), ServiceKind::Echo)
    };
    let report = run_while_server_stops(server, &config);
    assert!(report.errors.refused > 0, "{report}");
}

/// `sockbench load --udp` against a child `sockbench serve --udp` exits 0
/// and prints the loss line; `--pipeline 2` with `--udp` is refused.
#[test]
fn cli_udp_load_against_serve_udp_exits_zero() {
    let (server, addr) = spawn_server(&["--udp", "--service", "echo"]);
    let output = Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .args(["load", "--udp", "--addr", &addr, "--service", "echo"])
        .args(["--connections", "4", "--duration", "1s"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .args(["load", "--udp", "--addr", &addr, "--pipeline", "2"])
        .output()
        .unwrap();
    drop(server);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("echo on udp:{addr}")), "{stdout}");
    assert!(stdout.contains("loss      0 of"), "{stdout}");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--pipeline 2 cannot be used with --udp"),
        "{stderr}"
    );
}
