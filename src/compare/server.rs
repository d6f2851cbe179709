//! One server under test, run as a separate process.
//!
//! The server is started on port 0 (or a fresh Unix socket path); its
//! first stdout line, `listening on ADDR ...`, says where it listens. While it
//! runs, `/proc/PID` tells what it costs: CPU time (`utime + stime` in
//! `/proc/PID/stat`) and peak resident memory (`VmHWM` in
//! `/proc/PID/status`, whose high-water mark is reset before each cell by
//! writing `5` to `/proc/PID/clear_refs`), each summed over the process and
//! its child processes (a prefork server's workers). It is stopped with SIGTERM, and
//! SIGKILL only if it has not exited after a grace period.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::counters::process_tree;
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
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

/// What a server has cost so far, read from `/proc/PID`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcStats {
    /// User plus system CPU time, in seconds.
    pub cpu_s: f64,
    /// Peak resident set size since the last [`ServerProcess::reset_peak_rss`], in KiB.
    pub peak_rss_kb: u64,
}

/// What a server holds at one moment, summed over the process and its
/// child processes, from `/proc/PID`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holding {
    /// Resident memory now (`VmRSS`), in KiB.
    pub rss_kb: u64,
    /// Threads (`Threads:`).
    pub threads: u64,
    /// Sockets open (distinct socket inodes among its descriptors; the
    /// blocking engines hold two descriptors per connection), counted only
    /// when asked: `readlink` on every descriptor costs time at 100,000.
    /// One per connection, plus the listener.
    pub sockets: Option<u64>,
    /// Descriptors open in the process that has the most, counted with the
    /// sockets: each process may open at most its hard `RLIMIT_NOFILE`.
    pub descriptors_most: Option<u64>,
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
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        keep_tail(stderr, Arc::clone(&stderr_tail));
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
        Err(io::Error::other(format!(
            "server {shown} {failure}{}",
            server.stderr_excerpt()
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

    /// Reset the peak-RSS mark to the current RSS, so the next
    /// [`stats`](Self::stats) shows the peak of the cell about to run.
    /// Returns `false` where the kernel does not allow it (the peak is
    /// then the process's lifetime peak).
    pub fn reset_peak_rss(&self) -> bool {
        process_tree(self.pid()).is_ok_and(|tree| {
            tree.iter()
                .all(|pid| fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
        })
    }

    /// CPU time and peak RSS so far, of the server and its child processes
    /// (the peaks are added: an upper bound of the tree's peak).
    pub fn stats(&self) -> io::Result<ProcStats> {
        tree_stats(self.pid())
    }

    /// Memory, threads and (with `count_sockets`) sockets held now, of the
    /// server and its child processes.
    pub fn holding(&self, count_sockets: bool) -> io::Result<Holding> {
        let mut total = Holding::default();
        for (index, pid) in process_tree(self.pid())?.into_iter().enumerate() {
            let one = fs::read_to_string(format!("/proc/{pid}/status")).and_then(|status| {
                let field = |name: &str| {
                    status_field(&status, name).ok_or_else(|| {
                        io::Error::other(format!("/proc/{pid}/status has no {name}"))
                    })
                };
                Ok(Holding {
                    rss_kb: field("VmRSS:")?,
                    threads: field("Threads:")?,
                    ..if count_sockets {
                        let (sockets, descriptors) = sockets_of(pid)?;
                        Holding {
                            sockets: Some(sockets),
                            descriptors_most: Some(descriptors),
                            ..Holding::default()
                        }
                    } else {
                        Holding::default()
                    }
                })
            });
            match one {
                Ok(one) => {
                    total.rss_kb += one.rss_kb;
                    total.threads += one.threads;
                    total.sockets = match (total.sockets, one.sockets) {
                        (Some(a), Some(b)) => Some(a + b),
                        (None, b) if index == 0 => b,
                        (a, _) => a,
                    };
                    total.descriptors_most = total.descriptors_most.max(one.descriptors_most);
                }
                // A child may end between the listing and the read; the server may not.
                Err(err) if index == 0 => return Err(err),
                Err(_) => {}
            }
        }
        Ok(total)
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

    /// The last lines the server wrote on stderr, ready to append to a message.
    pub fn stderr_excerpt(&self) -> String {
        let tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.is_empty() {
            String::new()
        } else {
            let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
            format!("; its stderr ends with:\n  {}", lines.join("\n  "))
        }
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

/// Keep the last [`STDERR_TAIL_LINES`] lines of `stderr` in `tail`.
fn keep_tail(stderr: impl Read + Send + 'static, tail: Arc<Mutex<VecDeque<String>>>) {
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    });
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

/// Distinct sockets among the descriptors of process `pid`, and its
/// descriptors.
fn sockets_of(pid: u32) -> io::Result<(u64, u64)> {
    let mut inodes = std::collections::HashSet::new();
    let mut descriptors = 0;
    for entry in fs::read_dir(format!("/proc/{pid}/fd"))? {
        descriptors += 1;
        // A descriptor closed between the listing and the read is skipped.
        if let Ok(target) = fs::read_link(entry?.path()) {
            let target = target.to_string_lossy();
            if let Some(inode) = target.strip_prefix("socket:") {
                inodes.insert(inode.to_string());
            }
        }
    }
    Ok((inodes.len() as u64, descriptors))
}

/// CPU time and peak RSS so far of process `pid` and its descendants (the
/// peaks are added: an upper bound of the tree's peak).
pub fn tree_stats(pid: u32) -> io::Result<ProcStats> {
    let mut total = ProcStats {
        cpu_s: 0.0,
        peak_rss_kb: 0,
    };
    for (index, pid) in process_tree(pid)?.into_iter().enumerate() {
        match process_stats(pid) {
            Ok(stats) => {
                total.cpu_s += stats.cpu_s;
                total.peak_rss_kb += stats.peak_rss_kb;
            }
            // A child may end between the listing and the read; `pid` may not.
            Err(err) if index == 0 => return Err(err),
            Err(_) => {}
        }
    }
    Ok(total)
}

/// CPU time and peak RSS of the one process `pid`.
fn process_stats(pid: u32) -> io::Result<ProcStats> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let unreadable = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot read {what} of process {pid} from /proc"),
        )
    };
    Ok(ProcStats {
        cpu_s: parse_cpu_ticks(&stat).ok_or_else(|| unreadable("CPU time"))? as f64
            / clock_ticks_per_s(),
        peak_rss_kb: parse_peak_rss_kb(&status).ok_or_else(|| unreadable("VmHWM"))?,
    })
}

/// `utime + stime` in clock ticks from the text of `/proc/PID/stat`.
/// The command name (field 2) may contain spaces, so fields are counted
/// from the `)` that closes it: utime and stime are fields 14 and 15.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11); // fields 3..=13
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmHWM` (peak resident set size) in KiB from `/proc/PID/status`.
fn parse_peak_rss_kb(status: &str) -> Option<u64> {
    status_field(status, "VmHWM:")
}

/// The number after `name` (such as `VmRSS:` or `Threads:`) in the text of
/// `/proc/PID/status`.
pub fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks per second, the unit of `/proc/PID/stat` times.
pub fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        ticks if ticks > 0 => ticks as f64,
        _ => 100.0, // the Linux default, if sysconf cannot say
    }
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

    /// CPU ticks are found after a command name containing spaces and parens.
    #[test]
    fn cpu_ticks_parse_after_odd_command_names() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    /// VmHWM is read in KiB from the status text.
    #[test]
    fn peak_rss_parses_from_status() {
        let status =
            "Name:\tsockbench\nVmPeak:\t  20000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(parse_peak_rss_kb(status), Some(5120));
        assert_eq!(parse_peak_rss_kb("Name:\tx\n"), None);
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
}
