//! `serve --processes N`: prefork, N server processes under one supervisor.
//!
//! What Apache's prefork and nginx's worker processes do: several processes
//! serve one port, and a parent watches over them. Here each child is this
//! same program, `sockbench serve` with the same flags, serving its own
//! `SO_REUSEPORT` listener on the port the parent reserved; the kernel
//! spreads new connections over the children's listeners by a hash of the
//! connection's addresses (see `engine/reactor.rs` on that hash's balance).
//! Processes share even less than loops do: a child that crashes takes
//! only its own connections with it, and each has its own descriptor limit
//! (20,000 here), so N children hold N times as many connections.
//!
//! How to read it: [`supervise`] reserves the port, starts the children,
//! waits until each says `listening on`, prints the one `listening on`
//! line, then waits for signals:
//! - SIGCHLD: a child ended. It is reported (pid and how it ended) and, if
//!   it died (a signal or a failure exit) after it had been serving (had
//!   said `listening on`), **restarted**, up to [`MAX_RESTARTS`] times per
//!   child. Not restarted: a child that exited cleanly (someone stopped it
//!   on purpose), one that died before listening (it would only fail
//!   again), one that keeps dying (a bug to look at, not to hide). The
//!   others keep serving either way.
//! - SIGINT or SIGTERM: every child is sent SIGTERM and stops gracefully
//!   (no new connections, replies in flight finish within `--grace`); a
//!   child still running after the grace period and [`STOP_SLACK`] is
//!   killed.
//!
//! Why fork + exec and not a bare `fork()`: after `fork()` a process that
//! has threads may call only async-signal-safe functions until it execs;
//! starting this program afresh keeps every child an ordinary process.
//! The parent reserves the port with a socket that is bound (with
//! `SO_REUSEPORT`) but never listens: it keeps port 0's choice for restarts
//! and is never handed a connection, since only listening sockets are.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use socket2::{Domain, Protocol, Socket, Type};

/// Restarts allowed per child before it is left down.
pub const MAX_RESTARTS: u32 = 5;

/// How long a child may take to print `listening on`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed past `--grace` before a stopping child is killed.
const STOP_SLACK: Duration = Duration::from_secs(5);

/// How often a stopping parent looks whether its children have exited.
const STOP_POLL: Duration = Duration::from_millis(20);

/// One child process and what the parent knows of it.
struct Slot {
    index: usize,
    child: Option<Child>,
    /// Set by the relay thread once this child has said `listening on`.
    is_serving: Arc<AtomicBool>,
    restarts: u32,
}

/// What a prefork parent needs of `sockbench serve`'s flags (the children
/// get all of them again, from this process's command line).
#[derive(Debug)]
pub struct Prefork {
    /// Where the children serve (port 0: one free port, kept on restarts).
    pub addr: SocketAddr,
    /// How many children serve.
    pub processes: usize,
    /// How long a stopping child may finish its replies in flight.
    pub grace: Duration,
    /// What each child serves, for the `listening on` line
    /// (`engine E, service S, work W`).
    pub what: String,
}

