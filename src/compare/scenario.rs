//! `compare --scenario c10k` and `--scenario c100k`: how many connections
//! each model holds, and what each one costs.
//!
//! A scenario is a load shape and the servers to put under it ([`Plan`]):
//! - **c10k**: 15,000 connections, each sending one request a second (open
//!   loop: 15,000 req/s in total), against every model; the blocking ones
//!   run too, and the table shows where and why they fail.
//! - **c100k**: 100,000 connections, each sending one request every 10 s
//!   (10,000 req/s), held for 60 s. One process may open at most its hard
//!   descriptor limit (20,000 here), so the server is the prefork reactor
//!   (`serve --engine reactor --processes 8`) and the load comes from 8
//!   generator processes connecting from 8 loopback addresses (one address
//!   has 28,232 ports toward the server). The one-process servers run too,
//!   to show that wall.
//!
//! Each server runs once, as a process of its own, with the scenario's
//! listen backlog. Before the load, its idle memory, threads and sockets
//! and the kernel's socket memory ([`KernelMemory`]) are read;
//! during the load a sampling thread reads them again every
//! [`SAMPLE_EVERY`]. The figures of the measured window (which begins once
//! every connection is up, or at the ramp limit) are the samples taken in
//! it: connections held are the fewest sockets the server had above its
//! idle count, memory and threads the most. Memory per connection is
//! the growth over the idle figures divided by the connections held (user
//! memory) or the connections up (the kernel's, which holds both ends of
//! every connection up, accepted or queued); the kernel's counts are
//! machine-wide. A per-second timeline says, beside each second's
//! latencies, how much CPU the rest of the machine used in it.
//!
//! `--scale F` runs the same shape with F times the connections, the rate
//! and the durations (at least 1 s measured; connects at the same rate):
//! a quick look, and what the tests run.

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::machine::MachineInfo;
use super::matrix::Contender;
use super::record;
use super::server::{self, Holding, ServerProcess, Stopped};
use crate::engine::{EngineKind, ListenAddr};
use crate::load::{self, capacity, LoadConfig, LoadReport, ProgressMode, RunLimit, Target};
use crate::netstat::{KernelMemory, Losses};
use crate::service::ServiceKind;

/// How often the server and the kernel are sampled during a run.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Sockets are counted at every this many samples only: it takes a
/// `readlink` per descriptor, some 0.1 s of CPU at 100,000.
const SOCKETS_EVERY: usize = 6;

/// The scenarios `compare --scenario` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// 15,000 connections, one request a second each, every model.
    C10k,
    /// 100,000 connections, one request every 10 s each, held 60 s.
    C100k,
}

impl Scenario {
    /// The spelling on the command line and in the results.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::C10k => "c10k",
            Scenario::C100k => "c100k",
        }
    }

    /// The load and the servers of this scenario, `scale` times its size
    /// (1.0: as described in the module docs).
    pub fn plan(self, scale: f64) -> Plan {
        let reactor = Contender::Engine(EngineKind::Reactor);
        let one = |contender| ScenarioServer {
            contender,
            processes: 1,
        };
        let (connections, requests_every, measured, warmup, sources, generators) = match self {
            Scenario::C10k => (15_000, 1, 20, 2, 2, 1),
            Scenario::C100k => (100_000, 10, 60, 5, 8, 8),
        };
        let (servers, left_out) = match self {
            Scenario::C10k => (
                [
                    Contender::Engine(EngineKind::Iterative),
                    Contender::Engine(EngineKind::Threaded),
                    Contender::Engine(EngineKind::Pool),
                    reactor,
                    Contender::Tokio,
                    Contender::EpollRaw,
                ]
                .map(one)
                .to_vec(),
                vec![
                    "offload: without work it is the reactor".to_string(),
                    "reactor-x2, prefork-x2: one reactor holds 15,000 connections (c100k runs prefork)"
                        .to_string(),
                ],
            ),
            Scenario::C100k => (
                vec![
                    ScenarioServer {
                        contender: reactor,
                        processes: 8,
                    },
                    one(reactor),
                    one(Contender::Tokio),
                    one(Contender::Engine(EngineKind::Threaded)),
                ],
                vec![
                    "iterative, pool: they serve one connection, or one per worker, at a time, and fail at c10k already".to_string(),
                    "epoll-raw: one process, as reactor and tokio, so the same descriptor wall".to_string(),
                    "offload: without work it is the reactor".to_string(),
                ],
            ),
        };
        let connections = ((connections as f64 * scale).round() as usize).max(1);
        let rate_per_s = connections as f64 / requests_every as f64;
        // Not scaled: a smaller scenario ramps up in less time.
        let connect_rate_per_s = CONNECT_RATE_PER_S;
        let ramp = Duration::from_secs_f64(connections as f64 / connect_rate_per_s);
        let scaled = |seconds: u64| Duration::from_secs_f64(seconds as f64 * scale);
        Plan {
            scenario: self,
            scale,
            servers,
            left_out,
            load: LoadConfig {
                connections,
                rate_per_s: Some(rate_per_s),
                limit: RunLimit::Duration(scaled(measured).max(Duration::from_secs(1))),
                warmup: scaled(warmup),
                connect_rate_per_s: Some(connect_rate_per_s),
                ramp_limit: Some(ramp + RAMP_SLACK),
                sources: (0..sources)
                    .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i)))
                    .collect(),
                request_timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(3),
                ..LoadConfig::default()
            },
            generator_processes: generators.min(connections),
            backlog: BACKLOG,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Connections opened per second, in total, at scale 1.
