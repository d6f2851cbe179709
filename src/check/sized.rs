//! What a `sized` server must do (UNP chapter 30's server): a line holding
//! N gets exactly N bytes of the service's pattern, several lines one
//! answer each; a number out of range closes that connection only.

use super::{connect, exchange, expect_reply_then_close, send, CheckResult};
use crate::engine::ListenAddr;
use crate::service::sized::{write_answer, MAX_ANSWER_BYTES};

/// The answer to a request for `answer_bytes`, as the service defines it.
fn answer(answer_bytes: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_answer(answer_bytes, &mut bytes);
    bytes
}

/// `sizes-answered`: 1, 4,000 and 16,384 bytes asked for in one write get
/// those answers, in order, on the same connection.
pub fn sizes_answered_in_order(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let sizes = [1, 4_000, MAX_ANSWER_BYTES];
    let request: String = sizes.iter().map(|n| format!("{n}\n")).collect();
    let expected: Vec<u8> = sizes.iter().flat_map(|&n| answer(n)).collect();
    exchange(&mut client, request.as_bytes(), &expected)
}

/// `out-of-range-closes`: a request for 16,385 bytes, after a good one,
/// gets the good answer and then the server's close; a new client is
/// still served.
pub fn out_of_range_closes_only_that_connection(addr: &ListenAddr) -> CheckResult {
    let mut offender = connect(addr)?;
    let sent = format!(
        "\"10\\n{}\\n\" (one byte over the limit)",
        MAX_ANSWER_BYTES + 1
    );
    send(
        &mut offender,
        format!("10\n{}\n", MAX_ANSWER_BYTES + 1).as_bytes(),
        &sent,
    )?;
    expect_reply_then_close(&mut offender, &sent, &answer(10))?;
    let mut next = connect(addr)?;
    exchange(&mut next, b"7\n", &answer(7))
}
