//! `threaded`: one OS thread per accepted connection.
//!
//! The lecture's concurrent server. Each client gets a thread that blocks
//! in `read` and `write` as the iterative server does, so the code per
//! connection stays the plain loop of [`super::blocking`]. The price is one
//! stack (and a kernel task) per client: fine for hundreds, heavy for tens
//! of thousands, which `compare` and the `threads-vs-events` demo measure.

use std::io;
use std::sync::Arc;

use super::blocking::{serve_and_log, spawn_engine};
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
    let connection_config = Arc::new(config.clone());
    let spawn_thread = move |stream, peer, registration| {
        let service = Arc::clone(&service);
        let config = Arc::clone(&connection_config);
        let spawned = std::thread::Builder::new()
            .name("sockbench-conn".into())
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || {
                // Dropped when the thread ends: the stop no longer waits for it.
                let _registration = registration;
                serve_and_log(stream, &peer, service.as_ref(), &config);
            });
        if let Err(err) = spawned {
            // Out of threads (or memory): refuse this client, keep serving.
            // The failed spawn dropped its closure, and with it the stream
            // (closing the connection) and its registration.
            log::warn!("cannot start a thread for a connection, closing it: {err}");
        }
    };
    // Threads are detached; the stop waits for them through the registry.
    spawn_engine("threaded", listener, &config, spawn_thread, || {})
}
