#!/usr/bin/env bash
# Fuzz the frame, http and sized services and the load generator's answer parsers
# (load::wire: HTTP/1.1, RESP, memcached), then write results/fuzz.txt from the logs.
#
#   ./scripts/fuzz.sh [SECONDS [TARGET...]]   # run each target (default: all) SECONDS (default 600), then summarise
#   ./scripts/fuzz.sh --summarize   # only summarise the logs of the last run
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Logs go to target/fuzz-logs/; crashes, if any, to fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
logs=target/fuzz-logs
all_targets=(frame http sized wire_http1 wire_resp wire_memcached)
targets=("${all_targets[@]}")

# Targets to run: the ones named after SECONDS, or all of them.
if [ "${1:-}" != "--summarize" ] && [ $# -gt 1 ]; then
  targets=("${@:2}")
fi

if [ "${1:-}" != "--summarize" ]; then
  seconds="${1:-600}"
  mkdir -p "$logs"
  for t in "${targets[@]}"; do
    (cd fuzz && cargo +nightly fuzz run "$t" -j1 -- -max_total_time="$seconds" -rss_limit_mb=2048) \
      > "$logs/$t.log" 2>&1 || echo "fuzzer $t stopped with an error: see $logs/$t.log"
    # Which revision and machine this target's log belongs to: the summary
    # may be written later, or keep other targets' blocks from earlier runs.
    echo "sockbench: $(git rev-parse --short HEAD 2>/dev/null || echo unknown) (git revision), fuzzed $(date -u +%Y-%m-%d) on kernel $(uname -r)" > "$logs/$t.rev"
  done
fi

# One block per target. A target without a log here keeps its block from
# the results file as it was (an earlier run, with its own revision line).
python3 - "$logs" results/fuzz.txt "${all_targets[@]}" <<'PY'
import os, re, subprocess, sys
logs, out, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
old = open(out).read() if os.path.exists(out) else ""
def old_block(t):
    m = re.search(r"^target: " + re.escape(t) + r"\n.*?(?=\n\ntarget: |\Z)", old, re.S | re.M)
    return m.group(0).rstrip() if m else None
def new_block(t):
    log = open(os.path.join(logs, t + ".log"), errors="replace").read()
    rev_file = os.path.join(logs, t + ".rev")
    rev = open(rev_file).read().strip() if os.path.exists(rev_file) else "sockbench: unknown revision"
    lines = ["target: " + t, rev,
             f"command: cd fuzz && cargo +nightly fuzz run {t} -j1 -- -max_total_time=N -rss_limit_mb=2048"]
    done = re.findall(r"^Done \d+ runs in \d+ second.*$", log, re.M)
    lines.append(done[-1] if done else "no 'Done' line: the run did not finish")
    cov = re.findall(r"^#(\d+)\s+DONE\s+(.*)$", log, re.M)
    if cov:
        lines.append(f"executions {cov[-1][0]}, {cov[-1][1]}")
    art = os.path.join("fuzz", "artifacts", t)
    crashes = sum(len(f) for _, _, f in os.walk(art)) if os.path.isdir(art) else 0
    lines.append(f"findings (files in fuzz/artifacts/{t}): {crashes}")
    return "\n".join(lines)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
blocks = [f"# cargo fuzz results, summarised by scripts/fuzz.sh from {logs}/ (each block names the revision it fuzzed)",
          f"nproc: {os.cpu_count()}", f"cpu: {cpu}"]
for t in targets:
    if os.path.exists(os.path.join(logs, t + ".log")):
        blocks.append(new_block(t))
    elif old_block(t):
        blocks.append(old_block(t))
    else:
        blocks.append(f"target: {t}\nnot fuzzed yet")
open(out, "w").write("\n\n".join(["\n".join(blocks[:3])] + blocks[3:]) + "\n")
PY
cat results/fuzz.txt
