//! Running the `sockbench` binary from a test and reading what it wrote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh scratch directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockbench-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run the sockbench binary with `args`.
pub fn sockbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sockbench"))
        .args(args)
        .output()
        .expect("run the sockbench binary")
}

/// Each set of `compare` flags in `cases` is refused before anything
/// runs, its stderr saying the expected words; no CSV is written in `dir`.
pub fn assert_compare_refuses(dir: &Path, cases: &[(&[&str], &str)]) {
    let out_dir = dir.to_str().unwrap();
    for (flags, expected) in cases {
        let mut args = vec!["compare", "--out-dir", out_dir, "--name", "refused"];
        args.extend(flags.iter());
        let run = sockbench(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{flags:?} was accepted");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
    assert!(!dir.join("refused.csv").exists(), "nothing ran");
}

/// The last progress line reads `[n/n]`: every planned run was made.
pub fn assert_last_progress_line_is_complete(stderr: &str) {
    let last = stderr
        .lines()
        .rfind(|line| line.starts_with('['))
        .unwrap_or_else(|| panic!("no progress lines: {stderr}"));
    let (done, planned) = last[1..last.find(']').unwrap()].split_once('/').unwrap();
    assert_eq!(done, planned, "{last}");
}

/// Whether this run counted system calls (a counting round), or said
/// why not.
pub fn counted_syscalls(stderr: &str) -> bool {
    let counted = stderr.contains("counting round (system calls)");
    if !counted {
        assert!(
            stderr.contains("system calls are not counted (n/a)"),
            "{stderr}"
        );
        eprintln!("no counting round here: system calls could not be counted");
    }
    counted
}

/// Rows of a CSV as maps from column to text.
pub fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader.deserialize().map(Result::unwrap).collect()
}
