//! Servers sockbench did not write, as contenders: the production servers
//! shipped as ready-made rows (nginx, Apache httpd with each MPM, Redis,
//! memcached), a
//! user's `--server NAME=COMMAND`, and a `--target NAME=ADDR` already
//! running.
//!
//! A production server or a `--server` is started from a
//! [`ServerCommand`] ([`crate::external`]) by the same runner as every
//! other row: placed in the quota group and on the server core before its
//! program runs, measured over its whole process tree, stopped with its
//! process group, fresh every round. A `--target` is only loaded: it has
//! no quota, no restart and no cost figures, and the notes under the
//! table say so.
//!
//! A user's names and commands live as long as the comparison; each is
//! leaked once when parsed, so that a [`Contender`](super::matrix::Contender)
//! naming it stays a small `Copy` value like every other.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::engine::Work;
use crate::external::ServerCommand;
use crate::load::LoadService;
use crate::service::ServiceKind;
use crate::sys::process::find_in_path;

use super::transport::Transport;

/// What installs the production servers where they are missing.
pub const INSTALL: &str = "./scripts/real-servers.sh";

/// Where Debian installs daemons (nginx, apache2), which is not on every
/// user's PATH: a production server is looked for there too.
const SBIN_DIRS: [&str; 2] = ["/usr/sbin", "/sbin"];

/// A server sockbench did not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Foreign {
    /// A production server with a config shipped in `configs/`.
    Production(Production),
    /// `--server NAME=COMMAND`.
    Command(&'static NamedCommand),
    /// `--target NAME=ADDR`.
    Target(&'static NamedTarget),
}

/// A user's `--server NAME=COMMAND`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NamedCommand {
    /// The row's name.
    pub name: String,
    /// How to start it.
    pub command: ServerCommand,
}

/// A user's `--target NAME=ADDR`: a server already running on loopback.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NamedTarget {
    /// The row's name.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// The production servers sockbench can start (`scripts/real-servers.sh`
/// installs them), each in the foreground on a fresh loopback port,
/// persisting nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Production {
    /// nginx with one worker (`configs/nginx.conf`).
    Nginx,
    /// Apache httpd, prefork MPM (`configs/apache2.conf`).
    ApachePrefork,
    /// Apache httpd, worker MPM.
    ApacheWorker,
    /// Apache httpd, event MPM.
    ApacheEvent,
    /// Redis, no snapshots, no append-only file (`configs/redis.conf`).
    Redis,
    /// memcached with one worker thread (`configs/memcached.sh`).
    Memcached,
}

impl Production {
    /// Every production server, in table order.
    pub const ALL: [Production; 6] = [
        Production::Nginx,
        Production::ApachePrefork,
        Production::ApacheWorker,
        Production::ApacheEvent,
        Production::Redis,
        Production::Memcached,
    ];

