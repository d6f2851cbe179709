//! Servers we did not write: start one from a user's command, know when it
//! is ready, and stop it with everything it started.
//!
//! A [`ServerCommand`] is the user's text split as a shell would (quotes
//! respected) but run through no shell, so what is typed is what runs. Its
//! placeholders say where the server must listen: `{port}` becomes a free
//! loopback port, `{addr}` `127.0.0.1:PORT`, `{unix}` a socket path in a
//! fresh temporary directory (`{dir}` names that directory: a server that
//! reads a config file gets its copy there, placeholders filled,
//! [`ServerCommand::with_config_file`]). [`ServerCommand::start`] runs it
//! in a process group of its own and returns an [`ExternalServer`] once
//! the address accepts a connection; stopping (or dropping) it sends
//! SIGTERM to the whole group, then SIGKILL after a grace period, so
//! children it forked and a server that ignores SIGTERM are gone too.
//! [`ServerCommand::start_placed`] also puts it in a CPU-quota cgroup and
//! on a core *before* its program runs (a step between fork and exec), so
//! every process it forks is born inside both.
//!
//! Used by `sockbench check --server` and `sockbench compare --server`;
//! nothing here knows what the server will be asked to do.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::engine::ListenAddr;
use crate::sys::cgroup::CpuQuota;
use crate::sys::process::StderrTail;
use crate::sys::sched;

/// How long a server may take to accept its first connection.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server may take to exit after SIGTERM before it is killed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// Lines of the server's stderr kept to explain a failure.
const STDERR_TAIL_LINES: usize = 10;

/// How often readiness and exit are polled while waiting: short enough
/// that a ready server is used at once, long enough not to busy the CPU.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The placeholders, and what each becomes.
const PORT: &str = "{port}";
const ADDR: &str = "{addr}";
const UNIX: &str = "{unix}";
const DIR: &str = "{dir}";

/// A user's server command, split into words and checked for a placeholder
/// that says where it listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerCommand {
    words: Vec<String>,
    /// A file written to `{dir}` at each start, placeholders filled.
    config: Option<ConfigFile>,
}

/// A config file the server reads, for a server that takes its port
/// nowhere else (nginx reads no variables).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ConfigFile {
    name: String,
    template: String,
}

/// Where a server runs: the quota group and the core its processes are
/// born in. The default is neither.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placement<'a> {
    /// The CPU-quota cgroup to start the server in.
    pub quota: Option<&'a CpuQuota>,
    /// The one core it may run on.
    pub core: Option<usize>,
}

/// Whether `text` names a place to listen.
fn says_where_to_listen(text: &str) -> bool {
    text.contains(PORT) || text.contains(ADDR) || text.contains(UNIX)
}

impl ServerCommand {
    /// Split `text` as a shell would; refuse it (before anything runs) if
    /// it is empty, has unbalanced quotes, or names no place to listen.
    pub fn parse(text: &str) -> io::Result<ServerCommand> {
        let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
        let words = shell_words::split(text)
            .map_err(|err| invalid(format!("cannot split the server command '{text}': {err}")))?;
        if words.is_empty() {
            return Err(invalid(
                "the server command is empty: give a program and its arguments, e.g. 'python3 server.py {port}'".into(),
            ));
        }
        if !words.iter().any(|w| says_where_to_listen(w)) {
            return Err(invalid(format!(
                "the server command '{text}' says nowhere to listen: put {PORT} (or {ADDR}, or {UNIX} for a Unix socket) where the server takes its port, e.g. 'python3 server.py {PORT}'"
            )));
        }
        Ok(ServerCommand {
            words,
            config: None,
        })
    }

    /// A server that takes its address from a config file: `words` (with
    /// `{dir}/NAME` where it reads the file) and the file's `template`,
    /// written to `{dir}/name` at each start with its placeholders filled.
    pub fn with_config_file(words: Vec<String>, name: &str, template: String) -> ServerCommand {
        assert!(
            !words.is_empty() && says_where_to_listen(&template),
            "a config file that says where to listen, and a program to read it"
        );
        ServerCommand {
            words,
            config: Some(ConfigFile {
                name: name.to_string(),
                template,
            }),
        }
    }

    /// The program this command runs (its first word).
    pub fn program(&self) -> &str {
        &self.words[0]
    }

    /// Whether the server listens on a Unix socket (`{unix}`) rather than TCP.
    pub fn is_unix(&self) -> bool {
        self.words.iter().any(|w| w.contains(UNIX))
            || self
                .config
                .as_ref()
                .is_some_and(|c| c.template.contains(UNIX))
    }

    /// Start the server on a fresh address and wait until it accepts.
    pub fn start(&self, ready_timeout: Duration, grace: Duration) -> io::Result<ExternalServer> {
        self.start_placed(ready_timeout, grace, Placement::default())
    }

