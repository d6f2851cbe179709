//! Ending a `load` run early on SIGINT or SIGTERM: the first signal ends
//! the measured window now, so the summary and every requested file are
//! still written (outcome `interrupted`); a second SIGINT or SIGTERM ends
//! the process at once with the usual status (130, 143).

use std::io;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::load::{RunEvent, Watch};

/// The shell's exit status for a process ended by `signal`: 128 + its number.
fn status_of(signal: i32) -> u8 {
    (128 + signal) as u8
}

/// Set by the first SIGINT or SIGTERM (or by `q` in the live view, through
/// [`Interrupt::stop_flag`]); a run watched by it ends once it is set.
#[derive(Debug)]
pub struct Interrupt {
    stop: Arc<AtomicBool>,
    /// The signal that set `stop`; 0 for `q` or none.
    signal: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Catch SIGINT and SIGTERM from now on.
    pub fn catch() -> io::Result<Interrupt> {
        let stop = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(AtomicUsize::new(0));
        for sig in [SIGINT, SIGTERM] {
            // Registered first, so it sees the flag as it was before this
            // signal: only a second signal exits at once.
            signal_hook::flag::register_conditional_shutdown(
                sig,
                i32::from(status_of(sig)),
                Arc::clone(&stop),
            )?;
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
            signal_hook::flag::register(sig, Arc::clone(&stop))?;
        }
        Ok(Interrupt { stop, signal })
    }

    /// The flag the live view sets on `q`.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Whether the run was asked to end early.
    pub fn is_set(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The exit status of an interrupted run: 143 for SIGTERM, 130 for
    /// SIGINT and for `q`.
    pub fn exit_code(&self) -> ExitCode {
        match self.signal.load(Ordering::Relaxed) as i32 {
            SIGTERM => ExitCode::from(status_of(SIGTERM)),
            _ => ExitCode::from(status_of(SIGINT)),
        }
    }
}

impl Watch for Interrupt {
    fn see(&self, _event: RunEvent) {}

    fn should_stop(&self) -> bool {
        self.is_set()
    }
}
