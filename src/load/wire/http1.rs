//! HTTP/1.1 (and 1.0) for any server: the request a `--url` names
//! ([`request`]), and its response judged from the front of the read
//! buffer.
//!
//! A response is a head (status line and headers, parsed with `httparse`)
//! and a body, whose end is found as RFC 9112 §6.3 says, in this order:
//! 1. a response to `HEAD`, and any 1xx, 204 or 304, has no body;
//! 2. `Transfer-Encoding` ending in `chunked`: the chunked coding
//!    (`chunked.rs`); any other transfer coding: the body ends at the close;
//! 3. `Content-Length`: that many bytes (several equal values are one;
//!    differing ones, or one that is not a number, are invalid);
//! 4. neither: the body ends when the server closes, so the answer is
//!    whole only at EOF ([`Exchange::check_at_eof`]).
//!
//! Interim 1xx heads (`100 Continue`) before the final one are part of the
//! answer; `101 Switching Protocols`, never asked for, is invalid.
//!
//! The server will close after the answer ([`super::Answer::is_closing`])
//! when it says `Connection: close`, when it speaks HTTP/1.0 without
//! `Connection: keep-alive`, or when the body ends at the close. Nothing
//! is trusted: heads and bodies have [`Limits`], checked before the bytes
//! arrive where a length says how many will.
//!
//! Success is a 2xx, or exactly the status given to
//! [`Request::expecting_status`]; with [`Request::expecting_body`], the
//! body must be that too.

use std::ops::Range;

use super::{cut_short_at_eof, Answer, Exchange, FailureKind, Limits, RequestError, Verdict};
use chunked::BodyMatch;

mod chunked;
pub mod request;

pub use request::{Method, Url};

/// More response headers than this are refused.
const MAX_HEADERS: usize = 64;

/// One request to send, and what its response must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request, encoded once.
    bytes: Vec<u8>,
    /// A response to `HEAD` has no body, whatever its headers say.
    is_head: bool,
    /// The status wanted; any 2xx when `None`.
    expected_status: Option<u16>,
    /// The body wanted; any when `None`.
    expected_body: Option<Vec<u8>>,
    limits: Limits,
}

impl Request {
    /// The request for `method` on `url`, with extra `headers` (each
    /// `Name: value`) and, for POST, a `body`; refused with what to change
    /// when HTTP cannot carry it.
    pub fn new(
        method: Method,
        url: &Url,
        headers: &[String],
        body: Option<&[u8]>,
    ) -> Result<Request, RequestError> {
        Ok(Request {
            bytes: request::encode(method, url, headers, body)?,
            is_head: method == Method::Head,
            expected_status: None,
            expected_body: None,
            limits: Limits::DEFAULT,
        })
    }

    /// Success is this status only (a final one: 200 to 599).
    pub fn expecting_status(self, status: u16) -> Result<Request, RequestError> {
        if !(200..=599).contains(&status) {
            return Err(RequestError::new(format!(
                "--expect-status {status} is not a final HTTP status: give one from 200 to 599"
            )));
        }
        Ok(Request {
            expected_status: Some(status),
            ..self
        })
    }

    /// Success needs this body too.
    pub fn expecting_body(self, body: &[u8]) -> Request {
        Request {
            expected_body: Some(body.to_vec()),
            ..self
        }
    }

    /// The same request with other limits on its responses.
    pub fn with_limits(self, limits: Limits) -> Request {
        Request { limits, ..self }
    }

    fn is_wanted_status(&self, code: u16) -> bool {
        match self.expected_status {
            Some(expected) => code == expected,
            None => (200..300).contains(&code),
        }
    }

