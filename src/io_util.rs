//! Socket I/O helpers that the server engines and the load generator both
//! use, kept here so that neither side owns them (and `load` imports no
//! engine).
//!
//! - [`would_block`], [`interrupted`]: the two "not really an error" cases
//!   of a non-blocking call, named as in mio's examples;
//! - [`is_connection_error`], [`is_out_of_descriptors`]: how an accept loop
//!   tells a failure of one connection from a failure of the process;
//! - `forward_source!`: mio's `Source` for an enum of
//!   sockets (TCP or Unix, and UDP for the load generator).

use std::io;

/// `true` for errors that mean "try again later" in a non-blocking call.
pub fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// `true` for errors that mean "a signal interrupted the call: retry".
pub fn interrupted(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}

/// `true` for accept errors that concern only the one connection being
/// accepted (it was reset before we took it): accept the next one.
pub fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

/// `true` for accept errors caused by running out of file descriptors
/// (EMFILE for this process, ENFILE for the system). Accepting again at
/// once would fail again: the engine must back off, not spin.
pub fn is_out_of_descriptors(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Implement mio's `Source` for an enum of sockets by forwarding each call
/// to the socket inside the variant (each variant's first field). Used by
/// the reactor's listener and streams and by the load generator's client
/// sockets.
macro_rules! forward_source {
    ($ty:ident { $($variant:ident),+ }) => {
        impl ::mio::event::Source for $ty {
            fn register(
                &mut self,
                registry: &::mio::Registry,
                token: ::mio::Token,
                interests: ::mio::Interest,
            ) -> ::std::io::Result<()> {
                match self { $($ty::$variant(s, ..) => s.register(registry, token, interests),)+ }
            }
            fn reregister(
                &mut self,
                registry: &::mio::Registry,
                token: ::mio::Token,
                interests: ::mio::Interest,
            ) -> ::std::io::Result<()> {
                match self { $($ty::$variant(s, ..) => s.reregister(registry, token, interests),)+ }
            }
            fn deregister(&mut self, registry: &::mio::Registry) -> ::std::io::Result<()> {
                match self { $($ty::$variant(s, ..) => s.deregister(registry),)+ }
            }
        }
    };
}
pub(crate) use forward_source;
