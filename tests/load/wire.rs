//! Servers sockbench did not write, played by small test servers: a
//! server that closes after every whole answer is reconnected without an
//! error, one that closes inside an answer is an error, a status other
//! than 2xx is counted by code with its head kept, and garbage is invalid
//! with its reason kept.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use sockbench::load::wire::http1::Method;
use sockbench::load::wire::FailureKind;
use sockbench::load::{self, LoadConfig, ProgressMode, RunLimit, Target, WireRequest};

use super::test_server;

/// A server that reads one request, writes `answer`, and closes.
fn answer_once_then_close(answer: &'static [u8]) -> SocketAddr {
    test_server(move |mut stream: TcpStream| {
        let mut request = [0u8; 1024];
        if stream.read(&mut request).is_ok_and(|len| len > 0) {
            let _ = stream.write_all(answer);
        }
    })
}

/// A server that answers every request with `answer` and keeps the connection.
fn answer_always(answer: &'static [u8]) -> SocketAddr {
    test_server(move |mut stream: TcpStream| {
        let mut request = [0u8; 1024];
        while stream.read(&mut request).is_ok_and(|len| len > 0) {
            if stream.write_all(answer).is_err() {
                return;
            }
        }
    })
}

/// A short run of `GET /` against `addr`.
fn get(addr: SocketAddr) -> load::LoadReport {
    let config = LoadConfig {
        target: Target::Tcp(addr),
        connections: 2,
        threads: 1,
        limit: RunLimit::Duration(Duration::from_millis(300)),
        wire: Some(WireRequest::Http {
            url: format!("http://{addr}/"),
            method: Method::Get,
            headers: Vec::new(),
            body: None,
            expect_status: None,
            expect_body: None,
        }),
        ..LoadConfig::default()
    };
    load::run(&config, ProgressMode::Quiet).unwrap()
}

/// HTTP/1.0 without keep-alive: each answer, then the close, is one
/// reconnect, not an error.
#[test]
fn a_close_after_each_whole_answer_is_a_reconnect() {
    let addr = answer_once_then_close(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let report = get(addr);
    assert_eq!(report.errors.total(), 0, "{report}");
    assert!(report.requests > 0, "{report}");
    assert!(report.closed_by_server > 0, "{report}");
    assert!(report.connections_established >= report.closed_by_server);
    assert_eq!(report.row().closed_by_server, report.closed_by_server);
    assert!(report.is_clean(), "{report}");
}

/// A close 3 bytes into a 10-byte body is an error, not a reconnect.
#[test]
fn a_close_inside_an_answer_stays_an_error() {
    let addr = answer_once_then_close(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    let report = get(addr);
    assert!(report.errors.invalid + report.errors.closed > 0, "{report}");
    assert_eq!(report.closed_by_server, 0, "{report}");
    assert_eq!(report.requests, 0, "{report}");
    let why = report.failed_answers.first_invalid.as_deref().unwrap_or("");
    assert!(why.contains("closed the connection"), "{report}");
}

/// A 503 is an answer in step: counted as failed by its code, its head
/// kept once, the connection kept.
#[test]
fn a_status_other_than_2xx_is_counted_by_code_with_its_head() {
    let addr = answer_always(b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n");
    let report = get(addr);
    assert_eq!(report.requests, 0, "{report}");
    assert_eq!(report.errors.failed, report.errors.total(), "{report}");
    let kinds = &report.failed_answers.kinds;
    assert_eq!(kinds.len(), 1, "{report}");
    assert_eq!(kinds[0].kind, FailureKind::Status(503));
    assert_eq!(kinds[0].count, report.errors.failed);
    assert_eq!(
        kinds[0].first_text,
        "HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0"
    );
    assert_eq!(report.connections_established, 2, "{report}");
    assert!(report.to_string().contains("status 503 x"), "{report}");
}

/// Garbage is invalid, and the report keeps why.
#[test]
fn garbage_is_invalid_and_its_reason_is_kept() {
    let report = get(answer_always(b"SSH-2.0-OpenSSH\r\n\r\n"));
    assert!(report.errors.invalid > 0, "{report}");
    assert!(report.failed_answers.first_invalid.is_some(), "{report}");
    assert!(
        report.to_string().contains("invalid   the first:"),
        "{report}"
    );
}

/// What cannot be loaded is refused before any connection, with one line
/// saying what is supported.
#[test]
fn cli_refuses_urls_and_commands_it_cannot_send() {
    for (args, wanted) in [
        (
            &["--url", "https://127.0.0.1/"][..],
            "https is not supported",
        ),
        (&["--url", "http://192.0.2.1/"], "is not a loopback address"),
        (
            &["--url", "http://example.com/"],
            "is not an IP literal or localhost",
        ),
        (
            &["--service", "echo", "--command", "PING"],
            "--command and --keys go with",
        ),
        (&["--header", "Accept: text/plain"], "go with --url"),
        (
            &["--service", "redis", "--command", "SUBSCRIBE c"],
            "does not answer each request with one reply",
        ),
        (
            &["--service", "memcached", "--command", "delete k"],
            "give 'get KEY' or 'set KEY VALUE'",
        ),
    ] {
        let mut argv = vec!["load"];
        argv.extend_from_slice(args);
        let output = crate::util::cli::sockbench(&argv);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}
