//! `upper`: stub, being written.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The upper service.
#[derive(Debug, Clone, Default)]
pub struct Upper;

#[derive(Debug)]
struct UpperSession;

impl Service for Upper {
    fn name(&self) -> &'static str {
        "upper"
    }
    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(UpperSession)
    }
}

impl Session for UpperSession {
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
/// Default longest line.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;
impl Upper {
    /// stub
    pub fn new(_max: usize) -> Self {
        Upper
    }
}
