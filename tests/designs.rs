//! Stevens' process designs (`fork`, `prefork-*`) and the pooled ones as
//! the real `sockbench serve` runs them: no zombie after 10,000 clients of
//! `fork`, every child stopped with its parent, a reply in flight finished
//! through a stop, a single-threaded parent, and one spread line per
//! worker (`sockbench: worker W served N connections`).
//!
//! These run the binary, not an in-process engine: what is tested is the
//! process tree `serve` builds, stopped the way `compare` stops a server
//! (SIGTERM to its process group).

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use sockbench::engine::EngineKind;
use sockbench::sys::proc::process_tree;
use util::IO_TIMEOUT;

/// The process designs.
const FORKING: [EngineKind; 5] = [
    EngineKind::Fork,
    EngineKind::PreforkAccept,
    EngineKind::PreforkFlock,
    EngineKind::PreforkMutex,
    EngineKind::PreforkPass,
];

/// `sockbench serve` in a process group of its own, killed when dropped.
struct Served {
    child: Child,
    stderr: Option<ChildStderr>,
    addr: SocketAddr,
}

impl Served {
    /// Start `serve --engine ENGINE --addr 127.0.0.1:0` with `args`, and
    /// wait for its `listening on` line.
    fn start(engine: EngineKind, args: &[&str]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sockbench"))
            .args(["serve", "--engine", engine.name(), "--addr", "127.0.0.1:0"])
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sockbench serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("read the first line");
        let addr = line
            .split_whitespace()
            .nth(2)
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("{engine}: no `listening on ADDR` line: {line:?}"));
        Served {
            stderr: child.stderr.take(),
            child,
            addr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A connection that has had one echo: a worker is serving it.
    fn served_client(&self) -> TcpStream {
        let mut stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.write_all(b"ping").unwrap();
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).expect("the echo");
        assert_eq!(&reply, b"ping");
        stream
    }

    /// SIGTERM to the whole group, as `compare` stops a server; returns
    /// what it wrote on stderr once it has exited (bounded), and asserts
    /// it exited cleanly.
    fn stop_group(mut self) -> String {
        // SAFETY: kill(2) on the process group of our own child.
        unsafe { libc::kill(-(self.pid() as libc::pid_t), libc::SIGTERM) };
        let deadline = Instant::now() + IO_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(10)); // No wait-with-timeout for a child.
        };
        let mut stderr = String::new();
        self.stderr
            .take()
            .expect("piped")
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(status.success(), "exit {status}: {stderr}");
        stderr
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group of our own child.
        unsafe { libc::kill(-(self.pid() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// The server's child processes now (`Z` ones included).
fn children_of(pid: u32) -> Vec<u32> {
    let mut tree = process_tree(pid).expect("list the processes");
    tree.retain(|&p| p != pid);
    tree
}

/// The state letter of `pid` (`Z` for a zombie), if it exists.
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim_start().chars().next()
}

/// `fork` reaps every child: after 10,000 sequential connections, each
/// answered, the server has no child left, zombie or not, within a moment.
#[test]
fn fork_leaves_no_zombie_after_10000_connections() {
    let server = Served::start(EngineKind::Fork, &["--service", "echo"]);
    for i in 0..10_000 {
        let mut client = server.served_client();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        client
            .read_to_end(&mut rest)
            .unwrap_or_else(|err| panic!("client {i}: {err}"));
        assert!(rest.is_empty());
    }
    // The last child may still be exiting: wait (bounded) for its reaping.
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let children = children_of(server.pid());
        if children.is_empty() {
            break;
        }
        let zombies: Vec<u32> = children
            .iter()
            .copied()
            .filter(|&p| state_of(p) == Some('Z'))
            .collect();
        assert!(
            Instant::now() < deadline,
            "children left: {children:?}, zombies among them: {zombies:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.stop_group();
}

/// Stopping any process design (SIGTERM to its group) while a client is
/// being served, with a reply in flight (300 ms of work): that reply
/// arrives whole, then end of stream, the server exits cleanly, and none of
/// its children is left in /proc.
#[test]
fn stopping_a_process_design_finishes_the_reply_and_stops_every_child() {
    for engine in FORKING {
        let mut args = vec!["--service", "echo", "--work", "sleep:300ms"];
        if engine.is_prefork_design() {
            args.extend(["--processes", "3"]);
        }
        let server = Served::start(engine, &args);
        let mut client = server.served_client();
        let children = children_of(server.pid());
        let expected = if engine == EngineKind::Fork { 1 } else { 3 };
        assert_eq!(children.len(), expected, "{engine}: children {children:?}");
        client.write_all(b"in flight").unwrap();
        let stderr = server.stop_group();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).expect("the reply, then EOF");
        assert_eq!(reply, b"in flight", "{engine}: {stderr}");
        for pid in children {
            assert_eq!(state_of(pid), None, "{engine}: child {pid} is still there");
        }
    }
}

/// `serve` runs the process designs on its one thread: the parent that
/// forks has no other thread, before clients and after them.
#[test]
fn process_designs_fork_from_a_single_threaded_parent() {
    for engine in FORKING {
        let server = Served::start(engine, &["--service", "echo"]);
        let threads = |pid: u32| {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .unwrap()
                .count()
        };
        assert_eq!(threads(server.pid()), 1, "{engine} before clients");
        let clients: Vec<TcpStream> = (0..3).map(|_| server.served_client()).collect();
        assert_eq!(threads(server.pid()), 1, "{engine} while serving");
        drop(clients);
        server.stop_group();
    }
}

/// Each worker of a pooled design prints exactly one spread line when
/// stopped, workers 0 to 2 once each, and their counts add up to the 30
/// connections made; `fork` and `threaded` print none.
#[test]
fn every_pooled_worker_prints_one_spread_line() {
    let pooled = [
        (EngineKind::PreforkAccept, "--processes"),
        (EngineKind::PreforkFlock, "--processes"),
        (EngineKind::PreforkMutex, "--processes"),
        (EngineKind::PreforkPass, "--processes"),
        (EngineKind::PrethreadedMutex, "--workers"),
        (EngineKind::Pool, "--workers"),
    ];
    for (engine, flag) in pooled {
        let server = Served::start(engine, &["--service", "echo", flag, "3"]);
        for _ in 0..30 {
            drop(server.served_client());
        }
        let stderr = server.stop_group();
        let mut spread: Vec<(usize, u64)> = stderr
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("sockbench: worker ")?;
                let (worker, rest) = rest.split_once(" served ")?;
                let count = rest.strip_suffix(" connections")?;
                Some((worker.parse().ok()?, count.parse().ok()?))
            })
            .collect();
        spread.sort_unstable();
        let workers: Vec<usize> = spread.iter().map(|&(w, _)| w).collect();
        assert_eq!(workers, [0, 1, 2], "{engine}: {stderr}");
        assert_eq!(
            spread.iter().map(|&(_, n)| n).sum::<u64>(),
            30,
            "{engine}: {stderr}"
        );
    }
    for engine in [EngineKind::Fork, EngineKind::Threaded] {
        let server = Served::start(engine, &["--service", "echo"]);
        drop(server.served_client());
        let stderr = server.stop_group();
        assert!(!stderr.contains("sockbench: worker"), "{engine}: {stderr}");
    }
}