const CONNECT_RATE_PER_S: f64 = 5_000.0;

/// Time past the planned ramp before measuring begins anyway: enough for
/// a dropped SYN's retransmissions (1 s, 2 s, 4 s).
const RAMP_SLACK: Duration = Duration::from_secs(10);

/// The listen backlog of the sockbench servers (the kernel caps it at
/// `net.core.somaxconn`; `scripts/scale-sysctl.sh` raises that). The
/// reference servers keep their own 1024.
const BACKLOG: i32 = 4096;

/// One server of a scenario: a contender, as prefork with `processes > 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioServer {
    /// Which server.
    pub contender: Contender,
    /// Server processes (`serve --processes`); 1 but for prefork.
    pub processes: usize,
}

impl ScenarioServer {
    /// `prefork-xN` for a prefork reactor, else the contender's name.
    pub fn name(&self) -> String {
        if self.processes > 1 {
            format!("prefork-x{}", self.processes)
        } else {
            self.contender.name().to_string()
        }
    }

    /// The server's command line, listening on `127.0.0.1:0`.
    fn command(&self, plan: &Plan, sockbench_exe: &Path, examples_dir: &Path) -> Command {
        let program = match self.contender {
            Contender::Tokio => examples_dir.join("tokio_echo"),
            Contender::EpollRaw => examples_dir.join("epoll_raw"),
            _ => sockbench_exe.to_path_buf(),
        };
        let mut command = Command::new(program);
        if let Some(serve_args) = self.contender.serve_args() {
            // A cap above what is asked for, so it never turns clients away.
            let cap = plan.load.connections + plan.load.connections / 10 + 10;
            command.arg("serve").args(serve_args).args([
                "--backlog".to_string(),
                plan.backlog.to_string(),
                "--max-connections".to_string(),
                cap.to_string(),
                "--processes".to_string(),
                self.processes.to_string(),
            ]);
        }
        command.args(["--addr", "127.0.0.1:0"]);
        if self.contender != Contender::EpollRaw {
            command.args(["--service", ServiceKind::Echo.name()]);
        }
        command
    }
}

/// A scenario's load and servers.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Which scenario.
    pub scenario: Scenario,
    /// Its size relative to the real one.
    pub scale: f64,
    /// The servers to run, in table order.
    pub servers: Vec<ScenarioServer>,
    /// The servers not run, each with the reason.
    pub left_out: Vec<String>,
    /// The load (its target is set per server).
    pub load: LoadConfig,
    /// Generator processes the load is spread over.
    pub generator_processes: usize,
    /// The sockbench servers' listen backlog.
    pub backlog: i32,
}

impl Plan {
    /// Keep only the servers named in `names` (`--engines`); a name that is
    /// not one of this scenario's servers is an error naming those.
    pub fn select(&mut self, names: &[String]) -> Result<(), String> {
        let known: Vec<String> = self.servers.iter().map(ScenarioServer::name).collect();
        if let Some(unknown) = names.iter().find(|name| !known.contains(name)) {
            return Err(format!(
                "--engines {unknown}: the {} scenario runs {}; pick among them",
                self.scenario,
                known.join(", ")
            ));
        }
        self.servers.retain(|server| names.contains(&server.name()));
        Ok(())
    }

    /// One line saying what the load is, for the machine file and stderr.
    pub fn describe(&self) -> String {
        let measured = match self.load.limit {
            RunLimit::Duration(d) => humantime::format_duration(d).to_string(),
            RunLimit::Requests(n) => format!("{n} requests"),
        };
        let sources = &self.load.sources;
        format!(
            "{} (scale {}): {} connections, {} req/s in total (open loop, one request every {:.0} s per connection), 64 B echo, measured {measured} after every connection is up and a {} warmup; connects at {:.0}/s, measuring begins at the latest {} after the first; from {} source addresses ({}-{}) over {} generator process(es); listen backlog {} (sockbench servers)",
            self.scenario,
            self.scale,
            self.load.connections,
            self.load.rate_per_s.unwrap_or(0.0),
            self.load.connections as f64 / self.load.rate_per_s.unwrap_or(1.0),
            humantime::format_duration(self.load.warmup),
            self.load.connect_rate_per_s.unwrap_or(0.0),
            humantime::format_duration(self.load.effective_ramp_limit()),
            sources.len(),
            sources.first().map_or("-".to_string(), IpAddr::to_string),
            sources.last().map_or("-".to_string(), IpAddr::to_string),
            self.generator_processes,
            self.backlog,
        )
    }
}

/// Everything a scenario run needs besides its plan.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    /// The load and the servers.
    pub plan: Plan,
    /// Results are `OUT/NAME.csv`, `OUT/NAME.machine.txt`, `OUT/NAME.table.txt`.
    pub name: String,
    /// The results directory.
    pub out_dir: PathBuf,
    /// The `sockbench` binary: the engines and the generator processes.
    pub sockbench_exe: PathBuf,
    /// Where `tokio_echo` and `epoll_raw` were built.
    pub examples_dir: PathBuf,
    /// The command line, for the machine file.
    pub command_line: String,
    /// Set (by Ctrl-C) to stop after the server under way.
    pub stop: Arc<AtomicBool>,
}

