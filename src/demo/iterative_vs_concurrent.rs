//! `iterative-vs-concurrent`: one idle client is enough to stop an iterative
//! server; a concurrent one does not notice.
//!
//! Client A connects, gets one answer (so it is being served) and then sits
//! idle. Client B connects and sends a line. The iterative server is still
//! inside its loop for A, so B's connection waits in the backlog until A
//! leaves; threaded, pool and reactor answer B at once.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::{ask_line, connect, ms, start_tcp};
use crate::engine::{EngineConfig, EngineKind, ListenOptions};
use crate::service::ServiceKind;

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// How long client A sits idle before it closes.
    pub idle: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            idle: Duration::from_secs(2),
        }
    }
}

/// What was measured: client B's wait for its answer, per engine.
#[derive(Debug, Clone)]
pub struct Report {
    /// Client A's idle time.
    pub idle: Duration,
    /// `(engine, B's wait)`, for every engine.
    pub second_client_wait: Vec<(EngineKind, Duration)>,
}

/// Run the demo.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    writeln!(
        out,
        "Client A connects and sits idle for {}; client B sends one line.",
        ms(params.idle)
    )?;
    let mut second_client_wait = Vec::new();
    let name_columns = EngineKind::ALL
        .iter()
        .map(|e| e.name().len())
        .max()
        .unwrap_or(0);
    for engine in EngineKind::ALL {
        let (server, addr) = start_tcp(
            engine,
            ServiceKind::Upper,
            ListenOptions::default(),
            EngineConfig::default(),
        )?;
        let mut a = connect(addr)?;
        ask_line(&mut a, b"a is here\n")?; // A is now being served.
        let idle = params.idle;
        // A idles until its time is up, or until B has its answer.
        let (release_a, a_released) = std::sync::mpsc::channel::<()>();
        let a_thread = std::thread::spawn(move || {
            let _ = a_released.recv_timeout(idle); // A says nothing, holds the connection.
            drop(a);
        });
        let started = Instant::now();
        let mut b = connect(addr)?;
        let answer = ask_line(&mut b, b"hello from b\n")?;
        let waited = started.elapsed();
        let _ = release_a.send(());
        let _ = a_thread.join();
        writeln!(
            out,
            "  {:<name_columns$}  B answered {:?} after {:>9}{}",
            engine.name(),
            String::from_utf8_lossy(answer.trim_ascii_end()),
            ms(waited),
            if waited >= idle / 2 {
                "  <- waited for A"
            } else {
                ""
            }
        )?;
        second_client_wait.push((engine, waited));
        drop(b);
        server.shutdown()?;
    }
    writeln!(
        out,
        "B's connect() succeeded at once everywhere (the kernel completes the handshake);"
    )?;
    writeln!(out, "only iterative took no accept() for B until A closed.")?;
    writeln!(out, "Open src/engine/iterative.rs.")?;
    Ok(Report {
        idle: params.idle,
        second_client_wait,
    })
}
