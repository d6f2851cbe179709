//! `http`: a minimal HTTP/1.1 server, enough for `curl`, `wrk` and the load
//! generator to drive any engine.
//!
//! Requests are parsed with `httparse`, which answers "complete" or "partial"
//! from whatever bytes have arrived: a partial request simply waits. Every
//! complete request in the input is answered, in order (pipelining).
//!
//! | request | answer | connection |
//! |---|---|---|
//! | `GET` | `200 OK`, `text/plain` body [`BODY`] | kept open |
//! | `HEAD` | `200 OK`, the same headers, no body | kept open |
//! | any other method | `405 Method Not Allowed` with `Allow: GET, HEAD` | kept open |
//! | a body (`Content-Length` > 0, or any `Transfer-Encoding`) | `413 Content Too Large`: this server takes no request body | closed |
//! | a malformed request line or header (not `METHOD SP TARGET SP HTTP/1.x`, control characters, a bad `Content-Length`...) | `400 Bad Request` | closed |
//! | a header section over the limit, or more than 64 headers | `431 Request Header Fields Too Large` | closed |
//!
//! "Kept open" follows HTTP/1.1's default: `Connection: close` from the
//! client closes after the answer (which then carries `Connection: close`
//! too). An HTTP/1.0 client is closed after each answer unless it sent
//! `Connection: keep-alive`, which the answer then echoes. Answers always say
//! `HTTP/1.1`. The `Host` header is not required.
//!
//! The header section (request line, headers and the blank line ending them)
//! may be at most `max_header_bytes` (default [`MAX_HEADER_BYTES`]). Bare LF
//! line endings are accepted as well as CRLF, as `httparse` does (RFC 9112
//! §2.2 allows a recipient to), and so are empty lines before a request.
//! End of input inside a request is a protocol error. Each answer, error
//! answers included, counts as one request.

use std::io::Write as _;

use super::{Peer, Progress, ProtocolError, Service, Session};

/// Largest header section accepted by default before answering 431.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// The body every `GET` gets.
pub const BODY: &[u8] = b"Hello from sockbench\n";

/// The exact answer to a keep-alive `GET` (such as [`GET_REQUEST`]), for
/// clients that validate what they receive.
pub const OK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
    Content-Type: text/plain\r\n\
    Content-Length: 21\r\n\
    \r\n\
    Hello from sockbench\n";

/// A keep-alive `GET`, as load generators and benches send it.
pub const GET_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: sockbench\r\n\r\n";

/// Headers parsed per request; more are answered with 431.
const MAX_HEADERS: usize = 64;

/// The minimal HTTP/1.1 service.
#[derive(Debug, Clone, Copy)]
pub struct Http {
    max_header_bytes: usize,
}

impl Http {
    /// An HTTP service answering 431 to a header section of more than
    /// `max_header_bytes`.
    pub fn new(max_header_bytes: usize) -> Self {
        Http { max_header_bytes }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new(MAX_HEADER_BYTES)
    }
}

/// One connection: only the limit; the engine holds a partial request.
#[derive(Debug)]
struct HttpSession {
    max_header_bytes: usize,
}

impl Service for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
        Box::new(HttpSession {
            max_header_bytes: self.max_header_bytes,
        })
    }

    /// A backstop the engine never reaches: the session answers 431 (and
    /// closes) as soon as an incomplete header section reaches
    /// `max_header_bytes`, so at most one byte less ever waits.
    fn max_request_bytes(&self) -> usize {
        self.max_header_bytes
    }
}

impl Session for HttpSession {
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError> {
        let mut consumed = 0;
        let mut requests = 0;
        while consumed < input.len() {
            let Some((head_bytes, reply)) = self.next_request(&input[consumed..]) else {
                break; // A partial request: wait for the rest.
            };
            reply.write(output);
            consumed += head_bytes;
            requests += 1;
            if reply.connection == Connection::Close {
                return Ok(Progress::close_after(consumed, requests));
            }
        }
        Ok(Progress::continue_after(consumed, requests))
    }

    fn handle_eof(
        &mut self,
        unconsumed: &[u8],
        _output: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        // Empty lines between requests are allowed; anything else is the
        // start of a request that never ended.
        if unconsumed.iter().all(|&b| b == b'\r' || b == b'\n') {
            return Ok(());
        }
        Err(ProtocolError::new(format!(
            "connection closed inside a request ({} bytes of an incomplete header section)",
            unconsumed.len()
        )))
    }
}

