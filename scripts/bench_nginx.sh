#!/usr/bin/env bash
# nginx + zmq_logger benchmark: four locations under wrk, side by side, one run.
#
#   none        no logging at all
#   build       builds the usage record (resty.zmq_logger.usage.record) only
#   zmq_logger  builds it and queues it with zmq_logger (per-worker queue + drainer
#               thread in libzmq_adaptor.so)
#   ffi_send    builds it and sends it per request straight from Lua with LuaJIT FFI
#               zmq_send on a PUB socket per worker (created lazily in the worker,
#               connected to the adaptor): the original logger's way
#
# For each case nginx (2 workers) is started fresh, wrk runs BENCH_SECONDS, then
# nginx is stopped gracefully (nginx -s quit semantics) and the records received by
# a subscriber are counted. Printed per case: requests served (access log lines),
# req/s (wrk), CPU per request in microseconds for the nginx worker main threads,
# the drainer threads (comm "zmq-adaptor-dra"), the other libzmq threads in the
# workers (ZMQbg/*), the zmq-adaptor process, and records lost (served - received).
# CPU comes from /proc/<pid>/task/*/stat, sampled before wrk and 1 s after it.
#
# Then a LuaJIT micro-benchmark (scripts/bench_lua.lua) prints ns per
# zmq_logger.log() call.
#
# Usage: scripts/bench_nginx.sh
# Environment: BENCH_SECONDS (default 5), BENCH_BATCH_US (drainer batch interval,
#   default 10000), BENCH_CONNECTIONS (default 8),
#   BENCH_THREADS (wrk threads, default 1), NGINX, PYTHON (default /usr/bin/python3),
#   NGINX_LOAD_MODULES (see scripts/demo.sh), BENCH_KEEP=1 keeps the temp dir.
# Every process started here is stopped by pid on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REL="$ROOT/target/release"
SECONDS_PER_CASE=${BENCH_SECONDS:-5}
BATCH_US=${BENCH_BATCH_US:-10000}
CONNS=${BENCH_CONNECTIONS:-8}
THREADS=${BENCH_THREADS:-1}
PYTHON=${PYTHON:-/usr/bin/python3}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
CASES=(none build zmq_logger ffi_send)

die() { echo "bench: $*" >&2; exit 1; }

[[ "$SECONDS_PER_CASE" =~ ^[0-9]+$ && "$SECONDS_PER_CASE" -ge 1 && "$SECONDS_PER_CASE" -le 300 ]] \
    || die "BENCH_SECONDS must be 1..300"
[ -x "$REL/zmq-adaptor" ] || die "$REL/zmq-adaptor missing: run make build"
[ -e "$REL/libzmq_adaptor.so" ] || die "$REL/libzmq_adaptor.so missing: run make build"
[ -e "$REL/zmq_logger.so" ] || die "$REL/zmq_logger.so missing: run make build"
[ -x "$NGINX" ] || die "nginx not found (set NGINX)"
command -v wrk >/dev/null || die "wrk not found"
command -v luajit >/dev/null || die "luajit not found"
"$PYTHON" -c 'import zmq' 2>/dev/null || die "$PYTHON cannot import zmq"
LIBZMQ=$(ldconfig -p | awk '/libzmq\.so\.5 /{print $NF; exit}')
[ -n "$LIBZMQ" ] || die "libzmq.so.5 not found (apt-get install libzmq5)"

TMP=$(mktemp -d /tmp/zmq-bench.XXXXXX)
chmod 0755 "$TMP"
ADAPTOR_PID= NGINX_PID= SUB_PID= WRK_PID=
CLK_TCK=$(getconf CLK_TCK)

SCRIPT_NAME=bench
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

