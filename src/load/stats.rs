//! What a load thread counts: errors by kind, and one [`Interval`] of
//! latencies and counts per second of the measurement, merged across threads
//! at the end.

use std::fmt;
use std::io;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::wire::FailureKind;

/// Latency and connect-time histograms: microseconds, 3 significant digits,
/// growing as needed (nothing is ever clamped).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

/// Why a request or a connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The connection was refused: nobody listens (or the backlog is full).
    Refused,
    /// The server reset the connection.
    Reset,
    /// The connection was not established within the connect timeout.
    ConnectTimeout,
    /// An answer did not come within the request timeout (TCP, Unix): the
    /// connection is closed and reopened.
    Timeout,
    /// UDP: an answer did not come within the request timeout. The request
    /// is given up, not resent, and the client sends its next one. Counted
    /// for requests of the measured window only, like `sent`.
    Lost,
    /// The server answered, but wrongly (wrong bytes, status, length...).
    Invalid,
    /// A server sockbench did not write answered in step, but not with
    /// success: another status than the one wanted, an error reply
    /// (`-ERR`, `CLIENT_ERROR`), a miss. The connection goes on.
    Failed,
    /// The server closed the connection with answers still owed (a short
    /// answer, or none).
    Closed,
    /// This machine, not the server, ran out of local ports: no free
    /// ephemeral port toward the server (`EADDRNOTAVAIL` at connect).
    NoPort,
    /// This machine ran out of descriptors: the process's limit (`EMFILE`)
    /// or the system's (`ENFILE`) when opening a socket.
    NoDescriptor,
    /// Any other socket error.
    Other,
}

impl ErrorKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Refused,
        ErrorKind::Reset,
        ErrorKind::ConnectTimeout,
        ErrorKind::Timeout,
        ErrorKind::Lost,
        ErrorKind::Invalid,
        ErrorKind::Failed,
        ErrorKind::Closed,
        ErrorKind::NoPort,
        ErrorKind::NoDescriptor,
        ErrorKind::Other,
    ];

    /// The name used in summaries and CSV columns (`errors_NAME`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Reset => "reset",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Lost => "lost",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Failed => "failed",
            ErrorKind::Closed => "closed",
            ErrorKind::NoPort => "no_port",
            ErrorKind::NoDescriptor => "no_descriptor",
            ErrorKind::Other => "other",
        }
    }

    /// A shortage on this machine (ports, descriptors): says nothing about
    /// the server, so it never counts as a sign the server is gone.
    pub fn is_local(self) -> bool {
        matches!(self, ErrorKind::NoPort | ErrorKind::NoDescriptor)
    }

    /// The kind of a socket error.
    pub(crate) fn of_io(err: &io::Error) -> ErrorKind {
        match err.raw_os_error() {
            Some(libc::EADDRNOTAVAIL) => return ErrorKind::NoPort,
            Some(libc::EMFILE | libc::ENFILE) => return ErrorKind::NoDescriptor,
            _ => {}
        }
        match err.kind() {
            io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
            // Writing to a connection the server closed.
            io::ErrorKind::BrokenPipe => ErrorKind::Closed,
            io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
            _ => ErrorKind::Other,
        }
    }
}

/// Errors counted by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Connections refused.
    pub refused: u64,
    /// Connections reset by the server.
    pub reset: u64,
    /// Connections not established in time.
    pub connect_timeout: u64,
    /// Requests not answered in time.
    pub timeout: u64,
    /// UDP requests not answered in time (given up, not resent).
    pub lost: u64,
    /// Wrong answers.
    pub invalid: u64,
    /// Answers in step that were not a success (a 404, `-ERR`).
    #[serde(default)]
    pub failed: u64,
    /// Connections closed with answers owed.
    pub closed: u64,
    /// Connects that found no free local port (`EADDRNOTAVAIL`).
    pub no_port: u64,
    /// Sockets not opened for want of descriptors (`EMFILE`, `ENFILE`).
    pub no_descriptor: u64,
    /// Other socket errors.
    pub other: u64,
}

impl ErrorCounts {
    fn slot(&mut self, kind: ErrorKind) -> &mut u64 {
        match kind {
            ErrorKind::Refused => &mut self.refused,
            ErrorKind::Reset => &mut self.reset,
            ErrorKind::ConnectTimeout => &mut self.connect_timeout,
            ErrorKind::Timeout => &mut self.timeout,
            ErrorKind::Lost => &mut self.lost,
            ErrorKind::Invalid => &mut self.invalid,
            ErrorKind::Failed => &mut self.failed,
            ErrorKind::Closed => &mut self.closed,
            ErrorKind::NoPort => &mut self.no_port,
            ErrorKind::NoDescriptor => &mut self.no_descriptor,
            ErrorKind::Other => &mut self.other,
        }
    }

