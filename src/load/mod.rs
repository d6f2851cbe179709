//! The load generator: many client connections on a few threads, every
//! answer checked, every latency in a histogram.
//!
//! [`run`] starts [`LoadConfig::effective_threads`] threads, each with its
//! own mio readiness loop ([`worker`]) holding its share of the connections
//! (no thread per connection). Two ways to load:
//! - **closed loop** (default): each connection keeps `pipeline` requests
//!   outstanding and sends the next as soon as one is answered. It measures
//!   the most the server does, but a stalled server also stalls the load, so
//!   the stall barely shows in the latencies ("coordinated omission").
//! - **open loop** (`rate_per_s`): requests go on a fixed schedule whatever
//!   the server does, and latency is measured from the time each request was
//!   *meant* to go (as wrk2 does). A stall shows as the long latency users
//!   would see. The latency from the actual send is kept too, so the two
//!   can be shown side by side.
//!
//! Measuring begins when every connection is up, after the warmup, not
//! while the connections are being opened (`window.rs` explains why); if they
//! are not all up by [`LoadConfig::effective_ramp_limit`], measuring begins
//! anyway and the report says loudly that the ramp is inside the window.
//!
//! Threads send one [`Interval`] per second to the collecting thread (the
//! collector, `collector.rs`), which merges them into a
//! [`Timeline`]: the per-second timeline, the HdrHistogram log ([`hdrlog`])
//! and the totals of the [`LoadReport`] all come from it. A [`Watch`]
//! ([`run_watched`]; the live view) is handed the same intervals as they
//! arrive, and may end the run early. It is also told the moments the
//! measured window begins and ends, so that what it counts itself
//! (compare: the server's CPU time) covers the same window; the load
//! threads keep their connections open until it has heard of the end. The
//! collector reads from a `Source`: the load threads of this process
//! (`threads.rs`), or the generator processes of a run too large for one
//! ([`processes`]).
//!
//! The target is a TCP or Unix stream server, or a UDP server
//! ([`Target::Udp`]): then each client is a connected UDP socket with one
//! request (one datagram) outstanding, and a request not answered within
//! the request timeout is counted as lost ([`ErrorKind::Lost`]) and not
//! resent; the report gives the loss rate.
//!
//! A server sockbench did not write ([`WireRequest`]: `--url`, `--service
//! redis`, `--service memcached`) is driven by the same loop, its requests
//! and verdicts from [`wire`]: an answer that is a failure (a 404, `-ERR`)
//! is counted by kind with the first one's text ([`ErrorKind::Failed`]),
//! and a server that closes after a whole answer is reconnected, counted
//! as closed by the server rather than as an error.
//!
//! A run always ends by itself: at its limit; early, when no connection can
//! be (re)opened for [`GIVE_UP_AFTER`] (the server died; over UDP, when
//! datagrams are refused and none is answered for that long); and at the latest
//! at a hard deadline a few seconds after the planned end, with whatever
//! results arrived.
//!
//! ```no_run
//! use std::time::Duration;
//! use sockbench::load::{self, LoadConfig, ProgressMode, RunLimit, Target};
//!
//! let config = LoadConfig {
//!     target: Target::Tcp("127.0.0.1:7000".parse().unwrap()),
//!     connections: 100,
//!     limit: RunLimit::Duration(Duration::from_secs(5)),
//!     ..LoadConfig::default()
//! };
//! let report = load::run(&config, ProgressMode::Quiet)?;
//! println!("{report}\np99 {} µs", report.latency().p99_us);
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod capacity;
mod collector;
pub mod config;
pub mod find_rate;
pub mod hdrlog;
pub mod mismatch;
pub mod numbers;
mod pipe;
mod prime;
pub mod processes;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod request_flags;
pub mod source;
pub mod stats;
mod threads;
pub mod time_wait;
pub mod timeline;
mod window;
pub mod wire;
pub mod wire_request;
mod worker;

pub use config::{
    LoadConfig, RunLimit, Target, LOAD_SERVICES, MAX_UDP_PAYLOAD_BYTES, UDP_LOAD_SERVICES,
};
pub use find_rate::{find_rate, FindRateReport, Slo};
pub use progress::ProgressMode;
pub use protocol::LENGTH_SIZE_CYCLE;
pub use report::{LoadReport, Outcome, Percentiles, Ramp, ReportRow};
pub use request_flags::{LoadService, RequestFlags};
pub use stats::{ErrorCounts, ErrorKind, Interval};
pub use threads::{run, run_watched};
pub use timeline::{Timeline, TimelineRow};
pub use wire_request::WireRequest;
pub use worker::GIVE_UP_AFTER;

pub use capacity::ensure_descriptors;
pub use collector::{RunEvent, Watch};
