//! `sized`: the server side of UNP chapter 30's web-like client: read a line
//! holding a number N, answer exactly N bytes.
//!
//! Stevens' client (`server/client.c` in unpv13e) writes `N\n` on each
//! connection, reads N bytes and closes; the servers of the chapter all
//! answer it the same way, so what differs between them is only how a
//! connection reaches the code that answers. The request is the ASCII
//! decimal N (1 ≤ N ≤ [`MAX_ANSWER_BYTES`]) and a newline (`\r\n` is taken
//! too); the answer is N bytes of [`ANSWER_PATTERN`] repeated
//! ([`write_answer`]), so a client can check the content as well as the
//! count. Several lines on one connection get one answer each.
//!
//! Anything else is a protocol error and the connection is closed with the
//! reason: a line that is not a number, a number out of range, or more
//! than [`MAX_REQUEST_BYTES`] without a newline (so a client that never
//! ends its line cannot make the server buffer without bound). End of
//! input inside a line is an error too: half a number is not a request.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The largest answer a request may ask for (the book's client asks for up
/// to 16,384 bytes; its `MAXN`).
pub const MAX_ANSWER_BYTES: usize = 16_384;

/// The longest request line, newline included: the digits of
/// [`MAX_ANSWER_BYTES`], a `\r` and a `\n`, with room for a few leading
/// zeros.
pub const MAX_REQUEST_BYTES: usize = 16;

/// What the answer is made of, repeated: byte `i` of every answer is
/// `ANSWER_PATTERN[i % 26]`.
pub const ANSWER_PATTERN: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

/// Append the answer to a request for `answer_bytes` bytes: the client
/// builds the same bytes to check what it got.
pub fn write_answer(answer_bytes: usize, output: &mut Vec<u8>) {
    output.reserve(answer_bytes);
    let whole = answer_bytes / ANSWER_PATTERN.len();
    for _ in 0..whole {
        output.extend_from_slice(ANSWER_PATTERN);
    }
    output.extend_from_slice(&ANSWER_PATTERN[..answer_bytes % ANSWER_PATTERN.len()]);
}

/// The sized-answer service (not `Sized`: that is the standard library's
/// marker trait).
#[derive(Debug, Clone, Copy, Default)]
pub struct SizedAnswers;

/// Keeps no state: the engine holds a partial line, and a line is short
/// enough to search again when more of it arrives.
#[derive(Debug)]
struct SizedSession;

impl Service for SizedAnswers {
    fn name(&self) -> &'static str {
        "sized"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(SizedSession)
    }

    /// One request line; the session refuses a longer one first, with a
    /// clearer message.
    fn max_request_bytes(&self) -> usize {
        MAX_REQUEST_BYTES + 1
    }
}

/// The N a request line asks for (`line` without its `\n`), or why it is
/// not a request.
fn parse_request(line: &[u8]) -> Result<usize, ProtocolError> {
    let digits = line.strip_suffix(b"\r").unwrap_or(line);
    let shown = || String::from_utf8_lossy(digits).into_owned();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ProtocolError::new(format!(
            "request {:?} is not a number: send the answer size in decimal and a newline, e.g. \"4000\\n\"",
            shown()
        )));
    }
    // At most MAX_REQUEST_BYTES digits: it fits in a usize.
    let number: usize = std::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(usize::MAX);
    if !(1..=MAX_ANSWER_BYTES).contains(&number) {
        return Err(ProtocolError::new(format!(
            "request for {} bytes is out of range: ask for 1 to {MAX_ANSWER_BYTES}",
            shown()
        )));
    }
    Ok(number)
}

