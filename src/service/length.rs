//! `length`: answers `The msg was N bytes long` (seed 001's UDP server).
//!
//! Meant for datagrams, where one datagram is one message: the UDP path
//! hands each datagram to [`answer_datagram`](super::answer_datagram), and
//! the reply names its size. An empty datagram is a message too, answered
//! `The msg was 0 bytes long`.
//!
//! Over a stream there are no message boundaries, so the service answers
//! once per read: how the bytes happen to be split decides how many answers
//! come back. That is the lesson when it is served over TCP, not a bug. A
//! connection that closes without sending anything gets the 0-byte answer,
//! just as an empty datagram does.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The message-length service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Length;

/// One connection or datagram: whether anything has been answered yet.
#[derive(Debug)]
struct LengthSession {
    has_answered: bool,
}

impl Service for Length {
    fn name(&self) -> &'static str {
        "length"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(LengthSession {
            has_answered: false,
        })
    }
}

impl LengthSession {
    fn answer(&mut self, message_bytes: usize, output: &mut Vec<u8>) {
        output.extend_from_slice(format!("The msg was {message_bytes} bytes long").as_bytes());
        self.has_answered = true;
    }
}

impl Session for LengthSession {
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        if input.is_empty() {
            return Ok(Progress::continue_after(0, 0));
        }
        self.answer(input.len(), output);
        Ok(Progress::continue_after(input.len(), 1))
    }

    fn handle_eof(&mut self, unconsumed: &[u8], output: &mut Vec<u8>) -> Result<(), ProtocolError> {
        // Every read was consumed and answered; a message that carried
        // nothing at all still gets its answer.
        if !self.has_answered {
            self.answer(unconsumed.len(), output);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::answer_datagram;
    use crate::service::testkit::{cuts, read_sizes, run, test_peer};
    use proptest::prelude::*;

    fn datagram_reply(datagram: &[u8]) -> Vec<u8> {
        let mut reply = Vec::new();
        answer_datagram(&Length, &test_peer(), datagram, &mut reply).unwrap();
        reply
    }

    /// A datagram is answered with its size, exactly these bytes.
    #[test]
    fn length_answers_datagram_size() {
        assert_eq!(datagram_reply(b"hello"), b"The msg was 5 bytes long");
    }

    /// An empty datagram is answered too.
    #[test]
    fn length_answers_empty_datagram() {
        assert_eq!(datagram_reply(b""), b"The msg was 0 bytes long");
    }

    /// Over a stream each read is answered on its own.
    #[test]
    fn length_answers_each_stream_read() {
        let transcript = run(&Length, b"abcdefg", &[3]);
        assert_eq!(
            transcript.output,
            b"The msg was 3 bytes longThe msg was 4 bytes long"
        );
        assert_eq!(transcript.requests, 2);
    }

    proptest! {
        /// Any datagram gets exactly one answer naming its length (bound: 23
        /// bytes plus the digits of `in.len()`, whatever the content).
        #[test]
        fn length_datagram_reply_names_its_length(
            datagram in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let reply = datagram_reply(&datagram);
            let expected = format!("The msg was {} bytes long", datagram.len());
            prop_assert_eq!(reply, expected.into_bytes());
        }

        /// Over a stream the split decides the answers (no split invariance,
        /// by design): one per non-empty read, each naming that read's size
        /// (bound: 23 bytes plus the digits of the read's size, per read),
        /// never an error.
        #[test]
        fn length_stream_answers_once_per_read(
            input in proptest::collection::vec(any::<u8>(), 1..512),
            cuts in cuts(512),
        ) {
            let transcript = run(&Length, &input, &cuts);
            let expected: String = read_sizes(input.len(), &cuts)
                .iter()
                .map(|size| format!("The msg was {size} bytes long"))
                .collect();
            prop_assert_eq!(transcript.output, expected.into_bytes());
            prop_assert!(transcript.error.is_none());
        }
    }
}
