//! `compare --scenario unp` (Stevens' server-design table), made tiny with
//! matrix flags over designs every build has: the rows a connection per
//! request, the design table's columns and the claims table printed, the
//! iterative baseline's process control 0.

mod util;

use util::cli::{csv_rows, scratch, sockbench};

/// Two designs, one short round: each row made a connection per answer
/// (R = 1, `sized`, 4,000 bytes) and served some; the table has every
/// column, names the designs this build lacks and the claims it could
/// not check, and the baseline's process control is 0.0. Skipped, with
/// the reason printed, where no CPU cgroup is writable or there is no
/// second core to pin to.
#[test]
fn unp_scenario_prints_the_design_table_and_the_claims() {
    let dir = scratch("unp-scenario");
    let run = sockbench(&[
        "compare",
        "--scenario",
        "unp",
        "--engines",
        "iterative,threaded",
        "--duration",
        "500ms",
        "--rounds",
        "1",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    // The preset pins and sets a CPU quota, as the verdict method does.
    if stderr.contains("needs a writable CPU cgroup") || stderr.contains("--pin needs") {
        eprintln!("skipped: {}", stderr.trim());
        return;
    }
    assert!(run.status.success(), "{stderr}");
    let rows: Vec<_> = csv_rows(&dir.join("unp.csv"))
        .into_iter()
        .filter(|row| row["round"] == "1")
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row["outcome"], "finished", "{row:?}");
        assert_eq!(row["service"], "sized", "{row:?}");
        assert_eq!(row["size"], "4000", "{row:?}");
        assert_eq!(row["requests_per_connection"], "1", "{row:?}");
        assert!(row["req_per_s"].parse::<f64>().unwrap() > 0.0, "{row:?}");
        // Neither is a pool: no worker wrote a spread line.
        assert_eq!(row["server_spread"], "", "{row:?}");
    }
    for heading in [
        "srv µs/conn",
        "process control µs",
        "conn/s",
        "p99 connect+answer",
        "cs/conn",
        "spread min-max, cv",
    ] {
        assert!(stdout.contains(heading), "{heading} missing: {stdout}");
    }
    let iterative = stdout
        .lines()
        .find(|line| line.starts_with("iterative ") && line.contains("row 0"))
        .unwrap_or_else(|| panic!("no iterative row: {stdout}"));
    // The cells after the book's row: CPU per connection, then process control.
    let after_row = iterative.split("(the baseline)").nth(1).unwrap();
    let figures: Vec<&str> = after_row.split_whitespace().collect();
    assert!(figures[0].parse::<f64>().unwrap() > 0.0, "{iterative}");
    assert_eq!(figures[1], "0.0", "{iterative}");
    let threaded = stdout
        .lines()
        .find(|line| line.starts_with("threaded "))
        .unwrap();
    assert!(!threaded.contains("not run"), "{threaded}");
    assert!(
        stdout.contains("(a) a pool cuts process control"),
        "{stdout}"
    );
    assert!(stdout.contains("not checked: "), "{stdout}");
}

/// `--scale` is for c10k and c100k: the unp scenario says what shrinks it.
#[test]
fn unp_scenario_refuses_scale_and_says_what_shrinks_it() {
    let run = sockbench(&["compare", "--scenario", "unp", "--scale", "0.1"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("the unp scenario is a matrix: shrink it with --duration"),
        "{stderr}"
    );
}
