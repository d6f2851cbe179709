//! The session driver: the buffer bookkeeping every engine needs, written
//! once, still without a socket.
//!
//! A [`BufferedSession`] wraps a protocol [`Session`] with the two buffers a
//! connection needs: the tail of input that has not yet formed a request, and
//! the output not yet written to the socket. Engines differ only in *when*
//! they read and write; what happens to the bytes is decided here, and so is
//! whether a connection may be read at all right now
//! ([`BufferedSession::may_read`]).
//!
//! Beside it, the connection's two clocks ([`Timers`]): a connection that
//! moves no byte for the idle timeout is dropped, and so is one whose
//! started request is not complete within the request timeout (a slowloris
//! client trickling bytes to dodge the idle timeout). Time is passed in
//! (`now`): nothing here reads a clock.
//!
//! Memory stays bounded: input waiting for a request to complete never
//! exceeds the service's [`Service::max_request_bytes`], and both buffers are
//! released when they empty, so an idle connection holds no buffer at all.

use std::time::{Duration, Instant};

use super::{Control, Peer, ProtocolError, Service, Session};

/// Buffers larger than this are freed (not just cleared) once they empty,
/// so one burst does not pin memory for the life of the connection.
const KEEP_CAPACITY_BYTES: usize = 64 * 1024;

/// A session plus its unconsumed input and unsent output.
pub struct BufferedSession {
    session: Box<dyn Session>,
    max_request_bytes: usize,
    /// Bytes received that do not yet form a complete request.
    unconsumed: Vec<u8>,
    /// Bytes produced by the session; `output[sent..]` is still to be written.
    output: Vec<u8>,
    sent: usize,
    /// No more input is wanted: the session asked to close, the peer sent
    /// EOF, or the peer broke the protocol. Close once output is flushed.
    is_closing: bool,
}

impl std::fmt::Debug for BufferedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedSession")
            .field("unconsumed", &self.unconsumed.len())
            .field("unsent", &self.unsent().len())
            .field("is_closing", &self.is_closing)
            .finish()
    }
}

impl BufferedSession {
    /// Start a session for a newly accepted peer; a greeting, if the service
    /// has one, is queued at once.
    pub fn open(service: &dyn Service, peer: &Peer) -> Self {
        let mut session = service.new_session(peer);
        let mut output = Vec::new();
        let is_closing = session.handle_open(&mut output) == Control::Close;
        BufferedSession {
            session,
            max_request_bytes: service.max_request_bytes(),
            unconsumed: Vec::new(),
            output,
            sent: 0,
            is_closing,
        }
    }

    /// Feed bytes read from the socket. Returns how many requests were
    /// answered, so the engine can charge `--work` for each.
    ///
    /// On a protocol error the session stops reading; the answers already
    /// produced are still flushed before the engine closes the connection.
    pub fn handle_received(&mut self, data: &[u8]) -> Result<usize, ProtocolError> {
        if self.is_closing {
            // The session already said its last word: extra input is dropped.
            return Ok(0);
        }
        // Fast path: nothing pending, so the session reads straight from the
        // caller's buffer and only a partial request is copied.
        let reads_caller_buffer = self.unconsumed.is_empty();
        if !reads_caller_buffer {
            self.unconsumed.extend_from_slice(data);
        }
        let input: &[u8] = if reads_caller_buffer {
            data
        } else {
            &self.unconsumed
        };
        let result = self.session.handle_input(input, &mut self.output);
        let progress = match result {
            Ok(progress) => progress,
            Err(err) => {
                self.unconsumed = Vec::new();
                self.is_closing = true;
                return Err(err);
            }
        };
        let tail_len = input.len() - progress.consumed.min(input.len());
        if reads_caller_buffer {
            self.unconsumed = data[data.len() - tail_len..].to_vec();
        } else {
            let consumed = self.unconsumed.len() - tail_len;
            self.unconsumed.drain(..consumed);
            release_if_empty(&mut self.unconsumed);
        }
        if progress.control == Control::Close {
            self.is_closing = true;
            self.unconsumed = Vec::new();
        } else if self.unconsumed.len() > self.max_request_bytes {
            self.is_closing = true;
            let held = self.unconsumed.len();
            self.unconsumed = Vec::new();
            return Err(ProtocolError::new(format!(
                "request exceeds {} bytes ({held} buffered without completing one)",
                self.max_request_bytes
            )));
        }
        Ok(progress.requests)
    }

