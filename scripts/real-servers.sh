#!/usr/bin/env bash
# Install, where missing, the servers people run, to load them with sockbench
# (docs/REAL-SERVERS.md): nginx, Redis, memcached, Apache httpd, and wrk to
# compare the load against. Debian packages, as root (or through sudo).
#
#   ./scripts/real-servers.sh
#
# Idempotent: a server whose binary is there is skipped, and apt is not
# touched at all when everything is. No server is left running: Debian's
# packages start their service on install, so while installing, a
# policy-rc.d that answers 101 ("action forbidden") tells invoke-rc.d not to
# start anything (one already in place, as in containers, is used as is);
# any server process that appears anyway is stopped, by its PID; and the
# services they enable at boot are disabled.
set -euo pipefail

# binary to look for -> Debian package that provides it
declare -A package_of=(
  [nginx]=nginx-light
  [redis-server]=redis-server
  [memcached]=memcached
  [wrk]=wrk
  [apache2]=apache2
)
# the order they are reported in
binaries=(nginx redis-server memcached wrk apache2)
# Debian package -> the services it enables to start at boot
declare -A services_of=(
  [nginx-light]=nginx
  [redis-server]=redis-server
  [memcached]=memcached
  [wrk]=""
  [apache2]="apache2 apache-htcacheclean"
)
# process names of the servers a package could start
servers=(nginx redis-server memcached apache2 htcacheclean)

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# Debian puts daemons in /usr/sbin, which is not on every user's PATH.
have() { PATH="$PATH:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1; }

missing=()
for binary in "${binaries[@]}"; do
  if have "$binary"; then
    echo "real-servers: $binary is installed, skipped"
  else
    missing+=("${package_of[$binary]}")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "real-servers: nothing to install"
  exit 0
fi

# PIDs of the server processes running now, one a line, sorted.
server_pids() { for name in "${servers[@]}"; do pgrep -x "$name" || true; done | sort; }
running_before=$(server_pids)

policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# written by sockbench scripts/real-servers.sh while installing: start no service\nexit 101\n' \
    | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  made_policy=yes
fi
remove_policy() { if [ -n "$made_policy" ]; then $sudo rm -f "$policy"; fi; }
trap remove_policy EXIT

echo "real-servers: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

# A server the install started despite the policy: stop it by PID.
running_after=$(server_pids)
started=$(comm -13 <(echo "$running_before") <(echo "$running_after") | grep . || true)
if [ -n "$started" ]; then
  echo "real-servers: stopping server processes the install started: $(echo $started)"
  # shellcheck disable=SC2086 # one PID per word
  $sudo kill $started
fi
# Nor at boot, where systemd runs: disable what these packages enabled
# (systemctl edits the links without a running systemd too).
if have systemctl; then
  for package in "${missing[@]}"; do
    for service in ${services_of[$package]}; do
      $sudo systemctl disable --quiet "$service" 2>/dev/null || true
    done
  done
fi
echo "real-servers: installed ${missing[*]}; no server left running, none enabled at boot"
