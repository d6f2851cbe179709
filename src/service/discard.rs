//! `discard`: reads and drops everything (seed 003's select server, which
//! only prints what arrives).
//!
//! Nothing is ever sent back. Each batch of bytes that arrives counts as one
//! request, so `--work` is charged once per read, as for `echo`.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The discard service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

/// Discard keeps no state between reads.
#[derive(Debug)]
struct DiscardSession;

impl Service for Discard {
    fn name(&self) -> &'static str {
        "discard"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(DiscardSession)
    }
}

impl Session for DiscardSession {
    fn handle_input(
        &mut self,
        input: &[u8],
        _output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        let requests = usize::from(!input.is_empty());
        Ok(Progress::continue_after(input.len(), requests))
    }

    fn handle_eof(
        &mut self,
        _unconsumed: &[u8],
        _output: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testkit::{cuts, read_sizes, run};
    use proptest::prelude::*;

    /// Every byte is consumed, one request is counted, nothing is answered.
    #[test]
    fn discard_consumes_everything_silently() {
        let mut session = Discard.new_session(&Peer::Unix);
        let mut out = Vec::new();
        let progress = session.handle_input(b"anything\n\xff", &mut out).unwrap();
        assert_eq!(progress, Progress::continue_after(10, 1));
        assert!(out.is_empty());
    }

    /// An empty read is not a request.
    #[test]
    fn discard_counts_no_request_for_empty_input() {
        let mut session = Discard.new_session(&Peer::Unix);
        let progress = session.handle_input(b"", &mut Vec::new()).unwrap();
        assert_eq!(progress, Progress::continue_after(0, 0));
    }

    proptest! {
        /// Any bytes, any split: nothing comes back (bound: `out.len() == 0`),
        /// no error, and one request is counted per non-empty read.
        #[test]
        fn discard_answers_nothing_for_any_split(
            input in proptest::collection::vec(any::<u8>(), 1..512),
            cuts in cuts(512),
        ) {
            let transcript = run(&Discard, &input, &cuts);
            prop_assert!(transcript.output.is_empty());
            prop_assert!(transcript.error.is_none());
            prop_assert_eq!(transcript.requests, read_sizes(input.len(), &cuts).len());
        }
    }
}
