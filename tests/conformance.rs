//! The conformance suite: one set of test bodies, run against every engine
//! over every transport.
//!
//! Each body below is a plain function taking a [`Case`] (an engine and a
//! transport) and never names an engine. The `conformance!` macro at the
//! bottom turns each body into one `#[test]` per engine and transport,
//! named `ENGINE::TRANSPORT::BODY` (e.g. `reactor::unix::echo_...`), so a
//! failure names its cell and `cargo test --test conformance reactor::`
//! runs one engine.
//!
//! - A new test: write its body here, then list it in `conformance!` (with
//!   the shared bodies, or only under the engines it applies to).
//! - A new transport: a variant of `util::Transport` and one line in
//!   `over_transports!`.

mod util;

use std::io::Write;
use std::time::Duration;

use sockbench::check::{self, hostile};
use sockbench::engine::kit::{TraceCapture, TraceSink};
use sockbench::engine::listener::{bind_tcp, bind_unix};
use sockbench::engine::{EngineConfig, ListenAddr, ListenOptions, Work};
use sockbench::service::ServiceKind::{Discard, Echo, Fixed16, Frame, Hello, Http, Sized, Upper};
use sockbench::service::{self, ServiceLimits};
use util::{assert_passes, Case, Conn, ConnExt, CostedLines, NotifyingEcho};
use util::{Transport, IO_TIMEOUT};

/// How long a client that should be kept waiting must hear nothing.
const WAITING_CLIENT_SILENCE: Duration = Duration::from_millis(300);

// The bodies below that only call a check are `sockbench check`'s own
// checks (`src/check/`), run here against every engine; the others need
// the engine in this process (its configuration, a test-only service).

// ---------------------------------------------------------------- echo

/// 16 MiB written in one `write_all` while the client reads concurrently
/// comes back byte for byte (the server must cope with partial writes).
fn echo_returns_16_mib_written_at_once(case: Case) {
    assert_passes(check::echo::large_payload(case.serve(Echo).addr()));
}

/// 10,000 small messages, each written then read back before the next,
/// come back exactly.
fn echo_answers_10000_small_messages_in_sequence(case: Case) {
    assert_passes(check::echo::many_small_messages(case.serve(Echo).addr()));
}

/// After the client half-closes, every reply still arrives, then EOF.
fn echo_flushes_every_reply_after_half_close(case: Case) {
    assert_passes(check::echo::replies_after_half_close(
        case.serve(Echo).addr(),
    ));
}

/// 1,100 clients one after another, each half-closing after its request,
/// get their echo then the server's close, and a new client is served:
/// the server releases every client that leaves.
fn echo_releases_1100_closed_clients(case: Case) {
    let server = case.serve(Echo);
    assert_passes(hostile::closed_clients_are_released(server.addr(), Echo));
}

// ---------------------------------------------------------------- upper

/// A line split across two writes is answered once, whole, upper-cased.
fn upper_joins_a_line_split_across_writes(case: Case) {
    assert_passes(check::upper::line_split_across_writes(
        case.serve(Upper).addr(),
    ));
}

/// Several lines in one write get one answer each, in order.
fn upper_answers_several_lines_from_one_write(case: Case) {
    assert_passes(check::upper::lines_from_one_write(case.serve(Upper).addr()));
}

/// Invalid UTF-8 and non-ASCII bytes pass through unchanged; only ASCII
/// letters change.
fn upper_passes_invalid_utf8_through(case: Case) {
    assert_passes(check::upper::invalid_utf8_passes_through(
        case.serve(Upper).addr(),
    ));
}

/// After a half-close, complete lines and the unterminated last one are
/// all answered, then EOF.
fn upper_answers_unterminated_line_at_half_close(case: Case) {
    assert_passes(check::upper::unterminated_line_at_half_close(
        case.serve(Upper).addr(),
    ));
}

// ---------------------------------------------------------------- hello, fixed16, discard

/// `hello` greets with exactly `Hello <peer>\n`, the peer being the
/// client's real address, then closes.
fn hello_greets_with_the_client_address_then_closes(case: Case) {
    assert_passes(check::greeting::hello_greets_then_closes(
        case.serve(Hello).addr(),
    ));
}

/// 16 bytes sent one byte per write still get `Hello World!`, then EOF.
fn fixed16_answers_16_bytes_sent_one_at_a_time(case: Case) {
    assert_passes(check::greeting::fixed16_one_byte_at_a_time(
        case.serve(Fixed16).addr(),
    ));
}

