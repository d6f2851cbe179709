//! `scripts/multihost.sh` end to end: a server and three load generators in
//! network namespaces the script makes (and removes), joined by veth pairs.
//! Where namespaces cannot be made (no root, no CAP_NET_ADMIN) the script
//! exits 77 and the test says why it was skipped.

use std::process::Command;

use sockbench::load::hdrlog;

mod util;

/// The merged histogram holds exactly the requests the three generators
/// counted, each in its own namespace: the several-hosts path adds up.
#[test]
fn multihost_merged_count_is_the_sum_of_the_generators() {
    let dir = util::cli::scratch("multihost");
    let output = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/multihost.sh"))
        .args(["--connections", "20", "--rate", "300", "--duration", "2s"])
        .arg("--out")
        .arg(&dir)
        .env("SOCKBENCH", env!("CARGO_BIN_EXE_sockbench"))
        .output()
        .expect("run scripts/multihost.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(77) {
        eprintln!("{stderr}");
        return;
    }
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let mut sum = 0;
    let mut logs = Vec::new();
    for n in 1..=3 {
        let json = std::fs::read(dir.join(format!("gen{n}.json"))).unwrap();
        let report: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(report["errors"], 0, "generator {n}: {report}");
        let requests = report["requests"].as_u64().unwrap();
        assert!(requests > 0, "generator {n}: {report}");
        sum += requests;
        logs.push(dir.join(format!("gen{n}.hlog")));
    }
    let merged = hdrlog::merge_logs(&logs).unwrap();
    assert_eq!(merged.latency().unwrap().len(), sum);
    assert!(
        stdout.contains(&format!("in the merged histogram: {sum}")),
        "{stdout}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
