//! `sockbench talk ADDR`: a `nc` of our own, for trying a server by hand.
//!
//! TCP or a Unix socket: what is typed goes to the server as it comes, the
//! server's answers go to stdout; at the end of input the client
//! half-closes (`shutdown(Write)`), so the server sees EOF, and everything
//! it still sends is printed until it closes. With `--udp`, each line is
//! one datagram, sent with the notes' timeout and backoff, and its answer
//! printed.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::udp_client::{self, Backoff};

/// Options of `sockbench talk`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sockbench serve --service upper --addr 127.0.0.1:7000 &
  sockbench talk 127.0.0.1:7000                  # type lines, Ctrl-D to end
  printf 'one\\ntwo\\n' | sockbench talk 127.0.0.1:7000
  sockbench talk --unix /tmp/echo.sock
  sockbench talk --udp 127.0.0.1:7000            # each line one datagram

Only loopback addresses (127.0.0.0/8, [::1]) and Unix sockets, as every
sockbench command.")]
pub struct TalkArgs {
    /// The server's loopback address, IP:PORT.
    #[arg(value_parser = super::parse_socket_addr, required_unless_present = "unix")]
    pub addr: Option<SocketAddr>,

    /// Talk to the Unix domain stream socket at this path instead.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["addr", "udp"])]
    pub unix: Option<PathBuf>,

    /// Send each line as one UDP datagram and print its answer.
    #[arg(long)]
    pub udp: bool,
}

/// Run `sockbench talk`.
pub fn run(args: TalkArgs) -> io::Result<ExitCode> {
    if let Some(path) = &args.unix {
        let stream =
            UnixStream::connect(path).map_err(|err| connect_error(&path.display(), err))?;
        let writer = stream.try_clone()?;
        return relay(stream, writer, |s| s.shutdown(Shutdown::Write));
    }
    let addr = args.addr.expect("clap requires ADDR without --unix");
    if !addr.ip().is_loopback() {
        return Err(io::Error::other(format!(
            "{addr} is not a loopback address: sockbench talks only to servers on this machine (127.0.0.0/8, [::1]) or a --unix socket"
        )));
    }
    if args.udp {
        return talk_udp(addr);
    }
    let stream = TcpStream::connect(addr).map_err(|err| connect_error(&addr, err))?;
    let writer = stream.try_clone()?;
    relay(stream, writer, |s| s.shutdown(Shutdown::Write))
}

/// The error for a failed connect, with what to do about it.
fn connect_error(addr: &dyn std::fmt::Display, err: io::Error) -> io::Error {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => io::Error::other(format!(
            "connection refused at {addr}: is the server running?"
        )),
        io::ErrorKind::NotFound => io::Error::other(format!(
            "no socket at {addr}: is the server running, and is this its --unix path?"
        )),
        _ => io::Error::new(err.kind(), format!("cannot connect to {addr}: {err}")),
    }
}

/// Copy stdin to the server on a thread, half-closing at its end, and the
/// server's answers to stdout here until the server closes. `reader` and
/// `writer` are two handles to one connection.
fn relay<S>(
    mut reader: S,
    writer: S,
    shutdown_write: fn(&S) -> io::Result<()>,
) -> io::Result<ExitCode>
where
    S: Read + Write + Send + 'static,
{
    let sending = std::thread::spawn(move || -> io::Result<()> {
        let mut writer = writer;
        // A terminal hands over a line at a time; a pipe, what it has.
        let mut stdin = io::stdin().lock();
        let mut buf = [0u8; 8192];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => writer.write_all(&buf[..n])?,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        // No more requests: the server sees EOF and may answer the rest.
        shutdown_write(&writer)
    });
    let mut stdout = io::stdout().lock();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                stdout.write_all(&buf[..n])?;
                stdout.flush()?;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
                return Err(io::Error::other("the server reset the connection"));
            }
            Err(err) => return Err(err),
        }
    }
    // The server closed. Input still being typed has nowhere to go; an
    // error sending what was typed before is worth saying.
    if sending.is_finished() {
        if let Ok(Err(err)) = sending.join() {
            if err.kind() != io::ErrorKind::BrokenPipe {
                return Err(io::Error::other(format!(
                    "sending to the server failed: {err}"
                )));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Each stdin line as one datagram (without its newline), its answer on
/// stdout; retries are said on stderr, as `sockbench send` does.
fn talk_udp(addr: SocketAddr) -> io::Result<ExitCode> {
    let socket = udp_client::connect(addr)?;
    let backoff = Backoff::default();
    let mut stdout = io::stdout().lock();
    for line in io::stdin().lock().lines() {
        let line = line?;
        match udp_client::request(&socket, line.as_bytes(), &backoff, |retry| {
            eprintln!("{retry}")
        }) {
            Ok(answer) => {
                stdout.write_all(&answer.reply)?;
                if !answer.reply.ends_with(b"\n") {
                    writeln!(stdout)?;
                }
                stdout.flush()?;
            }
            Err(err) => {
                eprintln!("sockbench: {err}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
