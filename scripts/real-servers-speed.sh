#!/usr/bin/env bash
# Is sockbench's load generator as fast as the tools people use on the
# servers people run? (issue 20, "Speed"; docs/REAL-SERVERS.md)
#
#   ./scripts/real-servers-speed.sh [ROUNDS] [SECONDS]     # default 5 rounds of 5 s
#
# 1. nginx (configs/nginx.conf: one worker, pinned to core 1) loaded by
#    `sockbench load --url` and by `wrk -t1 -c100`, both pinned to core 0;
# 2. redis-server (configs/redis.conf, pinned to core 1) loaded by
#    `sockbench load --service redis` and by `redis-benchmark -P 1 -c 50`,
#    both on core 0. redis-benchmark runs `-t ping_mbulk`: the half of
#    `-t ping` that sends PING as an array of bulk strings, as sockbench
#    does (the other half, PING_INLINE, is a text line).
# The two loaders of a pair alternate which goes first, round by round. For
# each run: requests per second as the tool reports it, and the tool's CPU
# time (user + system, getrusage of the child: all its threads, its whole
# life) per request it reports. sockbench counts only the answers of its
# measured window, so its connects and its last partial second are paid
# for and not counted: its µs per request is, if anything, overstated.
#
# Writes results/real-servers-speed.txt: the machine, the exact commands,
# one line per run, the medians. Stops the servers it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-5}"
seconds="${2:-5}"
out=results/real-servers-speed.txt
nginx_port=18480
redis_port=16480
work="$(mktemp -d)"

for binary in nginx redis-server wrk redis-benchmark taskset python3; do
  if ! PATH="$PATH:/usr/sbin" command -v "$binary" >/dev/null; then
    echo "real-servers-speed: $binary is missing: run ./scripts/real-servers.sh" >&2
    exit 1
  fi
done

cargo build --release --bin sockbench
sockbench="$PWD/target/release/sockbench"

pids=()
stop_servers() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop_servers EXIT

