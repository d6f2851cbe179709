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
//! Threads send one [`Interval`] per second to the collecting thread, which
//! merges them into a [`Timeline`]: the per-second timeline, the
//! HdrHistogram log ([`hdrlog`]) and the totals of the [`LoadReport`] all
//! come from it. A [`Watch`] ([`run_watched`]; the live view) is handed the
//! same intervals as they arrive, and may end the run early. It is also told
//! the moments the measured window begins and ends, so that what it counts
//! itself (compare: the server's CPU time) covers the same window; the load
//! threads keep their connections open until it has heard of the end.
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::RecvTimeoutError;

pub mod capacity;
pub mod config;
pub mod find_rate;
pub mod hdrlog;
pub mod processes;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod source;
pub mod stats;
pub mod timeline;
mod window;
pub mod wire;
mod worker;

pub use config::{
    LoadConfig, RunLimit, Target, LENGTH_SIZE_CYCLE, LOAD_SERVICES, MAX_UDP_PAYLOAD_BYTES,
    UDP_LOAD_SERVICES,
};
pub use find_rate::{find_rate, FindRateReport, Slo};
pub use progress::ProgressMode;
pub use report::{LoadReport, Outcome, Percentiles, Ramp, ReportRow};
pub use stats::{ErrorCounts, ErrorKind, Interval};
pub use timeline::{Timeline, TimelineRow};
pub use worker::GIVE_UP_AFTER;

use crate::counters::ThreadCost;
use crate::netstat::ListenQueue;
use stats::{add_histogram, new_histogram};
use window::Window;
use worker::{Assignment, Clock, Message};

/// How long past the planned end the collector waits for load threads
/// before returning what it has.
const HARD_DEADLINE_SLACK: Duration = Duration::from_secs(3);

/// How often the collector refreshes the progress display.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Run one load test to its end and return what it measured. Fails only for
/// a bad configuration or when the machine cannot run it (descriptor limit,
/// local ports, threads); server failures are counted in the report.
pub fn run(config: &LoadConfig, progress: ProgressMode) -> io::Result<LoadReport> {
    run_as(config, progress, Role::Alone, None)
}

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
    Progress(progress::State),
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

/// [`run`], telling `watch` how it goes; `watch` may end it early.
pub fn run_watched(
    config: &LoadConfig,
    progress: ProgressMode,
    watch: &dyn Watch,
) -> io::Result<LoadReport> {
    run_as(config, progress, Role::Alone, Some(watch))
}

/// Whether this process is the whole run or one of several generator
/// processes ([`processes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The ramp ends when every connection is up, or at the ramp limit.
    Alone,
    /// The parent ends the ramp (a `begin` line on stdin) and hears how the
    /// run goes (`status` lines on stdout); stdin closing stops the run.
    Child,
}