    /// Count one error.
    pub fn add(&mut self, kind: ErrorKind) {
        *self.slot(kind) += 1;
    }

    /// The count for one kind.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        let mut copy = *self;
        *copy.slot(kind)
    }

    /// All errors.
    pub fn total(&self) -> u64 {
        ErrorKind::ALL.iter().map(|&kind| self.get(kind)).sum()
    }

    /// The kinds that happened, with their counts, in [`ErrorKind::ALL`] order.
    pub fn by_kind(&self) -> Vec<(&'static str, u64)> {
        ErrorKind::ALL
            .into_iter()
            .map(|kind| (kind.name(), self.get(kind)))
            .filter(|&(_, count)| count > 0)
            .collect()
    }

    /// Add another set of counts to this one.
    pub fn merge(&mut self, other: &ErrorCounts) {
        for kind in ErrorKind::ALL {
            *self.slot(kind) += other.get(kind);
        }
    }
}

impl fmt::Display for ErrorCounts {
    /// `none`, or the non-zero kinds: `refused 3, timeout 2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .by_kind()
            .into_iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// What the answers that were not a success were: per kind of failure
/// (`status 404`, `error reply`) its count and the first one's text (an
/// HTTP head, an error line), and the first invalid answer's reason; what
/// the report shows of a server that said no, or said nonsense.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedAnswers {
    /// One entry per kind, in the order first seen.
    pub kinds: Vec<FailedKind>,
    /// Why the first invalid answer was refused, if one was.
    pub first_invalid: Option<String>,
}

/// The answers of one kind of failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedKind {
    /// What they were.
    pub kind: FailureKind,
    /// How many.
    pub count: u64,
    /// What the server said the first time.
    pub first_text: String,
}

impl FailedAnswers {
    /// Count one failure of `kind`; `text` is asked for only the first time
    /// (a copy of what the server said costs nothing per answer after it).
    pub(crate) fn add(&mut self, kind: FailureKind, text: impl FnOnce() -> String) {
        match self.kinds.iter_mut().find(|seen| seen.kind == kind) {
            Some(seen) => seen.count += 1,
            None => self.kinds.push(FailedKind {
                kind,
                count: 1,
                first_text: text(),
            }),
        }
    }

    /// Keep the reason of the first invalid answer.
    pub(crate) fn note_invalid(&mut self, why: String) {
        self.first_invalid.get_or_insert(why);
    }

    /// Add another's counts; the first texts already kept stay.
    pub(crate) fn merge(&mut self, other: &FailedAnswers) {
        for theirs in &other.kinds {
            match self.kinds.iter_mut().find(|mine| mine.kind == theirs.kind) {
                Some(mine) => mine.count += theirs.count,
                None => self.kinds.push(theirs.clone()),
            }
        }
        if let Some(why) = &other.first_invalid {
            self.note_invalid(why.clone());
        }
    }
}

/// One second of the measurement (the last one may be shorter).
#[derive(Debug, Clone)]
pub struct Interval {
    /// Seconds since the measurement started (after the warmup).
    pub second: u64,
    /// Requests sent in this second (only those meant to go in the
    /// measured window).
    pub sent: u64,
    /// Correct answers completed in this second.
    pub requests: u64,
    /// Bytes of those answers.
    pub bytes: u64,
    /// Errors in this second; errors of the ramp and the warmup are counted in second 0.
    pub errors: ErrorCounts,
    /// Latency in µs: from the intended send time in rate mode (corrected
    /// for coordinated omission), from the actual send otherwise.
    pub latency_us: Histogram<u64>,
    /// Rate mode only: latency in µs from the actual send.
    pub uncorrected_us: Option<Histogram<u64>>,
}

impl Interval {
    /// An empty interval; `rate_mode` adds the uncorrected histogram.
    pub(crate) fn new(second: u64, rate_mode: bool) -> Self {
        Interval {
            second,
            sent: 0,
            requests: 0,
            bytes: 0,
            errors: ErrorCounts::default(),
            latency_us: new_histogram(),
            uncorrected_us: rate_mode.then(new_histogram),
        }
    }

