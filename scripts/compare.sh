#!/usr/bin/env bash
# Build sockbench and the reference servers in release mode, then run
# `sockbench compare` with every argument passed through.
#
#   ./scripts/compare.sh                  # default matrix, about 3 minutes
#   ./scripts/compare.sh --full --pin     # the full matrix, pinned cores
#   ./scripts/compare.sh --help           # every option
#   ./scripts/compare.sh --scenario c100k --name c100k   # also checks and raises kernel settings
#
# Writes results/<name>.csv, results/<name>.machine.txt and results/<name>-*.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins --examples
./scripts/mount-tracefs.sh
for arg in "$@"; do
    if [[ $arg == --scenario || $arg == --scenario=* ]]; then
        ./scripts/scale-sysctl.sh
        break
    fi
done
exec target/release/sockbench compare "$@"
