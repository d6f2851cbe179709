//! The io_uring plumbing `uring.rs` drives, as mio is the reactor's: the
//! ring's setup flags and the probe, the submission queue with its backlog
//! and count of operations in flight, the eventfd a stop rings, and the
//! provided-buffer ring receives draw from. What the loop does with them
//! (its operations, their names, each connection's states) is the model,
//! and stays in `uring.rs`.
//!
//! The provided-buffer ring ([`BufRing`]): a multishot receive does not
//! name a buffer when it is submitted: each time data arrives, the kernel
//! takes the next free buffer from this ring, fills it, and names it (by
//! id) in the completion. So an idle connection holds no receive buffer,
//! as in the reactor, and the loop owns them all.
//!
//! The loop's side of the bargain: copy a buffer's bytes out and hand the
//! buffer back ([`BufRing::recycle`]) at once, in the same turn. If the
//! kernel finds the ring empty, the receive ends with `ENOBUFS` (the data
//! stays queued in the socket, nothing is lost) and `uring.rs` re-arms it
//! once buffers have come back.
//!
//! The memory (a page-aligned array of ring entries, and the buffers) is
//! allocated here and registered with the ring; it must outlive the
//! registration and every receive that may still write into it, which
//! [`BufRing`]'s owner guarantees by reaping every operation before
//! dropping it ([`Ring::drain`]; `uring.rs`, "Free only after the final
//! completion").

use std::alloc::{self, Layout};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{BufRingEntry, CancelBuilder, Fd, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};

use crate::io_util::interrupted;

/// Submission queue entries: more than a turn queues in practice (a few
/// per completion); past it, entries wait in [`Ring::backlog`].
const SUBMISSION_ENTRIES: u32 = 2048;
/// Completion queue entries: generous, since every multishot receive may
/// post several per turn. An overflow ends multishot operations (they are
/// re-armed) and is logged.
const COMPLETION_ENTRIES: u32 = 16 * 1024;

/// How long a stop waits for cancelled operations' final completions
/// before giving up on them (and leaking their memory rather than freeing
/// what the kernel might still write).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Which io_uring setup flags the ring is created with (`serve
/// --ring-setup`), so that what each buys can be measured. `defer`, the
/// default, sets `SINGLE_ISSUER | DEFER_TASKRUN`: the kernel finishes
/// operations (copying received data, posting completions) only when the
/// loop's thread enters it to wait, in one batch, instead of interrupting
/// it whenever a packet arrives. `coop` sets `COOP_TASKRUN | TASKRUN_FLAG`:
/// no interrupting, but the work runs on any system call; `plain` sets
/// neither. `docs/LECTURE.md` has what each measured here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RingSetup {
    /// No flags: the kernel runs completion work whenever it is ready,
    /// interrupting this thread to do so.
    Plain,
    /// `COOP_TASKRUN | TASKRUN_FLAG`: no interrupting; completion work
    /// runs when this thread next enters the kernel.
    Coop,
    /// `SINGLE_ISSUER | DEFER_TASKRUN`: completion work runs only when
    /// this thread waits for completions, all of it in one batch.
    #[default]
    Defer,
}

/// Whether io_uring can be used here: `Ok`, or the one-line reason (with
/// what to do instead) that `serve --engine uring` would fail with.
///
/// The trial ring is made and dropped on a thread of its own. A thread
/// that has made a ring is interrupted (`EINTR`, as if by a signal) when
/// the kernel later tears the ring down, and a blocking call with a timeout
/// (a socket read with `SO_RCVTIMEO`) then fails instead of restarting: on
/// the caller's thread, that would reach whatever it does next.
pub fn probe() -> io::Result<()> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| IoUring::new(2).map(drop).map_err(unavailable))
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the io_uring probe thread panicked")))
    })
}

/// The error for a ring that cannot be set up, saying why and what to do.
fn unavailable(err: io::Error) -> io::Error {
    let why = match err.raw_os_error() {
        Some(libc::ENOSYS) => "this kernel has no io_uring",
        Some(libc::EPERM) => {
            "io_uring is forbidden here (sysctl kernel.io_uring_disabled, or a seccomp filter such as a container's)"
        }
        Some(libc::EINVAL) => "this kernel lacks an io_uring feature the engine uses (it needs Linux 6.1 or later)",
        _ => "io_uring could not be set up",
    };
    io::Error::new(
        err.kind(),
        format!("--engine uring: {why} ({err}): use another engine, such as --engine reactor"),
    )
}

