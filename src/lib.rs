//! sockbench: the socket-programming lecture, made real and measurable.
//!
//! One sans-IO [`service::Service`] per protocol, four interchangeable server
//! engines that run any of them, a load generator that drives them, and a
//! comparison that turns the difference between concurrency models into
//! numbers, tables and plots.
//!
//! # Layout
//! - [`service`]: the protocols as state machines (`echo`, `upper`, `hello`,
//!   `fixed16`, `discard`, `frame`, `http`, `length`). No sockets.
//! - [`engine`]: one file per concurrency model (`iterative`, `threaded`,
//!   `pool`, `reactor`), plus what they share: listener setup
//!   ([`engine::listener`]), buffer bookkeeping ([`engine::buffered`]) and
//!   simulated work ([`engine::work`]).
//! - [`cli`]: the `sockbench` command's subcommands; `src/main.rs` only
//!   parses and dispatches.

#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod cli;
pub mod engine;
pub mod service;
