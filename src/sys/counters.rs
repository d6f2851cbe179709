//! What one process's work cost the kernel: system calls and context
//! switches, counted over a window, for the cost-per-request figures. A
//! process here is a whole process tree ([`process_tree`]): a prefork
//! server's workers are children of the process that was started.
//!
//! - **System calls** come from the kernel's `raw_syscalls:sys_enter`
//!   tracepoint, counted (not sampled) through `perf_event_open` by the
//!   `perf-event2` crate. A counter watches one thread; [`SyscallCounter`]
//!   opens one for every thread the process has when it starts, with
//!   *inherit* set, so threads those threads create later (a
//!   thread-per-connection server's) are counted too: the kernel adds
//!   their counts to their creator's when it is read. It needs the
//!   tracepoint's id from tracefs (`mount -t tracefs nodev
//!   /sys/kernel/tracing` as root where it is not mounted) and permission
//!   to watch the process (root, or `kernel.perf_event_paranoid` ≤ 1 for
//!   one's own processes). Hardware counters are not needed.
//! - **Context switches** are the sums of `voluntary_ctxt_switches` (the
//!   thread waited: a blocking call, an empty epoll) and
//!   `nonvoluntary_ctxt_switches` (the scheduler took the core away) over
//!   `/proc/PID/task/*/status`, taken thread by thread ([`SwitchSnapshot`]).
//!   A thread that ends inside the window takes its counts with it, so a
//!   window in which threads end undercounts (compare reads the window's
//!   end before the load closes its connections, for that reason).
//!
//! - **One thread's own cost** ([`ThreadCost`]): CPU time and context
//!   switches of the calling thread, from `getrusage(RUSAGE_THREAD)`. The
//!   load generator's threads read it at the start and the end of their
//!   measured window, so a run knows what it cost even when another run
//!   shares the process (`compare --side-by-side`).
//!
//! Counting the tracepoint sends every system call of the watched threads
//! through the kernel's slower tracing entry path; `docs/METHOD.md` gives
//! what that costs here.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use perf_event::events::Tracepoint;
use perf_event::{Builder, Counter};

use super::proc::process_tree;

/// Where tracefs is found, newest place first.
const TRACEFS_DIRS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracepoint every system call passes on entry.
const SYS_ENTER: &str = "events/raw_syscalls/sys_enter/id";

/// Most threads a process may have for its system calls to be counted: one
/// counter (one descriptor) each.
pub const MAX_COUNTED_THREADS: usize = 4096;

/// Why system calls cannot be counted here: shown once, in place of the
/// figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// Counts the system calls of one process from the moment it is attached.
#[derive(Debug)]
pub struct SyscallCounter {
    per_thread: Vec<Counter>,
}

impl SyscallCounter {
    /// Start counting the system calls of process `pid` and its child
    /// processes (every thread they have now, and the threads and
    /// processes those start).
    pub fn attach(pid: u32) -> Result<SyscallCounter, Unavailable> {
        let tracepoint = sys_enter_tracepoint()?;
        let threads = threads_of_tree(pid).map_err(|err| {
            Unavailable(format!("cannot list the threads of process {pid}: {err}"))
        })?;
        if threads.len() > MAX_COUNTED_THREADS {
            return Err(Unavailable(format!(
                "process {pid} has {} threads, more than the {MAX_COUNTED_THREADS} counted one by one",
                threads.len()
            )));
        }
        let mut per_thread = Vec::with_capacity(threads.len());
        for tid in threads {
            let built = Builder::new(tracepoint)
                .observe_pid(tid as i32)
                .any_cpu()
                .exclude_kernel(false)
                .inherit(true)
                .build();
            let mut counter = match built {
                Ok(counter) => counter,
                // The thread ended between the listing and now: nothing to count.
                Err(err) if err.raw_os_error() == Some(libc::ESRCH) => continue,
                Err(err) => return Err(open_failed(&err)),
            };
            counter.enable().map_err(|err| open_failed(&err))?;
            per_thread.push(counter);
        }
        Ok(SyscallCounter { per_thread })
    }

    /// System calls made since [`attach`](Self::attach).
    pub fn count(&mut self) -> io::Result<u64> {
        let mut total = 0;
        for counter in &mut self.per_thread {
            total += counter.read()?;
        }
        Ok(total)
    }
}

