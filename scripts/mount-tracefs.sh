#!/usr/bin/env bash
# Make the kernel's tracepoints readable, so sockbench can count system
# calls per request (the raw_syscalls:sys_enter tracepoint, through
# perf_event_open). Needs root; does nothing if tracefs is already there.
# Without it, sockbench still runs and shows system-call columns as n/a.
set -uo pipefail
for dir in /sys/kernel/tracing /sys/kernel/debug/tracing; do
    if [ -r "$dir/events/raw_syscalls/sys_enter/id" ]; then
        exit 0
    fi
done
if [ "$(id -u)" != 0 ]; then
    echo "note: tracefs is not mounted and this is not root: system calls will not be counted (n/a)" >&2
    exit 0
fi
if mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
    echo "mounted tracefs on /sys/kernel/tracing (to count system calls per request)" >&2
else
    echo "note: could not mount tracefs on /sys/kernel/tracing: system calls will not be counted (n/a)" >&2
fi
exit 0