cleanup() {
    stop_pid "$WRK_PID" TERM 5 wrk
    stop_pid "$NGINX_PID" QUIT 20 nginx
    stop_pid "$SUB_PID" TERM 5 subscriber
    stop_pid "$ADAPTOR_PID" TERM 10 zmq-adaptor
    if [ "${BENCH_KEEP:-}" = 1 ]; then echo "bench: files kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(free_port "$PYTHON")
LISTEN="ipc://$TMP/listen"
PUBLISH="ipc://$TMP/publish"

NGINX_LOAD_MODULES=$(default_load_modules)
LOAD_LINES=
for m in $NGINX_LOAD_MODULES; do LOAD_LINES+="load_module $m;"$'\n'; done

mkdir -p "$TMP/nginx/conf" "$TMP/nginx/logs"
cat >"$TMP/nginx/conf/nginx.conf" <<EOF
$LOAD_LINES
worker_processes 2;
daemon off;
master_process on;
pid logs/nginx.pid;
error_log logs/error.log notice;
events { worker_connections 1024; }
http {
    log_format bench '\$status';
    access_log logs/access.log bench buffer=256k flush=1s;
    client_body_temp_path $TMP/nginx/client_body_temp;
    proxy_temp_path $TMP/nginx/proxy_temp;
    fastcgi_temp_path $TMP/nginx/fastcgi_temp;
    uwsgi_temp_path $TMP/nginx/uwsgi_temp;
    scgi_temp_path $TMP/nginx/scgi_temp;
    lua_package_cpath "$REL/?.so;;";
    lua_package_path "$ROOT/lua/?.lua;;";

    init_by_lua_block {
        assert(require("zmq_logger").configure{ endpoint = "$LISTEN", batch_interval_us = $BATCH_US })
        usage = require "resty.zmq_logger.usage"

        -- The original logger's way: one PUB socket per worker, zmq_send per request.
        local ffi = require "ffi"
        pcall(ffi.cdef, [[
            void *zmq_ctx_new(void);
            void *zmq_socket(void *ctx, int type);
            int zmq_connect(void *s, const char *endpoint);
            int zmq_setsockopt(void *s, int option, const void *value, size_t len);
            int zmq_send(void *s, const void *buf, size_t len, int flags);
        ]])
        local zmq = ffi.load("$LIBZMQ")
        local ZMQ_PUB, ZMQ_SNDHWM, ZMQ_DONTWAIT = 1, 23, 1
        local sock
        function ffi_send(rec)
            if sock == nil then -- lazily, in the worker (after fork)
                local ctx = zmq.zmq_ctx_new()
                sock = zmq.zmq_socket(ctx, ZMQ_PUB)
                local hwm = ffi.new("int[1]", 100000)
                zmq.zmq_setsockopt(sock, ZMQ_SNDHWM, hwm, ffi.sizeof("int"))
                zmq.zmq_connect(sock, "$LISTEN")
            end
            return zmq.zmq_send(sock, rec, #rec, ZMQ_DONTWAIT)
        end
    }

    server {
        listen 127.0.0.1:$PORT reuseport;
        location = /none { return 200 "ok\n"; }
        location = /build {
            return 200 "ok\n";
            log_by_lua_block { local rec = usage.record() }
        }
        location = /zmq_logger {
            return 200 "ok\n";
            log_by_lua_block { usage.log() }
        }
        location = /ffi_send {
            return 200 "ok\n";
            log_by_lua_block { ffi_send(usage.record()) }
        }
    }
}
EOF

sample() { # -> "main drainer zmqbg adaptor" ticks
    local main=0 dr=0 bg=0 w
    for w in $(workers_of "$NGINX_PID"); do
        main=$((main + $(ticks "$w" main)))
        dr=$((dr + $(ticks "$w" drainer)))
        bg=$((bg + $(ticks "$w" zmqbg)))
    done
    echo "$main $dr $bg $(ticks "$ADAPTOR_PID" all)"
}

echo "starting zmq-adaptor ($LISTEN -> $PUBLISH)" >&2
"$REL/zmq-adaptor" -b "$LISTEN" -p "$PUBLISH" --ipc-mode 0666 --stats-interval 0 \
    >"$TMP/adaptor.log" 2>&1 &
ADAPTOR_PID=$!
for ((i = 0; i < 200; i++)); do
    [ -S "$TMP/listen" ] && [ -S "$TMP/publish" ] && break
    kill -0 "$ADAPTOR_PID" 2>/dev/null || { cat "$TMP/adaptor.log" >&2; die "zmq-adaptor exited"; }
    sleep 0.05
done
[ -S "$TMP/listen" ] || die "zmq-adaptor did not bind within 10 s"

RESULTS=()
for case in "${CASES[@]}"; do
    echo "case $case: ${SECONDS_PER_CASE}s, $CONNS connections" >&2
    rm -f "$TMP/nginx/logs/access.log" "$TMP/sub.ready" "$TMP/sub.count"
    "$PYTHON" "$ROOT/scripts/sub.py" "$PUBLISH" --probe "$LISTEN" --ready "$TMP/sub.ready" \
        --count-only --timeout $((SECONDS_PER_CASE + 120)) --out "$TMP/sub.count" \
        2>>"$TMP/sub.err" &
    SUB_PID=$!
    for ((i = 0; i < 300; i++)); do
        [ -e "$TMP/sub.ready" ] && break
        kill -0 "$SUB_PID" 2>/dev/null || { cat "$TMP/sub.err" >&2; die "subscriber exited"; }
        sleep 0.05
    done
    [ -e "$TMP/sub.ready" ] || die "subscriber not ready"

    "$NGINX" -p "$TMP/nginx/" -c conf/nginx.conf -e logs/error.log &
    NGINX_PID=$!
    for ((i = 0; i < 200; i++)); do
        [ "$(workers_of "$NGINX_PID" | wc -l)" -ge 2 ] && \
            curl -s -o /dev/null "http://127.0.0.1:$PORT/none" 2>/dev/null && break
        kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/logs/error.log" >&2; die "nginx exited"; }
        sleep 0.05
    done
    read -r m0 d0 b0 a0 <<<"$(sample)"
    wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_CASE}s" "http://127.0.0.1:$PORT/$case" \
        >"$TMP/wrk.$case" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || die "wrk failed: $(cat "$TMP/wrk.$case")"
    WRK_PID=
    sleep 1 # let the drainers and the adaptor finish the backlog
    read -r m1 d1 b1 a1 <<<"$(sample)"
    stop_pid "$NGINX_PID" QUIT 30 nginx
    NGINX_PID=
    served=$(wc -l <"$TMP/nginx/logs/access.log")
    served=$((served - 1)) # the readiness probe request above
    # Wait until the subscriber's count is stable, then stop it (it prints the count).
    sleep 1
    stop_pid "$SUB_PID" TERM 10 subscriber
    SUB_PID=
    received=$(cat "$TMP/sub.count" 2>/dev/null || echo 0)
    rps=$(awk '/^Requests\/sec:/{print $2}' "$TMP/wrk.$case")
    RESULTS+=("$case $served $rps $((m1 - m0)) $((d1 - d0)) $((b1 - b0)) $((a1 - a0)) $received")
done

echo
echo "nginx 2 workers, wrk -t$THREADS -c$CONNS, ${SECONDS_PER_CASE}s per case; CPU in microseconds per request"
printf '%-11s %9s %9s %8s %8s %8s %8s %9s %9s\n' case served req/s worker drainer zmq-bg adaptor records lost
for r in "${RESULTS[@]}"; do
    # shellcheck disable=SC2086
    set -- $r
    awk -v c="$1" -v n="$2" -v rps="$3" -v m="$4" -v d="$5" -v b="$6" -v a="$7" -v rec="$8" \
        -v hz="$CLK_TCK" 'BEGIN {
        us = 1e6 / hz / (n > 0 ? n : 1)
        logging = (c == "zmq_logger" || c == "ffi_send")
        printf "%-11s %9d %9.0f %8.2f %8.2f %8.2f %8.2f %9s %9s\n", c, n, rps, m * us, d * us,
            b * us, a * us, logging ? rec : "-", logging ? n - rec : "-"
    }'
done
echo "(worker = nginx worker main threads; drainer = zmq_logger drainer threads;"
echo " zmq-bg = libzmq I/O threads in the workers; adaptor = zmq-adaptor process;"
echo " lost = requests served - records received by the subscriber)"

echo
echo "LuaJIT micro-benchmark (scripts/bench_lua.lua, records delivered to the adaptor):"
# The adaptor forwards only while a consumer is subscribed: keep one attached.
rm -f "$TMP/sub.ready"
"$PYTHON" "$ROOT/scripts/sub.py" "$PUBLISH" --probe "$LISTEN" --ready "$TMP/sub.ready" \
    --count-only --timeout 300 --out "$TMP/sub.count" 2>>"$TMP/sub.err" &
SUB_PID=$!
for ((i = 0; i < 300; i++)); do
    [ -e "$TMP/sub.ready" ] && break
    sleep 0.05
done
[ -e "$TMP/sub.ready" ] || die "subscriber not ready"
timeout 300 luajit "$ROOT/scripts/bench_lua.lua" "$LISTEN"
