//! With a connection per R requests (`--requests-per-connection`), the
//! ports a run uses up: the side that closes first keeps each closed
//! connection in TIME_WAIT for 60 s (Linux's `TCP_TIMEWAIT_LEN`), and the
//! load generator closes first, as UNP's client does. A TIME_WAIT socket
//! still holds its four-tuple, so toward one server address the new
//! connections a run may open per second are at most
//! `source addresses × ports in ip_local_port_range / 60 s`
//! ([`super::capacity`] counts the ports).
//!
//! Linux lets `connect` take over a TIME_WAIT port when
//! `net.ipv4.tcp_tw_reuse` allows it (1: always; 2: loopback only, added
//! in 2018 and the default on current kernels) and TCP timestamps make it
//! safe; then the bound does
//! not hold, and the check only says so. Otherwise a run with a `--rate`
//! beyond the bound is refused before it starts, with the arithmetic; a
//! closed-loop run is told the bound.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::capacity::PortRange;
use super::config::{LoadConfig, Target};

/// How long a connection closed first stays in TIME_WAIT on Linux.
pub const TIME_WAIT: Duration = Duration::from_secs(60);

/// Where the kernel says whether `connect` may reuse TIME_WAIT ports.
const TW_REUSE_FILE: &str = "/proc/sys/net/ipv4/tcp_tw_reuse";

/// `net.ipv4.tcp_tw_reuse` now, if readable.
pub fn read_tw_reuse() -> Option<u8> {
    std::fs::read_to_string(TW_REUSE_FILE)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Check the new connections `config` opens per second against the ports
/// TIME_WAIT holds; `tw_reuse` is `net.ipv4.tcp_tw_reuse`. `Ok(None)`:
/// nothing to say (connections stay open, or a Unix socket); `Ok(line)`:
/// it fits or may, and how far; `Err`: a `--rate` that cannot fit.
pub fn check_time_wait(
    config: &LoadConfig,
    range: &PortRange,
    tw_reuse: Option<u8>,
) -> io::Result<Option<String>> {
    let (Some(per_connection), Target::Tcp(server)) =
        (config.requests_per_connection, &config.target)
    else {
        return Ok(None);
    };
    let addresses = config.sources.len().max(1) as u64;
    let ports = addresses * range.ports();
    let fit_per_s = ports as f64 / TIME_WAIT.as_secs_f64();
    let bound = format!(
        "{addresses} source address(es) × {} ports ({range}) / {} s in TIME_WAIT = {fit_per_s:.0} new connections/s at most",
        range.ports(),
        TIME_WAIT.as_secs()
    );
    if reuses_time_wait(tw_reuse, server) {
        return Ok(Some(format!(
            "TIME_WAIT: {bound}, but net.ipv4.tcp_tw_reuse={} lets connect() take over ports in TIME_WAIT toward {server}, so a faster run fits too",
            tw_reuse.unwrap_or_default()
        )));
    }
    let Some(rate) = config.rate_per_s else {
        return Ok(Some(format!(
            "TIME_WAIT: {bound}; a faster closed loop runs out of ports (connect fails with no free port)"
        )));
    };
    let wanted_per_s = rate / per_connection as f64;
    if wanted_per_s <= fit_per_s {
        return Ok(Some(format!(
            "TIME_WAIT: {wanted_per_s:.0} new connections/s fit: {bound}"
        )));
    }
    let needed = (wanted_per_s / (range.ports() as f64 / TIME_WAIT.as_secs_f64())).ceil() as u64;
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "--rate {rate} with --requests-per-connection {per_connection} opens {wanted_per_s:.0} connections/s, each then {} s in TIME_WAIT: it cannot fit, {bound}; use {needed} source addresses (--source 127.0.0.2-127.0.0.{}), a larger --requests-per-connection, a lower --rate, or net.ipv4.tcp_tw_reuse=2",
            TIME_WAIT.as_secs(),
            needed + 1
        ),
    ))
}

/// Whether `connect` toward `server` may take over TIME_WAIT ports.
fn reuses_time_wait(tw_reuse: Option<u8>, server: &SocketAddr) -> bool {
    match tw_reuse {
        Some(1) => true,
        Some(2) => server.ip().is_loopback(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range() -> PortRange {
        PortRange(32768..=60999)
    }

    fn per_request(rate_per_s: Option<f64>) -> LoadConfig {
        LoadConfig {
            requests_per_connection: Some(1),
            rate_per_s,
            ..LoadConfig::default()
        }
    }

    /// 28,232 ports / 60 s: some 470 connections/s fit from one address; 500
    /// do not, and the refusal gives the arithmetic and the addresses
    /// that would do.
    #[test]
    fn time_wait_refuses_a_rate_beyond_ports_over_sixty_seconds() {
        let fits = check_time_wait(&per_request(Some(400.0)), &range(), Some(0)).unwrap();
        assert!(fits.unwrap().contains("400 new connections/s fit"));
        let err = check_time_wait(&per_request(Some(1000.0)), &range(), Some(0)).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("= 471 new connections/s at most")
                && message.contains("use 3 source addresses (--source 127.0.0.2-127.0.0.4)"),
            "{message}"
        );
        // Two requests per connection halve the connections: 500/s fit.
        let two = LoadConfig {
            requests_per_connection: Some(2),
            ..per_request(Some(900.0))
        };
        check_time_wait(&two, &range(), Some(0)).unwrap();
    }

    /// tcp_tw_reuse=2 reuses loopback ports: the same rate is only noted.
    #[test]
    fn time_wait_reuse_on_loopback_lets_any_rate_fit() {
        let note = check_time_wait(&per_request(Some(1000.0)), &range(), Some(2))
            .unwrap()
            .unwrap();
        assert!(note.contains("tcp_tw_reuse=2"), "{note}");
    }

    /// Keep-alive runs and closed loops are not refused; a closed loop is
    /// told the bound.
    #[test]
    fn time_wait_only_bounds_a_rate() {
        let keep_alive = LoadConfig::default();
        assert!(check_time_wait(&keep_alive, &range(), Some(0))
            .unwrap()
            .is_none());
        let closed = check_time_wait(&per_request(None), &range(), Some(0))
            .unwrap()
            .unwrap();
        assert!(closed.contains("runs out of ports"), "{closed}");
    }
}
