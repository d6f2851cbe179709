//! What a `frame` server must do: a 4-byte big-endian length, then that
//! many bytes; each frame echoed whole, an oversize length refused.

use super::client::{describe, random_bytes};
use super::{connect, exchange, expect_reply, half_close, send, CheckResult, Failure};
use crate::engine::ListenAddr;
use crate::service::frame::{DEFAULT_MAX_FRAME_BYTES, HEADER_BYTES};

/// 4-byte big-endian length, then the payload: built here rather than with
/// the service's encoder, so the wire format itself is under test.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("payload fits a u32 length");
    [&len.to_be_bytes()[..], payload].concat()
}

/// `frames-whole`: frames of 1 byte, 1,000 bytes and the largest allowed
/// (1 MiB), sent back to back, are each echoed whole.
pub fn each_frame_whole(addr: &ListenAddr) -> CheckResult {
    let mut client = connect(addr)?;
    let payloads = [
        random_bytes(1, 1),
        random_bytes(1000, 2),
        random_bytes(DEFAULT_MAX_FRAME_BYTES, 3),
    ];
    let request: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
    let sent = "frames of 1, 1000 and 1048576 bytes back to back, read while writing";
    let expected = "the same three frames back";
    client
        .write_while_matching(&request, &request)
        .map_err(|got| Failure::new(sent, expected, got))
}

/// `oversize-frame`: a length prefix over the maximum closes that
/// connection (after the answers already due), and the server goes on
/// serving a second client.
pub fn oversize_length_closes_only_that_connection(addr: &ListenAddr) -> CheckResult {
    let mut offender = connect(addr)?;
    let valid = frame(b"before the bad one");
    let oversize = u32::try_from(DEFAULT_MAX_FRAME_BYTES + 1)
        .expect("fits a u32")
        .to_be_bytes();
    let sent = format!(
        "{} then the length {} (over the 1 MiB maximum)",
        describe(&valid),
        DEFAULT_MAX_FRAME_BYTES + 1
    );
    send(&mut offender, &[&valid[..], &oversize[..]].concat(), &sent)?;
    expect_reply(&mut offender, &sent, &valid)?;
    let expected = "the valid frame back, then the server's close";
    match offender.read_to_end_with_timeout() {
        Ok(rest) if rest.is_empty() => {}
        Ok(rest) => {
            return Err(Failure::new(
                &sent,
                expected,
                format!("{} more", describe(&rest)),
            ))
        }
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(err) => return Err(Failure::new(&sent, expected, err.to_string())),
    }
    let mut next = connect(addr)?;
    let request = frame(b"still serving");
    exchange(&mut next, &request, &request)
}

/// `truncated-frame`: a frame cut off by a half-close gets no answer and
/// is closed; the server goes on serving.
pub fn truncated_frame_is_closed(addr: &ListenAddr) -> CheckResult {
    let mut conn = connect(addr)?;
    let request = frame(&[7u8; 100]);
    let sent = "the first 50 bytes of a 100-byte frame, then a half-close";
    send(&mut conn, &request[..HEADER_BYTES + 50], sent)?;
    half_close(&conn, sent)?;
    super::expect_reply_then_close(&mut conn, sent, b"")?;
    let mut next = connect(addr)?;
    let request = frame(b"still here");
    exchange(&mut next, &request, &request)
}
