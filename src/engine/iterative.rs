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
use std::time::Instant;

use super::blocking::{accept_loop, serve_and_log, ActiveConnections, BlockingStop};
use super::{EngineConfig, Listener, Server};
use crate::service::Service;

/// Start the iterative engine on its own thread.
pub fn spawn(
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    let local_addr = listener.local_addr()?;
    let listener = Arc::new(listener);
    let active = Arc::new(ActiveConnections::default());
    let stop = BlockingStop::new(Arc::clone(&listener), Arc::clone(&active));
    let stopper = Arc::clone(&stop);
    Server::spawn(
        "iterative",
        local_addr,
        move || stopper.stop(),
        move || {
            accept_loop(&listener, &stop, config.max_connections, |stream, peer| {
                // Served right here, on the accepting thread: the next accept
                // waits until this client is done.
                let _registration = active.register(&stream);
                serve_and_log(stream, &peer, service.as_ref(), &config);
            })?;
            // The connection being served (if any) finished inside the loop.
            active.wait_or_cut_off(Instant::now() + config.grace);
            Ok(())
        },
    )
}