impl Session for SizedSession {
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        let mut consumed = 0;
        let mut requests = 0;
        while let Some(offset) = input[consumed..].iter().position(|&b| b == b'\n') {
            if offset >= MAX_REQUEST_BYTES {
                break; // refused below, as any overlong line
            }
            let answer_bytes = parse_request(&input[consumed..consumed + offset])?;
            write_answer(answer_bytes, output);
            consumed += offset + 1;
            requests += 1;
        }
        if input.len() - consumed >= MAX_REQUEST_BYTES {
            return Err(ProtocolError::new(format!(
                "no newline in the first {MAX_REQUEST_BYTES} bytes of a request: send the answer size in decimal and a newline"
            )));
        }
        Ok(Progress::continue_after(consumed, requests))
    }

    fn handle_eof(
        &mut self,
        unconsumed: &[u8],
        _output: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        if unconsumed.is_empty() {
            return Ok(());
        }
        Err(ProtocolError::new(format!(
            "connection closed inside a request ({} bytes without a newline)",
            unconsumed.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testkit::{assert_split_invariant, bytes_from, cuts, run, run_whole};
    use proptest::prelude::*;

    fn answer(answer_bytes: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write_answer(answer_bytes, &mut out);
        out
    }

    /// `4000\n` gets exactly 4,000 bytes of the pattern, and the
    /// connection stays open for the next request.
    #[test]
    fn sized_answers_the_number_of_bytes_asked_for() {
        let transcript = run_whole(&SizedAnswers, b"4000\n");
        assert_eq!(transcript.output.len(), 4000);
        assert_eq!(&transcript.output[..28], b"abcdefghijklmnopqrstuvwxyzab");
        assert_eq!(transcript.output[3999], ANSWER_PATTERN[3999 % 26]);
        assert_eq!(transcript.requests, 1);
        assert!(transcript.error.is_none());
    }

    /// The limits are inclusive: 1 and 16,384 are answered, `\r\n` too.
    #[test]
    fn sized_answers_both_ends_of_the_range() {
        let transcript = run_whole(&SizedAnswers, b"1\r\n16384\n");
        assert_eq!(transcript.output, [answer(1), answer(16_384)].concat());
        assert_eq!(transcript.requests, 2);
    }

    /// 0, 16,385, a word, an empty line and a negative number are each a
    /// protocol error naming the request; nothing is answered.
    #[test]
    fn sized_refuses_out_of_range_and_non_numbers() {
        for (line, says) in [
            (&b"0\n"[..], "out of range"),
            (b"16385\n", "out of range"),
            (b"99999999999999\n", "out of range"),
            (b"four\n", "not a number"),
            (b"\n", "not a number"),
            (b"-5\n", "not a number"),
        ] {
            let transcript = run_whole(&SizedAnswers, line);
            let err = transcript.error.expect("an error");
            assert!(err.reason().contains(says), "{line:?}: {}", err.reason());
            assert!(transcript.output.is_empty(), "{line:?}");
        }
    }

    /// A line that does not end within the limit is refused, newline or
    /// not, so a client cannot make the server buffer without bound.
    #[test]
    fn sized_refuses_an_overlong_line() {
        for input in [
            vec![b'1'; MAX_REQUEST_BYTES],
            [vec![b'1'; 40], vec![b'\n']].concat(),
        ] {
            let err = run(&SizedAnswers, &input, &[3]).error.expect("an error");
            assert!(err.reason().contains("no newline"), "{}", err.reason());
        }
    }

    /// End of input inside a line is an error; after whole lines it is not.
    #[test]
    fn sized_eof_inside_a_request_is_an_error() {
        let err = run_whole(&SizedAnswers, b"40").error.expect("an error");
        assert_eq!(
            err.reason(),
            "connection closed inside a request (2 bytes without a newline)"
        );
        assert!(run_whole(&SizedAnswers, b"40\n").error.is_none());
    }

    proptest! {
        /// Any bytes (mostly digits and newlines), any split: the same
        /// output as one read, no panic, and at most 16,384 bytes out per
        /// newline in (the bound on what hostile bytes can make it send).
        #[test]
        fn sized_output_is_split_invariant_and_bounded(
            input in bytes_from(b"0123456789\n\r", 64),
            cuts in cuts(64),
        ) {
            assert_split_invariant(&SizedAnswers, &input, &cuts)?;
            let transcript = run(&SizedAnswers, &input, &cuts);
            let newlines = input.iter().filter(|&&b| b == b'\n').count();
            prop_assert!(transcript.output.len() <= newlines * MAX_ANSWER_BYTES);
        }

        /// Every valid request is answered with exactly its bytes.
        #[test]
        fn sized_answers_every_valid_request(sizes in proptest::collection::vec(1..=MAX_ANSWER_BYTES, 1..4)) {
            let input: Vec<u8> = sizes.iter().flat_map(|n| format!("{n}\n").into_bytes()).collect();
            let transcript = run_whole(&SizedAnswers, &input);
            let expected: Vec<u8> = sizes.iter().flat_map(|&n| answer(n)).collect();
            prop_assert_eq!(transcript.output, expected);
            prop_assert_eq!(transcript.requests, sizes.len());
        }
    }
}
