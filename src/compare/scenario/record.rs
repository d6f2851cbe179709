//! A scenario's rows: one per server ([`ScenarioRecord`]), and one per
//! second of each server's window ([`TimelineRow`]), made from the load
//! report and the samples.

use std::io;
use std::time::Duration;

use serde::Serialize;

use super::sample::{losses_between, Cores, Sample};
use super::{Plan, ScenarioServer};
use crate::compare::cell::round;
use crate::load::{LoadReport, RunLimit};
use crate::sys::proc::Holding;

/// One server's row: what it held and what that cost. Columns in order:
///
/// | column | meaning |
/// |---|---|
/// | `scenario`, `engine` | which scenario, which server (`prefork-xN`: the reactor as N processes) |
/// | `connections`, `rate_per_s` | connections and total req/s asked for |
/// | `server_connections` | connections the server held through the measured window: the fewest sockets above its idle count in the window's complete samples (empty if the server was gone) |
/// | `connections_up` | connections the generator had up (established at least once) when measuring began |
/// | `connections_open_at_end` | the generator's connections open when it stopped |
/// | `ramp_s` | seconds from the first connect until measuring began (empty if it never did) |
/// | `duration_s`, `requests`, `req_per_s` | the measured window and its correct answers |
/// | `p50_us`, `p99_us`, `p999_us`, `max_us` | latency from each request's intended send time (empty without answers) |
/// | `errors`, `errors_by_kind` | errors of the whole run, ramp included, `kind=count;...` |
/// | `slow_connects` | connects that took over 1 s (a SYN sent again) |
/// | `listen_overflows`, `listen_drops` | growth of the kernel's counters over the run (every listener) |
/// | `outcome` | how the load run ended (`finished`, `server-lost`, `cut-off`, `generator-lost`, `load-failed`) |
/// | `incomplete_samples`, `incomplete_reason` | samples of the window in which some process of the server could not be read, or whose socket count was below the connections the load proved open (no error, every connection open at the end), and why (the first): left out of `server_connections` (the unreadable ones of the memory too), never counted as fewer |
/// | `server_threads` | the most threads the server had in the window |
/// | `server_descriptors_most`, `descriptor_limit` | the most descriptors one server process had open in the window's counts, and the hard limit of each process |
/// | `server_rss_idle_kb`, `server_rss_kb` | server resident memory before the load, and the most in the window (all its processes) |
/// | `rss_per_connection_kib` | `(server_rss_kb - server_rss_idle_kb) / server_connections` |
/// | `kernel_tcp_buffers_kb`, `kernel_slab_kb` | growth of the kernel's TCP buffer pages and slab caches from before the load to the most in the window, machine-wide ([`KernelMemory`](crate::sys::netstat::KernelMemory)) |
/// | `tcp_buffers_per_connection_kib`, `slab_per_connection_kib` | the same divided by `connections_up`: both ends of every connection the generator had up are in the kernel, whether the server accepted it or left it in its queue |
/// | `server_cores`, `load_cores` | CPU the server and the load generator (this process and its generator processes, the sampler left out) used in the window, in cores (CPU seconds per second) |
/// | `other_cores`, `steal_cores` | CPU the rest of the machine used in the window (its busy time, `/proc/stat`, less the server's, the load's and the sampler's), and the time the hypervisor gave this machine's cores to other guests, in cores: what else competed for the cores |
/// | `sampler_cores` | CPU the sampling thread itself used (counting sockets costs): the measurement's own cost |
/// | `backlog_drops`, `data_retransmits` | packets dropped at a full backlog queue and TCP data segments sent again in the window, machine-wide ([`Losses`](crate::sys::netstat::Losses)): each resent segment waited at least 200 ms |
/// | `generator_processes`, `load_threads`, `sources` | how the load was made |
/// | `server_log` | the last two lines the server wrote on stderr, if any: often why it failed |
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[allow(missing_docs)] // the columns are documented in the table above
pub struct ScenarioRecord {
    pub scenario: String,
    pub engine: String,
    pub connections: u64,
    pub rate_per_s: f64,
    pub server_connections: Option<u64>,
    pub connections_up: u64,
    pub connections_open_at_end: u64,
    pub ramp_s: Option<f64>,
    pub duration_s: f64,
    pub requests: u64,
    pub req_per_s: f64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub p999_us: Option<u64>,
    pub max_us: Option<u64>,
    pub errors: u64,
    pub errors_by_kind: String,
    pub slow_connects: u64,
    pub listen_overflows: Option<u64>,
    pub listen_drops: Option<u64>,
    pub outcome: String,
    pub incomplete_samples: u64,
    pub incomplete_reason: String,
    pub server_threads: Option<u64>,
    pub server_descriptors_most: Option<u64>,
    pub descriptor_limit: u64,
    pub server_rss_idle_kb: u64,
    pub server_rss_kb: Option<u64>,
    pub rss_per_connection_kib: Option<f64>,
    pub kernel_tcp_buffers_kb: Option<u64>,
    pub kernel_slab_kb: Option<u64>,
    pub tcp_buffers_per_connection_kib: Option<f64>,
    pub slab_per_connection_kib: Option<f64>,
    pub server_cores: Option<f64>,
    pub load_cores: Option<f64>,
    pub other_cores: Option<f64>,
    pub steal_cores: Option<f64>,
    pub sampler_cores: Option<f64>,
    pub backlog_drops: Option<u64>,
    pub data_retransmits: Option<u64>,
    pub generator_processes: u64,
    pub load_threads: u64,
    pub sources: u64,
    pub server_log: String,
}

