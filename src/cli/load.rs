//! `sockbench load` (drive a server, print and save what it measured) and
//! `sockbench merge-hdr` (add up HdrHistogram logs from several runs).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::interrupt::Interrupt;
use crate::live::{self, Dashboard, Live};
use crate::load::numbers::{count, positive_count, positive_rate};
use crate::load::source::SourceList;
use crate::load::wire::http1::Url;
use crate::load::{
    self, hdrlog, LoadConfig, LoadService, ProgressMode, RequestFlags, RunLimit, Slo, Target,
    WireRequest,
};
use crate::service::ServiceKind;

/// `load --help`'s examples and notes. clap turns every `{n}` of a help
/// text into a line break, so the key hole is written with an (invisible)
/// style reset inside it, `{\x1b[0mn}`: clap drops the escape where the
/// output is no terminal, and a terminal shows nothing for it.
const AFTER_HELP: &str = "Examples:
  sockbench load --addr 127.0.0.1:7000 --service echo --connections 100 --duration 10s
  sockbench load --service http --connections 10 --pipeline 16 --requests 100000
  sockbench load --connections 10 --rate 5000 --duration 20s --timeline t.csv
  sockbench load --connections 100 --duration 30s --live     # full screen; q ends it early
  sockbench load --connections 1000 --connect-rate 200 --warmup 5s --duration 10s
  sockbench load --connections 50 --duration 3s --find-rate --slo p99=10ms
  sockbench load --duration 10s --hdr-log a.hlog   # then: sockbench merge-hdr a.hlog b.hlog
  sockbench load --udp --addr 127.0.0.1:7000 --service echo --connections 4 --request-timeout 100ms --duration 5s
  sockbench load --connections 100000 --source 127.0.0.2-127.0.0.9 --rate 10000 --connect-rate 5000 --duration 60s

Servers sockbench did not write (docs/REAL-SERVERS.md starts each on loopback):
  sockbench load --url http://127.0.0.1:8080/static.txt --connections 100 --duration 10s
  sockbench load --url http://127.0.0.1:8080/ --expect-body 'Hello from sockbench
' --header 'Accept: text/plain' --connections 100
  sockbench load --url http://127.0.0.1:8080/form --method POST --body 'a=1' --expect-status 201
  sockbench load --service redis --addr 127.0.0.1:6379 --connections 50 --pipeline 16   # PING
  sockbench load --service redis --addr 127.0.0.1:6379 --command 'SET k:{\x1b[0mn} v' --keys 1000
  sockbench load --service memcached --addr 127.0.0.1:11211 --command 'get k:{\x1b[0mn}' --keys 1000

