//! What the answer-parser fuzz targets share: judge hostile bytes as a
//! server's answers, the way the load generator will, and check what must
//! hold for any input.

use sockbench::load::wire::{Exchange, Limits, Verdict};

/// Small limits, so the fuzzer reaches the limit paths quickly.
pub const LIMITS: Limits = Limits {
    max_head_bytes: 256,
    max_body_bytes: 1024,
};

/// The first byte picks where to cut the first answer, the rest is the
/// stream. Checks, for every answer taken from the front in turn: it is no
/// longer than the input; it is judged the same on exactly its bytes; a
/// cut inside it is incomplete; its failure text lies inside it. At the
/// end, the leftover judged at EOF is whole, invalid, or nothing.
pub fn judge(exchange: &dyn Exchange, data: &[u8]) {
    let Some((&cut, mut stream)) = data.split_first() else {
        return;
    };
    loop {
        let Verdict::Answer(answer) = exchange.check(0, stream) else {
            break;
        };
        let len = answer.len_bytes;
        assert!(0 < len && len <= stream.len(), "{len} bytes of {}", stream.len());
        assert_eq!(exchange.check(0, &stream[..len]), Verdict::Answer(answer.clone()));
        let inside = len * usize::from(cut) / 256;
        assert_eq!(exchange.check(0, &stream[..inside]), Verdict::Incomplete);
        if let Some(failure) = &answer.failure {
            assert!(failure.text.end <= len);
        }
        stream = &stream[len..];
        if answer.is_closing {
            break;
        }
    }
    match exchange.check_at_eof(0, stream) {
        Verdict::Answer(answer) => assert!(answer.len_bytes <= stream.len()),
        Verdict::Incomplete => assert!(stream.is_empty(), "incomplete at EOF"),
        Verdict::Invalid(_) => {}
    }
}