/// `discard` answers nothing to 4 MiB, and closes after the half-close.
fn discard_answers_nothing_and_closes_after_half_close(case: Case) {
    assert_passes(check::greeting::discard_closes_after_half_close(
        case.serve(Discard).addr(),
    ));
}

// ---------------------------------------------------------------- frame

/// Frames of several sizes, sent back to back, are each echoed whole.
fn frame_echoes_each_frame_whole(case: Case) {
    assert_passes(check::frame::each_frame_whole(case.serve(Frame).addr()));
}

/// A length prefix over the maximum closes that connection (after the
/// answers already due), and the server goes on serving a second client.
fn frame_oversize_length_closes_only_that_connection(case: Case) {
    let server = case.serve(Frame);
    assert_passes(check::frame::oversize_length_closes_only_that_connection(
        server.addr(),
    ));
}

// --------------------------------------------------------------- sized

/// `sized` answers 1, 4,000 and 16,384 bytes asked in one write, in order.
fn sized_answers_each_size_asked_in_order(case: Case) {
    assert_passes(check::sized::sizes_answered_in_order(
        case.serve(Sized).addr(),
    ));
}

/// A request over 16,384 bytes closes that connection after the answers
/// before it; the next client is served.
fn sized_out_of_range_closes_only_that_connection(case: Case) {
    assert_passes(check::sized::out_of_range_closes_only_that_connection(
        case.serve(Sized).addr(),
    ));
}

// ---------------------------------------------------------------- http

/// 100 pipelined GETs on one connection get 100 `200` answers; the
/// connection stays open, and a GET pipelined with a bad line gets `200`
/// then `400`, in request order.
fn http_answers_100_pipelined_gets_in_order(case: Case) {
    assert_passes(check::http::pipelined_gets_in_order(
        case.serve(Http).addr(),
    ));
}

/// A malformed request line gets `400`, then the connection is closed.
fn http_malformed_request_line_gets_400_and_close(case: Case) {
    assert_passes(check::http::malformed_request_gets_400_and_close(
        case.serve(Http).addr(),
    ));
}

/// `Connection: close` gets its `200`, then the connection is closed.
fn http_connection_close_gets_answer_then_eof(case: Case) {
    assert_passes(check::http::connection_close_gets_answer_then_close(
        case.serve(Http).addr(),
    ));
}

/// A header section over 8 KiB gets `431`, then the connection is closed.
fn http_oversize_header_gets_431_and_close(case: Case) {
    assert_passes(check::http::oversize_header_gets_431_and_close(
        case.serve(Http).addr(),
    ));
}

// ---------------------------------------------------------------- shutdown

/// A stop while a reply is being worked on (300 ms of `--work`) still
/// delivers the reply in full, then EOF, and the engine exits cleanly.
fn stop_lets_reply_in_flight_finish_then_exit(case: Case) {
    let (service, arrivals) = NotifyingEcho::new();
    let config = EngineConfig {
        work: Work::Sleep(Duration::from_millis(300)),
        ..EngineConfig::default()
    };
    let server = case.serve_with(service, config);
    let mut client = server.connect();
    let request = b"reply in flight";
    client.write_all(request).unwrap();
    let mut arrived = 0;
    while arrived < request.len() {
        arrived += arrivals
            .recv_timeout(IO_TIMEOUT)
            .expect("the server got the request");
    }
    server.stop();
    let reply = client
        .read_to_end_with_timeout()
        .expect("the reply, then EOF");
    assert_eq!(reply, request);
    server.shutdown().expect("the engine exits without error");
}

/// Bytes and end of stream that reach an already-open connection together
/// (sent while the server is busy with another client's slow request) are
/// both seen: the echo comes back, then the connection closes. An event
/// loop that took a short read for "nothing more to read" would miss the
/// end of stream behind the bytes and leave this client hanging.
fn end_of_stream_right_behind_data_is_seen(case: Case) {
    let (service, arrivals) = NotifyingEcho::new();
    let config = EngineConfig {
        work: Work::Sleep(Duration::from_millis(300)),
        ..EngineConfig::default()
    };
    let server = case.serve_with(service, config);
    let mut quick = server.connect();
    quick.write_all(b"hi").unwrap();
    quick.assert_reads(b"hi"); // `quick` is open and fully read by the server.
    let mut slow = server.connect();
    slow.write_all(b"slow").unwrap();
    // Two arrivals: "hi", then "slow", whose handling now sleeps 300 ms.
    for _ in 0..2 {
        arrivals.recv_timeout(IO_TIMEOUT).expect("request arrived");
    }
    quick.write_all(b"data").unwrap();
    quick.shutdown_write().expect("half-close");
    let reply = quick.read_to_end_with_timeout().expect("echo, then EOF");
    assert_eq!(reply, b"data");
    slow.assert_reads(b"slow");
}

