//! What the sampling thread reads during a scenario run, and what two
//! samples say about the time between them: the server's memory, threads
//! and sockets, the kernel's socket memory and losses, and the CPU of the
//! server, the load, the sampler and the rest of the machine.

use std::time::SystemTime;

use crate::compare::cell::round;
use crate::sys::netstat::{KernelMemory, Losses};
use crate::sys::proc::{self, Holding, MachineCpu};

/// What the sampling thread read at one moment.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub(super) at: SystemTime,
    /// What the server held, or why some process of it could not be read
    /// (an incomplete sample: never counted as fewer sockets or less memory).
    pub(super) holding: Result<Holding, String>,
    pub(super) kernel: Option<KernelMemory>,
    pub(super) server_cpu_s: Option<f64>,
    /// This process and its generator processes.
    pub(super) load_cpu_s: Option<f64>,
    /// The whole machine's busy CPU time and the time the hypervisor took.
    pub(super) machine: Option<MachineCpu>,
    /// Packets dropped and sent again, machine-wide.
    pub(super) losses: Option<Losses>,
    /// CPU time of the thread that took the sample (the sampler), so far:
    /// counting sockets costs, and it is not the load's.
    pub(super) sampler_cpu_s: f64,
}

/// CPU time of the calling thread so far, in seconds.
fn thread_cpu_s() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// Read the server (the process tree of `server_pid`), the kernel and
/// the load's CPU now.
pub(super) fn sample(server_pid: u32, count_sockets: bool) -> Sample {
    let at = SystemTime::now();
    let sampler_cpu_s = thread_cpu_s();
    let server_cpu_s = proc::tree_stats(server_pid).ok().map(|s| s.cpu_s);
    // This process's tree holds the servers and the sampler too: take
    // them out.
    let load_cpu_s = proc::tree_stats(std::process::id())
        .ok()
        .zip(server_cpu_s)
        .map(|(all, server)| all.cpu_s - server - sampler_cpu_s);
    Sample {
        at,
        sampler_cpu_s,
        holding: proc::tree_holding(server_pid, count_sockets).map_err(|err| err.to_string()),
        kernel: KernelMemory::read().ok(),
        server_cpu_s,
        load_cpu_s,
        machine: MachineCpu::read(),
        losses: Losses::read().ok(),
    }
}

/// CPU used between two samples, in cores (CPU seconds per second); none
/// where unknown, or where a process ended in between (its time left the
/// sum).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Cores {
    pub(super) server: Option<f64>,
    pub(super) load: Option<f64>,
    /// The machine's busy time less the server's, the load's and the sampler's.
    pub(super) other: Option<f64>,
    pub(super) steal: Option<f64>,
    pub(super) sampler: Option<f64>,
}

impl Cores {
    pub(super) fn between(first: &Sample, last: &Sample) -> Cores {
        let span_s = last
            .at
            .duration_since(first.at)
            .map_or(0.0, |span| span.as_secs_f64());
        if span_s <= 0.0 {
            return Cores::default();
        }
        let rate = |a: Option<f64>, b: Option<f64>| {
            a.zip(b)
                .map(|(a, b)| (b - a) / span_s)
                .filter(|cores| *cores >= 0.0)
        };
        let server = rate(first.server_cpu_s, last.server_cpu_s);
        let load = rate(first.load_cpu_s, last.load_cpu_s);
        let sampler = rate(Some(first.sampler_cpu_s), Some(last.sampler_cpu_s));
        let busy = rate(
            first.machine.map(|m| m.busy_s),
            last.machine.map(|m| m.busy_s),
        );
        let round2 = |v: Option<f64>| v.map(|v| round(v, 2));
        Cores {
            server: round2(server),
            load: round2(load),
            other: round2(busy.zip(server.zip(load.zip(sampler))).map(
                |(busy, (server, (load, sampler)))| (busy - server - load - sampler).max(0.0),
            )),
            steal: round2(rate(
                first.machine.map(|m| m.steal_s),
                last.machine.map(|m| m.steal_s),
            )),
            sampler: round2(sampler),
        }
    }
}

/// What was dropped and resent between two samples.
pub(super) fn losses_between(first: &Sample, last: &Sample) -> Option<Losses> {
    Some(last.losses?.since(first.losses?))
}
