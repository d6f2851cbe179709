//! A CPU quota for one server process (`compare --server-cpu FRACTION`).
//!
//! On a 2-core machine the load generator and the server each pay about
//! the same kernel loopback cost per request, so without a limit either
//! side may be the bottleneck, and which one it is changes from run to
//! run. Capping the server at a fraction of one core makes it the
//! bottleneck by construction: the generator, with a whole core, always
//! has room to spare, and throughput measures the server's cost per
//! request (`docs/METHOD.md`).
//!
//! The quota is a cgroup that compare creates for each server process and
//! removes after it: cgroup v2's `cpu.max` where a cgroup2 hierarchy has
//! the `cpu` controller, cgroup v1's `cpu.cfs_quota_us` and
//! `cpu.cfs_period_us` where a v1 `cpu` hierarchy is mounted. The kernel
//! lets the group run `fraction × period` of CPU time in each `period`,
//! then stops it until the next period: so the period is also the longest
//! stall a throttled server adds to a request's latency. [`DEFAULT_PERIOD`]
//! explains the choice.
//!
//! The quota caps a server; the group's scheduling **weight** guarantees
//! it. The group gets the highest weight the kernel allows ([`WEIGHT_V1`],
//! [`WEIGHT_V2`]), so other work on the machine (a build, another guest's
//! noise inside this one) cannot take the server's quota from it: the
//! server then runs its `fraction` whenever it wants to, and only the
//! quota stops it. Without the weight, a busy machine gives a capped
//! server less than its quota, and what it measures is the scheduler's
//! split rather than the server's cost.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The enforcement period: short enough that a throttled server stalls
/// for a few milliseconds at most (a 100 ms period, the kernel's default,
/// shows up as 50 ms latency spikes at half a core), long enough that the
/// scheduler's per-period bookkeeping stays negligible. Measured choice:
/// `docs/METHOD.md`, "The quota's period".
pub const DEFAULT_PERIOD: Duration = Duration::from_millis(10);

/// The shortest period the kernel accepts (1 ms in v1 and v2).
pub const MIN_PERIOD: Duration = Duration::from_millis(1);

/// The longest period the kernel accepts (1 s).
pub const MAX_PERIOD: Duration = Duration::from_secs(1);

/// cgroup v1 `cpu.shares` of a quota group: the largest the kernel takes
/// (the default is 1024, so a group outweighs any ordinary process 256:1).
pub const WEIGHT_V1: u64 = 262_144;

/// cgroup v2 `cpu.weight` of a quota group: the largest (default 100).
pub const WEIGHT_V2: u64 = 10_000;

/// Which cgroup interface holds the quota.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Interface {
    /// cgroup v2: `cpu.max` under a cgroup2 mount.
    V2,
    /// cgroup v1: `cpu.cfs_quota_us` under the `cpu` controller's mount.
    V1,
}

/// One server's CPU quota cgroup; removed when dropped.
#[derive(Debug)]
pub struct CpuQuota {
    dir: PathBuf,
    interface: Interface,
    fraction: f64,
    period: Duration,
}

/// How often the kernel held the group back, since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Throttling {
    /// Enforcement periods in which the group ran.
    pub periods: u64,
    /// Periods in which it used up its quota and was stopped.
    pub throttled_periods: u64,
    /// Total time it spent stopped, in seconds.
    pub throttled_s: f64,
}

impl CpuQuota {
    /// Make a cgroup that lets its processes use `fraction` of one core,
    /// enforced every `period`. One error line naming what was tried
    /// when no CPU cgroup can be made.
    pub fn create(fraction: f64, period: Duration) -> io::Result<CpuQuota> {
        assert!(fraction > 0.0 && (MIN_PERIOD..=MAX_PERIOD).contains(&period));
        let mut tried = Vec::new();
        for (interface, parent) in candidates() {
            match Self::create_in(&parent, interface.clone(), fraction, period) {
                Ok(quota) => return Ok(quota),
                Err(err) => tried.push(format!("{}: {err}", parent.display())),
            }
        }
        if tried.is_empty() {
            tried.push("no cgroup2 mount with the cpu controller and no cgroup v1 cpu mount in /proc/mounts".into());
        }
        Err(io::Error::other(format!(
            "--server-cpu needs a writable CPU cgroup (run as root on Linux with cgroups); tried {}",
            tried.join("; ")
        )))
    }

