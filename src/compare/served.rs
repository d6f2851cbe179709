//! The server a cell loads: where it listens, and which process tree's
//! cost is measured. A server compare started (its own engines, and those
//! it started from a user's command) is measured; a `--target` is only
//! loaded.

use std::io;

use crate::engine::ListenAddr;
use crate::sys::proc::{self, ProcStats};
use crate::sys::process::ServerProcess;

/// The server a cell loads: where it listens, and the first process of
/// the tree whose cost is measured (none for a `--target`, which is only
/// loaded: its cost columns read 0 and n/a).
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// Where the load connects.
    pub addr: &'a ListenAddr,
    /// The server's first process; its descendants are counted with it.
    pub pid: Option<u32>,
}

impl<'a> From<&'a ServerProcess> for Served<'a> {
    /// A server compare started itself: where it listens, and its process.
    fn from(process: &'a ServerProcess) -> Self {
        Served {
            addr: process.addr(),
            pid: Some(process.pid()),
        }
    }
}

impl Served<'_> {
    /// Reset the peak-RSS mark of every process of the server's tree to
    /// its current RSS, so the next [`stats`](Self::stats) shows the peak
    /// of the cell about to run. `false` where the kernel does not allow
    /// it (the peaks are then the processes' lifetime peaks).
    pub(super) fn reset_peak_rss(&self) -> bool {
        let Some(pid) = self.pid else {
            return false;
        };
        let tree = proc::process_tree(pid).unwrap_or_default();
        // Every process tried, even after one refuses.
        let refused = tree
            .into_iter()
            .filter(|&pid| !proc::reset_peak_rss(pid))
            .count();
        refused == 0
    }

    /// CPU time and peak RSS so far of the server's process tree; zero
    /// for a server not measured.
    pub(super) fn stats(&self) -> io::Result<ProcStats> {
        match self.pid {
            Some(pid) => proc::tree_stats(pid),
            None => Ok(ProcStats {
                cpu_s: 0.0,
                peak_rss_kb: 0,
            }),
        }
    }
}
