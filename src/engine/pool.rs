//! `pool`: a fixed number of worker threads fed through a bounded channel.
//!
//! The accept thread hands each connection to a `crossbeam-channel` queue;
//! `--workers` threads take connections from it and serve each to
//! completion with the blocking loop of [`super::blocking`]. Stevens'
//! row 8 ("prethreaded, main thread accepts"); each worker prints its
//! spread line when it stops ([`report_served`]).
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

use crossbeam_channel::bounded;

use super::blocking::{serve_and_log, spawn_engine};
use super::kit::report_served;
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
    let workers = config.workers.max(1);
    let (queue, jobs) = bounded(workers * QUEUED_PER_WORKER);
    let connection_config = Arc::new(config.clone());
    let mut handles = Vec::with_capacity(workers);
    for i in 0..workers {
        let jobs = jobs.clone();
        let service = Arc::clone(&service);
        let config = Arc::clone(&connection_config);
        handles.push(
            std::thread::Builder::new()
                .name(format!("sockbench-worker-{i}"))
                .spawn(move || {
                    let mut served = 0;
                    // Ends when the accept thread drops the queue's sender.
                    for (stream, peer, _registration) in jobs {
                        served += 1;
                        serve_and_log(stream, &peer, service.as_ref(), &config);
                    }
                    report_served(i, served);
                })?,
        );
    }
    let enqueue = move |stream, peer, registration| {
        // Blocks while the queue is full: the accept loop slows down and
        // further clients wait in the backlog. A stop cannot be missed here:
        // it shuts the read side of every registered connection, so busy
        // workers finish and free a place.
        if queue.send((stream, peer, registration)).is_err() {
            log::warn!("every worker has exited; dropping a connection");
        }
    };
    let join_workers = move || {
        for handle in handles {
            let _ = handle.join();
        }
    };
    spawn_engine("pool", listener, &config, enqueue, join_workers)
}
