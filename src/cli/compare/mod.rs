//! `sockbench compare`: arguments, then the library.

mod scenario;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::compare::foreign::{self, Foreign, Production};
use crate::compare::matrix::{Contender, MatrixSpec, Transport};
use crate::compare::request::RunRequest;
use crate::compare::scenario::Scenario;
use crate::compare::{self, curve, unp, CompareConfig};
use crate::engine::Work;
use crate::external;
use crate::live::{self, Dashboard, Lines, Live};
use crate::load::{LoadService, RequestFlags, LOAD_SERVICES};
use crate::sys::cgroup;

/// Options of `sockbench compare`.
#[derive(Debug, Args)]
#[command(after_help = "Verdicts (the method of docs/METHOD.md in one flag):
  sockbench compare --verdicts --engines reactor,uring,epoll-raw --connections 100,1000
  sockbench compare --verdicts --services echo --server 'py=python3 my_echo.py {port}' --engines reactor,py
  sockbench compare --verdicts --engines nginx,reactor --services http --baseline nginx
                                                        # a production server (./scripts/real-servers.sh)
  sockbench compare --verdicts --services redis --connections 100,1000   # the redis row
  sockbench compare --scenario c10k --engines apache-prefork,apache-worker,apache-event

Examples:
  ./scripts/compare.sh                                  # default matrix, about 2 minutes
  ./scripts/compare.sh --full --pin --name full         # everything; server and load on own cores
  sockbench compare --engines reactor,epoll-raw --connections 100,1000 --duration 5s
  sockbench compare --smoke --name smoke                # a few seconds, for CI
  sockbench compare --engines iterative,reactor --connections 1,100 --live
                                                        # full screen, for class; q stops
  sockbench compare --engines reactor,epoll-raw,tokio --connections 100,1000 --pin --server-cpu 0.5 --rounds 10 --baseline epoll-raw
                                                        # verdicts: ratios with 95% intervals
  sockbench compare --scenario idle --rounds 6           # CPU per request beside 0, 1000, 10000 idle connections

Each server runs as its own process on 127.0.0.1:0 (--transports tcp6 uses
[::1]:0, unix a Unix socket); the load runs in this process. The reference
rows (tokio, epoll-raw) need `cargo build --release --examples`, which
./scripts/compare.sh does. Results: OUT/NAME.csv, OUT/NAME.machine.txt,
OUT/NAME-*.svg and a table on stdout; with --baseline also OUT/NAME.verdicts.csv.

On a small machine the load generator costs as much per request as the
server, and one run of a cell moves by 20% from run to run. For verdicts a
reader can trust, make the server the bottleneck (--server-cpu, a CPU
quota per server process) and compare paired rounds (--rounds with
--baseline): docs/METHOD.md explains both.")]
pub struct CompareArgs {
    /// The verdict method in one flag: each server under a CPU quota
    /// (--server-cpu 0.4), pinned (--pin), 10 rounds (--rounds 10), side by
    /// side with the baseline (--side-by-side), the baseline epoll-raw
    /// (where it runs every cell; else the first server named) unless
    /// --baseline says otherwise. --server-cpu and --rounds, given too,
    /// override their part. docs/METHOD.md explains the method.
    #[arg(long)]
    pub verdicts: bool,

    /// Add a server of your own, started from COMMAND (run through no
    /// shell; quotes are respected) with {port} replaced by a free loopback
    /// port ({addr} by 127.0.0.1:PORT, {unix} by a Unix socket path). NAME
    /// is a row like any other: name it among the engines, or as baseline.
    /// It is ready when it accepts a connection; its whole process tree is
    /// limited, pinned, measured and stopped. Repeatable.
    #[arg(long = "server", value_name = "NAME=COMMAND")]
    pub servers: Vec<String>,

    /// Add a server that is already running at ADDR (loopback only), to
    /// be loaded like the others: no quota, no restart, no cost figures.
    /// Repeatable.
    #[arg(long = "target", value_name = "NAME=ADDR")]
    pub targets: Vec<String>,

    /// How long a --server (or production server) may take to accept its
    /// first connection [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub ready_timeout: Option<Duration>,

