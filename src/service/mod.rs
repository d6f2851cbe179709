//! Sans-IO services: the protocols, written once, driven by every engine.
//!
//! A [`Service`] makes one [`Session`] per connection (or per datagram). A
//! session is a plain state machine: it is handed the bytes that arrived and
//! appends the bytes to send to a `Vec<u8>` the caller owns. It never touches
//! a socket, a clock or a thread, which is what lets the four engines, the UDP
//! path, the benchmarks and the property tests share one implementation.
//!
//! The contract, in the order an engine calls it:
//! 1. [`Session::handle_open`] once, when the connection is accepted (the
//!    `hello` service greets here);
//! 2. [`Session::handle_input`] with every byte not yet consumed: the session
//!    answers each *complete* request, says how many bytes it consumed, and
//!    leaves an incomplete request for the next call ("need more bytes" is
//!    not an error);
//! 3. [`Session::handle_eof`] when the peer has shut down its write side, with
//!    the bytes that never formed a request, so a last answer can be flushed.
//!
//! Around those calls, still sans-IO: the session driver
//! ([`buffered::BufferedSession`]: the unconsumed tail, the unsent output,
//! the size limit, whether the connection may be read now) and the
//! per-connection timeouts ([`buffered::Timers`], handed `now`, reading no
//! clock), in one file: what an engine keeps per connection besides its
//! socket.
//! Engines only move bytes; nothing here imports an engine.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

pub mod buffered;
pub mod discard;
pub mod echo;
pub mod fixed16;
pub mod frame;
pub mod hello;
pub mod http;
pub mod length;
pub mod sized;
pub mod upper;

#[cfg(test)]
pub(crate) mod testkit;

/// Who is on the other end of a connection or datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A TCP or UDP peer, IPv4 or IPv6.
    Inet(SocketAddr),
    /// A Unix domain socket peer (usually unnamed).
    Unix,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Inet(addr) => write!(f, "{addr}"),
            Peer::Unix => f.write_str("unix-peer"),
        }
    }
}

/// What the session wants after its output has been flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep the connection open and keep reading.
    Continue,
    /// Send what is queued, then close.
    Close,
}

/// What one [`Session::handle_input`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of `input` that formed complete requests and may be dropped.
    pub consumed: usize,
    /// Complete requests answered (the unit `--work` is charged per).
    pub requests: usize,
    /// Whether to close once the output is flushed.
    pub control: Control,
}

impl Progress {
    /// `consumed` bytes formed `requests` requests; keep the connection open.
    pub fn continue_after(consumed: usize, requests: usize) -> Self {
        Progress {
            consumed,
            requests,
            control: Control::Continue,
        }
    }

    /// `consumed` bytes formed `requests` requests; close after flushing.
    pub fn close_after(consumed: usize, requests: usize) -> Self {
        Progress {
            consumed,
            requests,
            control: Control::Close,
        }
    }
}

/// The peer broke the protocol: the connection is closed (after flushing the
/// answers already produced) and the reason is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    reason: String,
}

impl ProtocolError {
    /// A protocol error with a lowercase, human-readable reason.
    pub fn new(reason: impl Into<String>) -> Self {
        ProtocolError {
            reason: reason.into(),
        }
    }

    /// Why the connection was refused further service.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ProtocolError {}

/// Per-connection protocol state. See the module docs for the call order.
pub trait Session: Send {
    /// The connection was accepted: append a greeting, if any.
    fn handle_open(&mut self, _output: &mut Vec<u8>) -> Control {
        Control::Continue
    }

    /// Consume the complete requests at the front of `input`, append their
    /// answers to `output`. Bytes after `Progress::consumed` are handed back
    /// next time, with whatever arrives meanwhile appended.
    fn handle_input(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Progress, ProtocolError>;

    /// The peer shut down its write side. `unconsumed` never formed a whole
    /// request: answer it, or call it an error.
    fn handle_eof(&mut self, unconsumed: &[u8], output: &mut Vec<u8>) -> Result<(), ProtocolError>;
}

/// A protocol: makes sessions, and states how much input may wait for a
/// request to complete.
pub trait Service: Send + Sync + 'static {
    /// The name used on the command line, in CSV files and bench ids.
    fn name(&self) -> &'static str;

