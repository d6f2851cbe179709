//! Non-blocking (mio) counterparts of [`Listener`] and [`Stream`], for the
//! readiness loop: the same TCP-or-Unix choice, registered with a `Poll`,
//! or watched by its descriptor (`select`, `poll`).
//!
//! Nothing here decides anything; it only forwards each call to the TCP or
//! Unix socket underneath, so `reactor.rs` can be read without the noise.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};

use super::listener::{Listener, UnixPathGuard};
use crate::io_util::forward_source;
use crate::service::Peer;

/// A listening socket in non-blocking mode.
#[derive(Debug)]
pub enum NbListener {
    /// TCP.
    Tcp(mio::net::TcpListener),
    /// Unix domain stream; the guard removes the socket file on drop.
    Unix(mio::net::UnixListener, UnixPathGuard),
}

/// A connection in non-blocking mode.
#[derive(Debug)]
pub enum NbStream {
    /// TCP.
    Tcp(mio::net::TcpStream),
    /// Unix domain stream.
    Unix(mio::net::UnixStream),
}

impl NbListener {
    /// Switch a bound listener to non-blocking mode and wrap it for mio.
    pub fn from_listener(listener: Listener) -> io::Result<Self> {
        Ok(match listener {
            Listener::Tcp(l) => {
                l.set_nonblocking(true)?;
                NbListener::Tcp(mio::net::TcpListener::from_std(l))
            }
            Listener::Unix(l, guard) => {
                l.set_nonblocking(true)?;
                NbListener::Unix(mio::net::UnixListener::from_std(l), guard)
            }
        })
    }

    /// Accept one pending connection, or `WouldBlock` if none is waiting.
    /// TCP connections get `TCP_NODELAY`, as in the blocking engines.
    pub fn accept(&self) -> io::Result<(NbStream, Peer)> {
        match self {
            NbListener::Tcp(l) => {
                let (stream, addr) = l.accept()?;
                stream.set_nodelay(true)?;
                Ok((NbStream::Tcp(stream), Peer::Inet(addr)))
            }
            NbListener::Unix(l, _) => {
                let (stream, _) = l.accept()?;
                Ok((NbStream::Unix(stream), Peer::Unix))
            }
        }
    }
}

impl NbStream {
    /// Shut down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            NbStream::Tcp(s) => s.shutdown(how),
            NbStream::Unix(s) => s.shutdown(how),
        }
    }
}

impl Read for NbStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            NbStream::Tcp(s) => s.read(buf),
            NbStream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for NbStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            NbStream::Tcp(s) => s.write(buf),
            NbStream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for NbListener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            NbListener::Tcp(l) => l.as_raw_fd(),
            NbListener::Unix(l, _) => l.as_raw_fd(),
        }
    }
}

impl AsRawFd for NbStream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            NbStream::Tcp(s) => s.as_raw_fd(),
            NbStream::Unix(s) => s.as_raw_fd(),
        }
    }
}

forward_source!(NbListener { Tcp, Unix });
forward_source!(NbStream { Tcp, Unix });
