//! Every lecture demo, run small, asserting the effect its narrative claims.
//! Claims compare measurements from the same run (ratios, generous margins),
//! never absolute timings. The demos run one at a time (thread and memory
//! counts are per process), each narrating into a buffer that must fit a
//! projector: no line wider than 80 columns, no step longer than a screen.
//! (The engines' own `--trace` lines go straight to standard output and
//! are not seen here.)

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::Duration;

use sockbench::demo::{self, *};
use sockbench::engine::EngineKind;
use sockbench::udp_client::{Backoff, RequestError};

/// Demos read process-wide counters: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Run one demo, narrating into a buffer, and fail if the narrative does
/// not fit a projector; returns the demo's report and its narrative.
fn narrated<T>(demo: &str, run: impl FnOnce(&mut dyn Write) -> io::Result<T>) -> (T, String) {
    let mut out = Vec::new();
    let report = run(&mut out).unwrap_or_else(|err| panic!("{demo}: {err}"));
    let text = String::from_utf8(out).expect("the narrative is UTF-8");
    assert_fits_screen(demo, &text);
    (report, text)
}

/// No line of `text` wider than [`SCREEN_COLUMNS`] characters, no step
/// (lines between blank lines) longer than [`SCREEN_LINES`].
fn assert_fits_screen(demo: &str, text: &str) {
    assert!(!text.trim().is_empty(), "{demo} printed nothing");
    for line in text.lines() {
        let columns = line.chars().count();
        assert!(
            columns <= SCREEN_COLUMNS,
            "{demo}: a line of {columns} columns (at most {SCREEN_COLUMNS}):\n{line}"
        );
    }
    for step in text.split("\n\n") {
        let lines = step.lines().count();
        assert!(
            lines <= SCREEN_LINES,
            "{demo}: a step of {lines} lines (at most {SCREEN_LINES}):\n{step}"
        );
    }
}

/// `demo --list` fits the screen too, one line per demo.
#[test]
fn demo_list_fits_the_screen() {
    let mut out = Vec::new();
    demo::write_list(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), DEMOS.len());
    assert_fits_screen("--list", &text);
}

/// Every listed demo has a runner, and an unknown name is an error naming them.
#[test]
fn every_listed_demo_is_known() {
    let err = demo::run("no-such-demo", &mut io::sink()).unwrap_err();
    for info in DEMOS {
        assert!(
            err.to_string().contains(info.name),
            "{} missing from {err}",
            info.name
        );
    }
}

/// iterative-vs-concurrent: B waits for idle A on iterative only.
#[test]
fn demo_iterative_vs_concurrent() {
    let _one = serial();
    let params = iterative_vs_concurrent::Params {
        idle: Duration::from_millis(400),
    };
    let (report, _) = narrated("iterative-vs-concurrent", |out| {
        iterative_vs_concurrent::run(&params, out)
    });
    for (engine, waited) in report.second_client_wait {
        if engine == EngineKind::Iterative {
            assert!(
                waited >= params.idle * 9 / 10,
                "iterative answered B after only {waited:?}"
            );
        } else {
            assert!(waited < params.idle / 4, "{engine} made B wait {waited:?}");
        }
    }
}

/// select-loop: three clients answered by one added thread.
#[test]
fn demo_select_loop() {
    let _one = serial();
    let (report, _) = narrated("select-loop", select_loop::run);
    assert_eq!(
        report.answers,
        [&b"LINE FROM C\n"[..], b"LINE FROM A\n", b"LINE FROM B\n"]
    );
    // One reactor thread; the harness may start one test thread meanwhile.
    assert!(
        (1..=2).contains(&report.threads_added),
        "added {}",
        report.threads_added
    );
    // The trace was captured: three accepts and three closes, on one loop.
    let count = |what: &str| report.trace.iter().filter(|l| l.contains(what)).count();
    assert_eq!(
        (count("accept"), count("closed")),
        (3, 3),
        "{:?}",
        report.trace
    );
}

