//! Answers of servers sockbench did not write: HTTP/1.1 ([`http1`]), Redis
//! ([`resp`]) and memcached ([`memcached`]), each as a sans-IO pair of
//! "what to send" and "is the front of the read buffer a whole answer?".
//!
//! sockbench's own services answer with bytes the generator can rebuild
//! (`protocol.rs`). A server someone else wrote answers in its own words:
//! a status, a reply type, a length it chose. So a verdict here says more
//! than `protocol.rs`'s `Check`:
//! - [`Verdict::Incomplete`]: not a whole answer yet (partial reads are
//!   normal, not an error);
//! - [`Verdict::Answer`]: a whole answer of [`Answer::len_bytes`], which is
//!   a success or a [`Failure`] (a 404, `-ERR`, `CLIENT_ERROR`: the server
//!   answered, the stream is still in step, the connection can go on), and
//!   says whether the server will close after it ([`Answer::is_closing`]);
//! - [`Verdict::Invalid`]: the bytes are not an answer of the protocol (or
//!   break a limit): the stream cannot be trusted past them.
//!
//! Every parser takes the bytes at the front of the buffer, reads no clock
//! and opens no socket, never panics, and never trusts a length it is told:
//! each protocol has [`Limits`] that refuse an answer before it is buffered
//! whole. A failure points into the input ([`Failure::text`]) rather than
//! copying it, so a server answering 404 a hundred thousand times a second
//! costs no allocation per answer; the caller copies the text of the first
//! one it shows.
//!
//! The three request types implement [`Exchange`]: write a request for a
//! key number (the `{n}` of a `--command`, drawn by the caller), judge the
//! answer to it, and judge what is left when the server closes.

use std::fmt;
use std::ops::Range;

mod command;
pub mod http1;
pub mod memcached;
pub mod resp;

/// The verdict on the bytes at the front of a connection's read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// So far so good, but the answer is not complete yet.
    Incomplete,
    /// A whole answer, success or failure.
    Answer(Answer),
    /// Not an answer of this protocol, or over a limit: the reason, for the
    /// report (the connection must be dropped).
    Invalid(String),
}

/// One whole answer at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Its length: the next answer starts here.
    pub len_bytes: usize,
    /// `None` for a success; what went wrong otherwise.
    pub failure: Option<Failure>,
    /// The server closes the connection after this answer (HTTP/1.0
    /// without keep-alive, `Connection: close`, a body ended by the close):
    /// the client reconnects, and sends nothing more on this connection.
    pub is_closing: bool,
}

impl Answer {
    /// A successful answer of `len_bytes`, after which the connection stays open.
    pub fn success(len_bytes: usize) -> Self {
        Answer {
            len_bytes,
            failure: None,
            is_closing: false,
        }
    }

    /// A failed answer of `len_bytes`, after which the connection stays open.
    pub fn failure(len_bytes: usize, kind: FailureKind, text: Range<usize>) -> Self {
        Answer {
            failure: Some(Failure { kind, text }),
            ..Answer::success(len_bytes)
        }
    }

    /// Whether the server did what was asked.
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }
}

/// A whole answer that is not the one the request wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure, to count by.
    pub kind: FailureKind,
    /// Where in the checked input the server says it: the HTTP head, the
    /// error line. Slice the input with it to show it.
    pub text: Range<usize>,
}

/// What kind of failure an answer is, to count answers by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FailureKind {
    /// HTTP: a status other than the one wanted (2xx by default).
    Status(u16),
    /// HTTP: the right status, but not the body `--expect-body` wants.
    Body,
    /// The server reports an error: RESP `-ERR ...`, memcached `ERROR`,
    /// `CLIENT_ERROR ...`, `SERVER_ERROR ...`.
    ErrorReply,
    /// A well-formed reply that does not answer the request: `+OK` to
    /// `PING`, `NOT_STORED` to `set`, a value for another key.
    Unexpected,
    /// memcached: a `get` of a key the generator set before the run found
    /// nothing (evicted, or the server was restarted).
    Miss,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Status(code) => write!(f, "status {code}"),
            FailureKind::Body => f.write_str("unexpected body"),
            FailureKind::ErrorReply => f.write_str("error reply"),
            FailureKind::Unexpected => f.write_str("unexpected reply"),
            FailureKind::Miss => f.write_str("miss"),
        }
    }
}

