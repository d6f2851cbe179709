//! What this machine lets one load run hold: local ports and descriptors.
//!
//! A TCP connection is named by its four-tuple (source address and port,
//! destination address and port). Toward one server address, one source
//! address can therefore hold as many connections as it has ephemeral ports:
//! `net.ipv4.ip_local_port_range`, 32768–60999 by default, 28,232 ports.
//! More connections need more source addresses (`--source`), each bound
//! before connecting with `IP_BIND_ADDRESS_NO_PORT`, so that the kernel picks
//! the port at connect time, per destination, from the whole range.
//!
//! Every connection is also a descriptor, and a process may open at most its
//! hard `RLIMIT_NOFILE` (20,000 on the course machine). More connections need
//! more processes (`--processes`).
//!
//! Before a run starts, [`LoadConfig`]'s request is checked against both;
//! one that cannot fit is refused with the arithmetic.

use std::io;
use std::ops::RangeInclusive;

use super::config::LoadConfig;

/// Descriptors kept free beyond one per connection (stdio, poll, timers,
/// files).
pub const SPARE_DESCRIPTORS: u64 = 64;

/// The kernel's ephemeral port range, `net.ipv4.ip_local_port_range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRange(pub RangeInclusive<u16>);

/// Where the kernel keeps the ephemeral port range.
const PORT_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

impl PortRange {
    /// The range now in force.
    pub fn read() -> io::Result<PortRange> {
        let text = std::fs::read_to_string(PORT_RANGE_FILE)?;
        let mut numbers = text.split_whitespace().map(str::parse::<u16>);
        match (numbers.next(), numbers.next()) {
            (Some(Ok(low)), Some(Ok(high))) if low <= high => Ok(PortRange(low..=high)),
            _ => Err(io::Error::other(format!(
                "{PORT_RANGE_FILE} does not hold two port numbers: {text:?}"
            ))),
        }
    }

    /// Ports in the range: connections one source address can hold toward
    /// one server address.
    pub fn ports(&self) -> u64 {
        u64::from(*self.0.end()) - u64::from(*self.0.start()) + 1
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ip_local_port_range {}-{}", self.0.start(), self.0.end())
    }
}

pub use crate::sys::limits::descriptor_limits;

/// Check that `config`'s connections fit in the local ports available
/// toward its server; the error gives the arithmetic and what to change.
pub fn check_ports(config: &LoadConfig, range: &PortRange) -> io::Result<()> {
    if !config.target.uses_local_ports() {
        return Ok(());
    }
    let addresses = config.sources.len().max(1) as u64;
    let fit = addresses * range.ports();
    let wanted = config.connections as u64;
    if wanted <= fit {
        return Ok(());
    }
    let needed = wanted.div_ceil(range.ports());
    let advice = if needed <= 254 {
        format!(
            "spread them over {needed} source addresses or more, e.g. --source 127.0.0.2-127.0.0.{}",
            needed + 1
        )
    } else {
        "use fewer --connections".to_owned()
    };
    let from = if config.sources.is_empty() {
        "one source address".to_owned()
    } else {
        format!("{addresses} source addresses")
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{wanted} connections to {} cannot fit: {from} × {} ports ({range}) = {fit} connections at most; {advice}, or widen net.ipv4.ip_local_port_range",
            config.target,
            range.ports()
        ),
    ))
}

/// Past this share of a source address's ports in use, `connect` is slow
/// (on the course machine, 20,000 connections per address of 28,232 ports
/// made connects slow, 15,000 did not).
const CROWDED_PORTS_PERCENT: u64 = 60;