/// threads-vs-events: measured in a server process of its own each,
/// threaded adds a thread per connection and more memory per connection
/// than the reactor, which adds about no thread.
#[test]
fn demo_threads_vs_events() {
    let _one = serial();
    let params = threads_vs_events::Params {
        connections: 200,
        server_exe: env!("CARGO_BIN_EXE_sockbench").into(),
    };
    let (report, out) = narrated("threads-vs-events", |out| {
        threads_vs_events::run(&params, out)
    });
    assert!(
        out.contains("kernel slab"),
        "the socket structures shown: {out}"
    );
    assert_eq!(report.connections, 200);
    let threaded = report.costs[0];
    let reactor = report.costs[1];
    assert_eq!(
        (threaded.engine, reactor.engine),
        (EngineKind::Threaded, EngineKind::Reactor)
    );
    assert!(
        threaded.threads_added >= 200,
        "threaded added {}",
        threaded.threads_added
    );
    assert!(
        reactor.threads_added <= 2,
        "reactor added {}",
        reactor.threads_added
    );
    // A thread's stack and kernel task against a slab entry, each in a
    // process of its own: measured in one process, the reactor reused the
    // heap threaded had freed and showed nothing at all.
    assert!(
        reactor.rss_added_kib > 0,
        "the reactor's connections cost nothing?"
    );
    assert!(
        threaded.rss_added_kib > reactor.rss_added_kib,
        "threaded +{} KiB, reactor +{} KiB",
        threaded.rss_added_kib,
        reactor.rss_added_kib
    );
}

/// partial-io: sends coalesce, a big send splits, a non-blocking send is partial.
#[test]
fn demo_partial_io() {
    let _one = serial();
    let params = partial_io::Params {
        big_send_bytes: 4 * 1024 * 1024,
        recv_buffer_bytes: 64 * 1024,
    };
    let (report, _) = narrated("partial-io", |out| partial_io::run(&params, out));
    assert_eq!(report.first_recv_bytes, report.small_sends_bytes);
    assert!(report.big_recv_calls > 1);
    assert!(report.nonblocking_send_bytes < params.big_send_bytes);
}

/// framing: unframed messages coalesce; framed ones come back as two.
#[test]
fn demo_framing() {
    let _one = serial();
    let (report, _) = narrated("framing", framing::run);
    assert_eq!(report.unframed_first_recv, b"hithere");
    assert_eq!(report.framed_messages, [b"hi".to_vec(), b"there".to_vec()]);
}

/// half-close: the partial line is answered after the client's shutdown(Write).
#[test]
fn demo_half_close() {
    let _one = serial();
    let (report, _) = narrated("half-close", half_close::run);
    assert_eq!(report.answer_after_shutdown, b"LAST WORDS, NO NEWLINE");
}

/// backlog: backlog + 1 handshakes complete while the server is busy; the rest stall; the queued are served later.
#[test]
fn demo_backlog() {
    let _one = serial();
    let params = backlog::Params {
        backlog: 1,
        waiting_clients: 4,
        connect_timeout: Duration::from_millis(300),
    };
    let (report, out) = narrated("backlog", |out| backlog::run(&params, out));
    assert!(out.contains("backlog + 1"), "the narrative says why: {out}");
    let completed = report.connects.iter().filter(|(ok, _)| *ok).count();
    assert!(completed >= 1, "no handshake completed");
    assert!(
        completed < params.waiting_clients,
        "no connect stalled: {:?}",
        report.connects
    );
    assert!(report.connects[0].0, "the first waiting client is queued");
    assert_eq!(report.served_after_release, completed);
}

/// reuseaddr: without SO_REUSEADDR the restart fails AddrInUse, with it it binds.
#[test]
fn demo_reuseaddr() {
    let _one = serial();
    let (report, _) = narrated("reuseaddr", reuseaddr::run);
    assert!(report.time_wait_on_port >= 1);
    assert_eq!(report.without_reuseaddr, Err(io::ErrorKind::AddrInUse));
    assert_eq!(report.with_reuseaddr, Ok(()));
}

