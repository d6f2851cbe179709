//! Listening sockets, set up once with `socket2` for every engine.
//!
//! The options the lecture talks about are set here, in one place:
//! `SO_REUSEADDR` (restart a server while old connections sit in TIME_WAIT),
//! the `listen()` backlog (how many finished handshakes wait for `accept`),
//! `SO_REUSEPORT`, IPv6-only sockets, and `TCP_NODELAY` on accepted sockets.
//! Engines are handed an already-bound [`Listener`], never an address.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::service::Peer;

/// Default `listen()` backlog: large enough for the 1000-connection cells.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// How a listening socket is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOptions {
    /// Queue length passed to `listen()`.
    pub backlog: i32,
    /// Set `SO_REUSEADDR` (on by default, as servers should).
    pub reuseaddr: bool,
    /// Set `SO_REUSEPORT`, so several listeners can share one port.
    pub reuseport: bool,
    /// `SO_RCVBUF` for accepted connections (inherited from the listener);
    /// `None` leaves the kernel's autotuning on.
    pub recv_buffer_bytes: Option<usize>,
    /// `SO_SNDBUF` for accepted connections; `None`: autotuned. Small send
    /// buffers make partial writes (and backpressure) easy to see.
    pub send_buffer_bytes: Option<usize>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: DEFAULT_BACKLOG,
            reuseaddr: true,
            reuseport: false,
            recv_buffer_bytes: None,
            send_buffer_bytes: None,
        }
    }
}

/// Where a listener can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// TCP, IPv4 or IPv6.
    Tcp(SocketAddr),
    /// A Unix domain stream socket at this path.
    Unix(PathBuf),
    /// A UDP socket, IPv4 or IPv6: datagrams, no listening, no connections.
    Udp(SocketAddr),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A UDP address reads like a TCP one; where it matters the
            // transport is said beside it ("listening on ADDR (udp, ...)").
            ListenAddr::Tcp(addr) | ListenAddr::Udp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A bound, listening, blocking socket. Engines that want non-blocking I/O
/// convert it themselves (the reactor hands it to mio).
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix listener; the path is removed when the listener is dropped.
    Unix(UnixListener, UnixPathGuard),
}

/// An accepted connection, blocking.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection (with `TCP_NODELAY` set).
    Tcp(TcpStream),
    /// A Unix domain stream connection.
    Unix(UnixStream),
}

/// Why a listener could not be set up, phrased for the person at the prompt.
#[derive(Debug)]
pub struct BindError {
    message: String,
    source: io::Error,
}

impl BindError {
    fn new(message: String, source: io::Error) -> Self {
        BindError { message, source }
    }

    /// The underlying OS error kind (`AddrInUse`, `PermissionDenied`, ...).
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<BindError> for io::Error {
    fn from(err: BindError) -> io::Error {
        io::Error::new(err.source.kind(), err.message)
    }
}

/// Bind a TCP listener with the lecture's socket options.
pub fn bind_tcp(addr: SocketAddr, options: ListenOptions) -> Result<Listener, BindError> {
    let setup = || -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if addr.is_ipv6() {
            // `[::1]` means IPv6 only; dual-stack would surprise a student.
            socket.set_only_v6(true)?;
        }
        socket.set_reuse_address(options.reuseaddr)?;
        if options.reuseport {
            socket.set_reuse_port(true)?;
        }
        set_buffer_sizes(&socket, options)?;
        socket.bind(&addr.into())?;
        socket.listen(options.backlog)?;
        Ok(socket.into())
    };
    setup()
        .map(Listener::Tcp)
        .map_err(|err| explain_bind_error(&addr.to_string(), addr.port(), options, err))
}

/// Bind `count` TCP listeners on one address, each its own socket with
/// `SO_REUSEPORT`, for engines that run one event loop per listener. With
/// port 0, the first picks the port and the others join it. The kernel then
/// hands each new connection to one of them by a hash of its addresses.
pub fn bind_tcp_group(
    addr: SocketAddr,
    options: ListenOptions,
    count: usize,
) -> Result<Vec<Listener>, BindError> {
    let options = ListenOptions {
        reuseport: true,
        ..options
    };
    let first = bind_tcp(addr, options)?;
    let Listener::Tcp(socket) = &first else {
        unreachable!("bind_tcp returns a TCP listener")
    };
    let addr = socket
        .local_addr()
        .map_err(|err| BindError::new(format!("cannot read the bound address: {err}"), err))?;
    let mut group = vec![first];
    for _ in 1..count.max(1) {
        group.push(bind_tcp(addr, options)?);
    }
    Ok(group)
}

