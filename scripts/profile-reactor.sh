#!/usr/bin/env bash
# Where the reactor's CPU per request goes, beside epoll-raw's: each server
# runs under callgrind (instructions counted, not sampled: repeatable on a
# busy machine) while `sockbench load` sends it a fixed number of 64-byte
# echo requests; then the instructions per request, whole and by function.
#
#   ./scripts/profile-reactor.sh [REQUESTS]     # default 50000
#
# Needs valgrind (Debian's package). Writes target/profile/*.cg and prints
# the summary; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-50000}"
command -v valgrind >/dev/null || { echo "needs valgrind: apt-get install -y valgrind"; exit 1; }
cargo build --release --bins --examples -q
out=target/profile
mkdir -p "$out"

profile() { # NAME PROGRAM ARGS...: run PROGRAM under callgrind, load it, stop it
    local name=$1; shift
    valgrind --tool=callgrind --callgrind-out-file="$out/$name.cg" "$@" > "$out/$name.server.log" 2>&1 &
    local pid=$! addr=""
    for _ in $(seq 1 120); do
        addr=$(grep -o '127\.0\.0\.1:[1-9][0-9]*' "$out/$name.server.log" | head -1 || true)
        [ -n "$addr" ] && break
        sleep 0.5
    done
    [ -n "$addr" ] || { kill "$pid"; echo "$name did not start: see $out/$name.server.log"; exit 1; }
    target/release/sockbench load --addr "$addr" --service echo --connections 10 --size 64 \
        --requests "$requests" --warmup 0s > "$out/$name.load.log" 2>&1
    kill -TERM "$pid"
    wait "$pid" || true
}
# What a server costs before its first request (start-up, parsing flags):
# counted from a run with no requests and taken off the loaded run.
idle() { # NAME PROGRAM ARGS...
    local name=$1; shift
    valgrind --tool=callgrind --callgrind-out-file="$out/$name.cg" "$@" > "$out/$name.server.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 120); do
        grep -q '127\.0\.0\.1:[1-9]' "$out/$name.server.log" && break
        sleep 0.5
    done
    kill -TERM "$pid"
    wait "$pid" || true
}
for run in profile idle; do
    suffix=""; [ $run = idle ] && suffix="-idle"
    $run "reactor$suffix" target/release/sockbench serve --engine reactor --service echo --addr 127.0.0.1:0
    $run "epoll-raw$suffix" target/release/examples/epoll_raw --addr 127.0.0.1:0
done

echo "machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r), sockbench $(git rev-parse --short HEAD)"
echo "load: 10 connections, 64 B echo, $requests requests (each server's start-up, from a run with no requests, taken off)"
python3 - "$out" "$requests" <<'PY'
import re, subprocess, sys
out, requests = sys.argv[1], int(sys.argv[2])
def total(name):
    text = open(f"{out}/{name}.cg").read()
    return int(re.search(r"^summary: (\d+)", text, re.M).group(1))
for name in ("reactor", "epoll-raw"):
    per = (total(name) - total(name + "-idle")) / requests
    print(f"{name:10} {per:7.0f} instructions per request in user space")
print()
print("reactor, by function (self cost, instructions per request, the top 14):")
report = subprocess.run(["callgrind_annotate", f"{out}/reactor.cg"], capture_output=True, text=True).stdout
rows = [l for l in report.splitlines() if re.match(r"^\s*[\d,]+ \(", l)][1:15]
for l in rows:
    count = int(l.split()[0].replace(",", ""))
    where = l.split(")", 1)[1].strip()
    where = re.sub(r"\s*\[[^]]*\]$", "", where)
    where = re.sub(r"^/rustc/[0-9a-f]+/library/", "std:", where)
    where = re.sub(r"^/root/.cargo/registry/src/[^/]+/", "", where)
    where = re.sub(r"^\./", "glibc:", where)
    print(f"  {count / requests:6.0f}  {where[:110]}")
PY