/// thundering-herd: five cases of 4 waiters; each accepts the one
/// connection exactly once; blocking `accept` wakes one waiter; plain epoll
/// on a shared listener wakes more than one in at least one of 3 tries.
#[test]
fn demo_thundering_herd() {
    let _one = serial();
    let params = thundering_herd::Params::default();
    let mut plain_epoll_woke = Vec::new();
    for _ in 0..3 {
        let (report, text) = narrated("thundering-herd", |out| thundering_herd::run(&params, out));
        let waits: Vec<_> = report.cases.iter().map(|case| case.wait).collect();
        assert_eq!(waits, thundering_herd::Wait::ALL, "{text}");
        for case in &report.cases {
            assert_eq!(case.waiters, params.waiters, "{text}");
            assert_eq!(case.accepted, 1, "{:?}: {text}", case.wait);
            assert!(case.woke >= 1, "{:?}: nobody woke: {text}", case.wait);
        }
        let woke = |wait| report.cases.iter().find(|c| c.wait == wait).unwrap().woke;
        assert_eq!(woke(thundering_herd::Wait::Accept), 1, "{text}");
        plain_epoll_woke.push(woke(thundering_herd::Wait::Epoll));
        if plain_epoll_woke.last() > Some(&1) {
            return;
        }
    }
    panic!("plain epoll woke one waiter in every try: {plain_epoll_woke:?}");
}

/// udp-loss: 30% drop forces retries yet every request is answered; give-up and refused cases fail as narrated.
#[test]
fn demo_udp_loss() {
    let _one = serial();
    let params = udp_loss::Params {
        requests: 10,
        drop_probability: 0.3,
        seed: 2024,
        backoff: Backoff {
            initial: Duration::from_millis(20),
            max_wait: Duration::from_millis(320),
        },
    };
    let (report, _) = narrated("udp-loss", |out| udp_loss::run(&params, out));
    assert_eq!(report.answered, 10);
    assert!(report.retries > 0);
    assert!(
        matches!(
            report.silent_server,
            RequestError::NoAnswer { attempts: 5, .. }
        ),
        "{}",
        report.silent_server
    );
    assert!(report
        .silent_server
        .to_string()
        .starts_with("no answer: the server may be down"));
    assert!(
        matches!(report.no_server, RequestError::Refused { .. }),
        "{}",
        report.no_server
    );
}

/// blocking-work: sleeping requests serialise on the reactor, not on threads or offload's pool; CPU work stops scaling, offloaded or not.
#[test]
fn demo_blocking_work() {
    let _one = serial();
    let params = blocking_work::Params {
        sleep: Duration::from_millis(40),
        clients: 4,
        cpu: Duration::from_millis(1),
        cpu_requests: 400,
    };
    let (report, _) = narrated("blocking-work", |out| blocking_work::run(&params, out));
    let slowest = |engine| {
        report
            .slowest_wait
            .iter()
            .find(|(e, _)| *e == engine)
            .unwrap()
            .1
    };
    let reactor = slowest(EngineKind::Reactor);
    for engine in [EngineKind::Offload, EngineKind::Threaded, EngineKind::Pool] {
        assert!(
            reactor >= slowest(engine) * 2,
            "reactor {reactor:?} vs {engine} {:?}",
            slowest(engine)
        );
    }
    let (few, many) = (report.cpu_throughput[0].1, report.cpu_throughput[1].1);
    // Four times the client threads, nowhere near four times the throughput.
    assert!(many < few * 2.0, "{} -> {} requests/s", few, many);
    // Offloading CPU work gains at most the cores there are.
    let [(_, reactor_rate), (_, offload_rate)] = report.cpu_offload[..] else {
        panic!("reactor and offload rates: {:?}", report.cpu_offload)
    };
    assert!(
        offload_rate < reactor_rate * (report.cores as f64 + 1.0),
        "reactor {reactor_rate:.0} -> offload {offload_rate:.0} requests/s on {} cores",
        report.cores
    );
}