// ---------------------------------------------------------------- readiness loops

/// A readiness loop asks for `WRITABLE` only while output is queued: a
/// level-triggered backend (`select`, `poll`) would otherwise report an
/// idle socket's free send buffer on every wait, and the loop would spin.
/// Small echoes are written whole at once, so three round trips leave
/// readable events in the trace and not one writable event.
fn readiness_loop_never_waits_for_writable_with_nothing_queued(case: Case) {
    let capture = TraceCapture::default();
    let config = EngineConfig {
        trace: true,
        trace_to: TraceSink::Capture(capture.clone()),
        ..EngineConfig::default()
    };
    let server = case.serve_with(service::build(Echo, ServiceLimits::default()), config);
    let mut client = server.connect();
    for message in [&b"one"[..], b"two", b"six"] {
        client.write_all(message).unwrap();
        client.assert_reads(message);
    }
    let lines = capture.take_lines();
    let readable = lines
        .iter()
        .filter(|line| line.contains("readable"))
        .count();
    assert!(
        readable >= 2,
        "{case:?}: too few readable events: {lines:?}"
    );
    assert!(
        !lines.iter().any(|line| line.contains("writable")),
        "{case:?}: writable events with nothing queued: {lines:?}"
    );
}

// ---------------------------------------------------------------- concurrency

/// Clients in the 200-client test.
const CLIENTS: usize = 200;

/// 200 clients connect first, then all send, then all read their answer
/// (last connected first) while every other connection stays open: only
/// an engine serving all 200 at once passes. `pool` ties a worker to each
/// connection for its whole life, so it gets one worker per client here;
/// what it does with fewer is `pool_makes_next_client_wait_for_a_free_worker`.
fn serves_200_held_open_clients_at_once(case: Case) {
    let config = EngineConfig {
        workers: CLIENTS,
        ..EngineConfig::default()
    };
    let server = case.serve_with(service::build(Echo, ServiceLimits::default()), config);
    assert_passes(hostile::many_clients_at_once(server.addr(), Echo, CLIENTS));
}

/// `iterative` answers a second client only once the first disconnects.
fn iterative_serves_next_client_only_after_first_leaves(case: Case) {
    next_client_waits_until_a_busy_one_leaves(case, EngineConfig::default(), 1);
}

/// With 2 workers, `pool` serves 2 connected clients and makes a third
/// wait until one of them disconnects.
fn pool_makes_next_client_wait_for_a_free_worker(case: Case) {
    let config = EngineConfig {
        workers: 2,
        ..EngineConfig::default()
    };
    next_client_waits_until_a_busy_one_leaves(case, config, 2);
}

/// With 2 children (`--processes 2`) or 2 threads (`--workers 2`), a
/// prefork or prethreaded design serves 2 connected clients and makes a
/// third wait until one of them disconnects: each worker serves one
/// connection to its end before it takes the next.
fn two_workers_make_a_third_client_wait(case: Case) {
    let config = EngineConfig {
        workers: 2,
        processes: 2,
        ..EngineConfig::default()
    };
    next_client_waits_until_a_busy_one_leaves(case, config, 2);
}

/// `busy` clients are connected and served (each gets an echo); one more
/// client's request gets no answer while they stay, and is answered as
/// soon as one of them leaves.
fn next_client_waits_until_a_busy_one_leaves(case: Case, config: EngineConfig, busy: usize) {
    let service = service::build(Echo, ServiceLimits::default());
    let server = case.serve_with(service, config);
    let mut busy_clients: Vec<Conn> = (0..busy)
        .map(|i| {
            let mut client = server.connect();
            let request = format!("busy {i}");
            client.write_all(request.as_bytes()).unwrap();
            client.assert_reads(request.as_bytes());
            client
        })
        .collect();
    let mut waiting = server.connect();
    waiting.write_all(b"waiting").unwrap();
    waiting.assert_silent_for(WAITING_CLIENT_SILENCE);
    // Still served meanwhile: the busy clients hold the server, not a stall.
    for client in &mut busy_clients {
        client.write_all(b"still here").unwrap();
        client.assert_reads(b"still here");
    }
    drop(busy_clients.remove(0));
    waiting.assert_reads(b"waiting");
}

