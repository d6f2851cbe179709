//! `frame`: stub, being written.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The frame service.
#[derive(Debug, Clone, Default)]
pub struct Frame;

#[derive(Debug)]
struct FrameSession;

impl Service for Frame {
    fn name(&self) -> &'static str {
        "frame"
    }
    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(FrameSession)
    }
}

impl Session for FrameSession {
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
/// Default largest payload.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1024 * 1024;
impl Frame {
    /// stub
    pub fn new(_max: usize) -> Self {
        Frame
    }
}
