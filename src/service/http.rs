//! `http`: stub, being written.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The http service.
#[derive(Debug, Clone, Default)]
pub struct Http;

#[derive(Debug)]
struct HttpSession;

impl Service for Http {
    fn name(&self) -> &'static str {
        "http"
    }
    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(HttpSession)
    }
}

impl Session for HttpSession {
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
/// Largest header section.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
impl Http {
    /// stub
    pub fn new(_max: usize) -> Self {
        Http
    }
}
