#!/usr/bin/env bash
# memcached for sockbench load (docs/REAL-SERVERS.md), configured on its
# command line only: configs/memcached.sh PORT. exec, so the PID is memcached's.
set -euo pipefail
port="${1:?usage: configs/memcached.sh PORT}"
flags=(
  -l 127.0.0.1              # loopback only: never reachable from another machine
  -p "$port"                # TCP port, given at start
  -U 0                      # no UDP listener
  -t 1                      # one worker thread: one event loop, as Redis (memcached's default is 4)
  -c 10240                  # room for 1,000s of load connections (the default is 1,024)
  -m 64                     # 64 MiB for items: far more than the keys a load sets
)
# memcached refuses to run as root unless told which user to become.
if [ "$(id -u)" -eq 0 ]; then flags+=(-u memcache); fi
exec memcached "${flags[@]}"
