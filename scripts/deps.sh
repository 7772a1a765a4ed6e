#!/usr/bin/env bash
# Installs the Debian 12 (bookworm) packages a step needs:
#   scripts/deps.sh build   compiling only: libzmq (with CURVE), pkg-config, nginx-dev,
#                           a C toolchain
#   scripts/deps.sh test    build + what the demo, tests and benchmarks run against:
#                           nginx + lua module, LuaJIT, pyzmq, wrk, Test::Base,
#                           lintian, nats-server
# Skips apt entirely when everything is already there. Needs root (or sudo) only
# when something is missing. Never stops or restarts a running nginx: while it
# installs, a policy-rc.d keeps Debian's nginx package from starting its default
# server (on systemd machines, `systemctl` honours it through invoke-rc.d).
set -euo pipefail

mode=${1:-test}
BUILD=(
  build-essential pkg-config curl ca-certificates
  libzmq3-dev
  nginx-dev
)
TEST=(
  nginx-core libnginx-mod-http-lua lua-resty-core luajit2 libluajit2-5.1-dev
  python3 python3-zmq python3-zstandard
  wrk libtest-base-perl
  lintian
  nats-server
)
case "$mode" in
  build) PKGS=("${BUILD[@]}") ;;
  test) PKGS=("${BUILD[@]}" "${TEST[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "deps ($mode): installing ${missing[*]}"
  # policy-rc.d exiting 101 = "action forbidden": package scripts do not start
  # services. Only ours is removed afterwards; an existing one is left alone.
  policy=/usr/sbin/policy-rc.d
  ours=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# zmq_adaptor scripts/deps.sh: no service starts during this install\nexit 101\n' |
      $SUDO tee "$policy" >/dev/null
    $SUDO chmod 0755 "$policy"
    ours=1
  fi
  cleanup() { if [ -n "$ours" ]; then $SUDO rm -f "$policy"; fi; }
  trap cleanup EXIT
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  cleanup
  trap - EXIT
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo not found. Install a Rust toolchain >= 1.82 (https://rustup.rs) and re-run." >&2
  exit 1
fi
echo "deps ($mode): ok ($(cargo --version), libzmq $(pkg-config --modversion libzmq))"