impl HttpSession {
    /// The reply to the request at the front of `input` and the bytes its
    /// header section takes, or `None` while the header section is partial.
    /// A refusal that closes the connection takes all of `input`.
    fn next_request(&self, input: &[u8]) -> Option<(usize, Reply)> {
        // Never look past the limit, so the verdict does not depend on how
        // much happened to arrive in one read.
        let window = &input[..input.len().min(self.max_header_bytes)];
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(window) {
            Ok(httparse::Status::Complete(head_bytes)) => Some((head_bytes, reply_to(&request))),
            Ok(httparse::Status::Partial) if input.len() >= self.max_header_bytes => {
                Some((input.len(), Reply::refusal(Status::HeaderFieldsTooLarge)))
            }
            Ok(httparse::Status::Partial) => None,
            Err(httparse::Error::TooManyHeaders) => {
                Some((input.len(), Reply::refusal(Status::HeaderFieldsTooLarge)))
            }
            Err(_) => Some((input.len(), Reply::refusal(Status::BadRequest))),
        }
    }
}

/// Decide the reply to a complete, well-formed request head.
fn reply_to(request: &httparse::Request<'_, '_>) -> Reply {
    let is_http_11 = request.version == Some(1);
    let mut asks_close = false;
    let mut asks_keep_alive = false;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            match content_length_is_zero(header.value) {
                Some(true) => {}
                Some(false) => return Reply::refusal(Status::ContentTooLarge),
                None => return Reply::refusal(Status::BadRequest),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Reply::refusal(Status::ContentTooLarge);
        } else if name.eq_ignore_ascii_case("connection") {
            for option in header.value.split(|&b| b == b',') {
                let option = option.trim_ascii();
                asks_close |= option.eq_ignore_ascii_case(b"close");
                asks_keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let connection = if asks_close || !(is_http_11 || asks_keep_alive) {
        Connection::Close
    } else if is_http_11 {
        Connection::KeepAlive
    } else {
        Connection::KeepAliveAnnounced
    };
    let (status, has_body) = match request.method {
        Some("GET") => (Status::Ok, true),
        Some("HEAD") => (Status::Ok, false),
        _ => (Status::MethodNotAllowed, true),
    };
    Reply {
        status,
        connection,
        has_body,
    }
}

/// `Some(true)` for a valid zero length, `Some(false)` for a valid positive
/// one (however many digits), `None` for anything that is not a number.
fn content_length_is_zero(value: &[u8]) -> Option<bool> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().all(|&b| b == b'0'))
}

/// The answers this server gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    BadRequest,
    MethodNotAllowed,
    ContentTooLarge,
    HeaderFieldsTooLarge,
}

impl Status {
    fn status_line(self) -> &'static [u8] {
        match self {
            Status::Ok => b"HTTP/1.1 200 OK\r\n",
            Status::BadRequest => b"HTTP/1.1 400 Bad Request\r\n",
            Status::MethodNotAllowed => b"HTTP/1.1 405 Method Not Allowed\r\n",
            Status::ContentTooLarge => b"HTTP/1.1 413 Content Too Large\r\n",
            Status::HeaderFieldsTooLarge => b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        }
    }

    fn body(self) -> &'static [u8] {
        match self {
            Status::Ok => BODY,
            Status::BadRequest => b"bad request\n",
            Status::MethodNotAllowed => b"only GET and HEAD are served\n",
            Status::ContentTooLarge => b"request bodies are not accepted\n",
            Status::HeaderFieldsTooLarge => b"request header section too large\n",
        }
    }
}

/// What the answer says about the connection, and whether it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    /// HTTP/1.1's default: kept open, nothing to say.
    KeepAlive,
    /// An HTTP/1.0 client asked to keep it open: say `Connection: keep-alive`.
    KeepAliveAnnounced,
    /// Say `Connection: close`, then close.
    Close,
}

/// One answer, decided; [`Reply::write`] encodes it.
#[derive(Debug, Clone, Copy)]
struct Reply {
    status: Status,
    connection: Connection,
    /// `false` for `HEAD`: the headers of a `GET`, no body.
    has_body: bool,
}

impl Reply {
    /// An error answer that closes the connection.
    fn refusal(status: Status) -> Self {
        Reply {
            status,
            connection: Connection::Close,
            has_body: true,
        }
    }

