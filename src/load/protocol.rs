//! What the load generator sends, and what it accepts back, per service.
//!
//! Every request carries a number (`id`), and its bytes are derived from
//! that number, so every answer is checked against *its own* request: a
//! server that mixes up answers, drops a byte or flips one is caught, not
//! credited with a fast reply. Answers are checked from the front of the
//! connection's read buffer, which may hold half an answer (partial reads
//! are normal: [`Check::Incomplete`] is not an error) or several.
//!
//! # Over UDP
//! A datagram is one whole request or answer, so nothing is ever
//! incomplete, and each client has one request outstanding. But a request
//! given up as lost may still be answered later, and that late answer must
//! not pass for the answer to the request now outstanding
//! (`Protocol::check_datagram`):
//! - `echo` and `upper` requests start with their number in
//!   `ID_DIGITS` (16) hex digits (the server sends them back, `upper` in
//!   capitals), so an answer names its request: the current one is checked
//!   byte by byte, an earlier one is `Datagram::Late` and ignored.
//! - `length` answers only `The msg was N bytes long`, so the request size
//!   is the only name a request has: request `n` of a client is
//!   `size + n % LENGTH_SIZE_CYCLE` bytes. An answer naming the size of an
//!   earlier request is late. The limit: an answer exactly a multiple of
//!   [`LENGTH_SIZE_CYCLE`] (64) requests of its client late has the current
//!   size and is taken for the current answer.

use std::io::Write;
use std::ops::Range;
use std::sync::Arc;

use super::mismatch;
use super::wire::{Answer, Exchange, Verdict};
use super::wire_request::key_of;
use crate::service::{fixed16, frame, http, sized, ServiceKind};

/// `length` over UDP: request `n` of a client is `--size + n % 64` bytes,
/// so the answer (which names only a size) tells which request it belongs to.
pub const LENGTH_SIZE_CYCLE: usize = 64;

/// The verdict on the bytes at the front of a connection's read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// So far so good, but the answer is not complete yet.
    Incomplete,
    /// A correct answer of this many bytes.
    Valid(usize),
    /// A whole answer of a server sockbench did not write: a success or a
    /// failure (the stream is still in step), and whether the server
    /// closes after it.
    Answer(Answer),
    /// The server answered wrong; the reason is for logs and tests.
    Invalid(String),
}

impl Check {
    /// The check of a server sockbench did not write.
    fn of(verdict: Verdict) -> Check {
        match verdict {
            Verdict::Incomplete => Check::Incomplete,
            Verdict::Answer(answer) => Check::Answer(answer),
            Verdict::Invalid(why) => Check::Invalid(why),
        }
    }
}

/// The verdict on one datagram received by a UDP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Datagram {
    /// The correct answer to the outstanding request, this many bytes.
    Answer(usize),
    /// The answer to an earlier request, already counted as lost: ignored.
    Late,
    /// The server answered wrong; the reason is for logs and tests.
    Invalid(String),
}

/// An HTTP response header section longer than this is refused.
const MAX_HTTP_HEAD_BYTES: usize = 16 * 1024;

/// Over UDP, `echo` and `upper` requests start with their number in this
/// many lowercase hex digits.
pub(crate) const ID_DIGITS: usize = 16;

/// The smallest UDP request of `service` (room for the request number).
pub(crate) fn min_udp_request_bytes(service: ServiceKind) -> usize {
    match service {
        ServiceKind::Echo => ID_DIGITS,
        ServiceKind::Upper => ID_DIGITS + 1, // and the newline
        _ => 1,
    }
}

/// Requests and answers for one service and request size, or for a
/// server sockbench did not write.
#[derive(Debug, Clone)]
pub(crate) struct Protocol {
    service: ServiceKind,
    size_bytes: usize,
    /// Over UDP: numbered requests, `length` sizes cycling (module docs).
    is_udp: bool,
    /// A server sockbench did not write: its requests and verdicts, and
    /// how many key numbers `{n}` is drawn from.
    wire: Option<(Arc<dyn Exchange>, u64)>,
}

