//! What an `upper` server must do: answer each `\n`-terminated line with
//! its ASCII letters upper-cased, however the lines are cut or bunched.

use super::client::describe;
use super::CheckResult;
use super::{connect, exchange, expect_reply, expect_reply_then_close, half_close, send};
use crate::engine::ListenAddr;

/// `partial-line`: a line split across two writes is answered once,
/// whole. A server that answers each `recv` as if it were a line fails.
pub fn line_split_across_writes(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let sent = "\"hello, wo\" then \"rld\\n\" in a second write";
    send(&mut client, b"hello, wo", sent)?;
    send(&mut client, b"rld\n", sent)?;
    expect_reply(&mut client, sent, b"HELLO, WORLD\n")
}

/// `pipelined-lines`: several lines in one write get one answer each, in
/// order.
pub fn lines_from_one_write(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    exchange(
        &mut client,
        b"one\ntWo 2\n\nlast line!\n",
        b"ONE\nTWO 2\n\nLAST LINE!\n",
    )
}

/// `invalid-utf8`: invalid UTF-8 and non-ASCII bytes pass through
/// unchanged; only ASCII letters change.
pub fn invalid_utf8_passes_through(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    exchange(
        &mut client,
        b"caf\xc3\xa9 \xff\xfe\x00 ok\n",
        b"CAF\xc3\xa9 \xff\xfe\x00 OK\n",
    )
}

/// `half-close`: after a half-close, complete lines and the unterminated
/// last one are all answered, then the server closes.
pub fn unterminated_line_at_half_close(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let sent = format!(
        "{} then {}, then a half-close",
        describe(b"first\nsecond\n"),
        describe(b"no newline")
    );
    send(&mut client, b"first\nsecond\n", &sent)?;
    send(&mut client, b"no newline", &sent)?;
    half_close(&client, &sent)?;
    expect_reply_then_close(&mut client, &sent, b"FIRST\nSECOND\nNO NEWLINE")
}
