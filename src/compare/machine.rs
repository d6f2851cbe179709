//! `results/<name>.machine.txt`: where and how a comparison was measured.
//!
//! Figures mean little without the machine: core count, CPU model, kernel,
//! the sockbench revision and the exact command. Each comes from a file or
//! command that may be missing; a missing one is written as `unknown`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The machine file of a file made from a run rather than by it
/// (`NAME.verdicts.csv`, `NAME.timeline.csv`): beside it, as
/// `NAME.verdicts.machine.txt`, a line saying how it was made from the
/// run, then the run's own machine file (`run_machine`), so every results
/// file names the machine its figures came from. Returns the path written.
pub fn write_derived(derived: &Path, run_machine: &Path, how: &str) -> io::Result<PathBuf> {
    let facts = fs::read_to_string(run_machine).unwrap_or_else(|err| {
        format!(
            "the run's machine file {} could not be read ({err}): its machine is unknown\n",
            run_machine.display()
        )
    });
    let path = derived.with_extension("machine.txt");
    fs::write(&path, format!("derived: {how}\n{facts}"))?;
    Ok(path)
}

/// Facts about the machine and the run, as `key: value` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInfo {
    /// Cores available to this process.
    pub nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// `git rev-parse --short HEAD` of the sockbench checkout, `-dirty` if modified.
    pub git_revision: String,
    /// The command line of this run.
    pub command: String,
    /// Pinning of server and generator, as run.
    pub pinning: String,
    /// `/proc/loadavg`'s 1, 5 and 15 minute load averages when the run
    /// started: how busy the machine was with other work.
    pub load_average: String,
    /// How the run measured, as `key: value` lines after `pinning`: the
    /// server's CPU quota, the rounds and their order.
    pub method: Vec<(String, String)>,
}

impl MachineInfo {
    /// Gather the facts for a run started with `command`.
    pub fn gather(command: String, pinning: String) -> MachineInfo {
        let unknown = || "unknown".to_string();
        MachineInfo {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|text| cpu_model(&text))
                .unwrap_or_else(unknown),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|text| text.trim().to_string())
                .unwrap_or_else(|_| unknown()),
            git_revision: git_revision().unwrap_or_else(unknown),
            command,
            pinning,
            load_average: load_average(),
            method: Vec::new(),
        }
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let method: String = self
            .method
            .iter()
            .map(|(key, value)| format!("{key}: {value}\n"))
            .collect();
        format!(
            "nproc: {}\ncpu: {}\nkernel: {}\nsockbench: {} (git revision)\nload average at start (1, 5, 15 min): {}\npinning: {}\n{method}command: {}\n",
            self.nproc,
            self.cpu_model,
            self.kernel,
            self.git_revision,
            self.load_average,
            self.pinning,
            self.command
        )
    }
}

/// `/proc/loadavg`'s 1, 5 and 15 minute load averages, or `unknown`. Read
/// before the run only: during it, the run's own threads count (a
/// thread-per-connection server waiting for its quota adds one per
/// connection), so a figure taken after would not tell other work apart.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The first `model name` in `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))?
        .split_once(':')
        .map(|(_, model)| model.trim().to_string())
}

/// The short revision of the checkout sockbench was built from, with
/// `-dirty` when it has uncommitted changes. `results/` is left out: it
/// is what runs write, so a second run after a first is still clean.
fn git_revision() -> Option<String> {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let revision = run(&["rev-parse", "--short", "HEAD"])?;
    let dirty = run(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":!results",
    ])
    .is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{revision}-dirty")
    } else {
        revision
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model is taken from the first `model name` line.
    #[test]
    fn cpu_model_is_read_from_cpuinfo() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(
            cpu_model(cpuinfo).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    /// The rendered file carries every key, the command verbatim.
    #[test]
    fn machine_file_names_every_fact() {
        let mut info =
            MachineInfo::gather("sockbench compare --smoke".to_string(), "none".to_string());
        info.method
            .push(("server cpu quota".to_string(), "none".to_string()));
        let text = info.render();
        for key in [
            "nproc: ",
            "cpu: ",
            "kernel: ",
            "sockbench: ",
            "load average at start (1, 5, 15 min): ",
            "pinning: none",
            "server cpu quota: none",
            "command: sockbench compare --smoke",
        ] {
            assert!(text.contains(key), "{key} missing from {text}");
        }
        assert!(info.nproc >= 1);
    }
}