/// A row with the plan's figures and no measurements.
pub(super) fn empty_record(
    plan: &Plan,
    server: &ScenarioServer,
    server_rss_idle_kb: u64,
    server_log: String,
) -> ScenarioRecord {
    ScenarioRecord {
        scenario: plan.scenario.name().to_string(),
        engine: server.name(),
        connections: plan.load.connections as u64,
        rate_per_s: plan.load.rate_per_s.unwrap_or(0.0),
        server_connections: None,
        connections_up: 0,
        connections_open_at_end: 0,
        ramp_s: None,
        duration_s: 0.0,
        requests: 0,
        req_per_s: 0.0,
        p50_us: None,
        p99_us: None,
        p999_us: None,
        max_us: None,
        errors: 0,
        errors_by_kind: String::new(),
        slow_connects: 0,
        listen_overflows: None,
        listen_drops: None,
        outcome: "load-failed".to_string(),
        incomplete_samples: 0,
        incomplete_reason: String::new(),
        server_threads: None,
        server_descriptors_most: None,
        descriptor_limit: crate::sys::limits::descriptor_limits().map_or(0, |(_, hard)| hard),
        server_rss_idle_kb,
        server_rss_kb: None,
        rss_per_connection_kib: None,
        kernel_tcp_buffers_kb: None,
        kernel_slab_kb: None,
        tcp_buffers_per_connection_kib: None,
        slab_per_connection_kib: None,
        server_cores: None,
        load_cores: None,
        other_cores: None,
        steal_cores: None,
        sampler_cores: None,
        backlog_drops: None,
        data_retransmits: None,
        generator_processes: plan.generator_processes as u64,
        load_threads: 0,
        sources: plan.load.sources.len() as u64,
        server_log,
    }
}

/// `text` with no `;` or `,`, to sit inside the `errors_by_kind` column.
pub(super) fn csv_safe(text: &str) -> String {
    text.replace([',', ';', '\n'], " ")
}

