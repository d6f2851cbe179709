//! HdrHistogram interval logs: the standard V2 text format (one compressed,
//! base64 histogram per line and interval) that HdrHistogram's Java
//! `HistogramLogProcessor` and other tools read.
//!
//! A load run writes one line per second of latency (µs), untagged; in rate
//! mode also the uncorrected latency, tagged [`UNCORRECTED_TAG`]; and one
//! line of connect times (µs, ramp and warmup included), tagged
//! [`CONNECT_TAG`]. When one
//! machine cannot make enough load, run a generator on each machine with
//! `--hdr-log`, then `sockbench merge-hdr a.hlog b.hlog`: histograms add up
//! exactly, so the merged percentiles are those of all requests together (an
//! average of percentiles would not be).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use super::report::{format_us, LoadReport, Percentiles};
use super::stats::{add_histogram, new_histogram};

/// Tag of the rate-mode lines measured from the actual send time.
pub const UNCORRECTED_TAG: &str = "uncorrected";

/// Tag of the line of connect times.
pub const CONNECT_TAG: &str = "connect";

/// One histogram line of a log.
#[derive(Debug, Clone, Copy)]
pub struct LogInterval<'a> {
    /// Start, relative to the log's start time.
    pub start: Duration,
    /// Length of the interval.
    pub length: Duration,
    /// Values in µs.
    pub histogram: &'a Histogram<u64>,
    /// `None` for the main (corrected) latency.
    pub tag: Option<&'a str>,
}

/// Write the report's per-second latencies as an interval log file.
pub fn write_log(path: &Path, report: &LoadReport) -> io::Result<()> {
    let end = Duration::from_secs_f64(report.duration_s);
    let mut lines = Vec::new();
    for interval in &report.intervals {
        let start = Duration::from_secs(interval.second);
        let length = end.saturating_sub(start).min(Duration::from_secs(1));
        lines.push(LogInterval {
            start,
            length,
            histogram: &interval.latency_us,
            tag: None,
        });
        if let Some(uncorrected) = &interval.uncorrected_us {
            lines.push(LogInterval {
                start,
                length,
                histogram: uncorrected,
                tag: Some(UNCORRECTED_TAG),
            });
        }
    }
    lines.push(LogInterval {
        start: Duration::ZERO,
        length: end,
        histogram: &report.connect_us,
        tag: Some(CONNECT_TAG),
    });
    let comment = format!(
        "sockbench load: {} on {}, {} connections; values in microseconds",
        report.protocol(),
        report.target,
        report.connections
    );
    let mut file = io::BufWriter::new(std::fs::File::create(path)?);
    write_intervals(&mut file, &comment, report.started_at, &lines)?;
    file.flush()
}

/// Write an interval log: a comment, the start time (also the base time, so
/// interval starts are seconds since it), then one line per interval.
pub fn write_intervals<W: Write>(
    out: &mut W,
    comment: &str,
    started_at: SystemTime,
    intervals: &[LogInterval<'_>],
) -> io::Result<()> {
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment(comment)
        .with_start_time(started_at)
        .with_base_time(started_at)
        .begin_log_with(out, &mut serializer)?;
    for interval in intervals {
        let tag = match interval.tag {
            Some(name) => Some(
                Tag::new(name)
                    .ok_or_else(|| io::Error::other(format!("{name:?} cannot be a log tag")))?,
            ),
            None => None,
        };
        writer
            .write_histogram(interval.histogram, interval.start, interval.length, tag)
            .map_err(|err| io::Error::other(format!("cannot write a histogram: {err}")))?;
    }
    Ok(())
}

/// The sum of every histogram in one or more logs, by tag.
#[derive(Debug, Clone)]
pub struct MergedLog {
    /// Histograms by tag; the untagged (main) latency under `""`.
    pub by_tag: BTreeMap<String, Histogram<u64>>,
    /// Interval lines read.
    pub intervals: usize,
    /// The files read.
    pub files: Vec<PathBuf>,
}

impl MergedLog {
    /// The merged main latency (untagged lines), if any.
    pub fn latency(&self) -> Option<&Histogram<u64>> {
        self.by_tag.get("")
    }
}

/// One histogram line read back from a log.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Start, as written: time after the log's base time (sockbench's logs
    /// use the start of the measurement as base time).
    pub start: Duration,
    /// The tag; `""` for the main (corrected) latency.
    pub tag: String,
    /// Values in µs.
    pub histogram: Histogram<u64>,
}