# Wait until something accepts on 127.0.0.1:$1.
wait_port() {
  for _ in $(seq 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  echo "real-servers-speed: nothing listens on 127.0.0.1:$1" >&2
  exit 1
}

# Run a command; print what it printed, then `cpu_s SECONDS`: its user +
# system time (getrusage through wait4: every thread it ran, its whole life).
cpu_of() {
  python3 -c '
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
output = child.stdout.read()
_, status, usage = os.wait4(child.pid, 0)
sys.stdout.buffer.write(output)
print(f"\ncpu_s {usage.ru_utime + usage.ru_stime:.6f}")
sys.exit(os.waitstatus_to_exitcode(status))' "$@"
}

sed -e "s|{port}|$nginx_port|g" -e "s|{www}|$PWD/configs/www|g" \
  -e "s|/tmp/sockbench-nginx.pid|$work/nginx.pid|" configs/nginx.conf > "$work/nginx.conf"
taskset -c 1 nginx -p "$work" -e "$work/nginx.err" -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
taskset -c 1 redis-server configs/redis.conf --port "$redis_port" > "$work/redis.log" &
pids+=($!)
wait_port "$nginx_port"
wait_port "$redis_port"

url="http://127.0.0.1:$nginx_port/"
sb_nginx=(taskset -c 0 "$sockbench" load --url "$url" --connections 100 --threads 1 --duration "${seconds}s" --csv "$work/sb.csv")
wrk_nginx=(taskset -c 0 wrk -t1 -c100 -d"${seconds}s" "$url")
sb_redis=(taskset -c 0 "$sockbench" load --service redis --addr "127.0.0.1:$redis_port" --connections 50 --threads 1 --duration "${seconds}s" --csv "$work/sb.csv")
redis_requests=300000
rb_redis=(taskset -c 0 redis-benchmark -p "$redis_port" -P 1 -c 50 -t ping_mbulk -n "$redis_requests" --csv)

# One run: "TOOL REQ_PER_S US_PER_REQUEST".
run_sockbench() {
  rm -f "$work/sb.csv"
  local cpu
  cpu=$(cpu_of "$@" | awk '/^cpu_s/ {print $2}')
  python3 - "$work/sb.csv" "$cpu" <<'PY'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
requests, cpu = int(row["requests"]), float(sys.argv[2])
assert row["errors"] == "0", f"sockbench had errors: {row}"
print(f"sockbench {float(row['req_per_s']):.0f} {cpu * 1e6 / requests:.2f}")
PY
}
run_wrk() {
  local text
  text=$(cpu_of "$@")
  python3 - "$text" <<'PY'
import re, sys
text = sys.argv[1]
requests = int(re.search(r"(\d+) requests in", text).group(1))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
cpu = float(re.search(r"cpu_s ([\d.]+)", text).group(1))
assert "Non-2xx" not in text and "Socket errors" not in text, text
print(f"wrk {rate:.0f} {cpu * 1e6 / requests:.2f}")
PY
}
run_redis_benchmark() {
  local text
  text=$(cpu_of "$@")
  python3 - "$text" "$redis_requests" <<'PY'
import re, sys
text, requests = sys.argv[1], int(sys.argv[2])
rate = float(re.search(r'"PING_MBULK","([\d.]+)"', text).group(1))
cpu = float(re.search(r"cpu_s ([\d.]+)", text).group(1))
print(f"redis-benchmark {rate:.0f} {cpu * 1e6 / requests:.2f}")
PY
}

{
  echo "# sockbench load beside wrk and redis-benchmark (scripts/real-servers-speed.sh)"
  echo "date:        $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "revision:    $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
  echo "nproc:       $(nproc)"
  echo "cpu:         $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "kernel:      $(uname -r)"
  echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) at start"
  echo "rounds:      $rounds, each tool once per round, first tool alternating"
  echo "servers:     nginx $(nginx -v 2>&1 | sed 's|.*/||'), one worker, taskset -c 1; redis-server $(redis-server --version | awk '{print $3}' | sed 's/v=//'), taskset -c 1"
  echo "commands (run from the repository; SCRATCH is the run's temporary directory):"
  for command in "${sb_nginx[*]}" "${wrk_nginx[*]}" "${sb_redis[*]}" "${rb_redis[*]}"; do
    command="${command//$PWD\//}"
    echo "  ${command//$work/SCRATCH}"
  done
  echo "cpu:         user + system time of the loader process (getrusage), divided by the requests it reports"
  echo
  echo "round target tool req_per_s cpu_us_per_request"
} > "$out.tmp"

for round in $(seq "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order=(sockbench other); else order=(other sockbench); fi
  for tool in "${order[@]}"; do
    if [ "$tool" = sockbench ]; then line=$(run_sockbench "${sb_nginx[@]}"); else line=$(run_wrk "${wrk_nginx[@]}"); fi
    echo "$round nginx $line" | tee -a "$out.tmp"
  done
  for tool in "${order[@]}"; do
    if [ "$tool" = sockbench ]; then line=$(run_sockbench "${sb_redis[@]}"); else line=$(run_redis_benchmark "${rb_redis[@]}"); fi
    echo "$round redis $line" | tee -a "$out.tmp"
  done
done

python3 - "$out.tmp" >> "$out.tmp" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) == 5 and parts[0].isdigit():
        runs.setdefault((parts[1], parts[2]), []).append((float(parts[3]), float(parts[4])))
print("\nmedians: target tool req_per_s cpu_us_per_request (min-max)")
for (target, tool), values in sorted(runs.items()):
    rates = [rate for rate, _ in values]
    cpus = [cpu for _, cpu in values]
    print(f"  {target:<6} {tool:<16} {statistics.median(rates):>8.0f} ({min(rates):.0f}-{max(rates):.0f})"
          f"  {statistics.median(cpus):>6.2f} µs ({min(cpus):.2f}-{max(cpus):.2f})")
PY
mv "$out.tmp" "$out"
echo "real-servers-speed: wrote $out"
