//! `prefork-mutex`: UNP ch. 30 row 4, `prefork-accept` with a
//! process-shared pthread mutex around `accept`.
//!
//! How it differs from `prefork-flock` (row 3): the lock lives in memory
//! the children share (`mmap(MAP_SHARED | MAP_ANONYMOUS)` before the fork,
//! so every child sees the same page), initialised `PTHREAD_PROCESS_SHARED`.
//! Taking a free mutex is an atomic instruction, not a system call; only a
//! child that finds it held sleeps in the kernel (a futex). The book found
//! it the fastest lock; on Linux it still serialises the children in front
//! of an `accept` that would wake only one of them anyway.
//!
//! The mutex is also `PTHREAD_MUTEX_ROBUST`: a child killed while holding
//! it would otherwise leave every other child blocked for ever; robust, the
//! next taker gets `EOWNERDEAD`, marks it consistent and goes on. A child
//! waiting for the mutex is not woken by a stop (`pthread_mutex_lock`
//! ignores signals), but the holder is (its `accept` fails once the stop
//! shuts the listener) and lets the next in, who sees the stop in turn.

use std::io;
use std::ptr::NonNull;

use super::children::{prefork, Supervisor};
use super::{EngineConfig, Listener};
use crate::service::Service;

/// Fork the children, each taking the shared mutex around its `accept`.
pub fn run(
    supervisor: &mut Supervisor,
    listener: &Listener,
    service: &dyn Service,
    config: &EngineConfig,
) -> io::Result<()> {
    let mutex = SharedMutex::new()?;
    prefork(supervisor, listener, service, config, &[], || {
        let mutex = &mutex;
        move || {
            mutex.lock()?;
            let accepted = listener.accept();
            mutex.unlock();
            accepted.map(Some)
        }
    })
}

/// A pthread mutex in an anonymous shared mapping: shared by every process
/// forked after it was made. Unmapped when the parent drops it.
struct SharedMutex {
    mutex: NonNull<libc::pthread_mutex_t>,
}

impl SharedMutex {
    fn new() -> io::Result<SharedMutex> {
        let len = std::mem::size_of::<libc::pthread_mutex_t>();
        // SAFETY: a fresh anonymous mapping; checked for failure below.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mutex = NonNull::new(page.cast::<libc::pthread_mutex_t>()).expect("mmap succeeded");
        // SAFETY: the attribute object is initialised before use and
        // destroyed after; the mutex is initialised in memory we own.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
            let rc = libc::pthread_mutex_init(mutex.as_ptr(), &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
            if rc != 0 {
                libc::munmap(page, len);
                return Err(io::Error::from_raw_os_error(rc));
            }
        }
        Ok(SharedMutex { mutex })
    }

    /// Take the mutex, recovering it from a holder that died.
    fn lock(&self) -> io::Result<()> {
        // SAFETY: the mutex was initialised in `new` and is still mapped.
        match unsafe { libc::pthread_mutex_lock(self.mutex.as_ptr()) } {
            0 => Ok(()),
            libc::EOWNERDEAD => {
                // SAFETY: we hold it now; what it guards (nothing but the
                // turn at accept) needs no repair.
                unsafe { libc::pthread_mutex_consistent(self.mutex.as_ptr()) };
                Ok(())
            }
            rc => Err(io::Error::from_raw_os_error(rc)),
        }
    }

    fn unlock(&self) {
        // SAFETY: called only by the holder, after a successful `lock`.
        unsafe { libc::pthread_mutex_unlock(self.mutex.as_ptr()) };
    }
}

impl Drop for SharedMutex {
    fn drop(&mut self) {
        // SAFETY: every child has been reaped (the supervisor stops them
        // before `run` returns), so no one else uses the mapping.
        unsafe {
            libc::pthread_mutex_destroy(self.mutex.as_ptr());
            libc::munmap(
                self.mutex.as_ptr().cast(),
                std::mem::size_of::<libc::pthread_mutex_t>(),
            );
        }
    }
}
