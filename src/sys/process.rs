//! One server run as a separate process: started from a command, told
//! apart by its first stdout line, watched and stopped.
//!
//! The server is started on port 0 (or a fresh Unix socket path); its
//! first stdout line, `listening on ADDR ...`, says where it listens. While
//! it runs, [`proc`] tells what it costs and holds, summed
//! over the process and its child processes (a prefork server's workers).
//! It is stopped with SIGTERM, and SIGKILL only if it has not exited after
//! a grace period. Compare's runner, the demos and the tests start their
//! servers through it.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::proc::{self, Holding, ProcStats};
use crate::engine::ListenAddr;

/// How long a server may take to print its `listening on` line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Lines of the server's stderr kept to explain a failure.
const STDERR_TAIL_LINES: usize = 20;

/// A running server process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    addr: ListenAddr,
    stderr_tail: StderrTail,
}

/// How a server ended when asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It exited on SIGTERM with this status.
    Exited(ExitStatus),
    /// It ignored SIGTERM for [`STOP_TIMEOUT`] and was killed.
    Killed,
}

impl ServerProcess {
    /// Start `command` (which must bind port 0 and print `listening on
    /// ADDR` first) and wait up to `ready_timeout` for that line.
    pub fn start(mut command: Command, ready_timeout: Duration) -> io::Result<ServerProcess> {
        let shown = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| io::Error::new(err.kind(), format!("cannot start {shown}: {err}")))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let stderr_tail = StderrTail::follow(stderr, STDERR_TAIL_LINES);
        let first_line = first_line_within(stdout, ready_timeout);
        let mut server = ServerProcess {
            child,
            addr: ListenAddr::Tcp(([127, 0, 0, 1], 0).into()),
            stderr_tail,
        };
        let failure = match first_line {
            Ok(line) => match parse_listening_line(&line) {
                Some(addr) => {
                    server.addr = addr;
                    return Ok(server);
                }
                None => format!("printed '{line}' instead of 'listening on ADDR'"),
            },
            Err(reason) => reason,
        };
        // Say why it failed, with what it wrote on stderr, then clean up.
        let _ = server.child.kill();
        let _ = server.child.wait();
        let last_words = server.stderr_tail.lines_once_closed(LAST_WORDS_WAIT);
        Err(io::Error::other(format!(
            "server {shown} {failure}{}",
            excerpt(last_words)
        )))
    }

    /// Where the server is listening.
    pub fn addr(&self) -> &ListenAddr {
        &self.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` if the server has exited on its own.
    pub fn exited(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// CPU time and peak RSS so far, of the server and its child processes
    /// (the peaks are added: an upper bound of the tree's peak).
    pub fn stats(&self) -> io::Result<ProcStats> {
        proc::tree_stats(self.pid())
    }

    /// Memory, threads and (with `count_sockets`) sockets held now, of the
    /// server and its child processes.
    pub fn holding(&self, count_sockets: bool) -> io::Result<Holding> {
        proc::tree_holding(self.pid(), count_sockets)
    }

    /// Stop with SIGTERM; SIGKILL if it is still there after `timeout`.
    pub fn stop(mut self, timeout: Duration) -> io::Result<Stopped> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(Stopped::Exited(status));
        }
        let pid = libc::pid_t::try_from(self.pid()).map_err(io::Error::other)?;
        // SAFETY: plain kill(2) on our own child, which we have not reaped.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Stopped::Exited(status));
            }
            // No portable "wait with timeout" for a child: poll it.
            thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(Stopped::Killed)
    }

    /// [`stop`](Self::stop), then the last lines the server wrote on
    /// stderr, those written while stopping included (the workers of a
    /// pooled server say there what they served when they stop).
    pub fn stop_with_last_words(self, timeout: Duration) -> io::Result<(Stopped, Vec<String>)> {
        let tail = self.stderr_tail.clone();
        let stopped = self.stop(timeout)?;
        Ok((stopped, tail.lines_once_closed(LAST_WORDS_WAIT)))
    }

    /// The last lines the server wrote on stderr, ready to append to a message.
    pub fn stderr_excerpt(&self) -> String {
        excerpt(self.stderr_tail.lines())
    }
}

/// How long a server that has exited is given to have its last stderr
/// lines read, before a message is made without them.
const LAST_WORDS_WAIT: Duration = Duration::from_millis(500);

/// `lines` ready to append to a message; empty without lines.
fn excerpt(lines: Vec<String>) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; its stderr ends with:\n  {}", lines.join("\n  "))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Never leave a server behind, even when compare fails half-way.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Read the first line of `stdout` on a helper thread, then keep draining
/// it so the server never blocks on a full pipe.
fn first_line_within(
    stdout: impl Read + Send + 'static,
    timeout: Duration,
) -> Result<String, String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = sender.send(lines.next());
        for _ in lines {}
    });
    match receiver.recv_timeout(timeout) {
        Ok(Some(Ok(line))) => Ok(line),
        Ok(Some(Err(err))) => Err(format!("stdout could not be read: {err}")),
        Ok(None) => Err("exited before printing 'listening on ADDR'".to_string()),
        Err(_) => Err(format!("printed nothing within {timeout:?}")),
    }
}

/// The last lines a server wrote on stderr, kept by a thread that reads
/// them as they come (so the server never blocks on a full pipe) and ends
/// with the stream. Shared by the servers we start ([`ServerProcess`]) and
/// the ones a user's command starts ([`crate::external`]).
#[derive(Debug, Clone)]
pub struct StderrTail(Arc<(Mutex<Kept>, Condvar)>);

/// The lines kept, and whether the stream has ended.
#[derive(Debug, Default)]
struct Kept {
    lines: VecDeque<String>,
    is_closed: bool,
}

impl StderrTail {
    /// Read `stderr` on a thread of its own, keeping its last `max_lines`.
    pub fn follow(stderr: impl Read + Send + 'static, max_lines: usize) -> StderrTail {
        let tail = StderrTail(Arc::default());
        let writer = tail.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut kept = writer.kept();
                if kept.lines.len() == max_lines {
                    kept.lines.pop_front();
                }
                kept.lines.push_back(line);
            }
            writer.kept().is_closed = true;
            writer.0 .1.notify_all();
        });
        tail
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0 .0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lines kept so far, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.kept().lines.iter().cloned().collect()
    }

    /// The lines kept once the stream has ended (a server that exited has
    /// said all it will), or once `wait` has passed: a process it forked
    /// may hold the stream open.
    pub fn lines_once_closed(&self, wait: Duration) -> Vec<String> {
        let kept = self.kept();
        let (kept, _) = self
            .0
             .1
            .wait_timeout_while(kept, wait, |kept| !kept.is_closed)
            .unwrap_or_else(|e| e.into_inner());
        kept.lines.iter().cloned().collect()
    }
}

/// The address in `listening on ADDR` or `listening on ADDR (details)`.
pub fn parse_listening_line(line: &str) -> Option<ListenAddr> {
    let addr = line
        .strip_prefix("listening on ")?
        .split_whitespace()
        .next()?;
    match addr.strip_prefix("unix:") {
        Some(path) => Some(ListenAddr::Unix(path.into())),
        None => addr.parse().ok().map(ListenAddr::Tcp),
    }
}

/// The first executable named `program` on `PATH`.
pub fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both forms of the first line give the bound address.
    #[test]
    fn listening_line_parses_with_and_without_details() {
        let addr = ListenAddr::Tcp("127.0.0.1:40123".parse().unwrap());
        assert_eq!(
            parse_listening_line("listening on 127.0.0.1:40123"),
            Some(addr.clone())
        );
        assert_eq!(
            parse_listening_line(
                "listening on 127.0.0.1:40123 (engine reactor, service echo, work none)"
            ),
            Some(addr)
        );
        assert_eq!(
            parse_listening_line("listening on unix:/tmp/s.sock (engine pool)"),
            Some(ListenAddr::Unix("/tmp/s.sock".into()))
        );
        assert_eq!(parse_listening_line("error: address in use"), None);
    }

    /// Our own process's stats read from /proc are plausible.
    #[test]
    fn proc_stats_of_a_real_process_are_readable() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo 'listening on 127.0.0.1:9'; exec sleep 30"]);
        let server = ServerProcess::start(command, READY_TIMEOUT).unwrap();
        assert_eq!(
            server.addr(),
            &ListenAddr::Tcp("127.0.0.1:9".parse().unwrap())
        );
        let stats = server.stats().unwrap();
        assert!(stats.peak_rss_kb > 0);
        assert!(stats.cpu_s >= 0.0);
        let holding = server.holding(true).unwrap();
        assert!(holding.rss_kb > 0 && holding.threads >= 1, "{holding:?}");
        assert_eq!(holding.sockets, Some(0), "sh and sleep hold pipes only");
        assert_eq!(server.holding(false).unwrap().sockets, None);
        assert!(matches!(server.stop(STOP_TIMEOUT), Ok(Stopped::Exited(_))));
    }

    /// A server that prints something else is reported with that line.
    #[test]
    fn wrong_first_line_is_an_error_naming_it() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo oops >&2; echo 'no luck'; sleep 30"]);
        let err = ServerProcess::start(command, READY_TIMEOUT).unwrap_err();
        assert!(err.to_string().contains("no luck"), "{err}");
    }

    /// `sh` is on every PATH we run on; a made-up name is not.
    #[test]
    fn find_in_path_finds_sh_only() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("no-such-program-sockbench").is_none());
    }
}
