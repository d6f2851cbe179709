//! `hello`: stub, being written.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The hello service.
#[derive(Debug, Clone, Default)]
pub struct Hello;

#[derive(Debug)]
struct HelloSession;

impl Service for Hello {
    fn name(&self) -> &'static str {
        "hello"
    }
    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(HelloSession)
    }
}

impl Session for HelloSession {
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
