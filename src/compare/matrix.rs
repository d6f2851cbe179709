//! The comparison matrix: which servers, and which cells each one runs.
//!
//! A *contender* is one server row: a sockbench engine or a reference
//! server. A *cell* is one load run against one contender: a transport, a
//! service, a per-request work setting, a message size, a pipeline depth
//! a number of connections and of idle connections held open beside them
//! ([`crate::compare::idle`]). Cells are listed contender by contender,
//! connection counts ascending; compare then runs them *group* by group
//! (same transport, service and work: one set of server processes), each
//! cell's *shape* by every contender in turn.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::foreign::{Foreign, Production};
use super::request::RunRequest;
pub use super::transport::Transport;
use crate::engine::{EngineKind, Work};
use crate::load::LoadService;
use crate::service::ServiceKind;

/// The servers that can watch fewer descriptors than a process may open,
/// and how many: `select(2)`'s `fd_set` holds descriptors below
/// `FD_SETSIZE` only.
const DESCRIPTOR_LIMITS: &[(Contender, usize)] =
    &[(Contender::Engine(EngineKind::Select), libc::FD_SETSIZE)];

/// One row of the comparison: an engine, the reactor over two cores, or a
/// reference server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contender {
    /// `sockbench serve --engine KIND`.
    Engine(EngineKind),
    /// `sockbench serve --engine reactor --loops 2`: two loops, two
    /// `SO_REUSEPORT` listeners, one process.
    ReactorX2,
    /// `sockbench serve --engine reactor --processes 2`: prefork, two
    /// reactor processes under a supervisor. Its CPU, memory and cost
    /// columns cover the whole process tree. Only run when asked for
    /// (`--engines prefork-x2`): on one machine it measures what
    /// `reactor-x2` does (two loops on two cores), and the default run is
    /// kept to about two minutes.
    PreforkX2,
    /// The idiomatic tokio server (`examples/tokio_echo.rs`).
    Tokio,
    /// The raw epoll echo loop (`examples/epoll_raw.rs`).
    EpollRaw,
    /// A server sockbench did not write: a production server, or one
    /// given with `--server` or `--target` ([`super::foreign`]).
    Foreign(Foreign),
}

impl Contender {
    /// Every contender, in table order: the engines, the reactor over two
    /// cores, the yardsticks, then the production servers (a user's
    /// `--server` and `--target` rows are not known here).
    pub fn all() -> Vec<Contender> {
        let mut all: Vec<Contender> = EngineKind::ALL.into_iter().map(Contender::Engine).collect();
        all.extend([
            Contender::ReactorX2,
            Contender::PreforkX2,
            Contender::Tokio,
            Contender::EpollRaw,
        ]);
        all.extend(Production::ALL.map(|server| Contender::Foreign(Foreign::Production(server))));
        all
    }

    /// Every contender's name, in table order, comma-separated: for help
    /// texts and errors, so that a new contender is listed without editing
    /// them.
    pub fn names() -> String {
        let names: Vec<&str> = Contender::all().into_iter().map(Contender::name).collect();
        names.join(", ")
    }