    /// Judge the response at the front of `input`; `is_eof`: the server
    /// has closed, so a body that ends at the close has ended.
    fn check_response(&self, input: &[u8], is_eof: bool) -> Verdict {
        let head = match parse_head(input, &self.limits) {
            Ok(Some(head)) => head,
            Ok(None) => return Verdict::Incomplete,
            Err(why) => return Verdict::Invalid(why),
        };
        let body_start = head.range.end;
        let mut matcher = BodyMatch::new(self.expected_body.as_deref());
        let framing = if self.is_head {
            Framing::Empty
        } else {
            head.framing
        };
        let end = match framing {
            Framing::Empty => body_start,
            Framing::Length(len) => match usize::try_from(len) {
                Ok(len) if len <= self.limits.max_body_bytes => {
                    if input.len() < body_start + len {
                        return Verdict::Incomplete;
                    }
                    matcher.feed(&input[body_start..body_start + len]);
                    body_start + len
                }
                _ => {
                    return Verdict::Invalid(format!(
                        "HTTP Content-Length {len} is over the {}-byte limit",
                        self.limits.max_body_bytes
                    ))
                }
            },
            Framing::Chunked => {
                match chunked::chunked_len(&input[body_start..], &self.limits, &mut matcher) {
                    Ok(Some(len)) => body_start + len,
                    Ok(None) => return Verdict::Incomplete,
                    Err(why) => return Verdict::Invalid(why),
                }
            }
            Framing::UntilClose => {
                if input.len() - body_start > self.limits.max_body_bytes {
                    return Verdict::Invalid(format!(
                        "HTTP body without a length longer than the {}-byte limit",
                        self.limits.max_body_bytes
                    ));
                }
                if !is_eof {
                    return Verdict::Incomplete;
                }
                matcher.feed(&input[body_start..]);
                input.len()
            }
        };
        // The head without its closing empty line, to show.
        let text =
            head.range.start..head.range.end - head_terminator_len(&input[head.range.clone()]);
        let mut answer = if !self.is_wanted_status(head.code) {
            Answer::failure(end, FailureKind::Status(head.code), text)
        } else if !matcher.is_match() {
            Answer::failure(end, FailureKind::Body, text)
        } else {
            Answer::success(end)
        };
        answer.is_closing = head.is_closing || framing == Framing::UntilClose;
        Verdict::Answer(answer)
    }
}

impl Exchange for Request {
    fn write_request(&self, _key: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.bytes);
    }

    fn check(&self, _key: u64, input: &[u8]) -> Verdict {
        self.check_response(input, false)
    }

    fn check_at_eof(&self, _key: u64, input: &[u8]) -> Verdict {
        cut_short_at_eof(input, self.check_response(input, true))
    }
}

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Up to the server's close.
    UntilClose,
}

/// The final head of a response.
#[derive(Debug)]
struct Head {
    /// Where it is in the input (after any 1xx heads), its empty line included.
    range: Range<usize>,
    code: u16,
    framing: Framing,
    /// The server says it closes after this response.
    is_closing: bool,
}

/// Parse the heads at the front of `input` up to the final (non-1xx) one.
fn parse_head(input: &[u8], limits: &Limits) -> Result<Option<Head>, String> {
    let mut start = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(&input[start..]) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if input.len() <= limits.max_head_bytes => {
                return Ok(None)
            }
            Ok(httparse::Status::Partial) => {
                return Err(format!(
                    "no end of the HTTP head in {} bytes (the limit is {})",
                    input.len(),
                    limits.max_head_bytes
                ))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(format!("more than {MAX_HEADERS} HTTP response headers"))
            }
            Err(error) => {
                return Err(format!(
                    "not an HTTP/1.x response ({error}): {:?}",
                    first_line(&input[start..])
                ))
            }
        };
        let end = start + len;
        if end > limits.max_head_bytes {
            return Err(format!(
                "HTTP head longer than the {}-byte limit",
                limits.max_head_bytes
            ));
        }
        // A complete parse has both.
        let (Some(code), Some(version)) = (response.code, response.version) else {
            return Err("HTTP status line without a status".into());
        };
        match code {
            101 => {
                return Err(
                    "the server switched protocols (101), which sockbench never asks for".into(),
                )
            }
            100..=199 => {
                start = end;
                continue;
            }
            _ => {}
        }
        let headers = response.headers;
        let (closes, keeps_alive) = connection_tokens(headers);
        return Ok(Some(Head {
            range: start..end,
            code,
            framing: framing(headers, code)?,
            is_closing: closes || (version == 0 && !keeps_alive),
        }));
    }
}

