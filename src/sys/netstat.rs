//! Counters the kernel keeps for the whole network namespace: from
//! `/proc/net/netstat`, the ones that explain failed and slow connects
//! ([`ListenQueue`]); from `/proc/net/sockstat` and `/proc/meminfo`, what
//! its sockets cost in memory ([`KernelMemory`]).
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
        Ok(ListenQueue {
            overflows: counter(netstat, "TcpExt:", "ListenOverflows")?,
            drops: counter(netstat, "TcpExt:", "ListenDrops")?,
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

/// The counter `wanted` in a `/proc/net/netstat` or `/proc/net/snmp` text:
/// a `prefix` line of names followed by a `prefix` line of values.
fn counter(text: &str, prefix: &str, wanted: &str) -> io::Result<u64> {
    let mut lines = text.lines().filter_map(|l| l.strip_prefix(prefix));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Err(io::Error::other(format!("no {prefix} lines")));
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == wanted)
        .and_then(|(_, value)| value.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no {prefix} {wanted} counter")))
}

/// Packets lost on the way and sent again, machine-wide, so far: what turns
/// a loopback request of 100 µs into one of 200 ms or more.
///
/// Loopback cannot lose a packet on a wire, but it can drop one: every
/// packet sent goes through the receiving core's backlog queue
/// (`net.core.netdev_max_backlog` packets, 1000 by default), drained by the
/// kernel's softirq, or by the `ksoftirqd` thread when the softirq runs
/// long. When that thread waits for a core, the queue fills and packets are
/// dropped (`/proc/net/softnet_stat`, second column); TCP sends each again
/// after its retransmission timeout, at least 200 ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Losses {
    /// Packets dropped at a full backlog queue, every core.
    pub backlog_drops: u64,
    /// TCP data segments sent again (`RetransSegs` less `TCPSynRetrans`).
    pub data_retransmits: u64,
    /// SYNs sent again (`TCPSynRetrans`): connects that were not answered.
    pub syn_retransmits: u64,
}

impl Losses {
    /// The counters now.
    pub fn read() -> io::Result<Losses> {
        Self::parse(
            &std::fs::read_to_string("/proc/net/softnet_stat")?,
            &std::fs::read_to_string("/proc/net/snmp")?,
            &std::fs::read_to_string("/proc/net/netstat")?,
        )
    }

    fn parse(softnet: &str, snmp: &str, netstat: &str) -> io::Result<Losses> {
        let mut backlog_drops = 0;
        for line in softnet.lines() {
            let dropped = line
                .split_whitespace()
                .nth(1)
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .ok_or_else(|| io::Error::other("/proc/net/softnet_stat has no dropped column"))?;
            backlog_drops += dropped;
        }
        let syn_retransmits = counter(netstat, "TcpExt:", "TCPSynRetrans")?;
        Ok(Losses {
            backlog_drops,
            data_retransmits: counter(snmp, "Tcp:", "RetransSegs")?.saturating_sub(syn_retransmits),
            syn_retransmits,
        })
    }

    /// How much the counters grew since `before`.
    pub fn since(self, before: Losses) -> Losses {
        Losses {
            backlog_drops: self.backlog_drops.saturating_sub(before.backlog_drops),
            data_retransmits: self
                .data_retransmits
                .saturating_sub(before.data_retransmits),
            syn_retransmits: self.syn_retransmits.saturating_sub(before.syn_retransmits),
        }
    }
}

/// The kernel's memory at one moment, machine-wide, in KiB: what sockets
/// cost it besides the processes' own memory.
///
/// - `tcp_buffers_kib`: `TCP: mem` of `/proc/net/sockstat` (pages, here in
///   KiB): the pages TCP sockets hold for data queued in their buffers. An
///   idle socket holds none.
/// - `slab_kib`: `Slab:` of `/proc/meminfo`: the kernel's object caches,
///   where every socket's structures live (the TCP socket itself, its file,
///   inode and dentry, an epoll entry), buffered or not.
///
/// Both count the whole machine: both ends of a loopback connection, and any
/// other work running meanwhile. Read them before and while holding
/// connections, on an otherwise quiet machine, and divide the growth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelMemory {
    /// TCP socket buffer pages, in KiB.
    pub tcp_buffers_kib: u64,
    /// Slab caches, in KiB.
    pub slab_kib: u64,
}

