//! What both fuzz targets do: feed hostile bytes to a service the way an
//! engine would, split at fuzzer-chosen points, and check the invariants
//! that must hold for any input.

use sockbench::engine::buffered::BufferedSession;
use sockbench::service::{self, Peer, ServiceKind, ServiceLimits};

/// The first byte picks the read size (1..=256), the rest is the stream.
/// Returns the whole output, after end of input.
pub fn drive(kind: ServiceKind, data: &[u8], max_output_per_input_byte: usize, slack: usize) {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split) + 1;
    let limits = ServiceLimits {
        // Small limits so the fuzzer reaches the limit paths quickly.
        max_frame_bytes: 1024,
        max_header_bytes: 1024,
        ..ServiceLimits::default()
    };
    let service = service::build(kind, limits);
    let peer = Peer::Inet("127.0.0.1:9".parse().unwrap());
    let mut session = BufferedSession::open(service.as_ref(), &peer);
    let mut output = 0usize;
    for piece in stream.chunks(chunk) {
        let _ = session.handle_received(piece);
        output += drain(&mut session);
        if session.is_closing() {
            break;
        }
    }
    let _ = session.handle_eof();
    output += drain(&mut session);
    // Output stays within a bound of the input: hostile bytes cannot make
    // the server amplify without limit.
    assert!(
        output <= stream.len() * max_output_per_input_byte + slack,
        "{output} bytes out for {} in",
        stream.len()
    );
}

fn drain(session: &mut BufferedSession) -> usize {
    let n = session.unsent().len();
    session.handle_sent(n);
    n
}
