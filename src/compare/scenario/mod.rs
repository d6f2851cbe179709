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
//! and the kernel's socket memory ([`KernelMemory`](crate::sys::netstat::KernelMemory)) are read;
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
//! The production servers that speak HTTP (nginx, Apache's three MPMs)
//! run a scenario too when `--engines` names them (`--engines
//! apache-prefork,apache-worker,apache-event`): started from their own
//! commands ([`super::foreign`]), loaded with sockbench's `http` request
//! instead of echo, sampled over their whole process tree.
//!
//! `--scale F` runs the same shape with F times the connections, the rate
//! and the durations (at least 1 s measured; connects at the same rate):
//! a quick look, and what the tests run.
//!
//! Here: the scenarios, their plans and the run, server by server. In
//! `sample.rs`: what the sampling thread reads; in `record.rs`: the rows
//! made from the load report and the samples; in `table.rs`: the table.

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

mod record;
mod sample;
mod table;

pub use record::{ScenarioRecord, TimelineRow};
pub use table::render;

use super::foreign::{self, Foreign};
use super::launch::{self, Programs};
use super::machine::MachineInfo;
use super::matrix::{Contender, Transport};
use super::record as csv_file;
use super::results::{self, Results};
use crate::engine::{EngineKind, ListenAddr};
use crate::external::{self, ExternalServer};
use crate::load::{self, LoadConfig, LoadReport, ProgressMode, RunLimit, Target};
use crate::service::ServiceKind;
use crate::sys::process::{self, ServerProcess, Stopped};
use record::{csv_safe, empty_record, record_of, timeline_of};
use sample::sample;
use table::headline;

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

    /// The server's command line, listening on `127.0.0.1:0`, from the
    /// contender's ([`launch`]) with the scenario's backlog, a connection
    /// cap above what is asked for (so it never turns clients away) and
    /// its processes.
    fn command(&self, plan: &Plan, programs: Programs<'_>) -> Command {
        let cap = plan.load.connections + plan.load.connections / 10 + 10;
        let serve_flags = [
            "--backlog".to_string(),
            plan.backlog.to_string(),
            "--max-connections".to_string(),
            cap.to_string(),
            "--processes".to_string(),
            self.processes.to_string(),
        ];
        let mut command = Command::new(programs.program(self.contender));
        command.args(launch::server_args(
            self.contender,
            &serve_flags,
            Transport::Tcp4,
            ServiceKind::Echo,
        ));
        command
    }

    /// What it is loaded with: echo, or `http` for a server sockbench did
    /// not write (its shipped config answers sockbench's http request).
    fn service(&self) -> ServiceKind {
        match self.contender {
            Contender::Foreign(_) => ServiceKind::Http,
            _ => ServiceKind::Echo,
        }
    }

    /// Start it, and wait until it accepts.
    fn start(&self, plan: &Plan, programs: Programs<'_>) -> io::Result<Started> {
        match self.contender {
            Contender::Foreign(Foreign::Production(server)) => {
                let command = server.command(&foreign::configs_dir())?;
                let started =
                    command.start(external::DEFAULT_READY_TIMEOUT, external::DEFAULT_GRACE)?;
                Ok(Started::Theirs(started))
            }
            _ => ServerProcess::start(self.command(plan, programs), process::READY_TIMEOUT)
                .map(Started::Ours),
        }
    }
}

/// A scenario's server while it runs.
#[derive(Debug)]
enum Started {
    /// One of sockbench's, or a yardstick.
    Ours(ServerProcess),
    /// A server sockbench did not write, with its whole process group.
    Theirs(ExternalServer),
}

impl Started {
    fn pid(&self) -> u32 {
        match self {
            Started::Ours(process) => process.pid(),
            Started::Theirs(server) => server.pid(),
        }
    }

    fn addr(&self) -> &ListenAddr {
        match self {
            Started::Ours(process) => process.addr(),
            Started::Theirs(server) => server.addr(),
        }
    }

    fn stderr_excerpt(&self) -> String {
        match self {
            Started::Ours(process) => process.stderr_excerpt(),
            Started::Theirs(server) => server.stderr_excerpt(),
        }
    }