/// How much of an answer a parser buffers before refusing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// HTTP: the status line and headers (and any 1xx heads before them,
    /// and the trailers of a chunked body). RESP and memcached: one line.
    pub max_head_bytes: usize,
    /// The whole answer past its head: an HTTP body (with its chunk
    /// framing), a RESP reply, memcached's values.
    pub max_body_bytes: usize,
}

impl Limits {
    /// Heads up to 16 KiB (what sockbench's `http` service accepts, and
    /// more than any server here sends) and bodies up to 1 MiB
    /// (memcached's default largest item).
    pub const DEFAULT: Limits = Limits {
        max_head_bytes: 16 * 1024,
        max_body_bytes: 1024 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A request to a server sockbench did not write, and how to judge its answer.
pub trait Exchange: fmt::Debug + Send + Sync {
    /// Append the request for key number `key` (what replaces `{n}`; ignored
    /// by requests without one) to `out`.
    fn write_request(&self, key: u64, out: &mut Vec<u8>);

    /// Judge the front of `input` as the answer to the request for `key`.
    fn check(&self, key: u64, input: &[u8]) -> Verdict;

    /// The same once the server has closed: nothing more will arrive. An
    /// answer that ends at the close (an HTTP body without a length) is
    /// whole now; any other unfinished answer is invalid. `Incomplete`
    /// only for an empty `input`: no answer was begun.
    fn check_at_eof(&self, key: u64, input: &[u8]) -> Verdict {
        cut_short_at_eof(input, self.check(key, input))
    }
}

/// What `Incomplete` means once the server has closed: nothing if nothing
/// was begun, an answer cut short otherwise.
fn cut_short_at_eof(input: &[u8], verdict: Verdict) -> Verdict {
    match verdict {
        Verdict::Incomplete if !input.is_empty() => Verdict::Invalid(format!(
            "the server closed the connection {} bytes into an answer",
            input.len()
        )),
        other => other,
    }
}

/// A request the protocol cannot express, or an address sockbench will not
/// load: one line saying what is supported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    message: String,
}

impl RequestError {
    fn new(message: impl Into<String>) -> Self {
        RequestError {
            message: message.into(),
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RequestError {}

/// Position of `\r\n` in `input`, if any.
fn find_crlf(input: &[u8]) -> Option<usize> {
    input.windows(2).position(|pair| pair == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test helper for every parser: each strict prefix of a whole answer
    /// is `Incomplete`, and the whole is the same answer, of its length.
    pub(super) fn assert_incomplete_until_whole(
        check: impl Fn(&[u8]) -> Verdict,
        answer: &[u8],
    ) -> Answer {
        for cut in 0..answer.len() {
            assert_eq!(
                check(&answer[..cut]),
                Verdict::Incomplete,
                "prefix of {cut} bytes of {:?}",
                String::from_utf8_lossy(answer)
            );
        }
        match check(answer) {
            Verdict::Answer(whole) if whole.len_bytes == answer.len() => whole,
            other => panic!("whole answer judged {other:?}"),
        }
    }

    /// An unfinished answer at EOF is invalid; an empty buffer is not.
    #[test]
    fn eof_turns_an_unfinished_answer_into_an_error() {
        assert_eq!(
            cut_short_at_eof(b"", Verdict::Incomplete),
            Verdict::Incomplete
        );
        assert!(matches!(
            cut_short_at_eof(b"+PO", Verdict::Incomplete),
            Verdict::Invalid(why) if why.contains("3 bytes into an answer")
        ));
    }
}