--url loads any HTTP/1.1 (or 1.0) server on loopback: success is a 2xx
(or --expect-status), the body framed by Content-Length or chunked and
checked against --expect-body when given; every other status is counted
by code, the first of each shown with its head. --service redis sends PING
(+PONG wanted) or --command (SET k v wants +OK; -ERR is an error, its text
shown once); --service memcached sends get (its keys set once before the
run, each to its own name) or set (STORED wanted). {\x1b[0mn} in a --command is a
key number drawn from 0 to --keys - 1 per request. A command that cannot
be sent as one request with one answer is refused before the run.
A server that closes after a whole answer (HTTP/1.0, Connection: close)
is reconnected: counted as `closed by server (reconnected)`, not as an
error, with the connections used and the connect times beside it; a close
inside an answer is an error.

Measuring begins once every connection is up (then --warmup): the ramp,
however long, is not in the measured window. If some connections are still
not up at --ramp-limit, measuring begins anyway and the summary warns that
the ramp is inside the window. The summary gives connections asked for and
up, connects slower than 1 s (a SYN sent again) and, over TCP, how the
kernel's ListenOverflows and ListenDrops grew during the run.

Past one process and one address: one source address holds one connection
per local port toward the server (ip_local_port_range, 28,232 ports by
default), so --source adds addresses; one process holds one connection per
descriptor (its hard limit), so the connections are spread over generator
processes (--processes, by default as few as fit), whose results are merged
into one report and one histogram. --rate and --connect-rate are totals.
A run that cannot fit is refused before it starts, with the arithmetic.

Without --rate the load is a closed loop: each connection keeps --pipeline
requests outstanding. With --rate the requests go on a fixed schedule and
latency counts from when each was meant to go (corrected for coordinated
omission); the summary shows the uncorrected figures beside them.
Every answer is checked; wrong answers, timeouts and failed connects are
errors. The exit status is 0 only for a run without errors that ran to its end.
Ctrl-C (SIGINT) or SIGTERM ends the measured window at once: the summary is
printed and every requested file written with outcome `interrupted`, and the
exit status is 130 (SIGINT, or q in --live) or 143 (SIGTERM); a second
Ctrl-C quits at once, writing nothing.

With --udp each connection is a connected UDP socket with one request (one
datagram) outstanding. A request not answered within --request-timeout is
lost: counted (the summary gives the loss rate), never resent, and the
client sends its next one; a late answer is recognised and ignored. Lost
requests are errors, so a lossy run exits non-zero. echo and upper requests
start with their number in 16 hex digits; length requests cycle through 64
sizes from --size up, since the answer names only the size.";

/// `--size` when not given.
const DEFAULT_SIZE_BYTES: usize = 64;

/// Options of `sockbench load`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct LoadArgs {
    /// Address of the server, TCP (or UDP with --udp), IPv4 or IPv6.
    #[arg(long, default_value = "127.0.0.1:7000", value_parser = super::parse_socket_addr)]
    pub addr: SocketAddr,

    /// Connect to a Unix domain stream socket at this path instead of TCP.
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    pub unix: Option<PathBuf>,

    /// Load a UDP server at --addr: one datagram per request, unanswered
    /// requests counted as lost after --request-timeout.
    #[arg(long, conflicts_with = "unix")]
    pub udp: bool,

    /// Protocol to speak: sockbench's own echo, upper, frame or http (with
    /// --udp echo, upper or length), or a server it did not write: redis
    /// (PING unless --command) or memcached (a get of one key unless --command).
    #[arg(long, default_value = "echo")]
    pub service: LoadService,

    /// Load any HTTP/1.1 server: http://HOST:PORT/PATH, HOST 127.0.0.1 (any
    /// of 127.0.0.0/8), ::1 (in brackets) or localhost. Success is a 2xx; every other
    /// status is counted by code, the first of each shown with its head.
    #[arg(long, conflicts_with_all = ["addr", "unix", "udp", "service"])]
    pub url: Option<String>,

    /// The request to a server sockbench did not write: with --url,
    /// --method, --header, --body, --expect-status, --expect-body; with
    /// --service redis or memcached, --command and --keys.
    #[command(flatten)]
    pub request: RequestFlags,

    /// Connections held open at once.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = positive_count::<usize>)]
    pub connections: usize,

    /// TCP: connect from these loopback addresses, in turn (a range
    /// 127.0.0.2-127.0.0.9, or a comma-separated list). Each address adds a
    /// full range of local ports toward the server (about 28,000).
    #[arg(long, value_name = "ADDRS")]
    pub source: Option<SourceList>,

    /// Load threads, each a readiness loop [default: min(connections, cores)].
    #[arg(long, allow_negative_numbers = true, value_parser = positive_count::<usize>)]
    pub threads: Option<usize>,

    /// Measure for this long [default: 10s].
    #[arg(long, value_parser = super::parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,

    /// Measure until this many requests are answered correctly.
    #[arg(long, allow_negative_numbers = true, value_parser = positive_count::<u64>)]
    pub requests: Option<u64>,

    /// Request size in bytes (payload for echo and frame, line with its
    /// newline for upper; http ignores it). With --udp the datagram size, at
    /// most 65507. The requests outstanding (size x connections x
    /// pipeline) may take at most 1 GiB.
    #[arg(long, default_value_t = DEFAULT_SIZE_BYTES, allow_negative_numbers = true, value_parser = count::<usize>)]
    pub size: usize,

    /// Requests each connection keeps outstanding (1 with --udp).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = positive_count::<usize>)]
    pub pipeline: usize,

    /// Close each connection after R answers and open a new one, the
    /// client closing first (TIME_WAIT stays here, as in UNP's client);
    /// 1: a connection per request (what hello and fixed16, which answer
    /// once and close, need). Default: connections stay open.
    #[arg(long, value_name = "R")]
    pub requests_per_connection: Option<u64>,

    /// Open loop: this many requests per second in total, on a fixed schedule.
    #[arg(long, value_name = "REQ_PER_S", allow_negative_numbers = true, value_parser = positive_rate)]
    pub rate: Option<f64>,

    /// Load without measuring for this long once every connection is up.
    #[arg(long, default_value = "0s", value_parser = super::parse_duration)]
    pub warmup: Duration,

    /// Begin measuring at the latest this long after the first connect, even
    /// if not every connection is up (the report then warns that the ramp is
    /// inside the measured window) [default: the planned ramp, connections /
    /// --connect-rate, plus twice --connect-timeout].
    #[arg(long, value_parser = super::parse_duration)]
    pub ramp_limit: Option<Duration>,

    /// Longest wait for a connection to be established.
    #[arg(long, default_value = "3s", value_parser = super::parse_duration)]
    pub connect_timeout: Duration,

    /// Longest wait for an answer before the request counts as a timeout
    /// (with --udp: as lost).
    #[arg(long, default_value = "5s", value_parser = super::parse_duration)]
    pub request_timeout: Duration,

    /// Open connections at this many per second instead of all at once.
    #[arg(long, value_name = "CONN_PER_S", allow_negative_numbers = true, value_parser = positive_rate)]
    pub connect_rate: Option<f64>,

    /// Append one row of results to this CSV file (header when new).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Print the results as one JSON object on stdout (the summary goes to stderr).
    #[arg(long)]
    pub json: bool,

    /// Write the per-second latencies as an HdrHistogram V2 interval log.
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,

    /// Write one CSV row per second: second, requests, errors, p50_us, p99_us.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,

    /// Search for the highest rate meeting --slo (short runs of --duration each).
    #[arg(long, requires = "slo", conflicts_with_all = ["rate", "requests"])]
    pub find_rate: bool,

    /// Latency objective for --find-rate, e.g. p99=10ms.
    #[arg(long, requires = "find_rate")]
    pub slo: Option<Slo>,

    /// Spread the connections over this many generator processes, merged
    /// into one report [default: as few as the descriptor limit allows: one
    /// up to about 19,900 connections here].
    #[arg(long, conflicts_with = "find_rate", allow_negative_numbers = true, value_parser = positive_count::<usize>)]
    pub processes: Option<usize>,

    /// Show the run as it goes, full screen: requests/s second by second,
    /// p50 and p99 of the last second and overall, a latency histogram,
    /// connections open, errors by kind, time left. q (or Ctrl-C) ends the
    /// run early; the results so far are printed and written as usual.
    /// Without a terminal (piped, CI) the usual output, with a note.
    #[arg(long, conflicts_with_all = ["find_rate", "child"])]
    pub live: bool,

    /// Run as one generator process of a --processes run (internal: reads
    /// `begin` on stdin, writes status and result lines on stdout).
    #[arg(long, hide = true, requires = "hdr_log")]
    pub child: bool,
}

