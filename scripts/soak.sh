#!/usr/bin/env bash
# Soak: move 1 GiB (4 KiB echo requests, every answer checked byte for byte)
# through each engine over 100 connections, and record the runs in
# results/soak.csv with results/soak.machine.txt beside it.
#
#   ./scripts/soak.sh [OUT_DIR]
#
# The iterative engine serves one connection at a time by design: with 100
# connections 99 would wait (and time out) behind the first for the whole
# run, so it is soaked over one connection, and the CSV says so.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results}"
mkdir -p "$out"
cargo build --release --bins
bin=target/release/sockbench
csv="$out/soak.csv"
rm -f "$csv"
requests=$((1024 * 1024 * 1024 / 4096))   # 1 GiB of 4 KiB requests

{
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -r)"
  echo "sockbench: $(git rev-parse --short HEAD 2>/dev/null || echo unknown) (git revision)"
  echo "command: ./scripts/soak.sh $*"
} > "$out/soak.machine.txt"

for engine in threaded pool reactor uring iterative; do
  connections=100
  [ "$engine" = iterative ] && connections=1
  log="$(mktemp)"
  "$bin" serve --engine "$engine" --service echo --addr 127.0.0.1:0 --workers 100 >"$log" 2>&1 &
  server=$!
  # The server's first line names the port it bound: wait for it (bounded).
  for _ in $(seq 100); do grep -q '^listening on' "$log" && break; sleep 0.1; done
  addr="$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$log")"
  [ -n "$addr" ] || { echo "$engine did not start:"; cat "$log"; kill "$server"; exit 1; }
  echo "== soak: $engine on $addr, $connections connections, $requests x 4 KiB"
  status=0
  run_csv="$(mktemp -u)"
  "$bin" load --addr "$addr" --service echo --connections "$connections" --threads 1 \
    --size 4096 --requests "$requests" --csv "$run_csv" || status=$?
  # The load generator does not know which engine it loaded: add a column.
  if [ -s "$run_csv" ]; then
    [ -s "$csv" ] || sed -n '1s/^/engine,/p' "$run_csv" > "$csv"
    sed -n "2,\$s/^/$engine,/p" "$run_csv" >> "$csv"
    rm -f "$run_csv"
  fi
  kill -TERM "$server"; wait "$server" || true
  rm -f "$log"
  [ "$status" -eq 0 ] || { echo "soak of $engine had errors (exit $status)"; exit "$status"; }
done
echo "wrote $csv and $out/soak.machine.txt"
