#!/usr/bin/env bash
# The measurements behind docs/METHOD.md: how far a cell moves with and
# without a CPU quota on the server, what the quota's period does to
# latency, and what counting system calls costs. Writes results/method-*
# and then rewrites the generated part of docs/METHOD.md.
#
#   ./scripts/method.sh          # about 4 minutes on a 2-core machine
#
# Run it on an otherwise idle machine: anything else running shows up as
# noise, which is what it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins --examples
./scripts/mount-tracefs.sh
B=target/release/sockbench
common=(--engines reactor,epoll-raw --connections 100 --duration 3s --pin --baseline epoll-raw)
# The same paired rounds, without and with a quota.
$B compare "${common[@]}" --rounds 6 --name method-no-quota
$B compare "${common[@]}" --rounds 6 --server-cpu 0.5 --name method-quota
# The quota's period: the longest stall a throttled server adds.
for period in 1ms 5ms 10ms 100ms; do
    $B compare "${common[@]}" --rounds 3 --server-cpu 0.5 --quota-period "$period" --name "method-period-$period"
done
# The charts are not used by docs/METHOD.md.
rm -f results/method-*.svg
python3 scripts/method-summary.py
