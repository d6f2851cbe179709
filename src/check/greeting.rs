//! What the services that ignore their input must do: `hello` greets,
//! `fixed16` answers a 16-byte request, `discard` answers nothing.

use super::client::random_bytes;
use super::{connect, expect_reply_then_close, half_close, send, CheckResult, Failure};
use crate::engine::ListenAddr;

/// `greeting`: `hello` greets with exactly `Hello <peer>\n`, the peer
/// being the client's real address, then closes.
pub fn hello_greets_then_closes(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let peer = client
        .peer_as_seen_by_server()
        .map_err(|err| Failure::new("nothing", "a connected socket", err.to_string()))?;
    let expected = format!("Hello {peer}\n");
    expect_reply_then_close(&mut client, "nothing", expected.as_bytes())
}

/// `one-byte-at-a-time`: 16 bytes sent one byte per write still get
/// `Hello World!`, then the server closes.
pub fn fixed16_one_byte_at_a_time(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let sent = "\"0123456789abcdef\", one byte per write";
    for byte in b"0123456789abcdef" {
        send(&mut client, &[*byte], sent)?;
    }
    expect_reply_then_close(&mut client, sent, b"Hello World!")
}

/// `half-close`: `discard` answers nothing to 4 MiB, and closes after the
/// half-close.
pub fn discard_closes_after_half_close(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let sent = "4 MiB of random bytes, then a half-close";
    send(&mut client, &random_bytes(4 * 1024 * 1024, 4), sent)?;
    half_close(&client, sent)?;
    expect_reply_then_close(&mut client, sent, b"")
}
