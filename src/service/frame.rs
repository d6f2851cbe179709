//! `frame`: length-prefixed messages, each echoed back whole.
//!
//! A frame is a 4-byte big-endian (network byte order, the seeds' `htonl`)
//! payload length, then the payload. Each complete frame is answered with the
//! same frame, header and payload; a zero-length frame is valid and answered
//! with its 4 header bytes. A partial frame waits for the rest of it.
//!
//! A length over the limit (default [`DEFAULT_MAX_FRAME_BYTES`]) is a
//! protocol error as soon as the 4 header bytes are in: the claimed size is
//! never allocated or waited for. End of input inside a frame is a protocol
//! error ("truncated frame"); end of input between frames is a clean close.
//! Each frame answered counts as one request.
//!
//! Clients (the load generator, tests, benches) build frames with
//! [`encode_frame`].

use super::{Peer, Progress, ProtocolError, Service, Session};

/// Largest payload accepted by default: 1 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Size of the length prefix.
pub const HEADER_BYTES: usize = 4;

/// Append one frame carrying `payload` to `out`.
///
/// # Panics
/// If the payload is 4 GiB or more: its length does not fit the header.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    encode_frame_header(payload.len(), out);
    out.extend_from_slice(payload);
}

/// Append the length prefix of a `payload_bytes`-byte frame to `out`, for
/// writers that produce the payload in place right after it.
///
/// # Panics
/// If `payload_bytes` is 4 GiB or more: it does not fit the header.
pub fn encode_frame_header(payload_bytes: usize, out: &mut Vec<u8>) {
    let len = u32::try_from(payload_bytes).expect("a frame payload must be under 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
}

/// The frame echo service.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    max_frame_bytes: usize,
}

impl Frame {
    /// A frame service refusing payloads over `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        Frame { max_frame_bytes }
    }
}

impl Default for Frame {
    fn default() -> Self {
        Frame::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

/// One connection: only the limit; the engine holds the partial frame.
#[derive(Debug)]
struct FrameSession {
    max_frame_bytes: usize,
}

impl Service for Frame {
    fn name(&self) -> &'static str {
        "frame"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(FrameSession {
            max_frame_bytes: self.max_frame_bytes,
        })
    }

    /// One whole frame of the largest size, header included.
    fn max_request_bytes(&self) -> usize {
        self.max_frame_bytes.saturating_add(HEADER_BYTES)
    }
}

impl Session for FrameSession {
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        let mut consumed = 0;
        let mut requests = 0;
        while let Some(header) = input[consumed..].first_chunk::<HEADER_BYTES>() {
            let payload_bytes = payload_bytes(header);
            if payload_bytes > self.max_frame_bytes {
                return Err(ProtocolError::new(format!(
                    "frame claims {payload_bytes} bytes, over the maximum of {} bytes: \
                     send smaller frames, or raise --max-frame-bytes",
                    self.max_frame_bytes
                )));
            }
            let frame_bytes = HEADER_BYTES + payload_bytes;
            let Some(frame) = input[consumed..].get(..frame_bytes) else {
                break; // The payload is still arriving.
            };
            output.extend_from_slice(frame);
            consumed += frame_bytes;
            requests += 1;
        }
        Ok(Progress::continue_after(consumed, requests))
    }

    fn handle_eof(
        &mut self,
        unconsumed: &[u8],
        _output: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        if unconsumed.is_empty() {
            return Ok(()); // Between frames: a clean close.
        }
        let reason = match unconsumed.first_chunk::<HEADER_BYTES>() {
            None => format!(
                "truncated frame: input ended after {} of the {HEADER_BYTES} header bytes",
                unconsumed.len()
            ),
            Some(header) => format!(
                "truncated frame: input ended after {} of the {} payload bytes",
                unconsumed.len() - HEADER_BYTES,
                payload_bytes(header)
            ),
        };
        Err(ProtocolError::new(reason))
    }
}

