//! What the load generator sends, and what it accepts back, per service.
//!
//! Every request carries a number (`id`), and its bytes are derived from
//! that number, so every answer is checked against *its own* request: a
//! server that mixes up answers, drops a byte or flips one is caught, not
//! credited with a fast reply. Answers are checked from the front of the
//! connection's read buffer, which may hold half an answer (partial reads
//! are normal: [`Check::Incomplete`] is not an error) or several.

use crate::service::{frame, http, ServiceKind};

/// The verdict on the bytes at the front of a connection's read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// So far so good, but the answer is not complete yet.
    Incomplete,
    /// A correct answer of this many bytes.
    Valid(usize),
    /// The server answered wrong; the reason is for logs and tests.
    Invalid(String),
}

/// An HTTP response header section longer than this is refused.
const MAX_HTTP_HEAD_BYTES: usize = 16 * 1024;

/// Requests and answers for one service and request size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Protocol {
    service: ServiceKind,
    size_bytes: usize,
}

impl Protocol {
    /// The protocol for a service already checked by `LoadConfig::validate`.
    pub(crate) fn new(service: ServiceKind, size_bytes: usize) -> Self {
        Protocol {
            service,
            size_bytes,
        }
    }

    /// Append request number `id` to `out`.
    pub(crate) fn write_request(&self, id: u64, out: &mut Vec<u8>) {
        match self.service {
            ServiceKind::Upper => {
                let start = out.len();
                fill_pattern(id, self.size_bytes - 1, out);
                for byte in &mut out[start..] {
                    *byte = b'a' + *byte % 26;
                }
                out.push(b'\n');
            }
            ServiceKind::Frame => {
                let mut payload = Vec::with_capacity(self.size_bytes);
                fill_pattern(id, self.size_bytes, &mut payload);
                frame::encode_frame(&payload, out);
            }
            ServiceKind::Http => out.extend_from_slice(http::GET_REQUEST),
            // Echo, and the services `LoadConfig::validate` refuses.
            _ => fill_pattern(id, self.size_bytes, out),
        }
    }

    /// Check the front of `input` as the answer to request `id`; `scratch`
    /// is reused to rebuild the expected bytes.
    pub(crate) fn check_response(&self, id: u64, input: &[u8], scratch: &mut Vec<u8>) -> Check {
        if self.service == ServiceKind::Http {
            return check_http(input);
        }
        // echo and frame answer with the request itself, upper with the
        // request in capitals.
        scratch.clear();
        self.write_request(id, scratch);
        if self.service == ServiceKind::Upper {
            scratch.make_ascii_uppercase();
        }
        let seen = input.len().min(scratch.len());
        if let Some(at) = (0..seen).find(|&i| input[i] != scratch[i]) {
            return Check::Invalid(format!(
                "{} answer differs from what was sent at byte {at} of {}",
                self.service.name(),
                scratch.len()
            ));
        }
        if seen == scratch.len() {
            Check::Valid(seen)
        } else {
            Check::Incomplete
        }
    }
}

/// Append `len` pseudo-random bytes that depend only on `id` (xorshift64
/// seeded from the id), so two requests almost never look alike.
fn fill_pattern(id: u64, len: usize, out: &mut Vec<u8>) {
    let mut state = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    state |= 1; // xorshift must not start at 0
    out.reserve(len);
    let mut left = len;
    while left > 0 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let take = left.min(8);
        out.extend_from_slice(&state.to_le_bytes()[..take]);
        left -= take;
    }
}

