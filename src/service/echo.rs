//! `echo`: every byte back, exactly (the seeds' TCP echo server).
//!
//! Each batch of bytes that arrives counts as one request, so `--work` is
//! charged once per read, as the textbook server does once per `recv`.

use super::{Peer, Progress, ProtocolError, Service, Session};

/// The echo service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

/// Echo keeps no state between reads.
#[derive(Debug)]
struct EchoSession;

impl Service for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(EchoSession)
    }
}

impl Session for EchoSession {
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        output.extend_from_slice(input);
        let requests = usize::from(!input.is_empty());
        Ok(Progress::continue_after(input.len(), requests))
    }

    fn handle_eof(&mut self, unconsumed: &[u8], output: &mut Vec<u8>) -> Result<(), ProtocolError> {
        // Echo consumes everything, so this is empty; echo it anyway rather
        // than lose bytes if that ever changes.
        output.extend_from_slice(unconsumed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echo returns exactly what it was given, including arbitrary bytes.
    #[test]
    fn echo_returns_input_unchanged() {
        let mut session = Echo.new_session(&Peer::Unix);
        let mut out = Vec::new();
        let input = [0u8, 255, b'a', b'\n', 0x80];
        let progress = session.handle_input(&input, &mut out).unwrap();
        assert_eq!(progress.consumed, input.len());
        assert_eq!(progress.requests, 1);
        assert_eq!(out, input);
    }
}
