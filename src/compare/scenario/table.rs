//! A scenario's table: one row per server, then what each server that fell
//! short ran into.

use super::record::ScenarioRecord;
use super::Plan;
use crate::compare::steal::{steal, steal_note};

/// One line of headline figures for the progress output.
pub(super) fn headline(record: &ScenarioRecord) -> String {
    let held = record
        .server_connections
        .map_or("?".to_string(), |n| n.to_string());
    format!(
        "held {held} of {} connections, {:.0} req/s, p99 {}, {} errors{}, {}",
        record.connections,
        record.req_per_s,
        micros(record.p99_us),
        record.errors,
        if record.errors_by_kind.is_empty() {
            String::new()
        } else {
            format!(" ({})", record.errors_by_kind)
        },
        record.outcome
    )
}

/// A latency for the table: µs under 10 ms, ms above; `-` without one.
fn micros(us: Option<u64>) -> String {
    match us {
        None => "-".to_string(),
        Some(us) if us < 10_000 => format!("{us} µs"),
        Some(us) => format!("{:.1} ms", us as f64 / 1000.0),
    }
}

/// The table: one row per server, then a line per server that fell short,
/// saying what it ran into.
pub fn render(plan: &Plan, records: &[ScenarioRecord]) -> String {
    let mut text = format!("{}\n\n", plan.describe());
    text.push_str("| engine | held / asked | up at start | req/s | p50 | p99 | max | errors | server RSS | RSS per conn | threads | kernel per conn (buffers + slab) | cores: server, load, others, steal | outcome |\n");
    text.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let kib = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} KiB"));
    for r in records {
        let kernel = match (r.tcp_buffers_per_connection_kib, r.slab_per_connection_kib) {
            (Some(b), Some(s)) => format!("{b:.1} + {s:.1} KiB"),
            _ => "-".to_string(),
        };
        text.push_str(&format!(
            "| {} | {} / {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {kernel} | {} | {} |\n",
            r.engine,
            held(r),
            r.connections,
            r.connections_up,
            r.req_per_s,
            micros(r.p50_us),
            micros(r.p99_us),
            micros(r.max_us),
            if r.errors == 0 {
                "0".to_string()
            } else {
                format!("{} ({})", r.errors, r.errors_by_kind)
            },
            r.server_rss_kb.map_or("-".to_string(), |kb| format!(
                "{:.1} MiB",
                kb as f64 / 1024.0
            )),
            kib(r.rss_per_connection_kib),
            r.server_threads.map_or("-".to_string(), |n| n.to_string()),
            cores(r),
            r.outcome,
        ));
    }
    text.push_str(&steal_note(
        records.iter().map(|r| (r.engine.as_str(), r.steal_cores)),
    ));
    let short: Vec<&ScenarioRecord> = records
        .iter()
        .filter(|r| {
            r.server_connections != Some(r.connections)
                || r.errors > 0
                || r.incomplete_samples > 0
                || r.data_retransmits.is_some_and(|n| n > 0)
        })
        .collect();
    if !short.is_empty() {
        text.push_str("\nWhere a server fell short:\n");
        for r in short {
            text.push_str(&format!("- {}: {}\n", r.engine, shortfall(r)));
        }
    }
    text
}

/// Connections held, marked `*` when some samples were incomplete (held
/// is then taken over the others).
fn held(r: &ScenarioRecord) -> String {
    let mark = if r.incomplete_samples > 0 { "*" } else { "" };
    r.server_connections
        .map_or("-".to_string(), |n| format!("{n}{mark}"))
}

/// Cores used in the window: the server, the load, the rest of the
/// machine and the hypervisor's steal (`-` where unknown).
fn cores(r: &ScenarioRecord) -> String {
    let show = |cores: Option<f64>| cores.map_or("-".to_string(), |c| format!("{c:.2}"));
    format!(
        "{}, {}, {}, {}",
        show(r.server_cores),
        show(r.load_cores),
        show(r.other_cores),
        steal(r.steal_cores)
    )
}

/// What one server ran into, from its row.
fn shortfall(r: &ScenarioRecord) -> String {
    let mut parts = vec![format!(
        "held {} of {} connections through the window ({} up when measuring began)",
        r.server_connections
            .map_or("?".to_string(), |n| n.to_string()),
        r.connections,
        r.connections_up
    )];
    if r.incomplete_samples > 0 {
        parts.push(format!(
            "{} of the window's samples were incomplete ({}): held and memory are taken over the others (marked *)",
            r.incomplete_samples, r.incomplete_reason
        ));
    }
    if let Some(most) = r.server_descriptors_most {
        parts.push(format!(
            "{most} descriptors open in its busiest process (limit {})",
            r.descriptor_limit
        ));
    }
    if r.errors > 0 {
        parts.push(format!("errors {}", r.errors_by_kind.replace(';', ", ")));
    }
    if let (Some(drops), Some(resent)) = (r.backlog_drops, r.data_retransmits) {
        if drops + resent > 0 {
            parts.push(format!(
                "in the window the kernel dropped {drops} packets at a full backlog queue and sent {resent} data segments again (each at least 200 ms late)"
            ));
        }
    }
    if r.slow_connects > 0 {
        parts.push(format!("{} connects over 1 s", r.slow_connects));
    }
    if let (Some(overflows), Some(drops)) = (r.listen_overflows, r.listen_drops) {
        if overflows + drops > 0 {
            parts.push(format!(
                "ListenOverflows +{overflows}, ListenDrops +{drops} (its accept queue was full)"
            ));
        }
    }
    if !r.server_log.is_empty() {
        parts.push(format!("the server's last message: \"{}\"", r.server_log));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::super::record::empty_record;
    use super::super::Scenario;
    use super::*;

    /// A row with incomplete samples marks held and says why under the
    /// table; steal above 0.1 core is shown beside the other cores, marked.
    #[test]
    fn the_table_shows_incomplete_samples_and_steal() {
        let plan = Scenario::C100k.plan(1.0);
        let mut record = empty_record(&plan, &plan.servers[0], 0, String::new());
        record.server_connections = Some(100_000);
        record.incomplete_samples = 2;
        record.incomplete_reason = "process 7 of the server could not be read".to_string();
        record.steal_cores = Some(0.36);
        let table = render(&plan, &[record]);
        assert!(table.contains("| 100000* / 100000 |"), "{table}");
        assert!(table.contains(", 0.36! |"), "{table}");
        assert!(
            table.contains("2 of the window's samples were incomplete (process 7 of the server could not be read)"),
            "{table}"
        );
        assert!(table.contains("prefork-x8 (0.36)"), "{table}");
    }
}