impl Protocol {
    /// The protocol for a service already checked by `LoadConfig::validate`.
    pub(crate) fn new(service: ServiceKind, size_bytes: usize) -> Self {
        Protocol {
            service,
            size_bytes,
            is_udp: false,
            wire: None,
        }
    }

    /// Whether the server may close after an answer without being wrong
    /// (servers sockbench did not write; its own keep connections open).
    pub(crate) fn allows_close_after_answer(&self) -> bool {
        self.wire.is_some()
    }

    /// The protocol for a server sockbench did not write: `exchange` writes
    /// each request and judges its answer, `{n}` drawn from `keys`.
    pub(crate) fn for_wire(
        service: ServiceKind,
        size_bytes: usize,
        exchange: Arc<dyn Exchange>,
        keys: u64,
    ) -> Self {
        Protocol {
            wire: Some((exchange, keys)),
            ..Protocol::new(service, size_bytes)
        }
    }

    /// The same over UDP: one datagram per request, numbered (module docs).
    pub(crate) fn over_udp(service: ServiceKind, size_bytes: usize) -> Self {
        Protocol {
            is_udp: true,
            ..Protocol::new(service, size_bytes)
        }
    }

    /// Append request number `id` to `out`.
    pub(crate) fn write_request(&self, id: u64, out: &mut Vec<u8>) {
        if let Some((exchange, keys)) = &self.wire {
            return exchange.write_request(key_of(id, *keys), out);
        }
        match self.service {
            ServiceKind::Upper => {
                let start = out.len();
                let letters = start + self.write_number(id, out);
                fill_pattern(id, self.size_bytes - 1 - (letters - start), out);
                for byte in &mut out[letters..] {
                    *byte = b'a' + *byte % 26;
                }
                out.push(b'\n');
            }
            ServiceKind::Frame => {
                // Header, then the payload written in place: no buffer per request.
                frame::encode_frame_header(self.size_bytes, out);
                fill_pattern(id, self.size_bytes, out);
            }
            ServiceKind::Http => out.extend_from_slice(http::GET_REQUEST),
            // hello asks nothing: it greets on connect.
            ServiceKind::Hello => {}
            ServiceKind::Fixed16 => fill_pattern(id, fixed16::MESSAGE_BYTES, out),
            // The answer size, as UNP's client asks for it.
            ServiceKind::Sized => {
                writeln!(out, "{}", self.size_bytes).expect("writing to a Vec cannot fail")
            }
            ServiceKind::Length => fill_pattern(id, self.length_request_bytes(id), out),
            // Echo, and the services `LoadConfig::validate` refuses.
            _ => {
                let number = self.write_number(id, out);
                fill_pattern(id, self.size_bytes - number, out);
            }
        }
    }

    /// Over UDP, start a request with its number; returns the bytes written.
    fn write_number(&self, id: u64, out: &mut Vec<u8>) -> usize {
        if !self.is_udp {
            return 0;
        }
        // Written straight into the request: no string per request.
        write!(out, "{id:0width$x}", width = ID_DIGITS).expect("writing to a Vec cannot fail");
        ID_DIGITS
    }

    /// `length` over UDP: the size of request `id`. Request ids of one
    /// client are consecutive, so consecutive requests differ in size.
    fn length_request_bytes(&self, id: u64) -> usize {
        self.size_bytes + (id % LENGTH_SIZE_CYCLE as u64) as usize
    }

