//! What sockbench asks of the operating system, in one place: `/proc`,
//! rlimits, cgroups, perf tracepoints and the scheduler. Linux only, as
//! the rest of sockbench.
//!
//! Compare, the load generator, the demos and `serve` all import from
//! here, so none of them imports another's internals to reach the kernel.
//!
//! - [`proc`]: what a process tree costs and holds, read from `/proc/PID`.
//! - [`process`]: a server started as a child process, watched and stopped.
//! - [`counters`]: what a window of work cost the kernel (system calls
//!   through a perf tracepoint, context switches), and a thread's own cost.
//! - [`netstat`]: the kernel's network-wide counters (listen queue,
//!   losses, socket memory).
//! - [`cgroup`]: a CPU-quota cgroup for one server (`compare --server-cpu`).
//! - [`limits`]: the open-file limit (`RLIMIT_NOFILE`).
//! - [`sched`]: core pinning and priority of the load generator.

pub mod cgroup;
pub mod counters;
pub mod limits;
pub mod netstat;
pub mod proc;
pub mod process;
pub mod sched;