/// One server's row: what it held and what that cost. Columns in order:
///
/// | column | meaning |
/// |---|---|
/// | `scenario`, `engine` | which scenario, which server (`prefork-xN`: the reactor as N processes) |
/// | `connections`, `rate_per_s` | connections and total req/s asked for |
/// | `server_connections` | connections the server held through the measured window: the fewest sockets above its idle count in the window's samples (empty if the server was gone) |
/// | `connections_up` | connections the generator had up (established at least once) when measuring began |
/// | `connections_open_at_end` | the generator's connections open when it stopped |
/// | `ramp_s` | seconds from the first connect until measuring began (empty if it never did) |
/// | `duration_s`, `requests`, `req_per_s` | the measured window and its correct answers |
/// | `p50_us`, `p99_us`, `p999_us`, `max_us` | latency from each request's intended send time (empty without answers) |
/// | `errors`, `errors_by_kind` | errors of the whole run, ramp included, `kind=count;...` |
/// | `slow_connects` | connects that took over 1 s (a SYN sent again) |
/// | `listen_overflows`, `listen_drops` | growth of the kernel's counters over the run (every listener) |
/// | `outcome` | how the load run ended (`finished`, `server-lost`, `cut-off`, `generator-lost`, `load-failed`) |
/// | `server_threads` | the most threads the server had in the window |
/// | `server_descriptors_most`, `descriptor_limit` | the most descriptors one server process had open in the window's counts, and the hard limit of each process |
/// | `server_rss_idle_kb`, `server_rss_kb` | server resident memory before the load, and the most in the window (all its processes) |
/// | `rss_per_connection_kib` | `(server_rss_kb - server_rss_idle_kb) / server_connections` |
/// | `kernel_tcp_buffers_kb`, `kernel_slab_kb` | growth of the kernel's TCP buffer pages and slab caches from before the load to the most in the window, machine-wide ([`KernelMemory`]) |
/// | `tcp_buffers_per_connection_kib`, `slab_per_connection_kib` | the same divided by `connections_up`: both ends of every connection the generator had up are in the kernel, whether the server accepted it or left it in its queue |
/// | `server_cores`, `load_cores` | CPU the server and the load generator (this process and its generator processes, the sampler left out) used in the window, in cores (CPU seconds per second) |
/// | `other_cores`, `steal_cores` | CPU the rest of the machine used in the window (its busy time, `/proc/stat`, less the server's, the load's and the sampler's), and the time the hypervisor gave this machine's cores to other guests, in cores: what else competed for the cores |
/// | `sampler_cores` | CPU the sampling thread itself used (counting sockets costs): the measurement's own cost |
/// | `backlog_drops`, `data_retransmits` | packets dropped at a full backlog queue and TCP data segments sent again in the window, machine-wide ([`Losses`]): each resent segment waited at least 200 ms |
/// | `generator_processes`, `load_threads`, `sources` | how the load was made |
/// | `server_log` | the last two lines the server wrote on stderr, if any: often why it failed |
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[allow(missing_docs)] // the columns are documented in the table above
pub struct ScenarioRecord {
    pub scenario: String,
    pub engine: String,
    pub connections: u64,
    pub rate_per_s: f64,
    pub server_connections: Option<u64>,
    pub connections_up: u64,
    pub connections_open_at_end: u64,
    pub ramp_s: Option<f64>,
    pub duration_s: f64,
    pub requests: u64,
    pub req_per_s: f64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub p999_us: Option<u64>,
    pub max_us: Option<u64>,
    pub errors: u64,
    pub errors_by_kind: String,
    pub slow_connects: u64,
    pub listen_overflows: Option<u64>,
    pub listen_drops: Option<u64>,
    pub outcome: String,
    pub server_threads: Option<u64>,
    pub server_descriptors_most: Option<u64>,
    pub descriptor_limit: u64,
    pub server_rss_idle_kb: u64,
    pub server_rss_kb: Option<u64>,
    pub rss_per_connection_kib: Option<f64>,
    pub kernel_tcp_buffers_kb: Option<u64>,
    pub kernel_slab_kb: Option<u64>,
    pub tcp_buffers_per_connection_kib: Option<f64>,
    pub slab_per_connection_kib: Option<f64>,
    pub server_cores: Option<f64>,
    pub load_cores: Option<f64>,
    pub other_cores: Option<f64>,
    pub steal_cores: Option<f64>,
    pub sampler_cores: Option<f64>,
    pub backlog_drops: Option<u64>,
    pub data_retransmits: Option<u64>,
    pub generator_processes: u64,
    pub load_threads: u64,
    pub sources: u64,
    pub server_log: String,
}

