//! `prethreaded-mutex`: UNP ch. 30 row 7, `--workers N` threads created
//! at start, each calling `accept` under one mutex, then serving what it
//! accepted to its end.
//!
//! How it differs from its neighbours: from `pool` (row 8), no thread
//! hands connections out: each worker takes its own, so a connection
//! crosses no queue and wakes no second thread. From `prefork-mutex`
//! (row 4): threads instead of processes, so the mutex is a plain
//! `std::sync::Mutex` and the workers share one address space (one
//! session driver, one descriptor table). The book found this the fastest
//! of its designs; on Linux the mutex is not needed for correctness (the
//! kernel wakes one thread blocked in `accept`) and is kept to be the row.
//!
//! Slow clients hold a worker each until the request timeout (the blocking
//! loop's timeouts), as in `pool`.

use std::io;
use std::sync::{Arc, Mutex};

use super::blocking::spawn_self_accepting;
use super::{EngineConfig, Listener, Server};
use crate::service::Service;

/// Start the prethreaded engine: `config.workers` accepting threads.
pub fn spawn(
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    let turn_at_accept = Mutex::new(());
    spawn_self_accepting(
        "prethreaded-mutex",
        listener,
        service,
        &config,
        move |listener| {
            // Held across `accept` only: released before serving.
            let _turn = turn_at_accept.lock().unwrap_or_else(|e| e.into_inner());
            listener.accept()
        },
    )
}