    /// How long a --server (or production server) may take to exit after
    /// SIGTERM before its process group is killed [default: 2s].
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub grace: Option<Duration>,

    /// Servers to compare (the list is `engines_help`'s, made from the
    /// contenders in the code).
    #[arg(long, value_delimiter = ',', help = engines_help(), long_help = engines_help())]
    pub engines: Option<Vec<String>>,

    /// Run a scenario instead of a matrix. c10k: 15,000 connections, one
    /// request a second each, every model. c100k: 100,000 connections, one
    /// request every 10 s each, held 60 s, on the prefork reactor (and the
    /// one-process servers, to show where they stop). Both set the load and
    /// the servers: only --engines (some of its servers), --scale, --name,
    /// --out-dir and --examples-dir go with them, and they need the kernel
    /// settings `scripts/scale-sysctl.sh` makes (./scripts/compare.sh runs
    /// it for a scenario). idle: the idle-connections curve, a preset of
    /// the matrix (100 active connections beside --idle 0,1000,10000 idle
    /// ones, select, poll, reactor, uring and threaded, --pin --server-cpu
    /// 0.5 --rounds 3, 2 s cells: about 3 minutes), with a table of each
    /// server's CPU per request and its growth from 0 idle; any matrix flag
    /// changes the preset. unp: Stevens' server-design table (UNP ch. 30),
    /// a preset of the matrix too (every design built, 5 clients opening a
    /// connection per request for 4,000 bytes of `sized`, --pin
    /// --server-cpu 0.3 --rounds 6, 2 s cells: about 4 minutes), with the
    /// table of CPU per connection and the book's claims checked.
    #[arg(long, value_enum)]
    pub scenario: Option<ScenarioName>,

    /// With --scenario: run it at F times its connections, rate and
    /// durations (0 < F <= 1; at least 1 s measured), for a quick look.
    #[arg(long, value_name = "F", requires = "scenario")]
    pub scale: Option<f64>,

    /// Idle connections held open and silent beside the active ones,
    /// from before each cell's window to its end, one cell per count: what
    /// watching connections that do nothing costs each server
    /// [default: 0; --scenario idle: 0,1000,10000].
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub idle: Option<Vec<usize>>,

    /// Transports: tcp4, tcp6 (over [::1]), unix (a Unix socket) [default: tcp4].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub transports: Option<Vec<Transport>>,

    /// Connection counts [default: 1,10,100,1000; --full adds 10000].
    #[arg(long, value_delimiter = ',')]
    pub connections: Option<Vec<usize>>,

    /// Request sizes in bytes [default: 64; --full: 64,4096].
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<usize>>,

    /// Services: sockbench's echo, upper, frame, http, or the protocol of
    /// a server it did not write: redis (PING unless --command), memcached
    /// (a get unless --command). Only the servers that speak one run it;
    /// the others are listed as not run. Without --engines, redis and
    /// memcached bring their production server's row [default: echo].
    #[arg(long, value_delimiter = ',')]
    pub services: Option<Vec<LoadService>>,

    /// With --services http: ask every server for this path (with any
    /// query), its answer judged as `load --url` judges one (any 2xx, or
    /// --expect-status, --expect-body) [default: sockbench's http request,
    /// its exact answer checked].
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// The request flags of `load`, for every contender of the run: HTTP
    /// ones (with --path or --services http), --command and --keys (with
    /// --services redis or memcached).
    #[command(flatten)]
    pub request: RequestFlags,

    /// Simulated work per request [default: none; --full: none,sleep:1ms,cpu:100us].
    #[arg(long, value_delimiter = ',')]
    pub work: Option<Vec<Work>>,

    /// Requests outstanding per connection [default: 1; --full: 1,16].
    #[arg(long, value_delimiter = ',')]
    pub pipeline: Option<Vec<usize>>,

    /// Length of each cell [default: 3s; --full: 5s; --smoke: 300ms].
    #[arg(long, value_parser = super::parse_duration)]
    pub duration: Option<Duration>,

    /// The bigger matrix: sizes, pipelining, work, and 10000 connections.
    #[arg(long, conflicts_with = "smoke")]
    pub full: bool,

    /// A tiny matrix of a few seconds (every sockbench engine, 1 and 4 connections), for CI.
    #[arg(long)]
    pub smoke: bool,