/// The `raw_syscalls:sys_enter` tracepoint, or why it cannot be had.
fn sys_enter_tracepoint() -> Result<Tracepoint, Unavailable> {
    for dir in TRACEFS_DIRS {
        let path = Path::new(dir).join(SYS_ENTER);
        if let Ok(text) = fs::read_to_string(&path) {
            let id = text.trim().parse().map_err(|_| {
                Unavailable(format!(
                    "{} holds '{}', not an id",
                    path.display(),
                    text.trim()
                ))
            })?;
            return Ok(Tracepoint::with_id(id));
        }
    }
    Err(Unavailable(format!(
        "the raw_syscalls:sys_enter tracepoint is not readable under {} or {}: \
         mount tracefs as root (`mount -t tracefs nodev /sys/kernel/tracing`)",
        TRACEFS_DIRS[0], TRACEFS_DIRS[1]
    )))
}

/// `perf_event_open` refused: say what would let it.
fn open_failed(err: &io::Error) -> Unavailable {
    let hint = match err.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            ": run as root, or lower kernel.perf_event_paranoid to 1 or less"
        }
        Some(libc::ENOSYS) | Some(libc::ENOENT) => ": this kernel has no perf events for it",
        _ => "",
    };
    Unavailable(format!(
        "perf_event_open on the sys_enter tracepoint failed: {err}{hint}"
    ))
}

/// Context switches of a process, summed over its threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextSwitches {
    /// The thread gave up the core: it waited for I/O, a lock or a timer.
    pub voluntary: u64,
    /// The scheduler took the core away (time slice over, or preempted).
    pub involuntary: u64,
}

/// CPU time and context switches of one thread, or of several added up.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThreadCost {
    /// User plus system CPU time, seconds.
    pub cpu_s: f64,
    /// Context switches, as in [`ContextSwitches`].
    pub switches: ContextSwitches,
}

impl ThreadCost {
    /// What the calling thread has cost so far.
    pub fn of_this_thread() -> ThreadCost {
        Self::of_rusage(libc::RUSAGE_THREAD)
    }

    /// What this whole process (every thread, live or ended) has cost.
    pub fn of_this_process() -> ThreadCost {
        Self::of_rusage(libc::RUSAGE_SELF)
    }

    fn of_rusage(who: libc::c_int) -> ThreadCost {
        // SAFETY: getrusage only writes into the struct it is given, which
        // is a plain C struct for which all zeroes is a valid value.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            // Cannot fail: `who` is one of the valid constants and the
            // pointer is ours.
            libc::getrusage(who, &mut usage);
            usage
        };
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        ThreadCost {
            cpu_s: seconds(usage.ru_utime) + seconds(usage.ru_stime),
            switches: ContextSwitches {
                voluntary: usage.ru_nvcsw as u64,
                involuntary: usage.ru_nivcsw as u64,
            },
        }
    }

    /// What happened between `earlier` and `self` (of the same thread).
    pub fn since(self, earlier: ThreadCost) -> ThreadCost {
        ThreadCost {
            cpu_s: (self.cpu_s - earlier.cpu_s).max(0.0),
            switches: self.switches.since(earlier.switches),
        }
    }

    /// Two threads' costs added up.
    pub fn plus(self, other: ThreadCost) -> ThreadCost {
        ThreadCost {
            cpu_s: self.cpu_s + other.cpu_s,
            switches: ContextSwitches {
                voluntary: self.switches.voluntary + other.switches.voluntary,
                involuntary: self.switches.involuntary + other.switches.involuntary,
            },
        }
    }
}

impl ContextSwitches {
    /// What happened between `earlier` and `self` (never below zero).
    pub fn since(self, earlier: ContextSwitches) -> ContextSwitches {
        ContextSwitches {
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary: self.involuntary.saturating_sub(earlier.involuntary),
        }
    }
}

/// The context switches of every thread of a process tree at one moment,
/// thread by thread, so that a window's count can be taken per thread.
#[derive(Debug, Clone, Default)]
pub struct SwitchSnapshot(HashMap<u32, ContextSwitches>);

impl SwitchSnapshot {
    /// Every thread that `pid` and its child processes have now.
    pub fn of_process(pid: u32) -> io::Result<SwitchSnapshot> {
        let mut by_thread = HashMap::new();
        for tid in threads_of_tree(pid)? {
            // A thread may end between the listing and the read.
            if let Ok(status) = fs::read_to_string(format!("/proc/{tid}/status")) {
                let (voluntary, involuntary) = parse_context_switches(&status);
                by_thread.insert(
                    tid,
                    ContextSwitches {
                        voluntary,
                        involuntary,
                    },
                );
            }
        }
        Ok(SwitchSnapshot(by_thread))
    }