    /// The `sockbench serve` flags that start this row; `None` for the
    /// reference servers, which are programs of their own.
    pub fn serve_args(self) -> Option<Vec<&'static str>> {
        match self {
            Contender::Engine(kind) => Some(vec!["--engine", kind.name()]),
            Contender::ReactorX2 => Some(vec!["--engine", "reactor", "--loops", "2"]),
            Contender::PreforkX2 => Some(vec!["--engine", "reactor", "--processes", "2"]),
            Contender::Tokio | Contender::EpollRaw | Contender::Foreign(_) => None,
        }
    }

    /// The spelling used on the command line, in the CSV and in plots.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Engine(kind) => kind.name(),
            Contender::ReactorX2 => "reactor-x2",
            Contender::PreforkX2 => "prefork-x2",
            Contender::Tokio => "tokio",
            Contender::EpollRaw => "epoll-raw",
            Contender::Foreign(foreign) => foreign.name(),
        }
    }

    /// Whether this server speaks `service` and can simulate `work`.
    /// The reference servers implement few services and no simulated work;
    /// only the servers sockbench did not write speak redis or memcached.
    pub fn supports(self, service: LoadService, work: Work) -> bool {
        match (self, service.own()) {
            (Contender::Foreign(foreign), _) => foreign.supports(service, work),
            (_, Some(own)) => self.supports_own(own, work),
            (_, None) => false,
        }
    }

    /// [`supports`](Self::supports) for one of sockbench's services.
    /// `offload` without work is the reactor itself, so it is not run then.
    fn supports_own(self, service: ServiceKind, work: Work) -> bool {
        match self {
            Contender::Engine(EngineKind::Offload) => {
                service != ServiceKind::Length && work != Work::None
            }
            Contender::Engine(_) | Contender::ReactorX2 | Contender::PreforkX2 => {
                service != ServiceKind::Length
            }
            Contender::Tokio => {
                matches!(service, ServiceKind::Echo | ServiceKind::Frame) && work == Work::None
            }
            Contender::EpollRaw => service == ServiceKind::Echo && work == Work::None,
            Contender::Foreign(foreign) => foreign.supports(service.into(), work),
        }
    }

    /// Whether this server can listen on `transport`: the reference
    /// servers speak TCP only, and the two-core rows share a TCP port
    /// (`SO_REUSEPORT`), which Unix sockets lack.
    pub fn serves_over(self, transport: Transport) -> bool {
        match self {
            Contender::Engine(_) => true,
            Contender::Foreign(foreign) => foreign.listens_on() == transport,
            _ => transport != Transport::Unix,
        }
    }

    /// `Ok` when this server can run on this machine; otherwise why not
    /// (`uring` where io_uring is missing or forbidden).
    pub fn check_available(self) -> Result<(), String> {
        match self {
            Contender::Engine(EngineKind::Uring) => {
                crate::engine::uring::probe().map_err(|err| err.to_string())
            }
            Contender::Foreign(foreign) => foreign.check_available(),
            _ => Ok(()),
        }
    }

    /// The most descriptors this server can watch, if it has a limit
    /// below the process's own: a cell that needs more is not run.
    pub fn descriptor_limit(self) -> Option<usize> {
        DESCRIPTOR_LIMITS
            .iter()
            .find(|(contender, _)| *contender == self)
            .map(|&(_, limit)| limit)
    }

    /// Stevens' designs that the default run leaves to `--scenario unp`:
    /// the process designs and `prethreaded-mutex`.
    pub fn is_stevens_design(self) -> bool {
        matches!(self, Contender::Engine(kind)
            if kind.forks_children() || kind == EngineKind::PrethreadedMutex)
    }

    /// Descriptors the server holds per connection: the blocking engines
    /// keep a clone of each stream, to end it on a stop (`engine::blocking`).
    pub fn descriptors_per_connection(self) -> usize {
        match self {
            Contender::Engine(
                EngineKind::Iterative
                | EngineKind::Threaded
                | EngineKind::Pool
                | EngineKind::PrethreadedMutex,
            ) => 2,
            _ => 1,
        }
    }

    /// `true` when this server multiplexes connections on a few threads, so
    /// 10,000 connections cost it descriptors and memory, not 10,000 threads
    /// or a 10,000-deep queue. (Not `select`: it watches no descriptor at
    /// or above `FD_SETSIZE`, 1,024.)
    pub fn holds_many_connections(self) -> bool {
        if let Contender::Foreign(foreign) = self {
            return foreign.holds_many_connections();
        }
        matches!(
            self,
            Contender::Engine(
                EngineKind::Poll | EngineKind::Reactor | EngineKind::Offload | EngineKind::Uring
            ) | Contender::ReactorX2
                | Contender::PreforkX2
                | Contender::Tokio
                | Contender::EpollRaw
        )
    }
}

impl fmt::Display for Contender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Contender {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Contender::all()
            .into_iter()
            .find(|contender| contender.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown engine '{s}': expected one of {}",
                    Contender::names()
                )
            })
    }
}

