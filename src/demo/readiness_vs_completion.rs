//! `readiness-vs-completion`: "tell me when I can read" against "read this
//! for me and tell me when it is done".
//!
//! Part 1 narrates. The same three clients send a line each, at once, to
//! `reactor` and then to `uring`, both with `trace` on: the reactor prints
//! the readiness events `epoll_wait` reported (after each, the loop itself
//! calls `read` and `write`); the uring loop prints each `io_uring_enter`
//! and the completions it reaped (the receive already holds the bytes, the
//! send already went).
//!
//! Part 2 measures. Each engine runs as a server process of its own
//! (`sockbench serve`), so that its system calls can be counted alone
//! (the `raw_syscalls:sys_enter` tracepoint, [`crate::sys::counters`]); three
//! client threads in this process each make `rounds` round trips of
//! `depth` pipelined lines. The figure is the server's system calls per
//! request: for the reactor an `epoll_wait` shared by the events it
//! returns plus a `read` and a `write` per burst; for uring one
//! `io_uring_enter` per turn, however many operations it submits and reaps.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;

use super::{ask_line, connect, start_tcp};
use crate::engine::{EngineConfig, EngineKind, ListenAddr, ListenOptions};
use crate::service::ServiceKind;
use crate::sys::counters::SyscallCounter;
use crate::sys::process::{ServerProcess, READY_TIMEOUT, STOP_TIMEOUT};

/// The three clients of both parts.
const CLIENTS: [&str; 3] = ["A", "B", "C"];

/// The two models, readiness first.
const ENGINES: [EngineKind; 2] = [EngineKind::Reactor, EngineKind::Uring];

/// Settings.
#[derive(Debug, Clone)]
pub struct Params {
    /// Round trips each client makes in part 2.
    pub rounds: usize,
    /// Lines each round trip sends in one write (and reads back).
    pub depth: usize,
    /// The `sockbench` binary that serves each engine in part 2.
    pub server_exe: PathBuf,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            rounds: 2_000,
            depth: 1,
            // Run from the `sockbench` binary, this is that binary.
            server_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sockbench")),
        }
    }
}

/// One engine's cost in part 2.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// The engine measured.
    pub engine: EngineKind,
    /// Requests answered in the counted window.
    pub requests: u64,
    /// System calls the server process made meanwhile.
    pub syscalls: u64,
}

impl Cost {
    /// System calls per request.
    pub fn per_request(&self) -> f64 {
        self.syscalls as f64 / self.requests.max(1) as f64
    }
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Part 1: the answers each engine gave the three clients.
    pub answers: Vec<(EngineKind, Vec<Vec<u8>>)>,
    /// Part 2: reactor, then uring; `Err` with the reason where system
    /// calls cannot be counted here.
    pub costs: Result<Vec<Cost>, String>,
}

/// Run the demo. The engines' trace lines go to standard output.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    writeln!(
        out,
        "Part 1: three clients each send a line at once; the engines narrate."
    )?;
    let mut answers = Vec::new();
    for engine in ENGINES {
        answers.push((engine, narrate(engine, out)?));
    }
    writeln!(out)?;
    writeln!(
        out,
        "The reactor was told \"#N is readable\", then called read and write itself;"
    )?;
    writeln!(
        out,
        "uring was told \"#N received these bytes\" and \"sent\": done when it heard."
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Part 2: {} clients x {} round trips of {} line(s), each engine a server",
        CLIENTS.len(),
        params.rounds,
        params.depth
    )?;
    writeln!(
        out,
        "process of its own, its system calls counted (raw_syscalls:sys_enter)."
    )?;
    let costs = match measure_all(params, out)? {
        Ok(costs) => costs,
        Err(reason) => {
            writeln!(out, "System calls cannot be counted here: {reason}")?;
            return Ok(Report {
                answers,
                costs: Err(reason),
            });
        }
    };
    if let [reactor, uring] = costs[..] {
        writeln!(
            out,
            "uring needed {:.2}x the reactor's system calls per request.",
            uring.per_request() / reactor.per_request()
        )?;
    }
    writeln!(
        out,
        "Each io_uring_enter submits every operation queued since the last and reaps"
    )?;
    writeln!(
        out,
        "every completion since: the more clients are busy at once, the more requests"
    )?;
    writeln!(out, "share one system call. Open src/engine/uring.rs.")?;
    Ok(Report {
        answers,
        costs: Ok(costs),
    })
}

