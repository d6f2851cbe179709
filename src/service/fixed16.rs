//! `fixed16`: stub, being written.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The fixed16 service.
#[derive(Debug, Clone, Default)]
pub struct Fixed16;

#[derive(Debug)]
struct Fixed16Session;

impl Service for Fixed16 {
    fn name(&self) -> &'static str {
        "fixed16"
    }
    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(Fixed16Session)
    }
}

impl Session for Fixed16Session {
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
