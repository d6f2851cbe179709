//! What the load generator asks of the scheduler: its core
//! (`compare --pin`) and its priority (`compare --server-cpu`).

use std::io;

/// Pin the calling thread to `core`; threads it starts later inherit that.
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays in bounds
    // for any core below CPU_SETSIZE, checked first.
    unsafe {
        if core >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::other(format!("core {core} is out of range")));
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The nice value the load generator runs at under a quota: the highest
/// priority, so other work on the machine cannot take the generator's
/// core from it (the servers' quota groups get the same through their
/// weight, [`cgroup`](super::cgroup)).
pub const LOAD_NICE: i32 = -20;

/// Run the calling thread, and the threads it starts from now on, at
/// [`LOAD_NICE`] (Linux keeps a nice value per thread; new threads inherit
/// their creator's). Needs root (`CAP_SYS_NICE`).
pub fn raise_priority() -> io::Result<()> {
    // SAFETY: setpriority takes plain integers; 0 names the calling thread.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, LOAD_NICE) } != 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("--server-cpu runs the load generator at nice {LOAD_NICE}: setpriority failed: {err} (run as root)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pinned thread runs on that one core only.
    #[test]
    fn pinned_thread_sees_one_core() {
        std::thread::spawn(|| {
            pin_current_thread(0).unwrap();
            // SAFETY: sched_getaffinity fills the set we pass.
            let count = unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
                libc::CPU_COUNT(&set)
            };
            assert_eq!(count, 1);
        })
        .join()
        .unwrap();
    }
}
