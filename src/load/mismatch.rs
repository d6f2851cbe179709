//! Evidence for a wrong answer: what was expected and what came, escaped
//! and cut to [`SHOWN_BYTES`], where they first differ, and a hint when
//! the cause is plain (an HTTP answer to an echo request, a request sent
//! back to an HTTP load). Made once per run, for the first wrong answer.

/// At most this many characters of each side are shown, escaped.
pub const SHOWN_BYTES: usize = 80;

/// `bytes` escaped (`\r`, `\n`, `\xNN`), in at most [`SHOWN_BYTES`]
/// characters, `...` after a cut.
pub fn escaped(bytes: &[u8]) -> String {
    let mut shown = String::new();
    for (index, byte) in bytes.iter().enumerate() {
        let one = byte.escape_ascii().to_string();
        if shown.len() + one.len() > SHOWN_BYTES {
            return format!("\"{shown}...\" ({} more bytes)", bytes.len() - index);
        }
        shown.push_str(&one);
    }
    format!("\"{shown}\"")
}

/// Bytes shown before the first difference, so that it is in view
/// however deep into a long answer it lies.
const CONTEXT_BYTES: usize = 16;

/// The first wrong answer of a `service` (echo, upper, frame, sized,
/// fixed16) whose answer should have been `expected`: where it differs,
/// both sides from a little before that byte, and a hint if there is one.
pub fn differs(service: &str, expected: &[u8], got: &[u8], at: usize) -> String {
    let from = at.saturating_sub(CONTEXT_BYTES);
    let side = |bytes: &[u8]| escaped(&bytes[from.min(bytes.len())..]);
    let mut text = format!(
        "{service} answer differs from the expected one at byte {at} of {}: expected {}, got {}",
        expected.len(),
        side(expected),
        side(got)
    );
    if from > 0 {
        text.push_str(&format!(" (both shown from byte {from})"));
    }
    if got.starts_with(b"HTTP/") {
        text.push_str(": the answers look like HTTP: is the server running --service http?");
    }
    text
}

/// A hint for an answer to an HTTP request that was not HTTP: an echo
/// server sends the request back.
pub fn http_hint(request: &[u8], got: &[u8]) -> Option<&'static str> {
    let seen = got.len().min(request.len());
    (seen > 0 && got[..seen] == request[..seen])
        .then_some("the server sent the request back: is it running --service echo rather than --service http?")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides are escaped and cut; an HTTP answer gets the hint.
    #[test]
    fn a_difference_shows_both_sides_escaped_and_a_hint() {
        let text = differs("echo", b"0000000000000001 ab\n", b"HTTP/1.1 200 OK\r\n", 0);
        assert!(text.contains("at byte 0 of 20"), "{text}");
        assert!(text.contains(r#"got "HTTP/1.1 200 OK\r\n""#), "{text}");
        assert!(
            text.contains("is the server running --service http?"),
            "{text}"
        );
        let long = vec![b'a'; 200];
        assert_eq!(
            escaped(&long),
            format!("\"{}...\" (120 more bytes)", "a".repeat(80))
        );
        assert_eq!(escaped(b"\x01a"), r#""\x01a""#);
        assert!(!differs("echo", b"ab", b"ax", 1).contains("HTTP"));
        // Deep in a long answer, the difference is in view.
        let expected = vec![b'a'; 4000];
        let mut got = expected.clone();
        got[2000] = b'!';
        let text = differs("sized", &expected, &got, 2000);
        assert!(
            text.contains(&format!("got \"{}!", "a".repeat(16))),
            "{text}"
        );
        assert!(text.contains("(both shown from byte 1984)"), "{text}");
        assert!(http_hint(b"GET / HTTP/1.1\r\n", b"GET / HT").is_some());
        assert!(http_hint(b"GET / HTTP/1.1\r\n", b"HTTP/1.1 404").is_none());
    }
}
