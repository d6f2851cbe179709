//! What the two UDP engines share: binding the socket, the settings, and the
//! deterministic "lose this datagram" decision.
//!
//! UDP has no connections, so there is nothing to accept and nothing to give
//! a thread: one socket receives every client's datagrams (`recv_from` says
//! who sent each one) and answers with `send_to`. That is why only two models
//! make sense here: a blocking loop ([`super::udp_iterative`]) and a readiness
//! loop ([`super::udp_reactor`]). Each datagram is a whole message, answered
//! by [`crate::service::answer_datagram`].
//!
//! Loss on loopback never happens by itself, so `--drop P --seed S` makes it
//! happen: the server ignores a fraction `P` of the datagrams it receives.
//! Which ones depends only on the seed and the datagram's arrival number, so
//! a run can be repeated exactly ([`DropPolicy`]).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use super::EngineKind;

/// Largest datagram the engines receive: the largest a UDP datagram can be
/// (the seed's `MAX = 65535`).
pub const MAX_DATAGRAM_BYTES: usize = 65_535;

/// Which received datagrams a server ignores, to make loss visible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropPolicy {
    probability: f64,
    seed: u64,
}

impl DropPolicy {
    /// Lose nothing (the default).
    pub const NONE: DropPolicy = DropPolicy {
        probability: 0.0,
        seed: 0,
    };

    /// Drop a fraction `probability` (0.0 to 1.0) of datagrams, chosen by
    /// `seed`.
    pub fn new(probability: f64, seed: u64) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&probability) {
            return Err(format!(
                "drop probability {probability} is out of range: give a fraction from 0.0 to 1.0 (e.g. --drop 0.3)"
            ));
        }
        Ok(DropPolicy { probability, seed })
    }

    /// The fraction of datagrams dropped.
    pub fn probability(&self) -> f64 {
        self.probability
    }

    /// Whether the datagram that arrived `index`-th (from 0) is dropped.
    /// A pure function of `(seed, index)`: the same seed drops the same
    /// arrivals, run after run.
    pub fn is_dropped(&self, index: u64) -> bool {
        if self.probability <= 0.0 {
            return false;
        }
        // splitmix64 of (seed, index): a well-mixed 64-bit value, whose top
        // 53 bits make a uniform fraction in [0, 1).
        let mut x = self
            .seed
            .wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let fraction = (x >> 11) as f64 / (1u64 << 53) as f64;
        fraction < self.probability
    }
}

impl Default for DropPolicy {
    fn default() -> Self {
        DropPolicy::NONE
    }
}

impl fmt::Display for DropPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.probability <= 0.0 {
            return f.write_str("no drop");
        }
        write!(f, "drop {} (seed {})", self.probability, self.seed)
    }
}

/// Settings of the UDP engines.
#[derive(Debug, Clone, Copy, Default)]
pub struct UdpConfig {
    /// Which datagrams to ignore.
    pub drop: DropPolicy,
    /// Print one line per datagram (received, dropped, answered).
    pub trace: bool,
}

/// Bind a blocking UDP socket with `SO_REUSEADDR`, as the TCP listeners are.
/// `[::1]` means IPv6 only, as for TCP.
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let setup = || -> io::Result<UdpSocket> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        Ok(socket.into())
    };
    setup().map_err(|err| {
        let hint = match err.kind() {
            io::ErrorKind::AddrInUse => {
                "another UDP server uses that port; stop it or pick another (--addr 127.0.0.1:0 picks a free one)"
            }
            io::ErrorKind::PermissionDenied => "ports below 1024 need root; use 1024 or above",
            _ => "check the address (use 127.0.0.1 or [::1])",
        };
        io::Error::new(err.kind(), format!("cannot bind UDP {addr}: {err}: {hint}"))
    })
}

/// The engines that can serve UDP; others get an error that says why.
pub fn check_udp_engine(kind: EngineKind) -> io::Result<()> {
    match kind {
        EngineKind::Iterative | EngineKind::Reactor => Ok(()),
        EngineKind::Threaded
        | EngineKind::Pool
        | EngineKind::Offload
        | EngineKind::Fork
        | EngineKind::PreforkAccept
        | EngineKind::PreforkFlock
        | EngineKind::PreforkMutex
        | EngineKind::PreforkPass
        | EngineKind::PrethreadedMutex => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "engine {kind} does not serve UDP: with UDP one socket serves every client and there is no connection to hand to a thread or a process; use --engine iterative or --engine reactor"
            ),
        )),
        EngineKind::Uring => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "engine uring serves TCP and Unix streams only (UDP through io_uring is not built): use --engine reactor or --engine iterative with --udp",
        )),
        EngineKind::Select | EngineKind::Poll => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "engine {kind} serves TCP and Unix streams only (its UDP loop is the reactor's): use --engine reactor or --engine iterative with --udp"
            ),
        )),
    }
}

/// Where a local process can reach a socket bound to `addr`: a wildcard
/// address (`0.0.0.0`, `[::]`) is reached through loopback.
pub fn reachable_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Send an empty datagram to `addr` from a throwaway socket: wakes a thread
/// blocked in `recv_from` on the server socket (used to stop it).
pub fn send_wake_datagram(addr: SocketAddr) -> io::Result<()> {
    let target = reachable_addr(addr);
    let any: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    UdpSocket::bind(any)?.send_to(&[], target).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same seed drops the same arrivals; another seed drops others.
    #[test]
    fn drop_policy_is_deterministic_per_seed() {
        let dropped = |seed| -> Vec<u64> {
            let policy = DropPolicy::new(0.3, seed).unwrap();
            (0..200).filter(|&i| policy.is_dropped(i)).collect()
        };
        assert_eq!(dropped(7), dropped(7));
        assert_ne!(dropped(7), dropped(8));
    }

    /// About the asked fraction is dropped; 0 drops none and 1 drops all.
    #[test]
    fn drop_policy_drops_about_the_asked_fraction() {
        let count = |p| {
            let policy = DropPolicy::new(p, 42).unwrap();
            (0..10_000).filter(|&i| policy.is_dropped(i)).count()
        };
        assert_eq!(count(0.0), 0);
        assert_eq!(count(1.0), 10_000);
        let third = count(0.3);
        assert!((2_700..3_300).contains(&third), "{third} of 10000 dropped");
    }

    /// A probability outside 0..=1 is refused with a hint.
    #[test]
    fn drop_policy_rejects_out_of_range() {
        let err = DropPolicy::new(1.5, 0).unwrap_err();
        assert!(err.contains("0.0 to 1.0"), "{err}");
        assert!(DropPolicy::new(-0.1, 0).is_err());
        assert!(DropPolicy::new(f64::NAN, 0).is_err());
    }

    /// Threaded and pool are refused for UDP with the reason.
    #[test]
    fn udp_engines_are_iterative_and_reactor() {
        assert!(check_udp_engine(EngineKind::Iterative).is_ok());
        assert!(check_udp_engine(EngineKind::Reactor).is_ok());
        let err = check_udp_engine(EngineKind::Pool).unwrap_err();
        assert!(err.to_string().contains("--engine iterative"), "{err}");
    }
}
