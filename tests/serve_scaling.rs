//! `sockbench serve --loops N` and `--processes N`, run as a user runs
//! them: the binary in a child process, read through its output.
//!
//! The in-process behaviour of several loops (every conformance body) is
//! in `conformance.rs` (`reactor_x2`); here is what only the command shows:
//! the per-loop counts printed at stop, and prefork's supervision.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};

use crossbeam_channel::Receiver;
use util::IO_TIMEOUT;

/// `sockbench serve ARGS` on a free loopback port; killed if dropped
/// while still running.
struct Serve {
    child: Child,
    addr: SocketAddr,
    stdout: BufReader<ChildStdout>,
    /// stderr, line by line, read by a thread so the child never blocks.
    stderr: Receiver<String>,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sockbench"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sockbench serve");
        let pipe = child.stderr.take().expect("piped");
        let (lines, stderr) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read the first line");
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("expected `listening on ADDR`, got {first:?}"));
        Serve {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream
    }

    /// The next stderr line satisfying `wanted`, within [`IO_TIMEOUT`].
    fn stderr_line(&self, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(IO_TIMEOUT)
                .expect("the expected line on stderr");
            if wanted(&line) {
                return line;
            }
        }
    }

    /// The next stdout line containing `wanted`.
    fn stdout_line(&mut self, wanted: &str) -> String {
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).expect("read stdout");
            assert!(n > 0, "stdout ended before a line with {wanted:?}");
            if line.contains(wanted) {
                return line;
            }
        }
    }

    /// SIGTERM, then wait for the exit; `true` if it exited with success.
    fn terminate(mut self) -> bool {
        // SAFETY: a signal to our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        self.child.wait().expect("wait").success()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send `message` and expect it echoed.
fn echo(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).expect("write");
    let mut reply = vec![0; message.len()];
    stream.read_exact(&mut reply).expect("echo");
    assert_eq!(reply, message);
}

/// With `--loops 2`, the line printed at stop counts each loop's
/// connections, and the counts add up to the connections made.
#[test]
fn loops_print_per_loop_connection_counts_at_stop() {
    let server = Serve::start(&["--engine", "reactor", "--loops", "2"]);
    for i in 0..20 {
        echo(&mut server.connect(), format!("client {i}").as_bytes());
    }
    let stderr = server.stderr.clone();
    assert!(server.terminate(), "serve exits cleanly");
    let line = std::iter::from_fn(|| stderr.recv_timeout(IO_TIMEOUT).ok())
        .find(|line| line.trim_start().starts_with("connections per loop"))
        .expect("a per-loop count line at stop");
    let counts: Vec<u64> = line
        .split("loop ")
        .skip(1)
        .filter_map(|part| {
            part.split(':')
                .nth(1)?
                .trim()
                .trim_end_matches(',')
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(counts.len(), 2, "{line}");
    assert_eq!(counts.iter().sum::<u64>(), 20, "{line}");
}

/// Prefork: SIGTERM to the parent while a child holds a reply in flight
/// (300 ms of work): the reply arrives in full, then EOF, and every
/// process exits cleanly. The child's `--trace` (relayed by the parent)
/// says when the connection has been accepted.
#[test]
fn prefork_stop_lets_reply_in_flight_finish() {
    let mut server = Serve::start(&[
        "--engine",
        "reactor",
        "--processes",
        "2",
        "--work",
        "sleep:300ms",
        "--trace",
    ]);
    let mut client = server.connect();
    client.write_all(b"reply in flight").unwrap();
    server.stdout_line("accept");
    assert!(server.terminate(), "parent and children exit cleanly");
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).expect("the reply, then EOF");
    assert_eq!(reply, b"reply in flight");
}

/// Prefork: a child killed with SIGKILL is reported (with how it ended)
/// and restarted; the connections of the other child go on being served,
/// and new clients are served.
#[test]
fn prefork_killed_child_is_reported_and_others_keep_serving() {
    let server = Serve::start(&["--engine", "reactor", "--processes", "2"]);
    let pid_of = |line: &str| -> i32 { line.rsplit(' ').next().unwrap().parse().expect("a pid") };
    let victim = pid_of(&server.stderr_line(|l| l.starts_with("prefork: child 0 is pid")));
    // Spread over both children by the kernel's hash (all 16 on one child:
    // 1 chance in 32,768).
    let mut clients: Vec<TcpStream> = (0..16).map(|_| server.connect()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        echo(client, format!("before {i}").as_bytes());
    }
    // SAFETY: a signal to a grandchild whose pid its parent just printed.
    unsafe {
        libc::kill(victim, libc::SIGKILL);
    }
    let report = server.stderr_line(|l| l.contains(&format!("(pid {victim}) ended")));
    assert!(report.contains("SIGKILL"), "{report}");
    assert!(report.contains("restarting"), "{report}");
    let mut survivors = 0;
    for (i, client) in clients.iter_mut().enumerate() {
        let message = format!("after {i}");
        let _ = client.write_all(message.as_bytes());
        let mut reply = vec![0; message.len()];
        // The killed child's connections end (EOF or reset); none hangs.
        if client.read_exact(&mut reply).is_ok() {
            assert_eq!(reply, message.as_bytes());
            survivors += 1;
        }
    }
    assert!(survivors > 0, "the other child's connections were lost too");
    for i in 0..10 {
        echo(&mut server.connect(), format!("new {i}").as_bytes());
    }
    assert!(server.terminate(), "parent and children exit cleanly");
}