    /// The peer shut down its write side: let the session answer what is
    /// left, then close once the output is flushed.
    pub fn handle_eof(&mut self) -> Result<(), ProtocolError> {
        if self.is_closing {
            return Ok(());
        }
        self.is_closing = true;
        let unconsumed = std::mem::take(&mut self.unconsumed);
        self.session.handle_eof(&unconsumed, &mut self.output)
    }

    /// Output produced but not yet written.
    pub fn unsent(&self) -> &[u8] {
        &self.output[self.sent..]
    }

    /// `n` bytes of [`unsent`](Self::unsent) were written to the socket.
    pub fn handle_sent(&mut self, n: usize) {
        self.sent += n;
        debug_assert!(self.sent <= self.output.len());
        if self.sent == self.output.len() {
            self.output.clear();
            self.sent = 0;
            release_if_empty(&mut self.output);
        }
    }

    /// Whether the engine may read from this connection now: the session
    /// still wants input, and its unsent output is below `high_water_bytes`
    /// (backpressure: a client that never reads its answers cannot make the
    /// server buffer without bound). An engine may add conditions of its
    /// own (`offload`: no work out), never drop these.
    pub fn may_read(&self, high_water_bytes: usize) -> bool {
        !self.is_closing && self.unsent().len() < high_water_bytes
    }

    /// No more input is wanted from the peer.
    pub fn is_closing(&self) -> bool {
        self.is_closing
    }

    /// Closing and everything flushed: the connection can be closed now.
    pub fn is_done(&self) -> bool {
        self.is_closing && self.unsent().is_empty()
    }

    /// Part of a request has arrived and the rest has not: the state a
    /// slow ("slowloris") client tries to hold forever.
    pub fn has_partial_request(&self) -> bool {
        !self.unconsumed.is_empty()
    }

    /// Bytes held for this connection (unconsumed input + unsent output).
    pub fn buffered_bytes(&self) -> usize {
        self.unconsumed.len() + self.unsent().len()
    }
}

/// Free a buffer's memory once it is empty, unless it is small enough that
/// keeping it saves an allocation on the next request.
fn release_if_empty(buf: &mut Vec<u8>) {
    if buf.is_empty() && buf.capacity() > KEEP_CAPACITY_BYTES {
        *buf = Vec::new();
    }
}

// The per-connection timeouts. Like the rest of this module they read no
// clock: the caller passes `now` (as quinn-proto's `Connection` is handed
// `now`), so an event loop reads the clock once per turn and a test can
// step time. The blocking engines turn these rules into socket timeouts;
// the event loops keep a `Timers` per connection and sweep them now and
// then.

/// The two limits, as the engine's configuration sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Drop a connection after this long without a byte moving.
    pub idle: Duration,
    /// Drop a connection whose partial request is not complete by then.
    pub request: Duration,
}

/// When a connection last moved a byte, and when its current partial
/// request began.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    last_active: Instant,
    partial_since: Option<Instant>,
}

impl Timers {
    /// A connection that is active at `now`, with no partial request.
    pub fn new(now: Instant) -> Timers {
        Timers {
            last_active: now,
            partial_since: None,
        }
    }

    /// Something moved at `now`: the idle clock starts again.
    pub fn touch(&mut self, now: Instant) {
        self.last_active = now;
    }

