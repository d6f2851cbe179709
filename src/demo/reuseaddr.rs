//! `reuseaddr`: restarting a server while a connection sits in TIME_WAIT.
//!
//! The side that closes a TCP connection first keeps it in TIME_WAIT for a
//! minute or so, to catch stray segments. When that side is the *server*,
//! its port stays taken: a restarted server's `bind` fails with "Address
//! already in use" unless it set `SO_REUSEADDR`. The demo makes such a
//! connection, closes the listener, and binds the same port again both ways.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use super::{connect, loopback_any_port};
use crate::engine::listener::{bind_tcp, Listener};
use crate::engine::ListenOptions;

/// What was measured.
#[derive(Debug)]
pub struct Report {
    /// The port reused.
    pub port: u16,
    /// Connections on that port in TIME_WAIT, from `/proc/net/tcp`.
    pub time_wait_on_port: usize,
    /// The `bind` without `SO_REUSEADDR`: the error kind if it failed.
    pub without_reuseaddr: Result<(), io::ErrorKind>,
    /// The `bind` with `SO_REUSEADDR`.
    pub with_reuseaddr: Result<(), io::ErrorKind>,
}

/// Run the demo.
pub fn run(out: &mut dyn Write) -> io::Result<Report> {
    let with = ListenOptions::default();
    let without = ListenOptions {
        reuseaddr: false,
        ..with
    };
    let listener = bind_tcp(loopback_any_port(), with)?;
    let Listener::Tcp(tcp) = &listener else {
        return Err(io::Error::other("bind_tcp returned a TCP listener"));
    };
    let addr: SocketAddr = tcp.local_addr()?;
    let mut client = connect(addr)?;
    let (server_side, _) = listener.accept()?;
    drop(server_side); // The server closes first: its side goes to TIME_WAIT.
    let mut rest = Vec::new();
    client.read_to_end(&mut rest)?; // The client sees EOF ...
    drop(client); // ... and closes too.
    drop(listener); // The server process "exits".
    let time_wait_on_port = count_time_wait(addr.port())?;
    writeln!(
        out,
        "A server on port {} accepted a client and closed the connection first,",
        addr.port()
    )?;
    writeln!(
        out,
        "then exited: {time_wait_on_port} connection(s) on that port in TIME_WAIT (/proc/net/tcp: 06)."
    )?;
    writeln!(out)?;
    let without_reuseaddr = bind_tcp(addr, without).map(drop).map_err(|e| e.kind());
    writeln!(
        out,
        "Restart without SO_REUSEADDR: {}",
        describe(&without_reuseaddr)
    )?;
    let with_reuseaddr = bind_tcp(addr, with).map(drop).map_err(|e| e.kind());
    writeln!(
        out,
        "Restart with SO_REUSEADDR:    {}",
        describe(&with_reuseaddr)
    )?;
    writeln!(
        out,
        "That is why servers set it (sockbench does; --no-reuseaddr turns it off)."
    )?;
    writeln!(
        out,
        "Open src/engine/listener.rs: bind_tcp and set_reuse_address."
    )?;
    Ok(Report {
        port: addr.port(),
        time_wait_on_port,
        without_reuseaddr,
        with_reuseaddr,
    })
}

fn describe(result: &Result<(), io::ErrorKind>) -> String {
    match result {
        Ok(()) => "bind succeeded".to_string(),
        Err(kind) => format!("bind failed: {kind}"),
    }
}

/// Count IPv4 connections whose local port is `port` and state TIME_WAIT.
fn count_time_wait(port: u16) -> io::Result<usize> {
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    let local_suffix = format!(":{port:04X}");
    Ok(table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&local_suffix) && fields[3] == "06"
        })
        .count())
}
