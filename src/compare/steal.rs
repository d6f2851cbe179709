//! The hypervisor's steal beside a table's other cores: how it is shown,
//! and the mark and note for a row whose window lost more than
//! [`STEAL_MARK_CORES`] to other guests (see `docs/METHOD.md`, "Steal").

/// Steal above this, in cores, marks a row: its latency and throughput
/// may be the machine's, not the server's.
pub const STEAL_MARK_CORES: f64 = 0.1;

/// Steal in cores for a table cell, `!` after it above [`STEAL_MARK_CORES`];
/// `-` where unknown.
pub fn steal(cores: Option<f64>) -> String {
    match cores {
        None => "-".to_string(),
        Some(c) if c > STEAL_MARK_CORES => format!("{c:.2}!"),
        Some(c) => format!("{c:.2}"),
    }
}

/// The note under a table naming the rows marked `!`; empty if none.
pub fn steal_note<'a>(rows: impl IntoIterator<Item = (&'a str, Option<f64>)>) -> String {
    let marked: Vec<String> = rows
        .into_iter()
        .filter(|(_, cores)| cores.is_some_and(|c| c > STEAL_MARK_CORES))
        .map(|(name, cores)| format!("{name} ({:.2})", cores.unwrap_or(0.0)))
        .collect();
    if marked.is_empty() {
        return String::new();
    }
    format!(
        "\n! the hypervisor took more than {STEAL_MARK_CORES} core from this machine during the window of {}: \
         its latency and req/s may be the machine's, not the server's; run it again on a quiet machine\n",
        marked.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only steal above 0.1 core is marked and named in the note.
    #[test]
    fn steal_above_a_tenth_of_a_core_is_marked_and_noted() {
        assert_eq!(steal(Some(0.05)), "0.05");
        assert_eq!(steal(Some(0.36)), "0.36!");
        assert_eq!(steal(None), "-");
        assert_eq!(steal_note([("reactor", Some(0.05)), ("pool", None)]), "");
        let note = steal_note([("reactor", Some(0.05)), ("prefork-x8", Some(0.36))]);
        assert!(note.contains("prefork-x8 (0.36)"), "{note}");
        assert!(!note.contains("reactor"), "{note}");
    }
}
