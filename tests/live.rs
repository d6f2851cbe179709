//! `--live` end to end: the view's data is the load's own per-second data,
//! `q` in a real (pseudo-)terminal stops `load` and `compare` with their
//! results printed and written and the terminal given back, and without a
//! terminal `--live` falls back to the usual output.

mod util;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sockbench::engine::listener::bind_tcp;
use sockbench::engine::{self, EngineConfig, EngineKind, ListenOptions, Server};
use sockbench::load::{
    self, LoadConfig, Outcome, ProgressMode, RunEvent, RunLimit, Target, Timeline, Watch,
};
use sockbench::service::{self, ServiceKind};

use util::cli::{csv_rows, scratch, sockbench};

/// The longest any step of these tests may wait for the program.
const PATIENCE: Duration = Duration::from_secs(60);

/// Leaving the alternate screen: the terminal was given back.
const LEAVE_ALTERNATE_SCREEN: &str = "\x1b[?1049l";

/// A reactor echo server on a free loopback port.
fn echo_server() -> Server {
    let listener = bind_tcp("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    engine::start(
        EngineKind::Reactor,
        listener,
        service::build(ServiceKind::Echo, Default::default()),
        EngineConfig::default(),
    )
    .unwrap()
}

/// A watch that keeps what it sees and asks to stop once `stop_after`
/// intervals have come.
#[derive(Debug)]
struct Recorder {
    events: Mutex<Vec<RunEvent>>,
    stop_after: usize,
}

impl Watch for Recorder {
    fn see(&self, event: RunEvent) {
        self.events.lock().unwrap().push(event);
    }

    fn should_stop(&self) -> bool {
        let events = self.events.lock().unwrap();
        let intervals = events
            .iter()
            .filter(|e| matches!(e, RunEvent::Interval(_)))
            .count();
        intervals >= self.stop_after
    }
}

/// What a watch is told adds up to the report's own timeline, second by
/// second: the view and `--timeline` read one source. Asked to stop, the
/// run ends early as `stopped`, with what it measured.
#[test]
fn a_watch_sees_the_reports_intervals_and_can_stop_the_run() {
    let server = echo_server();
    let config = LoadConfig {
        target: Target::Tcp(server.tcp_addr().unwrap()),
        connections: 4,
        threads: 2,
        limit: RunLimit::Duration(Duration::from_secs(30)),
        ..LoadConfig::default()
    };
    let recorder = Recorder {
        events: Mutex::new(Vec::new()),
        stop_after: 2,
    };
    let started = Instant::now();
    let report = load::run_watched(&config, ProgressMode::Quiet, &recorder).unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "it did not stop early"
    );
    let events = recorder.events.into_inner().unwrap();
    assert!(
        matches!(events[0], RunEvent::Started { connections: 4, .. }),
        "{:?}",
        events[0]
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, RunEvent::Progress(state) if state.open == 4)));
    let mut seen = Timeline::new(false);
    for event in &events {
        if let RunEvent::Interval(interval) = event {
            seen.add(interval);
        }
    }
    assert!(report.requests > 0);
    assert_eq!(seen.rows(), report.timeline());
    assert_eq!(seen.total().requests, report.requests);
}

