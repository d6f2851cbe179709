//! Idle connections (`compare --idle N`, `--scenario idle`): that they are
//! really open at the server during the window and closed after, counted
//! by the server's own open sockets in `/proc`; and the scenario through
//! the binary, small.

mod util;

use std::process::Command;
use std::time::Duration;

use sockbench::compare::cell::{self, RunSettings, Served};
use sockbench::compare::idle::{self, IdleConnections};
use sockbench::compare::launch;
use sockbench::compare::matrix::{Cell, Contender, Transport};
use sockbench::engine::{EngineKind, Work};
use sockbench::service::ServiceKind;
use sockbench::sys::process::{ServerProcess, READY_TIMEOUT, STOP_TIMEOUT};
use util::cli::{csv_rows, scratch, sockbench};

/// Idle connections of the tests: enough to stand out from the active ones.
const IDLE: usize = 300;

/// Active connections of the tests.
const ACTIVE: usize = 4;

/// `sockbench serve --engine ENGINE` on 127.0.0.1:0, as compare starts it.
fn start(engine: EngineKind) -> ServerProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sockbench"));
    command.args(launch::server_args(
        Contender::Engine(engine),
        &[],
        Transport::Tcp4,
        ServiceKind::Echo,
    ));
    ServerProcess::start(command, READY_TIMEOUT).expect("the server starts")
}

/// Opened, the idle connections are held by the server (its socket count
/// has them all and its listener); closed, the server lets go of them
/// (its count is back where it was), on a readiness engine and on a
/// thread per connection alike.
#[test]
fn idle_connections_are_held_by_the_server_then_released() {
    for engine in [EngineKind::Reactor, EngineKind::Threaded] {
        let server = start(engine);
        let before = idle::server_sockets(Served::from(&server)).unwrap();
        let held = IdleConnections::open(Served::from(&server), IDLE).unwrap();
        assert_eq!(held.len(), IDLE);
        let during = idle::server_sockets(Served::from(&server)).unwrap();
        assert!(
            during > IDLE as u64,
            "{engine}: {during} sockets while {IDLE} are held"
        );
        held.close(Served::from(&server)).unwrap();
        let after = idle::server_sockets(Served::from(&server)).unwrap();
        assert!(
            after <= before,
            "{engine}: {after} sockets after, {before} before"
        );
        server.stop(STOP_TIMEOUT).unwrap();
    }
}

/// A cell with idle connections: the server held the active and the idle
/// ones at the end of the window (its own count, listener included), the
/// load was served, and after the cell the server is back to what it
/// held before.
#[test]
fn a_cell_holds_its_idle_connections_through_the_window() {
    let server = start(EngineKind::Reactor);
    let before = idle::server_sockets(Served::from(&server)).unwrap();
    let cell = Cell {
        contender: Contender::Engine(EngineKind::Reactor),
        transport: Transport::Tcp4,
        service: ServiceKind::Echo.into(),
        request: Default::default(),
        work: Work::None,
        connections: ACTIVE,
        pipeline: 1,
        size_bytes: 64,
        idle: IDLE,
        requests_per_connection: None,
        duration: Duration::from_millis(300),
    };
    let settings = RunSettings {
        load_threads: 1,
        pinned: false,
        server_cpu_quota: None,
        round: 1,
        count_syscalls: false,
    };
    let measured = cell::measure(&cell, Served::from(&server), settings, None).unwrap();
    assert_eq!(measured.failure, None);
    let record = measured.record;
    assert_eq!(record.outcome, "finished", "{record:?}");
    assert!(record.requests > 0, "{record:?}");
    assert_eq!(record.idle, IDLE as u64);
    let sockets = record
        .server_sockets
        .expect("the server's sockets are counted");
    assert!(
        sockets > (IDLE + ACTIVE) as u64,
        "{sockets} sockets at the window's end, with {IDLE} idle and {ACTIVE} active"
    );
    // measure() waited for the server to let them go: nothing to wait for.
    let after = idle::server_sockets(Served::from(&server)).unwrap();
    assert!(
        after <= before,
        "{after} sockets after the cell, {before} before"
    );
    server.stop(STOP_TIMEOUT).unwrap();
}

/// `--scenario idle`, made small with matrix flags: one row per server
/// and idle count in the measured round, every row held by its server
/// (its sockets at the window's end), and the idle table with the growth
/// column printed. Skipped, with the reason printed, where no CPU cgroup
/// is writable or there is no second core to pin to.
#[test]
fn idle_scenario_runs_as_a_matrix_preset_with_its_table() {
    let dir = scratch("idle-scenario");
    let run = sockbench(&[
        "compare",
        "--scenario",
        "idle",
        "--engines",
        "reactor,threaded",
        "--idle",
        "0,200",
        "--connections",
        "4",
        "--duration",
        "300ms",
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
    let rows: Vec<_> = csv_rows(&dir.join("idle.csv"))
        .into_iter()
        .filter(|row| row["round"] == "1")
        .collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for row in &rows {
        assert_eq!(row["outcome"], "finished", "{row:?}");
        let idle: u64 = row["idle"].parse().unwrap();
        let sockets: u64 = row["server_sockets"].parse().unwrap();
        assert!(sockets > idle + 4, "{row:?}");
    }
    assert!(stdout.contains("cpu/req growth"), "{stdout}");
    assert!(stdout.contains("4+200 idle"), "{stdout}");
    let machine = std::fs::read_to_string(dir.join("idle.machine.txt")).unwrap();
    assert!(machine.contains("server cpu quota"), "{machine}");
}

/// `--scale` belongs to the c10k and c100k scenarios: the idle one says
/// how to make it smaller instead.
#[test]
fn idle_scenario_refuses_scale_and_says_what_shrinks_it() {
    let run = sockbench(&["compare", "--scenario", "idle", "--scale", "0.1"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("shrink it with --idle"), "{stderr}");
}
