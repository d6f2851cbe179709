//! Lecture demonstrations: `sockbench demo NAME`.
//!
//! Each demo is one short file that starts its own servers (on 127.0.0.1,
//! port 0) and its own clients in this process, prints a narrative with the
//! times and sizes it measured, shuts everything down and returns a small
//! report of those measurements, which `tests/demo.rs` checks. Every client
//! operation has a timeout, so no demo can hang.
//!
//! [`DEMOS`] lists them in lecture order; [`run`] runs one by name with its
//! lecture defaults.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::engine::{self, EngineConfig, EngineKind, ListenOptions, Server};
use crate::service::{self, ServiceKind, ServiceLimits};

pub mod backlog;
pub mod blocking_work;
pub mod framing;
pub mod half_close;
pub mod idle_connections;
pub mod iterative_vs_concurrent;
pub mod multi_loop;
pub mod partial_io;
pub mod readiness_vs_completion;
pub mod reuseaddr;
pub mod select_loop;
pub mod threads_vs_events;
pub mod thundering_herd;
pub mod udp_loss;

/// One demo: its command-line name and what it shows, in one line.
#[derive(Debug, Clone, Copy)]
pub struct DemoInfo {
    /// `sockbench demo NAME`.
    pub name: &'static str,
    /// One line for `sockbench demo --list`.
    pub summary: &'static str,
}

/// Every demo, in the order a lecture would use them; each summary fits
/// the screen beside the longest name (`sockbench demo --list`).
pub const DEMOS: [DemoInfo; 14] = [
    DemoInfo {
        name: "iterative-vs-concurrent",
        summary: "an idle client blocks iterative; the others answer",
    },
    DemoInfo {
        name: "select-loop",
        summary: "the reactor's events, one line each, for 3 clients",
    },
    DemoInfo {
        name: "threads-vs-events",
        summary: "2,000 idle connections: threads and memory per model",
    },
    DemoInfo {
        name: "partial-io",
        summary: "no message boundaries: coalesced, split, partial I/O",
    },
    DemoInfo {
        name: "framing",
        summary: "a length prefix in network byte order, and why",
    },
    DemoInfo {
        name: "half-close",
        summary: "shutdown(Write) vs close: answers after the EOF",
    },
    DemoInfo {
        name: "backlog",
        summary: "listen(2) on a busy server: which connects stall",
    },
    DemoInfo {
        name: "reuseaddr",
        summary: "restart over TIME_WAIT, without and with SO_REUSEADDR",
    },
    DemoInfo {
        name: "thundering-herd",
        summary: "one connection, 4 waiters: who wakes, lock or epoll",
    },
    DemoInfo {
        name: "udp-loss",
        summary: "30% UDP loss: the client's backoff, retries, give-up",
    },
    DemoInfo {
        name: "blocking-work",
        summary: "slow requests stall the reactor, not threads/offload",
    },
    DemoInfo {
        name: "multi-loop",
        summary: "reactor with 1 loop, then 2 (SO_REUSEPORT)",
    },
    DemoInfo {
        name: "readiness-vs-completion",
        summary: "reactor's readiness vs uring's completions, syscalls",
    },
    DemoInfo {
        name: "idle-connections",
        summary: "5,000 idle connections: CPU per request, poll vs epoll",
    },
];

/// `sockbench demo --list`: one line per demo, name then summary.
pub fn write_list(out: &mut dyn Write) -> io::Result<()> {
    let name_columns = DEMOS.iter().map(|d| d.name.len()).max().unwrap_or(0);
    for info in DEMOS {
        writeln!(out, "{:<name_columns$}  {}", info.name, info.summary)?;
    }
    Ok(())
}

/// Run the demo called `name` with its lecture defaults, narrating to `out`.
pub fn run(name: &str, out: &mut dyn Write) -> io::Result<()> {
    match name {
        "iterative-vs-concurrent" => {
            iterative_vs_concurrent::run(&Default::default(), out).map(drop)
        }
        "select-loop" => select_loop::run(out).map(drop),
        "threads-vs-events" => threads_vs_events::run(&Default::default(), out).map(drop),
        "partial-io" => partial_io::run(&Default::default(), out).map(drop),
        "framing" => framing::run(out).map(drop),
        "half-close" => half_close::run(out).map(drop),
        "backlog" => backlog::run(&Default::default(), out).map(drop),
        "reuseaddr" => reuseaddr::run(out).map(drop),
        "thundering-herd" => thundering_herd::run(&Default::default(), out).map(drop),
        "udp-loss" => udp_loss::run(&Default::default(), out).map(drop),
        "blocking-work" => blocking_work::run(&Default::default(), out).map(drop),
        "multi-loop" => multi_loop::run(&Default::default(), out).map(drop),
        "readiness-vs-completion" => {
            readiness_vs_completion::run(&Default::default(), out).map(drop)
        }
        "idle-connections" => idle_connections::run(&Default::default(), out).map(drop),
        _ => {
            let names: Vec<&str> = DEMOS.iter().map(|d| d.name).collect();
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no demo called '{name}': try one of {} (or --list)",
                    names.join(", ")
                ),
            ))
        }
    }
}