    /// A fresh session for a new connection (or a single datagram).
    fn new_session(&self, peer: &Peer) -> Box<dyn Session>;

    /// The most bytes an incomplete request may hold before the connection
    /// is refused: engines never buffer more input than this.
    fn max_request_bytes(&self) -> usize {
        DEFAULT_MAX_REQUEST_BYTES
    }
}

/// Input limit for services that do not state their own.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Answer one datagram: a fresh session sees it as a whole connection (open,
/// input, end of input). Returns the reply, which may be empty (no answer).
pub fn answer_datagram(
    service: &dyn Service,
    peer: &Peer,
    datagram: &[u8],
    reply: &mut Vec<u8>,
) -> Result<(), ProtocolError> {
    reply.clear();
    let mut session = service.new_session(peer);
    if session.handle_open(reply) == Control::Close {
        return Ok(());
    }
    let progress = session.handle_input(datagram, reply)?;
    if progress.control == Control::Close {
        return Ok(());
    }
    session.handle_eof(&datagram[progress.consumed..], reply)
}

/// Every service sockbench ships, by its command-line name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    /// Every byte back, exactly.
    Echo,
    /// Each line back with ASCII letters in capitals (the seeds' uppercase server).
    Upper,
    /// Greets `Hello <ip>:<port>` on connect, then closes.
    Hello,
    /// Reads exactly 16 bytes, answers `Hello World!`, closes.
    Fixed16,
    /// Reads and drops everything.
    Discard,
    /// 4-byte big-endian length prefix + payload; each frame echoed.
    Frame,
    /// Minimal HTTP/1.1: every GET gets 200 with a small body.
    Http,
    /// Datagram service: answers `The msg was N bytes long`.
    Length,
    /// Reads a line holding N (1 to 16,384), answers N bytes (UNP ch. 30).
    Sized,
}

impl ServiceKind {
    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Echo => "echo",
            ServiceKind::Upper => "upper",
            ServiceKind::Hello => "hello",
            ServiceKind::Fixed16 => "fixed16",
            ServiceKind::Discard => "discard",
            ServiceKind::Frame => "frame",
            ServiceKind::Http => "http",
            ServiceKind::Length => "length",
            ServiceKind::Sized => "sized",
        }
    }
}

/// Knobs some services take; the defaults are the documented ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceLimits {
    /// Largest `frame` payload accepted.
    pub max_frame_bytes: usize,
    /// Largest `upper` line (without its newline) accepted.
    pub max_line_bytes: usize,
    /// Largest HTTP header section accepted before answering 431.
    pub max_header_bytes: usize,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        ServiceLimits {
            max_frame_bytes: frame::DEFAULT_MAX_FRAME_BYTES,
            max_line_bytes: upper::DEFAULT_MAX_LINE_BYTES,
            max_header_bytes: http::MAX_HEADER_BYTES,
        }
    }
}

/// Build the service named on the command line.
pub fn build(kind: ServiceKind, limits: ServiceLimits) -> Arc<dyn Service> {
    match kind {
        ServiceKind::Echo => Arc::new(echo::Echo),
        ServiceKind::Upper => Arc::new(upper::Upper::new(limits.max_line_bytes)),
        ServiceKind::Hello => Arc::new(hello::Hello),
        ServiceKind::Fixed16 => Arc::new(fixed16::Fixed16),
        ServiceKind::Discard => Arc::new(discard::Discard),
        ServiceKind::Frame => Arc::new(frame::Frame::new(limits.max_frame_bytes)),
        ServiceKind::Http => Arc::new(http::Http::new(limits.max_header_bytes)),
        ServiceKind::Length => Arc::new(length::Length),
        ServiceKind::Sized => Arc::new(sized::SizedAnswers),
    }
}
