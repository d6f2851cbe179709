//! `pool`: a fixed number of worker threads fed through a bounded channel.
//!
//! The accept thread hands each connection to a `crossbeam-channel` queue;
//! `--workers` threads take connections from it and serve each to
//! completion with the blocking loop of [`super::blocking`].
//!
//! The trade-off, in one place: thread count (and so memory) is bounded no
//! matter how many clients arrive, but a worker is tied to its connection
//! for the connection's whole life. With more open connections than
//! workers, the extra connections wait in the channel (and, once it is
//! full, in the kernel's backlog), served only when a worker's client
//! disconnects, exactly like the iterative server, just N at a time.
//! Short connections suit a pool; long-lived idle ones do not.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::bounded;

use super::blocking::{accept_loop, serve_and_log, ActiveConnections, BlockingStop};
use super::{EngineConfig, Listener, Server};
use crate::service::Service;

/// Accepted connections that may wait for a worker, per worker.
const QUEUED_PER_WORKER: usize = 4;

/// Start the worker-pool engine.
pub fn spawn(
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    let local_addr = listener.local_addr()?;
    let workers = config.workers.max(1);
    let listener = Arc::new(listener);
    let active = Arc::new(ActiveConnections::default());
    let stop = BlockingStop::new(Arc::clone(&listener), Arc::clone(&active));
    let stopper = Arc::clone(&stop);
    let (queue, jobs) = bounded(workers * QUEUED_PER_WORKER);
    let grace = config.grace;
    let config = Arc::new(config);
    let mut handles = Vec::with_capacity(workers);
    for i in 0..workers {
        let jobs = jobs.clone();
        let service = Arc::clone(&service);
        let config = Arc::clone(&config);
        handles.push(
            std::thread::Builder::new()
                .name(format!("sockbench-worker-{i}"))
                .spawn(move || {
                    // The loop ends when the accept thread drops the sender.
                    for (stream, peer, _registration) in jobs {
                        serve_and_log(stream, &peer, service.as_ref(), &config);
                    }
                })?,
        );
    }
    Server::spawn(
        "pool",
        local_addr,
        move || stopper.stop(),
        move || {
            accept_loop(&listener, &stop, config.max_connections, |stream, peer| {
                let registration = active.register(&stream);
                // Blocks while the queue is full: the accept loop slows down and
                // further clients wait in the backlog. A stop cannot be missed
                // here: it shuts the read side of every registered connection,
                // so busy workers finish and free a place.
                if queue.send((stream, peer, registration)).is_err() {
                    log::warn!("every worker has exited; dropping a connection");
                }
            })?;
            drop(queue);
            let deadline = Instant::now() + grace;
            active.wait_or_cut_off(deadline);
            for handle in handles {
                let _ = handle.join();
            }
            Ok(())
        },
    )
}
