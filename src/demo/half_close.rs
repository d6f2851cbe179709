//! `half-close`: `shutdown(Write)` is not `close`.
//!
//! The client sends a last line *without* a newline, then shuts down only
//! its sending half. The server reads end of stream (recv returns 0), knows
//! nothing more will come, answers the partial line, and closes; the client
//! can still read that answer, because its receiving half is open. With
//! `close` instead, the client could not read anything any more.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use super::{connect, ms, start_tcp};
use crate::engine::{EngineConfig, EngineKind, ListenOptions};
use crate::service::ServiceKind;

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// What the client read after its `shutdown(Write)`, up to the server's EOF.
    pub answer_after_shutdown: Vec<u8>,
}

/// Run the demo.
pub fn run(out: &mut dyn Write) -> io::Result<Report> {
    let (server, addr) = start_tcp(
        EngineKind::Threaded,
        ServiceKind::Upper,
        ListenOptions::default(),
        EngineConfig::default(),
    )?;
    let mut client = connect(addr)?;
    let request = b"last words, no newline";
    client.write_all(request)?;
    writeln!(
        out,
        "The client sent {:?}",
        String::from_utf8_lossy(request)
    )?;
    writeln!(
        out,
        "  (no newline: `upper` waits for the rest of the line)."
    )?;
    let started = Instant::now();
    client.shutdown(Shutdown::Write)?;
    writeln!(
        out,
        "The client calls shutdown(Write): a FIN goes out, \"I will send nothing more\"."
    )?;
    writeln!(out)?;
    let mut answer_after_shutdown = Vec::new();
    client.read_to_end(&mut answer_after_shutdown)?; // until the server's own EOF
    writeln!(
        out,
        "The server saw end of stream, answered the partial line and closed."
    )?;
    writeln!(
        out,
        "{} later the client read {:?}, then EOF.",
        ms(started.elapsed()),
        String::from_utf8_lossy(&answer_after_shutdown)
    )?;
    writeln!(
        out,
        "close() would have given up both directions: no answer could have been read."
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Open src/engine/blocking.rs (read returns 0 -> handle_eof)"
    )?;
    writeln!(out, " and src/service/upper.rs (handle_eof).")?;
    server.shutdown()?;
    Ok(Report {
        answer_after_shutdown,
    })
}
