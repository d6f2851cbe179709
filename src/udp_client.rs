//! The notes' UDP client: a connected socket, a timeout, exponential backoff.
//!
//! Seed 001, line for line:
//!
//! ```text
//! sock.connect((HOST, PORT))
//! delay = 0.1
//! while True:
//!     sock.send('Send this message!')
//!     sock.settimeout(delay)
//!     try:
//!         data = sock.recv(MAX)
//!     except socket.timeout:
//!         delay *= 2                # exponential backoff
//!         if delay > 2.0:
//!             raise RuntimeError('Maybe the server is down')
//!     else:
//!         break                     # we are done
//! ```
//!
//! So the waits are 0.1, 0.2, 0.4, 0.8 and 1.6 s (five sends); after the
//! fifth timeout the next wait would be 3.2 s, more than 2 s, and the client
//! gives up, 3.1 s after the first send. [`Backoff`] is that rule with the
//! two numbers as parameters; [`Backoff::waits`] lists the schedule.
//!
//! Why a *connected* UDP socket: `connect` sends nothing, it only fixes the
//! peer, so `send`/`recv` need no address, datagrams from anyone else are
//! filtered out by the kernel, and an ICMP "port unreachable" (nobody is
//! listening there) comes back as `ECONNREFUSED` on the next call instead of
//! being silently ignored. [`RequestError::Refused`] is that case.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::io_util::{interrupted, would_block};

/// Largest answer accepted (the largest UDP datagram).
const MAX_REPLY_BYTES: usize = 65_535;

/// The retry schedule: wait `initial`, double after each timeout, give up
/// when the doubled wait would exceed `max_wait` (seed 001's exact rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait (seed: 0.1 s).
    pub initial: Duration,
    /// The longest single wait allowed (seed: 2 s).
    pub max_wait: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max_wait: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// Every wait, in order: one per send. Empty if `initial` exceeds
    /// `max_wait` already.
    pub fn waits(&self) -> Vec<Duration> {
        let mut waits = Vec::new();
        let mut wait = self.initial;
        while wait <= self.max_wait && !wait.is_zero() {
            waits.push(wait);
            wait *= 2;
        }
        waits
    }

    /// How long a client waits in total before giving up.
    pub fn total_wait(&self) -> Duration {
        self.waits().iter().sum()
    }
}

/// A timeout that led to another send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// How long the client waited for the answer that did not come.
    pub waited: Duration,
    /// The number of the send about to happen (the first send is 1).
    pub attempt: usize,
    /// How long it will wait for that one.
    pub next_wait: Duration,
}

impl fmt::Display for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timeout after {} ms, retrying (attempt {}, next wait {} ms)",
            self.waited.as_millis(),
            self.attempt,
            self.next_wait.as_millis()
        )
    }
}

/// An answer, and what it took to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answering datagram.
    pub reply: Vec<u8>,
    /// Sends it took (1 if the first was answered).
    pub attempts: usize,
    /// From the first send to the answer.
    pub elapsed: Duration,
}

/// Why no answer came.
#[derive(Debug)]
pub enum RequestError {
    /// Every wait of the schedule timed out.
    NoAnswer {
        /// Sends made.
        attempts: usize,
        /// From the first send to giving up.
        elapsed: Duration,
    },
    /// The kernel reported ICMP port unreachable: nobody listens at `addr`.
    Refused {
        /// The address asked.
        addr: SocketAddr,
    },
    /// Any other socket error.
    Io(io::Error),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::NoAnswer { attempts, elapsed } => write!(
                f,
                "no answer: the server may be down ({attempts} sends, gave up after {} ms)",
                elapsed.as_millis()
            ),
            RequestError::Refused { addr } => write!(
                f,
                "no server at {addr} (connection refused: ICMP port unreachable came back)"
            ),
            RequestError::Io(err) => write!(f, "udp request failed: {err}"),
        }
    }
}

impl std::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RequestError::Io(err) => Some(err),
            _ => None,
        }
    }
}

/// A UDP socket on an ephemeral port, connected to `server`.
pub fn connect(server: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect(server)?;
    Ok(socket)
}

/// Send `message` on the connected `socket` and wait for one answer,
/// resending after each timeout as `backoff` says. `on_retry` hears about
/// every resend (the CLI prints it, demos count it).
pub fn request(
    socket: &UdpSocket,
    message: &[u8],
    backoff: &Backoff,
    mut on_retry: impl FnMut(&Retry),
) -> Result<Answer, RequestError> {
    let addr = socket.peer_addr().map_err(RequestError::Io)?;
    let refused_or = |err: io::Error| {
        if err.kind() == io::ErrorKind::ConnectionRefused {
            RequestError::Refused { addr }
        } else {
            RequestError::Io(err)
        }
    };
    let waits = backoff.waits();
    let started = Instant::now();
    let mut reply = vec![0u8; MAX_REPLY_BYTES];
    for (i, &wait) in waits.iter().enumerate() {
        socket.send(message).map_err(refused_or)?;
        socket
            .set_read_timeout(Some(wait))
            .map_err(RequestError::Io)?;
        let deadline = Instant::now() + wait;
        loop {
            match socket.recv(&mut reply) {
                Ok(len) => {
                    return Ok(Answer {
                        reply: reply[..len].to_vec(),
                        attempts: i + 1,
                        elapsed: started.elapsed(),
                    })
                }
                // A timed-out blocking read is WouldBlock (or TimedOut).
                Err(err) if would_block(&err) || err.kind() == io::ErrorKind::TimedOut => break,
                // A signal cut the wait short: wait out the rest.
                Err(err) if interrupted(&err) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    socket
                        .set_read_timeout(Some(left))
                        .map_err(RequestError::Io)?;
                }
                Err(err) => return Err(refused_or(err)),
            }
        }
        if let Some(&next_wait) = waits.get(i + 1) {
            on_retry(&Retry {
                waited: wait,
                attempt: i + 2,
                next_wait,
            });
        }
    }
    Err(RequestError::NoAnswer {
        attempts: waits.len(),
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default schedule is the seed's: 0.1 s doubling, five sends, 3.1 s.
    #[test]
    fn default_backoff_is_the_seeds_schedule() {
        let ms: Vec<u128> = Backoff::default()
            .waits()
            .iter()
            .map(Duration::as_millis)
            .collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600]);
        assert_eq!(Backoff::default().total_wait(), Duration::from_millis(3100));
    }

    /// A wait exactly at the limit is still made (the seed gives up on `>`).
    #[test]
    fn backoff_limit_is_inclusive() {
        let backoff = Backoff {
            initial: Duration::from_millis(250),
            max_wait: Duration::from_secs(1),
        };
        assert_eq!(backoff.waits().len(), 3); // 250, 500, 1000
    }

    /// The retry line reads as the CLI prints it.
    #[test]
    fn retry_line_names_wait_attempt_and_next_wait() {
        let retry = Retry {
            waited: Duration::from_millis(100),
            attempt: 2,
            next_wait: Duration::from_millis(200),
        };
        assert_eq!(
            retry.to_string(),
            "timeout after 100 ms, retrying (attempt 2, next wait 200 ms)"
        );
    }
}
