//! What one load run does: where it connects, which protocol it speaks, how
//! many connections and threads, how long, and how patient it is.
//!
//! [`LoadConfig::default`] is a one-connection, ten-second, 64-byte echo run
//! against `127.0.0.1:7000`; change the fields you need with struct update
//! syntax (`LoadConfig { connections: 100, ..LoadConfig::default() }`).
//!
//! Over UDP ([`Target::Udp`]) a "connection" is a connected UDP socket per
//! client, each with one request outstanding, and a request not answered
//! within [`LoadConfig::request_timeout`] counts as lost and is not resent;
//! see [`super::protocol`] for how a late answer is told from the current one.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::protocol::{Protocol, LENGTH_SIZE_CYCLE};
use super::wire_request::WireRequest;
use crate::service::{sized, ServiceKind};

/// The most the requests outstanding at once may take (size x connections
/// x pipeline): each is held in memory until its answer is checked, and a
/// run past this would swap rather than measure.
pub const REQUEST_BUDGET_BYTES: u64 = 1 << 30;

/// Where the load goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TCP server, IPv4 or IPv6.
    Tcp(SocketAddr),
    /// A Unix domain stream socket at this path.
    Unix(PathBuf),
    /// A UDP server, IPv4 or IPv6: one datagram per request.
    Udp(SocketAddr),
}

impl Target {
    /// Whether requests go as datagrams.
    pub fn is_udp(&self) -> bool {
        matches!(self, Target::Udp(_))
    }

    /// Whether each client takes a local port (TCP and UDP; not Unix).
    pub fn uses_local_ports(&self) -> bool {
        !matches!(self, Target::Unix(_))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(addr) => write!(f, "{addr}"),
            Target::Unix(path) => write!(f, "unix:{}", path.display()),
            Target::Udp(addr) => write!(f, "udp:{addr}"),
        }
    }
}

/// When the measured part of a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunLimit {
    /// Measure for this long (after the warmup).
    Duration(Duration),
    /// Measure until this many requests were answered correctly, or until
    /// [`LoadConfig::max_duration`] has passed, whichever comes first.
    Requests(u64),
}

/// Everything a load run needs. See the module docs for the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// The server.
    pub target: Target,
    /// The protocol to speak: one of [`LOAD_SERVICES`], or over UDP one of
    /// [`UDP_LOAD_SERVICES`].
    pub service: ServiceKind,
    /// Connections held open at once (reopened when they fail).
    pub connections: usize,
    /// Load threads, each with its own readiness loop; connections are
    /// spread over them. 0 means `min(connections, available cores)`.
    pub threads: usize,
    /// When the measurement ends.
    pub limit: RunLimit,
    /// Request size: the payload for `echo` and `frame` (the frame adds its
    /// 4-byte header), the line including its newline for `upper`; `http`
    /// always sends the same small GET. Over UDP, the datagram's size, at
    /// most [`MAX_UDP_PAYLOAD_BYTES`]; `length` requests cycle through
    /// [`LENGTH_SIZE_CYCLE`] sizes starting at this one.
    pub size_bytes: usize,
    /// Requests each connection keeps outstanding (1 = request, answer,
    /// request...). In rate mode, the most a late connection may have
    /// outstanding while it catches up. Always 1 over UDP.
    pub pipeline: usize,
    /// Open loop: this many requests per second in total, on a fixed
    /// schedule, latency measured from the intended send time. `None` is a
    /// closed loop: the next request goes as soon as an answer comes.
    pub rate_per_s: Option<f64>,
    /// Time spent loading before measuring, once every connection is up
    /// (see [`LoadConfig::ramp_limit`]): requests go, but no latency is
    /// recorded (errors are).
    pub warmup: Duration,
    /// Longest wait for a connection to be established.
    pub connect_timeout: Duration,
    /// Open connections at this many per second instead of all at once.
    pub connect_rate_per_s: Option<f64>,
    /// Longest wait for an answer; a request older than this is a timeout
    /// and its connection is closed and reopened.
    pub request_timeout: Duration,
    /// With [`RunLimit::Requests`], stop measuring after this long even if
    /// the count is not reached.
    pub max_duration: Duration,
    /// Begin measuring at the latest this long after the first connect,
    /// even if not every connection is up (the report then says so). `None`:
    /// [`LoadConfig::effective_ramp_limit`].
    pub ramp_limit: Option<Duration>,
    /// TCP: local addresses to connect from, connection `n` from
    /// `sources[n % len]` (each gives another range of ephemeral ports; see
    /// [`super::capacity`]). Empty: the kernel picks. Loopback only.
    pub sources: Vec<IpAddr>,
    /// A server sockbench did not write, and what to ask it (`--url`,
    /// `--service redis`, `--service memcached`); `service` is then unused.
    pub wire: Option<WireRequest>,
    /// Close each connection (the client first, so TIME_WAIT stays on
    /// the client, as in UNP's client) after this many answers, and open
    /// a new one. `None`: connections stay open (keep-alive). The first
    /// request of each connection is timed from the start of its connect.
    pub requests_per_connection: Option<u64>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            target: Target::Tcp(SocketAddr::from(([127, 0, 0, 1], 7000))),
            service: ServiceKind::Echo,
            connections: 1,
            threads: 0,
            limit: RunLimit::Duration(Duration::from_secs(10)),
            size_bytes: 64,
            pipeline: 1,
            rate_per_s: None,
            warmup: Duration::ZERO,
            connect_timeout: Duration::from_secs(3),
            connect_rate_per_s: None,
            request_timeout: Duration::from_secs(5),
            max_duration: Duration::from_secs(600),
            ramp_limit: None,
            sources: Vec::new(),
            wire: None,
            requests_per_connection: None,
        }
    }
}