impl KernelMemory {
    /// The figures now.
    pub fn read() -> io::Result<KernelMemory> {
        Self::parse(
            &std::fs::read_to_string("/proc/net/sockstat")?,
            &std::fs::read_to_string("/proc/meminfo")?,
            page_kib(),
        )
    }

    fn parse(sockstat: &str, meminfo: &str, page_kib: u64) -> io::Result<KernelMemory> {
        let pages: u64 = sockstat
            .lines()
            .find_map(|line| line.strip_prefix("TCP:"))
            .and_then(|fields| {
                let fields: Vec<&str> = fields.split_whitespace().collect();
                fields
                    .windows(2)
                    .find(|pair| pair[0] == "mem")
                    .and_then(|pair| pair[1].parse().ok())
            })
            .ok_or_else(|| io::Error::other("/proc/net/sockstat has no TCP mem figure"))?;
        let slab_kib = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("Slab:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or_else(|| io::Error::other("/proc/meminfo has no Slab figure"))?;
        Ok(KernelMemory {
            tcp_buffers_kib: pages * page_kib,
            slab_kib,
        })
    }

    /// How much each figure grew since `before` (0 where it shrank).
    pub fn since(self, before: KernelMemory) -> KernelMemory {
        KernelMemory {
            tcp_buffers_kib: self.tcp_buffers_kib.saturating_sub(before.tcp_buffers_kib),
            slab_kib: self.slab_kib.saturating_sub(before.slab_kib),
        }
    }
}

/// The page size in KiB.
fn page_kib() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as u64 / 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TCP buffer pages become KiB; the slab figure is read in KiB; growth
    /// never goes below zero.
    #[test]
    fn kernel_memory_parses_sockstat_and_meminfo() {
        let sockstat = "sockets: used 2408\nTCP: inuse 2389 orphan 0 tw 551 alloc 2389 mem 1780\nUDP: inuse 0 mem 0\n";
        let meminfo = "MemTotal: 24683500 kB\nSlab:             123456 kB\nSReclaimable: 1 kB\n";
        let now = KernelMemory::parse(sockstat, meminfo, 4).unwrap();
        assert_eq!(
            now,
            KernelMemory {
                tcp_buffers_kib: 7120,
                slab_kib: 123_456
            }
        );
        let before = KernelMemory {
            tcp_buffers_kib: 8000,
            slab_kib: 100_000,
        };
        assert_eq!(now.since(before).tcp_buffers_kib, 0);
        assert_eq!(now.since(before).slab_kib, 23_456);
        assert!(KernelMemory::parse("UDP: inuse 0\n", meminfo, 4).is_err());
        assert!(KernelMemory::parse(sockstat, "MemTotal: 1 kB\n", 4).is_err());
    }

    /// This machine's files have both figures.
    #[test]
    fn kernel_memory_reads_this_machine() {
        KernelMemory::read().unwrap();
    }

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

    /// Backlog drops add up over cores (hexadecimal); data retransmits
    /// leave the SYNs out.
    #[test]
    fn losses_add_cores_and_leave_syns_out() {
        let softnet = "0e52f2cd 0000000a 0000000e 00000000\n0dc53cbc 00000010 0000000b 00000000\n";
        let snmp = "Tcp: RtoAlgorithm RetransSegs InErrs\nTcp: 1 500 3\n";
        let netstat = "TcpExt: TCPSynRetrans ListenDrops\nTcpExt: 120 4\n";
        let losses = Losses::parse(softnet, snmp, netstat).unwrap();
        assert_eq!(
            losses,
            Losses {
                backlog_drops: 26,
                data_retransmits: 380,
                syn_retransmits: 120
            }
        );
        Losses::read().unwrap();
    }

    /// This machine's file has them.
    #[test]
    fn listen_queue_reads_this_machine() {
        ListenQueue::read().unwrap();
    }
}