// ---------------------------------------------------------------- several loops

/// Clients in the multi-loop stop test: enough that the kernel's hash puts
/// some on every loop (all 16 on one of 2 loops: 1 chance in 32,768).
const STOP_CLIENTS: usize = 16;

/// 16 clients, spread over the loops by `SO_REUSEPORT`, each with a reply
/// in flight (300 ms of work) when the stop comes: every reply arrives in
/// full, then EOF, and the server (every loop) exits cleanly.
fn stop_lets_every_loop_finish_its_replies(case: Case) {
    let (service, arrivals) = NotifyingEcho::new();
    let config = EngineConfig {
        work: Work::Sleep(Duration::from_millis(300)),
        ..EngineConfig::default()
    };
    let server = case.serve_with(service, config);
    let mut clients: Vec<Conn> = (0..STOP_CLIENTS).map(|_| server.connect()).collect();
    let requests: Vec<String> = (0..STOP_CLIENTS).map(|i| format!("reply {i:02}")).collect();
    for (client, request) in clients.iter_mut().zip(&requests) {
        client.write_all(request.as_bytes()).unwrap();
    }
    let mut arrived = 0;
    while arrived < requests.iter().map(String::len).sum() {
        arrived += arrivals
            .recv_timeout(IO_TIMEOUT)
            .expect("the server got every request");
    }
    server.stop();
    for (client, request) in clients.iter_mut().zip(&requests) {
        let reply = client
            .read_to_end_with_timeout()
            .expect("the reply, then EOF");
        assert_eq!(reply, request.as_bytes());
    }
    server.shutdown().expect("every loop exits without error");
}

// ---------------------------------------------------------------- offload

/// Work per unit of cost in the offload tests (`CostedLines`: `N\n` costs
/// N units).
const WORK_UNIT: Duration = Duration::from_millis(100);

/// On one pipelined connection, a request costing 3 units then one costing
/// 1 (sent once the first has been read) come back in request order, and
/// the second is not even read while the first's work is out. A loop that
/// kept reading would hand the second to another worker, which would
/// finish it first.
fn offload_answers_pipelined_requests_in_order(case: Case) {
    let (service, arrivals) = CostedLines::new();
    let config = EngineConfig {
        work: Work::Sleep(WORK_UNIT),
        workers: 4,
        ..EngineConfig::default()
    };
    let server = case.serve_with(service, config);
    let mut client = server.connect();
    client.write_all(b"3\n").unwrap();
    let (first, first_read_at) = arrivals
        .recv_timeout(IO_TIMEOUT)
        .expect("first request read");
    assert_eq!(first, b"3\n");
    // The first request's work is now out; the second follows on the wire.
    client.write_all(b"1\n").unwrap();
    let (second, second_read_at) = arrivals
        .recv_timeout(IO_TIMEOUT)
        .expect("second request read");
    assert_eq!(second, b"1\n");
    // A lower bound, safe on any machine: the first's work sleeps at least
    // this long, and the second may only be read after it.
    assert!(
        second_read_at - first_read_at >= WORK_UNIT * 3,
        "the second request was read {:?} after the first, while its work was out",
        second_read_at - first_read_at
    );
    client.assert_reads(b"3\n1\n");
}

/// While one client's slow request (20 units) is at the pool, another
/// client's quick one (1 unit) is answered: the loop is not stalled. The
/// reactor, paying work on its own thread, answers the slow one first.
fn offload_answers_others_while_one_request_works(case: Case) {
    let (service, arrivals) = CostedLines::new();
    let config = EngineConfig {
        work: Work::Sleep(WORK_UNIT),
        workers: 4,
        ..EngineConfig::default()
    };
    let server = case.serve_with(service, config);
    let mut slow = server.connect();
    slow.write_all(b"20\n").unwrap();
    arrivals
        .recv_timeout(IO_TIMEOUT)
        .expect("slow request read");
    let mut quick = server.connect();
    quick.write_all(b"1\n").unwrap();
    quick.assert_reads(b"1\n");
    slow.assert_silent_for(Duration::from_millis(1));
    slow.assert_reads(b"20\n");
}