    /// Results file names: OUT/NAME.csv and so on [default: compare, full or smoke].
    #[arg(long)]
    pub name: Option<String>,

    /// Results directory.
    #[arg(long, default_value = "results")]
    pub out_dir: PathBuf,

    /// Pin the server to core 1 (taskset) and the load generator to core 0.
    #[arg(long)]
    pub pin: bool,

    /// Load generator threads, at most one per connection [default: half the cores, at least 1].
    #[arg(long)]
    pub load_threads: Option<usize>,

    /// Where the tokio_echo and epoll_raw examples were built [default: examples/ beside this binary].
    #[arg(long)]
    pub examples_dir: Option<PathBuf>,

    /// Connections of the latency-percentile chart [default: 100].
    #[arg(long)]
    pub latency_connections: Option<u64>,

    /// Run the matrix in N rounds: in each, every server runs each cell
    /// once, back to back with the others, in an order rotated from one
    /// cell to the next (ABC, BCA, CAB, ...), every server a fresh process
    /// (so what one process happens to get, such as its memory layout, is
    /// sampled like any other noise). The CSV keeps every round's row; the
    /// table shows each cell's median round and the req/s range.
    /// System calls are counted in a short extra round (round 0) of their
    /// own, because counting slows them.
    /// [default: 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
    pub rounds: Option<u16>,

    /// Compare every other server with this one, round by round: the
    /// median req/s ratio, its 95% interval and a verdict (faster, slower,
    /// no difference) per cell. Needs 6 rounds or more for a 95% interval
    /// (9 or more so one wild round cannot move it).
    #[arg(long, value_name = "ENGINE")]
    pub baseline: Option<String>,

    /// Run each server in a CPU-quota cgroup that lets it use FRACTION of
    /// one core (e.g. 0.5), so that the server, not the load generator, is
    /// the bottleneck. Needs a writable cgroup (root).
    #[arg(long, value_name = "FRACTION")]
    pub server_cpu: Option<f64>,

    /// Run each server's cells at the same moment as the baseline's, not
    /// in turns: both servers on the server core, each under its own
    /// --server-cpu quota, each driven by a load run of its own. A slow
    /// spell of a shared machine then falls on both alike, which taking
    /// turns cannot promise (docs/METHOD.md). Needs --baseline, --pin and
    /// --server-cpu at most 0.5 (two quotas share one core; 0.4 leaves the
    /// generator's core room for both load runs).
    #[arg(long)]
    pub side_by_side: bool,

    /// Show the comparison as it goes, full screen: the run under way
    /// (requests/s second by second, p50/p99, latency histogram,
    /// connections, errors, time left) and a bar per finished run (req/s
    /// and p99 per server), growing as the comparison goes. q (or Ctrl-C)
    /// stops after the run under way; what was measured is printed and
    /// written as usual. Without a terminal (piped, CI): the usual output,
    /// with a note.
    #[arg(long)]
    pub live: bool,

    /// The quota's enforcement period: the longest stall a throttled
    /// server adds to a request (1ms to 1s) [default: 10ms].
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub quota_period: Option<Duration>,
}

/// The scenarios of `compare --scenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioName {
    /// 15,000 connections, one request a second each, every model.
    C10k,
    /// 100,000 connections, one request every 10 s each, held 60 s.
    C100k,
    /// 100 active connections beside 0, 1,000 and 10,000 idle ones.
    Idle,
    /// UNP chapter 30's server-design table: a connection per request.
    Unp,
}

/// The quota period when `--quota-period` is not given.
const DEFAULT_QUOTA_PERIOD: Duration = Duration::from_millis(10);

/// What `--verdicts` sets, where the flag of its own is not given.
const VERDICTS_SERVER_CPU: f64 = 0.4;
const VERDICTS_ROUNDS: u16 = 10;

