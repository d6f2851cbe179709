//! The load report as a person reads it: the summary `sockbench load`
//! prints (requests, latency, connections, errors, the outcome), and the
//! lines that explain what went wrong.

use std::fmt;

use super::*;

/// A latency in µs, shown in the unit that reads best.
pub fn format_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=999_999 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

impl fmt::Display for LoadReport {
    /// The human summary printed at the end of `sockbench load`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.rate_per_s {
            Some(rate) => format!("rate {rate} req/s, pipeline {}", self.pipeline),
            None => format!("pipeline {}", self.pipeline),
        };
        // A server sockbench did not write is asked what the user said,
        // so the request replaces the size.
        let (what, size) = match &self.wire {
            Some((name, asked)) => (format!("{name} {asked}"), String::new()),
            None => (
                self.service.name().to_owned(),
                format!(", size {} B", self.size_bytes),
            ),
        };
        writeln!(
            f,
            "{what} on {}: connections {}, threads {}, {mode}{size}, {:.2} s measured",
            self.target, self.connections, self.threads, self.duration_s
        )?;
        writeln!(
            f,
            "  requests  {} ({:.1} req/s, {:.2} MB/s)",
            self.requests,
            self.req_per_s(),
            self.mb_per_s()
        )?;
        let rows = [
            ("p50", 50.0),
            ("p90", 90.0),
            ("p99", 99.0),
            ("p99.9", 99.9),
            ("max", 100.0),
        ];
        match &self.uncorrected_latency_us {
            // Percentiles of nothing would read as a result of 0 µs.
            _ if self.requests == 0 => writeln!(f, "  latency   none: {}", self.why_no_answer())?,
            None => {
                let parts: Vec<String> = rows
                    .iter()
                    .map(|(name, p)| format!("{name} {}", format_us(self.percentile_us(*p))))
                    .collect();
                writeln!(f, "  latency   {}", parts.join("  "))?;
            }
            Some(uncorrected) => {
                writeln!(
                    f,
                    "  latency   {:>12} {:>14}   (corrected: from the intended send time)",
                    "corrected", "uncorrected"
                )?;
                for (name, p) in rows {
                    writeln!(
                        f,
                        "    {name:<7} {:>12} {:>14}",
                        format_us(self.percentile_us(p)),
                        format_us(uncorrected.value_at_percentile(p))
                    )?;
                }
            }
        }
        self.fmt_connections(f)?;
        if self.is_udp {
            writeln!(
                f,
                "  loss      {} of {} sent ({:.2}%): no answer within the request timeout, not resent",
                self.errors.lost,
                self.sent,
                100.0 * self.loss_rate()
            )?;
        }
        writeln!(f, "  errors    {}", self.errors)?;
        self.fmt_failed_answers(f)?;
        self.fmt_local_limits(f)?;
        write!(f, "  outcome   {}", self.outcome)
    }
}

impl LoadReport {
    /// Why a run has no latency to show: what its requests met instead.
    pub fn why_no_answer(&self) -> String {
        if self.errors.get(ErrorKind::Invalid) > 0 {
            format!(
                "no answer was valid ({} invalid)",
                self.errors.get(ErrorKind::Invalid)
            )
        } else if self.errors.get(ErrorKind::Closed) > 0 {
            // Closed with answers owed and never one answer: a server that
            // reads a request it does not understand and hangs up.
            format!(
                "no request was answered: the connection was closed before any answer ({} closed; errors: {}): does the server speak --service {}?",
                self.errors.get(ErrorKind::Closed),
                self.errors,
                self.wire.as_ref().map_or(self.service.name(), |(protocol, _)| protocol)
            )
        } else if self.errors.total() > 0 {
            format!("no request was answered (errors: {})", self.errors)
        } else {
            "no request was answered".to_string()
        }
    }

