//! `select-loop`: the notes' `select()` server, step by step.
//!
//! The reactor runs with `trace` on, so it writes one `[reactor]` line per
//! readiness event it handles (accept, readable, writable, closed). Three
//! clients connect and talk in turns; the narrative says what each step
//! should make the loop print, and the trace shows it did, on one thread.
//! The trace is captured (the engine kit's [`TraceSink::Capture`]) and
//! written after the step that caused it, so it reaches the demo's own
//! output in order and the report holds it.

use std::io::{self, Write};

use super::{ask_line, connect, process_status, start_tcp};
use crate::engine::kit::{TraceCapture, TraceSink};
use crate::engine::{EngineConfig, EngineKind, ListenOptions};
use crate::service::ServiceKind;

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The answers the three clients got, in the order asked.
    pub answers: Vec<Vec<u8>>,
    /// Threads the process gained while the server held three clients.
    pub threads_added: usize,
    /// The reactor's trace lines, in order.
    pub trace: Vec<String>,
}

/// Run the demo. The `[reactor]` lines go to `out` with the narrative.
pub fn run(out: &mut dyn Write) -> io::Result<Report> {
    let before = process_status()?;
    let capture = TraceCapture::default();
    let config = EngineConfig {
        trace: true,
        trace_to: TraceSink::Capture(capture.clone()),
        ..EngineConfig::default()
    };
    let mut trace = Vec::new();
    let (server, addr) = start_tcp(
        EngineKind::Reactor,
        ServiceKind::Upper,
        ListenOptions::default(),
        config,
    )?;
    writeln!(out, "A reactor (one thread) serves `upper` on {addr}")?;
    writeln!(out, "and prints each event it handles.")?;
    let mut clients = Vec::new();
    for name in ["A", "B", "C"] {
        writeln!(out, "-- client {name} connects: expect `accept`")?;
        out.flush()?;
        let mut client = connect(addr)?;
        // A first exchange makes sure the accept line is out before we go on.
        ask_line(&mut client, b"hi\n")?;
        clients.push(client);
        write_trace(&capture, &mut trace, out)?;
    }
    let during = process_status()?;
    let mut answers = Vec::new();
    // Out of connection order, to show the loop follows readiness, not order.
    for (index, name) in [(2, "C"), (0, "A"), (1, "B")] {
        writeln!(
            out,
            "-- client {name} sends a line: expect `readable` for its number, then its answer"
        )?;
        out.flush()?;
        let answer = ask_line(
            &mut clients[index],
            format!("line from {name}\n").as_bytes(),
        )?;
        writeln!(
            out,
            "   {name} got {:?}",
            String::from_utf8_lossy(answer.trim_ascii_end())
        )?;
        answers.push(answer);
        write_trace(&capture, &mut trace, out)?;
    }
    writeln!(
        out,
        "-- all three close: expect `readable` (end of stream) and `closed` for each"
    )?;
    out.flush()?;
    drop(clients);
    server.shutdown()?;
    write_trace(&capture, &mut trace, out)?;
    let threads_added = during.threads.saturating_sub(before.threads);
    writeln!(
        out,
        "Threads added while three clients were connected: +{threads_added} (the reactor's)."
    )?;
    writeln!(
        out,
        "Each event names a socket by its token; the loop never blocks on one client."
    )?;
    writeln!(
        out,
        "Open src/engine/reactor.rs: Reactor::run, accept_all, handle_event, drive."
    )?;
    Ok(Report {
        answers,
        threads_added,
        trace,
    })
}

/// Write the trace lines the last step caused, and keep them for the
/// report. The step waited for its answer, and the reactor traces an event
/// before it answers, so they are all there.
fn write_trace(
    capture: &TraceCapture,
    trace: &mut Vec<String>,
    out: &mut dyn Write,
) -> io::Result<()> {
    for line in capture.take_lines() {
        writeln!(out, "{line}")?;
        trace.push(line);
    }
    out.flush()
}
