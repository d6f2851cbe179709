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
//! collector, `collect`, in this file), which merges them into a
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

use std::fmt;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;

pub mod capacity;
pub mod config;
pub mod find_rate;
pub mod hdrlog;
mod pipe;
pub mod processes;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod source;
pub mod stats;
mod threads;
pub mod timeline;
mod window;
mod worker;

pub use config::{
    LoadConfig, RunLimit, Target, LOAD_SERVICES, MAX_UDP_PAYLOAD_BYTES, UDP_LOAD_SERVICES,
};
pub use find_rate::{find_rate, FindRateReport, Slo};
pub use progress::ProgressMode;
pub use protocol::LENGTH_SIZE_CYCLE;
pub use report::{LoadReport, Outcome, Percentiles, Ramp, ReportRow};
pub use stats::{ErrorCounts, ErrorKind, Interval};
pub use threads::{run, run_watched};
pub use timeline::{Timeline, TimelineRow};
pub use worker::GIVE_UP_AFTER;

use crate::sys::counters::ThreadCost;
use crate::sys::netstat::ListenQueue;
use progress::{Progress, State};
use stats::new_histogram;
use window::Window;

/// How long past the planned end the collector waits for the load threads
/// before returning what it has (a source of processes waits twice that).
pub(crate) const HARD_DEADLINE_SLACK: Duration = Duration::from_secs(3);

/// How often the collector refreshes the progress display.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// What a run tells a [`Watch`] as it goes.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run begins.
    Started {
        /// Connections asked for.
        connections: usize,
        /// How long it measures once the ramp and warmup are over (a
        /// request limit: at most this long).
        measured: Duration,
        /// It measures until this many answers instead, if set.
        requests: Option<u64>,
    },
    /// The measured window begins now (ramp and warmup are over): what a
    /// watcher counts for the same window, it starts counting now.
    Measuring,
    /// The measured window is over now (what follows is teardown). Told
    /// only after [`RunEvent::Measuring`].
    Measured,
    /// Where it is; a few times a second.
    Progress(State),
    /// One load thread's finished second: the very intervals the report's
    /// [`Timeline`] is merged from.
    Interval(Box<Interval>),
}

/// Someone who follows a run as it goes (the live view) and may end it.
pub trait Watch: fmt::Debug {
    /// Hear what happened. Called on the collecting thread: keep it short.
    fn see(&self, event: RunEvent);
    /// End the run now, with what was measured so far
    /// ([`Outcome::Stopped`]).
    fn should_stop(&self) -> bool;
}

/// Where a run's measurements come from: the load threads of this process
/// ([`threads`]), or its generator processes ([`processes`]).
pub(crate) trait Source {
    /// How long past the window's planned end its parts may be late.
    const LATE_SLACK: Duration;

    /// The run's window: the ramp, and when measuring begins.
    fn window(&self) -> &Window;

    /// When the collector ends the ramp if the connections are not all up
    /// (`None`: someone else decides, as a parent process does for a
    /// child).
    fn ramp_limit(&self) -> Option<Instant>;

    /// Wait at most `timeout` for what the source says next: a finished
    /// second, returned; anything else it takes in itself, or adds to
    /// `collected`.
    fn hear(&mut self, timeout: Duration, collected: &mut Collected) -> Option<Interval>;

    /// Every part has ended (or none can say more): the loop is over.
    fn is_over(&self) -> bool;

    /// The answers and errors counted so far, for the progress display.
    fn so_far(&self, collected: &Collected) -> (u64, u64);

    /// Pass on where the run is (a child process tells its parent).
    fn tell(&mut self, _state: &State) -> io::Result<()> {
        Ok(())
    }

    /// Ask every part to stop now.
    fn stop(&self);

    /// Let the connections go, wait for the parts and add what they
    /// measured to `collected`. `is_cut_off`: the collector gave up on
    /// late parts.
    fn finish(self, collected: &mut Collected, is_cut_off: bool) -> io::Result<Ending>;
}