/// A warning when `config`'s connections fill more than 60% of each
/// source address's ports: `connect` searches the range for a free port,
/// and in a crowded range every connect pays a long search (system time,
/// slow connects, connect timeouts). More `--source` addresses avoid it.
pub fn crowded_ports_warning(config: &LoadConfig, range: &PortRange) -> Option<String> {
    if !config.target.uses_local_ports() {
        return None;
    }
    let addresses = config.sources.len().max(1) as u64;
    let per_address = (config.connections as u64).div_ceil(addresses);
    let percent = per_address * 100 / range.ports();
    if percent <= CROWDED_PORTS_PERCENT {
        return None;
    }
    let enough = (config.connections as u64 * 100).div_ceil(range.ports() * CROWDED_PORTS_PERCENT);
    Some(format!(
        "warning: {per_address} connections per source address fill {percent}% of its {} ports ({range}): connect() searches for a free port, and in a crowded range each connect is slow; {enough} or more addresses (--source 127.0.0.2-127.0.0.{}) avoid it",
        range.ports(),
        enough + 1
    ))
}

/// Make sure this process may open a descriptor per connection: raise the
/// soft `RLIMIT_NOFILE` toward the hard limit if needed, or say what to do.
pub fn ensure_descriptors(connections: usize) -> io::Result<()> {
    let needed = connections as u64 + SPARE_DESCRIPTORS;
    let (soft, hard) = descriptor_limits()?;
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(io::Error::other(format!(
            "{connections} connections need about {needed} file descriptors, but this process may open at most {hard} (hard limit): use fewer --connections, or raise the limit (`ulimit -Hn` as root, LimitNOFILE= in a unit)",
        )));
    }
    // Twice what is needed, for an in-process server or other files.
    crate::sys::limits::raise_descriptor_limit(needed.saturating_mul(2))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Target;

    fn range() -> PortRange {
        PortRange(32768..=60999)
    }

    fn tcp(connections: usize, sources: usize) -> LoadConfig {
        LoadConfig {
            connections,
            sources: (0..sources)
                .map(|i| std::net::Ipv4Addr::new(127, 0, 0, 2 + i as u8).into())
                .collect(),
            ..LoadConfig::default()
        }
    }

    /// One address holds 28,232 connections toward one server; a second
    /// address doubles that.
    #[test]
    fn check_ports_counts_addresses_times_ports() {
        assert_eq!(range().ports(), 28_232);
        check_ports(&tcp(28_232, 0), &range()).unwrap();
        check_ports(&tcp(56_464, 2), &range()).unwrap();
        let err = check_ports(&tcp(28_233, 0), &range()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("one source address × 28232 ports")
                && message.contains("= 28232 connections at most")
                && message.contains("--source 127.0.0.2-127.0.0.3"),
            "{message}"
        );
        let message = check_ports(&tcp(100_000, 3), &range())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("3 source addresses × 28232 ports")
                && message.contains("127.0.0.2-127.0.0.5"),
            "{message}"
        );
    }

    /// Over 60% of the ports of an address in use draws a warning naming how
    /// many addresses avoid it; under that, none.
    #[test]
    fn crowded_ports_warning_past_60_percent_of_the_range() {
        assert_eq!(crowded_ports_warning(&tcp(14_000, 0), &range()), None);
        let warning = crowded_ports_warning(&tcp(40_000, 2), &range()).unwrap();
        assert!(
            warning.contains("20000 connections per source address fill 70%")
                && warning.contains("3 or more addresses (--source 127.0.0.2-127.0.0.4)"),
            "{warning}"
        );
    }

    /// Unix sockets use no ports.
    #[test]
    fn check_ports_ignores_unix_targets() {
        let config = LoadConfig {
            target: Target::Unix("/tmp/x.sock".into()),
            ..tcp(1_000_000, 0)
        };
        check_ports(&config, &range()).unwrap();
    }

    /// This machine's range reads as a non-empty range.
    #[test]
    fn port_range_reads_this_machine() {
        assert!(PortRange::read().unwrap().ports() > 0);
    }

    /// A limit far above any hard limit is refused with advice.
    #[test]
    fn ensure_descriptors_explains_an_impossible_limit() {
        let err = ensure_descriptors(usize::MAX / 2).unwrap_err();
        assert!(err.to_string().contains("fewer --connections"), "{err}");
    }
}
