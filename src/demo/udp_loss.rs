//! `udp-loss`: a UDP server that loses 30% of datagrams, and the notes'
//! client that copes: timeout, resend, exponential backoff, give up.
//!
//! Each request is sent on a connected UDP socket; when no answer comes in
//! time the client sends again and waits twice as long (0.1 s, 0.2 s, ...).
//! Then the two ways it ends without an answer: a server that answers
//! nothing (the whole schedule runs out, 3.1 s) and a port with no server
//! (ICMP port unreachable, reported at once on a connected socket).

use std::io::{self, Write};
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use super::{loopback_any_port, ms, write_wrapped};
use crate::engine::udp_common::{bind_udp, DropPolicy, UdpConfig};
use crate::engine::{start_udp, EngineKind};
use crate::service::{self, ServiceKind, ServiceLimits};
use crate::udp_client::{self, Backoff, RequestError};

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Requests sent through the lossy server.
    pub requests: usize,
    /// Fraction of datagrams the server drops.
    pub drop_probability: f64,
    /// Seed of the drop decisions (fixed: the run repeats exactly).
    pub seed: u64,
    /// The client's schedule.
    pub backoff: Backoff,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            requests: 10,
            drop_probability: 0.3,
            seed: 2024,
            backoff: Backoff::default(),
        }
    }
}

/// What was measured.
#[derive(Debug)]
pub struct Report {
    /// Requests answered through the lossy server.
    pub answered: usize,
    /// Resends they needed in all.
    pub retries: usize,
    /// The longest any of them took.
    pub slowest: Duration,
    /// Against a server that answers nothing.
    pub silent_server: RequestError,
    /// Against a port with no server.
    pub no_server: RequestError,
}

/// Run the demo.
pub fn run(params: &Params, out: &mut dyn Write) -> io::Result<Report> {
    let lossy = DropPolicy::new(params.drop_probability, params.seed).map_err(io::Error::other)?;
    let server = start(lossy)?;
    let addr = server
        .udp_addr()
        .ok_or_else(|| io::Error::other("a UDP server has a UDP address"))?;
    let waits: Vec<String> = params
        .backoff
        .waits()
        .into_iter()
        .map(|wait| wait.as_millis().to_string())
        .collect();
    writeln!(
        out,
        "UDP `upper` server on {addr} drops {}% of datagrams (seed {}).",
        params.drop_probability * 100.0,
        params.seed
    )?;
    writeln!(
        out,
        "The client waits {} ms for an answer, then gives up.",
        waits.join(", ")
    )?;
    let (mut answered, mut retries, mut slowest) = (0, 0, Duration::ZERO);
    for i in 1..=params.requests {
        let socket = udp_client::connect(addr)?;
        let message = format!("request {i}");
        let mut lines = Vec::new();
        let outcome = udp_client::request(&socket, message.as_bytes(), &params.backoff, |r| {
            lines.push(r.to_string())
        });
        for line in lines {
            writeln!(out, "  {message:<10}    {line}")?;
        }
        match outcome {
            Ok(answer) => {
                answered += 1;
                retries += answer.attempts - 1;
                slowest = slowest.max(answer.elapsed);
                writeln!(
                    out,
                    "  {message:<10} -> {:?} after {} send(s), {}",
                    String::from_utf8_lossy(&answer.reply),
                    answer.attempts,
                    ms(answer.elapsed)
                )?;
            }
            Err(err) => write_wrapped(out, &format!("  {message:<10} -> "), &err.to_string())?,
        }
    }
    server.shutdown()?;
    writeln!(
        out,
        "{answered}/{} answered, {retries} resends, slowest {}: loss costs time, not answers.",
        params.requests,
        ms(slowest)
    )?;
    writeln!(out)?;

    let silent = start(DropPolicy::new(1.0, 0).map_err(io::Error::other)?)?;
    let silent_addr = silent
        .udp_addr()
        .ok_or_else(|| io::Error::other("a UDP server has a UDP address"))?;
    writeln!(out, "A server that drops everything ({silent_addr}):")?;
    let silent_server = ask_expecting_failure(silent_addr, &params.backoff, out)?;
    silent.shutdown()?;
    writeln!(out)?;

    let free_port = UdpSocket::bind(loopback_any_port())?.local_addr()?; // bound, then closed
    writeln!(out, "A port where nobody listens ({free_port}):")?;
    let no_server = ask_expecting_failure(free_port, &params.backoff, out)?;
    writeln!(out)?;
    writeln!(
        out,
        "A connected UDP socket hears ICMP port unreachable as ECONNREFUSED;"
    )?;
    writeln!(out, "a silent server looks like loss.")?;
    writeln!(
        out,
        "Open src/udp_client.rs (request) and src/engine/udp_iterative.rs."
    )?;
    Ok(Report {
        answered,
        retries,
        slowest,
        silent_server,
        no_server,
    })
}

/// A UDP `upper` server on loopback with `drop`.
fn start(drop: DropPolicy) -> io::Result<crate::engine::Server> {
    let socket = bind_udp(loopback_any_port())?;
    let service = service::build(ServiceKind::Upper, ServiceLimits::default());
    let config = UdpConfig { drop, trace: false };
    start_udp(EngineKind::Reactor, socket, Arc::clone(&service), config)
}

/// One request that should fail; narrates its retries and its error.
fn ask_expecting_failure(
    addr: std::net::SocketAddr,
    backoff: &Backoff,
    out: &mut dyn Write,
) -> io::Result<RequestError> {
    let socket = udp_client::connect(addr)?;
    let mut lines = Vec::new();
    let outcome = udp_client::request(&socket, b"anyone there?", backoff, |r| {
        lines.push(r.to_string())
    });
    for line in lines {
        writeln!(out, "  {line}")?;
    }
    match outcome {
        Ok(answer) => Err(io::Error::other(format!(
            "expected no answer, got {:?}",
            String::from_utf8_lossy(&answer.reply)
        ))),
        Err(err) => {
            write_wrapped(out, "  -> ", &err.to_string())?;
            Ok(err)
        }
    }
}