/// Run `sockbench serve` as a prefork parent: start `args.processes`
/// children, supervise them until SIGINT or SIGTERM, then stop them all.
pub fn supervise(args: &Prefork) -> io::Result<ExitCode> {
    let reserved = reserve_port(args.addr)?;
    let addr = reserved
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("the reserved address is not an IP address"))?;
    let program = std::env::current_exe()?;
    let child_args = child_args(std::env::args_os().skip(1), addr);
    // Registered before any child starts, so no death goes unheard.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGCHLD])?;
    let (ready_tx, ready) = crossbeam_channel::unbounded();
    let mut slots = Vec::with_capacity(args.processes);
    for index in 0..args.processes {
        let is_serving = Arc::new(AtomicBool::new(false));
        let child = start_child(
            &program,
            &child_args,
            index,
            Arc::clone(&is_serving),
            ready_tx.clone(),
        )?;
        slots.push(Slot {
            index,
            child: Some(child),
            is_serving,
            restarts: 0,
        });
    }
    if let Err(err) = wait_until_ready(&ready, args.processes) {
        stop_all(&mut slots, args.grace);
        return Err(err);
    }
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "listening on {addr} ({}, {} processes)",
        args.what, args.processes
    )?;
    stdout.flush()?;
    drop(stdout);
    loop {
        let pending: Vec<i32> = signals.wait().collect();
        // A stop first: Ctrl-C reaches the children too, and their exits
        // must not be taken for deaths to restart.
        if let Some(&signal) = pending.iter().find(|&&s| s == SIGINT || s == SIGTERM) {
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            eprintln!(
                "prefork: {name}: stopping the children gracefully ({} running, up to {:?})",
                slots.iter().filter(|s| s.child.is_some()).count(),
                args.grace
            );
            break;
        }
        reap_and_restart(&mut slots, &program, &child_args, &ready_tx)?;
        if slots.iter().all(|slot| slot.child.is_none()) {
            return Err(io::Error::other(
                "every child has died and none could be restarted: see the reasons above",
            ));
        }
    }
    let clean = stop_all(&mut slots, args.grace);
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A socket bound to `addr` with `SO_REUSEPORT` that never listens: it
/// holds the port (port 0's choice included) for the children and their
/// restarts, and is never given a connection.
fn reserve_port(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into()).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot reserve {addr} for the children: {err} (is another server there? --addr 127.0.0.1:0 picks a free port)"),
        )
    })?;
    Ok(socket)
}

/// The parent's own arguments for a child: the same flags, without
/// `--processes` and `--addr`, plus the reserved address and the mark that
/// makes it a child.
fn child_args(parent: impl Iterator<Item = OsString>, addr: SocketAddr) -> Vec<OsString> {
    let mut args = Vec::new();
    let mut skip_value = false;
    for arg in parent {
        if skip_value {
            skip_value = false;
            continue;
        }
        let text = arg.to_string_lossy();
        if text == "--processes" || text == "--addr" {
            skip_value = true;
            continue;
        }
        if text.starts_with("--processes=") || text.starts_with("--addr=") {
            continue;
        }
        args.push(arg);
    }
    args.extend([
        "--addr".into(),
        addr.to_string().into(),
        "--prefork-child".into(),
    ]);
    args
}

/// Start child `index`. Its stdout is relayed line by line by a thread,
/// which sets `is_serving` and reports on `ready` once the child prints
/// `listening on` (that line is the parent's to print, once for all), or
/// reports that it never did.
fn start_child(
    program: &std::path::Path,
    args: &[OsString],
    index: usize,
    is_serving: Arc<AtomicBool>,
    ready: Sender<Result<usize, usize>>,
) -> io::Result<Child> {
    let mut command = Command::new(program);
    command.args(args).stdout(Stdio::piped());
    // SAFETY: prctl is async-signal-safe, and nothing else runs between
    // fork and exec. If the parent dies without stopping its children
    // (SIGKILL), each child is sent SIGTERM instead of serving on orphaned.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    eprintln!("prefork: child {index} is pid {}", child.id());
    let stdout = child.stdout.take().expect("stdout is piped");
    std::thread::Builder::new()
        .name(format!("sockbench-relay-{index}"))
        .spawn(move || {
            let mut is_ready = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !is_ready && line.starts_with("listening on ") {
                    is_ready = true;
                    is_serving.store(true, Ordering::Relaxed);
                    let _ = ready.send(Ok(index));
                } else {
                    println!("{line}");
                }
            }
            if !is_ready {
                let _ = ready.send(Err(index));
            }
        })?;
    Ok(child)
}