/// One load run against one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Which server.
    pub contender: Contender,
    /// How clients reach it.
    pub transport: Transport,
    /// The protocol spoken.
    pub service: LoadService,
    /// What every contender is asked beyond the service (`--path`, the
    /// request flags), shared by the cells of a run.
    pub request: Arc<RunRequest>,
    /// Simulated cost per request on the server.
    pub work: Work,
    /// Open connections during the run.
    pub connections: usize,
    /// Requests each connection keeps outstanding.
    pub pipeline: usize,
    /// Request payload size in bytes.
    pub size_bytes: usize,
    /// Connections held open and silent beside the active ones, from
    /// before the measured window to the cell's end ([`crate::compare::idle`]).
    pub idle: usize,
    /// Close each connection after this many answers and open another
    /// (`load --requests-per-connection`); `None`: connections stay open.
    pub requests_per_connection: Option<u64>,
    /// How long the load runs.
    pub duration: Duration,
}

impl Cell {
    /// `true` when `other` is the same load against any server: transport,
    /// service, work, connections, pipeline, size, idle connections and
    /// duration.
    pub fn same_shape(&self, other: &Cell) -> bool {
        Cell {
            contender: other.contender,
            ..self.clone()
        } == *other
    }

    /// `true` when `other` belongs to the same group: the servers started
    /// for one cell (same transport, service and work) serve the other.
    pub fn same_group(&self, other: &Cell) -> bool {
        self.transport == other.transport
            && self.service == other.service
            && self.work == other.work
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} work={} {}B pipeline={} connections={}",
            self.contender,
            self.service,
            self.work,
            self.size_bytes,
            self.pipeline,
            self.connections
        )?;
        if self.idle > 0 {
            write!(f, " idle={}", self.idle)?;
        }
        if let Some(per_connection) = self.requests_per_connection {
            write!(f, " requests-per-connection={per_connection}")?;
        }
        if self.transport != Transport::Tcp4 {
            write!(f, " over {}", self.transport)?;
        }
        Ok(())
    }
}

/// The dimensions of a comparison; every combination is a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixSpec {
    /// Servers to compare.
    pub contenders: Vec<Contender>,
    /// Transports to run each server over (each needs a server restart).
    pub transports: Vec<Transport>,
    /// Services to run.
    pub services: Vec<LoadService>,
    /// What every contender is asked beyond the service.
    pub request: Arc<RunRequest>,
    /// Per-request work settings (each needs a server restart).
    pub works: Vec<Work>,
    /// Connection counts.
    pub connections: Vec<usize>,
    /// Request sizes in bytes.
    pub sizes_bytes: Vec<usize>,
    /// Pipeline depths.
    pub pipelines: Vec<usize>,
    /// Idle connections held beside the active ones (`--idle`).
    pub idles: Vec<usize>,
    /// Every cell's `requests_per_connection` (`--scenario unp`: 1).
    pub requests_per_connection: Option<u64>,
    /// Length of each cell.
    pub cell_duration: Duration,
    /// The descriptors a server process may open (the hard limit it
    /// inherits), to leave out the cells that need more; `None`: not
    /// checked, a server short of them fails its cell and says so.
    pub server_descriptors: Option<u64>,
    /// Run connection counts above 1000 only on servers that
    /// [hold many connections](Contender::holds_many_connections).
    pub many_connections_only_where_held: bool,
}

/// Descriptors a server holds besides its connections: standard streams,
/// the listener, its waiting mechanism's own, a log file or two.
pub const SERVER_SPARE_DESCRIPTORS: usize = 8;

/// Connection counts of the default matrix.
pub const DEFAULT_CONNECTIONS: [usize; 4] = [1, 10, 100, 1000];

impl MatrixSpec {
    /// The default run: every sockbench server and yardstick (but
    /// prefork-x2, see [`Contender::PreforkX2`]; `select` and `poll`, which
    /// differ from the reactor only with many idle connections, the lesson
    /// of `--scenario idle`; Stevens' process and prethreaded designs,
    /// whose lesson is `--scenario unp`; the production servers when asked for) × 1,
    /// 10, 100, 1000 connections × 64-byte echo, 3 s cells: about two
    /// minutes in all.
    pub fn default_run() -> Self {
        MatrixSpec {
            contenders: Contender::all()
                .into_iter()
                .filter(|&contender| {
                    !matches!(
                        contender,
                        Contender::PreforkX2
                            | Contender::Foreign(_)
                            | Contender::Engine(EngineKind::Select | EngineKind::Poll)
                    ) && !contender.is_stevens_design()
                })
                .collect(),
            transports: vec![Transport::Tcp4],
            services: vec![LoadService::Own(ServiceKind::Echo)],
            request: Arc::default(),
            works: vec![Work::None],
            connections: DEFAULT_CONNECTIONS.to_vec(),
            sizes_bytes: vec![64],
            pipelines: vec![1],
            idles: vec![0],
            requests_per_connection: None,
            cell_duration: Duration::from_secs(3),
            server_descriptors: None,
            many_connections_only_where_held: true,
        }
    }