    fn create_in(
        parent: &Path,
        interface: Interface,
        fraction: f64,
        period: Duration,
    ) -> io::Result<CpuQuota> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "sockbench-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let period_us = period.as_micros() as u64;
        let quota_us = ((fraction * period_us as f64).round() as u64).max(1000);
        if interface == Interface::V2 {
            // A child gets the cpu controller only if its parent hands it down.
            let control = parent.join("cgroup.subtree_control");
            if !fs::read_to_string(&control)?
                .split_whitespace()
                .any(|c| c == "cpu")
            {
                fs::write(&control, "+cpu")?;
            }
        }
        let dir = parent.join(name);
        fs::create_dir(&dir)?;
        let quota = CpuQuota {
            dir,
            interface,
            fraction,
            period,
        };
        // On error the drop removes the half-made group.
        match quota.interface {
            Interface::V2 => {
                write(&quota.dir, "cpu.max", &format!("{quota_us} {period_us}"))?;
                write(&quota.dir, "cpu.weight", &WEIGHT_V2.to_string())?;
            }
            Interface::V1 => {
                write(&quota.dir, "cpu.cfs_period_us", &period_us.to_string())?;
                write(&quota.dir, "cpu.cfs_quota_us", &quota_us.to_string())?;
                write(&quota.dir, "cpu.shares", &WEIGHT_V1.to_string())?;
            }
        }
        Ok(quota)
    }

    /// Move process `pid`, all its threads, into the group; threads and
    /// processes it starts later are born in it (children it already has
    /// are not moved: add them too).
    pub fn add(&self, pid: u32) -> io::Result<()> {
        write(&self.dir, "cgroup.procs", &pid.to_string())
    }

    /// The group's `cgroup.procs`, open for writing: a process that writes
    /// `0` to it moves itself in (a server's first step before its program
    /// runs, [`crate::external`]).
    pub fn procs_file(&self) -> io::Result<fs::File> {
        let path = self.dir.join("cgroup.procs");
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|err| io::Error::new(err.kind(), format!("opening {}: {err}", path.display())))
    }

    /// The processes in the group now.
    pub fn members(&self) -> io::Result<Vec<u32>> {
        let procs = fs::read_to_string(self.dir.join("cgroup.procs"))?;
        Ok(procs.lines().filter_map(|pid| pid.parse().ok()).collect())
    }

    /// The share of one core the group may use.
    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// What the machine file records: interface, files and values.
    pub fn describe(&self) -> String {
        let period_us = self.period.as_micros();
        let quota_us = ((self.fraction * period_us as f64).round() as u64).max(1000);
        match self.interface {
            Interface::V2 => format!(
                "{} of a core per server process: cgroup v2 cpu.max = \"{quota_us} {period_us}\", cpu.weight = {WEIGHT_V2}",
                self.fraction
            ),
            Interface::V1 => format!(
                "{} of a core per server process: cgroup v1 cpu.cfs_quota_us = {quota_us}, cpu.cfs_period_us = {period_us}, cpu.shares = {WEIGHT_V1}",
                self.fraction
            ),
        }
    }

    /// Throttling so far, from the group's `cpu.stat`.
    pub fn throttling(&self) -> io::Result<Throttling> {
        let stat = fs::read_to_string(self.dir.join("cpu.stat"))?;
        Ok(parse_cpu_stat(&stat))
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        // A process still inside (one that left its server's process group,
        // or a server that could not be stopped) keeps the group busy, and
        // must not outlive the comparison: kill it, until none is left.
        for _ in 0..EMPTYING_TRIES {
            match self.members() {
                Ok(members) if !members.is_empty() => {
                    for pid in members {
                        if let Ok(pid) = libc::pid_t::try_from(pid) {
                            // SAFETY: kill has no memory effects.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                        }
                    }
                    std::thread::sleep(EMPTYING_WAIT);
                }
                _ => break,
            }
        }
        if let Err(err) = fs::remove_dir(&self.dir) {
            log::warn!("could not remove cgroup {}: {err}", self.dir.display());
        }
    }
}