/// Run the scenario: every server in turn, one row each; the table on
/// `out`, progress on `progress`. Returns the rows.
pub fn run(
    config: &ScenarioConfig,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> io::Result<Vec<ScenarioRecord>> {
    let plan = &config.plan;
    for line in &plan.left_out {
        writeln!(progress, "not run: {line}")?;
    }
    for server in &plan.servers {
        let program = server
            .command(plan, &config.sockbench_exe, &config.examples_dir)
            .get_program()
            .to_owned();
        if !Path::new(&program).is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} is not built: {} does not exist. Build it with `cargo build --release --bins --examples` (./scripts/compare.sh does), point --examples-dir at it, or leave it out with --engines",
                    server.name(),
                    Path::new(&program).display()
                ),
            ));
        }
    }
    // Every process of the run, servers included, may open as many
    // descriptors as the hard limit allows: the wall a scenario shows.
    let descriptors = capacity::raise_descriptor_limit()?;
    let mut info = MachineInfo::gather(config.command_line.clone(), "none".to_string());
    info.method.push(("scenario".to_string(), plan.describe()));
    info.method
        .push(("kernel settings".to_string(), kernel_settings(descriptors)));
    info.method.push((
        "memory".to_string(),
        format!("server RSS and threads summed over its processes; kernel TCP buffers (/proc/net/sockstat TCP mem) and slab (/proc/meminfo Slab) machine-wide, growth from before the load to the most in the window, sampled every {}", humantime::format_duration(SAMPLE_EVERY)),
    ));
    std::fs::create_dir_all(&config.out_dir).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot create {}: {err}", config.out_dir.display()),
        )
    })?;
    let csv = config.out_dir.join(format!("{}.csv", config.name));
    let machine = config.out_dir.join(format!("{}.machine.txt", config.name));
    std::fs::write(&machine, info.render())?;
    writeln!(progress, "{}", plan.describe())?;

    let timeline_csv = config.out_dir.join(format!("{}.timeline.csv", config.name));
    let mut records = Vec::new();
    let mut seconds = Vec::new();
    for (index, server) in plan.servers.iter().enumerate() {
        if config.stop.load(Ordering::Relaxed) {
            writeln!(progress, "stopped early: {} servers run", records.len())?;
            break;
        }
        writeln!(
            progress,
            "[{}/{}] {} {}",
            index + 1,
            plan.servers.len(),
            plan.scenario,
            server.name()
        )?;
        let (record, timeline) = run_one(config, server).unwrap_or_else(|err| {
            let mut record = empty_record(plan, server, 0, String::new());
            record.outcome = "server-failed".to_string();
            record.errors = 1;
            record.errors_by_kind = format!("server-failed={}", csv_safe(&err.to_string()));
            (record, Vec::new())
        });
        writeln!(progress, "  {}", headline(&record))?;
        records.push(record);
        seconds.extend(timeline);
        // Rewritten after every server: an interrupted run keeps its rows.
        record::write_csv(&csv, &records)?;
        record::write_csv(&timeline_csv, &seconds)?;
    }
    let table = render(plan, &records);
    write!(out, "{table}")?;
    let table_path = config.out_dir.join(format!("{}.table.txt", config.name));
    std::fs::write(&table_path, &table)?;
    writeln!(out)?;
    for path in [&csv, &timeline_csv, &machine, &table_path] {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(records)
}

/// The kernel settings that bound a scenario, as one line.
fn kernel_settings(descriptors: u64) -> String {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|text| text.split_whitespace().collect::<Vec<_>>().join("-"))
            .unwrap_or_else(|_| "absent".to_string())
    };
    format!(
        "descriptors per process {descriptors}; net.core.somaxconn {}; net.core.netdev_max_backlog {}; net.ipv4.tcp_max_syn_backlog {}; net.ipv4.ip_local_port_range {}; net.netfilter.nf_conntrack_max {} (entries in use at start: {})",
        read("/proc/sys/net/core/somaxconn"),
        read("/proc/sys/net/core/netdev_max_backlog"),
        read("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
        read("/proc/sys/net/ipv4/ip_local_port_range"),
        read("/proc/sys/net/netfilter/nf_conntrack_max"),
        read("/proc/sys/net/netfilter/nf_conntrack_count"),
    )
}

/// What the sampling thread read at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: SystemTime,
    holding: Option<Holding>,
    kernel: Option<KernelMemory>,
    server_cpu_s: Option<f64>,
    /// This process and its generator processes.
    load_cpu_s: Option<f64>,
    /// The whole machine's busy CPU time and the time the hypervisor took.
    machine: Option<MachineCpu>,
    /// Packets dropped and sent again, machine-wide.
    losses: Option<Losses>,
    /// CPU time of the thread that took the sample (the sampler), so far:
    /// counting sockets costs, and it is not the load's.
    sampler_cpu_s: f64,
}

/// CPU time of the whole machine so far, from the `cpu` line of
/// `/proc/stat`, in seconds summed over cores.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MachineCpu {
    /// user + nice + system + irq + softirq: every process's work, ours too.
    busy_s: f64,
    /// steal: time this virtual machine wanted a core and the hypervisor
    /// gave it to another guest.
    steal_s: f64,
}

impl MachineCpu {
    fn read() -> Option<MachineCpu> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    fn parse(stat: &str) -> Option<MachineCpu> {
        let ticks: Vec<f64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()?;
        let [user, nice, system, _idle, _iowait, irq, softirq, steal, ..] = ticks[..] else {
            return None;
        };
        let per_s = server::clock_ticks_per_s();
        Some(MachineCpu {
            busy_s: (user + nice + system + irq + softirq) / per_s,
            steal_s: steal / per_s,
        })
    }
}

/// CPU time of the calling thread so far, in seconds.
fn thread_cpu_s() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// Read the server, the kernel and the load's CPU now.
fn sample(server: &ServerProcess, count_sockets: bool) -> Sample {
    let at = SystemTime::now();
    let sampler_cpu_s = thread_cpu_s();
    let server_cpu_s = server.stats().ok().map(|s| s.cpu_s);
    // This process's tree holds the servers and the sampler too: take
    // them out.
    let load_cpu_s = server::tree_stats(std::process::id())
        .ok()
        .zip(server_cpu_s)
        .map(|(all, server)| all.cpu_s - server - sampler_cpu_s);
    Sample {
        at,
        sampler_cpu_s,
        holding: server.holding(count_sockets).ok(),
        kernel: KernelMemory::read().ok(),
        server_cpu_s,
        load_cpu_s,
        machine: MachineCpu::read(),
        losses: Losses::read().ok(),
    }
}

