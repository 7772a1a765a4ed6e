#!/usr/bin/env bash
# End-to-end demo: zmq-adaptor + nginx (2 workers) logging one usage record per
# request with resty.zmq_logger.usage, and a subscriber printing what arrives.
#
# Usage: scripts/demo.sh [REQUESTS]      (default 6)
# Environment: DEMO_PORT (default: a free port), DEMO_KEEP=1 keeps the temp dir,
#   NGINX (default nginx on PATH or /usr/sbin/nginx), PYTHON (default /usr/bin/python3),
#   NGINX_LOAD_MODULES (space-separated module paths; default: the Debian lua modules
#   when present, "" for OpenResty).
# Needs: make build (cargo build --release --workspace, then make module, which
#   replaces target/release/zmq_logger.so atomically)
# Every process started here is stopped by pid on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REL="$ROOT/target/release"
REQUESTS=${1:-6}
PYTHON=${PYTHON:-/usr/bin/python3}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

die() { echo "demo: $*" >&2; exit 1; }

[[ "$REQUESTS" =~ ^[0-9]+$ && "$REQUESTS" -ge 1 ]] || die "REQUESTS must be a positive number"
[ -x "$REL/zmq-adaptor" ] || die "$REL/zmq-adaptor missing: run make build"
[ -e "$REL/libzmq_adaptor.so" ] || die "$REL/libzmq_adaptor.so missing: run make build"
[ -e "$REL/zmq_logger.so" ] || die "$REL/zmq_logger.so missing: run make build (installs target/release/libzmq_logger.so as zmq_logger.so)"
[ -x "$NGINX" ] || die "nginx not found (set NGINX)"
command -v curl >/dev/null || die "curl not found"
"$PYTHON" -c 'import zmq' 2>/dev/null || die "$PYTHON cannot import zmq (install python3-zmq or set PYTHON)"

TMP=$(mktemp -d /tmp/zmq-demo.XXXXXX)
chmod 0755 "$TMP"   # nginx workers (nobody) must reach the ipc socket
ADAPTOR_PID= NGINX_PID= SUB_PID=

SCRIPT_NAME=demo
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

cleanup() {
    stop_pid "$NGINX_PID" QUIT 15 nginx
    stop_pid "$SUB_PID" TERM 5 subscriber
    stop_pid "$ADAPTOR_PID" TERM 10 zmq-adaptor
    if [ "${DEMO_KEEP:-}" = 1 ]; then
        echo "demo: files kept in $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=${DEMO_PORT:-$(free_port "$PYTHON")}
LISTEN="ipc://$TMP/listen"
PUBLISH="ipc://$TMP/publish"

NGINX_LOAD_MODULES=$(default_load_modules)
LOAD_LINES=
for m in $NGINX_LOAD_MODULES; do LOAD_LINES+="load_module $m;\\n"; done

echo "== starting zmq-adaptor: $LISTEN -> $PUBLISH"
"$REL/zmq-adaptor" -b "$LISTEN" -p "$PUBLISH" --ipc-mode 0666 --stats-interval 0 \
    >"$TMP/adaptor.log" 2>&1 &
ADAPTOR_PID=$!
for ((i = 0; i < 200; i++)); do
    [ -S "$TMP/listen" ] && [ -S "$TMP/publish" ] && break
    kill -0 "$ADAPTOR_PID" 2>/dev/null || { cat "$TMP/adaptor.log" >&2; die "zmq-adaptor exited"; }
    sleep 0.05
done
[ -S "$TMP/listen" ] || die "zmq-adaptor did not bind within 10 s"

echo "== starting subscriber (expects $REQUESTS records)"
"$PYTHON" "$ROOT/scripts/sub.py" "$PUBLISH" --probe "$LISTEN" --ready "$TMP/sub.ready" \
    --count "$REQUESTS" --timeout 30 --out "$TMP/records.txt" 2>"$TMP/sub.err" &
SUB_PID=$!
for ((i = 0; i < 300; i++)); do
    [ -e "$TMP/sub.ready" ] && break
    kill -0 "$SUB_PID" 2>/dev/null || { cat "$TMP/sub.err" >&2; die "subscriber exited"; }
    sleep 0.05
done
[ -e "$TMP/sub.ready" ] || die "subscriber not ready within 15 s"

echo "== starting nginx (2 workers) on 127.0.0.1:$PORT"
mkdir -p "$TMP/nginx/conf" "$TMP/nginx/logs"
sed -e "s|@LOAD_MODULES@|$LOAD_LINES|" -e "s|@PREFIX@|$TMP/nginx|g" -e "s|@PORT@|$PORT|g" \
    -e "s|@ROOT@|$ROOT|g" -e "s|@LIBDIR@|$REL|g" -e "s|@ENDPOINT@|$LISTEN|g" \
    "$ROOT/nginx/demo.conf" >"$TMP/nginx/conf/nginx.conf"
"$NGINX" -p "$TMP/nginx/" -c conf/nginx.conf -e logs/error.log &
NGINX_PID=$!
for ((i = 0; i < 200; i++)); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/zmq-stats" && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/logs/error.log" >&2; die "nginx exited"; }
    sleep 0.05
done

echo "== sending $REQUESTS requests"
for ((i = 1; i <= REQUESTS; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: demo-key-$i" \
        -A "demo-client/1.0" "http://127.0.0.1:$PORT/v1/items/$i?page=$i")
    echo "GET /v1/items/$i -> $code"
done

echo "== records received by the subscriber ($PUBLISH):"
rc=0
wait "$SUB_PID" || rc=$?
SUB_PID=
cat "$TMP/records.txt"
cat "$TMP/sub.err" >&2
if [ "$rc" -ne 0 ]; then
    echo "demo: FAILED: expected $REQUESTS records (subscriber exit $rc)" >&2
    echo "--- nginx error.log" >&2; cat "$TMP/nginx/logs/error.log" >&2
    exit 1
fi
echo "== per-worker stats:"
for ((i = 0; i < 4; i++)); do curl -s "http://127.0.0.1:$PORT/zmq-stats"; done | sort -u
echo "== demo OK: $REQUESTS requests, $REQUESTS records"
