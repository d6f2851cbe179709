//! `epoll-raw`: the leanest single-threaded echo server on raw `libc` epoll.
//!
//! The yardstick row of `sockbench compare`: what one core can do when
//! nothing stands between the kernel and the echo loop. No runtime, no
//! slab, no per-connection allocation until a write comes up short.
//!
//! ```text
//! cargo build --release --examples
//! target/release/examples/epoll_raw --addr 127.0.0.1:0
//! ```
//!
//! The first line on stdout is `listening on ADDR`; it serves until SIGINT
//! or SIGTERM and then exits 0.
//!
//! How it works, top to bottom:
//! - **Level-triggered** epoll: a socket that still has unread bytes is
//!   reported again by the next `epoll_wait`, so each event needs exactly
//!   one `read` (no extra `read` that only returns `EAGAIN`, which is what
//!   edge-triggered draining costs on small request/response traffic).
//! - **One fixed buffer** for every connection: read into it, send it back
//!   at once. Only bytes the kernel did not take are copied aside.
//! - **Partial writes are kept**, not treated as errors: the unsent tail
//!   waits in that connection's `unsent` buffer, its interest switches from
//!   `EPOLLIN` to `EPOLLOUT` (so a client that does not read its answers
//!   stops being read: backpressure), and it switches back once flushed.
//! - Signals arrive through a `signalfd` registered like any socket, so the
//!   loop never sees `EINTR` surprises in the middle of its work.
//! - The epoll event data is the file descriptor itself, and per-connection
//!   state lives in a `Vec` indexed by descriptor.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};

use clap::Parser;

/// The leanest single-threaded echo server on raw epoll (a compare yardstick).
#[derive(Debug, Parser)]
struct Args {
    /// TCP address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,
}

/// Size of the one read buffer shared by every connection.
const BUFFER_BYTES: usize = 64 * 1024;
/// Events taken from the kernel per `epoll_wait`.
const MAX_EVENTS: usize = 1024;

fn main() {
    let args = Args::parse();
    if let Err(err) = serve(args.addr) {
        eprintln!("epoll_raw: error: {err}");
        std::process::exit(1);
    }
}

/// Turn a libc return value into an `io::Result` (`-1` means "see errno").
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `true` when a non-blocking call has nothing to do right now.
fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// `true` when a signal interrupted the call: just retry.
fn interrupted(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

/// The whole server: bind, register, loop until a signal.
fn serve(addr: SocketAddr) -> io::Result<()> {
    // Block SIGINT and SIGTERM and read them from a descriptor instead.
    // Done before anything else, while this is the only thread.
    let signal_fd = unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::sigaddset(&mut mask, libc::SIGINT);
        libc::sigaddset(&mut mask, libc::SIGTERM);
        check(libc::pthread_sigmask(
            libc::SIG_BLOCK,
            &mask,
            std::ptr::null_mut(),
        ))?;
        check(libc::signalfd(-1, &mask, libc::SFD_CLOEXEC))?
    };

    // std sets SO_REUSEADDR on Unix and listens with a backlog of 128; the
    // engines use 1024, so the 1000-connection cells compare like for like.
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let listen_fd = listener.as_raw_fd();
    unsafe { check(libc::listen(listen_fd, 1024))? };

    let epoll_fd = unsafe { check(libc::epoll_create1(libc::EPOLL_CLOEXEC))? };
    add(epoll_fd, listen_fd, libc::EPOLLIN)?;
    add(epoll_fd, signal_fd, libc::EPOLLIN)?;

    println!("listening on {}", listener.local_addr()?);

    let mut buffer = vec![0u8; BUFFER_BYTES];
    // unsent[fd]: answer bytes the kernel has not taken yet (usually empty).
    let mut unsent: Vec<Vec<u8>> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];

    loop {
        let ready = match unsafe {
            check(libc::epoll_wait(
                epoll_fd,
                events.as_mut_ptr(),
                MAX_EVENTS as libc::c_int,
                -1,
            ))
        } {
            Ok(n) => n as usize,
            Err(err) if interrupted(&err) => continue, // a signal: wait again
            Err(err) => return Err(err),
        };
        for event in &events[..ready] {
            let fd = event.u64 as RawFd;
            let flags = event.events as libc::c_int;
            if fd == signal_fd {
                // SIGINT or SIGTERM: stop. Echo has no reply worth a grace period.
                return Ok(());
            } else if fd == listen_fd {
                accept_all(epoll_fd, listen_fd, &mut unsent)?;
            } else if flags & (libc::EPOLLERR | libc::EPOLLHUP) != 0 {
                // Reset or fully closed: nothing left to say to this peer.
                close(epoll_fd, fd, &mut unsent);
            } else if flags & libc::EPOLLOUT != 0 {
                flush_unsent(epoll_fd, fd, &mut unsent);
            } else if flags & libc::EPOLLIN != 0 {
                echo_once(epoll_fd, fd, &mut buffer, &mut unsent);
            }
        }
    }
}