    /// [`start`](Self::start), with the server's first process moved into
    /// `placement`'s quota group and onto its core between fork and exec:
    /// every process and thread it starts is born there too.
    pub fn start_placed(
        &self,
        ready_timeout: Duration,
        grace: Duration,
        placement: Placement<'_>,
    ) -> io::Result<ExternalServer> {
        let dir = fresh_temp_dir()?;
        let addr = self.fresh_addr(&dir)?;
        let words: Vec<String> = self.words.iter().map(|w| fill(w, &addr, &dir)).collect();
        if let Some(config) = &self.config {
            std::fs::write(dir.join(&config.name), fill(&config.template, &addr, &dir))?;
        }
        let shown = shell_words::join(&words);
        let mut command = Command::new(&words[0]);
        command
            .args(&words[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own group, so that one signal reaches every process it forks.
            .process_group(0);
        // Opened here: between fork and exec only plain system calls are safe.
        let cgroup_procs = placement.quota.map(CpuQuota::procs_file).transpose()?;
        let core = placement.core;
        // SAFETY: the step runs in the child between fork and exec, and
        // makes system calls only: write(2) of a constant, and
        // sched_setaffinity(2) (pin_current_thread allocates only for a
        // core past CPU_SETSIZE, which compare's server core is not).
        unsafe {
            command.pre_exec(move || {
                if let Some(procs) = &cgroup_procs {
                    // "0" moves the writing process: this child, before it is the server.
                    if libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if let Some(core) = core {
                    sched::pin_current_thread(core)?;
                }
                Ok(())
            });
        }
        let spawned = command.spawn();
        if spawned.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let mut child = spawned.map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "cannot start '{shown}': {err} (is '{}' installed and on PATH?)",
                    words[0]
                ),
            )
        })?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let stderr_tail = StderrTail::follow(stderr, STDERR_TAIL_LINES);
        let mut server = ExternalServer {
            pgid: child.id(),
            child,
            addr,
            dir: Some(dir),
            shown,
            grace,
            stderr_tail,
            stopped: false,
        };
        server.wait_ready(ready_timeout)?;
        Ok(server)
    }

    /// A free loopback port, or a socket path in the server's directory.
    fn fresh_addr(&self, dir: &Path) -> io::Result<ListenAddr> {
        if self.is_unix() {
            return Ok(ListenAddr::Unix(dir.join("server.sock")));
        }
        // The port is free now; the server binds it a moment later. Another
        // process could take it in between, which start() then reports.
        let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        Ok(ListenAddr::Tcp(probe.local_addr()?))
    }
}

/// `text` with every placeholder replaced for `addr` and `dir`.
fn fill(text: &str, addr: &ListenAddr, dir: &Path) -> String {
    let text = text.replace(DIR, &dir.to_string_lossy());
    match addr {
        ListenAddr::Tcp(addr) | ListenAddr::Udp(addr) => text
            .replace(PORT, &addr.port().to_string())
            .replace(ADDR, &addr.to_string()),
        ListenAddr::Unix(path) => text.replace(UNIX, &path.to_string_lossy()),
    }
}

/// A new, empty directory of our own under the temp directory.
fn fresh_temp_dir() -> io::Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sockbench-server-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// How a server ended when it was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every process of its group had exited within the grace period; the
    /// server itself with this status.
    Exited(ExitStatus),
    /// Something in its group outlived SIGTERM by the grace period and was
    /// killed.
    Killed,
}

/// A running server started from a [`ServerCommand`]: stopped, with its
/// whole process group, when [`ExternalServer::stop`] is called or it is
/// dropped.
#[derive(Debug)]
pub struct ExternalServer {
    child: Child,
    /// The group the server leads: its pid.
    pgid: u32,
    addr: ListenAddr,
    /// The server's own temporary directory (`{dir}`, a `{unix}` socket,
    /// its config file), removed at the end.
    dir: Option<PathBuf>,
    /// The command as run, for messages.
    shown: String,
    grace: Duration,
    stderr_tail: StderrTail,
    stopped: bool,
}

impl ExternalServer {
    /// Where the server listens.
    pub fn addr(&self) -> &ListenAddr {
        &self.addr
    }

    /// The server's process id (its group's id too).
    pub fn pid(&self) -> u32 {
        self.pgid
    }

    /// How long it is given to exit after SIGTERM.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The command as it was run, placeholders filled.
    pub fn command_line(&self) -> &str {
        &self.shown
    }

    /// The last lines the server wrote on stderr, indented, after a newline;
    /// empty if it wrote none.
    pub fn stderr_excerpt(&self) -> String {
        indented(&self.stderr_tail.lines())
    }

