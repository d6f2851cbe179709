//! Test-only drivers shared by the services' unit and property tests.
//!
//! Sessions are driven through the engines' own
//! [`BufferedSession`](super::buffered::BufferedSession), exactly as
//! an engine would (open, reads, end of input, writes), so the tests exercise
//! the real bookkeeping (the unconsumed tail, closing, the input limit)
//! rather than a copy of it. No sockets are involved.
//!
//! The three properties every service is checked against (issue 5):
//! 1. any split of an input into reads gives the same output as one read
//!    ([`assert_split_invariant`]);
//! 2. no input panics (each service feeds arbitrary bytes through [`run`]);
//! 3. the output stays within a bound of the input, stated per service.

use proptest::prelude::*;

use super::buffered::BufferedSession;
use super::{Peer, ProtocolError, Service};

/// The peer every test session is opened for.
pub(crate) fn test_peer() -> Peer {
    Peer::Inet("127.0.0.1:40000".parse().expect("a valid socket address"))
}

/// What a peer saw from one connection driven to its end.
#[derive(Debug)]
pub(crate) struct Transcript {
    /// Every byte the server wrote, in order.
    pub output: Vec<u8>,
    /// Requests the session reported answering (what `--work` charges).
    pub requests: usize,
    /// The protocol error that ended the connection, if any.
    pub error: Option<ProtocolError>,
}

/// Drive one connection: open, `input` delivered as reads cut at the byte
/// offsets `cuts` (any order; out-of-range offsets are clamped and empty
/// reads skipped, as a read of 0 bytes means end of input), then end of
/// input. Output is collected after every step, as an engine would write it.
pub(crate) fn run(service: &dyn Service, input: &[u8], cuts: &[usize]) -> Transcript {
    let mut session = BufferedSession::open(service, &test_peer());
    let mut transcript = Transcript {
        output: Vec::new(),
        requests: 0,
        error: None,
    };
    collect_output(&mut session, &mut transcript.output);
    let mut start = 0;
    for read_bytes in read_sizes(input.len(), cuts) {
        let end = start + read_bytes;
        match session.handle_received(&input[start..end]) {
            Ok(requests) => transcript.requests += requests,
            Err(err) => transcript.error = Some(err),
        }
        collect_output(&mut session, &mut transcript.output);
        start = end;
        if transcript.error.is_some() {
            return transcript;
        }
    }
    if let Err(err) = session.handle_eof() {
        transcript.error = Some(err);
    }
    collect_output(&mut session, &mut transcript.output);
    transcript
}

/// The sizes of the non-empty reads [`run`] makes of an input of
/// `input_bytes` cut at `cuts`.
pub(crate) fn read_sizes(input_bytes: usize, cuts: &[usize]) -> Vec<usize> {
    let mut offsets: Vec<usize> = cuts.iter().map(|&cut| cut.min(input_bytes)).collect();
    offsets.extend([0, input_bytes]);
    offsets.sort_unstable();
    offsets.dedup();
    offsets.windows(2).map(|pair| pair[1] - pair[0]).collect()
}

/// Drive one connection with `input` arriving in a single read.
pub(crate) fn run_whole(service: &dyn Service, input: &[u8]) -> Transcript {
    run(service, input, &[])
}

/// Write out everything the session has queued, in one go.
fn collect_output(session: &mut BufferedSession, output: &mut Vec<u8>) {
    let unsent = session.unsent();
    output.extend_from_slice(unsent);
    let written = unsent.len();
    session.handle_sent(written);
}

/// Property 1: reads cut at `cuts` produce the same bytes, and the same
/// verdict (protocol error or not), as the whole input in one read.
pub(crate) fn assert_split_invariant(
    service: &dyn Service,
    input: &[u8],
    cuts: &[usize],
) -> Result<(), TestCaseError> {
    let whole = run_whole(service, input);
    let split = run(service, input, cuts);
    prop_assert_eq!(&split.output, &whole.output, "cuts {:?}", cuts);
    prop_assert_eq!(
        split.error.is_some(),
        whole.error.is_some(),
        "cuts {:?}",
        cuts
    );
    Ok(())
}

/// Cut offsets for [`run`]: up to 8 of them, anywhere in an input of up to
/// `max_input_bytes` (larger values are clamped by [`run`]).
pub(crate) fn cuts(max_input_bytes: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..=max_input_bytes, 0..8)
}

/// Bytes drawn mostly from `alphabet` (so protocol structure appears often)
/// with some arbitrary bytes mixed in.
pub(crate) fn bytes_from(
    alphabet: &'static [u8],
    max_len: usize,
) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => proptest::sample::select(alphabet),
        1 => any::<u8>(),
    ];
    proptest::collection::vec(byte, 0..=max_len)
}

/// The echo service is the model service and keeps its file minimal; its
/// property tests live here with the shared drivers.
mod echo_properties {
    use super::*;
    use crate::service::echo::Echo;

    proptest! {
        /// Echo, any bytes, any split: output equals input exactly (bound:
        /// `out == in`), no error, and the split does not change the bytes.
        #[test]
        fn echo_output_is_input_for_any_split(
            input in proptest::collection::vec(any::<u8>(), 0..2048),
            cuts in cuts(2048),
        ) {
            assert_split_invariant(&Echo, &input, &cuts)?;
            let transcript = run(&Echo, &input, &cuts);
            prop_assert_eq!(transcript.output, input);
            prop_assert!(transcript.error.is_none());
        }
    }
}