    fn write(&self, output: &mut Vec<u8>) {
        let body = self.status.body();
        output.extend_from_slice(self.status.status_line());
        output.extend_from_slice(b"Content-Type: text/plain\r\n");
        // `writeln!` supplies the `\n` of the `\r\n`.
        writeln!(output, "Content-Length: {}\r", body.len()).expect("writing to a Vec cannot fail");
        if self.status == Status::MethodNotAllowed {
            output.extend_from_slice(b"Allow: GET, HEAD\r\n");
        }
        match self.connection {
            Connection::KeepAlive => {}
            Connection::KeepAliveAnnounced => {
                output.extend_from_slice(b"Connection: keep-alive\r\n")
            }
            Connection::Close => output.extend_from_slice(b"Connection: close\r\n"),
        }
        output.extend_from_slice(b"\r\n");
        if self.has_body {
            output.extend_from_slice(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testkit::{assert_split_invariant, bytes_from, cuts, run, run_whole};
    use crate::service::Control;
    use proptest::prelude::*;

    /// Feed `input` to a fresh default session in one call.
    fn answer(input: &[u8]) -> (Vec<u8>, Progress) {
        let mut out = Vec::new();
        let progress = Http::default()
            .new_session(&Peer::Unix)
            .handle_input(input, &mut out)
            .unwrap();
        (out, progress)
    }

    /// `OK_RESPONSE` is what a GET gets, and its Content-Length is `BODY`'s.
    #[test]
    fn http_ok_response_matches_body() {
        assert!(OK_RESPONSE.ends_with(BODY));
        let header = format!("Content-Length: {}\r\n", BODY.len());
        assert!(OK_RESPONSE
            .windows(header.len())
            .any(|w| w == header.as_bytes()));
        let (out, progress) = answer(GET_REQUEST);
        assert_eq!(out, OK_RESPONSE);
        assert_eq!(progress, Progress::continue_after(GET_REQUEST.len(), 1));
    }

    /// HEAD gets the headers of a GET and no body.
    #[test]
    fn http_head_gets_headers_only() {
        let (out, progress) = answer(b"HEAD /x HTTP/1.1\r\n\r\n");
        assert_eq!(out, &OK_RESPONSE[..OK_RESPONSE.len() - BODY.len()]);
        assert_eq!(progress.control, Control::Continue);
    }

    /// Pipelined requests are all answered, in order; a partial one waits.
    #[test]
    fn http_answers_pipelined_requests_in_order() {
        let mut input = GET_REQUEST.repeat(3);
        input.extend_from_slice(b"HEAD / HTTP/1.1\r\n\r\nGET / HT");
        let (out, progress) = answer(&input);
        let mut expected = OK_RESPONSE.repeat(3);
        expected.extend_from_slice(&OK_RESPONSE[..OK_RESPONSE.len() - BODY.len()]);
        assert_eq!(out, expected);
        assert_eq!(progress, Progress::continue_after(input.len() - 8, 4));
    }

    /// `Connection: close` is honoured: the answer says so and the session
    /// closes, ignoring requests after it.
    #[test]
    fn http_honours_connection_close() {
        let mut input = b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n".to_vec();
        let first = input.len();
        input.extend_from_slice(GET_REQUEST);
        let (out, progress) = answer(&input);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\
              Connection: close\r\n\r\nHello from sockbench\n"
        );
        assert_eq!(progress, Progress::close_after(first, 1));
    }

    /// HTTP/1.0 closes by default, and stays open on `Connection: keep-alive`.
    #[test]
    fn http_10_closes_unless_keep_alive() {
        let (out, progress) = answer(b"GET / HTTP/1.0\r\n\r\n");
        assert!(out.ends_with(b"Connection: close\r\n\r\nHello from sockbench\n"));
        assert_eq!(progress.control, Control::Close);

        let (out, progress) = answer(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(out.ends_with(b"Connection: keep-alive\r\n\r\nHello from sockbench\n"));
        assert_eq!(progress.control, Control::Continue);
    }

    /// Bare LF line endings and empty lines before a request are accepted.
    #[test]
    fn http_accepts_bare_lf() {
        let input = b"\r\n\nGET / HTTP/1.1\nHost: x\n\n";
        let (out, progress) = answer(input);
        assert_eq!(out, OK_RESPONSE);
        assert_eq!(progress, Progress::continue_after(input.len(), 1));
    }

    /// Malformed request lines get 400 and a close.
    #[test]
    fn http_malformed_request_line_gets_400() {
        let bad_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\
            Content-Length: 12\r\nConnection: close\r\n\r\nbad request\n";
        for input in [
            &b"GET /\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET /a\x01b HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00",
        ] {
            let (out, progress) = answer(input);
            assert_eq!(out, bad_400, "{}", input.escape_ascii());
            assert_eq!(progress, Progress::close_after(input.len(), 1));
        }
    }

    /// Other methods get 405 with `Allow`, and the connection stays open.
    #[test]
    fn http_other_methods_get_405() {
        let (out, progress) = answer(b"DELETE / HTTP/1.1\r\n\r\n");
        assert_eq!(
            out,
            b"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\n\
              Content-Length: 29\r\nAllow: GET, HEAD\r\n\r\nonly GET and HEAD are served\n"
        );
        assert_eq!(progress.control, Control::Continue);
    }

    /// A request with a body gets 413 and a close; a zero length is fine; a
    /// length that is not a number gets 400.
    #[test]
    fn http_request_bodies_are_refused() {
        for input in [
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"[..],
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        ] {
            let (out, progress) = answer(input);
            assert!(out.starts_with(b"HTTP/1.1 413 Content Too Large\r\n"));
            assert_eq!(progress.control, Control::Close);
        }
        let (out, _) = answer(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(out, OK_RESPONSE);
        let (out, _) = answer(b"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n");
        assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    }

    /// A header section of exactly the limit is served; one that reaches
    /// the limit without ending gets 431 and a close.
    #[test]
    fn http_oversize_header_section_gets_431() {
        let http = Http::new(64);
        let mut input = b"GET / HTTP/1.1\r\nX: ".to_vec();
        input.resize(60, b'a');
        input.extend_from_slice(b"\r\n\r\n");
        assert_eq!(input.len(), 64);
        let transcript = run_whole(&http, &input);
        assert!(transcript.output.starts_with(b"HTTP/1.1 200 OK\r\n"));

        input.insert(20, b'a');
        let transcript = run_whole(&http, &input);
        assert!(transcript
            .output
            .starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(transcript
            .output
            .ends_with(b"Connection: close\r\n\r\nrequest header section too large\n"));
    }

    /// The session answers 431 before the engine's input limit trips, even
    /// when the header section trickles in one byte at a time.
    #[test]
    fn http_answers_431_before_engine_limit() {
        let input = [b'a'; 100];
        let cuts: Vec<usize> = (1..input.len()).collect();
        let transcript = run(&Http::new(64), &input, &cuts);
        assert!(transcript.error.is_none(), "{:?}", transcript.error);
        assert!(transcript.output.starts_with(b"HTTP/1.1 431 "));
        assert_eq!(transcript.requests, 1);
    }

    /// More than 64 headers get 431.
    #[test]
    fn http_too_many_headers_get_431() {
        let mut input = b"GET / HTTP/1.1\r\n".to_vec();
        input.extend(b"X: y\r\n".repeat(MAX_HEADERS + 1));
        input.extend_from_slice(b"\r\n");
        let (out, progress) = answer(&input);
        assert!(out.starts_with(b"HTTP/1.1 431 "));
        assert_eq!(progress.control, Control::Close);
    }

    /// End of input inside a request is an error; after empty lines it is not.
    #[test]
    fn http_eof_inside_a_request_is_an_error() {
        let err = run_whole(&Http::default(), b"GET / HTTP/1.1\r\n")
            .error
            .unwrap();
        assert_eq!(
            err.reason(),
            "connection closed inside a request (16 bytes of an incomplete header section)"
        );
        let mut input = GET_REQUEST.to_vec();
        input.extend_from_slice(b"\r\n");
        let transcript = run_whole(&Http::default(), &input);
        assert_eq!(transcript.output, OK_RESPONSE);
        assert!(transcript.error.is_none());
    }

    /// Request snippets, valid and not, that pipelined inputs are made of.
    const PIECES: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n\r\n",
        b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET / HTTP/1.1\nConnection: close\n\n",
        b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
        b"GET /\r\n\r\n",
        b"\r\n",
        b"GET ",
        b"\x00",
    ];

    /// Up to 12 pieces, pipelined, sometimes followed by a few random bytes.
    fn pipelined_input() -> impl Strategy<Value = Vec<u8>> {
        let pieces = proptest::collection::vec(proptest::sample::select(PIECES), 0..12);
        (pieces, bytes_from(b"GET /\r\n", 6)).prop_map(|(pieces, tail)| {
            let mut input = pieces.concat();
            input.extend_from_slice(&tail);
            input
        })
    }

    /// Upper bound on any one answer's size, checked by the property below.
    const MAX_RESPONSE_BYTES: usize = 200;
    /// The smallest complete request: `A * HTTP/1.1\n\n`.
    const MIN_REQUEST_BYTES: usize = 14;

    proptest! {
        /// Pipelined requests (valid, malformed, oversize, truncated) split
        /// across reads anywhere are answered as in one read.
        #[test]
        fn http_split_invariant(input in pipelined_input(), cuts in cuts(700)) {
            assert_split_invariant(&Http::new(64), &input, &cuts)?;
        }

        /// Any bytes never panic, and the output is bounded: each answer is
        /// at most 200 bytes, and every answer but a last closing one needs
        /// a request of at least 14 bytes (bound: `out.len() <= 200 *
        /// (in.len() / 14 + 1)`).
        #[test]
        fn http_output_is_bounded(
            input in prop_oneof![
                pipelined_input(),
                proptest::collection::vec(any::<u8>(), 0..300),
            ],
            cuts in cuts(700),
        ) {
            let transcript = run(&Http::new(64), &input, &cuts);
            prop_assert!(transcript.requests <= input.len() / MIN_REQUEST_BYTES + 1);
            prop_assert!(transcript.output.len() <= MAX_RESPONSE_BYTES * transcript.requests);
        }
    }
}