/// An eventfd: the stop signal, rung from any thread. The loop keeps a
/// poll for it in the ring, so a stop completes like any operation.
#[derive(Debug)]
pub struct EventFd(File);

impl EventFd {
    /// A new eventfd, non-blocking, closed on exec.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a
        // new descriptor that nothing else owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        Ok(EventFd(unsafe { File::from_raw_fd(fd) }))
    }

    /// The descriptor the loop polls.
    pub fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Ask the loop to stop (idempotent: the counter only grows).
    pub fn ring(&self) {
        if let Err(err) = (&self.0).write_all(&1u64.to_ne_bytes()) {
            log::warn!("cannot wake the uring loop to stop it: {err}");
        }
    }
}

/// The ring, and the operations submitted to it whose final completion
/// has not come yet.
pub struct Ring {
    /// The ring itself: its completion queue is read by the loop.
    pub uring: IoUring,
    /// Operations submitted (or queued) and not yet finally completed.
    pub in_flight: usize,
    /// Entries that did not fit in a full submission queue, in order.
    backlog: Vec<squeue::Entry>,
    /// `io_uring_enter` calls made, numbered in `--trace`.
    pub enters: u64,
    is_overflow_logged: bool,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("in_flight", &self.in_flight)
            .field("backlog", &self.backlog.len())
            .field("enters", &self.enters)
            .finish_non_exhaustive()
    }
}

impl Ring {
    /// A ring with the setup flags of `setup`, or why there can be none.
    pub fn new(setup: RingSetup) -> io::Result<Ring> {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(COMPLETION_ENTRIES);
        match setup {
            RingSetup::Plain => {}
            RingSetup::Coop => {
                builder.setup_coop_taskrun().setup_taskrun_flag();
            }
            RingSetup::Defer => {
                builder.setup_single_issuer().setup_defer_taskrun();
            }
        }
        Ok(Ring {
            uring: builder.build(SUBMISSION_ENTRIES).map_err(unavailable)?,
            in_flight: 0,
            backlog: Vec::new(),
            enters: 0,
            is_overflow_logged: false,
        })
    }