/// The payload length a header announces.
fn payload_bytes(header: &[u8; HEADER_BYTES]) -> usize {
    // A u32 always fits in usize on the 32- and 64-bit targets sockbench
    // builds for.
    u32::from_be_bytes(*header) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testkit::{assert_split_invariant, cuts, run, run_whole};
    use proptest::prelude::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            encode_frame(payload, &mut out);
        }
        out
    }

    /// The header is the payload length in big-endian order.
    #[test]
    fn encode_frame_writes_big_endian_length() {
        assert_eq!(frames(&[b"abc"]), b"\x00\x00\x00\x03abc");
        assert_eq!(frames(&[&[7u8; 258]])[..4], [0, 0, 1, 2]);
    }

    /// Several complete frames in one read are each echoed, in order.
    #[test]
    fn frame_echoes_each_complete_frame() {
        let input = frames(&[b"hello", b"", b"world!"]);
        let mut session = Frame::default().new_session(&Peer::Unix);
        let mut out = Vec::new();
        let progress = session.handle_input(&input, &mut out).unwrap();
        assert_eq!(progress, Progress::continue_after(input.len(), 3));
        assert_eq!(out, input);
    }

    /// A partial header or payload is left for the next read.
    #[test]
    fn frame_waits_for_a_whole_frame() {
        let input = frames(&[b"one", b"two"]);
        let mut session = Frame::default().new_session(&Peer::Unix);
        let mut out = Vec::new();
        let progress = session.handle_input(&input[..9], &mut out).unwrap();
        assert_eq!(progress, Progress::continue_after(7, 1));
        let progress = session.handle_input(&input[7..9], &mut out).unwrap();
        assert_eq!(progress, Progress::continue_after(0, 0));
        assert_eq!(out, frames(&[b"one"]));
    }

    /// A zero-length frame is answered with its 4 header bytes.
    #[test]
    fn frame_echoes_zero_length_frame() {
        let transcript = run_whole(&Frame::default(), b"\0\0\0\0");
        assert_eq!(transcript.output, b"\0\0\0\0");
        assert_eq!(transcript.requests, 1);
        assert!(transcript.error.is_none());
    }

    /// A length over the maximum is refused from the header alone, after
    /// the frames before it were answered; the message names both sizes.
    #[test]
    fn frame_refuses_oversize_length_from_header() {
        let mut input = frames(&[b"ok"]);
        input.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut session = Frame::new(1024).new_session(&Peer::Unix);
        let mut out = Vec::new();
        let err = session.handle_input(&input, &mut out).unwrap_err();
        assert_eq!(
            err.reason(),
            "frame claims 4294967295 bytes, over the maximum of 1024 bytes: \
             send smaller frames, or raise --max-frame-bytes"
        );
        assert_eq!(out, frames(&[b"ok"]));
    }

    /// A payload of exactly the maximum is accepted.
    #[test]
    fn frame_accepts_payload_of_the_maximum() {
        let input = frames(&[&[9u8; 16]]);
        let transcript = run(&Frame::new(16), &input, &[3, 10]);
        assert_eq!(transcript.output, input);
        assert!(transcript.error.is_none());
    }

    /// End of input inside a header or a payload is a truncated frame.
    #[test]
    fn frame_eof_inside_a_frame_is_truncated() {
        let err = run_whole(&Frame::default(), b"\0\0").error.unwrap();
        assert_eq!(
            err.reason(),
            "truncated frame: input ended after 2 of the 4 header bytes"
        );
        let err = run_whole(&Frame::default(), b"\0\0\0\x05ab").error.unwrap();
        assert_eq!(
            err.reason(),
            "truncated frame: input ended after 2 of the 5 payload bytes"
        );
    }

    /// End of input between frames is a clean close.
    #[test]
    fn frame_eof_between_frames_is_clean() {
        let input = frames(&[b"x"]);
        let transcript = run_whole(&Frame::default(), &input);
        assert_eq!(transcript.output, input);
        assert!(transcript.error.is_none());
    }

    /// Frames with payloads of up to 40 bytes, then up to 6 stray bytes (a
    /// partial or oversize frame).
    fn framed_input() -> impl Strategy<Value = Vec<u8>> {
        let payloads =
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8);
        let tail = proptest::collection::vec(any::<u8>(), 0..6);
        (payloads, tail).prop_map(|(payloads, tail)| {
            let mut input = Vec::new();
            for payload in &payloads {
                encode_frame(payload, &mut input);
            }
            input.extend_from_slice(&tail);
            input
        })
    }

    proptest! {
        /// Frames split across reads anywhere (including inside the header)
        /// are answered as if they arrived in one read.
        #[test]
        fn frame_split_invariant(input in framed_input(), cuts in cuts(400)) {
            assert_split_invariant(&Frame::new(32), &input, &cuts)?;
        }

        /// Arbitrary bytes never panic, and the output is a prefix of the
        /// input (bound: `out.len() <= in.len()`): the complete frames, echoed.
        #[test]
        fn frame_output_is_prefix_of_input(
            input in prop_oneof![framed_input(), proptest::collection::vec(any::<u8>(), 0..256)],
            cuts in cuts(400),
        ) {
            let transcript = run(&Frame::new(32), &input, &cuts);
            prop_assert!(input.starts_with(&transcript.output));
        }
    }
}
