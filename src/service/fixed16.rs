//! `fixed16`: reads one 16-byte message, answers `Hello World!`, closes
//! (seed 001's `recv_all` server).
//!
//! The lesson is that TCP has no message boundaries: the 16 bytes may arrive
//! in one read or in sixteen. The session consumes nothing until all 16 are
//! there (the engine's buffer holds the partial message), then answers
//! exactly the 12 bytes `Hello World!` (no newline) and asks to close. Bytes
//! after the 16th are ignored. End of input before the 16th byte is a
//! protocol error.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The size of the one message the client sends.
pub const MESSAGE_BYTES: usize = 16;

/// The answer, exactly these bytes.
pub const ANSWER: &[u8] = b"Hello World!";

/// The fixed-size message service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fixed16;

/// Keeps no state: the engine holds the partial message.
#[derive(Debug)]
struct Fixed16Session;

impl Service for Fixed16 {
    fn name(&self) -> &'static str {
        "fixed16"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(Fixed16Session)
    }

    /// The message itself: nothing more is ever waited for.
    fn max_request_bytes(&self) -> usize {
        MESSAGE_BYTES
    }
}

impl Session for Fixed16Session {
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        if input.len() < MESSAGE_BYTES {
            // Not all there yet: consume nothing, wait for more.
            return Ok(Progress::continue_after(0, 0));
        }
        output.extend_from_slice(ANSWER);
        Ok(Progress::close_after(MESSAGE_BYTES, 1))
    }

    fn handle_eof(
        &mut self,
        unconsumed: &[u8],
        _output: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        Err(ProtocolError::new(format!(
            "connection closed after {} of {MESSAGE_BYTES} bytes",
            unconsumed.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testkit::{assert_split_invariant, cuts, run, run_whole};
    use proptest::prelude::*;

    /// Sixteen bytes in one read get `Hello World!` and a close.
    #[test]
    fn fixed16_answers_sixteen_bytes_and_closes() {
        let mut session = Fixed16.new_session(&Peer::Unix);
        let mut out = Vec::new();
        let progress = session.handle_input(&[b'x'; 16], &mut out).unwrap();
        assert_eq!(progress, Progress::close_after(16, 1));
        assert_eq!(out, b"Hello World!");
    }

    /// Fewer than sixteen bytes are left unconsumed, with no answer.
    #[test]
    fn fixed16_consumes_nothing_until_sixteen_bytes() {
        let mut session = Fixed16.new_session(&Peer::Unix);
        let mut out = Vec::new();
        let progress = session.handle_input(&[b'x'; 15], &mut out).unwrap();
        assert_eq!(progress, Progress::continue_after(0, 0));
        assert!(out.is_empty());
    }

    /// Sixteen bytes arriving one read at a time get the same one answer.
    #[test]
    fn fixed16_answers_one_byte_reads() {
        let cuts: Vec<usize> = (1..16).collect();
        let transcript = run(&Fixed16, b"0123456789abcdef", &cuts);
        assert_eq!(transcript.output, b"Hello World!");
        assert_eq!(transcript.requests, 1);
        assert!(transcript.error.is_none());
    }

    /// End of input before the sixteenth byte is an error naming the count.
    #[test]
    fn fixed16_eof_before_sixteen_bytes_is_an_error() {
        let transcript = run_whole(&Fixed16, b"short");
        let err = transcript.error.expect("a short message is an error");
        assert_eq!(err.reason(), "connection closed after 5 of 16 bytes");
        assert!(transcript.output.is_empty());
    }

    proptest! {
        /// Any bytes, any split: the same output as one read, and that
        /// output is `Hello World!` exactly when at least 16 bytes came,
        /// nothing otherwise (bound: `out.len() <= 12`).
        #[test]
        fn fixed16_answers_once_for_any_split(
            input in proptest::collection::vec(any::<u8>(), 0..40),
            cuts in cuts(40),
        ) {
            assert_split_invariant(&Fixed16, &input, &cuts)?;
            let transcript = run(&Fixed16, &input, &cuts);
            if input.len() >= MESSAGE_BYTES {
                prop_assert_eq!(transcript.output, ANSWER.to_vec());
                prop_assert!(transcript.error.is_none());
            } else {
                prop_assert!(transcript.output.is_empty());
                prop_assert!(transcript.error.is_some());
            }
        }
    }
}