    /// Over UDP: judge one received datagram. `current` is the outstanding
    /// request, if any; `sent` holds the ids of every request this client
    /// has sent (`current` included), so a late answer is recognised.
    pub(crate) fn check_datagram(
        &self,
        current: Option<u64>,
        sent: Range<u64>,
        datagram: &[u8],
        scratch: &mut Vec<u8>,
    ) -> Datagram {
        if self.service == ServiceKind::Length {
            return self.check_length_datagram(current, sent, datagram);
        }
        let number = datagram
            .get(..ID_DIGITS)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u64::from_str_radix(digits, 16).ok());
        match number {
            Some(id) if Some(id) == current => match self.check_response(id, datagram, scratch) {
                Check::Valid(len) if len == datagram.len() => Datagram::Answer(len),
                Check::Valid(_) | Check::Answer(_) => Datagram::Invalid(format!(
                    "{} answer has {} bytes more than the request",
                    self.service.name(),
                    datagram.len() - scratch.len()
                )),
                Check::Incomplete => Datagram::Invalid(format!(
                    "{} answer has {} bytes, the request {}",
                    self.service.name(),
                    datagram.len(),
                    scratch.len()
                )),
                Check::Invalid(why) => Datagram::Invalid(why),
            },
            Some(id) if sent.contains(&id) => Datagram::Late,
            _ => Datagram::Invalid(format!(
                "{} answer does not start with the number of a request sent",
                self.service.name()
            )),
        }
    }

    /// `length`: the answer must name the current request's size exactly;
    /// one naming the size of another recent request is late.
    fn check_length_datagram(
        &self,
        current: Option<u64>,
        sent: Range<u64>,
        datagram: &[u8],
    ) -> Datagram {
        let answer_for =
            |id: u64| format!("The msg was {} bytes long", self.length_request_bytes(id));
        if let Some(id) = current {
            if datagram == answer_for(id).as_bytes() {
                return Datagram::Answer(datagram.len());
            }
        }
        // Sizes repeat every cycle: the last cycle of requests has them all.
        let recent = sent
            .end
            .saturating_sub(LENGTH_SIZE_CYCLE as u64)
            .max(sent.start)..sent.end;
        let is_late = recent
            .filter(|&id| Some(id) != current)
            .any(|id| datagram == answer_for(id).as_bytes());
        if is_late {
            Datagram::Late
        } else {
            Datagram::Invalid(format!(
                "length answer {:?} names the size of no request sent",
                String::from_utf8_lossy(datagram)
            ))
        }
    }

    /// Check the front of `input` as the answer to request `id`; `scratch`
    /// is reused to rebuild the expected bytes.
    pub(crate) fn check_response(&self, id: u64, input: &[u8], scratch: &mut Vec<u8>) -> Check {
        if let Some((exchange, keys)) = &self.wire {
            return Check::of(exchange.check(key_of(id, *keys), input));
        }
        match self.service {
            ServiceKind::Http => {
                return match check_http(input) {
                    Check::Invalid(why) => {
                        Check::Invalid(match mismatch::http_hint(http::GET_REQUEST, input) {
                            Some(hint) => format!("{why}: {hint}"),
                            None => why,
                        })
                    }
                    check => check,
                }
            }
            ServiceKind::Hello => return check_greeting(input),
            _ => {}
        }
        // echo and frame answer with the request itself, upper with the
        // request in capitals, sized with its pattern.
        scratch.clear();
        match self.service {
            ServiceKind::Sized => sized::write_answer(self.size_bytes, scratch),
            ServiceKind::Fixed16 => scratch.extend_from_slice(fixed16::ANSWER),
            _ => self.write_request(id, scratch),
        }
        if self.service == ServiceKind::Upper {
            scratch.make_ascii_uppercase();
        }
        let seen = input.len().min(scratch.len());
        // One slice comparison (a vectorised memcmp) decides; the position
        // of the first difference is only looked for to report it.
        if input[..seen] != scratch[..seen] {
            let at = (0..seen).find(|&i| input[i] != scratch[i]).unwrap_or(0);
            return Check::Invalid(mismatch::differs(self.service.name(), scratch, input, at));
        }
        if seen == scratch.len() {
            Check::Valid(seen)
        } else {
            Check::Incomplete
        }
    }

    /// The same once the server has closed: an answer that ends at the
    /// close (an HTTP body without a length) is whole now. Only servers
    /// sockbench did not write have such answers.
    pub(crate) fn check_at_eof(&self, id: u64, input: &[u8], scratch: &mut Vec<u8>) -> Check {
        match &self.wire {
            Some((exchange, keys)) => Check::of(exchange.check_at_eof(key_of(id, *keys), input)),
            None => self.check_response(id, input, scratch),
        }
    }
}