/// multi-loop: both loop counts run for both work settings, each rate
/// measured (no speed is asserted: the cores are shared with the clients
/// and with whatever else runs on the machine).
#[test]
fn demo_multi_loop() {
    let _one = serial();
    let params = multi_loop::Params {
        clients: 4,
        requests: 50,
        cpu: Duration::from_micros(200),
    };
    let (report, out) = narrated("multi-loop", |out| multi_loop::run(&params, out));
    let runs: Vec<usize> = report.rates.iter().map(|(_, loops, _)| *loops).collect();
    assert_eq!(runs, [1, 2, 1, 2]);
    assert!(report.rates.iter().all(|(_, _, rate)| *rate > 0.0));
    assert!(out.contains(&format!("{} core(s)", report.cores)), "{out}");
}

/// readiness-vs-completion: both engines answer the three clients, and
/// uring's server needs fewer system calls per request than the reactor's
/// (measured here: 0.29x to 0.51x over five runs; asserted below 0.8x,
/// while one io_uring_enter per submission and one per completion, with
/// no batching at all, would still be about 2/3 of the reactor's 3).
#[test]
fn demo_readiness_vs_completion() {
    let _one = serial();
    if let Err(err) = sockbench::engine::uring::probe() {
        eprintln!("skipped: {err}");
        return;
    }
    let params = readiness_vs_completion::Params {
        rounds: 500,
        server_exe: env!("CARGO_BIN_EXE_sockbench").into(),
        ..Default::default()
    };
    let (report, _) = narrated("readiness-vs-completion", |out| {
        readiness_vs_completion::run(&params, out)
    });
    for (engine, answers) in &report.answers {
        let expected: Vec<Vec<u8>> = ["A", "B", "C"]
            .iter()
            .map(|name| format!("LINE FROM {name}\n").into_bytes())
            .collect();
        assert_eq!(answers, &expected, "{engine}");
    }
    let costs = match report.costs {
        Ok(costs) => costs,
        Err(reason) => {
            eprintln!("skipped the system-call claim: {reason}");
            return;
        }
    };
    let [reactor, uring] = costs[..] else {
        panic!("two engines measured: {costs:?}");
    };
    assert_eq!(
        (reactor.engine, uring.engine),
        (EngineKind::Reactor, EngineKind::Uring)
    );
    assert_eq!(uring.requests, reactor.requests);
    assert!(
        uring.per_request() < 0.8 * reactor.per_request(),
        "system calls per request: uring {:.2}, reactor {:.2}",
        uring.per_request(),
        reactor.per_request()
    );
}

/// idle-connections: every run served its busy clients while the server
/// held the idle connections too (its own socket count), and the
/// reactor's CPU per request did not grow with them past a generous
/// margin (epoll returns only the ready descriptors), while poll's grew
/// more than twice as much as the reactor's (it scans every descriptor on
/// every call).
#[test]
fn demo_idle_connections() {
    let _one = serial();
    let params = idle_connections::Params {
        idle_counts: [0, 1_000],
        active: 8,
        duration: Duration::from_millis(600),
        server_exe: env!("CARGO_BIN_EXE_sockbench").into(),
    };
    let (report, text) = narrated("idle-connections", |out| {
        idle_connections::run(&params, out)
    });
    assert_eq!(report.rows.len(), 4);
    for row in &report.rows {
        assert_eq!(row.outcome, "finished", "{row:?}");
        assert!(row.requests > 0, "{row:?}");
        let sockets = row
            .server_sockets
            .expect("the server's sockets are counted");
        assert!(sockets > row.idle + 8, "{row:?}");
    }
    let reactor = report
        .growth(EngineKind::Reactor)
        .expect("both reactor runs answered");
    assert!(
        reactor < 2.0,
        "the reactor's CPU per request grew {reactor:.2}x"
    );
    let poll = report
        .growth(EngineKind::Poll)
        .expect("both poll runs answered");
    assert!(
        poll > 2.0 * reactor,
        "poll's CPU per request grew {poll:.2}x, the reactor's {reactor:.2}x"
    );
    assert!(text.contains("src/engine/poll.rs"), "{text}");
    assert!(text.contains("src/engine/reactor.rs"), "{text}");
}