    /// `--full`: 64 B and 4 KiB, pipelines 1 and 16, three work settings,
    /// up to 10,000 connections where the server can hold them; 5 s cells.
    pub fn full_run() -> Self {
        MatrixSpec {
            works: vec![
                Work::None,
                Work::Sleep(Duration::from_millis(1)),
                Work::Cpu(Duration::from_micros(100)),
            ],
            connections: vec![1, 10, 100, 1000, 10_000],
            sizes_bytes: vec![64, 4096],
            pipelines: vec![1, 16],
            cell_duration: Duration::from_secs(5),
            ..MatrixSpec::default_run()
        }
    }

    /// `--smoke`: every engine × 1 and 4 connections, 0.3 s cells: a few
    /// seconds, for CI. No reference rows (they need the examples built).
    pub fn smoke_run() -> Self {
        MatrixSpec {
            contenders: EngineKind::ALL.into_iter().map(Contender::Engine).collect(),
            connections: vec![1, 4],
            cell_duration: Duration::from_millis(300),
            ..MatrixSpec::default_run()
        }
    }

    /// Expand into cells, grouped by server, connections ascending; every
    /// combination left out is named in `left_out` with the reason.
    pub fn cells(&self) -> Matrix {
        let mut matrix = Matrix::default();
        let mut connections = self.connections.clone();
        connections.sort_unstable();
        connections.dedup();
        let mut idles = self.idles.clone();
        idles.sort_unstable();
        idles.dedup();
        for (contender, transport) in self.servers(&mut matrix.left_out) {
            for &service in &self.services {
                for &work in &self.works {
                    if !contender.supports(service, work) {
                        let why = match contender {
                            Contender::Foreign(_) if work != Work::None => {
                                "--work is simulated by sockbench's own servers only".to_string()
                            }
                            Contender::Foreign(Foreign::Production(server)) => {
                                format!("it speaks {} only", server.speaks())
                            }
                            Contender::Foreign(_) => "not implemented by that server".to_string(),
                            _ if service.own().is_none() => format!(
                                "does not speak {service} (sockbench's servers speak their own services)"
                            ),
                            Contender::Engine(EngineKind::Offload) if work == Work::None => {
                                "without work there is nothing to offload: it is the reactor"
                                    .to_string()
                            }
                            _ => "not implemented by that server".to_string(),
                        };
                        matrix.left_out.push(format!(
                            "{contender} with service {service} and work {work}: {why}"
                        ));
                        continue;
                    }
                    for &size_bytes in &self.sizes_bytes {
                        for &pipeline in &self.pipelines {
                            for (&idle, &connections) in idles
                                .iter()
                                .flat_map(|idle| connections.iter().map(move |c| (idle, c)))
                            {
                                let cell = Cell {
                                    contender,
                                    transport,
                                    service,
                                    request: Arc::clone(&self.request),
                                    work,
                                    connections,
                                    pipeline,
                                    size_bytes,
                                    idle,
                                    requests_per_connection: self.requests_per_connection,
                                    duration: self.cell_duration,
                                };
                                match self.why_not_run(&cell) {
                                    Some(why) => matrix.left_out.push(format!("{cell}: {why}")),
                                    None => matrix.cells.push(cell),
                                }
                            }
                        }
                    }
                }
            }
        }
        matrix
    }

