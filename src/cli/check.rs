//! `sockbench check`: grade any stream server (a student's, ours, one
//! already running) with the checks that test sockbench's own engines,
//! and print a scorecard: one line per check, with the evidence of each
//! failure. Exit 0 only when every check passed.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::check::{self, Outcome};
use crate::engine::ListenAddr;
use crate::external::ServerCommand;
use crate::service::ServiceKind;

/// Options of `sockbench check`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sockbench check --server 'python3 examples/lab_select_echo.py {port}' --service echo
  sockbench check --server 'sockbench serve --engine reactor --addr {addr}' --service http
  sockbench check --addr 127.0.0.1:7000 --service upper     # a server already running

In --server, {port} becomes a free loopback port, {addr} 127.0.0.1:PORT and
{unix} a Unix socket path; the command runs through no shell, in a process
group of its own that is stopped (SIGTERM, then SIGKILL) at the end.
docs/LAB.md is an assignment built on this command.")]
pub struct CheckArgs {
    /// Start the server from this command (quotes respected, no shell);
    /// it must contain {port}, {addr} or {unix}.
    #[arg(long, required_unless_present_any = ["addr", "unix"], conflicts_with_all = ["addr", "unix"])]
    pub server: Option<String>,

    /// Check a server already running at this loopback IP:PORT.
    #[arg(long, value_parser = super::parse_socket_addr, conflicts_with = "unix")]
    pub addr: Option<std::net::SocketAddr>,

    /// Check a server already running on this Unix socket.
    #[arg(long, value_name = "PATH")]
    pub unix: Option<PathBuf>,

    /// The protocol the server speaks.
    #[arg(long, value_enum)]
    pub service: ServiceKind,

    /// How long a --server command may take to accept its first connection.
    #[arg(long, default_value = "10s", value_parser = super::parse_duration)]
    pub ready_timeout: Duration,

    /// How long the server may take to exit on SIGTERM before it is killed.
    #[arg(long, default_value = "2s", value_parser = super::parse_duration)]
    pub grace: Duration,
}

/// Run `sockbench check`.
pub fn run(args: CheckArgs) -> io::Result<ExitCode> {
    if args.service == ServiceKind::Length {
        return Err(io::Error::other(
            "the length service answers datagrams; check grades stream servers: pick echo, upper, frame, http, hello, fixed16 or discard",
        ));
    }
    // The hostile checks hold hundreds of connections (two descriptors
    // each for the slow clients): more than the usual soft limit of 1,024.
    rlimit::increase_nofile_limit(u64::MAX)?;
    let (server, addr, what) = match (&args.server, args.addr, &args.unix) {
        (Some(command), _, _) => {
            let command = ServerCommand::parse(command)?;
            let server = command.start(args.ready_timeout, args.grace)?;
            let addr = server.addr().clone();
            let what = format!("'{}'", server.command_line());
            (Some(server), addr, what)
        }
        (None, Some(addr), _) if !addr.ip().is_loopback() => {
            return Err(io::Error::other(format!(
                "{addr} is not a loopback address: check sends hostile traffic, so it grades only servers on this machine (127.0.0.0/8, [::1]) or a --unix socket"
            )))
        }
        (None, Some(addr), _) => (None, ListenAddr::Tcp(addr), addr.to_string()),
        (None, None, Some(path)) => (None, ListenAddr::Unix(path.clone()), path.display().to_string()),
        (None, None, None) => unreachable!("clap requires --server, --addr or --unix"),
    };
    println!(
        "checking {what} (service {}) at {addr}",
        args.service.name()
    );
    let outcomes = check::run_all(&addr, args.service, print_outcome);
    let passed = outcomes.iter().filter(|o| o.result.is_ok()).count();
    println!("{passed} of {} checks passed", outcomes.len());
    if let Some(server) = server {
        let excerpt = server.stderr_excerpt();
        if passed < outcomes.len() && !excerpt.is_empty() {
            println!("the server's last lines on stderr:{excerpt}");
        }
        server.stop()?;
    }
    Ok(if passed == outcomes.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Width of the name column: the longest check name.
const NAME_COLUMNS: usize = 28;

/// One scorecard line, and for a failure its evidence below it.
fn print_outcome(outcome: &Outcome) {
    let Outcome {
        check,
        result,
        elapsed,
    } = outcome;
    let verdict = if result.is_ok() { "pass" } else { "FAIL" };
    println!(
        "  {verdict}  {:<NAME_COLUMNS$} {} ({:.1} s)",
        check.name,
        check.summary,
        elapsed.as_secs_f64()
    );
    if let Err(failure) = result {
        let indent = " ".repeat(8);
        println!("{indent}sent:     {}", failure.sent);
        println!("{indent}expected: {}", failure.expected);
        println!("{indent}got:      {}", failure.got);
    }
}
