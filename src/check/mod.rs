//! `sockbench check`: conformance and hostile-client checks that grade any
//! stream server, ours or a student's.
//!
//! Each check is a named function that takes the server's address, talks
//! to it as a client would, and returns `Ok` or a [`Failure`] saying what
//! was sent, what was expected and what came. The same functions are the
//! body of `tests/conformance.rs` and `tests/hardening.rs`, which run them
//! against every engine; `sockbench check` runs the [`Check`]s of one
//! service against a server from a command line and prints a scorecard.
//!
//! - [`client`]: the connection every check uses, each call bounded by
//!   [`client::IO_TIMEOUT`].
//! - [`echo`], [`upper`], [`frame`], [`http`], [`greeting`]: what each
//!   protocol must do (partial reads, pipelining, half-close, large
//!   payloads, its error answers).
//! - [`hostile`]: what every server must survive (many clients, closed
//!   clients, a client that never reads, garbage, slow clients, resets).
//!
//! The three mistakes students make most each fail a named check:
//! `send` instead of `sendall` fails `large-payload`; closed clients never
//! removed fail `closed-clients-are-released`; no backpressure (blocking
//! on one client, or serving nobody else) fails `never-reading-client`.

pub mod client;
pub mod echo;
pub mod frame;
pub mod greeting;
pub mod hostile;
pub mod http;
mod registry;
pub mod sized;
pub mod upper;

use std::fmt;
use std::io::Write;

pub use registry::{checks_for, run_all, Check, Outcome, CHECK_TIMEOUT};

use crate::engine::ListenAddr;
use client::{compare_bytes, describe, Conn};

/// A check that did not pass, with its evidence (each part short and
/// escaped, ready for a scorecard line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What the check sent.
    pub sent: String,
    /// What a correct server does.
    pub expected: String,
    /// What this one did.
    pub got: String,
}

impl Failure {
    /// A failure from its three parts.
    pub fn new(
        sent: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Failure {
        Failure {
            sent: sent.into(),
            expected: expected.into(),
            got: got.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {}; expected {}; got {}",
            self.sent, self.expected, self.got
        )
    }
}

impl std::error::Error for Failure {}

/// What every check returns.
pub type CheckResult = Result<(), Failure>;

/// Connect, or fail saying the server did not accept.
pub fn connect(addr: &ListenAddr) -> Result<Conn, Failure> {
    Conn::connect(addr).map_err(|err| {
        Failure::new(
            format!("a connection to {addr}"),
            "the server to accept it",
            err.to_string(),
        )
    })
}

/// Send `request` (described as `sent` in a failure).
pub fn send(conn: &mut Conn, request: &[u8], sent: &str) -> CheckResult {
    conn.write_all(request)
        .map_err(|err| Failure::new(sent, "the server to take the bytes", err.to_string()))
}

/// Half-close, or fail saying the connection was already gone.
pub fn half_close(conn: &Conn, sent: &str) -> CheckResult {
    conn.shutdown_write().map_err(|err| {
        Failure::new(
            format!("{sent}, then a half-close"),
            "the connection still open",
            err.to_string(),
        )
    })
}

/// The next `expected.len()` bytes are exactly `expected`.
pub fn expect_reply(conn: &mut Conn, sent: &str, expected: &[u8]) -> CheckResult {
    let reply = conn
        .read_exact_bytes(expected.len())
        .map_err(|short| Failure::new(sent, describe(expected), short.to_string()))?;
    compare_bytes(&reply, expected).map_err(|got| Failure::new(sent, describe(expected), got))
}

/// Everything up to the server's close is exactly `expected`.
pub fn expect_reply_then_close(conn: &mut Conn, sent: &str, expected: &[u8]) -> CheckResult {
    let expectation = || format!("{}, then the server's close", describe(expected));
    let reply = conn
        .read_to_end_with_timeout()
        .map_err(|err| Failure::new(sent, expectation(), err.to_string()))?;
    compare_bytes(&reply, expected).map_err(|got| Failure::new(sent, expectation(), got))
}

/// Send `request`, then expect exactly `expected` back.
pub fn exchange(conn: &mut Conn, request: &[u8], expected: &[u8]) -> CheckResult {
    let sent = describe(request);
    send(conn, request, &sent)?;
    expect_reply(conn, &sent, expected)
}

/// The connection is closed by the server (end of stream or a reset),
/// within the timeout, whatever it sent first.
pub fn expect_closed(conn: &mut Conn, sent: &str) -> CheckResult {
    match conn.read_to_end_with_timeout() {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Err(err) => Err(Failure::new(
            sent,
            "the server to close the connection",
            err.to_string(),
        )),
    }
}
