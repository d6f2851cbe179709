#!/usr/bin/env bash
# The kernel settings a `compare --scenario c10k|c100k` run needs, checked
# and raised where too low; every setting is printed with what was done.
#
#   ./scripts/scale-sysctl.sh        # ./scripts/compare.sh runs it for a scenario
#
# - net.core.somaxconn caps every listen() backlog (the scenario asks 4096);
# - net.ipv4.tcp_max_syn_backlog bounds half-open connections per listener
#   while thousands connect at once;
# - net.core.netdev_max_backlog is each core's queue of received packets,
#   loopback's too: when the softirq thread that drains it waits for a core
#   (two cores, busy), a full queue drops packets, and TCP resends each
#   after 200 ms or more (compare's `backlog_drops`, `data_retransmits`);
# - fs.file-max bounds open files machine-wide: 100,000 connections over
#   loopback are 200,000 sockets (both ends);
# - nf_conntrack_max, where connection tracking is loaded, bounds tracked
#   connections: past it, SYNs are dropped.
# Not changed: net.ipv4.ip_local_port_range (28,232 ports per source
# address; the scenario connects from several addresses instead) and the
# per-process descriptor limit (a hard limit the scenario works within).
set -euo pipefail

# raise NAME MINIMUM: set NAME to MINIMUM if it is lower, and say so.
raise() {
    local name=$1 minimum=$2 file="/proc/sys/${1//.//}"
    if [[ ! -e $file ]]; then
        echo "scale-sysctl: $name: absent on this kernel, nothing to do"
        return
    fi
    local now
    now=$(cat "$file")
    if (( now >= minimum )); then
        echo "scale-sysctl: $name = $now (at least $minimum: unchanged)"
    elif echo "$minimum" > "$file" 2>/dev/null; then
        echo "scale-sysctl: $name: $now -> $minimum (raised)"
    else
        echo "scale-sysctl: $name = $now, below $minimum, and cannot be raised here (needs root): connects may be dropped" >&2
    fi
}

raise net.core.somaxconn 4096
raise net.ipv4.tcp_max_syn_backlog 8192
raise net.core.netdev_max_backlog 16384
raise fs.file-max 400000
raise net.netfilter.nf_conntrack_max 262144
if [[ -e /proc/sys/net/netfilter/nf_conntrack_count ]]; then
    echo "scale-sysctl: net.netfilter.nf_conntrack_count = $(cat /proc/sys/net/netfilter/nf_conntrack_count) (connections tracked now)"
fi
echo "scale-sysctl: net.ipv4.ip_local_port_range = $(tr '\t' ' ' < /proc/sys/net/ipv4/ip_local_port_range) (unchanged: the scenarios use several source addresses)"
echo "scale-sysctl: open files per process: soft $(ulimit -Sn), hard $(ulimit -Hn) (unchanged)"
