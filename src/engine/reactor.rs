//! `reactor`: stub, being written.
use std::io;
use std::sync::Arc;

use super::{EngineConfig, Listener, Server};
use crate::service::Service;

/// Start the reactor.
pub fn spawn(
    listener: Listener,
    service: Arc<dyn Service>,
    config: EngineConfig,
) -> io::Result<Server> {
    super::iterative::spawn(listener, service, config)
}
