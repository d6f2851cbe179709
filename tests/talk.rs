//! `sockbench talk`, the project's own `nc`: stdin to the server, its
//! answers to stdout, a half-close at the end of input, and errors that
//! say what to do.

mod util;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use sockbench::engine::{EngineKind, ListenAddr};
use sockbench::service::ServiceKind;
use util::{Case, Transport};

/// Run `sockbench talk ARGS` with `input` on stdin.
fn talk(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .arg("talk")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sockbench talk");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input)
        .expect("write stdin");
    // stdin is dropped here: end of input, so talk half-closes.
    child.wait_with_output().expect("wait for sockbench talk")
}

fn serve_upper(transport: Transport) -> util::TestServer {
    Case {
        engine: EngineKind::Reactor,
        transport,
        loops: 1,
    }
    .serve(ServiceKind::Upper)
}

/// Lines typed go to the server; its answers, including the one to the
/// unterminated last line sent at the half-close, come out; then talk
/// exits 0 when the server closes.
#[test]
fn talk_relays_lines_and_half_closes_at_end_of_input() {
    let server = serve_upper(Transport::Tcp4);
    let ListenAddr::Tcp(addr) = server.addr() else {
        unreachable!("a TCP case")
    };
    let output = talk(&[&addr.to_string()], b"one\ntwo\nlast");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ONE\nTWO\nLAST");
}

/// `--unix PATH` talks to a Unix domain socket the same way.
#[test]
fn talk_speaks_to_a_unix_socket() {
    let server = serve_upper(Transport::Unix);
    let ListenAddr::Unix(path) = server.addr() else {
        unreachable!("a Unix case")
    };
    let output = talk(&["--unix", path.to_str().expect("a UTF-8 path")], b"hi\n");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"HI\n");
}

/// Nobody listening: the error says so and asks whether the server runs.
#[test]
fn talk_says_when_nobody_listens() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let output = talk(&[&format!("127.0.0.1:{port}")], b"");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "connection refused at 127.0.0.1:{port}: is the server running?"
        )),
        "{stderr}"
    );
}

/// An address off this machine is refused before any connection.
#[test]
fn talk_refuses_a_non_loopback_address() {
    let output = talk(&["192.0.2.1:7000"], b"");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}