/// Start `server`, load it with the plan; its row and its timeline.
fn run_one(
    config: &ScenarioConfig,
    server: &ScenarioServer,
) -> io::Result<(ScenarioRecord, Vec<TimelineRow>)> {
    let plan = &config.plan;
    let process = ServerProcess::start(
        server.command(plan, &config.sockbench_exe, &config.examples_dir),
        server::READY_TIMEOUT,
    )?;
    let ListenAddr::Tcp(addr) = *process.addr() else {
        return Err(io::Error::other("the server did not listen on TCP"));
    };
    let idle = sample(&process, true);
    let done = AtomicBool::new(false);
    let (load, samples) = thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                // A timed sample, not synchronisation.
                thread::sleep(SAMPLE_EVERY);
                samples.push(sample(&process, samples.len() % SOCKETS_EVERY == 0));
            }
            samples
        });
        let load = run_load(config, addr);
        done.store(true, Ordering::Relaxed);
        (load, sampler.join().expect("the sampler does not panic"))
    });
    // The last two lines: a failure and its recovery often come in pairs.
    let excerpt = process.stderr_excerpt();
    let lines: Vec<&str> = excerpt.lines().skip(1).map(str::trim).collect();
    let server_log: String = lines[lines.len().saturating_sub(2)..]
        .join(" | ")
        .chars()
        .take(300)
        .collect();
    match process.stop(server::STOP_TIMEOUT)? {
        Stopped::Exited(_) => {}
        Stopped::Killed => eprintln!("  note: {} ignored SIGTERM and was killed", server.name()),
    }
    let timeline = match &load {
        Ok(report) => timeline_of(&server.name(), report, &samples),
        Err(_) => Vec::new(),
    };
    Ok((
        record_of(plan, server, load, &idle, &samples, server_log),
        timeline,
    ))
}

/// Run the plan's load against `addr`: in this process, or over the
/// plan's generator processes.
fn run_load(config: &ScenarioConfig, addr: SocketAddr) -> io::Result<LoadReport> {
    let load = LoadConfig {
        target: Target::Tcp(addr),
        ..config.plan.load.clone()
    };
    let processes = config.plan.generator_processes;
    if processes > 1 {
        let command = |share: &LoadConfig, hdr_log: &Path| {
            load::processes::child_command(&config.sockbench_exe, share, hdr_log)
        };
        load::processes::run_parent(&load, processes, ProgressMode::Lines, &command)
    } else {
        load::run(&load, ProgressMode::Lines)
    }
}

/// A row with the plan's figures and no measurements.
fn empty_record(
    plan: &Plan,
    server: &ScenarioServer,
    server_rss_idle_kb: u64,
    server_log: String,
) -> ScenarioRecord {
    ScenarioRecord {
        scenario: plan.scenario.name().to_string(),
        engine: server.name(),
        connections: plan.load.connections as u64,
        rate_per_s: plan.load.rate_per_s.unwrap_or(0.0),
        server_connections: None,
        connections_up: 0,
        connections_open_at_end: 0,
        ramp_s: None,
        duration_s: 0.0,
        requests: 0,
        req_per_s: 0.0,
        p50_us: None,
        p99_us: None,
        p999_us: None,
        max_us: None,
        errors: 0,
        errors_by_kind: String::new(),
        slow_connects: 0,
        listen_overflows: None,
        listen_drops: None,
        outcome: "load-failed".to_string(),
        server_threads: None,
        server_descriptors_most: None,
        descriptor_limit: capacity::descriptor_limits().map_or(0, |(_, hard)| hard),
        server_rss_idle_kb,
        server_rss_kb: None,
        rss_per_connection_kib: None,
        kernel_tcp_buffers_kb: None,
        kernel_slab_kb: None,
        tcp_buffers_per_connection_kib: None,
        slab_per_connection_kib: None,
        server_cores: None,
        load_cores: None,
        other_cores: None,
        steal_cores: None,
        sampler_cores: None,
        backlog_drops: None,
        data_retransmits: None,
        generator_processes: plan.generator_processes as u64,
        load_threads: 0,
        sources: plan.load.sources.len() as u64,
        server_log,
    }
}

/// `text` with no `;` or `,`, to sit inside the `errors_by_kind` column.
fn csv_safe(text: &str) -> String {
    text.replace([',', ';', '\n'], " ")
}

