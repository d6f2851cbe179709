//! What compare asks of the operating system for the client side: core
//! pinning, priority, its own CPU time, and finding `taskset`.

use std::io;
use std::path::{Path, PathBuf};

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

/// CPU time (user + system) this process has used, in seconds.
pub fn process_cpu_s() -> f64 {
    crate::counters::ThreadCost::of_this_process().cpu_s
}

/// The nice value the load generator runs at under a quota: the highest
/// priority, so other work on the machine cannot take the generator's
/// core from it (the servers' quota groups get the same through their
/// weight, `quota.rs`).
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

/// The first executable named `program` on `PATH`.
pub fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spinning raises our CPU time.
    #[test]
    fn process_cpu_time_grows_with_work() {
        let before = process_cpu_s();
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(50) {
            std::hint::spin_loop();
        }
        assert!(process_cpu_s() > before);
    }

    /// `sh` is on every PATH we run on; a made-up name is not.
    #[test]
    fn find_in_path_finds_sh_only() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("no-such-program-sockbench").is_none());
    }

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