    /// The switches made since `earlier`, thread by thread: for a thread
    /// alive in both, the difference; for one born since, all of its own.
    /// A thread that ended in between is left out, with its switches in
    /// the window: sums over whole processes would instead subtract its
    /// earlier count from everyone else's (a thread-per-connection server
    /// whose previous clients' threads end as a window begins then showed
    /// zero switches).
    pub fn since(&self, earlier: &SwitchSnapshot) -> ContextSwitches {
        let mut total = ContextSwitches::default();
        for (tid, now) in &self.0 {
            let then = earlier.0.get(tid).copied().unwrap_or_default();
            let delta = now.since(then);
            total.voluntary += delta.voluntary;
            total.involuntary += delta.involuntary;
        }
        total
    }
}

/// The ids of the threads of process `pid` and of its descendants
/// (`/proc/TID` reads any thread's files directly).
fn threads_of_tree(pid: u32) -> io::Result<Vec<u32>> {
    let mut threads = Vec::new();
    for process in process_tree(pid)? {
        let Ok(entries) = fs::read_dir(format!("/proc/{process}/task")) else {
            continue; // it ended meanwhile
        };
        for entry in entries {
            if let Some(tid) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
                threads.push(tid);
            }
        }
    }
    Ok(threads)
}

/// `(voluntary, nonvoluntary)` context switches from a `status` file.
fn parse_context_switches(status: &str) -> (u64, u64) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        field("voluntary_ctxt_switches:"),
        field("nonvoluntary_ctxt_switches:"),
    )
}

/// CPU time (user + system) this process has used, in seconds.
pub fn process_cpu_s() -> f64 {
    ThreadCost::of_this_process().cpu_s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window's switches are counted thread by thread: a thread that
    /// ended does not take the others' counts with it, and one born in the
    /// window counts all of its own.
    #[test]
    fn switches_since_a_snapshot_are_taken_thread_by_thread() {
        let at = |voluntary, involuntary| ContextSwitches {
            voluntary,
            involuntary,
        };
        let earlier = SwitchSnapshot(HashMap::from([(1, at(10, 1)), (2, at(100, 5))]));
        // Thread 2 ended; thread 3 was born.
        let now = SwitchSnapshot(HashMap::from([(1, at(15, 2)), (3, at(4, 1))]));
        assert_eq!(now.since(&earlier), at(9, 2));
    }

    /// Both counts are read from the lines a status file has.
    #[test]
    fn context_switches_parse_from_a_status_file() {
        let status = "Name:\tsockbench\nThreads:\t2\nvoluntary_ctxt_switches:\t1234\n\
                      nonvoluntary_ctxt_switches:\t56\n";
        assert_eq!(parse_context_switches(status), (1234, 56));
        assert_eq!(parse_context_switches("Name:\tx\n"), (0, 0));
    }

    /// A thread that sleeps switches voluntarily; the process sum sees it.
    #[test]
    fn sleeping_adds_voluntary_context_switches() {
        let pid = std::process::id();
        let before = SwitchSnapshot::of_process(pid).unwrap();
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let after = SwitchSnapshot::of_process(pid).unwrap();
        assert!(
            after.since(&before).voluntary >= 5,
            "{before:?} -> {after:?}"
        );
    }

    /// System calls made by a thread that starts after the counter is
    /// attached are counted (inherit), and a known number of calls is
    /// counted at least that often. Skipped, with the reason printed,
    /// where the tracepoint cannot be counted.
    #[test]
    fn system_calls_of_a_later_thread_are_counted() {
        let mut counter = match SyscallCounter::attach(std::process::id()) {
            Ok(counter) => counter,
            Err(reason) => {
                eprintln!("skipped: {reason}");
                return;
            }
        };
        let before = counter.count().unwrap();
        const CALLS: u64 = 2000;
        std::thread::spawn(|| {
            for _ in 0..CALLS {
                // SAFETY: getppid has no preconditions.
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
        })
        .join()
        .unwrap();
        let counted = counter.count().unwrap() - before;
        assert!(counted >= CALLS, "counted {counted} of at least {CALLS}");
    }

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
}