/// The row of one server from its load report and its samples.
pub(super) fn record_of(
    plan: &Plan,
    server: &ScenarioServer,
    load: io::Result<LoadReport>,
    idle: &Sample,
    samples: &[Sample],
    server_log: String,
) -> ScenarioRecord {
    let idle_rss = idle.holding.as_ref().map_or(0, |h| h.rss_kb);
    let mut record = empty_record(plan, server, idle_rss, server_log);
    let report = match load {
        Ok(report) => report,
        Err(err) => {
            record.errors = 1;
            record.errors_by_kind = format!("load-failed={}", csv_safe(&err.to_string()));
            return record;
        }
    };
    let row = report.row();
    let answered = report.requests > 0;
    record.connections_up = row.connections_up;
    record.connections_open_at_end = row.connections_open_at_end;
    record.ramp_s = row.ramp_s.map(|s| round(s, 3));
    record.duration_s = round(row.duration_s, 3);
    record.requests = row.requests;
    record.req_per_s = round(row.req_per_s, 1);
    record.p50_us = answered.then_some(row.p50_us);
    record.p99_us = answered.then_some(row.p99_us);
    record.p999_us = answered.then_some(row.p999_us);
    record.max_us = answered.then_some(row.max_us);
    record.errors = row.errors;
    record.errors_by_kind = report
        .errors
        .by_kind()
        .iter()
        .map(|(kind, n)| format!("{kind}={n}"))
        .collect::<Vec<_>>()
        .join(";");
    record.slow_connects = row.slow_connects;
    record.listen_overflows = row.listen_overflows;
    record.listen_drops = row.listen_drops;
    record.outcome = report.outcome.name().to_string();
    record.load_threads = row.threads as u64;

    // The samples of the measured window; if it was too short for one,
    // the last sample taken.
    // The window as planned: the report's duration runs on to when the
    // load stopped, and by then connections are closing.
    let start = report.started_at;
    let planned = match plan.load.limit {
        RunLimit::Duration(duration) => duration.as_secs_f64(),
        RunLimit::Requests(_) => report.duration_s,
    };
    let end = start + Duration::from_secs_f64(report.duration_s.min(planned));
    let mut window: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= start && s.at <= end)
        .collect();
    if window.is_empty() {
        // A window too short for a sample (or a run that ended early):
        // the last sample before its end.
        window.extend(samples.iter().rev().find(|s| s.at <= end));
    }
    let (holdings, incomplete) = complete_holdings(&window);
    record.incomplete_samples = incomplete.len() as u64;
    record.incomplete_reason = incomplete.first().map_or(String::new(), |r| csv_safe(r));
    // Sockets are counted in some samples only; a window too short for one
    // takes the last count before its end.
    let mut counted: Vec<u64> = holdings.iter().filter_map(|h| h.sockets).collect();
    if counted.is_empty() {
        counted.extend(
            samples
                .iter()
                .rev()
                .filter(|s| s.at <= end)
                .find_map(|s| s.holding.as_ref().ok()?.sockets),
        );
    }
    let (Some(idle_holding), Some(idle_sockets), false) = (
        idle.holding.as_ref().ok().copied(),
        idle.holding.as_ref().ok().and_then(|h| h.sockets),
        holdings.is_empty() || counted.is_empty(),
    ) else {
        return record; // the server was gone
    };
    let above_idle: Vec<u64> = counted
        .iter()
        .map(|n| n.saturating_sub(idle_sockets))
        .collect();
    // With no error and every connection still open at the end, the
    // server accepted each one the load had up: a count below that missed
    // some of its sockets, and is set apart like an unreadable sample.
    let proven = (record.errors == 0 && record.connections_open_at_end == record.connections_up)
        .then_some(record.connections_up);
    let (held, short) = held_over(&above_idle, proven);
    if short > 0 {
        record.incomplete_samples += short as u64;
        if record.incomplete_reason.is_empty() {
            record.incomplete_reason = format!(
                "{short} socket count(s) below the {} connections the load held open with no error",
                record.connections_up
            );
        }
    }
    let rss_kb = holdings.iter().map(|h| h.rss_kb).max().unwrap_or(0);
    record.server_connections = Some(held);
    record.server_threads = holdings.iter().map(|h| h.threads).max();
    record.server_descriptors_most = holdings.iter().filter_map(|h| h.descriptors_most).max();
    record.server_rss_kb = Some(rss_kb);
    record.rss_per_connection_kib =
        per_connection(rss_kb.saturating_sub(idle_holding.rss_kb), held);
    if let Some(idle_kernel) = idle.kernel {
        let grown = window
            .iter()
            .filter_map(|s| s.kernel)
            .map(|k| k.since(idle_kernel));
        let (buffers, slab) = grown.fold((0, 0), |(b, s), k| {
            (b.max(k.tcp_buffers_kib), s.max(k.slab_kib))
        });
        // Both ends of every connection the generator had up are in the
        // kernel, accepted by the server or still in its queue.
        let up = record.connections_up;
        record.kernel_tcp_buffers_kb = Some(buffers);
        record.kernel_slab_kb = Some(slab);
        record.tcp_buffers_per_connection_kib = per_connection(buffers, up);
        record.slab_per_connection_kib = per_connection(slab, up);
    }
    let cores = Cores::between(window[0], window[window.len() - 1]);
    record.server_cores = cores.server;
    record.load_cores = cores.load;
    record.other_cores = cores.other;
    record.steal_cores = cores.steal;
    record.sampler_cores = cores.sampler;
    let losses = losses_between(window[0], window[window.len() - 1]);
    record.backlog_drops = losses.map(|l| l.backlog_drops);
    record.data_retransmits = losses.map(|l| l.data_retransmits);
    record
}

/// What the server held in each complete sample of `window`, and why
/// each other sample was incomplete. Only complete samples count: one
/// without a process of the server would say fewer sockets and less
/// memory than it held.
fn complete_holdings<'a>(window: &[&'a Sample]) -> (Vec<Holding>, Vec<&'a String>) {
    let holdings = window
        .iter()
        .filter_map(|s| s.holding.as_ref().ok().copied())
        .collect();
    let incomplete = window
        .iter()
        .filter_map(|s| s.holding.as_ref().err())
        .collect();
    (holdings, incomplete)
}

