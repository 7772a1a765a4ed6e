#!/usr/bin/env bash
# Installs what building, the demo and the tests need on Debian 12 (bookworm):
# system libzmq (with CURVE), nginx + lua module, LuaJIT, pyzmq, wrk, Test::Base.
# Skips apt entirely when everything is already there. Needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential pkg-config curl ca-certificates
  libzmq3-dev
  nginx-core libnginx-mod-http-lua lua-resty-core luajit2 libluajit2-5.1-dev
  python3 python3-zmq python3-zstandard
  wrk libtest-base-perl
  nginx-dev
  nats-server
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "deps: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The Debian nginx package starts a default server on port 80; the project never uses it.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop nginx 2>/dev/null || true; fi
  if [ -f /run/nginx.pid ]; then $SUDO kill -QUIT "$(cat /run/nginx.pid)" 2>/dev/null || true; fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo not found. Install a Rust toolchain >= 1.82 (https://rustup.rs) and re-run." >&2
  exit 1
fi
echo "deps: ok ($(cargo --version), libzmq $(pkg-config --modversion libzmq))"