    /// Stop it; `true` if it had to be killed.
    fn stop(self) -> io::Result<bool> {
        Ok(match self {
            Started::Ours(process) => {
                matches!(process.stop(process::STOP_TIMEOUT)?, Stopped::Killed)
            }
            Started::Theirs(server) => matches!(server.stop()?, external::Stopped::Killed),
        })
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
    /// Keep only the servers named in `names` (`--engines`), adding the
    /// production servers that speak HTTP when named; any other name is
    /// an error naming those this scenario can run.
    pub fn select(&mut self, names: &[String]) -> Result<(), String> {
        let known: Vec<String> = self.servers.iter().map(ScenarioServer::name).collect();
        for name in names.iter().filter(|name| !known.contains(name)) {
            match name.parse::<Contender>() {
                Ok(contender @ Contender::Foreign(Foreign::Production(server)))
                    if server.speaks().own().is_some() =>
                {
                    self.servers.push(ScenarioServer {
                        contender,
                        processes: 1,
                    });
                }
                _ => {
                    return Err(format!(
                        "--engines {name}: the {} scenario runs {}, or a production HTTP server (nginx, apache-prefork, apache-worker, apache-event); pick among them",
                        self.scenario,
                        known.join(", ")
                    ))
                }
            }
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
            "{} (scale {}): {} connections, {} req/s in total (open loop, one request every {:.0} s per connection), 64 B echo to sockbench's servers (its http request to one it did not write), measured {measured} after every connection is up and a {} warmup; connects at {:.0}/s, measuring begins at the latest {} after the first; from {} source addresses ({}-{}) over {} generator process(es); listen backlog {} (sockbench servers)",
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

impl ScenarioConfig {
    /// Where the servers' programs are.
    fn programs(&self) -> Programs<'_> {
        Programs {
            sockbench_exe: &self.sockbench_exe,
            examples_dir: &self.examples_dir,
        }
    }
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
        match server.contender {
            Contender::Foreign(foreign) => foreign.check_available().map_err(io::Error::other)?,
            contender => {
                config.programs().built(contender)?;
            }
        }
    }
    // Every process of the run, servers included, may open as many
    // descriptors as the hard limit allows: the wall a scenario shows.
    let descriptors = crate::sys::limits::raise_descriptor_limit(u64::MAX)?;
    let mut info = MachineInfo::gather(config.command_line.clone(), "none".to_string());
    info.method.push(("scenario".to_string(), plan.describe()));
    info.method
        .push(("kernel settings".to_string(), kernel_settings(descriptors)));
    info.method.push((
        "memory".to_string(),
        format!("server RSS and threads summed over its processes; kernel TCP buffers (/proc/net/sockstat TCP mem) and slab (/proc/meminfo Slab) machine-wide, growth from before the load to the most in the window, sampled every {}", humantime::format_duration(SAMPLE_EVERY)),
    ));
    let results = Results::create(&config.out_dir, &config.name)?;
    let csv = results.file(".csv");
    let machine = results.file(".machine.txt");
    std::fs::write(&machine, info.render())?;
    writeln!(progress, "{}", plan.describe())?;

    let timeline_csv = results.file(".timeline.csv");
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
        csv_file::write_csv(&csv, &records)?;
        csv_file::write_csv(&timeline_csv, &seconds)?;
    }
    let timeline_machine = super::machine::write_derived(
        &timeline_csv,
        &machine,
        &format!("the per-second timeline of the runs in {}", csv.display()),
    )?;
    let table = render(plan, &records);
    let table_path = results.write_table(out, &table)?;
    results::list_written(
        out,
        [
            &csv,
            &timeline_csv,
            &timeline_machine,
            &machine,
            &table_path,
        ],
    )?;
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

/// Start `server`, load it with the plan; its row and its timeline.
fn run_one(
    config: &ScenarioConfig,
    server: &ScenarioServer,
) -> io::Result<(ScenarioRecord, Vec<TimelineRow>)> {
    let plan = &config.plan;
    let process = server.start(plan, config.programs())?;
    let ListenAddr::Tcp(addr) = *process.addr() else {
        return Err(io::Error::other("the server did not listen on TCP"));
    };
    let pid = process.pid();
    let idle = sample(pid, true);
    let done = AtomicBool::new(false);
    let (load, samples) = thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                // A timed sample, not synchronisation.
                thread::sleep(SAMPLE_EVERY);
                samples.push(sample(pid, samples.len() % SOCKETS_EVERY == 0));
            }
            samples
        });
        let load = run_load(config, addr, server.service());
        done.store(true, Ordering::Relaxed);
        (load, sampler.join().expect("the sampler does not panic"))
    });
    // The last two lines: a failure and its recovery often come in pairs.
    // A server that prints its command line (Apache does, at start) names
    // the configs' full path: written `configs`, so that the results name
    // no machine's paths.
    let configs = foreign::configs_dir().display().to_string();
    let excerpt = process.stderr_excerpt().replace(&configs, "configs");
    let lines: Vec<&str> = excerpt.lines().skip(1).map(str::trim).collect();
    let server_log: String = lines[lines.len().saturating_sub(2)..]
        .join(" | ")
        .chars()
        .take(300)
        .collect();
    if process.stop()? {
        eprintln!("  note: {} ignored SIGTERM and was killed", server.name());
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

/// Run the plan's load of `service` against `addr`: in this process, or
/// over the plan's generator processes.
fn run_load(
    config: &ScenarioConfig,
    addr: SocketAddr,
    service: ServiceKind,
) -> io::Result<LoadReport> {
    let load = LoadConfig {
        target: Target::Tcp(addr),
        service,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::capacity;

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

    /// The Apache MPMs, named, join a scenario and are loaded with http;
    /// a production server that does not speak HTTP is refused.
    #[test]
    fn production_http_servers_join_a_scenario_when_named() {
        let mut plan = Scenario::C10k.plan(1.0);
        let names = ["apache-prefork", "apache-worker", "apache-event", "reactor"];
        plan.select(&names.map(String::from)).unwrap();
        let selected: Vec<String> = plan.servers.iter().map(ScenarioServer::name).collect();
        assert_eq!(
            selected,
            ["reactor", "apache-prefork", "apache-worker", "apache-event"]
        );
        assert_eq!(plan.servers[0].service(), ServiceKind::Echo);
        assert_eq!(plan.servers[1].service(), ServiceKind::Http);
        let err = Scenario::C10k
            .plan(1.0)
            .select(&["redis".to_string()])
            .unwrap_err();
        assert!(err.contains("--engines redis"), "{err}");
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
        assert!(err.contains("production HTTP server"), "{err}");
        assert!(
            err.contains("runs prefork-x8, reactor, tokio, threaded"),
            "{err}"
        );
    }
}