/// Bind a Unix domain stream listener at `path`. A socket file left by a
/// server that died is detected (nobody answers on it) and replaced; a live
/// server's socket is an error.
pub fn bind_unix(path: &Path, options: ListenOptions) -> Result<Listener, BindError> {
    let shown = path.display().to_string();
    if path.exists() {
        match UnixStream::connect(path) {
            Ok(_) => {
                return Err(BindError::new(
                    format!("{shown} is in use: a server is answering there; stop it or pick another --unix path"),
                    io::Error::from(io::ErrorKind::AddrInUse),
                ))
            }
            Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                // Stale: the file is there but no process listens on it.
                std::fs::remove_file(path).map_err(|e| {
                    BindError::new(format!("cannot remove stale socket {shown}: {e}"), e)
                })?;
            }
            Err(err) => {
                return Err(BindError::new(
                    format!("{shown} exists and is not a socket sockbench can replace: {err}"),
                    err,
                ))
            }
        }
    }
    let setup = || -> io::Result<UnixListener> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        set_buffer_sizes(&socket, options)?;
        socket.bind(&socket2::SockAddr::unix(path)?)?;
        socket.listen(options.backlog)?;
        Ok(socket.into())
    };
    let listener = setup().map_err(|err| explain_bind_error(&shown, 0, options, err))?;
    Ok(Listener::Unix(
        listener,
        UnixPathGuard {
            path: path.to_path_buf(),
        },
    ))
}

/// Set the socket buffer sizes asked for. On a listening socket they are
/// inherited by every accepted connection, and must be set before
/// `listen()` for TCP to size its window from them.
fn set_buffer_sizes(socket: &Socket, options: ListenOptions) -> io::Result<()> {
    if let Some(bytes) = options.recv_buffer_bytes {
        socket.set_recv_buffer_size(bytes)?;
    }
    if let Some(bytes) = options.send_buffer_bytes {
        socket.set_send_buffer_size(bytes)?;
    }
    Ok(())
}

/// Turn a raw bind error into one line that says what to do next.
fn explain_bind_error(shown: &str, port: u16, options: ListenOptions, err: io::Error) -> BindError {
    let message = match err.kind() {
        io::ErrorKind::AddrInUse if options.reuseaddr => format!(
            "address {shown} is in use: another server is listening there; stop it or pick another port (--addr 127.0.0.1:0 picks a free one)"
        ),
        io::ErrorKind::AddrInUse => format!(
            "address {shown} is in use: another server is listening there, or connections of a recent one sit in TIME_WAIT and SO_REUSEADDR is off (drop --no-reuseaddr)"
        ),
        io::ErrorKind::PermissionDenied if port != 0 && port < 1024 => format!(
            "permission denied binding {shown}: ports below 1024 need root; use a port of 1024 or above (e.g. --addr 127.0.0.1:7000)"
        ),
        io::ErrorKind::AddrNotAvailable => format!(
            "cannot bind {shown}: that address is not on this machine; use a loopback address such as 127.0.0.1 or [::1]"
        ),
        _ => format!("cannot listen on {shown}: {err}"),
    };
    BindError::new(message, err)
}

/// Removes a Unix socket's file when its listener goes away, so a clean exit
/// leaves nothing behind.
#[derive(Debug)]
pub struct UnixPathGuard {
    path: PathBuf,
}