/// Part 1 for one engine: three clients connect, then each sends a line
/// before any answer is read; returns the answers.
///
/// The reactor's trace shows the events only: its reads and writes are
/// the loop's own calls, which it does not print. So for the reactor the
/// narrative says, from what each client sent and got, what those calls
/// moved; uring's trace already shows them as completions.
fn narrate(engine: EngineKind, out: &mut dyn Write) -> io::Result<Vec<Vec<u8>>> {
    let config = EngineConfig {
        trace: true,
        ..EngineConfig::default()
    };
    let says_its_own_io = engine == EngineKind::Reactor;
    let (server, addr) = start_tcp(engine, ServiceKind::Upper, ListenOptions::default(), config)?;
    writeln!(out)?;
    writeln!(out, "-- {engine} on {addr}: A, B and C connect and say hi")?;
    out.flush()?;
    let mut clients = Vec::new();
    for name in CLIENTS {
        let mut client = connect(addr)?;
        let hello = format!("hi from {name}\n");
        let answer = ask_line(&mut client, hello.as_bytes())?;
        if says_its_own_io {
            write_loop_io(out, &hello, &answer)?;
        }
        clients.push(client);
    }
    // A step of its own: uring's trace of both steps is more than a screen.
    writeln!(out)?;
    writeln!(
        out,
        "-- {engine}: A, B and C each send a line, then read the answers"
    )?;
    out.flush()?;
    for (client, name) in clients.iter_mut().zip(CLIENTS) {
        client.write_all(format!("line from {name}\n").as_bytes())?;
    }
    let mut answers = Vec::new();
    for (client, name) in clients.iter_mut().zip(CLIENTS) {
        let expected = format!("LINE FROM {name}\n");
        let mut answer = vec![0; expected.len()];
        client.read_exact(&mut answer)?;
        answers.push(answer);
    }
    if says_its_own_io {
        for (name, answer) in CLIENTS.iter().zip(&answers) {
            write_loop_io(out, &format!("line from {name}\n"), answer)?;
        }
    }
    out.flush()?;
    drop(clients);
    server.shutdown()?;
    Ok(answers)
}

/// What the reactor's own `read` and `write` moved for one request.
fn write_loop_io(out: &mut dyn Write, request: &str, answer: &[u8]) -> io::Result<()> {
    writeln!(
        out,
        "   (the loop: read {:?}, write {:?})",
        request.trim_end(),
        String::from_utf8_lossy(answer.trim_ascii_end())
    )
}

/// Part 2 for both engines; `Ok(Err(reason))` if counting is unavailable.
fn measure_all(params: &Params, out: &mut dyn Write) -> io::Result<Result<Vec<Cost>, String>> {
    let mut costs = Vec::new();
    for engine in ENGINES {
        let mut command = Command::new(&params.server_exe);
        command.args(["serve", "--engine", engine.name(), "--service", "upper"]);
        command.args(["--addr", "127.0.0.1:0"]);
        let server = ServerProcess::start(command, READY_TIMEOUT)?;
        let ListenAddr::Tcp(addr) = *server.addr() else {
            return Err(io::Error::other("the server did not listen on TCP"));
        };
        let mut clients = CLIENTS
            .iter()
            .map(|name| {
                let mut client = connect(addr)?;
                ask_line(&mut client, format!("hi from {name}\n").as_bytes())?;
                Ok(client)
            })
            .collect::<io::Result<Vec<TcpStream>>>()?;
        let mut counter = match SyscallCounter::attach(server.pid()) {
            Ok(counter) => counter,
            Err(reason) => return Ok(Err(reason.to_string())),
        };
        let before = counter.count()?;
        let requests = run_clients(&mut clients, params)?;
        let syscalls = counter.count()? - before;
        drop(clients);
        server.stop(STOP_TIMEOUT)?;
        let cost = Cost {
            engine,
            requests,
            syscalls,
        };
        writeln!(
            out,
            "  {:<8} {requests} requests, {syscalls} system calls by the server: {:.2} per request",
            engine.name(),
            cost.per_request()
        )?;
        costs.push(cost);
    }
    Ok(Ok(costs))
}

/// Every client, on a thread of its own, makes its round trips; returns
/// the requests answered in all.
fn run_clients(clients: &mut [TcpStream], params: &Params) -> io::Result<u64> {
    let burst: Vec<u8> = b"x\n".repeat(params.depth);
    let answer_bytes = burst.len();
    std::thread::scope(|scope| {
        let threads: Vec<_> = clients
            .iter_mut()
            .map(|client| {
                let burst = &burst;
                scope.spawn(move || -> io::Result<()> {
                    let mut answer = vec![0; answer_bytes];
                    for _ in 0..params.rounds {
                        client.write_all(burst)?;
                        client.read_exact(&mut answer)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for thread in threads {
            thread
                .join()
                .map_err(|_| io::Error::other("a client thread panicked"))??;
        }
        Ok::<(), io::Error>(())
    })?;
    Ok((clients.len() * params.rounds * params.depth) as u64)
}
