//! `upper`: the seeds' uppercase server, one line at a time (seed 002).
//!
//! Each complete `\n`-terminated line is answered with its ASCII letters in
//! capitals and every other byte unchanged, newline included. Bytes that are
//! not valid UTF-8 pass through as they came: the service works on bytes, not
//! text, so no input can make it panic or stall.
//!
//! A partial line waits for the rest of it. At end of input the unterminated
//! tail is answered as it is (capitals, no newline added), as the seed's
//! server answers whatever arrived before the client closed.
//!
//! A line longer than the limit (default [`DEFAULT_MAX_LINE_BYTES`], the
//! newline not counted) is a protocol error: the connection is closed rather
//! than buffer without bound. Each line answered counts as one request.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// Longest line accepted by default, newline not counted.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// The uppercase service.
#[derive(Debug, Clone, Copy)]
pub struct Upper {
    max_line_bytes: usize,
}

impl Upper {
    /// An uppercase service refusing lines longer than `max_line_bytes`
    /// (newline not counted).
    pub fn new(max_line_bytes: usize) -> Self {
        Upper { max_line_bytes }
    }
}

impl Default for Upper {
    fn default() -> Self {
        Upper::new(DEFAULT_MAX_LINE_BYTES)
    }
}

/// One connection: the limit, and how much of the pending partial line has
/// already been searched for a newline.
#[derive(Debug)]
struct UpperSession {
    max_line_bytes: usize,
    /// Bytes at the front of the next input known to hold no newline: the
    /// partial line handed back. Not searching them again keeps a client
    /// that trickles one byte at a time from costing quadratic time.
    searched_bytes: usize,
}

impl Service for Upper {
    fn name(&self) -> &'static str {
        "upper"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(UpperSession {
            max_line_bytes: self.max_line_bytes,
            searched_bytes: 0,
        })
    }

    /// A whole line plus its newline. The session refuses a longer partial
    /// line itself, with a clearer message, before this limit is reached.
    fn max_request_bytes(&self) -> usize {
        self.max_line_bytes.saturating_add(1)
    }
}

impl UpperSession {
    /// The error for a line (complete or not) of more than the limit.
    fn line_too_long(&self) -> ProtocolError {
        ProtocolError::new(format!(
            "line longer than {} bytes: send shorter lines, or raise --max-line-bytes",
            self.max_line_bytes
        ))
    }
}

impl Session for UpperSession {
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        let mut consumed = 0;
        let mut requests = 0;
        // Only the partial line handed back was searched before.
        let mut search_from = self.searched_bytes.min(input.len());
        while let Some(offset) = input[search_from..].iter().position(|&b| b == b'\n') {
            let newline_at = search_from + offset;
            if newline_at - consumed > self.max_line_bytes {
                return Err(self.line_too_long());
            }
            push_upper(&input[consumed..=newline_at], output);
            consumed = newline_at + 1;
            requests += 1;
            search_from = consumed;
        }
        let pending = input.len() - consumed;
        if pending > self.max_line_bytes {
            return Err(self.line_too_long());
        }
        self.searched_bytes = pending;
        Ok(Progress::continue_after(consumed, requests))
    }

    fn handle_eof(&mut self, unconsumed: &[u8], output: &mut Vec<u8>) -> Result<(), ProtocolError> {
        // The last line had no newline: answer it as it is.
        push_upper(unconsumed, output);
        Ok(())
    }
}

