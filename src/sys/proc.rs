//! Readers of `/proc` for one process tree: what it costs (CPU time,
//! peak memory), what it holds (memory, threads, sockets, descriptors),
//! and which processes it is made of.
//!
//! A process here is a whole tree ([`process_tree`]): a prefork server's
//! workers are children of the process that was started, and their figures
//! are summed. CPU time is `utime + stime + cutime + cstime` of
//! `/proc/PID/stat`: a process's own, and that of its children that have
//! ended and been waited for (a fork-per-client server's children live
//! for one connection each; once reaped, their time is their parent's
//! `cutime`/`cstime`, and each is counted once: alive in its own entry,
//! reaped in its parent's). Peak
//! resident memory is `VmHWM` of `/proc/PID/status`, whose high-water mark
//! [`reset_peak_rss`] resets by writing `5` to `/proc/PID/clear_refs`.

use std::collections::HashSet;
use std::fs;
use std::io;

/// What a server has cost so far, read from `/proc/PID`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcStats {
    /// User plus system CPU time, in seconds.
    pub cpu_s: f64,
    /// Peak resident set size since the last [`reset_peak_rss`], in KiB.
    pub peak_rss_kb: u64,
}

/// What a server holds at one moment, summed over the process and its
/// child processes, from `/proc/PID`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holding {
    /// Resident memory now (`VmRSS`), in KiB.
    pub rss_kb: u64,
    /// Threads (`Threads:`).
    pub threads: u64,
    /// Sockets open (distinct socket inodes among the descriptors of all
    /// its processes, so a listener every child shares is one; the
    /// blocking engines hold two descriptors per connection), counted only
    /// when asked: `readlink` on every descriptor costs time at 100,000.
    /// One per connection, plus the listener.
    pub sockets: Option<u64>,
    /// Descriptors open in the process that has the most, counted with the
    /// sockets: each process may open at most its hard `RLIMIT_NOFILE`.
    pub descriptors_most: Option<u64>,
}

/// Reset the peak-RSS mark of process `pid` and its descendants to their
/// current RSS. Returns `false` where the kernel does not allow it (the
/// peak is then the process's lifetime peak).
pub fn reset_peak_rss(pid: u32) -> bool {
    process_tree(pid).is_ok_and(|tree| {
        tree.iter()
            .all(|pid| fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
    })
}

/// Memory, threads and (with `count_sockets`) sockets held now by process
/// `pid` and its descendants (the body of `ServerProcess::holding`). An
/// error if any process of the tree could not be read: a sum without one
/// child would undercount its sockets and memory.
pub fn tree_holding(pid: u32, count_sockets: bool) -> io::Result<Holding> {
    sum_holdings(&process_tree(pid)?, |pid| {
        process_holding(pid, count_sockets)
    })
}

/// What one process holds: its sockets by inode, since a socket several
/// processes share (a prefork server's listener, in every child) is one.
#[derive(Debug, Clone, Default)]
pub struct ProcessHolding {
    /// Resident memory now (`VmRSS`), in KiB.
    pub rss_kb: u64,
    /// Threads (`Threads:`).
    pub threads: u64,
    /// The inodes of its sockets, when counted.
    pub socket_inodes: Option<HashSet<String>>,
    /// Its descriptors, when the sockets are counted.
    pub descriptors: Option<u64>,
}

/// The sum of what each process of `tree` holds, read by `read`, each
/// shared socket counted once; an error naming the first process that
/// could not be read (never a smaller sum).
pub fn sum_holdings(
    tree: &[u32],
    mut read: impl FnMut(u32) -> io::Result<ProcessHolding>,
) -> io::Result<Holding> {
    let mut total = Holding::default();
    let mut sockets: Option<HashSet<String>> = None;
    for &pid in tree {
        let one = read(pid).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("process {pid} of the server could not be read: {err}"),
            )
        })?;
        total.rss_kb += one.rss_kb;
        total.threads += one.threads;
        if let Some(inodes) = one.socket_inodes {
            sockets.get_or_insert_with(HashSet::new).extend(inodes);
        }
        total.descriptors_most = total.descriptors_most.max(one.descriptors);
    }
    total.sockets = sockets.map(|inodes| inodes.len() as u64);
    Ok(total)
}

/// Memory, threads and (with `count_sockets`) sockets of the one process `pid`.
fn process_holding(pid: u32, count_sockets: bool) -> io::Result<ProcessHolding> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    if is_zombie(&status) {
        // A child that has exited but is not reaped yet holds no memory
        // and no descriptors (its status has no VmRSS): it adds nothing,
        // and the sample is still complete.
        return Ok(ProcessHolding {
            socket_inodes: count_sockets.then(HashSet::new),
            descriptors: count_sockets.then_some(0),
            ..ProcessHolding::default()
        });
    }
    let field = |name: &str| {
        status_field(&status, name)
            .ok_or_else(|| io::Error::other(format!("/proc/{pid}/status has no {name}")))
    };
    let (socket_inodes, descriptors) = if count_sockets {
        let (inodes, descriptors) = sockets_of(pid)?;
        (Some(inodes), Some(descriptors))
    } else {
        (None, None)
    };
    Ok(ProcessHolding {
        rss_kb: field("VmRSS:")?,
        threads: field("Threads:")?,
        socket_inodes,
        descriptors,
    })
}