/// Register `fd` with `interest`; the event data is the descriptor itself.
fn add(epoll_fd: RawFd, fd: RawFd, interest: libc::c_int) -> io::Result<()> {
    ctl(epoll_fd, libc::EPOLL_CTL_ADD, fd, interest)
}

/// Change (`EPOLL_CTL_MOD`) or add a descriptor's interest.
fn ctl(epoll_fd: RawFd, op: libc::c_int, fd: RawFd, interest: libc::c_int) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: interest as u32,
        u64: fd as u64,
    };
    unsafe { check(libc::epoll_ctl(epoll_fd, op, fd, &mut event))? };
    Ok(())
}

/// Accept until `EAGAIN`: level-triggered would tell us again, but one
/// wake-up per pending connection would be a waste.
fn accept_all(epoll_fd: RawFd, listen_fd: RawFd, unsent: &mut Vec<Vec<u8>>) -> io::Result<()> {
    loop {
        let fd = unsafe {
            libc::accept4(
                listen_fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            let err = io::Error::last_os_error();
            if would_block(&err) {
                return Ok(()); // the queue is empty
            }
            if interrupted(&err) || is_connection_error(&err) {
                continue; // that one client gave up before we took it: next
            }
            if matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) {
                // Out of descriptors: leave the rest in the backlog for now.
                eprintln!("epoll_raw: accept: {err} (raise `ulimit -n`)");
                return Ok(());
            }
            return Err(err);
        }
        // Small answers go out at once instead of waiting for Nagle.
        let one: libc::c_int = 1;
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let slot = fd as usize;
        if unsent.len() <= slot {
            unsent.resize_with(slot + 1, Vec::new);
        }
        if let Err(err) = add(epoll_fd, fd, libc::EPOLLIN) {
            eprintln!("epoll_raw: register connection: {err}");
            unsafe { libc::close(fd) };
        }
    }
}

/// Errors from `accept` that concern only the connection being accepted.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ECONNABORTED) | Some(libc::ECONNRESET) | Some(libc::EPROTO)
    )
}

/// One readable event: one `read`, then send the same bytes back.
fn echo_once(epoll_fd: RawFd, fd: RawFd, buffer: &mut [u8], unsent: &mut [Vec<u8>]) {
    let read = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
    if read == 0 {
        // Peer closed its side. Nothing is unsent: we only read when flushed.
        close(epoll_fd, fd, unsent);
        return;
    }
    if read < 0 {
        let err = io::Error::last_os_error();
        if !would_block(&err) && !interrupted(&err) {
            close(epoll_fd, fd, unsent); // reset or worse
        }
        return; // spurious wake-up: level-triggered will report it again
    }
    let answer = &buffer[..read as usize];
    match send(fd, answer) {
        Ok(sent) if sent == answer.len() => {}
        Ok(sent) => {
            // Short write: keep the tail, wait for room, stop reading meanwhile.
            unsent[fd as usize].extend_from_slice(&answer[sent..]);
            if ctl(epoll_fd, libc::EPOLL_CTL_MOD, fd, libc::EPOLLOUT).is_err() {
                close(epoll_fd, fd, unsent);
            }
        }
        Err(_) => close(epoll_fd, fd, unsent),
    }
}

/// One writable event: send what is waiting; once empty, read again.
fn flush_unsent(epoll_fd: RawFd, fd: RawFd, unsent: &mut [Vec<u8>]) {
    let pending = &mut unsent[fd as usize];
    match send(fd, pending) {
        Ok(sent) => {
            pending.drain(..sent);
            if pending.is_empty() && ctl(epoll_fd, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN).is_err()
            {
                close(epoll_fd, fd, unsent);
            }
        }
        Err(_) => close(epoll_fd, fd, unsent),
    }
}

/// `send` without SIGPIPE; a full socket buffer counts as "0 bytes sent".
fn send(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    loop {
        let sent =
            unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
        if sent >= 0 {
            return Ok(sent as usize);
        }
        let err = io::Error::last_os_error();
        if would_block(&err) {
            return Ok(0);
        }
        if !interrupted(&err) {
            return Err(err);
        }
    }
}

/// Forget a connection: deregister, drop its unsent bytes, close it.
fn close(epoll_fd: RawFd, fd: RawFd, unsent: &mut [Vec<u8>]) {
    unsafe {
        libc::epoll_ctl(epoll_fd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut());
        libc::close(fd);
    }
    unsent[fd as usize] = Vec::new();
}
