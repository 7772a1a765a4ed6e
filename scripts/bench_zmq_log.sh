#!/usr/bin/env bash
# ngx_http_zmq_log_module benchmark: CPU per request of four locations of one nginx
# (2 workers), measured side by side in one run, interleaved round by round:
#
#   empty       return 200, no logging
#   access_log  the zmq_usage JSON record (nginx/zmq_log_usage.conf, escape=json)
#               written by access_log to a file, buffer=64k
#   zmq_log     the same record queued by zmq_log (module -> libzmq_adaptor ->
#               zmq-adaptor -> a pyzmq subscriber counting what arrives)
#   lua         the record built by resty.zmq_logger.usage and queued by zmq_logger
#
# Each round runs wrk on every location for BENCH_SECONDS; CPU = utime+stime of all
# threads of the nginx workers (main thread, drainer, libzmq I/O threads) from
# /proc, before and after each wrk run (+0.3 s for the drainers to finish); requests
# = nginx's own count (stub_status) over the same interval. A warm-up round (1 s per
# location) starts every worker's drainer and Lua VM first. Per case: the pooled
# figure, and the median, min and max of the per-round figures; "over empty" =
# median - median(empty); ratio = zmq_log over empty / access_log over empty (target
# <= 1.2), also per round. The main-thread column is the same for the workers'
# event-loop threads only (the request path). At the end nginx stops gracefully and
# the subscriber's count must equal the requests served by zmq_log and lua.
#
# Usage: scripts/bench_zmq_log.sh
# Environment: BENCH_SECONDS (per location and round, default 2), BENCH_ROUNDS
#   (default 6), BENCH_CONNECTIONS (default 8), BENCH_THREADS (wrk, default 1),
#   NGINX, PYTHON (default /usr/bin/python3), NGINX_LOAD_MODULES (see
#   scripts/lib.sh), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REL="$ROOT/target/release"
SECS=${BENCH_SECONDS:-2}
ROUNDS=${BENCH_ROUNDS:-6}
CONNS=${BENCH_CONNECTIONS:-8}
THREADS=${BENCH_THREADS:-1}
PYTHON=${PYTHON:-/usr/bin/python3}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
CASES=(empty access_log zmq_log lua)
MODULE="$REL/ngx_http_zmq_log_module.so"

SCRIPT_NAME=bench_zmq_log
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

die() { echo "bench_zmq_log: $*" >&2; exit 1; }

[[ "$SECS" =~ ^[0-9]+$ && "$SECS" -ge 1 && "$SECS" -le 60 ]] || die "BENCH_SECONDS must be 1..60"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 && "$ROUNDS" -le 20 ]] || die "BENCH_ROUNDS must be 1..20"
if [ ! -e "$MODULE" ]; then
    [ -x /usr/share/nginx/src/configure ] || {
        echo "bench_zmq_log: skipped: nginx-dev is not installed, $MODULE not built" >&2
        exit 0
    }
    die "$MODULE missing: run make build"
fi
[ -x "$REL/zmq-adaptor" ] || die "$REL/zmq-adaptor missing: run make build"
[ -e "$REL/zmq_logger.so" ] || die "$REL/zmq_logger.so missing: run make build"
[ -x "$NGINX" ] || die "nginx not found (set NGINX)"
command -v wrk >/dev/null || die "wrk not found"
"$PYTHON" -c 'import zmq' 2>/dev/null || die "$PYTHON cannot import zmq"

TMP=$(mktemp -d /tmp/zmq-log-bench.XXXXXX)
chmod 0755 "$TMP"
ADAPTOR_PID= NGINX_PID= SUB_PID= WRK_PID=
CLK_TCK=$(getconf CLK_TCK)

