//! sockbench: the socket-programming lecture, made real and measurable.
//!
//! One sans-IO [`service::Service`] per protocol, eight interchangeable server
//! engines that run any of them, a load generator that drives them, and a
//! comparison that turns the difference between concurrency models into
//! numbers, tables and plots.
//!
//! # Layout
//! - [`service`]: the whole sans-IO layer: the protocols as state machines
//!   (`echo`, `upper`, `hello`, `fixed16`, `discard`, `frame`, `http`,
//!   `length`) and the session driver every engine uses
//!   ([`service::buffered`]: the unconsumed input, the unsent output, the
//!   "may it read now?" rule, the idle and slowloris timers, handed `now`).
//!   No sockets, no clock; it imports nothing from [`engine`].
//! - [`check`]: `sockbench check`: the conformance and hostile-client
//!   checks, each a named function grading a server at an address; the
//!   same functions `tests/conformance.rs` and `tests/hardening.rs` run
//!   against every engine.
//! - [`engine`]: one file per concurrency model (`iterative`, `threaded`,
//!   `pool`, `select`, `poll`, `reactor`, `offload`, `uring`, and the UDP
//!   pair), plus what they share, so that no engine imports another: the
//!   readiness loop's backends ([`engine::readiness`]: `select`, `poll`
//!   and `reactor` are one loop over three waiting calls), the kit
//!   ([`engine::kit`]: accept back-off, the connection cap, panic
//!   containment, the event loops' deadlines, the `--trace` sink), listener
//!   setup ([`engine::listener`]), simulated work and the pool that pays it
//!   ([`engine::work`]), and the io_uring plumbing ([`engine::ring`]).
//!   `docs/ONE-REQUEST.md` follows one request through `reactor` and
//!   `uring`.
//! - [`external`]: servers we did not write, started from a user's command
//!   (`{port}`, `{addr}`, `{unix}` filled in), ready when they accept, and
//!   stopped with their whole process group.
//! - [`io_util`]: socket helpers the engines and the load generator share
//!   (`would_block`, `interrupted`, mio source forwarding), owned by neither.
//! - [`demo`]: lecture demonstrations (`sockbench demo NAME`), one file
//!   each, each returning what it measured.
//! - [`udp_client`]: the notes' UDP client (connected socket, timeout,
//!   exponential backoff); the UDP engines are `engine::udp_iterative` and
//!   `engine::udp_reactor`.
//! - [`load`]: `sockbench load`: the load generator (closed or open loop,
//!   answers validated, HdrHistogram latencies). One collector
//!   (`load/mod.rs`) follows a run's per-second intervals from its source:
//!   this process's load threads (`load/threads.rs`, each a mio loop in
//!   `load/worker/`: the loop, the connection, its timers), or several
//!   generator processes ([`load::processes`]).
//! - [`compare`]: `sockbench compare`: every engine plus the `tokio` and
//!   `epoll-raw` reference servers (`examples/`) under one load matrix, to
//!   CSV, a machine file, a terminal table and SVG plots; split into the
//!   contenders and how each is started ([`compare::matrix`],
//!   [`compare::launch`]), a pure plan of the runs ([`compare::plan`]),
//!   the runner that starts, limits and stops servers and runs cells
//!   ([`compare::runner`]), and the text, tables and files.
//! - [`live`]: `--live`, a full-screen terminal view of `load` and
//!   `compare` as they run, fed the load's per-second intervals.
//! - [`sys`]: what sockbench asks of the operating system, in one place:
//!   `/proc` readers ([`sys::proc`]), a server run as a child process
//!   ([`sys::process`]), what a window of work cost the kernel (system
//!   calls through a perf tracepoint, context switches: [`sys::counters`]),
//!   the kernel's listen-queue and socket-memory counters
//!   ([`sys::netstat`]), CPU-quota cgroups ([`sys::cgroup`]), the
//!   open-file limit ([`sys::limits`]) and core pinning ([`sys::sched`]).
//! - [`cli`]: the `sockbench` command's subcommands, one module each (`serve
//!   --processes N`'s prefork supervisor is a mode of serve,
//!   [`cli::serve::prefork`]); `src/main.rs` only parses and dispatches.

#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod check;
pub mod cli;
pub mod compare;
pub mod demo;
pub mod engine;
pub mod external;
pub mod io_util;
pub mod live;
pub mod load;
pub mod service;
pub mod sys;
pub mod udp_client;
