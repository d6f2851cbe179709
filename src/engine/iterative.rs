//! `iterative`: one client at a time, served to completion.
//!
//! The lecture's first server. The accepting thread serves each connection
//! itself, so while one client is connected every other client waits: its
//! handshake completes in the kernel (the `listen()` backlog), but nobody
//! calls `accept` for it until the current client disconnects. Simple,
//! correct, and useless for more than one client at a time: the comparison
//! shows exactly how useless.

use std::io;
use std::sync::Arc;

use super::blocking::{serve_and_log, spawn_engine};
use super::{EngineConfig, Listener, Server};
use crate::service::Service;

/// Start the iterative engine on its own thread.
pub fn spawn(
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    let connection_config = config.clone();
    let serve_here = move |stream, peer, _registration| {
        // Served right here, on the accepting thread: the next accept waits
        // until this client is done.
        serve_and_log(stream, &peer, service.as_ref(), &connection_config);
    };
    spawn_engine("iterative", listener, &config, serve_here, || {})
}