/// Request payloads are made from this block of fixed pseudo-random bytes
/// (xorshift64, computed at compile time), repeated as often as needed.
const PATTERN_BLOCK_BYTES: usize = 4096;
static PATTERN_BLOCK: [u8; PATTERN_BLOCK_BYTES] = pattern_block();

const fn pattern_block() -> [u8; PATTERN_BLOCK_BYTES] {
    let mut block = [0u8; PATTERN_BLOCK_BYTES];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut at = 0;
    while at < PATTERN_BLOCK_BYTES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bytes = state.to_le_bytes();
        let mut i = 0;
        while i < 8 {
            block[at + i] = bytes[i];
            i += 1;
        }
        at += 8;
    }
    block
}

/// Append `len` pseudo-random bytes that depend only on `id`: the pattern
/// block, each 8-byte word XORed with a key made from `id` and from which
/// repetition of the block it is. Keys of different ids differ (the mixing
/// is a bijection), so two requests differ in every word, and a payload
/// longer than the block does not repeat itself. Word-wide XOR keeps this
/// cheap: the generator builds every payload twice (to send it, and to
/// check its answer), so at 4 KiB a byte-serial generator cost more than
/// the server's whole work per request.
fn fill_pattern(id: u64, len: usize, out: &mut Vec<u8>) {
    let id_key = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let start = out.len();
    out.resize(start + len, 0);
    for (repeat, segment) in out[start..].chunks_mut(PATTERN_BLOCK_BYTES).enumerate() {
        let key = id_key ^ (repeat as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        // Whole words, then the tail: fixed-size chunks compile to one
        // load, XOR and store per word instead of a copy call per word.
        let whole_bytes = segment.len() / 8 * 8;
        let mut words = segment.chunks_exact_mut(8);
        for (word, block) in (&mut words).zip(PATTERN_BLOCK.chunks_exact(8)) {
            let block = u64::from_le_bytes(block.try_into().expect("8-byte chunk"));
            word.copy_from_slice(&(block ^ key).to_le_bytes());
        }
        let tail = words.into_remainder();
        let block_tail = &PATTERN_BLOCK[whole_bytes..];
        let key = key.to_le_bytes();
        for (i, byte) in tail.iter_mut().enumerate() {
            *byte = block_tail[i] ^ key[i];
        }
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

/// Check a `hello` greeting: `Hello `, the client's address as the server
/// saw it (an IP and port: which port is the kernel's choice, so only its
/// form is checked), a newline.
fn check_greeting(input: &[u8]) -> Check {
    let Some(end) = input.iter().position(|&b| b == b'\n') else {
        return if input.len() > MAX_GREETING_BYTES {
            Check::Invalid(format!("no newline in a {}-byte greeting", input.len()))
        } else {
            Check::Incomplete
        };
    };
    let line = String::from_utf8_lossy(&input[..end]);
    match line
        .strip_prefix("Hello ")
        .map(str::parse::<std::net::SocketAddr>)
    {
        Some(Ok(_)) => Check::Valid(end + 1),
        _ => Check::Invalid(format!("not a hello greeting: {line:?}")),
    }
}

/// Longer than `Hello [IPv6 address]:port`: not a greeting.
const MAX_GREETING_BYTES: usize = 64;

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

    /// Two requests differ in every 8-byte word, and a payload longer than
    /// the pattern block does not repeat it: an answer with a block moved
    /// or duplicated, or mixed from two requests, cannot pass.
    #[test]
    fn payloads_differ_in_every_word_and_do_not_repeat_the_block() {
        let size = 3 * PATTERN_BLOCK_BYTES + 5;
        let first = request(ServiceKind::Echo, size, 1);
        let second = request(ServiceKind::Echo, size, 2);
        assert_eq!(first.len(), size);
        for (a, b) in first.chunks(8).zip(second.chunks(8)) {
            assert_ne!(a, b);
        }
        for (a, b) in first.chunks(8).zip(first[PATTERN_BLOCK_BYTES..].chunks(8)) {
            assert_ne!(a, b);
        }
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

    proptest::proptest! {
        /// An echo or frame answer is valid whole, incomplete cut short,
        /// and invalid at exactly the byte a server got wrong: a random
        /// one, one of the last eight (past the last whole word of the
        /// pattern, when the size leaves a tail), and the first.
        #[test]
        fn answers_are_judged_exactly_wherever_a_byte_is_wrong(
            frame in proptest::bool::ANY,
            size in 1usize..3 * PATTERN_BLOCK_BYTES + 20,
            id in proptest::num::u64::ANY,
            flip_at in proptest::num::usize::ANY,
            flip in 1u8..=255,
        ) {
            let service = if frame { ServiceKind::Frame } else { ServiceKind::Echo };
            let protocol = Protocol::new(service, size);
            let sent = request(service, size, id);
            let mut scratch = Vec::new();
            proptest::prop_assert_eq!(
                protocol.check_response(id, &sent, &mut scratch),
                Check::Valid(sent.len())
            );
            let cut = flip_at % sent.len();
            proptest::prop_assert_eq!(
                protocol.check_response(id, &sent[..cut], &mut scratch),
                Check::Incomplete
            );
            let last = sent.len() - 1;
            for at in [cut, last - (flip_at % 8).min(last), 0] {
                let mut wrong = sent.clone();
                wrong[at] ^= flip;
                let expected = format!(
                    "{} answer differs from the expected one at byte {at} of {}: expected ",
                    service.name(),
                    sent.len()
                );
                let check = protocol.check_response(id, &wrong, &mut scratch);
                proptest::prop_assert!(
                    matches!(&check, Check::Invalid(why) if why.starts_with(&expected)),
                    "{:?}",
                    check
                );
            }
        }
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

    /// Over UDP, echo and upper requests start with their number in hex,
    /// and keep their size.
    #[test]
    fn udp_requests_start_with_their_number() {
        let id = (3u64 << 40) | 5;
        for (service, size) in [(ServiceKind::Echo, 16), (ServiceKind::Upper, 40)] {
            let mut sent = Vec::new();
            Protocol::over_udp(service, size).write_request(id, &mut sent);
            assert_eq!(sent.len(), size);
            assert_eq!(&sent[..ID_DIGITS], b"0000030000000005");
        }
    }

    /// Over UDP, the answer to the current request is accepted, one to an
    /// earlier request is late, anything else (a wrong byte, a number never
    /// sent, a truncated datagram) is invalid.
    #[test]
    fn udp_echo_and_upper_tell_current_late_and_wrong_answers() {
        let mut scratch = Vec::new();
        for service in [ServiceKind::Echo, ServiceKind::Upper] {
            let protocol = Protocol::over_udp(service, 64);
            // What a correct server sends back for request `id`.
            let answer = |id| {
                let mut bytes = Vec::new();
                protocol.write_request(id, &mut bytes);
                if service == ServiceKind::Upper {
                    bytes.make_ascii_uppercase();
                }
                bytes
            };
            let check = |bytes: &[u8], scratch: &mut Vec<u8>| {
                protocol.check_datagram(Some(12), 10..13, bytes, scratch)
            };
            assert_eq!(check(&answer(12), &mut scratch), Datagram::Answer(64));
            assert_eq!(check(&answer(10), &mut scratch), Datagram::Late);
            assert!(matches!(
                check(&answer(99), &mut scratch),
                Datagram::Invalid(_)
            ));
            let mut flipped = answer(12);
            flipped[40] ^= 1;
            assert!(matches!(
                check(&flipped, &mut scratch),
                Datagram::Invalid(_)
            ));
            assert!(matches!(
                check(&answer(12)[..30], &mut scratch),
                Datagram::Invalid(_)
            ));
        }
    }

    /// `length` over UDP: consecutive requests differ in size, the answer
    /// must name the current size, an earlier request's size is late.
    #[test]
    fn udp_length_tells_requests_apart_by_size() {
        let protocol = Protocol::over_udp(ServiceKind::Length, 100);
        assert_eq!(request_len(&protocol, 0), 100);
        assert_eq!(request_len(&protocol, 1), 101);
        assert_eq!(request_len(&protocol, LENGTH_SIZE_CYCLE as u64), 100);
        let check =
            |text: &str| protocol.check_datagram(Some(7), 0..8, text.as_bytes(), &mut Vec::new());
        assert_eq!(check("The msg was 107 bytes long"), Datagram::Answer(26));
        assert_eq!(check("The msg was 103 bytes long"), Datagram::Late);
        assert!(matches!(
            check("The msg was 108 bytes long"),
            Datagram::Invalid(_)
        ));
        assert!(matches!(
            check("The msg was 107 bytes long!"),
            Datagram::Invalid(_)
        ));
    }

    fn request_len(protocol: &Protocol, id: u64) -> usize {
        let mut out = Vec::new();
        protocol.write_request(id, &mut out);
        out.len()
    }

    /// sized asks for `--size` bytes with a line, and wants exactly that
    /// many bytes of the service's pattern: fewer are incomplete, a wrong
    /// byte is invalid.
    #[test]
    fn sized_asks_for_size_bytes_and_checks_them() {
        assert_eq!(request(ServiceKind::Sized, 4000, 9), b"4000\n");
        let protocol = Protocol::new(ServiceKind::Sized, 4000);
        let mut answer = Vec::new();
        sized::write_answer(4000, &mut answer);
        let mut scratch = Vec::new();
        assert_eq!(
            protocol.check_response(9, &answer, &mut scratch),
            Check::Valid(4000)
        );
        assert_eq!(
            protocol.check_response(9, &answer[..3999], &mut scratch),
            Check::Incomplete
        );
        answer[2000] = b'!';
        match protocol.check_response(9, &answer, &mut scratch) {
            Check::Invalid(why) => assert!(
                why.starts_with(
                    "sized answer differs from the expected one at byte 2000 of 4000: expected "
                ),
                "{why}"
            ),
            other => panic!("a changed byte passed: {other:?}"),
        }
    }

    /// hello sends nothing and wants `Hello ADDR\n`; fixed16 sends 16
    /// bytes and wants exactly `Hello World!`.
    #[test]
    fn one_answer_services_are_checked() {
        assert!(request(ServiceKind::Hello, 64, 1).is_empty());
        let hello = Protocol::new(ServiceKind::Hello, 64);
        let mut scratch = Vec::new();
        assert_eq!(
            hello.check_response(1, b"Hello 127.0.0.1:40000\n", &mut scratch),
            Check::Valid(22)
        );
        assert_eq!(
            hello.check_response(1, b"Hello 127.0", &mut scratch),
            Check::Incomplete
        );
        assert!(matches!(
            hello.check_response(1, b"Hello world\n", &mut scratch),
            Check::Invalid(_)
        ));
        assert_eq!(request(ServiceKind::Fixed16, 64, 1).len(), 16);
        let fixed16 = Protocol::new(ServiceKind::Fixed16, 64);
        assert_eq!(
            fixed16.check_response(1, b"Hello World!", &mut scratch),
            Check::Valid(12)
        );
        assert!(matches!(
            fixed16.check_response(1, b"Hello Worlds", &mut scratch),
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