/// How the body of a response with `code` is delimited, by its headers.
fn framing(headers: &[httparse::Header<'_>], code: u16) -> Result<Framing, String> {
    if code == 204 || code == 304 {
        return Ok(Framing::Empty);
    }
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |header| header.name.eq_ignore_ascii_case(name))
            .flat_map(|header| header.value.split(|&byte| byte == b','))
            .map(trim)
            .filter(|value| !value.is_empty())
    };
    if let Some(last) = named("transfer-encoding").next_back() {
        return Ok(if last.eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    let mut length = None;
    for value in named("content-length") {
        let parsed = std::str::from_utf8(value)
            .ok()
            .filter(|digits| digits.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u64>().ok());
        match (parsed, length) {
            (None, _) => {
                return Err(format!(
                    "HTTP Content-Length {:?} is not a number",
                    String::from_utf8_lossy(value)
                ))
            }
            (Some(new), Some(old)) if new != old => {
                return Err(format!("HTTP Content-Length given twice: {old} and {new}"))
            }
            (Some(new), _) => length = Some(new),
        }
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// Whether the `Connection` headers say `close`, and `keep-alive`.
fn connection_tokens(headers: &[httparse::Header<'_>]) -> (bool, bool) {
    let tokens = headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("connection"))
        .flat_map(|header| header.value.split(|&byte| byte == b','))
        .map(trim);
    let (mut closes, mut keeps_alive) = (false, false);
    for token in tokens {
        closes |= token.eq_ignore_ascii_case(b"close");
        keeps_alive |= token.eq_ignore_ascii_case(b"keep-alive");
    }
    (closes, keeps_alive)
}

fn trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .take_while(|byte| byte.is_ascii_whitespace())
        .count();
    let end = value.len()
        - value
            .iter()
            .rev()
            .take_while(|byte| byte.is_ascii_whitespace())
            .count();
    &value[start.min(end)..end]
}

/// How many bytes at the end of `head` are line breaks: the last header's
/// and the empty line's (`\r\n\r\n`, or `\n\n`, which `httparse` accepts).
fn head_terminator_len(head: &[u8]) -> usize {
    head.iter()
        .rev()
        .take_while(|&&byte| byte == b'\r' || byte == b'\n')
        .count()
}

/// The first line of `input`, for a message.
fn first_line(input: &[u8]) -> String {
    let line = input
        .split(|&byte| byte == b'\n')
        .next()
        .unwrap_or_default();
    String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_incomplete_until_whole;
    use super::*;

    const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 21\r\n\r\nHello from sockbench\n";

    fn get() -> Request {
        let url = Url::parse("http://127.0.0.1:8080/").unwrap();
        Request::new(Method::Get, &url, &[], None).unwrap()
    }

    fn answer(request: &Request, input: &[u8]) -> Answer {
        match request.check(0, input) {
            Verdict::Answer(answer) => answer,
            other => panic!("{:?} judged {other:?}", String::from_utf8_lossy(input)),
        }
    }

    /// A Content-Length response is incomplete at every split, whole with
    /// its body, and checked against an expected body.
    #[test]
    fn content_length_response_is_whole_with_its_body() {
        let whole = assert_incomplete_until_whole(|input| get().check(0, input), OK_HELLO);
        assert!(whole.is_success() && !whole.is_closing);
        let expecting = get().expecting_body(b"Hello from sockbench\n");
        assert!(answer(&expecting, OK_HELLO).is_success());
        let other = get().expecting_body(b"Goodbye");
        assert_eq!(
            answer(&other, OK_HELLO).failure.unwrap().kind,
            FailureKind::Body
        );
    }

    /// A chunked body with extensions and trailers, split at every byte.
    #[test]
    fn chunked_response_with_extensions_and_trailers() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                      6;name=\"x y\"\r\nHello \r\nf\r\nfrom sockbench\n\r\n0;last\r\nX-Trailer: 1\r\n\r\n";
        let request = get().expecting_body(b"Hello from sockbench\n");
        let whole = assert_incomplete_until_whole(|part| request.check(0, part), input);
        assert!(whole.is_success());
    }

    /// Two responses back to back: the first is judged alone, then the next.
    #[test]
    fn pipelined_responses_are_taken_one_at_a_time() {
        let input = [
            OK_HELLO,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        ]
        .concat();
        let first = answer(&get(), &input);
        assert_eq!(first.len_bytes, OK_HELLO.len());
        let rest = &input[OK_HELLO.len()..];
        let second = answer(&get(), rest);
        assert_eq!(second.len_bytes, rest.len());
        let failure = second.failure.unwrap();
        assert_eq!(failure.kind, FailureKind::Status(404));
        assert_eq!(
            &rest[failure.text],
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0"
        );
    }

    /// Success is 2xx, or exactly the status asked for.
    #[test]
    fn success_is_2xx_or_the_expected_status() {
        let created = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        assert!(answer(&get(), created).is_success());
        let wants_404 = get().expecting_status(404).unwrap();
        assert_eq!(
            answer(&wants_404, created).failure.unwrap().kind,
            FailureKind::Status(201)
        );
        assert!(answer(
            &wants_404,
            b"HTTP/1.0 404 Nope\r\nContent-Length: 0\r\n\r\n"
        )
        .is_success());
        assert!(get().expecting_status(100).is_err());
        let no_reason = b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
        assert!(answer(&get(), no_reason).is_success());
    }

    /// HEAD responses, 204 and 304 have no body whatever their headers say;
    /// 1xx heads before the final one are part of the answer.
    #[test]
    fn bodiless_responses_and_interim_heads() {
        let url = Url::parse("http://127.0.0.1/").unwrap();
        let head = Request::new(Method::Head, &url, &[], None).unwrap();
        let head_only = &OK_HELLO[..OK_HELLO.len() - 21];
        assert_eq!(answer(&head, OK_HELLO).len_bytes, head_only.len());
        for bodiless in [
            &b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"[..],
            b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(answer(&get(), bodiless).len_bytes, bodiless.len());
        }
        let with_continue = [&b"HTTP/1.1 100 Continue\r\n\r\n"[..], OK_HELLO].concat();
        let whole = assert_incomplete_until_whole(|input| get().check(0, input), &with_continue);
        assert!(whole.is_success());
        assert!(matches!(
            get().check(0, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            Verdict::Invalid(_)
        ));
    }

    /// HTTP/1.0 without keep-alive, `Connection: close` and a body ended by
    /// the close all tell the client the server will close; the last is
    /// whole only at EOF.
    #[test]
    fn closing_responses_are_reported() {
        let http10 = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        assert!(answer(&get(), http10).is_closing);
        let kept = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi";
        assert!(!answer(&get(), kept).is_closing);
        let close = b"HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 2\r\n\r\nhi";
        assert!(answer(&get(), close).is_closing);
        let until_close =
            b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\n\r\nHello from sockbench\n";
        let request = get().expecting_body(b"Hello from sockbench\n");
        assert_eq!(request.check(0, until_close), Verdict::Incomplete);
        let Verdict::Answer(at_eof) = request.check_at_eof(0, until_close) else {
            panic!("a close-delimited body is whole at EOF");
        };
        assert!(at_eof.is_success() && at_eof.is_closing);
        assert_eq!(at_eof.len_bytes, until_close.len());
        assert!(matches!(
            request.check_at_eof(0, &OK_HELLO[..30]),
            Verdict::Invalid(why) if why.contains("closed the connection")
        ));
    }

    /// Heads, bodies and chunks over the limits are refused before they
    /// arrive whole; bad lengths and garbage are invalid.
    #[test]
    fn oversized_and_malformed_responses_are_invalid() {
        let limits = Limits {
            max_head_bytes: 64,
            max_body_bytes: 100,
        };
        let small = get().with_limits(limits);
        let long_header = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(80));
        let many_headers = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        for (request, input) in [
            (&small, long_header.as_bytes()),
            (&get(), many_headers.as_bytes()),
            (&small, b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n"),
            (
                &small,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n",
            ),
            (&get(), b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n"),
            (
                &get(),
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            ),
            (&get(), b"SSH-2.0-OpenSSH_9.2\r\n"),
            (&get(), b"HTTP/2 200\r\n\r\n"),
        ] {
            assert!(
                matches!(request.check(0, input), Verdict::Invalid(_)),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let same_twice = b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nhi";
        assert_eq!(answer(&get(), same_twice).len_bytes, same_twice.len());
    }

    /// Answers captured from the real servers (docs/REAL-SERVERS.md):
    /// nginx keeping the connection then closing it for an HTTP/1.0
    /// request, Apache's 404 with `Connection: close`, Python's HTTP/1.0.
    #[test]
    fn real_servers_answers_are_judged() {
        let nginx = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 06:31:08 GMT\r\nContent-Type: text/plain\r\nContent-Length: 21\r\nConnection: keep-alive\r\n\r\nHello from sockbench\n\
                      HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 06:31:08 GMT\r\nContent-Type: text/plain\r\nContent-Length: 21\r\nConnection: close\r\n\r\nHello from sockbench\n";
        let request = get().expecting_body(b"Hello from sockbench\n");
        let first = answer(&request, nginx);
        assert!(first.is_success() && !first.is_closing);
        let second = answer(&request, &nginx[first.len_bytes..]);
        assert!(second.is_success() && second.is_closing);
        assert_eq!(first.len_bytes + second.len_bytes, nginx.len());

        let apache = b"HTTP/1.1 404 Not Found\r\nDate: Wed, 02 Dec 2026 06:31:45 GMT\r\nServer: Apache/2.4.71 (Debian)\r\nContent-Length: 5\r\nConnection: close\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<h1/>";
        let not_found = answer(&get(), apache);
        assert_eq!(not_found.failure.unwrap().kind, FailureKind::Status(404));
        assert!(not_found.is_closing);

        let python = b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\nDate: Wed, 02 Dec 2026 06:32:01 GMT\r\nContent-type: text/plain\r\nContent-Length: 21\r\nLast-Modified: Wed, 02 Dec 2026 06:30:50 GMT\r\n\r\nHello from sockbench\n";
        let closing = answer(&request, python);
        assert!(closing.is_success() && closing.is_closing);
    }

    proptest::proptest! {
        /// No input panics, and a whole response's prefixes are all incomplete.
        #[test]
        fn no_input_panics(input in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let request = get().expecting_body(b"hi");
            if let Verdict::Answer(answer) = request.check(0, &input) {
                proptest::prop_assert!(answer.len_bytes <= input.len());
                for cut in 0..answer.len_bytes {
                    proptest::prop_assert_eq!(request.check(0, &input[..cut]), Verdict::Incomplete);
                }
            }
            let _ = request.check_at_eof(0, &input);
        }

        /// Input made of HTTP's own pieces reaches the framing code.
        #[test]
        fn http_shaped_input_never_panics(pieces in proptest::collection::vec(
            proptest::sample::select(vec![
                "HTTP/1.1 200 OK\r\n", "HTTP/1.0 100 Continue\r\n", "Content-Length: 3\r\n",
                "Transfer-Encoding: chunked\r\n", "Connection: close\r\n", "\r\n", "3;a=\"b\"\r\n",
                "abc\r\n", "0\r\n", "X: y\r\n", "ffffffffffffffff\r\n",
            ]),
            0..30,
        )) {
            let input = pieces.concat();
            let _ = get().check(0, input.as_bytes());
            let _ = get().check_at_eof(0, input.as_bytes());
        }
    }
}