/// The services a load run can drive: the ones that answer every request.
pub const LOAD_SERVICES: [ServiceKind; 5] = [
    ServiceKind::Echo,
    ServiceKind::Upper,
    ServiceKind::Frame,
    ServiceKind::Http,
    ServiceKind::Sized,
];

/// The services that answer once and close (`hello` greets, `fixed16`
/// answers its one message): a load target with a connection per request
/// (`--requests-per-connection 1`) only.
pub const ONE_ANSWER_SERVICES: [ServiceKind; 2] = [ServiceKind::Hello, ServiceKind::Fixed16];

/// The services a UDP load run can drive: those the UDP servers answer.
pub const UDP_LOAD_SERVICES: [ServiceKind; 3] =
    [ServiceKind::Echo, ServiceKind::Upper, ServiceKind::Length];

/// Largest UDP request: the largest IPv4 UDP payload (65,535 bytes less the
/// 20-byte IP and 8-byte UDP headers).
pub const MAX_UDP_PAYLOAD_BYTES: usize = 65_507;

impl LoadConfig {
    /// The load threads actually started: [`LoadConfig::threads`], or the
    /// automatic choice, never more than one per connection.
    pub fn effective_threads(&self) -> usize {
        let wanted = if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        };
        wanted.clamp(1, self.connections.max(1))
    }

    /// The ramp limit: [`LoadConfig::ramp_limit`], or by default the planned
    /// ramp (`connections / connect_rate_per_s`) plus twice the connect
    /// timeout, time for a late connect to fail and be tried again.
    pub fn effective_ramp_limit(&self) -> Duration {
        self.ramp_limit.unwrap_or_else(|| {
            let planned = self.connect_rate_per_s.map_or(Duration::ZERO, |rate| {
                Duration::from_secs_f64(self.connections as f64 / rate)
            });
            planned + 2 * self.connect_timeout
        })
    }

    /// The services this run's target can be loaded with.
    pub fn services(&self) -> &'static [ServiceKind] {
        if self.target.is_udp() {
            &UDP_LOAD_SERVICES
        } else {
            &LOAD_SERVICES
        }
    }

    /// What the load threads send and accept back, for a configuration
    /// [`validate`](Self::validate) accepted.
    pub(crate) fn protocol(&self) -> Protocol {
        if let Some(wire) = &self.wire {
            let exchange = wire.exchange().expect("LoadConfig::validate checked it");
            return Protocol::for_wire(self.service, self.size_bytes, exchange, wire.keys());
        }
        if self.target.is_udp() {
            Protocol::over_udp(self.service, self.size_bytes)
        } else {
            Protocol::new(self.service, self.size_bytes)
        }
    }

    /// Check the settings; the error says which one is wrong and what to do.
    pub fn validate(&self) -> io::Result<()> {
        let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        let answers_once = ONE_ANSWER_SERVICES.contains(&self.service);
        if let Some(wire) = &self.wire {
            self.validate_wire(wire)?;
        } else if answers_once && !self.target.is_udp() {
            if self.requests_per_connection != Some(1) {
                return invalid(format!(
                    "the {} service answers once, then closes: load it with --requests-per-connection 1",
                    self.service.name()
                ));
            }
        } else if !self.services().contains(&self.service) {
            let names: Vec<&str> = self.services().iter().map(|s| s.name()).collect();
            let why = if self.target.is_udp() {
                "the UDP servers do not serve it"
            } else {
                "it does not answer each request over a stream"
            };
            return invalid(format!(
                "the {} service cannot be a load target ({why}): use one of {}",
                self.service.name(),
                names.join(", ")
            ));
        }
        if self.target.is_udp() {
            self.validate_udp()?;
        }
        self.validate_sources()?;
        if self.connections == 0 {
            return invalid("--connections must be at least 1".into());
        }
        if self.threads > self.connections {
            return invalid(format!(
                "--threads {} is more than --connections {}: a thread without a connection has nothing to do",
                self.threads, self.connections
            ));
        }
        if self.pipeline == 0 {
            return invalid("--pipeline must be at least 1".into());
        }
        if self.size_bytes == 0 && self.service != ServiceKind::Http && self.wire.is_none() {
            return invalid("--size must be at least 1 byte".into());
        }
        if self.service == ServiceKind::Sized
            && self.wire.is_none()
            && self.size_bytes > sized::MAX_ANSWER_BYTES
        {
            return invalid(format!(
                "--size {}: the sized service answers at most {} bytes; the book's load is --size 4000",
                self.size_bytes,
                sized::MAX_ANSWER_BYTES
            ));
        }
        if self.requests_per_connection == Some(0) {
            return invalid(
                "--requests-per-connection must be at least 1 (1: a new connection for every request); leave it out to keep connections open".into(),
            );
        }
        if self.size_bytes > u32::MAX as usize {
            return invalid(format!(
                "--size {} is too large: at most 4 GiB",
                self.size_bytes
            ));
        }
        self.validate_request_budget()?;
        match self.limit {
            RunLimit::Duration(d) if d.is_zero() => {
                return invalid("--duration must be longer than 0".into())
            }
            RunLimit::Requests(0) => return invalid("--requests must be at least 1".into()),
            _ => {}
        }
        for (flag, rate) in [
            ("--rate", self.rate_per_s),
            ("--connect-rate", self.connect_rate_per_s),
        ] {
            if let Some(r) = rate {
                if !(r.is_finite() && r > 0.0) {
                    return invalid(format!(
                        "{flag} {r} is not a rate: give a positive number per second"
                    ));
                }
            }
        }
        for (flag, timeout) in [
            ("--connect-timeout", self.connect_timeout),
            ("--request-timeout", self.request_timeout),
        ] {
            if timeout.is_zero() {
                return invalid(format!("{flag} must be longer than 0"));
            }
        }
        Ok(())
    }

    /// A server sockbench did not write: a stream, the request one the
    /// protocol can carry, `{n}` drawn from at least one key.
    /// The requests outstanding at once (size x connections x pipeline)
    /// fit in [`REQUEST_BUDGET_BYTES`]; refused with the arithmetic if not.
    fn validate_request_budget(&self) -> io::Result<()> {
        let outstanding =
            (self.size_bytes as u128) * (self.connections as u128) * (self.pipeline as u128);
        if outstanding <= REQUEST_BUDGET_BYTES as u128 {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the requests outstanding would take {} B x {} connections x {} pipelined = {:.2} GiB, over the {} GiB budget: give a smaller --size, fewer --connections or a smaller --pipeline",
                self.size_bytes,
                self.connections,
                self.pipeline,
                outstanding as f64 / (1u64 << 30) as f64,
                REQUEST_BUDGET_BYTES >> 30
            ),
        ))
    }

    fn validate_wire(&self, wire: &WireRequest) -> io::Result<()> {
        let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        if self.target.is_udp() {
            return invalid(format!(
                "{} is loaded over TCP or a Unix socket: drop --udp",
                wire.protocol()
            ));
        }
        if let Err(why) = wire.exchange() {
            return invalid(why.to_string());
        }
        if let Some(addr) = wire.url_addr() {
            if self.target != Target::Tcp(addr) {
                return invalid(format!(
                    "the --url names {addr}, but the run's target is {}: give one of them",
                    self.target
                ));
            }
        }
        if wire.keys() == 0 {
            return invalid("--keys must be at least 1".into());
        }
        Ok(())
    }

    /// Source addresses: TCP only, the target's family, and loopback, as
    /// every sockbench run (a namespace made by `scripts/multihost.sh` needs
    /// none: each generator there has an address of its own).
    fn validate_sources(&self) -> io::Result<()> {
        let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        let Some(first) = self.sources.first() else {
            return Ok(());
        };
        let Target::Tcp(server) = &self.target else {
            return invalid(format!(
                "--source works over TCP only: {} takes no source address",
                self.target
            ));
        };
        if let Some(foreign) = self.sources.iter().find(|ip| !ip.is_loopback()) {
            return invalid(format!(
                "--source {foreign} is not a loopback address: sockbench loads only loopback (127.0.0.0/8, ::1); on several machines, run one generator per machine instead (README, \"Beyond one machine\")"
            ));
        }
        if first.is_ipv4() != server.is_ipv4() {
            return invalid(format!(
                "--source {first} and the server {server} are not the same IP version"
            ));
        }
        Ok(())
    }

    /// The UDP-only limits: one request outstanding, a request fits in one
    /// datagram and has room for its request number.
    fn validate_udp(&self) -> io::Result<()> {
        let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        if self.pipeline > 1 {
            return invalid(format!(
                "--pipeline {} cannot be used with --udp: each UDP client has one request outstanding, so that a lost or late answer is never taken for another; use more --connections for more load",
                self.pipeline
            ));
        }
        let largest = match self.service {
            ServiceKind::Length => MAX_UDP_PAYLOAD_BYTES - (LENGTH_SIZE_CYCLE - 1),
            _ => MAX_UDP_PAYLOAD_BYTES,
        };
        if self.size_bytes > largest {
            let why = if self.service == ServiceKind::Length {
                format!(
                    ", as length requests cycle through {LENGTH_SIZE_CYCLE} sizes up to --size + {}",
                    LENGTH_SIZE_CYCLE - 1
                )
            } else {
                String::new()
            };
            return invalid(format!(
                "--size {} does not fit in one UDP datagram: at most {largest} bytes with --udp{why}",
                self.size_bytes
            ));
        }
        let smallest = super::protocol::min_udp_request_bytes(self.service);
        if self.size_bytes < smallest {
            return invalid(format!(
                "--size {} is too small for {} over UDP: each request starts with its {}-digit number, so give at least {smallest}",
                self.size_bytes,
                self.service.name(),
                super::protocol::ID_DIGITS
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults form a valid run.
    #[test]
    fn default_config_is_valid() {
        LoadConfig::default().validate().unwrap();
    }

    /// Services that never answer are refused with the list of valid ones.
    #[test]
    fn validate_refuses_services_that_do_not_answer() {
        let config = LoadConfig {
            service: ServiceKind::Discard,
            ..LoadConfig::default()
        };
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("echo, upper, frame, http"), "{message}");
    }

    /// hello and fixed16 close after one answer: loadable with a
    /// connection per request only, and the refusal says so.
    #[test]
    fn validate_takes_one_answer_services_with_a_connection_per_request() {
        for service in ONE_ANSWER_SERVICES {
            let keep_alive = LoadConfig {
                service,
                ..LoadConfig::default()
            };
            let message = keep_alive.validate().unwrap_err().to_string();
            assert!(message.contains("--requests-per-connection 1"), "{message}");
            let per_request = LoadConfig {
                requests_per_connection: Some(1),
                ..keep_alive
            };
            per_request.validate().unwrap();
        }
    }

    /// Threads never outnumber connections.
    #[test]
    fn effective_threads_is_capped_by_connections() {
        let config = LoadConfig {
            connections: 1,
            threads: 0,
            ..LoadConfig::default()
        };
        assert_eq!(config.effective_threads(), 1);
    }

    fn udp(service: ServiceKind) -> LoadConfig {
        LoadConfig {
            target: Target::Udp("127.0.0.1:7000".parse().unwrap()),
            service,
            ..LoadConfig::default()
        }
    }

    /// Over UDP: length is allowed, frame is not, and the defaults are valid.
    #[test]
    fn udp_services_are_those_the_udp_servers_answer() {
        udp(ServiceKind::Length).validate().unwrap();
        udp(ServiceKind::Echo).validate().unwrap();
        let message = udp(ServiceKind::Frame).validate().unwrap_err().to_string();
        assert!(message.contains("echo, upper, length"), "{message}");
        let tcp_length = LoadConfig {
            service: ServiceKind::Length,
            ..LoadConfig::default()
        };
        assert!(tcp_length.validate().is_err());
    }

    /// Over UDP: a pipeline, an oversized or a too small request is refused
    /// with the reason.
    #[test]
    fn udp_refuses_pipeline_and_sizes_that_do_not_fit() {
        let pipelined = LoadConfig {
            pipeline: 4,
            ..udp(ServiceKind::Echo)
        };
        let message = pipelined.validate().unwrap_err().to_string();
        assert!(
            message.contains("--pipeline 4 cannot be used with --udp"),
            "{message}"
        );
        let largest = LoadConfig {
            size_bytes: MAX_UDP_PAYLOAD_BYTES,
            ..udp(ServiceKind::Echo)
        };
        largest.validate().unwrap();
        let too_large = LoadConfig {
            size_bytes: MAX_UDP_PAYLOAD_BYTES + 1,
            ..udp(ServiceKind::Echo)
        };
        let message = too_large.validate().unwrap_err().to_string();
        assert!(message.contains("at most 65507 bytes"), "{message}");
        let length_too_large = LoadConfig {
            size_bytes: MAX_UDP_PAYLOAD_BYTES,
            ..udp(ServiceKind::Length)
        };
        assert!(length_too_large.validate().is_err());
        let too_small = LoadConfig {
            size_bytes: 16,
            ..udp(ServiceKind::Upper)
        };
        let message = too_small.validate().unwrap_err().to_string();
        assert!(message.contains("at least 17"), "{message}");
    }
}
