//! What an `echo` server must do: every byte back, in order, however the
//! bytes are cut, and after a half-close too.

use std::io::Write;

use super::client::{compare_bytes, describe, random_bytes};
use super::{connect, expect_reply_then_close, half_close, send, CheckResult, Failure};
use crate::engine::ListenAddr;

/// Bytes in the large-payload check: far more than any socket buffer.
pub const LARGE_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// `large-payload`: 16 MiB written in one `write_all` while the client
/// reads concurrently comes back byte for byte. A server whose `send`
/// writes only part of a reply (`send` instead of `sendall`, a short write
/// taken for a whole one) loses the rest and fails here.
pub fn large_payload(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let data = random_bytes(LARGE_PAYLOAD_BYTES, 16);
    let sent = "16 MiB of random bytes in one write, read once 1 MiB is out";
    let expected = "the same 16 MiB back";
    client
        .write_while_matching(&data, &data)
        .map_err(|got| Failure::new(sent, expected, got))
}

/// `many-small-messages`: 10,000 messages of 1 to 64 bytes, each written
/// then read back before the next, come back exactly.
pub fn many_small_messages(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let data = random_bytes(10_000 * 64, 10_000);
    for (i, message) in data.chunks(64).enumerate() {
        // Sizes 1..=64 so that message boundaries vary.
        let message = &message[..1 + i % 64];
        let sent = format!("message {i} of 10000, {}", describe(message));
        send(&mut client, message, &sent)?;
        let reply = client
            .read_exact_bytes(message.len())
            .map_err(|short| Failure::new(&sent, describe(message), short.to_string()))?;
        compare_bytes(&reply, message)
            .map_err(|got| Failure::new(&sent, describe(message), got))?;
    }
    Ok(())
}

/// `half-close`: after the client half-closes, every reply still arrives
/// (100 KB among them), then the server closes.
pub fn replies_after_half_close(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let requests: [&[u8]; 4] = [b"first ", b"second ", b"third ", &random_bytes(100_000, 3)];
    let sent = "\"first \", \"second \", \"third \" and 100000 random bytes, then a half-close";
    for request in requests {
        client
            .write_all(request)
            .map_err(|err| Failure::new(sent, "the server to take the bytes", err.to_string()))?;
    }
    half_close(&client, sent)?;
    expect_reply_then_close(&mut client, sent, &requests.concat())
}