// ---------------------------------------------------------------- uring

/// Clients in the empty-buffer-ring test, and the uring loop's receive
/// buffers there: far fewer buffers than clients.
const RING_DRY_CLIENTS: usize = 200;
const RING_DRY_BUFFERS: u16 = 8;

/// 200 connected clients each send a few lines while the loop is busy
/// with another client's slow request (300 ms of work on the loop
/// thread), against a ring of 8 receive buffers. When the loop next
/// enters the kernel the receives complete together: a few find a buffer,
/// the rest find the ring empty (`ENOBUFS`), which ends their multishot
/// receive. Each must be re-armed once buffers come back, and every client
/// gets exactly its lines back; a receive left unarmed would leave its
/// client waiting until the test's timeout.
fn uring_empty_buffer_ring_loses_nothing(case: Case) {
    let (service, arrivals) = CostedLines::new();
    let config = EngineConfig {
        work: Work::Sleep(Duration::from_millis(300)),
        ring_buffers: RING_DRY_BUFFERS,
        ..EngineConfig::default()
    };
    let server = case.serve_with(service, config);
    let mut clients: Vec<Conn> = (0..RING_DRY_CLIENTS)
        .map(|_| {
            let mut client = server.connect();
            client.write_all(b"0\n").unwrap();
            client.assert_reads(b"0\n");
            client
        })
        .collect();
    for _ in 0..RING_DRY_CLIENTS {
        arrivals
            .recv_timeout(IO_TIMEOUT)
            .expect("warm-up line read");
    }
    let mut slow = server.connect();
    slow.write_all(b"1\n").unwrap();
    arrivals
        .recv_timeout(IO_TIMEOUT)
        .expect("slow request read");
    // The loop now sleeps 300 ms: every line below waits for it.
    let lines = |i: usize| b"0\n".repeat(1 + i % 3);
    for (i, client) in clients.iter_mut().enumerate() {
        client.write_all(&lines(i)).unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        client.assert_reads(&lines(i));
    }
    slow.assert_reads(b"1\n");
}

// ---------------------------------------------------------------- listener

/// A second listener on an address in use fails with a message saying so,
/// on every transport.
#[test]
fn second_bind_on_same_address_fails_with_in_use() {
    for transport in Transport::ALL {
        let first = transport.bind().expect("first bind");
        let second = match first.local_addr().unwrap() {
            ListenAddr::Tcp(addr) => bind_tcp(addr, ListenOptions::default()),
            ListenAddr::Unix(path) => bind_unix(&path, ListenOptions::default()),
            ListenAddr::Udp(addr) => panic!("a listener is a stream socket, not UDP {addr}"),
        };
        let err = second.expect_err("second bind on the same address");
        assert!(err.to_string().contains("in use"), "{transport:?}: {err}");
    }
}

// ---------------------------------------------------------------- the matrix

/// For one engine, a module per transport holding one `#[test]` per body.
/// With `loops N`, the engine runs N event loops on `SO_REUSEPORT`
/// listeners: TCP only, since a Unix socket has no port to share.
macro_rules! over_transports {
    ($engine:expr => $($body:ident),+ $(,)?) => {
        over_transports!(@one tcp4, Tcp4, $engine, 1 => $($body),+);
        over_transports!(@one tcp6, Tcp6, $engine, 1 => $($body),+);
        over_transports!(@one unix, Unix, $engine, 1 => $($body),+);
    };
    ($engine:expr, loops $loops:literal => $($body:ident),+ $(,)?) => {
        over_transports!(@one tcp4, Tcp4, $engine, $loops => $($body),+);
        over_transports!(@one tcp6, Tcp6, $engine, $loops => $($body),+);
    };
    (@one $module:ident, $transport:ident, $engine:expr, $loops:literal => $($body:ident),+) => {
        mod $module {
            $(
                #[doc = concat!("Runs `", stringify!($body), "` on this engine and transport.")]
                #[test]
                fn $body() {
                    if crate::util::is_unavailable($engine) {
                        return;
                    }
                    let _table = crate::util::hold_descriptor_table($engine);
                    crate::$body(crate::util::Case {
                        engine: $engine,
                        transport: crate::util::Transport::$transport,
                        loops: $loops,
                    });
                }
            )+
        }
    };
}

