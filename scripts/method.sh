#!/usr/bin/env bash
# The measurements behind docs/METHOD.md: how far a cell moves with and
# without a CPU quota on the server, what the quota's period does to
# latency, and what counting system calls costs. Writes results/method-*
# and then rewrites the generated part of docs/METHOD.md.
#
#   ./scripts/method.sh          # about 10 minutes on a 2-core machine
#
# Run it on an otherwise idle machine: anything else running shows up as
# noise, which is what it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins --examples
./scripts/mount-tracefs.sh
B=target/release/sockbench
# `./scripts/method.sh pairing` runs only the comparison of pairings below.
part="${1:-all}"
case "$part" in all|pairing) ;; *) echo "usage: $0 [pairing]" >&2; exit 2;; esac
common=(--engines reactor,epoll-raw --connections 100 --duration 3s --pin --baseline epoll-raw)
if [ "$part" = all ]; then
# The same paired rounds, without and with a quota.
$B compare "${common[@]}" --rounds 6 --name method-no-quota
$B compare "${common[@]}" --rounds 6 --server-cpu 0.5 --name method-quota
# The quota's period: the longest stall a throttled server adds.
for period in 1ms 5ms 10ms 100ms; do
    $B compare "${common[@]}" --rounds 3 --server-cpu 0.5 --quota-period "$period" --name "method-period-$period"
done
fi
# Turns against side by side (--side-by-side), on the machine as it is and
# then with other work on it: a burner on both cores, in bursts, for as long
# as the two runs take (it stops by itself).
pair=(--engines reactor,epoll-raw --connections 100,1000 --duration 2s --pin --baseline epoll-raw --rounds 10 --server-cpu 0.4)
for state in as-is busy; do
    burner=()
    if [ "$state" = busy ]; then
        python3 scripts/burner.py --seconds 240 & burner=($!)
    fi
    $B compare "${pair[@]}" --name "method-turns-$state"
    $B compare "${pair[@]}" --side-by-side --name "method-side-by-side-$state"
    if [ ${#burner[@]} -gt 0 ]; then kill "${burner[0]}" 2>/dev/null || true; wait "${burner[0]}" 2>/dev/null || true; fi
done
# The charts are not used by docs/METHOD.md.
rm -f results/method-*.svg
python3 scripts/method-summary.py