/// How long any demo client waits on one socket operation before failing.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Start `engine` serving `kind` on 127.0.0.1 (a free port).
fn start_tcp(
    engine: EngineKind,
    kind: ServiceKind,
    options: ListenOptions,
    config: EngineConfig,
) -> io::Result<(Server, SocketAddr)> {
    let listener = engine::listener::bind_tcp(loopback_any_port(), options)?;
    let service = service::build(kind, ServiceLimits::default());
    let server = engine::start(engine, listener, service, config)?;
    let addr = server
        .tcp_addr()
        .ok_or_else(|| io::Error::other("a TCP server has an IP address"))?;
    Ok((server, addr))
}

/// `127.0.0.1:0`: loopback, the kernel picks the port.
fn loopback_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A client connection with [`CLIENT_TIMEOUT`] on every read and write.
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Send `line` (ending in `\n`) and read until the answering newline.
fn ask_line(stream: &mut TcpStream, line: &[u8]) -> io::Result<Vec<u8>> {
    stream.write_all(line)?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !answer.ends_with(b"\n") {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed before answering",
            ));
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    Ok(answer)
}

/// The width every narrative line fits in: a projector's terminal.
pub const SCREEN_COLUMNS: usize = 80;

/// The lines of one step of a narrative (lines between blank lines): what
/// a projector shows at once.
pub const SCREEN_LINES: usize = 40;

/// Write `prefix` then `text`, wrapped at word boundaries to
/// [`SCREEN_COLUMNS`], continuation lines indented under the text: for
/// messages the demo does not write itself (errors), whose length it
/// cannot choose.
fn write_wrapped(out: &mut dyn Write, prefix: &str, text: &str) -> io::Result<()> {
    let indent = prefix.chars().count();
    let mut line = prefix.to_string();
    let mut line_columns = indent;
    for word in text.split_whitespace() {
        let word_columns = word.chars().count();
        if line_columns > indent && line_columns + 1 + word_columns > SCREEN_COLUMNS {
            writeln!(out, "{line}")?;
            line = " ".repeat(indent);
            line_columns = indent;
        }
        if line_columns > indent {
            line.push(' ');
            line_columns += 1;
        }
        line.push_str(word);
        line_columns += word_columns;
    }
    writeln!(out, "{line}")
}

/// A duration in milliseconds with one decimal, for the narratives.
fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

/// This process's thread count and resident memory, from `/proc/self/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStatus {
    /// `Threads:`.
    pub threads: usize,
    /// `VmRSS:`, in KiB.
    pub rss_kib: u64,
}

/// Read [`ProcessStatus`] of this process (Linux only).
fn process_status() -> io::Result<ProcessStatus> {
    process_status_of("self")
}

/// Read [`ProcessStatus`] of process `pid` (`self` for this one).
fn process_status_of(pid: &str) -> io::Result<ProcessStatus> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> io::Result<u64> {
        crate::sys::proc::status_field(&status, name)
            .ok_or_else(|| io::Error::other(format!("/proc/{pid}/status has no {name}")))
    };
    Ok(ProcessStatus {
        threads: field("Threads:")? as usize,
        rss_kib: field("VmRSS:")?,
    })
}

/// Wait (bounded) until `bytes` are queued on `stream`, peeking without
/// consuming, so the one `recv` that follows sees everything sent.
fn wait_until_readable(stream: &TcpStream, bytes: usize) -> io::Result<()> {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut peek = vec![0u8; bytes];
    while stream.peek(&mut peek)? < bytes {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the sent bytes did not arrive",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message longer than the screen is wrapped at a word boundary,
    /// continuation lines indented under its text, no word lost.
    #[test]
    fn write_wrapped_keeps_every_line_within_the_screen() {
        let text =
            "no server at 127.0.0.1:57515 (connection refused: ICMP port unreachable came back)";
        let mut out = Vec::new();
        write_wrapped(&mut out, "  -> ", text).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(
            lines.iter().all(|l| l.chars().count() <= SCREEN_COLUMNS),
            "{out}"
        );
        assert!(lines[1].starts_with("     came"), "{out}");
        let words: Vec<&str> = out.split_whitespace().skip(1).collect();
        assert_eq!(words, text.split_whitespace().collect::<Vec<_>>());
    }
}
