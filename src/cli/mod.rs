//! The `sockbench` command line: argument types and one function per
//! subcommand. `src/main.rs` only parses and calls [`run`].

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod check;
pub mod compare;
pub mod demo;
pub mod interrupt;
pub mod load;
pub mod send;
pub mod serve;
pub mod talk;
pub mod verdict;

/// sockbench: the socket-programming lecture, made real and measurable.
///
/// Serve any protocol with any concurrency model (iterative, thread per
/// connection, worker pool, readiness loop), then measure the difference.
/// Every server and load run is meant for loopback (127.0.0.1, [::1] or a
/// Unix socket).
#[derive(Debug, Parser)]
#[command(name = "sockbench", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one server: an engine serving a service, until Ctrl-C or SIGTERM.
    Serve(serve::ServeArgs),
    /// Load a server: many connections, answers checked, latency histograms.
    Load(load::LoadArgs),
    /// Merge HdrHistogram logs from several load runs and print the percentiles.
    MergeHdr(load::MergeHdrArgs),
    /// Send one UDP datagram and wait for the answer, with timeout and backoff.
    Send(send::SendArgs),
    /// Talk to a server by hand: stdin to it, its answers to stdout (a `nc`).
    Talk(talk::TalkArgs),
    /// Grade any server with the conformance and hostile checks: a scorecard.
    Check(check::CheckArgs),
    /// Run a lecture demonstration (`--list` names them).
    Demo(demo::DemoArgs),
    /// Compare every engine and the reference servers: CSV, table, SVG plots.
    Compare(compare::CompareArgs),
    /// Redraw the SVG plots of a `compare` CSV.
    Plot(verdict::PlotArgs),
    /// Redo the statistics of a `compare --rounds` CSV against any baseline.
    Verdict(verdict::VerdictArgs),
}

/// Run the parsed command line; errors are printed as one line on stderr.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Load(args) => load::run(args),
        Command::MergeHdr(args) => load::run_merge_hdr(args),
        Command::Send(args) => send::run(args),
        Command::Talk(args) => talk::run(args),
        Command::Check(args) => check::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Compare(args) => compare::run_compare(args),
        Command::Plot(args) => verdict::run_plot(args),
        Command::Verdict(args) => verdict::run_verdict(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sockbench: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Set up logging to stderr: warnings by default (protocol errors, accept
/// trouble), more with `RUST_LOG=info` or `RUST_LOG=debug`.
pub fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("warn");
    let _ = env_logger::Builder::from_env(env)
        .format_target(false)
        .try_init();
}

/// Parse `IP:PORT` with a hint that shows the expected shape.
pub fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("'{s}' is not an address: expected IP:PORT such as 127.0.0.1:7000 or [::1]:7000")
    })
}

/// Parse a human duration such as `10s`, `500ms` or `2m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration ({e}): write it like 10s, 500ms or 2m"))
}