/// The row of one server from its load report and its samples.
fn record_of(
    plan: &Plan,
    server: &ScenarioServer,
    load: io::Result<LoadReport>,
    idle: &Sample,
    samples: &[Sample],
    server_log: String,
) -> ScenarioRecord {
    let idle_rss = idle.holding.map_or(0, |h| h.rss_kb);
    let mut record = empty_record(plan, server, idle_rss, server_log);
    let report = match load {
        Ok(report) => report,
        Err(err) => {
            record.errors = 1;
            record.errors_by_kind = format!("load-failed={}", csv_safe(&err.to_string()));
            return record;
        }
    };
    let row = report.row();
    let answered = report.requests > 0;
    record.connections_up = row.connections_up;
    record.connections_open_at_end = row.connections_open_at_end;
    record.ramp_s = row.ramp_s.map(|s| round(s, 3));
    record.duration_s = round(row.duration_s, 3);
    record.requests = row.requests;
    record.req_per_s = round(row.req_per_s, 1);
    record.p50_us = answered.then_some(row.p50_us);
    record.p99_us = answered.then_some(row.p99_us);
    record.p999_us = answered.then_some(row.p999_us);
    record.max_us = answered.then_some(row.max_us);
    record.errors = row.errors;
    record.errors_by_kind = report
        .errors
        .by_kind()
        .iter()
        .map(|(kind, n)| format!("{kind}={n}"))
        .collect::<Vec<_>>()
        .join(";");
    record.slow_connects = row.slow_connects;
    record.listen_overflows = row.listen_overflows;
    record.listen_drops = row.listen_drops;
    record.outcome = report.outcome.name().to_string();
    record.load_threads = row.threads as u64;

    // The samples of the measured window; if it was too short for one,
    // the last sample taken.
    // The window as planned: the report's duration runs on to when the
    // load stopped, and by then connections are closing.
    let start = report.started_at;
    let planned = match plan.load.limit {
        RunLimit::Duration(duration) => duration.as_secs_f64(),
        RunLimit::Requests(_) => report.duration_s,
    };
    let end = start + Duration::from_secs_f64(report.duration_s.min(planned));
    let mut window: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= start && s.at <= end)
        .collect();
    if window.is_empty() {
        // A window too short for a sample (or a run that ended early):
        // the last sample before its end.
        window.extend(samples.iter().rev().find(|s| s.at <= end));
    }
    let holdings: Vec<Holding> = window.iter().filter_map(|s| s.holding).collect();
    // Sockets are counted in some samples only; a window too short for one
    // takes the last count before its end.
    let mut counted: Vec<u64> = holdings.iter().filter_map(|h| h.sockets).collect();
    if counted.is_empty() {
        counted.extend(
            samples
                .iter()
                .rev()
                .filter(|s| s.at <= end)
                .find_map(|s| s.holding?.sockets),
        );
    }
    let (Some(idle_holding), Some(idle_sockets), false) = (
        idle.holding,
        idle.holding.and_then(|h| h.sockets),
        holdings.is_empty() || counted.is_empty(),
    ) else {
        return record; // the server was gone
    };
    let held = counted
        .iter()
        .map(|n| n.saturating_sub(idle_sockets))
        .min()
        .unwrap_or(0);
    let rss_kb = holdings.iter().map(|h| h.rss_kb).max().unwrap_or(0);
    record.server_connections = Some(held);
    record.server_threads = holdings.iter().map(|h| h.threads).max();
    record.server_descriptors_most = holdings.iter().filter_map(|h| h.descriptors_most).max();
    record.server_rss_kb = Some(rss_kb);
    record.rss_per_connection_kib =
        per_connection(rss_kb.saturating_sub(idle_holding.rss_kb), held);
    if let Some(idle_kernel) = idle.kernel {
        let grown = window
            .iter()
            .filter_map(|s| s.kernel)
            .map(|k| k.since(idle_kernel));
        let (buffers, slab) = grown.fold((0, 0), |(b, s), k| {
            (b.max(k.tcp_buffers_kib), s.max(k.slab_kib))
        });
        // Both ends of every connection the generator had up are in the
        // kernel, accepted by the server or still in its queue.
        let up = record.connections_up;
        record.kernel_tcp_buffers_kb = Some(buffers);
        record.kernel_slab_kb = Some(slab);
        record.tcp_buffers_per_connection_kib = per_connection(buffers, up);
        record.slab_per_connection_kib = per_connection(slab, up);
    }
    let cores = Cores::between(window[0], window[window.len() - 1]);
    record.server_cores = cores.server;
    record.load_cores = cores.load;
    record.other_cores = cores.other;
    record.steal_cores = cores.steal;
    record.sampler_cores = cores.sampler;
    let losses = losses_between(window[0], window[window.len() - 1]);
    record.backlog_drops = losses.map(|l| l.backlog_drops);
    record.data_retransmits = losses.map(|l| l.data_retransmits);
    record
}

/// `kib` shared over `connections`, to two decimals; none without connections.
fn per_connection(kib: u64, connections: u64) -> Option<f64> {
    (connections > 0).then(|| round(kib as f64 / connections as f64, 2))
}

/// CPU used between two samples, in cores (CPU seconds per second); none
/// where unknown, or where a process ended in between (its time left the
/// sum).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cores {
    server: Option<f64>,
    load: Option<f64>,
    /// The machine's busy time less the server's, the load's and the sampler's.
    other: Option<f64>,
    steal: Option<f64>,
    sampler: Option<f64>,
}

impl Cores {
    fn between(first: &Sample, last: &Sample) -> Cores {
        let span_s = last
            .at
            .duration_since(first.at)
            .map_or(0.0, |span| span.as_secs_f64());
        if span_s <= 0.0 {
            return Cores::default();
        }
        let rate = |a: Option<f64>, b: Option<f64>| {
            a.zip(b)
                .map(|(a, b)| (b - a) / span_s)
                .filter(|cores| *cores >= 0.0)
        };
        let server = rate(first.server_cpu_s, last.server_cpu_s);
        let load = rate(first.load_cpu_s, last.load_cpu_s);
        let sampler = rate(Some(first.sampler_cpu_s), Some(last.sampler_cpu_s));
        let busy = rate(
            first.machine.map(|m| m.busy_s),
            last.machine.map(|m| m.busy_s),
        );
        let round2 = |v: Option<f64>| v.map(|v| round(v, 2));
        Cores {
            server: round2(server),
            load: round2(load),
            other: round2(busy.zip(server.zip(load.zip(sampler))).map(
                |(busy, (server, (load, sampler)))| (busy - server - load - sampler).max(0.0),
            )),
            steal: round2(rate(
                first.machine.map(|m| m.steal_s),
                last.machine.map(|m| m.steal_s),
            )),
            sampler: round2(sampler),
        }
    }
}