cleanup() {
    stop_pid "$WRK_PID" TERM 5 wrk
    stop_pid "$NGINX_PID" QUIT 20 nginx
    stop_pid "$SUB_PID" TERM 5 subscriber
    stop_pid "$ADAPTOR_PID" TERM 10 zmq-adaptor
    if [ "${BENCH_KEEP:-}" = 1 ]; then echo "bench_zmq_log: files kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(free_port "$PYTHON")
LISTEN="ipc://$TMP/listen"
PUBLISH="ipc://$TMP/publish"
LOAD_LINES=
for m in $(default_load_modules) "$MODULE"; do LOAD_LINES+="load_module $m;"$'\n'; done

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
    access_log off;
    client_body_temp_path $TMP/nginx/client_body_temp;
    proxy_temp_path $TMP/nginx/proxy_temp;
    fastcgi_temp_path $TMP/nginx/fastcgi_temp;
    uwsgi_temp_path $TMP/nginx/uwsgi_temp;
    scgi_temp_path $TMP/nginx/scgi_temp;
    lua_package_cpath "$REL/?.so;;";
    lua_package_path "$ROOT/lua/?.lua;;";
    init_by_lua_block { usage = require "resty.zmq_logger.usage" }

    include $ROOT/nginx/zmq_log_usage.conf;
    zmq_log_endpoint $LISTEN;

    server {
        listen 127.0.0.1:$PORT reuseport;
        location = /empty { return 200 "ok\n"; }
        location = /access_log {
            access_log logs/usage.log zmq_usage buffer=64k;
            return 200 "ok\n";
        }
        location = /zmq_log {
            zmq_log zmq_usage;
            return 200 "ok\n";
        }
        location = /lua {
            return 200 "ok\n";
            log_by_lua_block { usage.log() }
        }
        location = /status { stub_status; }
    }
}
EOF

served_total() { # nginx's request counter (this request included)
    local n
    n=$(curl -s "http://127.0.0.1:$PORT/status" | awk 'NR == 3 {print $3}')
    [[ "$n" =~ ^[0-9]+$ ]] || die "stub_status unreadable"
    echo "$n"
}

worker_ticks() { # -> "all-threads main-thread drainer adaptor" ticks
    local all=0 main=0 dr=0 w
    for w in $(workers_of "$NGINX_PID"); do
        all=$((all + $(ticks "$w" all)))
        main=$((main + $(ticks "$w" main)))
        dr=$((dr + $(ticks "$w" drainer)))
    done
    echo "$all $main $dr $(ticks "$ADAPTOR_PID" all)"
}

"$REL/zmq-adaptor" -b "$LISTEN" -p "$PUBLISH" --ipc-mode 0666 --stats-interval 0 \
    >"$TMP/adaptor.log" 2>&1 &
ADAPTOR_PID=$!
for ((i = 0; i < 200; i++)); do
    [ -S "$TMP/listen" ] && [ -S "$TMP/publish" ] && break
    kill -0 "$ADAPTOR_PID" 2>/dev/null || { cat "$TMP/adaptor.log" >&2; die "zmq-adaptor exited"; }
    sleep 0.05
done
[ -S "$TMP/listen" ] || die "zmq-adaptor did not bind within 10 s"

"$PYTHON" "$ROOT/scripts/sub.py" "$PUBLISH" --probe "$LISTEN" --ready "$TMP/sub.ready" \
    --count-only --timeout $((ROUNDS * SECS * 4 + 120)) --out "$TMP/sub.count" \
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
        curl -s -o /dev/null "http://127.0.0.1:$PORT/empty" 2>/dev/null && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/logs/error.log" >&2; die "nginx exited"; }
    sleep 0.05
done

LOGGED=0 # requests served by the locations that send records
ROWS="$TMP/rows" # round case requests ticks main-thread-ticks drainer-ticks adaptor-ticks
: >"$ROWS"

run_case() { # case seconds -> "requests ticks main-thread-ticks drainer-ticks adaptor-ticks"
    local c=$1 s=$2 r0 t0 m0 d0 a0 r1 t1 m1 d1 a1
    r0=$(served_total)
    read -r t0 m0 d0 a0 <<<"$(worker_ticks)"
    wrk -t"$THREADS" -c"$CONNS" -d"${s}s" "http://127.0.0.1:$PORT/$c" >"$TMP/wrk.$c" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || die "wrk failed: $(cat "$TMP/wrk.$c")"
    WRK_PID=
    sleep 0.3
    read -r t1 m1 d1 a1 <<<"$(worker_ticks)"
    r1=$(served_total)
    # r1 counts its own status request and r0's
    echo "$((r1 - r0 - 1)) $((t1 - t0)) $((m1 - m0)) $((d1 - d0)) $((a1 - a0))"
}

echo "warm-up: 1 s per location (starts every worker's drainer and Lua VM)" >&2
for c in "${CASES[@]}"; do
    read -r n _ <<<"$(run_case "$c" 1)"
    case $c in zmq_log | lua) LOGGED=$((LOGGED + n)) ;; esac
