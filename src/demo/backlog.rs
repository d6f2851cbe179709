//! `backlog`: what `listen(backlog)` limits.
//!
//! An iterative server with a small backlog is busy with one client. More
//! clients connect, one after another, each with a short connect timeout.
//! The kernel completes their handshakes and queues them, without the
//! server's help, until the accept queue is full; on Linux it holds
//! `backlog + 1`. After that, the kernel drops new SYNs: those `connect`
//! calls hang (the client would retry the SYN after a second) until their
//! timeout. When the busy client leaves, the queued ones are served, in
//! order.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{ask_line, connect, ms, start_tcp, CLIENT_TIMEOUT};
use crate::engine::{EngineConfig, EngineKind, ListenOptions};
use crate::service::ServiceKind;

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// The `listen()` backlog.
    pub backlog: i32,
    /// Clients that try to connect while the server is busy.
    pub waiting_clients: usize,
    /// How long each of them waits for its handshake.
    pub connect_timeout: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            backlog: 2,
            waiting_clients: 5,
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The backlog used.
    pub backlog: i32,
    /// For each waiting client in order: did `connect` complete, and how long it took.
    pub connects: Vec<(bool, Duration)>,
    /// Queued clients answered once the busy client left.
    pub served_after_release: usize,
}

/// Run the demo.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    let options = ListenOptions {
        backlog: params.backlog,
        ..ListenOptions::default()
    };
    let (server, addr) = start_tcp(
        EngineKind::Iterative,
        ServiceKind::Upper,
        options,
        EngineConfig::default(),
    )?;
    let mut busy = connect(addr)?;
    ask_line(&mut busy, b"busy\n")?;
    writeln!(
        out,
        "Iterative server with listen({}) on {addr}, busy with one client.",
        params.backlog
    )?;
    writeln!(
        out,
        "{} more clients connect, one at a time, each giving up after {}:",
        params.waiting_clients,
        ms(params.connect_timeout)
    )?;
    let mut connects = Vec::new();
    let mut queued = Vec::new();
    for i in 1..=params.waiting_clients {
        let started = Instant::now();
        let result = try_connect(addr, params.connect_timeout);
        let took = started.elapsed();
        match result {
            Ok(stream) => {
                writeln!(
                    out,
                    "  client {i}: {:<13} {:>9}   handshake done by the kernel, queued",
                    "connected in",
                    ms(took)
                )?;
                queued.push(stream);
                connects.push((true, took));
            }
            Err(err) => {
                writeln!(
                    out,
                    "  client {i}: {:<13} {:>9}   queue full: SYN dropped ({})",
                    "gave up after",
                    ms(took),
                    err.kind()
                )?;
                connects.push((false, took));
            }
        }
    }
    let completed = connects.iter().filter(|(ok, _)| *ok).count();
    writeln!(
        out,
        "{completed} handshakes completed with listen({}): Linux queues up to backlog + 1",
        params.backlog
    )?;
    writeln!(
        out,
        "(it calls the accept queue full only once it holds more than backlog)."
    )?;
    writeln!(out)?;
    drop(busy);
    writeln!(
        out,
        "The busy client leaves; the server accepts the queued clients one by one:"
    )?;
    let mut served_after_release = 0;
    for (i, mut stream) in queued.into_iter().enumerate() {
        let started = Instant::now();
        let answer = ask_line(&mut stream, format!("queued {}\n", i + 1).as_bytes())?;
        served_after_release += 1;
        writeln!(
            out,
            "  queued client answered {:?} after {}",
            String::from_utf8_lossy(answer.trim_ascii_end()),
            ms(started.elapsed())
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "The backlog is not a client limit: it is how many finished handshakes"
    )?;
    writeln!(out, "may wait for accept().")?;
    writeln!(
        out,
        "Open src/engine/listener.rs (listen(backlog)) and src/engine/iterative.rs."
    )?;
    server.shutdown()?;
    Ok(Report {
        backlog: params.backlog,
        connects,
        served_after_release,
    })
}

/// A connect that gives up after `timeout` (non-blocking connect + poll).
fn try_connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    Ok(stream)
}