/// What a source says at its end, besides what it added to [`Collected`].
#[derive(Debug)]
pub(crate) struct Ending {
    /// Load threads, over every process.
    pub threads: usize,
    /// The worst of the parts' ends (a lost server aside: [`Collected`]
    /// knows of that).
    pub outcome: Outcome,
    /// How long the measurement lasted, if the parts said (otherwise:
    /// until the last load thread stopped).
    pub duration_s: Option<f64>,
}

/// A run's beginning, taken before its first connect: the configuration
/// checked, and what the end is compared with.
#[derive(Debug)]
pub(crate) struct Start {
    /// When connecting began.
    pub run_start: Instant,
    listen_before: Option<ListenQueue>,
}

impl Start {
    /// Check `config` against this machine (ports), and read the listen
    /// queue's counters.
    pub(crate) fn new(config: &LoadConfig) -> io::Result<Self> {
        config.validate()?;
        if let Ok(range) = capacity::PortRange::read() {
            capacity::check_ports(config, &range)?;
        }
        Ok(Start {
            listen_before: read_listen_queue(config),
            run_start: Instant::now(),
        })
    }
}

/// How long a run measures: its duration, or at most its `max_duration`
/// with a request limit.
pub(crate) fn measured(config: &LoadConfig) -> Duration {
    match config.limit {
        RunLimit::Duration(duration) => duration,
        RunLimit::Requests(_) => config.max_duration,
    }
}

/// Follow `source` from `start` to its end, telling `watch` how it goes,
/// and return what it measured.
pub(crate) fn collect<S: Source>(
    config: &LoadConfig,
    start: Start,
    mut source: S,
    progress: ProgressMode,
    watch: Option<&dyn Watch>,
) -> io::Result<LoadReport> {
    let run_start = start.run_start;
    let measured = measured(config);
    let ramp_limit = source.ramp_limit();
    let mut display = Progress::new(progress, run_start, measured);
    let mut collected = Collected::new(config.rate_per_s.is_some());
    if let Some(watch) = watch {
        watch.see(RunEvent::Started {
            connections: config.connections,
            measured,
            requests: match config.limit {
                RunLimit::Requests(requests) => Some(requests),
                RunLimit::Duration(_) => None,
            },
        });
    }
    let mut stopped_by_watch = false;
    let mut is_cut_off = false;
    let mut edges = Edges::default();
    while !source.is_over() {
        let now = Instant::now();
        let window = source.window();
        if !stopped_by_watch && watch.is_some_and(|watch| watch.should_stop()) {
            // The parts stop at their next turn and report as usual.
            stopped_by_watch = true;
            source.stop();
        }
        if window.begins().is_none() && ramp_limit.is_some_and(|limit| now >= limit) {
            // Not every connection is up in time: measure anyway, and say so.
            window.begin(now);
        }
        // Before the ramp ends, wake for the ramp limit; after, give up on
        // late parts a little after the planned end.
        let wake_at = match (window.begins(), ramp_limit) {
            (Some(begins), _) => begins + measured + S::LATE_SLACK,
            (None, Some(limit)) => limit,
            (None, None) => now + PROGRESS_EVERY,
        };
        if window.begins().is_some() && now >= wake_at {
            is_cut_off = true;
            source.stop();
            break;
        }
        // A watcher hears of the window's edges on time, not at the next tick.
        let wait = [Some(wake_at), watch.and(edges.next(window, measured))]
            .into_iter()
            .flatten()
            .map(|at| at.saturating_duration_since(now))
            .fold(PROGRESS_EVERY, Duration::min);
        if let Some(interval) = source.hear(wait, &mut collected) {
            collected.add_interval(&interval);
            if let Some(watch) = watch {
                watch.see(RunEvent::Interval(Box::new(interval)));
            }
        }
        let window = source.window();
        if let Some(watch) = watch {
            edges.tell(watch, Instant::now(), window, measured, source.is_over());
        }
        let (requests, errors) = source.so_far(&collected);
        let state = State {
            up: window.up(),
            open: window.open(),
            connections: config.connections,
            measure_start: window.begins(),
            requests,
            errors,
        };
        display.update(Instant::now(), state);
        if let Some(watch) = watch {
            watch.see(RunEvent::Progress(state));
        }
        source.tell(&state)?;
    }
    display.finish();
    source.stop();
    if let Some(watch) = watch {
        edges.tell(watch, Instant::now(), source.window(), measured, true);
    }
    let window = source.window();
    let since_start = |at: Instant| at.duration_since(run_start).as_secs_f64();
    let ramp = Ramp {
        up: window.ramp_end().map_or(window.up(), |(_, up)| up) as u64,
        duration_s: window.ramp_end().map(|(ended, _)| since_start(ended)),
        all_up_s: window.all_up_at().map(since_start),
    };
    let begins = window.begins();
    let ending = source.finish(&mut collected, is_cut_off)?;
    let outcome = worse(
        ending.outcome,
        if collected.server_lost {
            Outcome::ServerLost
        } else if stopped_by_watch {
            Outcome::Stopped
        } else {
            Outcome::Finished
        },
    );
    let stopped_at = collected.stopped_at.unwrap_or_else(Instant::now);
    let measure_start = begins.unwrap_or(stopped_at);
    let listen_queue = start
        .listen_before
        .and_then(|before| Some(read_listen_queue(config)?.since(before)));
    Ok(collected.into_report(
        config,
        Shape {
            threads: ending.threads,
            started_at: wall_clock_of(measure_start),
            duration_s: ending.duration_s.unwrap_or_else(|| {
                stopped_at
                    .saturating_duration_since(measure_start)
                    .as_secs_f64()
            }),
            ramp,
            listen_queue,
        },
        outcome,
    ))
}