    /// `Some(status)` if the server (its first process) has exited.
    pub fn exited(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Poll until the address accepts a connection, the server exits, or
    /// `timeout` passes; the last two are errors that say what happened.
    fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let last_words = self.stderr_tail.lines_once_closed(self.grace);
                return Err(io::Error::other(format!(
                    "server '{}' exited before accepting a connection ({status}); its last words on stderr:{}",
                    self.shown,
                    indented_or_none(&last_words)
                )));
            }
            if self.accepts() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "server '{}' is running but did not accept a connection at {} within {timeout:?}: does it listen on the port it was given? (raise --ready-timeout if it is only slow to start){}",
                        self.shown,
                        self.addr,
                        self.stderr_excerpt()
                    ),
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Whether a connection to the server's address succeeds now.
    fn accepts(&self) -> bool {
        match &self.addr {
            ListenAddr::Tcp(addr) | ListenAddr::Udp(addr) => {
                TcpStream::connect_timeout(addr, POLL_INTERVAL * 5).is_ok()
            }
            ListenAddr::Unix(path) => UnixStream::connect(path).is_ok(),
        }
    }

    /// SIGTERM to the group, SIGKILL to what is left after the grace
    /// period; returns once every process of the group is gone (or, for
    /// processes nobody reaps, a grace period after SIGKILL).
    pub fn stop(mut self) -> io::Result<Stopped> {
        self.stop_group()
    }

    fn stop_group(&mut self) -> io::Result<Stopped> {
        self.stopped = true;
        signal_group(self.pgid, libc::SIGTERM);
        let stopped = match self.wait_group_gone(self.grace)? {
            Some(status) => Stopped::Exited(status),
            None => {
                signal_group(self.pgid, libc::SIGKILL);
                self.wait_group_gone(self.grace)?;
                Stopped::Killed
            }
        };
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(stopped)
    }

    /// Reap the leader and wait until no process of the group is left;
    /// `Some(status)` (the leader's) if that happens within `wait`.
    fn wait_group_gone(&mut self, wait: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + wait;
        loop {
            let status = self.child.try_wait()?;
            if let Some(status) = status {
                if !group_is_running(self.pgid) {
                    return Ok(Some(status));
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for ExternalServer {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.stop_group();
        }
    }
}

/// `lines`, each indented after a newline.
fn indented(lines: &[String]) -> String {
    lines.iter().map(|line| format!("\n  {line}")).collect()
}

/// [`indented`], or ` (nothing)` without lines.
fn indented_or_none(lines: &[String]) -> String {
    match indented(lines) {
        text if text.is_empty() => " (nothing)".into(),
        text => text,
    }
}

/// Send `signal` to every process of group `pgid`.
fn signal_group(pgid: u32, signal: libc::c_int) {
    let pgid = libc::pid_t::try_from(pgid).expect("a pid fits pid_t");
    // SAFETY: kill has no memory effects; a negative pid names a group.
    unsafe { libc::kill(-pgid, signal) };
}

/// Whether any process of group `pgid` is still running. Zombies do not
/// count: an orphan's is reaped by init, which here may never come.
fn group_is_running(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false; // not a process, or it has just gone
        };
        // `pid (comm) state ppid pgrp ...`: comm may hold spaces and ')'.
        let Some((_, fields)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = fields.split_whitespace();
        let state = fields.next().unwrap_or("Z");
        let pgrp = fields.nth(1).and_then(|g| g.parse::<u32>().ok());
        pgrp == Some(pgid) && !matches!(state, "Z" | "X")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Whether `python3` runs here; the tests that need it say so and pass.
    fn has_python() -> bool {
        let found = Command::new("python3").arg("--version").output().is_ok();
        if !found {
            eprintln!("skipped: python3 is not installed");
        }
        found
    }

    /// `python3 -c SCRIPT` followed by `args`, as one command text.
    fn python(script: &str, args: &str) -> ServerCommand {
        ServerCommand::parse(&format!("python3 -c {} {args}", shell_words::quote(script)))
            .expect("a valid command")
    }

    /// An echo server on the port or Unix path given as argument 1.
    const ECHO: &str = "
import socket, sys
arg = sys.argv[1]
if arg.isdigit():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', int(arg)))
else:
    s = socket.socket(socket.AF_UNIX); s.bind(arg)
s.listen()
while True:
    c, _ = s.accept()
    data = c.recv(100)
    if data:  # the readiness probe connects and sends nothing
        c.sendall(data)
    c.close()
";

    fn echo_once(addr: &ListenAddr) -> Vec<u8> {
        let mut reply = Vec::new();
        match addr {
            ListenAddr::Tcp(addr) => {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"ping").unwrap();
                s.read_to_end(&mut reply).unwrap();
            }
            ListenAddr::Unix(path) => {
                let mut s = UnixStream::connect(path).unwrap();
                s.write_all(b"ping").unwrap();
                s.read_to_end(&mut reply).unwrap();
            }
            ListenAddr::Udp(_) => unreachable!("a stream server"),
        }
        reply
    }

    /// Quotes group words as a shell's would; no shell runs them.
    #[test]
    fn parse_splits_like_a_shell() {
        let command = ServerCommand::parse("python3 -c 'print(1); x = \"a b\"' {port}").unwrap();
        assert_eq!(
            command.words,
            ["python3", "-c", "print(1); x = \"a b\"", "{port}"]
        );
        assert!(!command.is_unix());
    }

    /// A command with nowhere to listen, an empty one and an unbalanced
    /// quote are each refused with what to write instead.
    #[test]
    fn parse_refuses_commands_without_a_place_to_listen() {
        let err = ServerCommand::parse("python3 server.py 7000").unwrap_err();
        assert!(err.to_string().contains("put {port}"), "{err}");
        assert!(ServerCommand::parse("  ")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(ServerCommand::parse("python3 'x {port}").is_err());
    }

    /// Placeholders are filled inside words too.
    #[test]
    fn fill_replaces_every_placeholder() {
        let addr = ListenAddr::Tcp("127.0.0.1:4242".parse().unwrap());
        let dir = Path::new("/tmp/d");
        assert_eq!(
            fill("--listen={addr}", &addr, dir),
            "--listen=127.0.0.1:4242"
        );
        assert_eq!(fill("-p{port}", &addr, dir), "-p4242");
        assert_eq!(fill("-c {dir}/x.conf", &addr, dir), "-c /tmp/d/x.conf");
        let unix = ListenAddr::Unix("/tmp/d/server.sock".into());
        assert_eq!(fill("unix:{unix}", &unix, dir), "unix:/tmp/d/server.sock");
    }

    /// A TCP server is ready on its port, answers, and is gone once stopped.
    #[test]
    fn start_waits_for_a_tcp_server_then_stops_it() {
        if !has_python() {
            return;
        }
        let server = python(ECHO, "{port}")
            .start(DEFAULT_READY_TIMEOUT, DEFAULT_GRACE)
            .unwrap();
        assert_eq!(echo_once(server.addr()), b"ping");
        let pgid = server.pid();
        // Python's default SIGTERM action ends it at once.
        assert!(matches!(server.stop().unwrap(), Stopped::Exited(_)));
        assert!(!group_is_running(pgid));
    }

    /// `{unix}` gives a socket path in a fresh directory, removed at the end.
    #[test]
    fn start_serves_on_a_unix_socket_in_a_fresh_directory() {
        if !has_python() {
            return;
        }
        let server = python(ECHO, "{unix}")
            .start(DEFAULT_READY_TIMEOUT, DEFAULT_GRACE)
            .unwrap();
        let ListenAddr::Unix(path) = server.addr().clone() else {
            panic!("expected a Unix address, got {}", server.addr())
        };
        assert_eq!(echo_once(server.addr()), b"ping");
        drop(server);
        assert!(!path.parent().unwrap().exists(), "{path:?} left behind");
    }

    /// A server that forks a child and ignores SIGTERM (both of them) is
    /// killed, child included, after the grace period.
    #[test]
    fn stop_kills_a_forking_server_that_ignores_sigterm() {
        if !has_python() {
            return;
        }
        let script = "
import os, signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()
os.fork()
while True:
    time.sleep(1)
";
        let server = python(script, "{port}")
            .start(DEFAULT_READY_TIMEOUT, Duration::from_millis(200))
            .unwrap();
        let pgid = server.pid();
        assert_eq!(server.stop().unwrap(), Stopped::Killed);
        assert!(
            !group_is_running(pgid),
            "a process of the group outlived stop"
        );
    }

    /// A server that exits at once is reported with its status and stderr.
    #[test]
    fn start_reports_a_server_that_exits_at_once() {
        if !has_python() {
            return;
        }
        let script = "import sys; sys.stderr.write('no config file\\n'); sys.exit(3)";
        let err = python(script, "{port}")
            .start(DEFAULT_READY_TIMEOUT, DEFAULT_GRACE)
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("exited before accepting"), "{message}");
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(message.contains("no config file"), "{message}");
    }

    /// A server that runs but never listens is reported once the ready
    /// timeout passes, and is stopped.
    #[test]
    fn start_reports_a_server_that_never_accepts() {
        if !has_python() {
            return;
        }
        let err = python("import time; time.sleep(60)", "{port}")
            .start(Duration::from_millis(300), DEFAULT_GRACE)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("did not accept"), "{err}");
    }

    /// A program that does not exist is named in the error.
    #[test]
    fn start_reports_a_missing_program() {
        let err = ServerCommand::parse("no-such-server-program {port}")
            .unwrap()
            .start(DEFAULT_READY_TIMEOUT, DEFAULT_GRACE)
            .unwrap_err();
        assert!(err.to_string().contains("no-such-server-program"), "{err}");
    }
}
