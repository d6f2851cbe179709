//! `length`: stub, being written.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The length service.
#[derive(Debug, Clone, Default)]
pub struct Length;

#[derive(Debug)]
struct LengthSession;

impl Service for Length {
    fn name(&self) -> &'static str {
        "length"
    }
    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(LengthSession)
    }
}

impl Session for LengthSession {
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
