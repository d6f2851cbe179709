#!/usr/bin/env bash
# What each io_uring setup flag buys the uring engine (`serve --ring-setup`):
# ROUNDS interleaved rounds; in each, the three setups serve the same load
# back to back (the order rotated from round to round), each a fresh server
# process on core 1, the load generator on core 0. Prints, per setup, the
# median req/s, the median server CPU per request, and the median of the
# per-round req/s ratios to `defer` (the default): ratios within a round
# share the machine's state, so they are steadier than the rates.
#
#   ./scripts/ring-setup.sh [ROUNDS=5] [CONNECTIONS=100] [DURATION=2s]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
connections="${2:-100}"
duration="${3:-2s}"
cargo build --release --bins >/dev/null 2>&1
bin=target/release/sockbench
setups=(plain coop defer)
ticks="$(getconf CLK_TCK)"
results="$(mktemp)"
pin_server=(); pin_load=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 1); pin_load=(taskset -c 0)
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for round in $(seq "$rounds"); do
  for i in 0 1 2; do
    setup="${setups[$(( (i + round) % 3 ))]}"
    log="$(mktemp)"
    "${pin_server[@]}" "$bin" serve --engine uring --ring-setup "$setup" --addr 127.0.0.1:0 >"$log" 2>&1 &
    server=$!
    for _ in $(seq 100); do grep -q '^listening on' "$log" && break; sleep 0.1; done
    addr="$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$log")"
    [ -n "$addr" ] || { echo "uring ($setup) did not start:"; cat "$log"; kill "$server"; exit 1; }
    csv="$(mktemp -u)"
    before="$(cpu_ticks "$server")"
    "${pin_load[@]}" "$bin" load --addr "$addr" --connections "$connections" --duration "$duration" \
      --csv "$csv" >/dev/null 2>&1
    after="$(cpu_ticks "$server")"
    kill -TERM "$server"; wait "$server" || true
    # requests and req/s are columns 9 and 11 of the load CSV.
    sed -n 2p "$csv" | awk -F, -v r="$round" -v s="$setup" -v cpu=$(( after - before )) -v t="$ticks" \
      '{ printf "%s %s %s %.3f\n", r, s, $11, cpu / t * 1e6 / $9 }' >>"$results"
    rm -f "$csv" "$log"
  done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {}
for rnd, setup, rate, cpu in rows:
    by.setdefault(setup, {})[rnd] = (float(rate), float(cpu))
print(f"{'setup':<6} {'req/s (median)':>15} {'server CPU us/req':>18} {'req/s / defer (median of rounds)':>34}")
for setup in ["plain", "coop", "defer"]:
    rounds = by[setup]
    rates = [r for r, _ in rounds.values()]
    cpus = [c for _, c in rounds.values()]
    ratios = [rounds[k][0] / by["defer"][k][0] for k in rounds if k in by["defer"]]
    print(f"{setup:<6} {statistics.median(rates):>15,.0f} {statistics.median(cpus):>18.2f} "
          f"{statistics.median(ratios):>34.3f}  (ratios {min(ratios):.3f} to {max(ratios):.3f})")
PY
rm -f "$results"
