//! `uring`'s receive buffers: a provided-buffer ring shared with the kernel.
//!
//! A multishot receive does not name a buffer when it is submitted: each
//! time data arrives, the kernel takes the next free buffer from this ring,
//! fills it, and names it (by id) in the completion. So an idle connection
//! holds no receive buffer, as in the reactor, and the loop owns them all.
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
//! dropping it (see `uring.rs`, "Free only after the final completion").

use std::alloc::{self, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

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
        assert!(
            count.is_power_of_two(),
            "a buffer ring's size is a power of two"
        );
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
                .register_buf_ring_with_flags(entries as u64, count, group, 0)?;
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