    /// Connections asked for and up, the ramp, connect times, and what
    /// explains slow connects.
    fn fmt_connections(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let asked = self.connections;
        let up = self.ramp.up;
        let ramp = match self.ramp.duration_s {
            Some(s) if !self.is_ramp_in_window() => format!("all up after a {s:.2} s ramp"),
            Some(s) => format!("{up} up when the ramp limit ended the ramp after {s:.2} s"),
            None => format!("{up} up when the run stopped, before the ramp ended"),
        };
        writeln!(
            f,
            "  connections {asked} asked, {ramp}, {} open at the end",
            self.connections_open_at_end
        )?;
        if self.ramp.duration_s.is_none() {
            writeln!(
                f,
                "  WARNING   the run stopped before every connection was up ({up} of {asked}): nothing was measured"
            )?;
        } else if self.is_ramp_in_window() {
            let all_up = match self.ramp.all_up_s {
                Some(s) => format!("all were up after {s:.2} s"),
                None => "they never all were".to_owned(),
            };
            writeln!(
                f,
                "  WARNING   only {up} of {asked} connections were up when measuring began ({all_up}): the ramp is inside the measured window, and latencies and the rate include connecting (see failed and slow connects below)"
            )?;
        }
        if let (Some(per_connection), Some(rate)) =
            (self.requests_per_connection, self.connections_per_s())
        {
            writeln!(
                f,
                "  per conn  {per_connection} request(s), then the client closes: {rate:.1} connections/s; each connection's first request is timed from the start of its connect"
            )?;
        }
        let connect = self.connect();
        let slow = self.slow_connects();
        writeln!(
            f,
            "  connect   p50 {}  p99 {}  max {}  ({} established, {} failed, {slow} slower than 1 s)",
            format_us(connect.p50_us),
            format_us(connect.p99_us),
            format_us(connect.max_us),
            self.connections_established,
            self.connections_failed
        )?;
        if self.closed_by_server > 0 {
            writeln!(
                f,
                "  closed by server (reconnected) {}: after a whole answer, as HTTP/1.0 and Connection: close do; not errors, but each answer then pays a connect",
                self.closed_by_server
            )?;
        }
        if let Some(queue) = self.listen_queue {
            write!(
                f,
                "  listen    ListenOverflows +{}, ListenDrops +{} during the run (kernel counters, every listener on this machine)",
                queue.overflows, queue.drops
            )?;
            if queue.drops > 0 {
                write!(
                    f,
                    ": a SYN dropped at a full accept queue is sent again after 1 s; a larger server --backlog (and net.core.somaxconn) or a lower --connect-rate avoids it"
                )?;
            } else if slow > 0 {
                write!(
                    f,
                    ": no SYN was dropped at a listener, so the slow connects were slow here: a busy generator sees a connect complete only when its loop gets to it, and connect() itself is slow in a crowded port range (more --source addresses, more --processes or a lower --connect-rate)"
                )?;
            }
            writeln!(f)?;
        }
        Ok(())
    }

    /// Each kind of failed answer with its count and the first one's text
    /// (an HTTP head shown line by line), and the first invalid answer.
    fn fmt_failed_answers(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for failed in &self.failed_answers.kinds {
            writeln!(
                f,
                "  failed    {} x{}, the first:",
                failed.kind, failed.count
            )?;
            for line in failed.first_text.lines() {
                // Control bytes (a server may send any) would garble the terminal.
                let shown = line.replace(|c: char| c.is_control(), "?");
                writeln!(f, "              {shown}")?;
            }
        }
        if let Some(why) = &self.failed_answers.first_invalid {
            writeln!(f, "  invalid   the first: {why}")?;
        }
        Ok(())
    }

    /// What to change when this machine ran out of ports or descriptors.
    fn fmt_local_limits(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errors.no_port > 0 {
            let range = PortRange::read().map_or_else(
                |_| "net.ipv4.ip_local_port_range".to_owned(),
                |range| format!("{range}: {} ports", range.ports()),
            );
            writeln!(
                f,
                "  limit     {} connects found no free local port (EADDRNOTAVAIL): one source address holds one connection per port toward a server ({range}); add --source 127.0.0.2-127.0.0.9, or widen net.ipv4.ip_local_port_range",
                self.errors.no_port
            )?;
        }
        if self.errors.no_descriptor > 0 {
            writeln!(
                f,
                "  limit     {} sockets could not be opened (EMFILE/ENFILE): the process's open-file limit (ulimit -n) or the system's (fs.file-max) was reached; spread the connections over --processes, or raise the limit",
                self.errors.no_descriptor
            )?;
        }
        Ok(())
    }
}