    /// After the session has seen input: start the request clock when a
    /// partial request appears, stop it when none is left.
    pub fn note_partial(&mut self, has_partial_request: bool, now: Instant) {
        self.partial_since = track_partial(self.partial_since, has_partial_request, || now);
    }

    /// Why the connection is to be dropped at `now`, if it is.
    pub fn expired(&self, now: Instant, timeouts: &Timeouts) -> Option<String> {
        match self.partial_since {
            Some(since) if now - since >= timeouts.request => Some(timeout_reason(true, timeouts)),
            _ if now - self.last_active >= timeouts.idle => Some(timeout_reason(false, timeouts)),
            _ => None,
        }
    }
}

/// When the current partial request began: kept while one is pending,
/// started at `now()` when one appears, cleared when none is left. `now` is
/// called only when a partial request appears, so a blocking engine pays
/// for no clock read on the requests that arrive whole.
pub fn track_partial(
    since: Option<Instant>,
    has_partial_request: bool,
    now: impl FnOnce() -> Instant,
) -> Option<Instant> {
    match (has_partial_request, since) {
        (true, None) => Some(now()),
        (true, since) => since,
        (false, _) => None,
    }
}

/// The reason logged for a connection dropped by a timeout.
pub fn timeout_reason(has_partial_request: bool, timeouts: &Timeouts) -> String {
    if has_partial_request {
        format!(
            "request not complete after {:?} (slow client): dropped",
            timeouts.request
        )
    } else {
        format!("idle for {:?}: dropped", timeouts.idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Progress;

    /// A line service used only here: answers each `\n`-terminated line with
    /// its length, closes on `quit`, errors on `bad`.
    struct Lines;
    struct LinesSession;
    impl Service for Lines {
        fn name(&self) -> &'static str {
            "lines"
        }
        fn new_session(&self, _peer: &Peer) -> Box<dyn Session> {
            Box::new(LinesSession)
        }
        fn max_request_bytes(&self) -> usize {
            8
        }
    }
    impl Session for LinesSession {
        fn handle_input(
            &mut self,
            input: &[u8],
            output: &mut Vec<u8>,
        ) -> Result<Progress, ProtocolError> {
            let mut consumed = 0;
            let mut requests = 0;
            while let Some(pos) = input[consumed..].iter().position(|&b| b == b'\n') {
                let line = &input[consumed..consumed + pos];
                consumed += pos + 1;
                requests += 1;
                match line {
                    b"quit" => return Ok(Progress::close_after(consumed, requests)),
                    b"bad" => return Err(ProtocolError::new("bad line")),
                    _ => output.extend_from_slice(format!("{}\n", line.len()).as_bytes()),
                }
            }
            Ok(Progress::continue_after(consumed, requests))
        }
        fn handle_eof(
            &mut self,
            unconsumed: &[u8],
            output: &mut Vec<u8>,
        ) -> Result<(), ProtocolError> {
            output.extend_from_slice(format!("eof {}\n", unconsumed.len()).as_bytes());
            Ok(())
        }
    }

    fn open() -> BufferedSession {
        BufferedSession::open(&Lines, &Peer::Unix)
    }

    /// A request split over several reads is answered once, when complete.
    #[test]
    fn partial_request_is_kept_until_complete() {
        let mut s = open();
        assert_eq!(s.handle_received(b"ab").unwrap(), 0);
        assert_eq!(s.unsent(), b"");
        assert_eq!(s.handle_received(b"c\nde").unwrap(), 1);
        assert_eq!(s.unsent(), b"3\n");
        assert_eq!(s.handle_received(b"f\n").unwrap(), 1);
        assert_eq!(s.unsent(), b"3\n3\n");
    }

    /// Output written in pieces is tracked until all of it has gone.
    #[test]
    fn partial_sends_advance_unsent() {
        let mut s = open();
        s.handle_received(b"abc\nabcd\n").unwrap();
        assert_eq!(s.unsent(), b"3\n4\n");
        s.handle_sent(1);
        assert_eq!(s.unsent(), b"\n4\n");
        s.handle_sent(3);
        assert_eq!(s.unsent(), b"");
        assert_eq!(s.buffered_bytes(), 0);
    }

    /// EOF hands the unconsumed tail to the session and ends the connection
    /// once the last answer is flushed.
    #[test]
    fn eof_flushes_last_answer_then_done() {
        let mut s = open();
        s.handle_received(b"a\nxy").unwrap();
        s.handle_eof().unwrap();
        assert!(s.is_closing());
        assert!(!s.is_done());
        assert_eq!(s.unsent(), b"1\neof 2\n");
        s.handle_sent(8);
        assert!(s.is_done());
    }

    /// Input that never completes a request is refused past the limit.
    #[test]
    fn oversize_request_is_refused() {
        let mut s = open();
        s.handle_received(b"12345").unwrap();
        let err = s.handle_received(b"6789").unwrap_err();
        assert!(err.reason().contains("exceeds 8 bytes"), "{err}");
        assert!(s.is_closing());
        assert_eq!(s.buffered_bytes(), 0);
    }

    /// A session asking to close stops reading but keeps its answers.
    #[test]
    fn close_request_keeps_answers_and_ignores_more_input() {
        let mut s = open();
        s.handle_received(b"ab\nquit\nlater\n").unwrap();
        assert!(s.is_closing());
        assert_eq!(s.unsent(), b"2\n");
        assert_eq!(s.handle_received(b"more\n").unwrap(), 0);
        assert_eq!(s.unsent(), b"2\n");
    }

    /// Reading pauses while unsent output is at the high-water mark and
    /// resumes once it is written; a closing session is never read.
    #[test]
    fn may_read_follows_backpressure_and_closing() {
        let mut s = open();
        s.handle_received(b"abc\n").unwrap();
        assert!(!s.may_read(2), "2 bytes unsent, high water 2");
        assert!(s.may_read(3));
        s.handle_sent(2);
        assert!(s.may_read(2));
        s.handle_received(b"quit\n").unwrap();
        assert!(!s.may_read(usize::MAX));
    }

    /// A protocol error stops reading; earlier answers are still flushed.
    #[test]
    fn protocol_error_keeps_earlier_answers() {
        let mut s = open();
        assert!(s.handle_received(b"ok\nbad\n").is_err());
        assert!(s.is_closing());
        assert_eq!(s.unsent(), b"2\n");
    }

    const TIMEOUTS: Timeouts = Timeouts {
        idle: Duration::from_secs(60),
        request: Duration::from_secs(10),
    };

    /// A partial request expires on the request timeout, long before the
    /// idle one, even while bytes keep trickling in (slowloris).
    #[test]
    fn partial_request_expires_on_the_request_timeout() {
        let start = Instant::now();
        let mut timers = Timers::new(start);
        timers.note_partial(true, start);
        let trickle = start + Duration::from_secs(9);
        timers.touch(trickle);
        timers.note_partial(true, trickle);
        assert_eq!(timers.expired(trickle, &TIMEOUTS), None);
        let why = timers
            .expired(start + TIMEOUTS.request, &TIMEOUTS)
            .expect("the request timeout has passed");
        assert!(why.contains("slow client"), "{why}");
    }

    /// With no partial request, only the idle timeout applies, counted
    /// from the last byte that moved.
    #[test]
    fn idle_timeout_counts_from_the_last_activity() {
        let start = Instant::now();
        let mut timers = Timers::new(start);
        timers.note_partial(true, start);
        timers.note_partial(false, start);
        let later = start + Duration::from_secs(30);
        timers.touch(later);
        assert_eq!(timers.expired(start + TIMEOUTS.idle, &TIMEOUTS), None);
        let why = timers
            .expired(later + TIMEOUTS.idle, &TIMEOUTS)
            .expect("idle for the whole timeout");
        assert!(why.starts_with("idle for"), "{why}");
    }
}