/// What was dropped and resent between two samples.
fn losses_between(first: &Sample, last: &Sample) -> Option<Losses> {
    Some(last.losses?.since(first.losses?))
}

/// One second of one server's measured window: the load's figures and
/// what else used the machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineRow {
    /// Which server.
    pub engine: String,
    /// Seconds since measuring began.
    pub second: u64,
    /// Correct answers in that second.
    pub requests: u64,
    /// Errors in that second.
    pub errors: u64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// Largest latency, µs.
    pub max_us: u64,
    /// Cores used by the server, the load and the rest of the machine, and
    /// stolen by the hypervisor, between the samples around that second
    /// (the last before it, the first after it: a little over a second;
    /// empty at the ends of the run), as in [`ScenarioRecord`].
    pub server_cores: Option<f64>,
    #[allow(missing_docs)]
    pub load_cores: Option<f64>,
    #[allow(missing_docs)]
    pub other_cores: Option<f64>,
    #[allow(missing_docs)]
    pub steal_cores: Option<f64>,
    /// Backlog drops and data retransmits between the same samples.
    pub backlog_drops: Option<u64>,
    #[allow(missing_docs)]
    pub data_retransmits: Option<u64>,
}

/// The per-second rows of one server's run.
fn timeline_of(engine: &str, report: &LoadReport, samples: &[Sample]) -> Vec<TimelineRow> {
    report
        .intervals
        .iter()
        .map(|interval| {
            let from = report.started_at + Duration::from_secs(interval.second);
            let to = from + Duration::from_secs(1);
            // The samples around the second: the last at or before its
            // start, the first at or after its end.
            let before = samples.iter().rev().find(|s| s.at <= from);
            let after = samples.iter().find(|s| s.at >= to);
            let (cores, losses) = match (before, after) {
                (Some(first), Some(last)) => {
                    (Cores::between(first, last), losses_between(first, last))
                }
                _ => (Cores::default(), None),
            };
            let latency = &interval.latency_us;
            TimelineRow {
                engine: engine.to_string(),
                second: interval.second,
                requests: interval.requests,
                errors: interval.errors.total(),
                p50_us: latency.value_at_quantile(0.5),
                p99_us: latency.value_at_quantile(0.99),
                max_us: latency.max(),
                server_cores: cores.server,
                load_cores: cores.load,
                other_cores: cores.other,
                steal_cores: cores.steal,
                backlog_drops: losses.map(|l| l.backlog_drops),
                data_retransmits: losses.map(|l| l.data_retransmits),
            }
        })
        .collect()
}

/// `value` rounded to `decimals` places, so the CSV reads cleanly.
fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// One line of headline figures for the progress output.
fn headline(record: &ScenarioRecord) -> String {
    let held = record
        .server_connections
        .map_or("?".to_string(), |n| n.to_string());
    format!(
        "held {held} of {} connections, {:.0} req/s, p99 {}, {} errors{}, {}",
        record.connections,
        record.req_per_s,
        micros(record.p99_us),
        record.errors,
        if record.errors_by_kind.is_empty() {
            String::new()
        } else {
            format!(" ({})", record.errors_by_kind)
        },
        record.outcome
    )
}

/// A latency for the table: µs under 10 ms, ms above; `-` without one.
fn micros(us: Option<u64>) -> String {
    match us {
        None => "-".to_string(),
        Some(us) if us < 10_000 => format!("{us} µs"),
        Some(us) => format!("{:.1} ms", us as f64 / 1000.0),
    }
}

/// The table: one row per server, then a line per server that fell short,
/// saying what it ran into.
pub fn render(plan: &Plan, records: &[ScenarioRecord]) -> String {
    let mut text = format!("{}\n\n", plan.describe());
    text.push_str("| engine | held / asked | up at start | req/s | p50 | p99 | max | errors | server RSS | RSS per conn | threads | kernel per conn (buffers + slab) | cores: server, load, others | outcome |\n");
    text.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let kib = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} KiB"));
    for r in records {
        let kernel = match (r.tcp_buffers_per_connection_kib, r.slab_per_connection_kib) {
            (Some(b), Some(s)) => format!("{b:.1} + {s:.1} KiB"),
            _ => "-".to_string(),
        };
        text.push_str(&format!(
            "| {} | {} / {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {kernel} | {} | {} |\n",
            r.engine,
            r.server_connections
                .map_or("-".to_string(), |n| n.to_string()),
            r.connections,
            r.connections_up,
            r.req_per_s,
            micros(r.p50_us),
            micros(r.p99_us),
            micros(r.max_us),
            if r.errors == 0 {
                "0".to_string()
            } else {
                format!("{} ({})", r.errors, r.errors_by_kind)
            },
            r.server_rss_kb.map_or("-".to_string(), |kb| format!(
                "{:.1} MiB",
                kb as f64 / 1024.0
            )),
            kib(r.rss_per_connection_kib),
            r.server_threads.map_or("-".to_string(), |n| n.to_string()),
            cores(r),
            r.outcome,
        ));
    }
    let short: Vec<&ScenarioRecord> = records
        .iter()
        .filter(|r| {
            r.server_connections != Some(r.connections)
                || r.errors > 0
                || r.data_retransmits.is_some_and(|n| n > 0)
        })
        .collect();
    if !short.is_empty() {
        text.push_str("\nWhere a server fell short:\n");
        for r in short {
            text.push_str(&format!("- {}: {}\n", r.engine, shortfall(r)));
        }
    }
    text
}