done

for ((round = 1; round <= ROUNDS; round++)); do
    for c in "${CASES[@]}"; do
        echo "round $round/$ROUNDS: $c ${SECS}s" >&2
        read -r n t m d a <<<"$(run_case "$c" "$SECS")"
        echo "$round $c $n $t $m $d $a" >>"$ROWS"
        case $c in zmq_log | lua) LOGGED=$((LOGGED + n)) ;; esac
    done
done

stop_pid "$NGINX_PID" QUIT 30 nginx
NGINX_PID=
# Wait until the subscriber has everything (bounded), then stop it for its count.
for ((i = 0; i < 100; i++)); do
    sleep 0.1
done
stop_pid "$SUB_PID" TERM 10 subscriber
SUB_PID=
received=$(cat "$TMP/sub.count" 2>/dev/null || echo 0)
lines=$(wc -l <"$TMP/nginx/logs/usage.log")

echo
echo "nginx 2 workers, wrk -t$THREADS -c$CONNS, $ROUNDS rounds x ${SECS}s per location, interleaved"
"$PYTHON" - "$ROWS" "$CLK_TCK" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
hz = int(sys.argv[2])
cases = ["empty", "access_log", "zmq_log", "lua"]
us = lambda t, n: t * 1e6 / hz / n if n else float("nan")
per = {c: [] for c in cases}          # per-round us/req (all worker threads)
pmain = {c: [] for c in cases}        # per-round us/req (worker main threads)
tot = {c: [0, 0, 0, 0, 0] for c in cases}
for r, c, n, t, m, d, a in rows:
    n, t, m, d, a = int(n), int(t), int(m), int(d), int(a)
    per[c].append(us(t, n))
    pmain[c].append(us(m, n))
    for i, v in enumerate((n, t, m, d, a)):
        tot[c][i] += v
print("CPU of the nginx workers (all threads) in microseconds per request;")
print("median = median of the per-round figures, over empty = median - median(empty)")
print("%-11s %9s %8s %8s %8s %8s %10s %11s %8s %8s" % ("case", "requests", "pooled", "median", "min",
      "max", "over empty", "main thread", "drainer", "adaptor"))
med = {c: statistics.median(per[c]) for c in cases}
mmed = {c: statistics.median(pmain[c]) for c in cases}
for c in cases:
    n, t, m, d, a = tot[c]
    over = "-" if c == "empty" else "%.2f" % (med[c] - med["empty"])
    mover = "-" if c == "empty" else "%+.2f" % (mmed[c] - mmed["empty"])
    print("%-11s %9d %8.2f %8.2f %8.2f %8.2f %10s %11s %8.2f %8.2f" % (c, n, us(t, n), med[c],
          min(per[c]), max(per[c]), over, mover, us(d, n), us(a, n)))
acc = med["access_log"] - med["empty"]
zl = med["zmq_log"] - med["empty"]
lua = med["lua"] - med["empty"]
print("zmq_log / access_log, CPU over empty (medians): %.2fx (target <= 1.2x); lua / zmq_log: %.1fx"
      % (zl / acc if acc > 0 else float("nan"), lua / zl if zl > 0 else float("nan")))
# Per round, each case against the empty run of the same round.
rr = {}
for r, c, n, t, m, d, a in rows:
    rr.setdefault(r, {})[c] = us(int(t), int(n))
ratios = []
for r in sorted(rr, key=int):
    d = rr[r]
    a_, z_ = d["access_log"] - d["empty"], d["zmq_log"] - d["empty"]
    if a_ > 0:
        ratios.append(z_ / a_)
print("main thread = the workers' event-loop threads only, median over empty; drainer = the")
print("library's drainer threads (pooled); the rest of a worker is libzmq's I/O threads")
print("per-round ratios: " + " ".join("%.2f" % x for x in ratios)
      + (" (median %.2f)" % statistics.median(ratios) if ratios else ""))
PY
echo "records: $received received, $LOGGED requests served by zmq_log + lua, lost $((LOGGED - received));" \
    "access_log lines: $lines"
echo "(requests = nginx's stub_status count; records counted by a pyzmq subscriber of the"
echo " zmq-adaptor; adaptor = the zmq-adaptor process per request, not in the workers' figures)"