/// Wait until `count` children have said `listening on`.
fn wait_until_ready(ready: &Receiver<Result<usize, usize>>, count: usize) -> io::Result<()> {
    for _ in 0..count {
        match ready.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(_)) => {}
            Ok(Err(index)) => {
                return Err(io::Error::other(format!(
                    "child {index} exited before listening: see its error above"
                )))
            }
            Err(_) => {
                return Err(io::Error::other(format!(
                    "a child did not start listening within {READY_TIMEOUT:?}"
                )))
            }
        }
    }
    Ok(())
}

/// Report every child that has exited, and restart it if it had been
/// serving and has restarts left.
fn reap_and_restart(
    slots: &mut [Slot],
    program: &std::path::Path,
    args: &[OsString],
    ready: &Sender<Result<usize, usize>>,
) -> io::Result<()> {
    for slot in slots.iter_mut() {
        let Some(child) = &mut slot.child else {
            continue;
        };
        let Some(status) = child.try_wait()? else {
            continue;
        };
        let (index, pid) = (slot.index, child.id());
        slot.child = None;
        if status.success() {
            eprintln!(
                "prefork: child {index} (pid {pid}) stopped cleanly (it was asked to): not restarted; the others keep serving"
            );
            continue;
        }
        if !slot.is_serving.load(Ordering::Relaxed) {
            eprintln!(
                "prefork: child {index} (pid {pid}) ended ({status}) before listening: not restarted, it would only fail again; the others keep serving"
            );
            continue;
        }
        if slot.restarts == MAX_RESTARTS {
            eprintln!(
                "prefork: child {index} (pid {pid}) ended ({status}), its {MAX_RESTARTS}th death: not restarted; the others keep serving"
            );
            continue;
        }
        slot.restarts += 1;
        eprintln!(
            "prefork: child {index} (pid {pid}) ended ({status}); restarting it ({} of {MAX_RESTARTS})",
            slot.restarts
        );
        slot.is_serving = Arc::new(AtomicBool::new(false));
        let is_serving = Arc::clone(&slot.is_serving);
        slot.child = Some(start_child(
            program,
            args,
            index,
            is_serving,
            ready.clone(),
        )?);
    }
    Ok(())
}

/// Send SIGTERM to every child and wait for each, killing any still there
/// after `grace` plus [`STOP_SLACK`]. `true` if every child exited cleanly.
fn stop_all(slots: &mut [Slot], grace: Duration) -> bool {
    for child in slots.iter().filter_map(|slot| slot.child.as_ref()) {
        // SAFETY: kill only sends a signal, to a child we started and have
        // not yet reaped (so its pid cannot have been reused).
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace + STOP_SLACK;
    let mut clean = true;
    for slot in slots.iter_mut() {
        let Some(mut child) = slot.child.take() else {
            continue;
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(STOP_POLL),
                Ok(None) | Err(_) => break None,
            }
        };
        match status {
            Some(status) if status.success() => {}
            // Still starting when stopped (SIGTERM may come before it set
            // up its handler): it had nothing in flight to lose.
            Some(_) if !slot.is_serving.load(Ordering::Relaxed) => {}
            Some(status) => {
                clean = false;
                eprintln!("prefork: child {} ended ({status})", slot.index);
            }
            None => {
                clean = false;
                eprintln!(
                    "prefork: child {} (pid {}) still running after the grace period: killed",
                    slot.index,
                    child.id()
                );
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child gets the parent's flags without `--processes` and `--addr`
    /// (in either spelling), plus the reserved address and the child mark.
    #[test]
    fn child_args_replace_processes_and_addr() {
        let parent = [
            "serve",
            "--engine",
            "reactor",
            "--processes",
            "2",
            "--addr=127.0.0.1:0",
            "--work",
            "sleep:1ms",
            "--processes=3",
        ]
        .map(OsString::from);
        let addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let args = child_args(parent.into_iter(), addr);
        let args: Vec<String> = args
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "serve",
                "--engine",
                "reactor",
                "--work",
                "sleep:1ms",
                "--addr",
                "127.0.0.1:7000",
                "--prefork-child"
            ]
        );
    }
}