/// `--live` with stdout piped: one line says why there is no view, and
/// the usual output follows.
#[test]
fn live_without_a_terminal_falls_back_to_the_usual_output() {
    let dir = scratch("live-fallback");
    let out = sockbench(&[
        "compare",
        "--live",
        "--engines",
        "reactor",
        "--connections",
        "1",
        "--duration",
        "200ms",
        "--name",
        "fallback",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("--live needs a terminal"), "{stderr}");
    assert!(stderr.contains("[1/"), "the usual progress lines: {stderr}");
    assert!(
        stdout.contains("reactor") && stdout.contains("wrote"),
        "{stdout}"
    );
    assert!(!stdout.contains(LEAVE_ALTERNATE_SCREEN));
    assert_eq!(csv_rows(&dir.join("fallback.csv")).len(), {
        // One measured row, and one more if system calls could be counted.
        let counted = stderr.contains("counting round (system calls)");
        1 + usize::from(counted)
    });
    let server = echo_server();
    let addr = server.tcp_addr().unwrap().to_string();
    let out = sockbench(&["load", "--live", "--addr", &addr, "--duration", "300ms"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("load: --live needs a terminal"), "{stderr}");
    assert!(stdout.contains("outcome   finished"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A program running on a pseudo-terminal (120×35 at first), everything
/// it has written to it, and the screen that makes (vt100 keeps it as a
/// terminal would).
struct OnTerminal {
    child: Child,
    master: Arc<OwnedFd>,
    written: Arc<Mutex<(Vec<u8>, vt100::Parser)>>,
    reader_done: Arc<AtomicBool>,
}

impl OnTerminal {
    /// Start `sockbench args` with a fresh pseudo-terminal as its
    /// controlling terminal, stdin, stdout and stderr.
    fn start(args: &[&str]) -> OnTerminal {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two descriptors into the integers we pass.
        let opened = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &window(120, 35),
            )
        };
        assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
        // Close-on-exec, so the program does not inherit the master side:
        // if this test dies, the terminal then goes away and the program
        // with it, instead of blocking forever on a terminal nobody reads.
        for fd in [master, slave] {
            // SAFETY: fcntl on descriptors we own, with plain integer flags.
            assert_ne!(
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) },
                -1
            );
        }
        // SAFETY: both descriptors were just opened and are owned here only.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let stdio = || Stdio::from(slave.try_clone().unwrap());
        let mut command = Command::new(env!("CARGO_BIN_EXE_sockbench"));
        command
            .args(args)
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // A session of its own, with the terminal as its controlling
                // terminal, as a shell would give it (so /dev/tty is it, and
                // a resize sends it SIGWINCH).
                if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        drop(slave);
        let master = Arc::new(master);
        let written = Arc::new(Mutex::new((Vec::new(), vt100::Parser::new(35, 120, 0))));
        let reader_done = Arc::new(AtomicBool::new(false));
        {
            // Drain the terminal, or the program blocks writing to it.
            let master = Arc::clone(&master);
            let written = Arc::clone(&written);
            let reader_done = Arc::clone(&reader_done);
            std::thread::spawn(move || {
                let mut file = std::fs::File::from(master.try_clone().unwrap());
                let mut chunk = [0u8; 4096];
                // EIO once the program's side is closed: it has exited.
                while let Ok(n @ 1..) = file.read(&mut chunk) {
                    let mut written = written.lock().unwrap();
                    written.0.extend_from_slice(&chunk[..n]);
                    written.1.process(&chunk[..n]);
                }
                reader_done.store(true, Ordering::Relaxed);
            });
        }
        OnTerminal {
            child,
            master,
            written,
            reader_done,
        }
    }

    /// The screen now, one string per row.
    fn rows(&self) -> Vec<String> {
        let written = self.written.lock().unwrap();
        let screen = written.1.screen();
        let (_, width) = screen.size();
        screen.rows(0, width).collect()
    }

    /// Everything written so far, escape sequences and all.
    fn output(&self) -> String {
        String::from_utf8_lossy(&self.written.lock().unwrap().0).into_owned()
    }

    /// Wait (bounded) until `ready` holds for the screen's rows.
    fn wait_for(&self, what: &str, ready: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let rows = self.rows();
            if ready(&rows) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {PATIENCE:?}; the screen shows:\n{}",
                rows.join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Type `keys`.
    fn type_keys(&self, keys: &[u8]) {
        let mut file = std::fs::File::from(self.master.try_clone().unwrap());
        file.write_all(keys).unwrap();
    }

    /// Resize the terminal, as a window manager would (the program gets
    /// SIGWINCH).
    fn resize(&self, columns: u16, rows: u16) {
        // SAFETY: TIOCSWINSZ reads the winsize we pass.
        let set = unsafe {
            libc::ioctl(
                self.master.as_raw_fd(),
                libc::TIOCSWINSZ,
                &window(columns, rows),
            )
        };
        assert_eq!(set, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
        self.written.lock().unwrap().1.set_size(rows, columns);
    }

    /// Wait (bounded) for a program stopped with q to exit, and check that
    /// it says so: exit status 130, the terminal given back (the alternate
    /// screen left) before `results` is printed. The screen it leaves.
    fn finish_stopped(self, results: &str) -> Vec<String> {
        let (code, screen, output) = self.finish();
        assert_eq!(code, Some(130), "{}", screen.join("\n"));
        let restored = output
            .rfind(LEAVE_ALTERNATE_SCREEN)
            .unwrap_or_else(|| panic!("the terminal was not given back:\n{}", screen.join("\n")));
        let said = output
            .rfind(results)
            .unwrap_or_else(|| panic!("no {results:?}:\n{}", screen.join("\n")));
        assert!(restored < said, "the results come after the view");
        screen
    }

    /// Wait (bounded) for the program to exit; its exit code, the screen
    /// it leaves and all it wrote.
    fn finish(mut self) -> (Option<i32>, Vec<String>, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "it did not exit after q; it shows:\n{}",
                    self.rows().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let deadline = Instant::now() + PATIENCE;
        while !self.reader_done.load(Ordering::Relaxed) {
            assert!(Instant::now() < deadline, "the terminal was not closed");
            std::thread::sleep(Duration::from_millis(20));
        }
        (status.code(), self.rows(), self.output())
    }
}

impl Drop for OnTerminal {
    /// A test that failed half way leaves no program behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A terminal size.
fn window(columns: u16, rows: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Some row holds `text`.
fn shows(rows: &[String], text: &str) -> bool {
    rows.iter().any(|row| row.contains(text))
}

/// The CSV at `path` has at least `rows` rows.
fn has_rows(path: &Path, rows: usize) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text.lines().count() > rows)
}

/// In a terminal, `compare --live` shows the view; `q` stops it after
/// the run under way: the terminal is given back, then the progress so
/// far and the table are printed, the CSV holds the runs made (fewer than
/// planned), and the exit status says it was interrupted.
#[test]
fn q_stops_compare_live_with_the_results_so_far() {
    let dir = scratch("live-compare-q");
    let terminal = OnTerminal::start(&[
        "compare",
        "--live",
        "--engines",
        "reactor,threaded",
        "--transports",
        "unix",
        "--connections",
        "2",
        "--duration",
        "300ms",
        "--rounds",
        "100",
        "--name",
        "live",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let csv = dir.join("live.csv");
    terminal.wait_for("view", |rows| {
        shows(rows, "finished runs") && shows(rows, "run ")
    });
    // Made smaller mid-run, it draws itself again at 80×24: the latency
    // pane's right border is now the last column of the top row.
    terminal.resize(80, 24);
    terminal.wait_for("view at 80x24", |rows| {
        rows.len() == 24
            && rows[3].contains("latency")
            && rows[3].chars().count() == 80
            && rows[3].ends_with('┐')
            && shows(rows, "finished runs")
    });
    terminal.wait_for("finished run", |_| has_rows(&csv, 1));
    terminal.type_keys(b"q");
    let screen = terminal.finish_stopped("stopped early");
    // The normal screen again, with the end of the results on it.
    assert!(shows(&screen, "wrote"), "{}", screen.join("\n"));
    let rows = csv_rows(&csv);
    assert!(!rows.is_empty() && rows.len() < 200, "{} rows", rows.len());
    assert!(dir.join("live.table.txt").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// In a terminal, `load --live` shows the run's figures as it goes; `q`
/// ends it at once: the terminal is given back, the report says it was
/// stopped, `--timeline` is written, and the exit status is 130.
#[test]
fn q_stops_load_live_and_writes_the_timeline() {
    let dir = scratch("live-load-q");
    let server = echo_server();
    let addr = server.tcp_addr().unwrap().to_string();
    let timeline = dir.join("timeline.csv");
    let terminal = OnTerminal::start(&[
        "load",
        "--live",
        "--addr",
        &addr,
        "--connections",
        "4",
        "--duration",
        "60s",
        "--timeline",
        timeline.to_str().unwrap(),
    ]);
    // The first measured second is on the screen.
    terminal.wait_for("first second", |rows| shows(rows, "second 0"));
    terminal.type_keys(b"q");
    let screen = terminal.finish_stopped("interrupted by the user");
    assert!(shows(&screen, "outcome"), "{}", screen.join("\n"));
    let seconds = std::fs::read_to_string(&timeline).unwrap();
    assert!(
        seconds.starts_with("second,requests,errors,p50_us,p99_us"),
        "{seconds}"
    );
    assert!(seconds.lines().count() >= 2, "{seconds}");
    std::fs::remove_dir_all(&dir).unwrap();
}
