//! Connecting from a chosen local address (`--source`), to hold more
//! connections toward one server than one address has ports.
//!
//! Binding a socket to an address before connecting normally also picks its
//! port at `bind` time, from the ephemeral range, without knowing where the
//! socket will connect: ports then run out after one range per *address*,
//! whatever the destinations. `IP_BIND_ADDRESS_NO_PORT` defers the choice to
//! `connect`, which needs the port free only for that destination (the
//! four-tuple must be unique). So each source address adds one full range
//! of connections toward the server ([`super::capacity`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

/// Most addresses one `--source` may name (far more than ever needed: each
/// adds some 28,000 connections).
pub const MAX_SOURCES: usize = 1024;

/// The addresses of one `--source` option, parsed by [`parse_sources`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceList(pub Vec<IpAddr>);

impl std::str::FromStr for SourceList {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        parse_sources(text).map(SourceList)
    }
}

/// Parse a `--source` list: addresses and IPv4 ranges, comma-separated
/// (`127.0.0.2-127.0.0.9`, `127.0.0.2,127.0.0.5`, `::1`).
pub fn parse_sources(text: &str) -> Result<Vec<IpAddr>, String> {
    let mut sources = Vec::new();
    for part in text.split(',').map(str::trim) {
        let bad = |why: &str| format!("--source {part:?}: {why}");
        match part.split_once('-') {
            None => sources.push(
                part.parse::<IpAddr>()
                    .map_err(|_| bad("not an IP address"))?,
            ),
            Some((first, last)) => {
                let parse = |text: &str| {
                    text.trim()
                        .parse::<Ipv4Addr>()
                        .map_err(|_| bad("a range is two IPv4 addresses, FIRST-LAST"))
                };
                let (first, last) = (u32::from(parse(first)?), u32::from(parse(last)?));
                if first > last {
                    return Err(bad("the range's first address is after its last"));
                }
                if (last - first) as usize >= MAX_SOURCES {
                    return Err(bad(&format!("more than {MAX_SOURCES} addresses")));
                }
                sources.extend((first..=last).map(|ip| IpAddr::from(Ipv4Addr::from(ip))));
            }
        }
        if sources.len() > MAX_SOURCES {
            return Err(format!("--source names more than {MAX_SOURCES} addresses"));
        }
    }
    Ok(sources)
}

/// Start a non-blocking TCP connect to `server` from address `source`, the
/// port chosen by the kernel at connect time (see the module docs).
pub fn connect_from(source: IpAddr, server: SocketAddr) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(
        Domain::for_address(server),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads an int option value of the size given, from
    // a live socket descriptor.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    socket.bind(&SocketAddr::new(source, 0).into())?;
    match socket.connect(&server.into()) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranges expand, lists join, IPv6 single addresses pass.
    #[test]
    fn parse_sources_expands_ranges_and_lists() {
        let sources = parse_sources("127.0.0.2-127.0.0.4, 127.0.1.1,::1").unwrap();
        let expected: Vec<IpAddr> = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.1.1", "::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(sources, expected);
    }

    /// Reversed, oversized and malformed ranges are refused with the reason.
    #[test]
    fn parse_sources_refuses_bad_ranges() {
        let reversed = parse_sources("127.0.0.9-127.0.0.2").unwrap_err();
        assert!(
            reversed.contains("first address is after its last"),
            "{reversed}"
        );
        let huge = parse_sources("127.0.0.0-127.255.255.255").unwrap_err();
        assert!(huge.contains("more than 1024"), "{huge}");
        assert!(parse_sources("localhost").is_err());
        assert!(parse_sources("::1-::2").is_err());
    }

    /// A connection from 127.0.0.2 is seen by the server as coming from
    /// 127.0.0.2.
    #[test]
    fn connect_from_binds_the_source_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let source: IpAddr = "127.0.0.2".parse().unwrap();
        let _client = connect_from(source, listener.local_addr().unwrap()).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), source);
    }
}
