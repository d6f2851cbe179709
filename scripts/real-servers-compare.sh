#!/usr/bin/env bash
# The measured tables of the README's "Your own server" (issue 21): servers
# people run against sockbench's, by the verdict method (docs/METHOD.md).
#
#   ./scripts/real-servers-compare.sh                  # about 15 minutes, into results/
#   OUT=$(mktemp -d) DURATION=300ms ROUNDS=2 SCALE=0.02 PROFILE=debug ./scripts/real-servers-compare.sh
#                                                      # a smoke run of a minute or two
#
# 1. results/servers-http.*: --services http, reactor, uring, epoll-raw,
#    nginx and Apache's three MPMs by --verdicts at 100 and 1,000
#    connections, baseline nginx (ratios, intervals, verdicts, cost per
#    request). epoll-raw speaks echo only: it is listed as not run.
# 2. results/servers-redis.*, results/servers-memcached.*: Redis (one event
#    loop) and memcached (one thread) under the same quota, pinned, in
#    rounds, at 100 and 1,000 connections: req/s and cost per request (each
#    is the only server speaking its protocol, so there is no ratio).
# 3. results/c10k-apache.*: --scenario c10k over the Apache MPMs: 15,000
#    connections, one request a second each; connections held, p99, memory
#    per connection. prefork stops at its 1,024 processes: that is the lesson.
# Then `python3 scripts/readme-results.py` puts the tables in the README.
#
# Needs nginx, apache2, redis-server and memcached (./scripts/real-servers.sh),
# root (the quota cgroup), two cores. Every server is started and stopped by
# sockbench compare itself.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${OUT:-results}"
duration="${DURATION:-2s}"   # each cell; 120 paired http cells make most of the time
rounds="${ROUNDS:-10}"
scale="${SCALE:-1}"           # of the c10k scenario
profile="${PROFILE:-release}" # debug: a smoke run without a release build

for binary in nginx apache2 redis-server memcached; do
  if ! PATH="$PATH:/usr/sbin" command -v "$binary" >/dev/null; then
    echo "real-servers-compare: $binary is missing: run ./scripts/real-servers.sh" >&2
    exit 1
  fi
done
# Debian puts the daemons in /usr/sbin, which compare looks for on PATH.
export PATH="$PATH:/usr/sbin"

if [ "$profile" = release ]; then
  cargo build --release --bins --examples
else
  cargo build --bins --examples
fi
sockbench="target/$profile/sockbench"
./scripts/mount-tracefs.sh
./scripts/scale-sysctl.sh
mkdir -p "$out"

cat <<EOF
real-servers-compare: into $out/, cells of $duration, $rounds rounds, c10k at scale $scale:
  servers-http       reactor, uring, epoll-raw, nginx, apache-event, apache-worker, apache-prefork
                     against nginx, side by side, at 100 and 1,000 connections (most of the time)
  servers-redis      redis, at 100 and 1,000 connections
  servers-memcached  memcached, at 100 and 1,000 connections
  c10k-apache        the c10k scenario over apache-prefork, apache-worker, apache-event
EOF

run() {
  echo
  echo "real-servers-compare: $*"
  "$sockbench" "$@"
}

run compare --verdicts --services http --connections 100,1000 \
  --engines reactor,uring,epoll-raw,nginx,apache-event,apache-worker,apache-prefork \
  --baseline nginx --duration "$duration" --rounds "$rounds" --out-dir "$out" --name servers-http
for service in redis memcached; do
  run compare --verdicts --services "$service" --connections 100,1000 \
    --duration "$duration" --rounds "$rounds" --out-dir "$out" --name "servers-$service"
done
run compare --scenario c10k --scale "$scale" \
  --engines apache-prefork,apache-worker,apache-event --out-dir "$out" --name c10k-apache

echo
echo "real-servers-compare: done; now python3 scripts/readme-results.py"
