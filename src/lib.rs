//! sockbench: the socket-programming lecture, made real and measurable.
//!
//! One sans-IO [`service::Service`] per protocol, six interchangeable server
//! engines that run any of them, a load generator that drives them, and a
//! comparison that turns the difference between concurrency models into
//! numbers, tables and plots.
//!
//! # Layout
//! - [`service`]: the protocols as state machines (`echo`, `upper`, `hello`,
//!   `fixed16`, `discard`, `frame`, `http`, `length`). No sockets.
//! - [`check`]: `sockbench check`: the conformance and hostile-client
//!   checks, each a named function grading a server at an address; the
//!   same functions `tests/conformance.rs` and `tests/hardening.rs` run
//!   against every engine.
//! - [`engine`]: one file per concurrency model (`iterative`, `threaded`,
//!   `pool`, `reactor`, `offload`, `uring`), plus what they share: listener
//!   setup ([`engine::listener`]), buffer bookkeeping ([`engine::buffered`]),
//!   timeouts ([`engine::timeouts`]) and simulated work ([`engine::work`]).
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
//! - [`load`]: `sockbench load`: the load generator (a mio loop per thread,
//!   closed or open loop, answers validated, HdrHistogram latencies).
//! - [`compare`]: `sockbench compare`: every engine plus the `tokio` and
//!   `epoll-raw` reference servers (`examples/`) under one load matrix, to
//!   CSV, a machine file, a terminal table and SVG plots.
//! - [`live`]: `--live`, a full-screen terminal view of `load` and
//!   `compare` as they run, fed the load's per-second intervals.
//! - [`counters`]: what a process cost the kernel over a window (system
//!   calls through a perf tracepoint, context switches from `/proc`), for
//!   the cost-per-request figures of `compare` and the demos.
//! - [`netstat`]: the kernel's listen-queue counters (`ListenOverflows`,
//!   `ListenDrops`), which explain failed and slow connects.
//! - [`cli`]: the `sockbench` command's subcommands (with `serve
//!   --processes N`'s prefork supervisor, `cli::prefork`); `src/main.rs`
//!   only parses and dispatches.

#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod check;
pub mod cli;
pub mod compare;
pub mod counters;
pub mod demo;
pub mod engine;
pub mod external;
pub mod io_util;
pub mod live;
pub mod load;
pub mod netstat;
pub mod service;
pub mod udp_client;
