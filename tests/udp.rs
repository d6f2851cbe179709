//! UDP: both engines answer every datagram service exactly; `--drop` is
//! deterministic per seed; the backoff client retries, succeeds, gives up in
//! bounded time, and reports a refused port; one socket serves many clients.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use sockbench::engine::udp_common::{bind_udp, DropPolicy, UdpConfig};
use sockbench::engine::{start_udp, EngineKind, Server};
use sockbench::service::{self, ServiceKind, ServiceLimits};
use sockbench::udp_client::{self, Backoff, RequestError};

/// The two engines that serve UDP.
const UDP_ENGINES: [EngineKind; 2] = [EngineKind::Iterative, EngineKind::Reactor];

/// Wait for an answer this long before calling a datagram lost.
const ANSWER_TIMEOUT: Duration = Duration::from_millis(500);

fn start(engine: EngineKind, kind: ServiceKind, drop: DropPolicy) -> (Server, SocketAddr) {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let service = service::build(kind, ServiceLimits::default());
    let config = UdpConfig { drop, trace: false };
    let server = start_udp(engine, socket, Arc::clone(&service), config).unwrap();
    let addr = server.udp_addr().expect("a UDP server has a UDP address");
    (server, addr)
}

/// One datagram out, one answer back (or `None` within the timeout).
fn ask(socket: &UdpSocket, message: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    socket.set_read_timeout(Some(timeout)).unwrap();
    socket.send(message).unwrap();
    let mut buf = vec![0u8; 65_535];
    socket.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

/// echo, upper and length answer each datagram with exactly these bytes, on both engines.
#[test]
fn udp_engines_answer_each_service_exactly() {
    let cases: [(ServiceKind, &[u8], &[u8]); 5] = [
        (ServiceKind::Echo, b"hello\x00world", b"hello\x00world"),
        (ServiceKind::Upper, b"hi there\n", b"HI THERE\n"),
        // No newline: answered at end of the datagram all the same.
        (ServiceKind::Upper, b"no newline", b"NO NEWLINE"),
        (
            ServiceKind::Length,
            b"Send this message!",
            b"The msg was 18 bytes long",
        ),
        (ServiceKind::Length, b"", b"The msg was 0 bytes long"),
    ];
    for engine in UDP_ENGINES {
        for (kind, message, expected) in cases {
            let (server, addr) = start(engine, kind, DropPolicy::NONE);
            let client = udp_client::connect(addr).unwrap();
            let reply = ask(&client, message, ANSWER_TIMEOUT);
            assert_eq!(
                reply.as_deref(),
                Some(expected),
                "{engine} {} on {:?}",
                kind.name(),
                String::from_utf8_lossy(message)
            );
            server.shutdown().unwrap();
        }
    }
}

/// The same seed drops the same datagrams (by arrival number) on both engines; another seed differs.
#[test]
fn udp_drop_is_deterministic_per_seed() {
    const DATAGRAMS: usize = 24;
    let answered = |engine, seed| -> Vec<bool> {
        let (server, addr) = start(
            engine,
            ServiceKind::Echo,
            DropPolicy::new(0.3, seed).unwrap(),
        );
        let client = udp_client::connect(addr).unwrap();
        // One at a time, so arrival order is send order.
        let answered = (0..DATAGRAMS)
            .map(|i| {
                ask(
                    &client,
                    format!("{i}").as_bytes(),
                    Duration::from_millis(150),
                )
                .is_some()
            })
            .collect();
        server.shutdown().unwrap();
        answered
    };
    let first = answered(EngineKind::Reactor, 11);
    assert!(
        first.contains(&false),
        "30% drop lost nothing in {DATAGRAMS}"
    );
    assert!(first.contains(&true), "30% drop lost everything");
    assert_eq!(
        first,
        answered(EngineKind::Iterative, 11),
        "same seed, same losses"
    );
    let policy = DropPolicy::new(0.3, 11).unwrap();
    let predicted: Vec<bool> = (0..DATAGRAMS as u64)
        .map(|i| !policy.is_dropped(i))
        .collect();
    assert_eq!(
        first, predicted,
        "losses are the policy's, by arrival number"
    );
}

/// The backoff client gets an answer at the first send from a healthy server.
#[test]
fn backoff_client_succeeds_first_time() {
    for engine in UDP_ENGINES {
        let (server, addr) = start(engine, ServiceKind::Length, DropPolicy::NONE);
        let socket = udp_client::connect(addr).unwrap();
        let mut retries = 0;
        let answer =
            udp_client::request(&socket, b"hello", &Backoff::default(), |_| retries += 1).unwrap();
        assert_eq!(answer.reply, b"The msg was 5 bytes long");
        assert_eq!((answer.attempts, retries), (1, 0));
        server.shutdown().unwrap();
    }
}

/// Against a server dropping 50%, some requests need retries and every one is answered in the end.
#[test]
fn backoff_client_retries_through_drops() {
    let (server, addr) = start(
        EngineKind::Reactor,
        ServiceKind::Upper,
        DropPolicy::new(0.5, 5).unwrap(),
    );
    // Short waits keep the test quick; the doubling rule is the same.
    let backoff = Backoff {
        initial: Duration::from_millis(20),
        max_wait: Duration::from_millis(1280),
    };
    let mut total_retries = 0;
    for i in 0..10 {
        let socket = udp_client::connect(addr).unwrap();
        let message = format!("request {i}");
        let answer = udp_client::request(&socket, message.as_bytes(), &backoff, |_| {
            total_retries += 1
        })
        .expect("answered within 7 sends at 50% loss");
        assert_eq!(answer.reply, message.to_uppercase().as_bytes());
    }
    assert!(
        total_retries > 0,
        "50% loss over 10 requests caused no retry"
    );
    server.shutdown().unwrap();
}

/// A server that drops everything: the client gives up after the whole schedule, not before and not much after.
#[test]
fn backoff_client_gives_up_in_bounded_time() {
    let (server, addr) = start(
        EngineKind::Iterative,
        ServiceKind::Echo,
        DropPolicy::new(1.0, 0).unwrap(),
    );
    let backoff = Backoff {
        initial: Duration::from_millis(10),
        max_wait: Duration::from_millis(160),
    };
    let socket = udp_client::connect(addr).unwrap();
    let mut retries = Vec::new();
    let err = udp_client::request(&socket, b"anyone?", &backoff, |r| retries.push(*r)).unwrap_err();
    let RequestError::NoAnswer { attempts, elapsed } = &err else {
        panic!("expected no answer, got {err}")
    };
    let (attempts, elapsed) = (*attempts, *elapsed);
    assert_eq!(attempts, 5); // 10, 20, 40, 80, 160 ms
    assert_eq!(retries.len(), 4);
    assert_eq!(retries[0].next_wait, Duration::from_millis(20));
    assert!(elapsed >= backoff.total_wait(), "gave up after {elapsed:?}");
    assert!(
        elapsed < backoff.total_wait() * 4,
        "gave up only after {elapsed:?}"
    );
    assert!(
        err.to_string()
            .starts_with("no answer: the server may be down"),
        "{err}"
    );
    server.shutdown().unwrap();
}

/// A port nobody listens on: ICMP port unreachable surfaces as "refused" on the connected socket, at once.
#[test]
fn backoff_client_reports_refused_port() {
    // Bind then drop: the port is (very likely) free for the next moment.
    let addr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let socket = udp_client::connect(addr).unwrap();
    let err = udp_client::request(&socket, b"hello?", &Backoff::default(), |_| {}).unwrap_err();
    assert!(matches!(err, RequestError::Refused { .. }), "{err}");
    assert!(err
        .to_string()
        .starts_with(&format!("no server at {addr} (connection refused")));
}

/// One server socket answers several clients whose datagrams interleave, each client getting its own answers.
#[test]
fn one_socket_serves_many_clients() {
    for engine in UDP_ENGINES {
        let (server, addr) = start(engine, ServiceKind::Echo, DropPolicy::NONE);
        let clients: Vec<UdpSocket> = (0..5).map(|_| udp_client::connect(addr).unwrap()).collect();
        for round in 0..3 {
            for (i, client) in clients.iter().enumerate() {
                client
                    .send(format!("client {i} round {round}").as_bytes())
                    .unwrap();
            }
            for (i, client) in clients.iter().enumerate() {
                client.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
                let mut buf = [0u8; 64];
                let n = client.recv(&mut buf).unwrap();
                assert_eq!(
                    &buf[..n],
                    format!("client {i} round {round}").as_bytes(),
                    "{engine}"
                );
            }
        }
        server.shutdown().unwrap();
    }
}

/// Threaded and pool are refused for UDP, with the reason.
#[test]
fn udp_refuses_connection_engines() {
    let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let service = service::build(ServiceKind::Echo, ServiceLimits::default());
    let err = start_udp(EngineKind::Threaded, socket, service, UdpConfig::default()).unwrap_err();
    assert!(err.to_string().contains("does not serve UDP"), "{err}");
}

/// IPv6 works too: a UDP server on [::1] answers a client on [::1].
#[test]
fn udp_serves_ipv6() {
    let Ok(socket) = bind_udp("[::1]:0".parse().unwrap()) else {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    };
    let service = service::build(ServiceKind::Length, ServiceLimits::default());
    let server = start_udp(EngineKind::Reactor, socket, service, UdpConfig::default()).unwrap();
    let client = udp_client::connect(server.udp_addr().unwrap()).unwrap();
    assert_eq!(
        ask(&client, b"abc", ANSWER_TIMEOUT).as_deref(),
        Some(&b"The msg was 3 bytes long"[..])
    );
    server.shutdown().unwrap();
}

/// TCP-only flags are refused with `--udp` instead of silently ignored.
#[test]
fn serve_udp_refuses_tcp_only_flags() {
    for flag in [
        ["--work", "sleep:1ms"],
        ["--workers", "3"],
        ["--backlog", "8"],
    ] {
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_sockbench"))
            .args(["serve", "--udp", "--addr", "127.0.0.1:0"])
            .args(flag)
            .output()
            .expect("run sockbench");
        assert!(!run.status.success(), "{flag:?} was accepted with --udp");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("cannot be used with"), "{stderr}");
    }
}
