//! `select` and `FD_SETSIZE`: `sockbench serve --engine select` as a child
//! process, filled with connections until the kernel hands it descriptor
//! 1,024. That connection is refused and closed with a logged reason (an
//! `fd_set` has no bit for it: setting one would write past the set), the
//! connections below the limit are served on, and a place freed below the
//! limit serves a new client again. The engine said at start what the
//! limit means.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use sockbench::engine::ListenAddr;
use sockbench::sys::process::ServerProcess;
use util::IO_TIMEOUT;

/// The descriptors `select` can watch: 0 to 1,023.
const FD_SETSIZE: usize = 1024;

/// This process holds its end of every connection the server can take,
/// and a few more: it needs this many descriptors.
const CLIENT_DESCRIPTORS: u64 = FD_SETSIZE as u64 + 64;

/// A new client connection, with timeouts set.
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream
}

/// Whether `stream` gets its echo of `ping`; `false` when the server
/// closes it instead (end of stream or a reset).
fn is_echoed(stream: &mut TcpStream) -> bool {
    if stream.write_all(b"ping").is_err() {
        return false;
    }
    let mut reply = [0u8; 4];
    match stream.read_exact(&mut reply) {
        Ok(()) => &reply == b"ping",
        Err(err) => {
            let kind = err.kind();
            assert!(
                matches!(
                    kind,
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ),
                "neither served nor closed cleanly: {err}"
            );
            false
        }
    }
}

/// The server's stderr once it contains every one of `needles` (it is read
/// on a helper thread), or as it is when `IO_TIMEOUT` has passed.
fn stderr_containing(server: &ServerProcess, needles: &[&str]) -> String {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let log = server.stderr_excerpt();
        if needles.iter().all(|needle| log.contains(needle)) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The connection that would need descriptor 1,024 is refused and closed
/// with the reason logged; every connection below is still served; a
/// place freed below the limit serves a new client.
#[test]
fn select_refuses_the_descriptor_past_fd_setsize_and_serves_the_others() {
    let limit = rlimit::increase_nofile_limit(u64::MAX).expect("raise RLIMIT_NOFILE");
    if limit < CLIENT_DESCRIPTORS {
        eprintln!(
            "skipped: this process may open only {limit} descriptors, and the test needs {CLIENT_DESCRIPTORS}"
        );
        return;
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_sockbench"));
    command.args([
        "serve",
        "--engine",
        "select",
        "--service",
        "echo",
        "--addr",
        "127.0.0.1:0",
    ]);
    let server = ServerProcess::start(command, IO_TIMEOUT).expect("start sockbench serve");
    let ListenAddr::Tcp(addr) = *server.addr() else {
        unreachable!("started on a TCP address")
    };

    // Each connection is served in turn until the server's descriptor for
    // the next one would be FD_SETSIZE or above.
    let mut served = Vec::new();
    let refused = loop {
        assert!(served.len() < FD_SETSIZE, "no connection refused");
        let mut client = connect(addr);
        if !is_echoed(&mut client) {
            break client;
        }
        served.push(client);
    };
    // The server's own descriptors (standard streams, listener, waker)
    // come first: a handful of places below the limit are not for clients.
    assert!(
        served.len() > FD_SETSIZE - 16,
        "refused after only {} connections",
        served.len()
    );
    drop(refused);
    let log = stderr_containing(&server, &["is at or above FD_SETSIZE (1024)"]);
    assert!(
        log.contains("select() cannot watch it"),
        "the refusal was not logged{log}"
    );
    assert!(
        log.contains("--engine poll has no such limit"),
        "no start line saying what the limit means{log}"
    );
    assert!(
        log.contains("--max-connections 16000 is above what select() can watch"),
        "no warning for --max-connections above the limit{log}"
    );

    // Every connection below the limit is still served.
    for (index, client) in served.iter_mut().enumerate() {
        assert!(is_echoed(client), "connection {index} no longer served");
    }
    // One leaves: once the server has closed its side (our read sees the
    // end), its descriptor is below the limit and free for the next client.
    let mut leaving = served.remove(0);
    leaving
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let mut rest = Vec::new();
    leaving
        .read_to_end(&mut rest)
        .expect("the server closes the connection its client left");
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut served_again = false;
    while !served_again && Instant::now() < deadline {
        served_again = is_echoed(&mut connect(addr));
    }
    assert!(served_again, "no client served after a place was freed");
}