    /// Add another interval's counts and latencies to this one.
    pub(crate) fn merge(&mut self, other: &Interval) {
        self.sent += other.sent;
        self.requests += other.requests;
        self.bytes += other.bytes;
        self.errors.merge(&other.errors);
        add_histogram(&mut self.latency_us, &other.latency_us);
        if let (Some(mine), Some(theirs)) = (&mut self.uncorrected_us, &other.uncorrected_us) {
            add_histogram(mine, theirs);
        }
    }

    /// Count one correct answer of `bytes` bytes and its latencies (the
    /// uncorrected one is kept in rate mode only).
    pub(crate) fn record_answer(&mut self, bytes: usize, latency_us: u64, uncorrected_us: u64) {
        self.requests += 1;
        self.bytes += bytes as u64;
        record_us(&mut self.latency_us, latency_us);
        if let Some(uncorrected) = self.uncorrected_us.as_mut() {
            record_us(uncorrected, uncorrected_us);
        }
    }
}

/// Record one value in µs. Auto-resizing histograms take any value; should
/// growing ever fail, the value is clamped rather than lost.
pub(crate) fn record_us(histogram: &mut Histogram<u64>, value_us: u64) {
    if histogram.record(value_us).is_err() {
        histogram.saturating_record(value_us);
    }
}

/// Add `other` into `into`. Both grow as needed, so adding cannot fail.
pub(crate) fn add_histogram(into: &mut Histogram<u64>, other: &Histogram<u64>) {
    into.add(other)
        .expect("auto-resizing histograms of equal precision always add");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts by kind add up, and the summary names only non-zero kinds.
    #[test]
    fn error_counts_total_and_display() {
        let mut errors = ErrorCounts::default();
        assert_eq!(errors.to_string(), "none");
        errors.add(ErrorKind::Refused);
        errors.add(ErrorKind::Refused);
        errors.add(ErrorKind::Invalid);
        let mut more = ErrorCounts::default();
        more.add(ErrorKind::Timeout);
        errors.merge(&more);
        assert_eq!(errors.total(), 4);
        assert_eq!(errors.to_string(), "refused 2, timeout 1, invalid 1");
    }

    /// Shortages of this machine get kinds of their own, which are not
    /// taken as signs of a lost server.
    #[test]
    fn local_shortages_have_their_own_kinds() {
        let of = |errno| ErrorKind::of_io(&io::Error::from_raw_os_error(errno));
        assert_eq!(of(libc::EADDRNOTAVAIL), ErrorKind::NoPort);
        assert_eq!(of(libc::EMFILE), ErrorKind::NoDescriptor);
        assert_eq!(of(libc::ENFILE), ErrorKind::NoDescriptor);
        assert_eq!(of(libc::ECONNREFUSED), ErrorKind::Refused);
        assert!(ErrorKind::NoPort.is_local() && !ErrorKind::Refused.is_local());
    }

    /// Failures are counted per kind with the first text kept, across merges.
    #[test]
    fn failed_answers_count_by_kind_and_keep_the_first_text() {
        let mut mine = FailedAnswers::default();
        mine.add(FailureKind::Status(404), || "HTTP/1.1 404 Not Found".into());
        mine.add(FailureKind::Status(404), || {
            unreachable!("only the first is kept")
        });
        let mut theirs = FailedAnswers::default();
        theirs.add(FailureKind::Status(404), || "another 404".into());
        theirs.add(FailureKind::ErrorReply, || "-ERR no".into());
        theirs.note_invalid("garbage".into());
        mine.merge(&theirs);
        assert_eq!(mine.kinds.len(), 2);
        assert_eq!(mine.kinds[0].count, 3);
        assert_eq!(mine.kinds[0].first_text, "HTTP/1.1 404 Not Found");
        assert_eq!(mine.kinds[1].first_text, "-ERR no");
        assert_eq!(mine.first_invalid.as_deref(), Some("garbage"));
    }

    /// Merging intervals adds requests and histogram counts.
    #[test]
    fn interval_merge_adds_counts() {
        let mut a = Interval::new(0, true);
        a.requests = 2;
        a.latency_us.record(100).unwrap();
        let mut b = Interval::new(0, true);
        b.requests = 3;
        b.latency_us.record(5_000_000).unwrap();
        b.uncorrected_us.as_mut().unwrap().record(7).unwrap();
        a.sent = 1;
        b.sent = 2;
        a.merge(&b);
        assert_eq!(a.sent, 3);
        assert_eq!(a.requests, 5);
        assert_eq!(a.latency_us.len(), 2);
        assert!(a.latency_us.max() >= 4_990_000);
        assert_eq!(a.uncorrected_us.unwrap().len(), 1);
    }
}
