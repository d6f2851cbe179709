#!/usr/bin/env bash
# Several load machines, on one machine: one server and three load
# generators, each in a network namespace of its own, joined by veth pairs
# to a bridge in the server's namespace. Each generator runs
# `sockbench load --hdr-log`; `sockbench merge-hdr` adds the three logs up;
# the combined percentiles are printed, and the merged request count is
# checked against the sum of the generators' own counts.
#
#   ./scripts/multihost.sh                       # 3 x 100 connections, 3 x 1000 req/s, 5 s
#   ./scripts/multihost.sh --connections 1000 --rate 5000 --duration 10s --engine reactor
#   ./scripts/multihost.sh --out DIR             # keep the logs and JSON reports in DIR
#
# The addresses (10.77.0.0/24) exist only inside the namespaces this script
# creates: nothing leaves the machine. Everything it creates (namespaces,
# veth pairs, the bridge, the server) is removed when it exits, also on
# failure or Ctrl-C. It needs root (CAP_NET_ADMIN, for `ip netns` and veth)
# and iproute2; without them it says so and exits with status 77 (skipped).
# README, "Beyond one machine", runs the same commands across real machines.
#
# Set SOCKBENCH to a sockbench binary to skip the release build.
set -euo pipefail
cd "$(dirname "$0")/.."

connections=100 rate=1000 duration=5s engine=reactor out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --engine) engine="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "multihost.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

skip() { echo "multihost.sh: skipped: $*" >&2; exit 77; }
command -v ip >/dev/null || skip "the ip command (iproute2) is missing: apt-get install iproute2"

tag="sb$$"                         # names of everything created, unique to this run
server_ns="$tag-srv"
generators=(1 2 3)
server_addr=10.77.0.1
port=7000
created=()                         # namespaces made so far
server_pid=""
generator_pids=()

cleanup() {
  local status=$?
  for pid in "${generator_pids[@]}" $server_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${generator_pids[@]}" $server_pid; do
    wait "$pid" 2>/dev/null || true
  done
  # Deleting a namespace deletes the veth ends and the bridge inside it.
  for ns in "${created[@]}"; do
    ip netns delete "$ns" 2>/dev/null || true
  done
  [ -n "${scratch:-}" ] && rm -rf "$scratch"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! ip netns add "$server_ns" 2>/dev/null; then
  skip "cannot create a network namespace (needs root with CAP_NET_ADMIN); run it as root, or across real machines as README \"Beyond one machine\" shows"
fi
created+=("$server_ns")

if [ -n "${SOCKBENCH:-}" ]; then
  bin="$SOCKBENCH"
else
  cargo build --release --bins
  bin=target/release/sockbench
fi
if [ -n "$out" ]; then
  mkdir -p "$out"
else
  scratch="$(mktemp -d)"
  out="$scratch"
fi

in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

# The server's namespace: a bridge holding the server's address.
in_ns "$server_ns" ip link set lo up
in_ns "$server_ns" ip link add br0 type bridge
in_ns "$server_ns" ip addr add "$server_addr/24" dev br0
in_ns "$server_ns" ip link set br0 up

# One namespace per generator, joined to the bridge by a veth pair.
for n in "${generators[@]}"; do
  ns="$tag-gen$n"
  ip netns add "$ns"
  created+=("$ns")
  ip link add "${tag}g$n" netns "$ns" type veth peer name "${tag}s$n" netns "$server_ns"
  in_ns "$server_ns" ip link set "${tag}s$n" master br0 up
  in_ns "$ns" ip link set lo up
  in_ns "$ns" ip addr add "10.77.0.$((10 + n))/24" dev "${tag}g$n"
  in_ns "$ns" ip link set "${tag}g$n" up
done

# The server, in its namespace; its first line names the address it bound.
# (`ip netns exec` execs the command, so $! is the server's own PID.)
ip netns exec "$server_ns" "$bin" serve --engine "$engine" --service echo \
  --addr "$server_addr:$port" >"$out/server.txt" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on' "$out/server.txt" && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q '^listening on' "$out/server.txt" || {
  echo "multihost.sh: the server did not start:" >&2; cat "$out/server.txt" >&2; exit 1; }
echo "== server: $engine in namespace $server_ns on $server_addr:$port"

# The generators, together, each from its own namespace.
for n in "${generators[@]}"; do
  echo "== generator $n: namespace $tag-gen$n (10.77.0.$((10 + n))): $connections connections, $rate req/s, $duration"
  ip netns exec "$tag-gen$n" "$bin" load --addr "$server_addr:$port" --service echo \
    --connections "$connections" --rate "$rate" --duration "$duration" \
    --hdr-log "$out/gen$n.hlog" --json >"$out/gen$n.json" 2>"$out/gen$n.txt" &
  generator_pids+=($!)
done
# Poll rather than block in `wait`: a signal that lands just before `wait`
# starts would be acted on only when that generator ends.
while :; do
  running=0
  for pid in "${generator_pids[@]}"; do kill -0 "$pid" 2>/dev/null && running=1; done
  [ "$running" = 1 ] || break
  sleep 0.2
done
failed=0
for i in "${!generator_pids[@]}"; do
  wait "${generator_pids[$i]}" || { failed=1; echo "generator $((i + 1)) was not clean:"; cat "$out/gen$((i + 1)).txt"; }
done
generator_pids=()

# Each generator's own count, then the merge.
sum=0
for n in "${generators[@]}"; do
  requests="$(grep -o '"requests":[0-9]*' "$out/gen$n.json" | cut -d: -f2)"
  echo "generator $n: ${requests:-?} requests"
  sum=$((sum + ${requests:-0}))
done
echo "== merged (sockbench merge-hdr gen1.hlog gen2.hlog gen3.hlog)"
"$bin" merge-hdr "$out/gen1.hlog" "$out/gen2.hlog" "$out/gen3.hlog" | tee "$out/merged.txt"
merged="$(sed -n 's/^  latency *\([0-9]*\) requests.*/\1/p' "$out/merged.txt")"
echo "sum of the generators' requests: $sum; in the merged histogram: $merged"
[ "$merged" = "$sum" ] || { echo "multihost.sh: the merged count differs from the sum of its parts" >&2; exit 1; }
exit "$failed"
