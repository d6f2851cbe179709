//! `prefork-accept`: UNP ch. 30 row 2, `--processes N` children forked
//! before any client comes, each blocking in `accept` on the one listening
//! socket they all inherited.
//!
//! How it differs from `fork` (row 1): the fork is paid once per child,
//! not once per client; each child serves client after client. From
//! `serve --processes N` (the `SO_REUSEPORT` prefork, nginx's way): here
//! there is one listening socket and one accept queue, and the kernel
//! picks which blocked child an arriving connection wakes. The book's
//! kernels woke them all (the thundering herd) and one won; Linux wakes
//! one (`sockbench demo thundering-herd` shows it), so no lock is needed:
//! rows 3 and 4 add one anyway, to measure what it costs.
//!
//! A child serves one client at a time: with N slow clients connected, the
//! N children are all busy until the request timeout drops them (the
//! blocking loop's timeouts), exactly as N `iterative` servers would be.

use std::io;

use super::children::{prefork, Supervisor};
use super::{EngineConfig, Listener};
use crate::service::Service;

/// Fork the children, each accepting for itself, until the stop.
pub fn run(
    supervisor: &mut Supervisor,
    listener: &Listener,
    service: &dyn Service,
    config: &EngineConfig,
) -> io::Result<()> {
    prefork(supervisor, listener, service, config, &[], || {
        || listener.accept().map(Some)
    })
}