    /// One `io_uring_enter`: submit everything queued, and wait up to
    /// `wait` for at least one completion (not at all while entries still
    /// wait in the backlog). A wait that ends by its timeout, a signal, or
    /// a full completion queue (reap it first) is no error.
    pub fn enter(&mut self, wait: Duration) -> io::Result<()> {
        let is_backlogged = self.move_backlog_in();
        let wait = if is_backlogged {
            Duration::ZERO // More to submit: just collect what is done.
        } else {
            wait
        };
        let timeout = Timespec::from(wait);
        let args = SubmitArgs::new().timespec(&timeout);
        self.enters += 1;
        match self.uring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            Err(err)
                if interrupted(&err)
                    || matches!(err.raw_os_error(), Some(libc::ETIME) | Some(libc::EBUSY)) =>
            {
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// Append every completion posted to `completions` as (user_data,
    /// result, flags); the first overflow of the completion queue is logged.
    pub fn reap_into(&mut self, completions: &mut Vec<(u64, i32, u32)>) {
        completions.extend(
            self.uring
                .completion()
                .map(|cqe| (cqe.user_data(), cqe.result(), cqe.flags())),
        );
        if !self.is_overflow_logged && self.uring.submission().cq_overflow() {
            self.is_overflow_logged = true;
            log::warn!(
                "the completion queue overflowed ({COMPLETION_ENTRIES} entries): multishot operations end and are re-armed"
            );
        }
    }

    /// Arm a multishot accept on `listener`, named `user_data`.
    ///
    /// # Safety
    /// `listener` stays open until the operation's final completion.
    pub unsafe fn accept_multi(&mut self, listener: RawFd, user_data: u64) {
        let entry = opcode::AcceptMulti::new(Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data);
        // SAFETY: no buffer; the descriptor is the caller's promise.
        unsafe { self.push(entry) };
    }

    /// Arm a poll for `fd` becoming readable, named `user_data`.
    ///
    /// # Safety
    /// `fd` stays open until the operation's final completion.
    pub unsafe fn poll_readable(&mut self, fd: RawFd, user_data: u64) {
        let entry = opcode::PollAdd::new(Fd(fd), libc::POLLIN as u32)
            .build()
            .user_data(user_data);
        // SAFETY: no buffer; the descriptor is the caller's promise.
        unsafe { self.push(entry) };
    }

    /// Arm a multishot receive on `socket` drawing from buffer group
    /// `group`, named `user_data`.
    ///
    /// # Safety
    /// `socket`, and the group's buffers, stay valid until the operation's
    /// final completion.
    pub unsafe fn recv_multi(&mut self, socket: RawFd, group: u16, user_data: u64) {
        let entry = opcode::RecvMulti::new(Fd(socket), group)
            .build()
            .user_data(user_data);
        // SAFETY: passed on from the caller.
        unsafe { self.push(entry) };
    }

    /// Send `bytes` on `socket`, named `user_data`. MSG_WAITALL: the
    /// kernel itself retries a short send on a stream socket (a short
    /// result can still come back). MSG_NOSIGNAL: a peer that has gone is
    /// an error, not a SIGPIPE.
    ///
    /// # Safety
    /// `bytes` stay untouched and unmoved, and `socket` open, until the
    /// operation's final completion.
    pub unsafe fn send(&mut self, socket: RawFd, bytes: &[u8], user_data: u64) {
        let entry = opcode::Send::new(Fd(socket), bytes.as_ptr(), bytes.len() as u32)
            .flags(libc::MSG_WAITALL | libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data);
        // SAFETY: passed on from the caller.
        unsafe { self.push(entry) };
    }

    /// Ask the kernel to cancel the operation named `target`; the cancel
    /// itself is named `user_data`.
    pub fn cancel(&mut self, target: u64, user_data: u64) {
        let entry = opcode::AsyncCancel::new(target)
            .build()
            .user_data(user_data);
        // SAFETY: a cancel carries no buffer.
        unsafe { self.push(entry) };
    }

    /// Cancel everything in flight (the cancel named `cancel_user_data`)
    /// and reap until nothing is, handing each completion's buffer to
    /// `recycle`. `false` if the kernel did not finish within
    /// `DRAIN_TIMEOUT` (a second): its memory must then be leaked, not freed.
    pub fn drain(&mut self, cancel_user_data: u64, mut recycle: impl FnMut(u16)) -> bool {
        let cancel_all = opcode::AsyncCancel2::new(CancelBuilder::any())
            .build()
            .user_data(cancel_user_data);
        // SAFETY: a cancel carries no buffer.
        unsafe { self.push(cancel_all) };
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while self.in_flight > 0 && Instant::now() < deadline {
            if let Err(err) = self.enter(deadline.saturating_duration_since(Instant::now())) {
                log::warn!("uring stop: waiting for cancelled operations failed: {err}");
                break;
            }
            for cqe in self.uring.completion() {
                if !cqueue::more(cqe.flags()) {
                    self.in_flight -= 1;
                }
                if let Some(id) = cqueue::buffer_select(cqe.flags()) {
                    recycle(id);
                }
            }
        }
        if self.in_flight > 0 {
            log::error!(
                "uring stop: {} operations still in flight after {DRAIN_TIMEOUT:?}: their buffers are leaked, not freed",
                self.in_flight
            );
            return false;
        }
        true
    }

    /// Queue `entry` for the next `io_uring_enter`.
    ///
    /// # Safety
    /// Every buffer `entry` points to must stay valid, and unmoved, until
    /// the operation's final completion has been reaped.
    pub unsafe fn push(&mut self, entry: squeue::Entry) {
        self.in_flight += 1;
        if self.backlog.is_empty() {
            // SAFETY: passed on from the caller.
            if unsafe { self.uring.submission().push(&entry) }.is_ok() {
                return;
            }
        }
        self.backlog.push(entry);
    }

    /// Move entries that did not fit into the submission queue, as room
    /// allows; `true` if some still wait.
    fn move_backlog_in(&mut self) -> bool {
        let mut queue = self.uring.submission();
        let mut moved = 0;
        for entry in &self.backlog {
            // SAFETY: each entry's buffers were promised valid by `push`.
            if unsafe { queue.push(entry) }.is_err() {
                break;
            }
            moved += 1;
        }
        drop(queue);
        self.backlog.drain(..moved);
        !self.backlog.is_empty()
    }
}

/// Alignment the kernel requires of a buffer ring's entries.
const PAGE_BYTES: usize = 4096;

/// The receive buffers of one ring, and the ring of entries that offers
/// them to the kernel.
#[derive(Debug)]
pub struct BufRing {
    /// The group id receives name to draw from this ring.
    group: u16,
    /// `count` entries, page-aligned, shared with the kernel.
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    /// `count * buffer_bytes` bytes: buffer `id` starts at `id * buffer_bytes`.
    buffers: Box<[u8]>,
    buffer_bytes: usize,
    count: u16,
    /// Our copy of the tail: entries published so far (wrapping).
    tail: u16,
}

impl BufRing {
    /// Allocate `count` buffers of `buffer_bytes` (`count` a power of two,
    /// at most 32,768) and register them with `ring` as buffer group
    /// `group`, every buffer offered to the kernel.
    pub fn register(
        ring: &IoUring,
        group: u16,
        count: u16,
        buffer_bytes: usize,
    ) -> io::Result<BufRing> {
        if !count.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "--ring-buffers {count}: the buffer ring's size must be a power of two (1 to 32768)"
                ),
            ));
        }
        let entries_layout = Layout::from_size_align(
            usize::from(count) * std::mem::size_of::<BufRingEntry>(),
            PAGE_BYTES,
        )
        .map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size (count >= 1). Zeroed, so
        // the tail (stored in the first entry's reserved field) starts at 0.
        let entries = unsafe { alloc::alloc_zeroed(entries_layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            alloc::handle_alloc_error(entries_layout);
        }
        let mut ring_buffers = BufRing {
            group,
            entries,
            entries_layout,
            buffers: vec![0; usize::from(count) * buffer_bytes].into_boxed_slice(),
            buffer_bytes,
            count,
            tail: 0,
        };
        // SAFETY: `entries` is page-aligned and holds `count` entries; it
        // is freed only in `drop`, after the owner has unregistered it
        // (`unregister`) or the ring itself is gone.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, count, group, 0)
                .map_err(unavailable)?;
        }
        for id in 0..count {
            ring_buffers.recycle(id);
        }
        Ok(ring_buffers)
    }

    /// The buffer group id to put in receive submissions.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// The first `len` bytes the kernel wrote into buffer `id`.
    pub fn filled(&self, id: u16, len: usize) -> &[u8] {
        let start = usize::from(id) * self.buffer_bytes;
        &self.buffers[start..start + len.min(self.buffer_bytes)]
    }

    /// Offer buffer `id` to the kernel again. Its bytes must have been
    /// copied out: the next receive may overwrite them at once.
    pub fn recycle(&mut self, id: u16) {
        let slot = usize::from(self.tail & (self.count - 1));
        let addr = self.buffers[usize::from(id) * self.buffer_bytes..].as_mut_ptr();
        // SAFETY: `slot < count`, within the entries allocation. The kernel
        // reads entries only up to the published tail, and this one is past
        // it until the store below.
        let entry = unsafe { &mut *self.entries.add(slot) };
        entry.set_addr(addr as u64);
        entry.set_len(self.buffer_bytes as u32);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail is a u16 inside the first entry (the layout the
        // kernel defines), properly aligned; the kernel only reads it. The
        // release store publishes the entry written above before the tail.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast_mut();
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }

    /// Take the ring back from the kernel. Call only once no receive that
    /// draws from it is in flight.
    pub fn unregister(&self, ring: &IoUring) -> io::Result<()> {
        ring.submitter().unregister_buf_ring(self.group)
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `register` with this layout. By the owner's
        // contract nothing in flight can still write into the buffers, and
        // the kernel no longer reads the entries (unregistered, or the
        // ring closed).
        unsafe { alloc::dealloc(self.entries.cast(), self.entries_layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `probe` must not leave the calling thread open to a late
    /// interruption: a blocking read with a timeout, made right after it,
    /// ends by its timeout, not with `EINTR`.
    #[test]
    fn probe_does_not_interrupt_the_callers_blocking_calls() {
        use std::io::Read;
        use std::os::unix::net::UnixStream;
        if let Err(err) = probe() {
            eprintln!("skipped: {err}");
            return;
        }
        let (mut quiet, _peer) = UnixStream::pair().expect("a socket pair");
        quiet
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("set a read timeout");
        for _ in 0..3 {
            probe().expect("probe again");
            let err = quiet.read(&mut [0u8; 1]).expect_err("nothing is sent");
            assert_eq!(
                err.kind(),
                io::ErrorKind::WouldBlock,
                "the read after a probe ended early: {err}"
            );
        }
    }
}
