//! `threaded`: one OS thread per accepted connection.
//!
//! The lecture's concurrent server. Each client gets a thread that blocks
//! in `read` and `write` as the iterative server does, so the code per
//! connection stays the plain loop of [`super::blocking`]. The price is one
//! stack (and a kernel task) per client: fine for hundreds, heavy for tens
//! of thousands, which `compare` and the `threads-vs-events` demo measure.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::blocking::{accept_loop, serve_and_log, ActiveConnections, BlockingStop};
use super::{EngineConfig, Listener, Server};
use crate::service::Service;

/// Stack size for connection threads: the loop needs little, and a small
/// stack lets many more threads fit.
const CONNECTION_STACK_BYTES: usize = 128 * 1024;

/// Start the thread-per-connection engine.
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
    let grace = config.grace;
    let config = Arc::new(config);
    Server::spawn(
        "threaded",
        local_addr,
        move || stopper.stop(),
        move || {
            accept_loop(&listener, &stop, config.max_connections, |stream, peer| {
                // Registered before the thread starts, so a stop that races
                // with this accept still reaches the connection.
                let registration = active.register(&stream);
                let service = Arc::clone(&service);
                let config = Arc::clone(&config);
                let spawned = std::thread::Builder::new()
                    .name("sockbench-conn".into())
                    .stack_size(CONNECTION_STACK_BYTES)
                    .spawn(move || {
                        let _registration = registration;
                        serve_and_log(stream, &peer, service.as_ref(), &config);
                    });
                if let Err(err) = spawned {
                    // Out of threads (or memory): refuse this client, keep serving.
                    // The failed spawn dropped its closure, and with it the
                    // stream (closing the connection) and its registration.
                    log::warn!("cannot start a thread for a connection, closing it: {err}");
                }
            })?;
            // Threads are detached; wait for them through the registry.
            active.wait_or_cut_off(Instant::now() + grace);
            Ok(())
        },
    )
}
