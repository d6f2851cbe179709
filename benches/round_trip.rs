//! Loopback round trips through each engine: the whole stack, sockets and
//! threads included, on 127.0.0.1.
//!
//! Set-up, never timed: the engine is started in this process on
//! `127.0.0.1:0` serving `echo`, and every client connection is opened
//! (with `TCP_NODELAY`) before measuring starts.
//!
//! - `round_trip/ENGINE/64B` (latency at 1 connection): one iteration is
//!   one round trip on one blocking connection, `write_all` of 64 bytes then
//!   `read_exact` of the 64-byte answer, which is asserted equal to what was
//!   sent. The time per iteration is the round-trip latency.
//! - `round_trip/ENGINE/64B-64conns` (throughput at 64 connections): 64
//!   client threads, each with its own connection, wait for work. One
//!   `iter_custom` call hands them the iteration count, split evenly, and
//!   is timed from handing it out until the last thread reports back; each
//!   iteration is one asserted 64-byte round trip. Throughput is in round
//!   trips (`Throughput::Elements(1)` per iteration). `pool` runs with 64
//!   workers here, since a pool worker holds its connection for the
//!   connection's life. `iterative` is not run at 64 connections: it serves
//!   one connection until that client leaves, so 63 clients would wait for
//!   ever; `sockbench compare` shows that case with timeouts instead.
//!
//! - `round_trip/uring/...`: the io_uring completion loop, as every
//!   engine, one ring on one thread.
//! - `round_trip/reactor-x2/...`: the reactor with two loops (`--loops
//!   2`), each on its own `SO_REUSEPORT` listener; the 64 connections are
//!   spread over the loops by the kernel. (`offload` without work is the
//!   reactor; prefork needs processes and is measured by `compare`.)
//!
//! Measurement is kept short (2 s per bench) so `cargo bench --bench
//! round_trip` is usable on a small machine; concurrency sweeps belong to
//! `sockbench compare`, not to criterion.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_channel::{unbounded, Receiver, Sender};
use sockbench::engine::{self, EngineConfig, EngineKind, ListenOptions, Server};
use sockbench::service::{self, ServiceKind, ServiceLimits};

/// Bytes per request (and per answer: echo).
const MESSAGE_BYTES: usize = 64;
/// Client connections of the throughput bench.
const CONNECTIONS: usize = 64;

/// One server under bench: an engine with some event loops.
#[derive(Debug, Clone, Copy)]
struct Setup {
    kind: EngineKind,
    loops: usize,
}

impl Setup {
    /// The bench id's first part: `reactor`, or `reactor-x2` for 2 loops.
    fn name(self) -> String {
        match self.loops {
            1 => self.kind.name().to_string(),
            n => format!("{}-x{n}", self.kind.name()),
        }
    }
}

/// Start `setup` serving echo on a free loopback port.
fn start_echo(setup: Setup, workers: usize) -> Server {
    let listeners = engine::listener::bind_tcp_group(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ListenOptions::default(),
        setup.loops,
    )
    .expect("bind 127.0.0.1:0");
    let config = EngineConfig {
        workers,
        ..EngineConfig::default()
    };
    let echo = service::build(ServiceKind::Echo, ServiceLimits::default());
    engine::start_loops(setup.kind, listeners, echo, config).expect("start the engine")
}

/// A connected client with Nagle off, so each small write leaves at once.
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to the bench server");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
}

/// One asserted round trip.
fn round_trip(stream: &mut TcpStream, request: &[u8], answer: &mut [u8]) {
    stream.write_all(request).expect("send the request");
    stream.read_exact(answer).expect("read the answer");
    assert_eq!(answer, request, "echo answered different bytes");
}

/// A request whose bytes differ, so a misplaced answer would show.
fn request() -> [u8; MESSAGE_BYTES] {
    std::array::from_fn(|i| b'a' + (i % 26) as u8)
}

/// Latency at one connection: one round trip per iteration.
fn latency(c: &mut Criterion, setup: Setup) {
    let server = start_echo(setup, engine::default_workers());
    let mut stream = connect(server.tcp_addr().expect("a TCP server"));
    let request = request();
    let mut answer = [0u8; MESSAGE_BYTES];
    let mut group = c.benchmark_group("round_trip");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new(setup.name(), "64B"), |b| {
        b.iter(|| round_trip(&mut stream, &request, &mut answer))
    });
    group.finish();
    drop(stream);
    server.shutdown().expect("server stops cleanly");
}

/// Client threads, each with its own connection, doing round trips on demand.
struct Clients {
    jobs: Vec<Sender<u64>>,
    done: Receiver<()>,
    threads: Vec<JoinHandle<()>>,
}

impl Clients {
    /// Connect `count` clients to `addr`, each on its own waiting thread.
    fn connect(addr: SocketAddr, count: usize) -> Clients {
        let (done_tx, done) = unbounded();
        let mut jobs = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for _ in 0..count {
            let (job_tx, job_rx) = unbounded::<u64>();
            let done_tx = done_tx.clone();
            let mut stream = connect(addr);
            threads.push(std::thread::spawn(move || {
                let request = request();
                let mut answer = [0u8; MESSAGE_BYTES];
                for round_trips in job_rx {
                    for _ in 0..round_trips {
                        round_trip(&mut stream, &request, &mut answer);
                    }
                    done_tx.send(()).expect("the bench is waiting");
                }
            }));
            jobs.push(job_tx);
        }
        Clients {
            jobs,
            done,
            threads,
        }
    }

    /// Do `round_trips` in total across the clients; the time it took.
    fn run(&self, round_trips: u64) -> Duration {
        let count = self.jobs.len() as u64;
        let start = Instant::now();
        for (i, job) in self.jobs.iter().enumerate() {
            let share = round_trips / count + u64::from((i as u64) < round_trips % count);
            job.send(share).expect("client thread alive");
        }
        for _ in 0..self.jobs.len() {
            self.done.recv().expect("client thread finished its share");
        }
        start.elapsed()
    }

    /// Close the connections and wait for the threads.
    fn finish(self) {
        drop(self.jobs);
        for thread in self.threads {
            thread.join().expect("client thread did not panic");
        }
    }
}

/// Throughput at 64 connections: round trips per second.
fn throughput(c: &mut Criterion, setup: Setup) {
    // A pool worker holds its connection for life: give each one a worker.
    let server = start_echo(setup, CONNECTIONS);
    let clients = Clients::connect(server.tcp_addr().expect("a TCP server"), CONNECTIONS);
    let mut group = c.benchmark_group("round_trip");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        BenchmarkId::new(setup.name(), format!("64B-{CONNECTIONS}conns")),
        |b| b.iter_custom(|round_trips| clients.run(round_trips)),
    );
    group.finish();
    clients.finish();
    server.shutdown().expect("server stops cleanly");
}

/// Every engine, and the reactor with two loops: latency at 1 connection,
/// throughput at 64 (not iterative).
fn round_trips(c: &mut Criterion) {
    let setups = EngineKind::ALL
        .into_iter()
        .map(|kind| Setup { kind, loops: 1 })
        .chain([Setup {
            kind: EngineKind::Reactor,
            loops: 2,
        }]);
    for setup in setups {
        if setup.kind == EngineKind::Uring {
            if let Err(err) = engine::uring::probe() {
                eprintln!("round_trip/uring: not run: {err}");
                continue;
            }
        }
        latency(c, setup);
        if setup.kind != EngineKind::Iterative {
            throughput(c, setup);
        }
    }
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