/// [`run`], as the whole run or as one of several processes.
pub(crate) fn run_as(
    config: &LoadConfig,
    progress: ProgressMode,
    role: Role,
    watch: Option<&dyn Watch>,
) -> io::Result<LoadReport> {
    config.validate()?;
    if let Ok(range) = capacity::PortRange::read() {
        capacity::check_ports(config, &range)?;
    }
    ensure_descriptors(config.connections)?;
    let threads = config.effective_threads();
    let listen_before = read_listen_queue(config);
    let run_start = Instant::now();
    let window = Arc::new(Window::new(
        config.connections,
        config.warmup,
        role == Role::Alone,
    ));
    // A child's ramp ends when its parent says so.
    let ramp_limit = (role == Role::Alone).then(|| run_start + config.effective_ramp_limit());
    let clock = Clock {
        run_start,
        window: Arc::clone(&window),
        measured: match config.limit {
            RunLimit::Duration(duration) => duration,
            RunLimit::Requests(_) => config.max_duration,
        },
    };
    let stop = Arc::new(AtomicBool::new(false));
    if role == Role::Child {
        processes::listen_to_parent(Arc::clone(&window), Arc::clone(&stop))?;
    }
    let (sender, receiver) = crossbeam_channel::unbounded();
    // The load threads keep their connections open until this is dropped,
    // once a watcher has been told the window's end: what it reads then
    // (such as a server's thread per connection) is still there.
    let (hold_connections, connections_held) = crossbeam_channel::bounded::<()>(0);
    let mut handles = Vec::with_capacity(threads);
    for (index, assignment) in assign(config, threads).into_iter().enumerate() {
        let config = config.clone();
        let thread_stop = Arc::clone(&stop);
        let sender = sender.clone();
        let clock = clock.clone();
        let held = connections_held.clone();
        let handle = std::thread::Builder::new()
            .name(format!("sockbench-load-{index}"))
            .spawn(move || {
                worker::run_thread(&config, assignment, clock, thread_stop, sender, held)
            })
            .inspect_err(|_| stop.store(true, Ordering::Relaxed))?;
        handles.push(handle);
    }
    drop(sender);

    let mut display = progress::Progress::new(progress, run_start, clock.measured);
    let mut collected = Collected::new(config.rate_per_s.is_some());
    if let Some(watch) = watch {
        watch.see(RunEvent::Started {
            connections: config.connections,
            measured: clock.measured,
            requests: match config.limit {
                RunLimit::Requests(requests) => Some(requests),
                RunLimit::Duration(_) => None,
            },
        });
    }
    let mut stopped_by_watch = false;
    let mut edges = Edges::default();
    let mut done = 0;
    while done < threads {
        let now = Instant::now();
        if !stopped_by_watch && watch.is_some_and(|watch| watch.should_stop()) {
            // The threads stop at their next turn and report as usual.
            stopped_by_watch = true;
            stop.store(true, Ordering::Relaxed);
        }
        if window.begins().is_none() && ramp_limit.is_some_and(|limit| now >= limit) {
            // Not every connection is up in time: measure anyway, and say so.
            window.begin(now);
        }
        // Before the ramp ends, wake for the ramp limit; after, give up on
        // late threads a little after the planned end.
        let wake_at = match (window.begins(), ramp_limit) {
            (Some(begins), _) => begins + clock.measured + HARD_DEADLINE_SLACK,
            (None, Some(limit)) => limit,
            (None, None) => now + PROGRESS_EVERY,
        };
        if window.begins().is_some() && now >= wake_at {
            stop.store(true, Ordering::Relaxed);
            break;
        }
        // A watcher hears of the window's edges on time, not at the next tick.
        let wait = [
            Some(wake_at),
            watch.and(edges.next(&window, clock.measured)),
        ]
        .into_iter()
        .flatten()
        .map(|at| at.saturating_duration_since(now))
        .fold(PROGRESS_EVERY, Duration::min);
        match receiver.recv_timeout(wait) {
            Ok(Message::Interval(interval)) => {
                collected.add_interval(&interval);
                if let Some(watch) = watch {
                    watch.see(RunEvent::Interval(Box::new(interval)));
                }
            }
            Ok(Message::Done(summary)) => {
                done += 1;
                collected.add_summary(summary);
            }
            Ok(Message::RampEnded) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break, // a thread failed
        }
        if let Some(watch) = watch {
            edges.tell(
                watch,
                Instant::now(),
                &window,
                clock.measured,
                done == threads,
            );
        }
        let state = progress::State {
            up: window.up(),
            open: window.open(),
            connections: config.connections,
            measure_start: window.begins(),
            requests: collected.requests,
            errors: collected.errors,
        };
        display.update(Instant::now(), state);
        if let Some(watch) = watch {
            watch.see(RunEvent::Progress(state));
        }
        if role == Role::Child {
            processes::tell_parent(&state)?;
        }
    }
    display.finish();
    stop.store(true, Ordering::Relaxed);
    if let Some(watch) = watch {
        edges.tell(watch, Instant::now(), &window, clock.measured, true);
    }
    drop(hold_connections);
    if done == threads {
        for handle in handles {
            match handle.join() {
                Ok(result) => result?,
                Err(_) => return Err(io::Error::other("a load thread panicked")),
            }
        }
    }
    // Otherwise the late threads are left behind: they see `stop` and end
    // on their own; their results are not waited for.
    let outcome = if done < threads {
        Outcome::CutOff
    } else if collected.server_lost {
        Outcome::ServerLost
    } else if stopped_by_watch {
        Outcome::Stopped
    } else {
        Outcome::Finished
    };
    let stopped_at = collected.stopped_at.unwrap_or_else(Instant::now);
    let measure_start = window.begins().unwrap_or(stopped_at);
    let since_start = |at: Instant| at.duration_since(run_start).as_secs_f64();
    let ramp = Ramp {
        up: window.ramp_end().map_or(window.up(), |(_, up)| up) as u64,
        duration_s: window.ramp_end().map(|(ended, _)| since_start(ended)),
        all_up_s: window.all_up_at().map(since_start),
    };
    let listen_queue = listen_before.and_then(|before| {
        let after = read_listen_queue(config)?;
        Some(after.since(before))
    });
    Ok(collected.into_report(
        config,
        Shape {
            threads,
            started_at: wall_clock_of(measure_start),
            duration_s: stopped_at
                .saturating_duration_since(measure_start)
                .as_secs_f64(),
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

/// Spread connections over threads round-robin (connection `n` goes to
/// thread `n % threads`), and a request limit in near-equal shares.
fn assign(config: &LoadConfig, threads: usize) -> Vec<Assignment> {
    (0..threads)
        .map(|index| Assignment {
            connections: (index..config.connections).step_by(threads).collect(),
            quota: match config.limit {
                RunLimit::Requests(total) => {
                    let threads = threads as u64;
                    Some(total / threads + u64::from((index as u64) < total % threads))
                }
                RunLimit::Duration(_) => None,
            },
        })
        .collect()
}

/// The facts of a run besides what the threads counted.
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
struct Collected {
    timeline: Timeline,
    requests: u64,
    errors: u64,
    connect_us: hdrhistogram::Histogram<u64>,
    established: u64,
    failed: u64,
    open_at_end: u64,
    server_lost: bool,
    stopped_at: Option<Instant>,
    cost: Option<ThreadCost>,
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

    fn add_interval(&mut self, interval: &Interval) {
        self.requests += interval.requests;
        self.errors += interval.errors.total();
        self.timeline.add(interval);
    }

    fn add_summary(&mut self, summary: worker::ThreadSummary) {
        add_histogram(&mut self.connect_us, &summary.connect_us);
        self.established += summary.established;
        self.failed += summary.failed;
        self.open_at_end += summary.open_at_end;
        self.server_lost |= summary.server_lost;
        self.stopped_at = self.stopped_at.max(Some(summary.stopped_at));
        if let Some(cost) = summary.cost {
            self.cost = Some(self.cost.unwrap_or_default().plus(cost));
        }
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
    let raised = libc::rlimit {
        rlim_cur: hard.min(needed.saturating_mul(2)),
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we pass; raising the soft limit up
    // to the hard limit needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections go round-robin; request shares add up to the limit.
    #[test]
    fn assign_spreads_connections_and_requests() {
        let config = LoadConfig {
            connections: 5,
            limit: RunLimit::Requests(10),
            ..LoadConfig::default()
        };
        let shares = assign(&config, 3);
        assert_eq!(shares[0].connections, vec![0, 3]);
        assert_eq!(shares[2].connections, vec![2]);
        let total: u64 = shares.iter().map(|s| s.quota.unwrap()).sum();
        assert_eq!(total, 10);
    }

    /// A limit far above any hard limit is refused with advice.
    #[test]
    fn ensure_descriptors_explains_an_impossible_limit() {
        let err = ensure_descriptors(usize::MAX / 2).unwrap_err();
        assert!(err.to_string().contains("fewer --connections"), "{err}");
    }
}