/// Whether the text of `/proc/PID/status` is a zombie's (`State:\tZ`).
fn is_zombie(status: &str) -> bool {
    status
        .lines()
        .find_map(|line| line.strip_prefix("State:"))
        .is_some_and(|state| state.trim_start().starts_with('Z'))
}

/// The sockets among the descriptors of process `pid` (their inodes), and
/// its descriptors.
fn sockets_of(pid: u32) -> io::Result<(HashSet<String>, u64)> {
    let mut inodes = HashSet::new();
    let mut descriptors = 0;
    for entry in fs::read_dir(format!("/proc/{pid}/fd"))? {
        descriptors += 1;
        // A descriptor closed between the listing and the read is skipped.
        if let Ok(target) = fs::read_link(entry?.path()) {
            let target = target.to_string_lossy();
            if let Some(inode) = target.strip_prefix("socket:") {
                inodes.insert(inode.to_string());
            }
        }
    }
    Ok((inodes, descriptors))
}

/// CPU time and peak RSS so far of process `pid` and its descendants (the
/// peaks are added: an upper bound of the tree's peak).
pub fn tree_stats(pid: u32) -> io::Result<ProcStats> {
    let mut total = ProcStats {
        cpu_s: 0.0,
        peak_rss_kb: 0,
    };
    for (index, pid) in process_tree(pid)?.into_iter().enumerate() {
        match process_stats(pid) {
            Ok(stats) => {
                total.cpu_s += stats.cpu_s;
                total.peak_rss_kb += stats.peak_rss_kb;
            }
            // A child may end between the listing and the read; `pid` may not.
            Err(err) if index == 0 => return Err(err),
            Err(_) => {}
        }
    }
    Ok(total)
}

/// CPU time and peak RSS of the one process `pid`.
fn process_stats(pid: u32) -> io::Result<ProcStats> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let unreadable = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot read {what} of process {pid} from /proc"),
        )
    };
    Ok(ProcStats {
        cpu_s: parse_cpu_ticks(&stat).ok_or_else(|| unreadable("CPU time"))? as f64
            / clock_ticks_per_s(),
        // A zombie keeps its CPU time in `stat` until it is reaped but has
        // no memory left (no VmHWM): its time counts, its memory is 0.
        peak_rss_kb: if is_zombie(&status) {
            0
        } else {
            parse_peak_rss_kb(&status).ok_or_else(|| unreadable("VmHWM"))?
        },
    })
}

/// `utime + stime + cutime + cstime` in clock ticks from the text of
/// `/proc/PID/stat` (the module docs say why the reaped children's too).
/// The command name (field 2) may contain spaces, so fields are counted
/// from the `)` that closes it: the four are fields 14 to 17.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields = after_name.split_whitespace().skip(11); // fields 3..=13
    let times: Option<Vec<u64>> = fields.take(4).map(|field| field.parse().ok()).collect();
    times
        .filter(|times| times.len() == 4)
        .map(|times| times.iter().sum())
}

/// `VmHWM` (peak resident set size) in KiB from `/proc/PID/status`.
fn parse_peak_rss_kb(status: &str) -> Option<u64> {
    status_field(status, "VmHWM:")
}

/// The number after `name` (such as `VmRSS:` or `Threads:`) in the text of
/// `/proc/PID/status`.
pub fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks per second, the unit of `/proc/PID/stat` times.
pub fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        ticks if ticks > 0 => ticks as f64,
        _ => 100.0, // the Linux default, if sysconf cannot say
    }
}

/// Process `pid` and every process descended from it, `pid` first. An
/// error if `pid` itself does not exist.
pub fn process_tree(pid: u32) -> io::Result<Vec<u32>> {
    fs::metadata(format!("/proc/{pid}"))?;
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let Some(child) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(parent) = fs::read_to_string(format!("/proc/{child}/stat"))
            .ok()
            .and_then(|stat| parse_parent(&stat))
        {
            parents.push((child, parent));
        }
    }
    let mut tree = vec![pid];
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        tree.extend(
            parents
                .iter()
                .filter(|&&(_, p)| p == parent)
                .map(|&(c, _)| c),
        );
        index += 1;
    }
    Ok(tree)
}

/// The parent's pid (field 4) from the text of `/proc/PID/stat`; fields
/// are counted from the `)` that ends the command name, which may hold
/// spaces.
fn parse_parent(stat: &str) -> Option<u32> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time of the whole machine so far, from the `cpu` line of
/// `/proc/stat`, in seconds summed over cores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineCpu {
    /// user + nice + system + irq + softirq: every process's work, ours too.
    pub busy_s: f64,
    /// steal: time this virtual machine wanted a core and the hypervisor
    /// gave it to another guest.
    pub steal_s: f64,
}