/// Read every histogram line of one interval log.
pub fn read_log(path: &Path) -> io::Result<Vec<LogLine>> {
    let text = std::fs::read(path).map_err(|err| {
        io::Error::new(err.kind(), format!("cannot read {}: {err}", path.display()))
    })?;
    let bad = |what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is not an HdrHistogram interval log: {what}",
                path.display()
            ),
        )
    };
    let mut deserializer = Deserializer::new();
    let mut lines = Vec::new();
    for entry in IntervalLogIterator::new(&text) {
        let interval = match entry.map_err(|err| bad(format!("{err:?}")))? {
            LogEntry::Interval(interval) => interval,
            LogEntry::StartTime(_) | LogEntry::BaseTime(_) => continue,
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|err| bad(format!("bad base64: {err}")))?;
        let histogram: Histogram<u64> = deserializer
            .deserialize(&mut bytes.as_slice())
            .map_err(|err| bad(format!("bad histogram: {err:?}")))?;
        lines.push(LogLine {
            start: interval.start_timestamp(),
            tag: interval
                .tag()
                .map_or(String::new(), |t| t.as_str().to_owned()),
            histogram,
        });
    }
    Ok(lines)
}

/// Read interval logs and add up their histograms, by tag.
pub fn merge_logs(paths: &[PathBuf]) -> io::Result<MergedLog> {
    let mut merged = MergedLog {
        by_tag: BTreeMap::new(),
        intervals: 0,
        files: paths.to_vec(),
    };
    for path in paths {
        for line in read_log(path)? {
            add_histogram(
                merged.by_tag.entry(line.tag).or_insert_with(new_histogram),
                &line.histogram,
            );
            merged.intervals += 1;
        }
    }
    Ok(merged)
}

impl fmt::Display for MergedLog {
    /// Count and percentiles per tag, as `sockbench merge-hdr` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "merged {} intervals from {} files",
            self.intervals,
            self.files.len()
        )?;
        for (tag, histogram) in &self.by_tag {
            let name = if tag.is_empty() { "latency" } else { tag };
            let what = if tag == CONNECT_TAG {
                "connects"
            } else {
                "requests"
            };
            let p = Percentiles::of(histogram);
            writeln!(
                f,
                "  {name:<12} {} {what}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                histogram.len(),
                format_us(p.p50_us),
                format_us(p.p90_us),
                format_us(p.p99_us),
                format_us(p.p999_us),
                format_us(p.max_us)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = new_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    /// Two logs written then merged give the combined count and percentiles.
    #[test]
    fn merge_of_two_logs_adds_counts() {
        let dir = std::env::temp_dir();
        let a_path = dir.join(format!("sockbench-a-{}.hlog", std::process::id()));
        let b_path = dir.join(format!("sockbench-b-{}.hlog", std::process::id()));
        let fast = histogram(&[100; 90]);
        let slow = histogram(&[10_000; 10]);
        let uncorrected = histogram(&[50; 5]);
        let second = Duration::from_secs(1);
        let mut a = Vec::new();
        write_intervals(
            &mut a,
            "a",
            SystemTime::now(),
            &[
                LogInterval {
                    start: Duration::ZERO,
                    length: second,
                    histogram: &fast,
                    tag: None,
                },
                LogInterval {
                    start: Duration::ZERO,
                    length: second,
                    histogram: &uncorrected,
                    tag: Some(UNCORRECTED_TAG),
                },
            ],
        )
        .unwrap();
        let mut b = Vec::new();
        write_intervals(
            &mut b,
            "b",
            SystemTime::now(),
            &[LogInterval {
                start: second,
                length: second,
                histogram: &slow,
                tag: None,
            }],
        )
        .unwrap();
        std::fs::write(&a_path, a).unwrap();
        std::fs::write(&b_path, b).unwrap();
        let merged = merge_logs(&[a_path.clone(), b_path.clone()]).unwrap();
        std::fs::remove_file(a_path).unwrap();
        std::fs::remove_file(b_path).unwrap();
        assert_eq!(merged.intervals, 3);
        let latency = merged.latency().unwrap();
        assert_eq!(latency.len(), 100);
        assert_eq!(latency.value_at_quantile(0.5), 100);
        assert!(latency.value_at_quantile(0.95) >= 9_990);
        assert_eq!(merged.by_tag[UNCORRECTED_TAG].len(), 5);
    }

    /// A file that is not a log is refused with its name.
    #[test]
    fn merge_refuses_garbage() {
        let path = std::env::temp_dir().join(format!("sockbench-bad-{}.hlog", std::process::id()));
        std::fs::write(&path, "0.0,1.0,2.0,not base64!\n").unwrap();
        let err = merge_logs(std::slice::from_ref(&path)).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.to_string().contains("sockbench-bad"), "{err}");
    }
}
