#!/usr/bin/env bash
# Build sockbench and the reference servers in release mode, then run
# `sockbench compare` with every argument passed through.
#
#   ./scripts/compare.sh                  # default matrix, about 2 minutes
#   ./scripts/compare.sh --full --pin     # the full matrix, pinned cores
#   ./scripts/compare.sh --help           # every option
#
# Writes results/<name>.csv, results/<name>.machine.txt and results/<name>-*.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins --examples
./scripts/mount-tracefs.sh
exec target/release/sockbench compare "$@"