impl Drop for UnixPathGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Listener {
    /// Where clients can connect.
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(ListenAddr::Tcp),
            Listener::Unix(_, guard) => Ok(ListenAddr::Unix(guard.path.clone())),
        }
    }

    /// Block until a client connects. TCP connections get `TCP_NODELAY`:
    /// a request/response server must not wait on Nagle's algorithm.
    pub fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, addr) = l.accept()?;
                stream.set_nodelay(true)?;
                Ok((Stream::Tcp(stream), Peer::Inet(addr)))
            }
            Listener::Unix(l, _) => {
                let (stream, _) = l.accept()?;
                Ok((Stream::Unix(stream), Peer::Unix))
            }
        }
    }

    /// Take a connection this listener's socket accepted through another
    /// interface (io_uring's multishot accept hands back bare descriptors,
    /// without the peer's address): the same [`Stream`] and [`Peer`] as
    /// [`accept`](Self::accept) gives, at the cost of asking for the address.
    pub fn adopt(&self, fd: OwnedFd) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Tcp(_) => {
                let stream = TcpStream::from(fd);
                stream.set_nodelay(true)?;
                let addr = stream.peer_addr()?;
                Ok((Stream::Tcp(stream), Peer::Inet(addr)))
            }
            Listener::Unix(..) => Ok((Stream::Unix(UnixStream::from(fd)), Peer::Unix)),
        }
    }

    /// Set or clear `O_NONBLOCK`: a parent that polls the listener (`fork`,
    /// `prefork-pass`) must not block on a connection gone between the
    /// poll and the accept.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.set_nonblocking(on),
            Listener::Unix(l, _) => l.set_nonblocking(on),
        }
    }

    /// Wake a thread blocked in [`accept`](Self::accept) and make further
    /// accepts fail: on Linux, `shutdown(SHUT_RD)` on a listening socket does
    /// exactly that. Used by the blocking engines to stop.
    pub fn shutdown_accept(&self) -> io::Result<()> {
        let sock = match self {
            Listener::Tcp(l) => SockRef::from(l),
            Listener::Unix(l, _) => SockRef::from(l),
        };
        sock.shutdown(Shutdown::Read)
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l, _) => l.as_raw_fd(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Stream {
    /// Shut down one or both directions (the lecture's `shutdown()`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }

    /// Bound how long a blocking `read` may wait (`None`: forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Bound how long a blocking `write` may wait (`None`: forever).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(timeout),
            Stream::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    /// A second handle to the same connection.
    pub fn try_clone(&self) -> io::Result<Stream> {
        match self {
            Stream::Tcp(s) => s.try_clone().map(Stream::Tcp),
            Stream::Unix(s) => s.try_clone().map(Stream::Unix),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second bind on a port in use fails with a message naming the cause.
    #[test]
    fn second_bind_explains_address_in_use() {
        let first = bind_tcp("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
        let ListenAddr::Tcp(addr) = first.local_addr().unwrap() else {
            panic!("tcp listener has a tcp address")
        };
        let err = bind_tcp(addr, ListenOptions::default()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains("is in use"), "{err}");
    }

    /// Each bind failure the lecture meets gets a line saying what to do.
    /// (Root may bind port 80, so the permission case is built directly.)
    #[test]
    fn bind_errors_say_what_to_do_next() {
        let explain = |kind, port, reuseaddr| {
            let options = ListenOptions {
                reuseaddr,
                ..ListenOptions::default()
            };
            explain_bind_error("127.0.0.1:80", port, options, io::Error::from(kind)).to_string()
        };
        let denied = explain(io::ErrorKind::PermissionDenied, 80, true);
        assert!(denied.contains("ports below 1024 need root"), "{denied}");
        let in_use = explain(io::ErrorKind::AddrInUse, 80, false);
        assert!(in_use.contains("TIME_WAIT"), "{in_use}");
        assert!(in_use.contains("--no-reuseaddr"), "{in_use}");
        let absent = explain(io::ErrorKind::AddrNotAvailable, 80, true);
        assert!(absent.contains("not on this machine"), "{absent}");
    }

    /// A socket file nobody listens on is replaced; a live one is refused.
    #[test]
    fn unix_stale_socket_is_replaced_and_live_one_refused() {
        let dir = std::env::temp_dir().join(format!("sockbench-listener-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        // A stale file: bind with std and drop the listener without unlinking.
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let live = bind_unix(&path, ListenOptions::default()).unwrap();
        let err = bind_unix(&path, ListenOptions::default()).unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");
        drop(live);
        assert!(!path.exists(), "socket file removed when the listener goes");
        let _ = std::fs::remove_dir(&dir);
    }
}
