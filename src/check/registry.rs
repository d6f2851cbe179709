//! Which checks grade which service, and running them each under an
//! overall timeout, so that a check never hangs on a broken server.

use std::time::{Duration, Instant};

use super::{echo, frame, greeting, hostile, http, sized, upper, CheckResult, Failure};
use crate::engine::ListenAddr;
use crate::service::ServiceKind;

/// The longest one check may take in all, its many reads together; past
/// it the check fails with "no verdict" and `check` moves on.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// One named check.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Its name on the scorecard, e.g. `large-payload`.
    pub name: &'static str,
    /// What it shows, in a few words.
    pub summary: &'static str,
    /// Run it against a server of the given service.
    pub run: fn(&ListenAddr, ServiceKind) -> CheckResult,
}

/// The checks every stream service gets, after its own.
const HOSTILE: [Check; 4] = [
    Check {
        name: "many-clients-at-once",
        summary: "200 clients held open, all served",
        run: |addr, kind| hostile::many_clients_at_once(addr, kind, hostile::HELD_CLIENTS),
    },
    Check {
        name: "closed-clients-are-released",
        summary: "1,100 clients in turn, each closed",
        run: hostile::closed_clients_are_released,
    },
    Check {
        name: "garbage",
        summary: "random bytes answered or closed",
        run: hostile::garbage,
    },
    Check {
        name: "slow-clients",
        summary: "500 unfinished requests block no one",
        run: hostile::slow_clients_do_not_block_others,
    },
];

/// `never-reading-client`, for the services whose requests can be sent
/// in bulk.
const NEVER_READING: Check = Check {
    name: "never-reading-client",
    summary: "32 MiB sent, none read, blocks no one",
    run: hostile::never_reading_client,
};

/// A check of one service's own behaviour (it ignores the service passed).
macro_rules! own {
    ($name:literal, $summary:literal, $run:path) => {
        Check {
            name: $name,
            summary: $summary,
            run: |addr, _| $run(addr),
        }
    };
}

/// Every check that grades a server of `kind`, its own first.
pub fn checks_for(kind: ServiceKind) -> Vec<Check> {
    let own: Vec<Check> = match kind {
        ServiceKind::Echo => vec![
            own!(
                "large-payload",
                "16 MiB in one write, all back",
                echo::large_payload
            ),
            own!(
                "many-small-messages",
                "10,000 messages, each answered",
                echo::many_small_messages
            ),
            own!(
                "half-close",
                "replies after a half-close, then EOF",
                echo::replies_after_half_close
            ),
            own!(
                "reset-mid-response",
                "resets mid-reply end one connection",
                hostile::reset_mid_response
            ),
        ],
        ServiceKind::Upper => vec![
            own!(
                "partial-line",
                "a line in two writes, answered whole",
                upper::line_split_across_writes
            ),
            own!(
                "pipelined-lines",
                "lines in one write, one answer each",
                upper::lines_from_one_write
            ),
            own!(
                "invalid-utf8",
                "non-ASCII bytes pass unchanged",
                upper::invalid_utf8_passes_through
            ),
            own!(
                "half-close",
                "last line answered at half-close",
                upper::unterminated_line_at_half_close
            ),
        ],
        ServiceKind::Frame => vec![
            own!(
                "frames-whole",
                "frames up to 1 MiB, echoed whole",
                frame::each_frame_whole
            ),
            own!(
                "oversize-frame",
                "a length over 1 MiB closes one client",
                frame::oversize_length_closes_only_that_connection
            ),
            own!(
                "truncated-frame",
                "a cut frame: no answer, then EOF",
                frame::truncated_frame_is_closed
            ),
        ],
        ServiceKind::Http => vec![
            own!(
                "pipelined-gets",
                "100 pipelined GETs, in order",
                http::pipelined_gets_in_order
            ),
            own!(
                "malformed-request",
                "a bad request: 400, then a close",
                http::malformed_request_gets_400_and_close
            ),
            own!(
                "connection-close",
                "Connection: close: 200, then a close",
                http::connection_close_gets_answer_then_close
            ),
            own!(
                "oversize-header",
                "a header over 8 KiB: 431, a close",
                http::oversize_header_gets_431_and_close
            ),
        ],
        ServiceKind::Hello => vec![own!(
            "greeting",
            "Hello <peer>, then a close",
            greeting::hello_greets_then_closes
        )],
        ServiceKind::Fixed16 => vec![own!(
            "one-byte-at-a-time",
            "16 bytes sent singly, one answer",
            greeting::fixed16_one_byte_at_a_time
        )],
        ServiceKind::Discard => vec![own!(
            "half-close",
            "no answer, EOF after a half-close",
            greeting::discard_closes_after_half_close
        )],
        ServiceKind::Sized => vec![
            own!(
                "sizes-answered",
                "1, 4000, 16384 bytes asked, each answered",
                sized::sizes_answered_in_order
            ),
            own!(
                "out-of-range-closes",
                "16385 asked: closed, others served",
                sized::out_of_range_closes_only_that_connection
            ),
        ],
        ServiceKind::Length => return Vec::new(),
    };
    let bulk = matches!(
        kind,
        ServiceKind::Echo | ServiceKind::Upper | ServiceKind::Frame | ServiceKind::Http
    );
    own.into_iter()
        .chain(
            HOSTILE.into_iter().filter(|check| {
                check.name != "slow-clients" || hostile::has_unfinished_request(kind)
            }),
        )
        .chain(bulk.then_some(NEVER_READING))
        .collect()
}

/// One check's verdict.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The check that ran.
    pub check: Check,
    /// Passed, or its evidence.
    pub result: CheckResult,
    /// How long it took.
    pub elapsed: Duration,
}

/// Run every check for `kind` against `addr`, in order, each on its own
/// thread bounded by [`CHECK_TIMEOUT`]; `on_each` sees each verdict as it
/// comes. A check still running at its timeout is left behind (it ends
/// with the process) and reported as failed.
pub fn run_all(
    addr: &ListenAddr,
    kind: ServiceKind,
    mut on_each: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    checks_for(kind)
        .into_iter()
        .map(|check| {
            let started = Instant::now();
            let (done, verdict) = crossbeam_channel::bounded(1);
            let target = addr.clone();
            std::thread::spawn(move || {
                let _ = done.send((check.run)(&target, kind));
            });
            let result = verdict.recv_timeout(CHECK_TIMEOUT).unwrap_or_else(|_| {
                Err(Failure::new(
                    check.summary,
                    format!("a verdict within {CHECK_TIMEOUT:?}"),
                    "the check was still waiting on the server",
                ))
            });
            let outcome = Outcome {
                check,
                result,
                elapsed: started.elapsed(),
            };
            on_each(&outcome);
            outcome
        })
        .collect()
}
