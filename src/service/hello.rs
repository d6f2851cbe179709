//! `hello`: greets the client with its own address, then closes (seed 004).
//!
//! On open the session sends `Hello <ip>:<port>\n`, the address as the
//! server sees it (`getpeername`; IPv6 in brackets, `Hello [::1]:5000\n`),
//! or `Hello unix-peer\n` for a Unix socket peer, and asks to close. It never
//! waits for input: whatever the client sends is ignored.

use super::{Control, Peer, Progress, ProtocolError, Service, Session};

/// The hello service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hello;

/// One connection: the greeting, made when the peer is known.
#[derive(Debug)]
struct HelloSession {
    greeting: String,
}

impl Service for Hello {
    fn name(&self) -> &'static str {
        "hello"
    }

    fn new_session(&self, peer: &Peer) -> Box<dyn Session> {
        Box::new(HelloSession {
            greeting: format!("Hello {peer}\n"),
        })
    }
}

impl Session for HelloSession {
    fn handle_open(&mut self, output: &mut Vec<u8>) -> Control {
        output.extend_from_slice(self.greeting.as_bytes());
        Control::Close
    }

    fn handle_input(
        &mut self,
        input: &[u8],
        _output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        // Engines stop reading after `Control::Close`; if bytes come anyway
        // they are ignored.
        Ok(Progress::close_after(input.len(), 0))
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
    use crate::service::testkit::{cuts, run};
    use proptest::prelude::*;

    fn greeting(peer: &Peer) -> (Vec<u8>, Control) {
        let mut out = Vec::new();
        let control = Hello.new_session(peer).handle_open(&mut out);
        (out, control)
    }

    /// An IPv4 peer is greeted with its address and port, then closed.
    #[test]
    fn hello_greets_ipv4_peer_and_closes() {
        let peer = Peer::Inet("192.0.2.7:51000".parse().unwrap());
        assert_eq!(
            greeting(&peer),
            (b"Hello 192.0.2.7:51000\n".to_vec(), Control::Close)
        );
    }

    /// An IPv6 peer's address is written in brackets.
    #[test]
    fn hello_greets_ipv6_peer_in_brackets() {
        let peer = Peer::Inet("[::1]:6000".parse().unwrap());
        assert_eq!(
            greeting(&peer),
            (b"Hello [::1]:6000\n".to_vec(), Control::Close)
        );
    }

    /// A Unix socket peer has no address: it is greeted as `unix-peer`.
    #[test]
    fn hello_greets_unix_peer() {
        assert_eq!(
            greeting(&Peer::Unix),
            (b"Hello unix-peer\n".to_vec(), Control::Close)
        );
    }

    proptest! {
        /// Whatever the client sends, however split, it gets exactly the
        /// greeting (bound: output independent of input), and no error.
        #[test]
        fn hello_output_is_the_greeting_for_any_input(
            input in proptest::collection::vec(any::<u8>(), 0..256),
            cuts in cuts(256),
        ) {
            let transcript = run(&Hello, &input, &cuts);
            prop_assert_eq!(transcript.output, b"Hello 127.0.0.1:40000\n".to_vec());
            prop_assert!(transcript.error.is_none());
        }
    }
}