/// Cores used in the window: the server, the load, and the rest of the
/// machine (`-` where unknown).
fn cores(r: &ScenarioRecord) -> String {
    let show = |cores: Option<f64>| cores.map_or("-".to_string(), |c| format!("{c:.2}"));
    format!(
        "{}, {}, {}",
        show(r.server_cores),
        show(r.load_cores),
        show(r.other_cores)
    )
}

/// What one server ran into, from its row.
fn shortfall(r: &ScenarioRecord) -> String {
    let mut parts = vec![format!(
        "held {} of {} connections through the window ({} up when measuring began)",
        r.server_connections
            .map_or("?".to_string(), |n| n.to_string()),
        r.connections,
        r.connections_up
    )];
    if let Some(most) = r.server_descriptors_most {
        parts.push(format!(
            "{most} descriptors open in its busiest process (limit {})",
            r.descriptor_limit
        ));
    }
    if r.errors > 0 {
        parts.push(format!("errors {}", r.errors_by_kind.replace(';', ", ")));
    }
    if let (Some(drops), Some(resent)) = (r.backlog_drops, r.data_retransmits) {
        if drops + resent > 0 {
            parts.push(format!(
                "in the window the kernel dropped {drops} packets at a full backlog queue and sent {resent} data segments again (each at least 200 ms late)"
            ));
        }
    }
    if r.slow_connects > 0 {
        parts.push(format!("{} connects over 1 s", r.slow_connects));
    }
    if let (Some(overflows), Some(drops)) = (r.listen_overflows, r.listen_drops) {
        if overflows + drops > 0 {
            parts.push(format!(
                "ListenOverflows +{overflows}, ListenDrops +{drops} (its accept queue was full)"
            ));
        }
    }
    if !r.server_log.is_empty() {
        parts.push(format!("the server's last message: \"{}\"", r.server_log));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scenarios as the issue describes them: c10k 15,000 connections
    /// at one request a second each, every model; c100k 100,000 at one
    /// every 10 s, 60 s, prefork reactor, eight processes and addresses.
    #[test]
    fn scenarios_set_the_load_shape_the_issue_asks_for() {
        let c10k = Scenario::C10k.plan(1.0);
        assert_eq!(c10k.load.connections, 15_000);
        assert_eq!(c10k.load.rate_per_s, Some(15_000.0));
        assert_eq!(c10k.generator_processes, 1);
        let names: Vec<String> = c10k.servers.iter().map(ScenarioServer::name).collect();
        assert_eq!(
            names,
            [
                "iterative",
                "threaded",
                "pool",
                "reactor",
                "tokio",
                "epoll-raw"
            ]
        );
        let c100k = Scenario::C100k.plan(1.0);
        assert_eq!(c100k.load.connections, 100_000);
        assert_eq!(c100k.load.rate_per_s, Some(10_000.0));
        assert_eq!(
            c100k.load.limit,
            RunLimit::Duration(Duration::from_secs(60))
        );
        assert_eq!(c100k.servers[0].name(), "prefork-x8");
        assert_eq!(c100k.generator_processes, 8);
        assert_eq!(c100k.load.sources.len(), 8);
        // Every share fits in a process and an address.
        let ports = capacity::PortRange(32768..=60999);
        capacity::check_ports(&c100k.load, &ports).unwrap();
        assert_eq!(capacity::crowded_ports_warning(&c100k.load, &ports), None);
        assert!(c100k.load.connections / c100k.generator_processes < 19_936);
        c100k.load.validate().unwrap();
    }

    /// Scaled down, the shape stays (rate per connection, servers), the
    /// durations shrink but measure at least a second.
    #[test]
    fn a_scaled_scenario_keeps_its_shape() {
        let small = Scenario::C100k.plan(0.001);
        assert_eq!(small.load.connections, 100);
        assert_eq!(small.load.rate_per_s, Some(10.0));
        assert_eq!(small.load.limit, RunLimit::Duration(Duration::from_secs(1)));
        assert_eq!(small.servers.len(), Scenario::C100k.plan(1.0).servers.len());
        assert_eq!(small.generator_processes, 8);
        assert_eq!(Scenario::C10k.plan(0.0001).load.connections, 2);
    }

    /// The machine's busy time counts user, nice, system, irq and softirq,
    /// not idle or iowait; steal apart.
    #[test]
    fn machine_cpu_adds_the_busy_columns_of_proc_stat() {
        let ticks = server::clock_ticks_per_s();
        let stat = format!(
            "cpu  {} 0 {} 999999 5 {} {} {} 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n",
            ticks * 3.0,
            ticks,
            ticks / 2.0,
            ticks / 2.0,
            ticks * 2.0
        );
        let cpu = MachineCpu::parse(&stat).unwrap();
        assert!((cpu.busy_s - 5.0).abs() < 1e-9, "{cpu:?}");
        assert!((cpu.steal_s - 2.0).abs() < 1e-9, "{cpu:?}");
        assert_eq!(MachineCpu::parse("intr 1 2 3\n"), None);
    }

    /// `--engines` keeps the servers named; one the scenario does not run
    /// is refused with the list.
    #[test]
    fn select_keeps_named_servers_and_refuses_others() {
        let mut plan = Scenario::C100k.plan(1.0);
        plan.select(&["prefork-x8".to_string()]).unwrap();
        assert_eq!(plan.servers.len(), 1);
        let err = Scenario::C100k
            .plan(1.0)
            .select(&["pool".to_string()])
            .unwrap_err();
        assert!(
            err.contains("runs prefork-x8, reactor, tokio, threaded"),
            "{err}"
        );
    }
}
