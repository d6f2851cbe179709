//! `prefork-flock`: UNP ch. 30 row 3, `prefork-accept` with a file lock
//! around `accept`, so at most one child waits in `accept` at a time.
//!
//! How it differs from `prefork-accept` (row 2): the children queue on the
//! lock instead of on the listener. On kernels that woke every child
//! blocked in `accept` for each connection, this made one wake-up per
//! connection out of N; on Linux `accept` already wakes one, so the lock
//! only adds two system calls per connection. Row 4 makes the same lock
//! cheaper (a mutex in shared memory, no system call when uncontended).
//!
//! The lock is the book's `fcntl(F_SETLKW)` record lock on a file created
//! and unlinked at start (so nothing is left behind). Not `flock(2)`,
//! despite the name: an `flock` lock belongs to the open file, which the
//! children share through the descriptor they inherit, so all of them
//! would hold it at once; an `fcntl` lock belongs to the process. A child
//! stopped while waiting for the lock gets `EINTR`; one that dies holding
//! it releases it (the kernel drops a dead process's locks).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::children::{prefork, Supervisor};
use super::{EngineConfig, Listener};
use crate::service::Service;

/// Fork the children, each taking the file lock around its `accept`.
pub fn run(
    supervisor: &mut Supervisor,
    listener: &Listener,
    service: &dyn Service,
    config: &EngineConfig,
) -> io::Result<()> {
    let lock = lock_file()?;
    let fd = lock.as_raw_fd();
    prefork(supervisor, listener, service, config, &[fd], || {
        move || {
            set_lock(fd, libc::F_WRLCK)?;
            let accepted = listener.accept();
            set_lock(fd, libc::F_UNLCK)?;
            accepted.map(Some)
        }
    })
}

/// A fresh file in the temporary directory, unlinked once open.
fn lock_file() -> io::Result<File> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "sockbench-accept-lock-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "cannot create the accept lock {}: {err} (set TMPDIR to a writable directory)",
                    path.display()
                ),
            )
        })?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Take (`F_WRLCK`, waiting) or release (`F_UNLCK`) the whole-file lock.
fn set_lock(fd: RawFd, kind: i32) -> io::Result<()> {
    // SAFETY: a zeroed flock is a valid "whole file from offset 0" lock
    // request once its type and whence are set.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: fcntl with a valid descriptor and a valid flock struct.
    if unsafe { libc::fcntl(fd, libc::F_SETLKW, &lock) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
