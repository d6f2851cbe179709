//! `framing`: a length prefix in network byte order.
//!
//! Without framing, two messages sent back to back can arrive as one
//! `recv` ("hithere"): the receiver cannot tell where the first ended.
//! With framing, each message goes out as a 4-byte big-endian length
//! (`htonl(len)`, here `u32::to_be_bytes`) followed by the payload; the
//! receiver reads exactly 4 bytes, then exactly that many more. The `frame`
//! service (src/service/frame.rs) speaks this.

use std::io::{self, Read, Write};
use std::net::TcpListener;

use super::{connect, loopback_any_port, start_tcp, wait_until_readable, CLIENT_TIMEOUT};
use crate::engine::{EngineConfig, EngineKind, ListenOptions};
use crate::service::ServiceKind;

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// What the first `recv` returned when two unframed messages were sent.
    pub unframed_first_recv: Vec<u8>,
    /// The messages the framed reader recovered from the `frame` server.
    pub framed_messages: Vec<Vec<u8>>,
}

/// Run the demo.
pub fn run(out: &mut dyn Write) -> io::Result<Report> {
    // Of different lengths, so that the two headers differ on screen.
    let messages: [&[u8]; 2] = [b"hi", b"there"];

    // Without framing: two sends, one recv.
    let listener = TcpListener::bind(loopback_any_port())?;
    let mut client = connect(listener.local_addr()?)?;
    let (mut server_side, _) = listener.accept()?;
    server_side.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    for message in messages {
        client.write_all(message)?;
    }
    let total: usize = messages.iter().map(|m| m.len()).sum();
    let mut unframed_first_recv = vec![0u8; total];
    wait_until_readable(&server_side, total)?;
    let n = server_side.read(&mut unframed_first_recv)?;
    unframed_first_recv.truncate(n);
    writeln!(
        out,
        "Without framing: sent {:?} then {:?}; one recv() got {:?}.",
        String::from_utf8_lossy(messages[0]),
        String::from_utf8_lossy(messages[1]),
        String::from_utf8_lossy(&unframed_first_recv)
    )?;
    writeln!(
        out,
        "  One message or two? \"hit\" + \"here\"? The bytes alone cannot say."
    )?;
    writeln!(out)?;

    // With framing: length prefix, big-endian, against the `frame` server.
    let (server, addr) = start_tcp(
        EngineKind::Reactor,
        ServiceKind::Frame,
        ListenOptions::default(),
        EngineConfig::default(),
    )?;
    let mut client = connect(addr)?;
    let mut wire = Vec::new();
    writeln!(
        out,
        "With framing: each message is htonl(length) + payload:"
    )?;
    for message in messages {
        let header = (message.len() as u32).to_be_bytes();
        writeln!(
            out,
            "  length {:>2} -> header bytes {:02x?} then {:?}",
            message.len(),
            header,
            String::from_utf8_lossy(message)
        )?;
        wire.extend_from_slice(&header);
        wire.extend_from_slice(message);
    }
    writeln!(
        out,
        "  (in little-endian {} is {:02x?}: byte order matters on the wire)",
        messages[1].len(),
        (messages[1].len() as u32).to_le_bytes()
    )?;
    client.write_all(&wire)?; // Both frames in one send, on purpose.
    let mut framed_messages = Vec::new();
    for _ in messages {
        let mut header = [0u8; 4];
        client.read_exact(&mut header)?; // recv_all(4)
        let len = u32::from_be_bytes(header) as usize; // ntohl
        let mut payload = vec![0u8; len];
        client.read_exact(&mut payload)?; // recv_all(len)
        framed_messages.push(payload);
    }
    writeln!(
        out,
        "  Both frames went out in one send(); the `frame` server echoed them."
    )?;
    writeln!(
        out,
        "  Its reply parses back into {} messages: {:?}",
        framed_messages.len(),
        framed_messages
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect::<Vec<_>>()
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Open src/service/frame.rs: a complete frame is answered, an incomplete waits."
    )?;
    drop(client);
    server.shutdown()?;
    Ok(Report {
        unframed_first_recv,
        framed_messages,
    })
}