/// Check an HTTP/1.1 answer: status 200, a `Content-Length`, and that many
/// body bytes, equal to the `http` service's [`http::BODY`]. Headers are
/// parsed rather than compared, so their order and case do not matter.
fn check_http(input: &[u8]) -> Check {
    let Some(head_len) = find(input, b"\r\n\r\n").map(|at| at + 4) else {
        if input.len() > MAX_HTTP_HEAD_BYTES {
            return Check::Invalid(format!("no end of HTTP headers in {} bytes", input.len()));
        }
        return Check::Incomplete;
    };
    let head = String::from_utf8_lossy(&input[..head_len]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !(status.starts_with("HTTP/1.1 200 ") || status.starts_with("HTTP/1.0 200 ")) {
        return Check::Invalid(format!("HTTP status line is not 200: {status:?}"));
    }
    let content_length = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
    });
    let body_len = match content_length {
        Some(Some(len)) => len,
        Some(None) => return Check::Invalid("HTTP Content-Length is not a number".into()),
        None => return Check::Invalid("HTTP answer has no Content-Length".into()),
    };
    let total = head_len + body_len;
    if input.len() < total {
        return Check::Incomplete;
    }
    let body = &input[head_len..total];
    if body != http::BODY {
        return Check::Invalid(format!(
            "HTTP body is not the http service's body: {:?}",
            String::from_utf8_lossy(body)
        ));
    }
    Check::Valid(total)
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(service: ServiceKind, size: usize, id: u64) -> Vec<u8> {
        let mut out = Vec::new();
        Protocol::new(service, size).write_request(id, &mut out);
        out
    }

    /// An echoed request is valid, arriving whole or byte by byte.
    #[test]
    fn echo_answer_is_valid_whole_and_incomplete_in_part() {
        let protocol = Protocol::new(ServiceKind::Echo, 100);
        let sent = request(ServiceKind::Echo, 100, 7);
        let mut scratch = Vec::new();
        assert_eq!(
            protocol.check_response(7, &sent, &mut scratch),
            Check::Valid(100)
        );
        assert_eq!(
            protocol.check_response(7, &sent[..40], &mut scratch),
            Check::Incomplete
        );
    }

    /// One flipped byte, or another request's answer, is invalid.
    #[test]
    fn echo_catches_flipped_byte_and_swapped_answer() {
        let protocol = Protocol::new(ServiceKind::Echo, 64);
        let mut scratch = Vec::new();
        let mut flipped = request(ServiceKind::Echo, 64, 1);
        flipped[10] ^= 1;
        assert!(matches!(
            protocol.check_response(1, &flipped, &mut scratch),
            Check::Invalid(_)
        ));
        let other = request(ServiceKind::Echo, 64, 2);
        assert!(matches!(
            protocol.check_response(1, &other, &mut scratch),
            Check::Invalid(_)
        ));
    }

    /// upper sends lowercase letters and a newline, and wants them in capitals.
    #[test]
    fn upper_wants_the_line_in_capitals() {
        let sent = request(ServiceKind::Upper, 16, 3);
        assert_eq!(sent.len(), 16);
        assert!(sent[..15].iter().all(u8::is_ascii_lowercase));
        assert_eq!(sent[15], b'\n');
        let protocol = Protocol::new(ServiceKind::Upper, 16);
        let mut scratch = Vec::new();
        assert_eq!(
            protocol.check_response(3, &sent.to_ascii_uppercase(), &mut scratch),
            Check::Valid(16)
        );
        assert!(matches!(
            protocol.check_response(3, &sent, &mut scratch),
            Check::Invalid(_)
        ));
    }

    /// A frame is a 4-byte big-endian length, then the payload.
    #[test]
    fn frame_request_has_length_prefix() {
        let sent = request(ServiceKind::Frame, 10, 1);
        assert_eq!(&sent[..4], &[0, 0, 0, 10]);
        assert_eq!(sent.len(), 14);
    }

    fn http_answer(status: &str, body: &[u8]) -> Vec<u8> {
        let mut answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(body);
        answer
    }

    /// A 200 with the service's body is valid; a partial one is incomplete.
    #[test]
    fn http_accepts_200_with_the_body() {
        let answer = http_answer("200 OK", http::BODY);
        assert_eq!(check_http(&answer), Check::Valid(answer.len()));
        assert_eq!(check_http(&answer[..answer.len() - 1]), Check::Incomplete);
        assert_eq!(check_http(&answer[..10]), Check::Incomplete);
    }

    /// Another status, or a missing length, is invalid.
    #[test]
    fn http_refuses_other_status_and_missing_length() {
        let answer = http_answer("404 Not Found", http::BODY);
        assert!(matches!(check_http(&answer), Check::Invalid(_)));
        let no_length = b"HTTP/1.1 200 OK\r\n\r\n";
        assert!(matches!(check_http(no_length), Check::Invalid(_)));
    }
}
