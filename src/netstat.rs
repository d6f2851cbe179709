//! Counters the kernel keeps for the whole network namespace, read from
//! `/proc/net/netstat`: the ones that explain failed and slow connects.
//!
//! A listening socket has an accept queue of `backlog` connections. When it
//! is full, the kernel drops the client's SYN (or its final ACK) and counts
//! `TcpExt: ListenOverflows`; every SYN dropped at a listener, for that or
//! another reason, also counts `ListenDrops`. The client hears nothing and
//! sends its SYN again after 1 s, then 2 s, 4 s...: a connect that takes
//! just over a second is the mark of a dropped SYN.
//!
//! The counters cover every listener in this namespace, not one server: read
//! them before and after a run ([`ListenQueue::since`]) on an otherwise quiet
//! machine, and only when the server runs on this machine (or namespace).

use std::io;

/// The listen-queue counters of `TcpExt` at one moment, or their growth
/// over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenQueue {
    /// Connections dropped because a listener's accept queue was full.
    pub overflows: u64,
    /// SYNs dropped at a listener, for any reason (overflows included).
    pub drops: u64,
}

impl ListenQueue {
    /// The counters now, from `/proc/net/netstat`.
    pub fn read() -> io::Result<ListenQueue> {
        Self::parse(&std::fs::read_to_string("/proc/net/netstat")?)
    }

    /// The counters in the text of `/proc/net/netstat`: a `TcpExt:` line of
    /// names followed by a `TcpExt:` line of values.
    fn parse(netstat: &str) -> io::Result<ListenQueue> {
        let mut lines = netstat.lines().filter_map(|l| l.strip_prefix("TcpExt:"));
        let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
            return Err(io::Error::other("/proc/net/netstat has no TcpExt lines"));
        };
        let value_of = |wanted: &str| {
            names
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(name, _)| *name == wanted)
                .and_then(|(_, value)| value.parse().ok())
                .ok_or_else(|| io::Error::other(format!("/proc/net/netstat has no {wanted}")))
        };
        Ok(ListenQueue {
            overflows: value_of("ListenOverflows")?,
            drops: value_of("ListenDrops")?,
        })
    }

    /// How much the counters grew since `before`.
    pub fn since(self, before: ListenQueue) -> ListenQueue {
        ListenQueue {
            overflows: self.overflows.saturating_sub(before.overflows),
            drops: self.drops.saturating_sub(before.drops),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two counters are found by name among the others.
    #[test]
    fn listen_queue_parses_tcp_ext_by_name() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TW\n\
                    TcpExt: 1 23 45 6\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        let counters = ListenQueue::parse(text).unwrap();
        assert_eq!(
            counters,
            ListenQueue {
                overflows: 23,
                drops: 45
            }
        );
        let later = ListenQueue {
            overflows: 30,
            drops: 45,
        };
        assert_eq!(later.since(counters).overflows, 7);
    }

    /// Text without the counters is an error, not zeros.
    #[test]
    fn listen_queue_refuses_text_without_the_counters() {
        assert!(ListenQueue::parse("IpExt: InNoRoutes\nIpExt: 0\n").is_err());
    }

    /// This machine's file has them.
    #[test]
    fn listen_queue_reads_this_machine() {
        ListenQueue::read().unwrap();
    }
}
