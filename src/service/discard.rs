//! `discard`: stub, being written.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The discard service.
#[derive(Debug, Clone, Default)]
pub struct Discard;

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
        Ok(Progress::continue_after(input.len(), 0))
    }
    fn handle_eof(
        &mut self,
        _unconsumed: &[u8],
        _output: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        Ok(())
    }
}
