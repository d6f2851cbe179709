//! `sockbench check` as a user runs it: the lab's reference solution and
//! sockbench's own engine pass every check; a server with the classic
//! mistakes fails the checks named for them; a server that exits at once,
//! a command with nowhere to listen and a foreign address are each
//! reported clearly.

mod util;

use std::path::Path;
use std::process::{Command, Output};

use sockbench::check::{self, hostile};
use sockbench::external::{ServerCommand, DEFAULT_GRACE, DEFAULT_READY_TIMEOUT};
use sockbench::service::ServiceKind;
use util::cli::{scratch, sockbench};

/// Whether `python3` runs here; the tests that need it say so and pass.
fn has_python() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: python3 is not installed");
    }
    found
}

/// `sockbench check --server COMMAND --service SERVICE`.
fn check(command: &str, service: &str) -> Output {
    sockbench(&["check", "--server", command, "--service", service])
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The lab's reference `select()` server passes every check, and `check`
/// exits 0.
#[test]
fn reference_solution_passes_every_check() {
    if !has_python() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lab_select_echo.py");
    let output = check(&format!("python3 {} {{port}}", script.display()), "echo");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{output:?}");
    assert!(text.contains("9 of 9 checks passed"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
}

/// sockbench's own reactor, started from a command like any other server,
/// passes every `http` check.
#[test]
fn reactor_passes_every_http_check() {
    let command = format!(
        "{} serve --engine reactor --service http --addr {{addr}}",
        env!("CARGO_BIN_EXE_sockbench")
    );
    let output = check(&command, "http");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{output:?}");
    assert!(!text.contains("FAIL"), "{text}");
}

/// A student's server with `send` instead of `sendall` on non-blocking
/// sockets, that never removes clients that closed.
const BROKEN_ECHO: &str = "
import select, socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', int(sys.argv[1]))); srv.listen(64)
inputs = [srv]
while True:
    ready, _, _ = select.select(inputs, [], [])
    for s in ready:
        if s is srv:
            c, _ = srv.accept(); c.setblocking(False); inputs.append(c)
        else:
            try:
                data = s.recv(4096)
                if data:
                    s.send(data)
            except (BlockingIOError, ConnectionError):
                pass
";

/// Each classic mistake fails the check named for it, with its evidence
/// (the library's checks, as `check` runs them, without the rest of the
/// scorecard's timeouts).
#[test]
fn broken_server_fails_the_named_checks() {
    if !has_python() {
        return;
    }
    let dir = scratch("check-broken");
    let script = dir.join("broken_echo.py");
    std::fs::write(&script, BROKEN_ECHO).expect("write the broken server");
    let command = ServerCommand::parse(&format!("python3 {} {{port}}", script.display()))
        .expect("a valid command");
    let server = command
        .start(DEFAULT_READY_TIMEOUT, DEFAULT_GRACE)
        .expect("the broken server starts");
    let short_sends = check::echo::large_payload(server.addr()).expect_err("short sends pass");
    assert_eq!(short_sends.expected, "the same 16 MiB back");
    assert!(short_sends.got.contains("bytes lost"), "{short_sends}");
    let leak = hostile::closed_clients_are_released(server.addr(), ServiceKind::Echo)
        .expect_err("a server that never closes passes");
    assert!(leak.expected.ends_with("then the server's close"), "{leak}");
    assert!(leak.got.contains("no end of stream"), "{leak}");
}

/// A server that exits at once is reported with its exit status and its
/// last words, before any check runs.
#[test]
fn server_that_exits_at_once_is_reported() {
    if !has_python() {
        return;
    }
    let command = "python3 -c 'import sys; sys.exit(\"cannot read config.ini\")' {port}";
    let output = check(command, "echo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("exited before accepting"), "{stderr}");
    assert!(stderr.contains("exit status: 1"), "{stderr}");
    assert!(stderr.contains("cannot read config.ini"), "{stderr}");
    assert!(!stdout(&output).contains("pass"), "checks ran");
}

/// A command with nowhere to listen is refused before anything runs.
#[test]
fn command_without_a_port_is_refused() {
    let output = check("python3 server.py 7000", "echo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("put {port}"), "{stderr}");
}

/// `--addr` off this machine is refused: the checks are hostile traffic.
#[test]
fn foreign_address_is_refused() {
    let output = sockbench(&["check", "--addr", "192.0.2.1:7000", "--service", "echo"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}