    /// Why `cell` is left out of the matrix, if it is: too many
    /// connections for a blocking server (unless asked for by name), or
    /// more descriptors than the server can watch.
    fn why_not_run(&self, cell: &Cell) -> Option<String> {
        let contender = cell.contender;
        if self.many_connections_only_where_held
            && cell.connections > 1000
            && !contender.holds_many_connections()
        {
            return Some(format!(
                "over 1000 connections only on the event loops (reactor, uring, tokio, epoll-raw) \
                 (ask for it with --engines {contender} --connections {})",
                cell.connections
            ));
        }
        if let Some(limit) = contender.descriptor_limit() {
            if let Some(why) = too_many_descriptors(cell, limit as u64) {
                return Some(format!(
                    "{contender} watches at most {limit} descriptors: {why}"
                ));
            }
        }
        let limit = self.server_descriptors?;
        too_many_descriptors(cell, limit)
            .map(|why| format!("a server process may open {limit} descriptors (hard limit): {why}"))
    }

    /// Every (server, transport) pair to run; pairs a server cannot serve
    /// are named in `left_out`.
    fn servers(&self, left_out: &mut Vec<String>) -> Vec<(Contender, Transport)> {
        let mut servers = Vec::new();
        for &contender in &self.contenders {
            for &transport in &self.transports {
                if contender.serves_over(transport) {
                    servers.push((contender, transport));
                } else {
                    let listens = match contender {
                        Contender::Foreign(foreign) => format!(
                            "that server listens over {0} only (add --transports {0})",
                            foreign.listens_on()
                        ),
                        _ => "that server listens on TCP only".to_string(),
                    };
                    left_out.push(format!("{contender} over {transport}: {listens}"));
                }
            }
        }
        servers
    }
}

/// What `cell` needs of a server that may hold at most `limit`
/// descriptors, if that is more.
fn too_many_descriptors(cell: &Cell, limit: u64) -> Option<String> {
    let per_connection = cell.contender.descriptors_per_connection();
    let needed = per_connection * (cell.connections + cell.idle) + SERVER_SPARE_DESCRIPTORS;
    (needed as u64 > limit).then(|| {
        format!(
            "this cell needs about {needed} ({} active + {} idle connections{}, the listener \
             and standard streams)",
            cell.connections,
            cell.idle,
            if per_connection > 1 {
                format!(", {per_connection} descriptors each")
            } else {
                String::new()
            }
        )
    })
}

/// The cells to run, and what was left out and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matrix {
    /// Cells in run order.
    pub cells: Vec<Cell>,
    /// One line per combination not run, saying why.
    pub left_out: Vec<String>,
}