impl LoadArgs {
    /// The request to a server sockbench did not write, if these options
    /// name one; flags for one kind of server given to another are refused.
    fn wire(&self) -> io::Result<Option<WireRequest>> {
        let keyed = self.url.is_none() && self.service.is_keyed();
        self.request
            .check_used(self.url.is_some(), keyed, "--url")
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        Ok(self.request.request(self.service, self.url.clone()))
    }

    /// A warning when `--size` was given to a protocol whose requests have
    /// a size of their own.
    fn ignored_size(&self) -> Option<String> {
        let asked = if self.url.is_some() {
            "--url"
        } else {
            match self.service {
                LoadService::Own(ServiceKind::Http) => "--service http",
                LoadService::Redis => "--service redis",
                LoadService::Memcached => "--service memcached",
                LoadService::Own(_) => return None,
            }
        };
        (self.size != DEFAULT_SIZE_BYTES).then(|| {
            format!(
                "--size {} is ignored with {asked}: its requests have a size of their own",
                self.size
            )
        })
    }

    /// The library configuration these options describe; a bad `--url` or
    /// `--command` is refused here, before any connection, with one line.
    pub fn config(&self) -> io::Result<LoadConfig> {
        let wire = self.wire()?;
        let url_addr = match &wire {
            Some(WireRequest::Http { url, .. }) => Some(
                Url::parse(url)
                    .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err.to_string()))?
                    .addr(),
            ),
            _ => None,
        };
        let limit = match (self.requests, self.duration) {
            (Some(requests), _) => RunLimit::Requests(requests),
            (None, Some(duration)) => RunLimit::Duration(duration),
            (None, None) => LoadConfig::default().limit,
        };
        let config = LoadConfig {
            target: match (&self.unix, url_addr) {
                (_, Some(addr)) => Target::Tcp(addr),
                (Some(path), None) => Target::Unix(path.clone()),
                (None, None) if self.udp => Target::Udp(self.addr),
                (None, None) => Target::Tcp(self.addr),
            },
            // Unused beside a wire request.
            service: self.service.own().unwrap_or(ServiceKind::Echo),
            connections: self.connections,
            threads: self.threads.unwrap_or(0),
            limit,
            size_bytes: self.size,
            pipeline: self.pipeline,
            rate_per_s: self.rate,
            warmup: self.warmup,
            connect_timeout: self.connect_timeout,
            connect_rate_per_s: self.connect_rate,
            request_timeout: self.request_timeout,
            ramp_limit: self.ramp_limit,
            sources: self.source.clone().map(|list| list.0).unwrap_or_default(),
            wire,
            requests_per_connection: self.requests_per_connection,
            ..LoadConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

/// Run `sockbench load`.
pub fn run(args: LoadArgs) -> io::Result<ExitCode> {
    super::init_logging();
    let config = args.config()?;
    if args.child {
        let hdr_log = args.hdr_log.as_deref().expect("clap requires --hdr-log");
        load::processes::run_child(&config, hdr_log)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(slo) = args.slo.filter(|_| args.find_rate) {
        let report = load::find_rate(&config, slo, ProgressMode::Lines)?;
        println!("{report}");
        return Ok(if report.best_rate_per_s.is_some() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let processes = load::processes::process_count(&config, args.processes)?;
    if let Some(warning) = load::capacity::PortRange::read()
        .ok()
        .and_then(|range| load::capacity::crowded_ports_warning(&config, &range))
    {
        eprintln!("load: {warning}");
    }
    if let Some(note) = load::capacity::PortRange::read().ok().and_then(|range| {
        load::time_wait::check_time_wait(&config, &range, load::time_wait::read_tw_reuse())
            .ok()
            .flatten()
    }) {
        // Refused with the arithmetic when it cannot fit (`Start::new`).
        eprintln!("load: {note}");
    }
    if let Some(warning) = args.ignored_size() {
        eprintln!("load: {warning}");
    }
    let live = args.live && live_possible(processes);
    let interrupt = Interrupt::catch()?;
    let report = if live {
        run_live(&config, &interrupt)?
    } else if processes > 1 {
        eprintln!(
            "load: {processes} generator processes, {} connections each (at most)",
            config.connections.div_ceil(processes)
        );
        let exe = std::env::current_exe()?;
        let command = |share: &LoadConfig, hdr_log: &Path| {
            load::processes::child_command(&exe, share, hdr_log)
        };
        load::processes::run_parent(&config, processes, ProgressMode::auto(), &command)?
    } else {
        load::run_watched(&config, ProgressMode::auto(), &interrupt)?
    };
    if let Some(refused) = refused_only(&report) {
        // Every connect refused: a table of zeros would look like a result.
        eprintln!("sockbench: {refused}");
        return Ok(ExitCode::FAILURE);
    }
    if args.json {
        eprintln!("{report}");
        println!("{}", json_of(&report)?);
    } else {
        println!("{report}");
    }
    if let Some(path) = &args.csv {
        report.append_csv_row(path)?;
    }
    if let Some(path) = &args.timeline {
        report.write_timeline(path)?;
    }
    if let Some(path) = &args.hdr_log {
        hdrlog::write_log(path, &report)?;
    }
    if report.is_clean() {
        return Ok(ExitCode::SUCCESS);
    }
    let why = if report.outcome != load::Outcome::Finished {
        report.outcome.to_string()
    } else if report.requests == 0 {
        report.why_no_answer()
    } else if report.errors.total() > 0 {
        format!("errors: {}", report.errors)
    } else {
        "not every connection was up when measuring began".to_owned()
    };
    eprintln!("sockbench: load run not clean ({why})");
    Ok(if report.outcome == load::Outcome::Interrupted {
        interrupt.exit_code()
    } else {
        ExitCode::FAILURE
    })
}

/// `--json`'s object: the CSV row, and the first wrong answer's evidence
/// (`first_invalid`, null without one).
fn json_of(report: &load::LoadReport) -> io::Result<String> {
    let mut object = serde_json::to_value(report.row()).map_err(io::Error::other)?;
    if let Some(fields) = object.as_object_mut() {
        fields.insert(
            "first_invalid".to_owned(),
            serde_json::to_value(&report.failed_answers.first_invalid).map_err(io::Error::other)?,
        );
    }
    serde_json::to_string(&object).map_err(io::Error::other)
}

/// What to say instead of the report when a stream run's every connect
/// was refused: nobody is listening there.
fn refused_only(report: &load::LoadReport) -> Option<String> {
    let refused = report.errors.get(load::ErrorKind::Refused);
    (!report.is_udp && report.requests == 0 && refused > 0 && refused == report.errors.total())
        .then(|| {
            format!(
                "connection refused at {} ({refused} tries): is the server running?",
                report.target
            )
        })
}

/// Whether `--live` can be shown for this run; if not, say why (the run
/// then goes on with the usual output).
fn live_possible(processes: usize) -> bool {
    if !live::is_available() {
        eprintln!("load: {}", live::NO_TERMINAL);
        false
    } else if processes > 1 {
        eprintln!(
            "load: --live shows one generator process, and this run needs {processes}: showing the usual output instead"
        );
        false
    } else {
        true
    }
}

/// One run with the live view; `q`, Ctrl-C, SIGINT or SIGTERM end it early
/// with what it measured.
fn run_live(config: &LoadConfig, interrupt: &Interrupt) -> io::Result<load::LoadReport> {
    let stop = interrupt.stop_flag();
    let asked = match &config.wire {
        Some(wire) => format!("{} {}", wire.protocol(), wire.describe()),
        None => config.service.name().to_owned(),
    };
    let title = format!(
        "sockbench load {} ({asked}, {} connections)",
        config.target, config.connections
    );
    let view = Live::start(Dashboard::for_load(title), stop)?;
    let report = load::run_watched(config, ProgressMode::Quiet, &view.feed());
    if let Err(err) = view.finish() {
        // The terminal is back; the results matter more than the view.
        eprintln!("load: the live view failed: {err}");
    }
    report
}

/// Options of `sockbench merge-hdr`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  sockbench load --duration 10s --hdr-log a.hlog   (on each load machine)
  sockbench merge-hdr a.hlog b.hlog

Histograms add up exactly, so the merged percentiles are those of all the
requests together.")]
pub struct MergeHdrArgs {
    /// HdrHistogram interval logs written by `sockbench load --hdr-log`.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
}

/// Run `sockbench merge-hdr`.
pub fn run_merge_hdr(args: MergeHdrArgs) -> io::Result<ExitCode> {
    let merged = hdrlog::merge_logs(&args.logs)?;
    if merged.intervals == 0 {
        return Err(io::Error::other(
            "the logs hold no histogram: were they written by a run that measured anything?",
        ));
    }
    print!("{merged}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::wire::http1::Method;
    use clap::Parser;
    use std::ffi::OsString;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        Load(LoadArgs),
    }

    fn round_trip(config: &LoadConfig) -> LoadConfig {
        let mut argv: Vec<OsString> = vec!["sockbench".into()];
        argv.extend(load::processes::child_args(
            config,
            Path::new("/tmp/x.hlog"),
        ));
        let Sub::Load(args) = Cli::try_parse_from(argv).unwrap().command;
        assert!(args.child);
        args.config().unwrap()
    }

    /// A child's command line gives back every setting of its share,
    /// whatever the target.
    #[test]
    fn child_args_give_back_the_config() {
        let tcp = LoadConfig {
            target: Target::Tcp("127.0.0.1:7001".parse().unwrap()),
            service: ServiceKind::Frame,
            connections: 123,
            threads: 3,
            limit: RunLimit::Requests(4567),
            size_bytes: 99,
            pipeline: 4,
            rate_per_s: Some(1234.5678),
            warmup: Duration::from_millis(1500),
            connect_timeout: Duration::from_micros(2_000_001),
            connect_rate_per_s: Some(333.25),
            request_timeout: Duration::from_secs(7),
            ramp_limit: Some(Duration::from_secs(9)),
            sources: load::source::parse_sources("127.0.0.2-127.0.0.4").unwrap(),
            ..LoadConfig::default()
        };
        assert_eq!(round_trip(&tcp), tcp);
        let udp = LoadConfig {
            target: Target::Udp("[::1]:7002".parse().unwrap()),
            service: ServiceKind::Length,
            size_bytes: 40,
            ..LoadConfig::default()
        };
        assert_eq!(round_trip(&udp), udp);
        let unix = LoadConfig {
            target: Target::Unix("/tmp/some.sock".into()),
            limit: RunLimit::Duration(Duration::from_millis(2500)),
            ..LoadConfig::default()
        };
        assert_eq!(round_trip(&unix), unix);
    }

    /// The same for servers sockbench did not write: every flag of the
    /// request comes back.
    #[test]
    fn child_args_give_back_wire_requests() {
        let http = LoadConfig {
            target: Target::Tcp("127.0.0.1:8080".parse().unwrap()),
            wire: Some(WireRequest::Http {
                url: "http://127.0.0.1:8080/a?b=c".into(),
                method: Method::Post,
                headers: vec!["X-One: 1".into(), "X-Two: two words".into()],
                body: Some("a body".into()),
                expect_status: Some(201),
                expect_body: Some("made".into()),
            }),
            ..LoadConfig::default()
        };
        assert_eq!(round_trip(&http), http);
        for wire in [
            WireRequest::Redis {
                command: Some("SET k:{n} 'a b'".into()),
                keys: 1000,
            },
            WireRequest::Memcached {
                command: None,
                keys: 1,
            },
        ] {
            let keyed = LoadConfig {
                target: Target::Tcp("127.0.0.1:6379".parse().unwrap()),
                wire: Some(wire),
                ..LoadConfig::default()
            };
            assert_eq!(round_trip(&keyed), keyed);
        }
    }
}