    /// The row's name.
    pub fn name(self) -> &'static str {
        match self {
            Production::Nginx => "nginx",
            Production::ApachePrefork => "apache-prefork",
            Production::ApacheWorker => "apache-worker",
            Production::ApacheEvent => "apache-event",
            Production::Redis => "redis",
            Production::Memcached => "memcached",
        }
    }

    /// The one protocol it is loaded with.
    pub fn speaks(self) -> LoadService {
        match self {
            Production::Redis => LoadService::Redis,
            Production::Memcached => LoadService::Memcached,
            _ => LoadService::Own(ServiceKind::Http),
        }
    }

    /// The concurrency model it embodies, for the notes under the table.
    pub fn model(self) -> &'static str {
        match self {
            Production::Nginx => "prefork + an event loop per worker (one worker here)",
            Production::ApachePrefork => "a process per connection",
            Production::ApacheWorker => "a thread per connection",
            Production::ApacheEvent => "threads + an event loop for idle keep-alive connections",
            Production::Redis => "one event loop",
            Production::Memcached => "an event loop per thread (one thread here, -t 1)",
        }
    }

    /// The program it runs.
    pub fn program(self) -> &'static str {
        match self {
            Production::Nginx => "nginx",
            Production::Redis => "redis-server",
            Production::Memcached => "memcached",
            _ => "apache2",
        }
    }

    /// Its program: on PATH, or where Debian installs daemons.
    pub fn locate(self) -> Option<PathBuf> {
        find_in_path(self.program()).or_else(|| {
            SBIN_DIRS
                .iter()
                .map(|dir| Path::new(dir).join(self.program()))
                .find(|path| path.is_file())
        })
    }

    /// How to start it on a fresh port, in the foreground, with the
    /// config shipped in `configs`.
    pub fn command(self, configs: &Path) -> std::io::Result<ServerCommand> {
        let program = self.locate().map_or_else(
            || self.program().to_string(),
            |path| path.display().to_string(),
        );
        let program = program.as_str();
        let www = configs.join("www").display().to_string();
        let mpm = match self {
            Production::Nginx => {
                // nginx reads no variables: its config is written, filled,
                // to the server's own directory, which is also its prefix
                // (pid file, temp files).
                let template =
                    std::fs::read_to_string(configs.join("nginx.conf"))?.replace("{www}", &www);
                let words = [
                    program,
                    "-p",
                    "{dir}",
                    "-e",
                    "stderr",
                    "-c",
                    "{dir}/nginx.conf",
                ];
                let mut words: Vec<String> = words.into_iter().map(String::from).collect();
                words.extend(["-g".into(), "daemon off;".into()]);
                return Ok(ServerCommand::with_config_file(
                    words,
                    "nginx.conf",
                    template,
                ));
            }
            Production::ApachePrefork => "prefork",
            Production::ApacheWorker => "worker",
            Production::ApacheEvent => "event",
            Production::Redis => {
                let config = configs.join("redis.conf").display().to_string();
                return ServerCommand::parse(&shell_words::join([
                    program, &config, "--port", "{port}",
                ]));
            }
            // Its flags are the script's, which execs memcached: the
            // process started is the server's.
            Production::Memcached => {
                let script = configs.join("memcached.sh").display().to_string();
                return ServerCommand::parse(&shell_words::join([&script, "{port}"]));
            }
        };
        let config = configs.join("apache2.conf").display().to_string();
        let words = [
            program,
            "-f",
            &config,
            "-DFOREGROUND",
            "-D",
            mpm,
            "-C",
            "Define port {port}",
            "-C",
            &format!("Define www {www}"),
        ];
        ServerCommand::parse(&shell_words::join(words))
    }
}

/// The repository's `configs/`, where sockbench was built from.
pub fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

impl Foreign {
    /// The row's name.
    pub fn name(self) -> &'static str {
        match self {
            Foreign::Production(server) => server.name(),
            Foreign::Command(named) => &named.name,
            Foreign::Target(named) => &named.name,
        }
    }

    /// Whether it can serve `service` with `work`: a production server
    /// its one protocol ([`Production::speaks`]); a user's server whatever
    /// the user says; none of them simulates work (that is a sockbench
    /// `serve` flag).
    pub fn supports(self, service: LoadService, work: Work) -> bool {
        work == Work::None
            && match self {
                Foreign::Production(server) => service == server.speaks(),
                Foreign::Command(_) | Foreign::Target(_) => true,
            }
    }

    /// The one transport it listens on: a command's is the one its
    /// placeholder names, a target's its address's family.
    pub fn listens_on(self) -> Transport {
        match self {
            Foreign::Production(_) => Transport::Tcp4,
            Foreign::Command(named) if named.command.is_unix() => Transport::Unix,
            Foreign::Command(_) => Transport::Tcp4,
            Foreign::Target(named) if named.addr.is_ipv6() => Transport::Tcp6,
            Foreign::Target(_) => Transport::Tcp4,
        }
    }

    /// `Ok` when it can run here; otherwise why not, with what to do.
    pub fn check_available(self) -> Result<(), String> {
        let program = match self {
            Foreign::Production(server) if server.locate().is_some() => return Ok(()),
            Foreign::Production(server) => {
                return Err(format!(
                    "`{}` is not installed (not on PATH, nor in {}): install it with {INSTALL}",
                    server.program(),
                    SBIN_DIRS.join(" or ")
                ))
            }
            Foreign::Command(named) => named.command.program(),
            Foreign::Target(_) => return Ok(()),
        };
        if program.contains('/') || find_in_path(program).is_some() {
            return Ok(());
        }
        Err(format!(
            "`{program}` is not on PATH: install it, or give its full path"
        ))
    }

    /// Whether it multiplexes connections, so thousands cost it little.
    pub fn holds_many_connections(self) -> bool {
        !matches!(
            self,
            Foreign::Production(Production::ApachePrefork | Production::ApacheWorker)
        )
    }

    /// One line for the notes under the table: what the row is.
    pub fn describe(self) -> String {
        match self {
            Foreign::Production(server) => format!("{}: {}", server.name(), server.model()),
            Foreign::Command(named) => format!(
                "{}: started from the command you gave (--server), its whole process tree measured",
                named.name
            ),
            Foreign::Target(named) => format!(
                "{}: already running at {} (--target): no quota, no restart, no cost columns (its srv cpu% and costs read 0 or n/a)",
                named.name, named.addr
            ),
        }
    }
}