/// Run `sockbench compare`.
pub fn run_compare(mut args: CompareArgs) -> io::Result<ExitCode> {
    let idle_scenario = match args.scenario {
        Some(ScenarioName::C10k) => return scenario::run_scenario(Scenario::C10k, args),
        Some(ScenarioName::C100k) => return scenario::run_scenario(Scenario::C100k, args),
        Some(ScenarioName::Idle) => true,
        Some(ScenarioName::Unp) | None => false,
    };
    let unp_scenario = args.scenario == Some(ScenarioName::Unp);
    if (idle_scenario || unp_scenario) && args.scale.is_some() {
        let (name, shrink) = if idle_scenario {
            ("idle", "--idle, --duration or --rounds")
        } else {
            ("unp", "--duration, --rounds or --engines")
        };
        return Err(io::Error::other(format!(
            "--scale goes with --scenario c10k and c100k; the {name} scenario is a matrix: shrink it with {shrink}"
        )));
    }
    if args.verdicts {
        args.server_cpu.get_or_insert(VERDICTS_SERVER_CPU);
        args.rounds.get_or_insert(VERDICTS_ROUNDS);
        args.pin = true;
        args.side_by_side = true;
    }
    let foreign = foreign_contenders(&args).map_err(io::Error::other)?;
    let (mut spec, default_name) = if idle_scenario {
        let (_, descriptor_limit) = crate::sys::limits::descriptor_limits()?;
        let runs_at_once = if args.side_by_side { 2 } else { 1 };
        let idles = args.idle.as_deref().unwrap_or(&curve::IDLE_COUNTS);
        let plan = curve::plan(idles, descriptor_limit, runs_at_once);
        for line in &plan.lowered {
            eprintln!("note: {line}");
        }
        (plan.spec, "idle")
    } else if unp_scenario {
        let plan = unp::plan();
        for line in &plan.not_built {
            eprintln!("not run: {line}");
        }
        (plan.spec, "unp")
    } else if args.full {
        (MatrixSpec::full_run(), "full")
    } else if args.smoke {
        (MatrixSpec::smoke_run(), "smoke")
    } else {
        (MatrixSpec::default_run(), "compare")
    };
    if let Some(engines) = &args.engines {
        spec.contenders = engines
            .iter()
            .map(|name| contender_named(name, &foreign))
            .collect::<Result<_, String>>()
            .map_err(|err| io::Error::other(format!("--engines: {err}")))?;
    } else {
        // Asked for by --server or --target: in the run, after the others.
        spec.contenders.extend(&foreign);
    }
    if let Some(transports) = args.transports {
        spec.transports = transports;
    }
    if let Some(connections) = args.connections {
        if connections.contains(&0) {
            return Err(io::Error::other("--connections must all be at least 1"));
        }
        // Asked for by name: run them on every server, as asked.
        spec.many_connections_only_where_held = false;
        spec.connections = connections;
    }
    if let (Some(idle), false) = (args.idle, idle_scenario) {
        spec.idles = idle;
    }
    if let Some(sizes) = args.sizes {
        spec.sizes_bytes = sizes;
    }
    if let Some(services) = args.services {
        let is_driven = |service: &LoadService| match service.own() {
            Some(own) => LOAD_SERVICES.contains(&own),
            None => true,
        };
        if let Some(bad) = services.iter().find(|s| !is_driven(s)) {
            let names: Vec<&str> = LOAD_SERVICES.iter().map(|s| s.name()).collect();
            return Err(io::Error::other(format!(
                "--services {bad}: the load generator cannot drive it (it does not answer each request); use {}, redis or memcached",
                names.join(", ")
            )));
        }
        if args.engines.is_none() {
            // Their protocols are spoken by their servers only.
            spec.contenders.extend(
                Production::ALL
                    .into_iter()
                    .filter(|server| server.speaks().own().is_none())
                    .filter(|server| services.contains(&server.speaks()))
                    .map(|server| Contender::Foreign(Foreign::Production(server))),
            );
        }
        spec.services = services;
    }
    let request = RunRequest {
        path: args.path,
        flags: args.request,
    };
    request.check(&spec.services).map_err(io::Error::other)?;
    spec.request = Arc::new(request);
    if let Some(work) = args.work {
        spec.works = work;
    }
    if let Some(pipeline) = args.pipeline {
        spec.pipelines = pipeline;
    }
    if let Some(duration) = args.duration {
        spec.cell_duration = duration;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(fraction) = args.server_cpu {
        if !(fraction > 0.0 && fraction <= cores as f64) {
            return Err(io::Error::other(format!(
                "--server-cpu {fraction}: give a share of one core above 0 and at most {cores} (this machine's cores), e.g. 0.5"
            )));
        }
    }
    let baseline = match args.baseline.as_deref() {
        Some(name) => Some(
            contender_named(name, &foreign)
                .map_err(|err| io::Error::other(format!("--baseline: {err}")))?,
        ),
        None if args.verdicts => verdicts_baseline(&spec),
        None => None,
    };
    if args.verdicts && baseline.is_none() {
        // Nobody to pair with: its rounds run alone, under the quota.
        eprintln!(
            "note: --verdicts: no server of this run runs every cell to compare the others with (one server only, or each speaks its own protocol), so the rounds run one after another (no side by side, no verdict); name a second server of the same protocol in --engines for verdicts"
        );
        args.side_by_side = false;
    }
    if args.side_by_side && (baseline.is_none() || !args.pin || args.server_cpu.is_none()) {
        return Err(io::Error::other(
            "--side-by-side needs --baseline ENGINE (whom each run is paired with), --pin (both servers on the server core) and --server-cpu FRACTION (their equal quotas), e.g. --baseline epoll-raw --pin --server-cpu 0.4",
        ));
    }
    if let (true, Some(fraction)) = (args.side_by_side, args.server_cpu) {
        if fraction > 0.5 {
            return Err(io::Error::other(format!(
                "--side-by-side with --server-cpu {fraction}: two servers share the server core, so each may have at most 0.5 of it (0.4 leaves the generator room)"
            )));
        }
    }
    let quota_period = args.quota_period.unwrap_or(DEFAULT_QUOTA_PERIOD);
    if !(cgroup::MIN_PERIOD..=cgroup::MAX_PERIOD).contains(&quota_period) {
        return Err(io::Error::other(format!(
            "--quota-period {}: the kernel accepts 1ms to 1s",
            humantime::format_duration(quota_period)
        )));
    }
    if let Some(baseline) = baseline {
        if !spec.contenders.contains(&baseline) {
            return Err(io::Error::other(format!(
                "--baseline {baseline} is not among --engines: add it, or pick one of them"
            )));
        }
    }
    // The idle scenario's method, unless given: server-bound, pinned, in rounds.
    let (pin, server_cpu, rounds) = if idle_scenario {
        (
            true,
            args.server_cpu.or(Some(curve::SERVER_CPU)),
            args.rounds.map_or(curve::ROUNDS, usize::from),
        )
    } else if unp_scenario {
        (
            true,
            args.server_cpu.or(Some(unp::SERVER_CPU)),
            args.rounds.map_or(unp::ROUNDS, usize::from),
        )
    } else {
        (
            args.pin,
            args.server_cpu,
            args.rounds.map_or(1, usize::from),
        )
    };
    let (sockbench_exe, examples_dir) = programs(args.examples_dir)?;
    let mut config = CompareConfig {
        spec,
        name: args.name.unwrap_or_else(|| default_name.to_string()),
        out_dir: args.out_dir,
        pin,
        load_threads: args.load_threads.unwrap_or((cores / 2).max(1)),
        sockbench_exe,
        examples_dir,
        command_line: shell_words(std::env::args()),
        latency_connections: args.latency_connections,
        rounds,
        baseline,
        server_cpu,
        quota_period,
        side_by_side: args.side_by_side,
        ready_timeout: args
            .ready_timeout
            .unwrap_or(external::DEFAULT_READY_TIMEOUT),
        grace: args.grace.unwrap_or(external::DEFAULT_GRACE),
        stop: Arc::new(AtomicBool::new(false)),
        live: None,
    };
    if args.live {
        if live::is_available() {
            return run_compare_live(config);
        }
        eprintln!("compare: {}", live::NO_TERMINAL);
    }
    config.stop = stop_on_signals()?;
    let outcome = compare::run(&config, &mut io::stdout().lock(), &mut io::stderr().lock())?;
    Ok(exit_code(&outcome))
}

/// `compare --live`: the view owns the terminal while the comparison
/// runs; the progress lines and the table are kept and printed once it
/// is gone. q, Ctrl-C, SIGINT and SIGTERM all set the same stop flag as
/// Ctrl-C does without the view (a second one does not exit at once: that
/// would leave the terminal in raw mode).
fn run_compare_live(mut config: CompareConfig) -> io::Result<ExitCode> {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&config.stop))?;
    }
    let title = format!(
        "sockbench compare -> {}",
        config
            .out_dir
            .join(format!("{}.csv", config.name))
            .display()
    );
    let view = Live::start(Dashboard::for_compare(title), Arc::clone(&config.stop))?;
    // compare stops between runs, not in the middle of one.
    config.live = Some(view.feed().without_stop());
    let mut progress = Lines::new(view.feed());
    let mut table = Vec::new();
    let outcome = compare::run(&config, &mut table, &mut progress);
    if let Err(err) = view.finish() {
        // The terminal is back; the results matter more than the view.
        eprintln!("compare: the live view failed: {err}");
    }
    io::stderr().write_all(&progress.into_kept())?;
    io::stdout().write_all(&table)?;
    Ok(exit_code(&outcome?))
}