impl Matrix {
    /// Leave out the servers this machine cannot run (`uring` without
    /// io_uring), each named in `left_out` with the reason.
    pub fn leave_out_unavailable(&mut self) {
        let mut contenders: Vec<Contender> = self.cells.iter().map(|cell| cell.contender).collect();
        contenders.dedup();
        for contender in contenders {
            if let Err(why) = contender.check_available() {
                self.cells.retain(|cell| cell.contender != contender);
                self.left_out.push(format!("{contender}: {why}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every contender's name parses back to the same contender.
    #[test]
    fn contender_names_round_trip() {
        for contender in Contender::all() {
            assert_eq!(contender.name().parse::<Contender>(), Ok(contender));
        }
        let err = "lighttpd".parse::<Contender>().unwrap_err();
        assert!(err.contains("epoll-raw"), "{err}");
    }

    /// The default matrix is 8 servers × 4 connection counts; only offload
    /// (the reactor, without work) is left out.
    #[test]
    fn default_matrix_has_one_cell_per_server_and_connection_count() {
        let matrix = MatrixSpec::default_run().cells();
        assert_eq!(matrix.cells.len(), 8 * 4);
        // Only offload, which without work is the reactor.
        assert_eq!(matrix.left_out.len(), 1, "{:?}", matrix.left_out);
        assert!(matrix.left_out[0].starts_with("offload with service echo and work none"));
        // Grouped by server, connections ascending within a group.
        assert_eq!(matrix.cells[0].connections, 1);
        assert_eq!(matrix.cells[3].connections, 1000);
        assert_eq!(matrix.cells[0].contender, matrix.cells[3].contender);
        assert_ne!(matrix.cells[3].contender, matrix.cells[4].contender);
        assert!(matrix.cells[3].same_group(&matrix.cells[4]));
        assert!(matrix.cells[0].same_shape(&matrix.cells[4]));
        assert!(!matrix.cells[0].same_shape(&matrix.cells[3]));
    }

    /// Each transport is a separate server group; the reference servers
    /// are left out over Unix sockets, with the reason.
    #[test]
    fn transports_multiply_servers_and_name_what_they_leave_out() {
        let spec = MatrixSpec {
            transports: vec![Transport::Tcp4, Transport::Tcp6, Transport::Unix],
            ..MatrixSpec::default_run()
        };
        let matrix = spec.cells();
        // 5 engines x 3 transports + (reactor-x2 + 2 references) x 2
        // transports, 4 counts each (offload without work is left out).
        assert_eq!(matrix.cells.len(), (5 * 3 + 3 * 2) * 4);
        assert!(matrix
            .left_out
            .iter()
            .any(|line| line.starts_with("tokio over unix")));
        assert!(matrix
            .left_out
            .iter()
            .any(|line| line.starts_with("reactor-x2 over unix")));
        let unix: Vec<&Cell> = matrix
            .cells
            .iter()
            .filter(|cell| cell.transport == Transport::Unix)
            .collect();
        assert!(!unix[0].same_group(&matrix.cells[0]));
        assert!(unix[0].to_string().ends_with("over unix"));
    }

    /// Every idle count is a cell of its own, after the connection counts
    /// of the one before; a cell above a server's descriptor limit is
    /// named with the limit and what it would need.
    #[test]
    fn idle_counts_multiply_cells_and_a_descriptor_limit_leaves_some_out() {
        let spec = MatrixSpec {
            contenders: vec![Contender::Engine(EngineKind::Reactor)],
            connections: vec![100],
            idles: vec![10_000, 0, 1_000, 0],
            ..MatrixSpec::default_run()
        };
        let cells = spec.cells().cells;
        let idles: Vec<usize> = cells.iter().map(|cell| cell.idle).collect();
        assert_eq!(idles, [0, 1_000, 10_000]);
        assert!(cells[1].to_string().ends_with("connections=100 idle=1000"));
        assert!(!cells[0].to_string().contains("idle"));
        assert!(!cells[0].same_shape(&cells[1]));
        assert!(
            cells[0].same_group(&cells[2]),
            "one server for every idle count"
        );
        assert_eq!(too_many_descriptors(&cells[0], 1024), None);
        let why = too_many_descriptors(&cells[1], 1024).unwrap();
        assert!(
            why.contains("about 1108 (100 active + 1000 idle connections, the"),
            "{why}"
        );
        // A thread per connection holds two descriptors for each.
        let limited = MatrixSpec {
            contenders: vec![
                Contender::Engine(EngineKind::Reactor),
                Contender::Engine(EngineKind::Threaded),
            ],
            server_descriptors: Some(20_000),
            ..spec
        }
        .cells();
        assert_eq!(limited.cells.len(), 5, "{:?}", limited.left_out);
        assert_eq!(limited.left_out.len(), 1);
        let why = &limited.left_out[0];
        assert!(why.starts_with("threaded echo"), "{why}");
        assert!(why.contains("idle=10000: a server process may open 20000 descriptors (hard limit): this cell needs about 20208"), "{why}");
        assert!(why.contains("2 descriptors each"), "{why}");
    }

    /// Unsupported combinations are listed as left out, never dropped silently.
    #[test]
    fn full_matrix_names_what_it_leaves_out() {
        let matrix = MatrixSpec::full_run().cells();
        assert!(matrix
            .left_out
            .iter()
            .any(|line| line.starts_with("epoll-raw with service echo and work sleep:1ms")));
        assert!(matrix
            .left_out
            .iter()
            .any(|line| line.starts_with("iterative") && line.contains("connections=10000")));
        assert!(matrix
            .cells
            .iter()
            .any(|cell| cell.contender == Contender::EpollRaw && cell.connections == 10_000));
        assert!(!matrix.cells.iter().any(|cell| cell.contender
            == Contender::Engine(EngineKind::Threaded)
            && cell.connections == 10_000));
    }
}