/// Which edges of the measured window a watcher has been told of.
#[derive(Debug, Default)]
struct Edges {
    begun: bool,
    ended: bool,
}

impl Edges {
    /// The next edge to tell of, once the window's start is known.
    fn next(&self, window: &Window, measured: Duration) -> Option<Instant> {
        let begins = window.begins()?;
        match (self.begun, self.ended) {
            (false, _) => Some(begins),
            (true, false) => Some(begins + measured),
            (true, true) => None,
        }
    }

    /// Tell `watch` of the edges passed by `now`. `is_over`: every load
    /// thread has stopped measuring (a request limit reached, or the run
    /// ending), whatever the clock says.
    fn tell(
        &mut self,
        watch: &dyn Watch,
        now: Instant,
        window: &Window,
        measured: Duration,
        is_over: bool,
    ) {
        let Some(begins) = window.begins() else {
            return;
        };
        if !self.begun && (now >= begins || is_over) {
            self.begun = true;
            watch.see(RunEvent::Measuring);
        }
        if self.begun && !self.ended && (now >= begins + measured || is_over) {
            self.ended = true;
            watch.see(RunEvent::Measured);
        }
    }
}

/// The outcome of a run made of parts: a lost generator beats a cut-off,
/// which beats a lost server, which beats a stop by the user, which beats
/// a finish.
pub(crate) fn worse(a: Outcome, b: Outcome) -> Outcome {
    let rank = |o: Outcome| match o {
        Outcome::Finished => 0,
        Outcome::Stopped => 1,
        Outcome::ServerLost => 2,
        Outcome::CutOff => 3,
        Outcome::GeneratorLost => 4,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// The kernel's listen-queue counters, for a TCP server on this machine (a
/// loopback address: the counters are this machine's, and count TCP
/// listeners only); `None` otherwise or if they cannot be read.
fn read_listen_queue(config: &LoadConfig) -> Option<ListenQueue> {
    matches!(config.target, Target::Tcp(addr) if addr.ip().is_loopback())
        .then(ListenQueue::read)
        .and_then(Result::ok)
}

/// The wall-clock time of a monotonic instant (past or future).
fn wall_clock_of(at: Instant) -> SystemTime {
    let now = Instant::now();
    let wall_now = SystemTime::now();
    if at >= now {
        wall_now + (at - now)
    } else {
        wall_now - (now - at)
    }
}

/// The facts of a run besides what the parts counted.
#[derive(Debug)]
struct Shape {
    threads: usize,
    /// When measuring began, on the wall clock.
    started_at: SystemTime,
    duration_s: f64,
    ramp: Ramp,
    listen_queue: Option<ListenQueue>,
}

/// What the collector has received so far.
pub(crate) struct Collected {
    timeline: Timeline,
    /// Answers measured, from the intervals.
    pub requests: u64,
    /// Errors, from the intervals.
    pub errors: u64,
    /// Connect times in µs (warmup included).
    pub connect_us: Histogram<u64>,
    /// Connections established, reconnects included.
    pub established: u64,
    /// Connection attempts that failed.
    pub failed: u64,
    /// Connections open when the parts stopped.
    pub open_at_end: u64,
    /// A part stopped because the server could no longer be reached.
    pub server_lost: bool,
    /// When the last load thread stopped.
    pub stopped_at: Option<Instant>,
    /// What the load threads cost over the measured window.
    pub cost: Option<ThreadCost>,
}

impl Collected {
    fn new(rate_mode: bool) -> Self {
        Collected {
            timeline: Timeline::new(rate_mode),
            requests: 0,
            errors: 0,
            connect_us: new_histogram(),
            established: 0,
            failed: 0,
            open_at_end: 0,
            server_lost: false,
            stopped_at: None,
            cost: None,
        }
    }

    /// Add one part's finished second.
    pub(crate) fn add_interval(&mut self, interval: &Interval) {
        self.requests += interval.requests;
        self.errors += interval.errors.total();
        self.timeline.add(interval);
    }

    fn into_report(self, config: &LoadConfig, shape: Shape, outcome: Outcome) -> LoadReport {
        let (total, intervals) = self.timeline.into_parts();
        LoadReport {
            target: config.target.to_string(),
            is_udp: config.target.is_udp(),
            service: config.service,
            connections: config.connections,
            threads: shape.threads,
            pipeline: config.pipeline,
            size_bytes: config.size_bytes,
            rate_per_s: config.rate_per_s,
            started_at: shape.started_at,
            duration_s: shape.duration_s,
            requests: total.requests,
            sent: total.sent,
            bytes: total.bytes,
            latency_us: total.latency_us,
            uncorrected_latency_us: total.uncorrected_us,
            connect_us: self.connect_us,
            errors: total.errors,
            connections_established: self.established,
            connections_failed: self.failed,
            ramp: shape.ramp,
            connections_open_at_end: self.open_at_end,
            listen_queue: shape.listen_queue,
            intervals,
            generator_cost: self.cost,
            outcome,
        }
    }
}

/// Make sure this process may open a descriptor per connection: raise the
/// soft `RLIMIT_NOFILE` toward the hard limit if needed, or say what to do.
pub fn ensure_descriptors(connections: usize) -> io::Result<()> {
    let needed = connections as u64 + capacity::SPARE_DESCRIPTORS;
    let (soft, hard) = capacity::descriptor_limits()?;
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(io::Error::other(format!(
            "{connections} connections need about {needed} file descriptors, but this process may open at most {hard} (hard limit): use fewer --connections, or raise the limit (`ulimit -Hn` as root, LimitNOFILE= in a unit)",
        )));
    }
    // Twice what is needed, for an in-process server or other files.
    crate::sys::limits::raise_descriptor_limit(needed.saturating_mul(2))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outcomes combine to the worst.
    #[test]
    fn worse_outcome_wins() {
        assert_eq!(
            worse(Outcome::Finished, Outcome::ServerLost),
            Outcome::ServerLost
        );
        assert_eq!(worse(Outcome::CutOff, Outcome::ServerLost), Outcome::CutOff);
        assert_eq!(
            worse(Outcome::Finished, Outcome::Finished),
            Outcome::Finished
        );
    }

    /// A limit far above any hard limit is refused with advice.
    #[test]
    fn ensure_descriptors_explains_an_impossible_limit() {
        let err = ensure_descriptors(usize::MAX / 2).unwrap_err();
        assert!(err.to_string().contains("fewer --connections"), "{err}");
    }
}