/// 130 for a comparison stopped early (as for a process ended by SIGINT).
fn exit_code(outcome: &compare::CompareOutcome) -> ExitCode {
    if outcome.stopped_early {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}

/// A flag that Ctrl-C (or SIGTERM) sets: the comparison ends after the run
/// under way, with the servers stopped and the results so far written; a
/// second signal exits at once.
fn stop_on_signals() -> io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// The baseline `--verdicts` picks when none is given: epoll-raw where it
/// runs every cell (it speaks echo only), else the first of `--engines`
/// that does; none when the run has one server only, or none runs every
/// cell (redis and memcached: each speaks its own protocol only), since
/// side by side a cell is run beside the baseline's or not at all.
fn verdicts_baseline(spec: &MatrixSpec) -> Option<Contender> {
    let mut running: Vec<Contender> = spec.cells().cells.iter().map(|c| c.contender).collect();
    running.dedup();
    if running.len() < 2 {
        return None;
    }
    let runs_all = |contender: Contender| {
        spec.services.iter().all(|&service| {
            spec.works
                .iter()
                .all(|&work| contender.supports(service, work))
        })
    };
    if running.contains(&Contender::EpollRaw) && runs_all(Contender::EpollRaw) {
        return Some(Contender::EpollRaw);
    }
    running
        .iter()
        .copied()
        .find(|&contender| runs_all(contender))
}

/// The rows of `--server` and `--target`, in the order given; a name
/// that is a built-in contender's or given twice is refused.
fn foreign_contenders(args: &CompareArgs) -> Result<Vec<Contender>, String> {
    let servers = args.servers.iter().map(|text| foreign::parse_server(text));
    let targets = args.targets.iter().map(|text| foreign::parse_target(text));
    let mut contenders: Vec<Contender> = Vec::new();
    for parsed in servers.chain(targets) {
        let added: Foreign = parsed?;
        let name = added.name();
        if Contender::all().iter().any(|c| c.name() == name) {
            return Err(format!(
                "--server/--target {name}: '{name}' is a built-in server's name: pick another NAME"
            ));
        }
        if contenders.iter().any(|c| c.name() == name) {
            return Err(format!(
                "--server/--target {name}: '{name}' is given twice: give each server a NAME of its own"
            ));
        }
        contenders.push(Contender::Foreign(added));
    }
    Ok(contenders)
}

/// The contender called `name`: a `--server`/`--target` row or a built-in.
fn contender_named(name: &str, foreign: &[Contender]) -> Result<Contender, String> {
    match foreign.iter().find(|c| c.name() == name) {
        Some(&contender) => Ok(contender),
        None => name.parse::<Contender>().map_err(|err| {
            if foreign.is_empty() {
                format!("{err} (or add a server of your own with --server NAME=COMMAND)")
            } else {
                err
            }
        }),
    }
}

/// This sockbench binary, and where the reference servers were built.
fn programs(examples_dir: Option<PathBuf>) -> io::Result<(PathBuf, PathBuf)> {
    let sockbench_exe = std::env::current_exe()?;
    let examples_dir = match examples_dir {
        Some(dir) => dir,
        None => sockbench_exe
            .parent()
            .map(|dir| dir.join("examples"))
            .unwrap_or_else(|| PathBuf::from("examples")),
    };
    Ok((sockbench_exe, examples_dir))
}

/// The command line as one could paste it back into a shell.
fn shell_words(args: impl Iterator<Item = String>) -> String {
    args.map(|arg| {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:,=@%+".contains(c));
        if plain {
            arg
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    })
    .collect::<Vec<_>>()
    .join(" ")
}

/// The help of `--engines`: every contender, and those the default run
/// leaves out, from [`Contender::all`] and [`MatrixSpec::default_run`], so
/// that a contender added to the code is listed here without editing it.
fn engines_help() -> String {
    let default = MatrixSpec::default_run().contenders;
    let left_out: Vec<&str> = Contender::all()
        .into_iter()
        .filter(|contender| !default.contains(contender))
        .map(Contender::name)
        .collect();
    let default = match left_out.as_slice() {
        [] => "all".to_string(),
        names => format!("all but {}", names.join(", ")),
    };
    format!(
        "Servers to compare: {} [default: {default}].\nWith --scenario: some of the scenario's servers.",
        Contender::names()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `compare --help` names every contender in its `--engines` entry,
    /// short help and long: a contender missing there fails this test.
    #[test]
    fn compare_help_lists_every_contender() {
        let mut cli = crate::cli::Cli::command();
        let compare = cli
            .find_subcommand_mut("compare")
            .expect("compare is a subcommand");
        for help in [compare.render_help(), compare.render_long_help()] {
            let help = help.to_string();
            let start = help.find("--engines").expect("--engines is documented");
            let end = help[start..]
                .find("\n      --")
                .map_or(help.len(), |end| start + end);
            let entry = &help[start..end];
            for contender in Contender::all() {
                assert!(
                    entry.contains(contender.name()),
                    "--engines help lacks {contender}: {entry}"
                );
            }
            // The help wraps lines: compare the words.
            let words = entry.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                words.contains(
                    "all but select, poll, fork, prefork-accept, prefork-flock, \
                     prefork-mutex, prefork-pass, prethreaded-mutex, prefork-x2, nginx"
                ),
                "{entry}"
            );
        }
    }

    /// `--verdicts` pairs with epoll-raw where it runs every cell, else
    /// the first server that does (redis for `--services redis`), and
    /// with nobody when only one server runs.
    #[test]
    fn verdicts_baseline_is_a_server_that_runs_every_cell() {
        use crate::engine::EngineKind;
        let redis = Contender::Foreign(Foreign::Production(Production::Redis));
        let memcached = Contender::Foreign(Foreign::Production(Production::Memcached));
        let spec = |contenders: Vec<Contender>, services: Vec<LoadService>| MatrixSpec {
            contenders,
            services,
            ..MatrixSpec::default_run()
        };
        let reactor = Contender::Engine(EngineKind::Reactor);
        let threaded = Contender::Engine(EngineKind::Threaded);
        let echo = LoadService::from(crate::service::ServiceKind::Echo);
        assert_eq!(
            verdicts_baseline(&spec(vec![reactor, Contender::EpollRaw], vec![echo])),
            Some(Contender::EpollRaw)
        );
        assert_eq!(
            verdicts_baseline(&spec(vec![threaded, reactor], vec![echo])),
            Some(threaded)
        );
        assert_eq!(
            verdicts_baseline(&spec(vec![reactor, redis], vec![LoadService::Redis])),
            None,
            "redis alone runs"
        );
        assert_eq!(
            verdicts_baseline(&spec(
                vec![reactor, memcached, redis],
                vec![LoadService::Redis, LoadService::Memcached]
            )),
            None,
            "neither runs the other's cells"
        );
    }

    /// Arguments with spaces or quotes are quoted; plain ones are not.
    #[test]
    fn command_line_is_quoted_for_a_shell() {
        let args = [
            "sockbench",
            "compare",
            "--name",
            "my run",
            "--work",
            "sleep:1ms",
            "it's",
        ];
        assert_eq!(
            shell_words(args.into_iter().map(String::from)),
            r"sockbench compare --name 'my run' --work sleep:1ms 'it'\''s'"
        );
    }
}
