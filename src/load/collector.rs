//! The collector: follows a run's [`Source`] (its load threads, or its
//! generator processes) from the first connect to the end, merging the
//! per-second intervals, keeping the window's edges and the progress
//! display, and telling a [`Watch`] what happens. One collector for every
//! way a run is made.

use std::fmt;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;

use super::capacity;
use super::config::Target;
use super::config::{LoadConfig, RunLimit};
use super::progress::{Progress, ProgressMode, State};
use super::report::{LoadReport, Outcome, Ramp};
use super::stats::{new_histogram, FailedAnswers, Interval};
use super::timeline::Timeline;
use super::window::Window;
use crate::sys::counters::ThreadCost;
use crate::sys::netstat::ListenQueue;

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
    /// ([`Outcome::Interrupted`]).
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
            super::time_wait::check_time_wait(config, &range, super::time_wait::read_tw_reuse())?;
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
            Outcome::Interrupted
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
        Outcome::Interrupted => 1,
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
    /// Connections the server closed after a whole answer, reopened.
    pub closed_by_server: u64,
    /// Answers that were not a success, by kind.
    pub failed_answers: FailedAnswers,
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
            closed_by_server: 0,
            failed_answers: FailedAnswers::default(),
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
            wire: config
                .wire
                .as_ref()
                .map(|wire| (wire.protocol(), wire.describe())),
            connections: config.connections,
            threads: shape.threads,
            pipeline: config.pipeline,
            size_bytes: config.size_bytes,
            rate_per_s: config.rate_per_s,
            requests_per_connection: config.requests_per_connection,
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
            closed_by_server: self.closed_by_server,
            failed_answers: self.failed_answers,
            ramp: shape.ramp,
            connections_open_at_end: self.open_at_end,
            listen_queue: shape.listen_queue,
            intervals,
            generator_cost: self.cost,
            outcome,
        }
    }
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
}