/// Every engine runs the shared bodies, listed once here, plus its own.
/// `ENGINE x N` runs the engine with N loops (`--loops N`).
macro_rules! conformance {
    ($($module:ident: $engine:ident $(x $loops:literal)? => [$($own:ident),* $(,)?];)+) => {
        $(
            mod $module {
                over_transports!(sockbench::engine::EngineKind::$engine $(, loops $loops)? =>
                    echo_returns_16_mib_written_at_once,
                    echo_answers_10000_small_messages_in_sequence,
                    echo_flushes_every_reply_after_half_close,
                    echo_releases_1100_closed_clients,
                    upper_joins_a_line_split_across_writes,
                    upper_answers_several_lines_from_one_write,
                    upper_passes_invalid_utf8_through,
                    upper_answers_unterminated_line_at_half_close,
                    hello_greets_with_the_client_address_then_closes,
                    fixed16_answers_16_bytes_sent_one_at_a_time,
                    discard_answers_nothing_and_closes_after_half_close,
                    frame_echoes_each_frame_whole,
                    frame_oversize_length_closes_only_that_connection,
                    sized_answers_each_size_asked_in_order,
                    sized_out_of_range_closes_only_that_connection,
                    http_answers_100_pipelined_gets_in_order,
                    http_malformed_request_line_gets_400_and_close,
                    http_connection_close_gets_answer_then_eof,
                    http_oversize_header_gets_431_and_close,
                    $($own),*
                );
            }
        )+
    };
}

conformance! {
    iterative: Iterative => [
        stop_lets_reply_in_flight_finish_then_exit,
        iterative_serves_next_client_only_after_first_leaves,
    ];
    threaded: Threaded => [
        stop_lets_reply_in_flight_finish_then_exit,
        serves_200_held_open_clients_at_once,
        end_of_stream_right_behind_data_is_seen,
    ];
    pool: Pool => [
        stop_lets_reply_in_flight_finish_then_exit,
        serves_200_held_open_clients_at_once,
        pool_makes_next_client_wait_for_a_free_worker,
        end_of_stream_right_behind_data_is_seen,
    ];
    select: Select => [
        stop_lets_reply_in_flight_finish_then_exit,
        serves_200_held_open_clients_at_once,
        end_of_stream_right_behind_data_is_seen,
        readiness_loop_never_waits_for_writable_with_nothing_queued,
    ];
    poll: Poll => [
        stop_lets_reply_in_flight_finish_then_exit,
        serves_200_held_open_clients_at_once,
        end_of_stream_right_behind_data_is_seen,
        readiness_loop_never_waits_for_writable_with_nothing_queued,
    ];
    reactor: Reactor => [
        stop_lets_reply_in_flight_finish_then_exit,
        serves_200_held_open_clients_at_once,
        end_of_stream_right_behind_data_is_seen,
        readiness_loop_never_waits_for_writable_with_nothing_queued,
    ];
    reactor_x2: Reactor x 2 => [
        stop_lets_reply_in_flight_finish_then_exit,
        serves_200_held_open_clients_at_once,
        end_of_stream_right_behind_data_is_seen,
        stop_lets_every_loop_finish_its_replies,
    ];
    offload: Offload => [
        stop_lets_reply_in_flight_finish_then_exit,
        serves_200_held_open_clients_at_once,
        end_of_stream_right_behind_data_is_seen,
        offload_answers_pipelined_requests_in_order,
        offload_answers_others_while_one_request_works,
    ];
    uring: Uring => [
        stop_lets_reply_in_flight_finish_then_exit,
        serves_200_held_open_clients_at_once,
        end_of_stream_right_behind_data_is_seen,
        uring_empty_buffer_ring_loses_nothing,
    ];
    // Stevens' designs. The process designs' children cannot reach this
    // process's test-only channels (`NotifyingEcho`), so their stop with a
    // reply in flight is tested on the real binary (tests/designs.rs).
    fork: Fork => [serves_200_held_open_clients_at_once];
    prefork_accept: PreforkAccept => [two_workers_make_a_third_client_wait];
    prefork_flock: PreforkFlock => [two_workers_make_a_third_client_wait];
    prefork_mutex: PreforkMutex => [two_workers_make_a_third_client_wait];
    prefork_pass: PreforkPass => [two_workers_make_a_third_client_wait];
    prethreaded_mutex: PrethreadedMutex => [
        stop_lets_reply_in_flight_finish_then_exit,
        end_of_stream_right_behind_data_is_seen,
        two_workers_make_a_third_client_wait,
    ];
}
