#!/usr/bin/env bash
# Fuzz the frame and http services and the load generator's answer parsers
# (load::wire: HTTP/1.1, RESP, memcached), then write results/fuzz.txt from the logs.
#
#   ./scripts/fuzz.sh [SECONDS]     # run each target SECONDS (default 600), then summarise
#   ./scripts/fuzz.sh --summarize   # only summarise the logs of the last run
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Logs go to target/fuzz-logs/; crashes, if any, to fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
logs=target/fuzz-logs
targets=(frame http wire_http1 wire_resp wire_memcached)

if [ "${1:-}" != "--summarize" ]; then
  seconds="${1:-600}"
  mkdir -p "$logs"
  for t in "${targets[@]}"; do
    (cd fuzz && cargo +nightly fuzz run "$t" -j1 -- -max_total_time="$seconds" -rss_limit_mb=2048) \
      > "$logs/$t.log" 2>&1 || echo "fuzzer $t stopped with an error: see $logs/$t.log"
  done
fi

{
  echo "# cargo fuzz results, summarised by scripts/fuzz.sh from $logs/"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -r)"
  echo "sockbench: $(git rev-parse --short HEAD 2>/dev/null || echo unknown) (git revision)"
  for t in "${targets[@]}"; do
    echo
    echo "target: $t"
    echo "command: cd fuzz && cargo +nightly fuzz run $t -j1 -- -max_total_time=N -rss_limit_mb=2048"
    grep -E '^Done [0-9]+ runs in [0-9]+ second' "$logs/$t.log" || echo "no 'Done' line: the run did not finish"
    grep -E 'DONE +cov:' "$logs/$t.log" | tail -1 | sed -E 's/^#([0-9]+)\s+DONE\s+/executions \1, /' || true
    crashes=$(find "fuzz/artifacts/$t" -type f 2>/dev/null | wc -l)
    echo "findings (files in fuzz/artifacts/$t): $crashes"
  done
} > results/fuzz.txt
cat results/fuzz.txt
