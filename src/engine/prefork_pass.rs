//! `prefork-pass`: UNP ch. 30 row 5, the parent accepts every connection
//! and passes its descriptor to an idle child over a Unix socket
//! (`sendmsg` with `SCM_RIGHTS`).
//!
//! How it differs from `prefork-accept` (row 2): the children never call
//! `accept`; the parent does, and decides which child serves. That choice
//! is the point (any policy can be written here; the book's is "the first
//! idle one"), and its price is the book's verdict on this row: per
//! connection one more process runs, and a descriptor crosses a socket
//! (`sendmsg`, `recvmsg`), so it costs more than letting the children
//! accept.
//!
//! The protocol, as in the book: each child has one stream socket pair to
//! the parent. The parent sends one byte with the descriptor attached; the
//! child serves the connection to its end and writes one byte back ("idle
//! again"). The parent polls the listener only while some child is idle
//! (otherwise new clients wait in the backlog), and every child's socket
//! (an end of stream there: that child is gone).

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use super::children::{serve_children_loop, set_waits_on, Supervisor, Wake};
use super::listener::Stream;
use super::{EngineConfig, Listener};
use crate::io_util::would_block;
use crate::service::{Peer, Service};

/// The parent's view of one child.
struct Channel {
    socket: UnixStream,
    is_idle: bool,
    is_gone: bool,
}

/// Fork the children, then accept and hand out until the stop.
pub fn run(
    supervisor: &mut Supervisor,
    listener: &Listener,
    service: &dyn Service,
    config: &EngineConfig,
) -> io::Result<()> {
    let mut channels = Vec::with_capacity(config.processes);
    for index in 0..config.processes.max(1) {
        let (parent_end, child_end) = UnixStream::pair()?;
        let child_fd = child_end.as_raw_fd();
        let forked = supervisor.fork_child(index, &[child_fd, listener.as_raw_fd()], || {
            set_waits_on(child_fd);
            let mut has_served = false;
            serve_children_loop(index, service, config, || {
                // "Idle again"; if the parent has closed its end, it is
                // stopping and no connection will come.
                if has_served && (&child_end).write_all(&[1]).is_err() {
                    return Ok(None);
                }
                has_served = true;
                receive_connection(&child_end, listener)
            })
        });
        if let Err(err) = forked {
            supervisor.stop_all();
            return Err(io::Error::new(
                err.kind(),
                format!("cannot fork worker {index}: {err} (lower --processes)"),
            ));
        }
        channels.push(Channel {
            socket: parent_end,
            is_idle: true,
            is_gone: false,
        });
    }
    listener.set_nonblocking(true)?;
    let handed_out = hand_out(supervisor, listener, &mut channels);
    // Closing the parent's ends tells the children no more will come.
    drop(channels);
    supervisor.stop_all();
    listener.set_nonblocking(false)?;
    handed_out
}

/// The parent's loop: accept while a child is idle, note children that
/// are idle again, until the stop.
fn hand_out(
    supervisor: &mut Supervisor,
    listener: &Listener,
    channels: &mut [Channel],
) -> io::Result<()> {
    loop {
        let idle = channels.iter().position(|c| c.is_idle && !c.is_gone);
        // What to poll: the listener (only with a child to give to), then
        // each live child's socket; `polled[k]` says whose is the k-th.
        let mut fds: Vec<RawFd> = Vec::new();
        let mut polled: Vec<Option<usize>> = Vec::new();
        if idle.is_some() {
            fds.push(listener.as_raw_fd());
            polled.push(None);
        }
        for (i, channel) in channels.iter().enumerate().filter(|(_, c)| !c.is_gone) {
            fds.push(channel.socket.as_raw_fd());
            polled.push(Some(i));
        }
        let ready = match supervisor.wait(&fds)? {
            Wake::Stop => return Ok(()),
            Wake::Other => continue,
            Wake::Ready(k) => polled[k],
        };
        match (ready, idle) {
            (None, Some(child)) => {
                let (stream, _peer) = match listener.accept() {
                    Ok(accepted) => accepted,
                    Err(err) if would_block(&err) => continue,
                    Err(err) => {
                        log::info!("accept failed: {err}");
                        continue;
                    }
                };
                match send_connection(&channels[child].socket, stream.as_raw_fd()) {
                    Ok(()) => channels[child].is_idle = false,
                    Err(err) => {
                        log::warn!("cannot pass a connection to worker {child}: {err}");
                        channels[child].is_gone = true;
                    }
                }
                // The child holds its own copy now: ours is closed here.
            }
            (Some(child), _) => {
                let mut byte = [0u8; 16];
                match (&channels[child].socket).read(&mut byte) {
                    Ok(n) if n > 0 => channels[child].is_idle = true,
                    Err(err) if would_block(&err) => {}
                    // End of stream (or worse): that child is gone.
                    _ => channels[child].is_gone = true,
                }
            }
            (None, None) => {}
        }
    }
}

/// Send `fd` to a child: one byte of data, the descriptor attached.
fn send_connection(channel: &UnixStream, fd: RawFd) -> io::Result<()> {
    let fds = [fd];
    sendmsg::<()>(
        channel.as_raw_fd(),
        &[IoSlice::new(&[0])],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
}

/// In a child: wait for the parent's next connection; `None` when the
/// parent has closed its end (no more will come).
fn receive_connection(
    channel: &UnixStream,
    listener: &Listener,
) -> io::Result<Option<(Stream, Peer)>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(
        channel.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    if msg.bytes == 0 {
        return Ok(None);
    }
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor in our
                // table for us; nothing else owns it.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                return listener.adopt(fd).map(Some);
            }
        }
    }
    Err(io::Error::other("the parent sent no descriptor"))
}