impl fmt::Display for Foreign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Split `NAME=VALUE`, refusing a name that is not a plain word.
fn split_named<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str), String> {
    let example = match flag {
        "--server" => "--server 'py=python3 my_echo.py {port}'",
        _ => "--target mine=127.0.0.1:8080",
    };
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{flag} '{text}': give NAME=..., e.g. {example}"))?;
    let is_word = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !is_word {
        return Err(format!(
            "{flag} '{text}': the name '{name}' must be letters, digits, '-', '_' or '.' (it names a column of the CSV), e.g. {example}"
        ));
    }
    Ok((name, value))
}

/// Parse `--server NAME=COMMAND`; the command is checked (it must say
/// where to listen) before anything runs.
pub fn parse_server(text: &str) -> Result<Foreign, String> {
    let (name, command) = split_named("--server", text)?;
    let command = ServerCommand::parse(command).map_err(|err| format!("--server {name}: {err}"))?;
    let named = NamedCommand {
        name: name.to_string(),
        command,
    };
    Ok(Foreign::Command(Box::leak(Box::new(named))))
}

/// Parse `--target NAME=ADDR`, refusing an address off this machine.
pub fn parse_target(text: &str) -> Result<Foreign, String> {
    let (name, addr) = split_named("--target", text)?;
    let addr: SocketAddr = addr.parse().map_err(|err| {
        format!("--target {name}={addr}: {err}: give IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")
    })?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--target {name}={addr}: not a loopback address: sockbench loads servers on this machine only (127.0.0.1 or ::1)"
        ));
    }
    let named = NamedTarget {
        name: name.to_string(),
        addr,
    };
    Ok(Foreign::Target(Box::leak(Box::new(named))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's name and command are parsed; a bad name or a command
    /// with nowhere to listen are refused with what to write instead.
    #[test]
    fn server_flags_parse_and_refuse_bad_input() {
        let server = parse_server("py=python3 echo.py {port}").unwrap();
        assert_eq!(server.name(), "py");
        assert_eq!(server.listens_on(), Transport::Tcp4);
        assert!(!server.supports(ServiceKind::Echo.into(), Work::Cpu(Default::default())));
        assert!(server.supports(LoadService::Redis, Work::None));
        let err = parse_server("py=python3 echo.py 7000").unwrap_err();
        assert!(err.contains("put {port}"), "{err}");
        let err = parse_server("python3 echo.py {port}").unwrap_err();
        assert!(err.contains("NAME="), "{err}");
        let err = parse_server("my server=python3 {port}").unwrap_err();
        assert!(err.contains("must be letters"), "{err}");
        let unix = parse_server("u=python3 echo.py {unix}").unwrap();
        assert_eq!(unix.listens_on(), Transport::Unix);
    }

    /// A target must be on loopback, and runs over its address's family.
    #[test]
    fn targets_off_loopback_are_refused() {
        let target = parse_target("mine=[::1]:8080").unwrap();
        assert_eq!(target.listens_on(), Transport::Tcp6);
        assert!(target.describe().contains("no cost columns"));
        let err = parse_target("far=192.0.2.1:80").unwrap_err();
        assert!(err.contains("not a loopback address"), "{err}");
        assert!(parse_target("mine=localhost").is_err());
    }

    /// Each production server speaks its one protocol (http, redis or
    /// memcached) and says its model; a missing program names the install
    /// script.
    #[test]
    fn production_servers_say_their_model_and_how_to_install() {
        for server in Production::ALL {
            let foreign = Foreign::Production(server);
            assert!(foreign.supports(server.speaks(), Work::None));
            assert!(!foreign.supports(ServiceKind::Echo.into(), Work::None));
            assert!(foreign.describe().starts_with(server.name()));
            server
                .command(&configs_dir())
                .expect("the shipped configs exist");
        }
        let missing = ServerCommand::parse("no-such-server-program {port}").unwrap();
        let named = NamedCommand {
            name: "x".into(),
            command: missing,
        };
        let err = Foreign::Command(Box::leak(Box::new(named)))
            .check_available()
            .unwrap_err();
        assert!(err.contains("no-such-server-program"), "{err}");
    }
}