/// The connections held through the window: the fewest of the samples'
/// socket counts (above the idle count), leaving out those below
/// `proven` (what the server must have held), with how many were left
/// out; if every count is below it, the fewest of them all.
fn held_over(above_idle: &[u64], proven: Option<u64>) -> (u64, usize) {
    let short = proven.map_or(0, |p| above_idle.iter().filter(|&&n| n < p).count());
    let fewest_full = above_idle
        .iter()
        .copied()
        .filter(|&n| proven.map_or(true, |p| n >= p))
        .min();
    let held = fewest_full.or_else(|| above_idle.iter().copied().min());
    (held.unwrap_or(0), short)
}

/// `kib` shared over `connections`, to two decimals; none without connections.
fn per_connection(kib: u64, connections: u64) -> Option<f64> {
    (connections > 0).then(|| round(kib as f64 / connections as f64, 2))
}

/// One second of one server's measured window: the load's figures and
/// what else used the machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineRow {
    /// Which server.
    pub engine: String,
    /// Seconds since measuring began.
    pub second: u64,
    /// Correct answers in that second.
    pub requests: u64,
    /// Errors in that second.
    pub errors: u64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// Largest latency, µs.
    pub max_us: u64,
    /// Cores used by the server, the load and the rest of the machine, and
    /// stolen by the hypervisor, between the samples around that second
    /// (the last before it, the first after it: a little over a second;
    /// empty at the ends of the run), as in [`ScenarioRecord`].
    pub server_cores: Option<f64>,
    #[allow(missing_docs)]
    pub load_cores: Option<f64>,
    #[allow(missing_docs)]
    pub other_cores: Option<f64>,
    #[allow(missing_docs)]
    pub steal_cores: Option<f64>,
    /// Backlog drops and data retransmits between the same samples.
    pub backlog_drops: Option<u64>,
    #[allow(missing_docs)]
    pub data_retransmits: Option<u64>,
}

/// The per-second rows of one server's run.
pub(super) fn timeline_of(
    engine: &str,
    report: &LoadReport,
    samples: &[Sample],
) -> Vec<TimelineRow> {
    report
        .intervals
        .iter()
        .map(|interval| {
            let from = report.started_at + Duration::from_secs(interval.second);
            let to = from + Duration::from_secs(1);
            // The samples around the second: the last at or before its
            // start, the first at or after its end.
            let before = samples.iter().rev().find(|s| s.at <= from);
            let after = samples.iter().find(|s| s.at >= to);
            let (cores, losses) = match (before, after) {
                (Some(first), Some(last)) => {
                    (Cores::between(first, last), losses_between(first, last))
                }
                _ => (Cores::default(), None),
            };
            let latency = &interval.latency_us;
            TimelineRow {
                engine: engine.to_string(),
                second: interval.second,
                requests: interval.requests,
                errors: interval.errors.total(),
                p50_us: latency.value_at_quantile(0.5),
                p99_us: latency.value_at_quantile(0.99),
                max_us: latency.max(),
                server_cores: cores.server,
                load_cores: cores.load,
                other_cores: cores.other,
                steal_cores: cores.steal,
                backlog_drops: losses.map(|l| l.backlog_drops),
                data_retransmits: losses.map(|l| l.data_retransmits),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn sample(holding: Result<Holding, String>) -> Sample {
        Sample {
            at: SystemTime::now(),
            holding,
            kernel: None,
            server_cpu_s: None,
            load_cpu_s: None,
            machine: None,
            losses: None,
            sampler_cpu_s: 0.0,
        }
    }

    /// A sample in which a child could not be read is set apart with its
    /// reason, so the fewest sockets are taken over the complete ones.
    #[test]
    fn an_incomplete_sample_does_not_lower_held() {
        let full = Holding {
            sockets: Some(100_001),
            ..Holding::default()
        };
        let samples = [
            sample(Ok(full)),
            sample(Err("process 7 of the server could not be read".to_string())),
            sample(Ok(full)),
        ];
        let window: Vec<&Sample> = samples.iter().collect();
        let (holdings, incomplete) = complete_holdings(&window);
        let fewest = holdings.iter().filter_map(|h| h.sockets).min();
        assert_eq!(fewest, Some(100_001));
        assert_eq!(incomplete.len(), 1);
        assert!(incomplete[0].contains("process 7"));
    }

    /// A count below what the load proved the server held (no error,
    /// every connection open at the end) is set apart, not taken as held;
    /// without that proof, the fewest count is held.
    #[test]
    fn a_count_below_the_proven_connections_is_set_apart() {
        assert_eq!(
            held_over(&[100_000, 71_937, 100_000], Some(100_000)),
            (100_000, 1)
        );
        assert_eq!(held_over(&[100_000, 71_937], None), (71_937, 0));
        assert_eq!(held_over(&[9_996, 9_990], Some(15_000)), (9_990, 2));
        assert_eq!(held_over(&[], Some(10)), (0, 0));
    }
}