/// Append `bytes` with ASCII letters upper-cased, every other byte unchanged.
fn push_upper(bytes: &[u8], output: &mut Vec<u8>) {
    let start = output.len();
    output.extend_from_slice(bytes);
    output[start..].make_ascii_uppercase();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testkit::{self, assert_split_invariant, bytes_from, cuts, run};
    use proptest::prelude::*;

    fn session(max_line_bytes: usize) -> Box<dyn Session> {
        Upper::new(max_line_bytes).new_session(&testkit::test_peer())
    }

    /// Each complete line comes back in capitals with its newline; only
    /// ASCII letters change.
    #[test]
    fn upper_capitalises_complete_lines() {
        let mut s = session(64);
        let mut out = Vec::new();
        let progress = s
            .handle_input(b"hello, World 42!\nabc\n", &mut out)
            .unwrap();
        assert_eq!(progress, Progress::continue_after(21, 2));
        assert_eq!(out, b"HELLO, WORLD 42!\nABC\n");
    }

    /// A partial line is not consumed until its newline arrives.
    #[test]
    fn upper_waits_for_the_end_of_a_line() {
        let mut s = session(64);
        let mut out = Vec::new();
        let progress = s.handle_input(b"ab\ncd", &mut out).unwrap();
        assert_eq!(progress, Progress::continue_after(3, 1));
        assert_eq!(out, b"AB\n");
        let progress = s.handle_input(b"cdef\n", &mut out).unwrap();
        assert_eq!(progress, Progress::continue_after(5, 1));
        assert_eq!(out, b"AB\nCDEF\n");
    }

    /// Invalid UTF-8 and non-ASCII letters pass through byte for byte.
    #[test]
    fn upper_passes_invalid_utf8_through() {
        let mut s = session(64);
        let mut out = Vec::new();
        let input = b"\xff\xfea\xc3\xa9z\x00\n";
        s.handle_input(input, &mut out).unwrap();
        assert_eq!(out, b"\xff\xfeA\xc3\xa9Z\x00\n");
    }

    /// At end of input the unterminated tail is answered, without a newline.
    #[test]
    fn upper_answers_tail_at_eof() {
        let transcript = testkit::run_whole(&Upper::new(64), b"one\ntwo");
        assert_eq!(transcript.output, b"ONE\nTWO");
        assert_eq!(transcript.requests, 1);
        assert!(transcript.error.is_none());
    }

    /// A line of exactly the limit is answered; one byte more is refused,
    /// whether or not its newline has arrived.
    #[test]
    fn upper_refuses_lines_over_the_limit() {
        let mut out = Vec::new();
        let progress = session(4).handle_input(b"abcd\n", &mut out).unwrap();
        assert_eq!(progress.requests, 1);
        assert_eq!(out, b"ABCD\n");

        let err = session(4).handle_input(b"abcde\n", &mut out).unwrap_err();
        assert!(err.reason().contains("longer than 4 bytes"), "{err}");
        let err = session(4).handle_input(b"abcde", &mut out).unwrap_err();
        assert!(err.reason().contains("--max-line-bytes"), "{err}");
        assert!(session(4).handle_input(b"abcd", &mut out).is_ok());
    }

    /// The session refuses an overlong line before the engine's input limit
    /// does, even when it arrives one byte at a time.
    #[test]
    fn upper_refuses_overlong_line_before_engine_limit() {
        let input = b"abcdefg";
        let cuts: Vec<usize> = (1..input.len()).collect();
        let transcript = run(&Upper::new(4), input, &cuts);
        let err = transcript.error.expect("an overlong line is an error");
        assert!(err.reason().contains("line longer than 4 bytes"), "{err}");
        assert!(transcript.output.is_empty());
    }

    proptest! {
        /// Lines split across reads anywhere are answered exactly as if they
        /// had arrived in one read, overlong lines included.
        #[test]
        fn upper_split_invariant(
            input in bytes_from(b"ab\n\xff", 200),
            cuts in cuts(200),
        ) {
            assert_split_invariant(&Upper::new(16), &input, &cuts)?;
        }

        /// Arbitrary bytes never panic, and the output is a prefix of the
        /// input upper-cased (bound: `out.len() <= in.len()`), all of it
        /// when no line is over the limit.
        #[test]
        fn upper_output_is_prefix_of_uppercased_input(
            input in proptest::collection::vec(any::<u8>(), 0..512),
            cuts in cuts(512),
        ) {
            let transcript = run(&Upper::new(64), &input, &cuts);
            let expected = input.to_ascii_uppercase();
            prop_assert!(expected.starts_with(&transcript.output));
            if transcript.error.is_none() {
                prop_assert_eq!(transcript.output, expected);
            }
        }
    }
}