/// How often, and how long apart, a dropped group's members are killed
/// until it is empty: a process forking as it is killed needs more than one.
const EMPTYING_TRIES: usize = 50;
const EMPTYING_WAIT: Duration = Duration::from_millis(20);

/// Write `value` to `dir/file`, naming the file in the error.
fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    fs::write(dir.join(file), value)
        .map_err(|err| io::Error::new(err.kind(), format!("writing {value} to {file}: {err}")))
}

/// Where a quota group can be made: cgroup2 mounts with the cpu
/// controller first, then cgroup v1 mounts of the cpu controller.
fn candidates() -> Vec<(Interface, PathBuf)> {
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut found = Vec::new();
    for (kind, dir, options) in mounts.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() >= 4).then(|| (fields[2], fields[1], fields[3]))
    }) {
        let dir = PathBuf::from(dir);
        if kind == "cgroup2" {
            let controllers =
                fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            if controllers.split_whitespace().any(|c| c == "cpu") {
                found.insert(0, (Interface::V2, dir));
            }
        } else if kind == "cgroup" && options.split(',').any(|o| o == "cpu") {
            found.push((Interface::V1, dir));
        }
    }
    found
}

/// The throttling counters of a `cpu.stat` file (v1 gives nanoseconds,
/// v2 microseconds).
fn parse_cpu_stat(stat: &str) -> Throttling {
    let field = |name: &str| {
        stat.lines().find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse::<u64>().ok())?
        })
    };
    Throttling {
        periods: field("nr_periods").unwrap_or(0),
        throttled_periods: field("nr_throttled").unwrap_or(0),
        throttled_s: field("throttled_usec")
            .map(|us| us as f64 / 1e6)
            .or_else(|| field("throttled_time").map(|ns| ns as f64 / 1e9))
            .unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both kernels' spellings of the throttled time read as seconds.
    #[test]
    fn cpu_stat_parses_in_v1_and_v2_spellings() {
        let v1 = "nr_periods 200\nnr_throttled 150\nthrottled_time 750000000\n";
        let v2 = "usage_usec 9\nnr_periods 200\nnr_throttled 150\nthrottled_usec 750000\n";
        let expected = Throttling {
            periods: 200,
            throttled_periods: 150,
            throttled_s: 0.75,
        };
        assert_eq!(parse_cpu_stat(v1), expected);
        assert_eq!(parse_cpu_stat(v2), expected);
    }

    /// A quota group is made with the asked-for limit, holds a process
    /// put in it, throttles a spinning one, and is gone once dropped.
    /// Skipped, with the reason printed, where no CPU cgroup is writable.
    #[test]
    fn quota_group_is_set_up_weighted_throttles_and_is_removed() {
        let quota = match CpuQuota::create(0.25, DEFAULT_PERIOD) {
            Ok(quota) => quota,
            Err(err) => {
                eprintln!("skipped: {err}");
                return;
            }
        };
        let dir = quota.dir.clone();
        let limit = match quota.interface {
            Interface::V2 => fs::read_to_string(dir.join("cpu.max")).unwrap(),
            Interface::V1 => fs::read_to_string(dir.join("cpu.cfs_quota_us")).unwrap(),
        };
        assert!(
            limit.starts_with("2500"),
            "quota of a quarter of 10 ms: {limit}"
        );
        assert!(quota.describe().contains("2500"), "{}", quota.describe());
        let (file, weight) = match quota.interface {
            Interface::V2 => ("cpu.weight", WEIGHT_V2),
            Interface::V1 => ("cpu.shares", WEIGHT_V1),
        };
        assert_eq!(
            fs::read_to_string(dir.join(file)).unwrap().trim(),
            weight.to_string(),
            "the group outweighs other work"
        );

        // A shell that spins for a while: well over its quarter of a core.
        let mut spinner = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .spawn()
            .unwrap();
        quota.add(spinner.id()).unwrap();
        let members = fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(members.lines().any(|pid| pid == spinner.id().to_string()));
        assert!(spinner.wait().unwrap().success());
        let throttling = quota.throttling().unwrap();
        assert!(
            throttling.throttled_periods > 0 && throttling.throttled_s > 0.0,
            "a spinning process at a quarter of a core is throttled: {throttling:?}"
        );
        drop(quota);
        assert!(!dir.exists(), "{} is removed", dir.display());
    }
}
