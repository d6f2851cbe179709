//! `sockbench send --udp ADDR MESSAGE`: the notes' UDP client with timeout
//! and exponential backoff. Retries go to stderr, the answer to stdout.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::udp_client::{self, Backoff};

/// Options of `sockbench send`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sockbench serve --udp --service length --addr 127.0.0.1:7000 &
  sockbench send --udp 127.0.0.1:7000 hello          # The msg was 5 bytes long
  sockbench serve --udp --service upper --drop 0.3 --seed 1 &
  sockbench send --udp 127.0.0.1:7000 'hi there'     # retries are printed on stderr

The schedule is seed 001's: wait --timeout, double the wait after each
timeout, give up when the next wait would exceed --give-up (defaults: waits of
100, 200, 400, 800 and 1600 ms, then `no answer` after 3.1 s in all).")]
pub struct SendArgs {
    /// Send a UDP datagram (the only transport `send` speaks).
    #[arg(long, required = true)]
    pub udp: bool,

    /// The server's address, IP:PORT.
    #[arg(value_parser = super::parse_socket_addr)]
    pub addr: SocketAddr,

    /// The message, sent as one datagram (as given, no newline added).
    pub message: String,

    /// The first wait for an answer; doubled after each timeout.
    #[arg(long, default_value = "100ms", value_parser = super::parse_duration)]
    pub timeout: Duration,

    /// Give up when the next wait would be longer than this.
    #[arg(long, default_value = "2s", value_parser = super::parse_duration)]
    pub give_up: Duration,
}

/// Run `sockbench send`.
pub fn run(args: SendArgs) -> io::Result<ExitCode> {
    let backoff = Backoff {
        initial: args.timeout,
        max_wait: args.give_up,
    };
    if backoff.waits().is_empty() {
        return Err(io::Error::other(
            "--timeout must be above zero and at most --give-up (e.g. --timeout 100ms --give-up 2s)",
        ));
    }
    let socket = udp_client::connect(args.addr)?;
    let outcome = udp_client::request(&socket, args.message.as_bytes(), &backoff, |retry| {
        eprintln!("{retry}");
    });
    match outcome {
        Ok(answer) => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(&answer.reply)?;
            if !answer.reply.ends_with(b"\n") {
                writeln!(stdout)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("sockbench: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}