impl MachineCpu {
    /// Read `/proc/stat` now.
    pub fn read() -> Option<MachineCpu> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    fn parse(stat: &str) -> Option<MachineCpu> {
        let ticks: Vec<f64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()?;
        let [user, nice, system, _idle, _iowait, irq, softirq, steal, ..] = ticks[..] else {
            return None;
        };
        let per_s = clock_ticks_per_s();
        Some(MachineCpu {
            busy_s: (user + nice + system + irq + softirq) / per_s,
            steal_s: steal / per_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The machine's busy time counts user, nice, system, irq and softirq,
    /// not idle or iowait; steal apart.
    #[test]
    fn machine_cpu_adds_the_busy_columns_of_proc_stat() {
        let ticks = clock_ticks_per_s();
        let stat = format!(
            "cpu  {} 0 {} 999999 5 {} {} {} 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n",
            ticks * 3.0,
            ticks,
            ticks / 2.0,
            ticks / 2.0,
            ticks * 2.0
        );
        let cpu = MachineCpu::parse(&stat).unwrap();
        assert!((cpu.busy_s - 5.0).abs() < 1e-9, "{cpu:?}");
        assert!((cpu.steal_s - 2.0).abs() < 1e-9, "{cpu:?}");
        assert_eq!(MachineCpu::parse("intr 1 2 3\n"), None);
    }

    /// A child that has exited but is not reaped is read, not an error:
    /// its CPU time counts and it holds no memory or descriptors.
    #[test]
    fn an_unreaped_child_is_read_as_holding_nothing() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited once its state reads Z; bounded, no sleep.
        let exited = (0..1_000_000).any(|_| {
            fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| is_zombie(&s))
        });
        assert!(exited, "the child did not exit");
        let stats = process_stats(pid).unwrap();
        assert_eq!(stats.peak_rss_kb, 0);
        let holding = process_holding(pid, true).unwrap();
        assert_eq!((holding.rss_kb, holding.descriptors), (0, Some(0)));
        child.wait().unwrap();
    }

    /// A zombie's status (no VmRSS) is told apart from a live process's.
    #[test]
    fn a_zombie_is_recognised_by_its_state() {
        assert!(is_zombie(
            "Name:\tapache2\nState:\tZ (zombie)\nTgid:\t6873\n"
        ));
        assert!(!is_zombie(
            "Name:\tapache2\nState:\tS (sleeping)\nVmRSS:\t 10 kB\n"
        ));
        assert!(!is_zombie("garbage"));
    }

    /// A child that cannot be read makes the whole sum an error naming it,
    /// never a sum without that child's sockets; a socket shared by every
    /// process (a prefork listener) is counted once.
    #[test]
    fn an_unreadable_child_fails_the_sum_instead_of_lowering_it() {
        let one = |pid: u32| ProcessHolding {
            rss_kb: 10,
            threads: 1,
            socket_inodes: Some(
                (0..100)
                    .map(|n| format!("[{pid}{n}]"))
                    .chain(["[listener]".to_string()])
                    .collect(),
            ),
            descriptors: Some(101),
        };
        let all = sum_holdings(&[1, 2, 3], |pid| Ok(one(pid))).unwrap();
        assert_eq!((all.sockets, all.rss_kb, all.threads), (Some(301), 30, 3));
        let err = sum_holdings(&[1, 2, 3], |pid| match pid {
            2 => Err(io::Error::from(io::ErrorKind::PermissionDenied)),
            _ => Ok(one(pid)),
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("process 2"), "{err}");
    }

    /// CPU ticks are found after a command name containing spaces and
    /// parens, the reaped children's included.
    #[test]
    fn cpu_ticks_parse_after_odd_command_names() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(310));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    /// The CPU of reaped children (cutime, cstime) is counted: a `fork`
    /// server's clients were served by children that are gone.
    #[test]
    fn cpu_ticks_include_reaped_children() {
        let stat = "7 (sockbench) S 1 7 7 0 -1 4194560 100 0 0 0 20 10 600 300 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(930));
    }

    /// VmHWM is read in KiB from the status text.
    #[test]
    fn peak_rss_parses_from_status() {
        let status =
            "Name:\tsockbench\nVmPeak:\t  20000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(parse_peak_rss_kb(status), Some(5120));
        assert_eq!(parse_peak_rss_kb("Name:\tx\n"), None);
    }

    /// A child process is part of the tree, after its parent; the parent
    /// field is read past a command name with spaces and parentheses.
    #[test]
    fn process_tree_holds_children() {
        assert_eq!(parse_parent("42 (a (b) c) S 7 42 42 0"), Some(7));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let tree = process_tree(std::process::id()).unwrap();
        assert_eq!(tree[0], std::process::id());
        assert!(tree.contains(&child.id()), "{tree:?}");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(process_tree(u32::MAX - 1).is_err());
    }
}
