#!/usr/bin/env bash
# nginx usage-record benchmark: one nginx (2 workers), five locations under wrk,
# interleaved in one run (round 1: every case, round 2: every case, ...):
#
#   empty    return 200; an empty log_by_lua_block (the reference)
#   usage    + log_by_lua: resty.zmq_logger.usage.log() (builds the standard usage
#            record and queues it with zmq_logger: per-worker queue + drainer thread
#            in libzmq_adaptor.so -> zmq-adaptor -> a pyzmq subscriber that counts)
#   usage_w  the same with usage.configure{ request_id = "worker" } (ids made in Lua
#            from a per-worker prefix and a counter instead of $request_id)
#   access   + nginx's own access_log writing the same fields as JSON
#            (log_format escape=json, buffer=64k) to a file, and the empty
#            log_by_lua_block
#   socket   + log_by_lua: lua-resty-logger-socket (../shared/peers, not part of
#            this project) shipping the same record (usage.record() .. "\n") over
#            TCP to a sink that counts lines
#
# CPU comes from /proc/<pid>/task/<tid>/schedstat (nanoseconds on CPU), sampled
# before and after each wrk segment (plus a short settle so the drainer and the
# adaptor finish the segment's backlog). Printed per segment, in microseconds per
# request: nginx worker main threads, zmq_logger drainer threads, libzmq I/O threads
# in the workers, the zmq-adaptor process, and "node" = their sum. Then per round:
#
#   usage/access  (usage - empty) / (access - empty), worker CPU per request
#                 (target <= 2: the record costs at most twice nginx's access_log)
#   node usage vs socket  node CPU per request of usage vs socket (target < 1)
#
# and the records delivered: the subscriber must count every /usage request and the
# sink every /socket request (lost = served - received). Last, the worker CPU of the
# calls alone (thread CPU clock around usage.log(), usage_w's log(), and a first
# read of $request_id, in log_by_lua under wrk), and the cost of a cached variable
# read.
#
# Usage: scripts/bench_nginx.sh        (after make build; about 55 s)
# Environment: BENCH_SECONDS (per segment, default 1), BENCH_ROUNDS (default 4),
#   BENCH_BATCH_US (drainer batch interval, default 10000), BENCH_CONSUMER (single:
#   the subscriber takes the regular stream, one message per record, the default;
#   packed: it takes the packed stream, zmq-adaptor --publish-packed, one message per
#   batch, and nothing subscribes to the regular one), BENCH_CONNECTIONS
#   (default 8), BENCH_THREADS (wrk threads, default 1), NGINX,
#   PYTHON (default /usr/bin/python3), NGINX_LOAD_MODULES (see scripts/demo.sh),
#   BENCH_KEEP=1 keeps the temp dir, BENCH_LUA=1 then runs the LuaJIT micro-benchmark
#   of zmq_logger.log() (scripts/bench_lua.lua) against the same adaptor (about
#   30 s more).
# Every process started here is stopped by pid on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REL="$ROOT/target/release"
SEG=${BENCH_SECONDS:-1}
ROUNDS=${BENCH_ROUNDS:-4}
BATCH_US=${BENCH_BATCH_US:-10000}
CONNS=${BENCH_CONNECTIONS:-8}
THREADS=${BENCH_THREADS:-1}
PYTHON=${PYTHON:-/usr/bin/python3}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
PEER_LIB="$ROOT/../shared/peers/lua-resty-logger-socket/lib"
CASES=(empty usage usage_w access socket)
CONSUMER=${BENCH_CONSUMER:-single}

die() { echo "bench: $*" >&2; exit 1; }

[[ "$SEG" =~ ^[0-9]+$ && "$SEG" -ge 1 && "$SEG" -le 60 ]] || die "BENCH_SECONDS must be 1..60"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 && "$ROUNDS" -le 20 ]] || die "BENCH_ROUNDS must be 1..20"
[[ "$CONSUMER" == single || "$CONSUMER" == packed ]] || die "BENCH_CONSUMER must be single or packed"
[ -x "$REL/zmq-adaptor" ] || die "$REL/zmq-adaptor missing: run make build"
[ -e "$REL/libzmq_adaptor.so" ] || die "$REL/libzmq_adaptor.so missing: run make build"
[ -e "$REL/zmq_logger.so" ] || die "$REL/zmq_logger.so missing: run make build"
[ -x "$NGINX" ] || die "nginx not found (set NGINX)"
[ -e "$PEER_LIB/resty/logger/socket.lua" ] || die "lua-resty-logger-socket not found at $PEER_LIB"
command -v wrk >/dev/null || die "wrk not found"
"$PYTHON" -c 'import zmq' 2>/dev/null || die "$PYTHON cannot import zmq"

TMP=$(mktemp -d /tmp/zmq-bench.XXXXXX)
chmod 0755 "$TMP"
ADAPTOR_PID= NGINX_PID= SUB_PID= SINK_PID= WRK_PID=

SCRIPT_NAME=bench
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

cleanup() {
    stop_pid "$WRK_PID" TERM 5 wrk
    stop_pid "$NGINX_PID" QUIT 20 nginx
    stop_pid "$SUB_PID" TERM 5 subscriber
    stop_pid "$SINK_PID" TERM 5 sink
    stop_pid "$ADAPTOR_PID" TERM 10 zmq-adaptor
    if [ "${BENCH_KEEP:-}" = 1 ]; then echo "bench: files kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(free_port "$PYTHON")
SINK_PORT=$(free_port "$PYTHON")
LISTEN="ipc://$TMP/listen"
PUBLISH="ipc://$TMP/publish"
PACKED="ipc://$TMP/packed"
ADAPTOR_ARGS=() SUB_ENDPOINT=$PUBLISH SUB_ARGS=()
if [ "$CONSUMER" = packed ]; then
    ADAPTOR_ARGS=(--publish-packed "$PACKED") SUB_ENDPOINT=$PACKED SUB_ARGS=(--packed)
fi

NGINX_LOAD_MODULES=$(default_load_modules)
LOAD_LINES=
for m in $NGINX_LOAD_MODULES; do LOAD_LINES+="load_module $m;"$'\n'; done

# The TCP sink for lua-resty-logger-socket: reads and counts newline-terminated
# records, writes the count to its file on SIGTERM.
cat >"$TMP/sink.py" <<'EOF'
import selectors, signal, socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
lines, stop = 0, False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(64)
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ)
open(out + ".ready", "w").close()
while not stop:
    for key, _ in sel.select(0.2):
        if key.fileobj is srv:
            c, _ = srv.accept()
            sel.register(c, selectors.EVENT_READ)
        else:
            data = key.fileobj.recv(1 << 20)
            if data:
                lines += data.count(b"\n")
            else:
                sel.unregister(key.fileobj)
                key.fileobj.close()
with open(out, "w") as f:
    f.write("%d\n" % lines)
EOF

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
    # The fields of the standard usage record (lua/resty/zmq_logger/usage.lua).
    log_format usage_json escape=json '{"time":\$msec,"request_id":"\$request_id",'
        '"api_key":"\$http_x_api_key","service":"\$server_name","route":"\$uri",'
        '"method":"\$request_method","uri":"\$uri","status":\$status,'
        '"request_time":\$request_time,"upstream_time":"\$upstream_response_time",'
        '"bytes_sent":\$bytes_sent,"bytes_received":\$request_length,'
        '"remote_addr":"\$remote_addr","host":"\$host","user_agent":"\$http_user_agent"}';
    client_body_temp_path $TMP/nginx/client_body_temp;
    proxy_temp_path $TMP/nginx/proxy_temp;
    fastcgi_temp_path $TMP/nginx/fastcgi_temp;
    uwsgi_temp_path $TMP/nginx/uwsgi_temp;
    scgi_temp_path $TMP/nginx/scgi_temp;
    lua_package_cpath "$REL/?.so;;";
    lua_package_path "$ROOT/lua/?.lua;$PEER_LIB/?.lua;;";

    init_by_lua_block {
        assert(require("zmq_logger").configure{ endpoint = "$LISTEN", batch_interval_us = $BATCH_US })
        usage = require "resty.zmq_logger.usage"
        -- A second, independent instance of the module for the usage_w case.
        usage_w = dofile(package.searchpath("resty.zmq_logger.usage", package.path))
        assert(usage_w.configure{ request_id = "worker" })
        logger_socket = require "resty.logger.socket"

        -- Thread CPU time around one call, summed per location in a shared dict.
        local ffi = require "ffi"
        ffi.cdef [[
            typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
            int clock_gettime(int clk_id, bench_timespec *tp);
        ]]
        local ts = ffi.new("bench_timespec")
        local function cpu_ns()
            ffi.C.clock_gettime(3, ts) -- CLOCK_THREAD_CPUTIME_ID
            return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
        end
        function timed(name, f)
            local t0 = cpu_ns()
            f()
            local dt = cpu_ns() - t0
            local d = ngx.shared.bench_timed
            d:incr(name .. ".n", 1, 0)
            d:incr(name .. ".ns", dt, 0)
        end
        local function nothing() end
        timed_cases = { nothing = nothing, usage = usage.log, usage_w = usage_w.log,
                        request_id = function() return ngx.var.request_id end }
    }
    lua_shared_dict bench_timed 1m;
    init_worker_by_lua_block {
        assert(logger_socket.init{ host = "127.0.0.1", port = $SINK_PORT })
    }

    server {
        listen 127.0.0.1:$PORT reuseport;
        server_name bench.example;
        location = /probe { return 200 "ok\n"; }
        location = /status { stub_status; }
        location = /empty {
            return 200 "ok\n";
            log_by_lua_block { }
        }
        location = /usage {
            return 200 "ok\n";
            log_by_lua_block { usage.log() }
        }
        location = /usage_w {
            return 200 "ok\n";
            log_by_lua_block { usage_w.log() }
        }
        location = /micro {
            content_by_lua_block {
                local ffi = require "ffi"
                local base = require "resty.core.base"
                local r = base.get_request()
                local vp, vl = ffi.new("unsigned char *[1]"), ffi.new("size_t[1]")
                local ep, nb = ffi.new("char *[1]"), ffi.new("char[64]")
                local C = ffi.C
                local N = 100000
                local function run(name, f)
                    f()
                    local t0 = os.clock()
                    for _ = 1, N do f() end
                    ngx.say(string.format("  %-44s %7.0f ns", name, (os.clock() - t0) / N * 1e9))
                end
                run("ngx.var.request_id", function() return ngx.var.request_id end)
                run("ngx_http_lua_ffi_var_get(request_id)", function()
                    return C.ngx_http_lua_ffi_var_get(r, "request_id", 10, nb, 0, vp, vl, ep)
                end)
                run("ngx.var.uri", function() return ngx.var.uri end)
                run("ngx_http_lua_ffi_var_get(uri)", function()
                    return C.ngx_http_lua_ffi_var_get(r, "uri", 3, nb, 0, vp, vl, ep)
                end)
            }
        }
        location = /access {
            return 200 "ok\n";
            access_log logs/usage.json usage_json buffer=64k;
            log_by_lua_block { }
        }
        location ~ ^/timed/(\w+)$ {
            set \$case \$1;
            return 200 "ok\n";
            log_by_lua_block { local c = ngx.var.case timed(c, timed_cases[c]) }
        }
        location = /timed_report {
            content_by_lua_block {
                local d = ngx.shared.bench_timed
                local function per(c) return d:get(c .. ".ns") / d:get(c .. ".n") end
                local base = per("nothing")
                ngx.say(string.format("  timer alone (empty call)      %7.0f ns", base))
                for _, c in ipairs { "request_id", "usage", "usage_w" } do
                    ngx.say(string.format("  %-30s %7.0f ns  (%d calls)", c, per(c) - base, d:get(c .. ".n")))
                end
            }
        }
        location = /socket {
            return 200 "ok\n";
            log_by_lua_block {
                local ok, err = logger_socket.log(usage.record() .. "\n")
                if not ok then ngx.log(ngx.ERR, "logger-socket: ", err) end
            }
        }
    }
}
EOF

# Nanoseconds on CPU of the tasks of $1 selected by $2:
#   main = the main thread; drainer = comm zmq-adaptor-dra*; zmqbg = other threads; all
cpu_ns() {
    local pid=$1 which=$2 t comm ns sum=0
    for t in /proc/"$pid"/task/*; do
        local tid=${t##*/}
        case $which in
            main) [ "$tid" = "$pid" ] || continue ;;
            drainer|zmqbg)
                comm=$(cat "$t/comm" 2>/dev/null) || continue
                if [[ "$comm" == zmq-adaptor-dra* ]]; then
                    [ "$which" = drainer ] || continue
                else
                    [ "$which" = zmqbg ] && [ "$tid" != "$pid" ] || continue
                fi ;;
        esac
        read -r ns _ <"$t/schedstat" 2>/dev/null || continue
        sum=$((sum + ns))
    done
    echo "$sum"
}

WORKERS=()
sample() { # -> "main drainer zmqbg adaptor" nanoseconds
    local main=0 dr=0 bg=0 w
    for w in "${WORKERS[@]}"; do
        main=$((main + $(cpu_ns "$w" main)))
        dr=$((dr + $(cpu_ns "$w" drainer)))
        bg=$((bg + $(cpu_ns "$w" zmqbg)))
    done
    echo "$main $dr $bg $(cpu_ns "$ADAPTOR_PID" all)"
}

wait_file() { # path pid name
    local i
    for ((i = 0; i < 300; i++)); do
        [ -e "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited"
        sleep 0.05
    done
    die "$3 not ready"
}

echo "starting zmq-adaptor, subscriber, sink, nginx" >&2
"$REL/zmq-adaptor" -b "$LISTEN" -p "$PUBLISH" "${ADAPTOR_ARGS[@]}" --ipc-mode 0666 \
    --stats-interval 0 >"$TMP/adaptor.log" 2>&1 &
ADAPTOR_PID=$!
for ((i = 0; i < 200; i++)); do
    [ -S "$TMP/listen" ] && [ -S "$TMP/publish" ] && break
    kill -0 "$ADAPTOR_PID" 2>/dev/null || { cat "$TMP/adaptor.log" >&2; die "zmq-adaptor exited"; }
    sleep 0.05
done
[ -S "$TMP/listen" ] || die "zmq-adaptor did not bind within 10 s"

"$PYTHON" "$ROOT/scripts/sub.py" "$SUB_ENDPOINT" "${SUB_ARGS[@]}" --probe "$LISTEN" \
    --ready "$TMP/sub.ready" --count-only --timeout 600 --out "$TMP/sub.count" 2>>"$TMP/sub.err" &
SUB_PID=$!
wait_file "$TMP/sub.ready" "$SUB_PID" subscriber
"$PYTHON" "$TMP/sink.py" "$SINK_PORT" "$TMP/sink.count" 2>>"$TMP/sink.err" &
SINK_PID=$!
wait_file "$TMP/sink.count.ready" "$SINK_PID" sink

"$NGINX" -p "$TMP/nginx/" -c conf/nginx.conf -e logs/error.log &
NGINX_PID=$!
for ((i = 0; i < 200; i++)); do
    mapfile -t WORKERS < <(pgrep -P "$NGINX_PID" || true)
    [ "${#WORKERS[@]}" -ge 2 ] && curl -s -o /dev/null "http://127.0.0.1:$PORT/probe" 2>/dev/null && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/logs/error.log" >&2; die "nginx exited"; }
    sleep 0.05
done
[ "${#WORKERS[@]}" -eq 2 ] || die "expected 2 nginx workers, found ${#WORKERS[@]}"
# Requests handled so far (nginx's counter, this request included).
requests() {
    curl -s "http://127.0.0.1:$PORT/status" | awk 'NR == 3 {print $3}'
}

# Variable reads inside a request, before any load (see the note printed below).
curl -s "http://127.0.0.1:$PORT/micro" >"$TMP/micro.out" || true

declare -A SERVED
# Warm up every location (JIT traces, connections to the adaptor and the sink).
for case in "${CASES[@]}"; do
    q0=$(requests)
    wrk -t1 -c2 -d1s "http://127.0.0.1:$PORT/$case" >"$TMP/wrk.out" 2>&1 || die "warm-up wrk failed"
    sleep 0.2
    SERVED[$case]=$(($(requests) - q0 - 1))
done
sleep 1

RESULTS=()
for ((round = 1; round <= ROUNDS; round++)); do
    for case in "${CASES[@]}"; do
        echo "round $round/$ROUNDS: $case ${SEG}s" >&2
        q0=$(requests)
        read -r m0 d0 b0 a0 <<<"$(sample)"
        wrk -t"$THREADS" -c"$CONNS" -d"${SEG}s" "http://127.0.0.1:$PORT/$case" \
            >"$TMP/wrk.out" 2>&1 &
        WRK_PID=$!
        wait "$WRK_PID" || die "wrk failed: $(cat "$TMP/wrk.out")"
        WRK_PID=
        sleep 0.3 # the drainers (10 ms) and the adaptor finish the segment's backlog
        read -r m1 d1 b1 a1 <<<"$(sample)"
        n=$(($(requests) - q0 - 1))
        non2xx=$(awk '/Non-2xx/{print $NF}' "$TMP/wrk.out")
        [ -z "$non2xx" ] || die "$case: $non2xx non-2xx responses"
        SERVED[$case]=$((SERVED[$case] + n))
        rps=$(awk '/^Requests\/sec:/{print $2}' "$TMP/wrk.out")
        RESULTS+=("$round $case $n $rps $((m1 - m0)) $((d1 - d0)) $((b1 - b0)) $((a1 - a0))")
    done
done

# In-worker CPU of the calls alone, 1 s of load each (not part of the rounds above).
for c in nothing request_id usage usage_w; do
    q0=$(requests)
    wrk -t"$THREADS" -c"$CONNS" -d1s "http://127.0.0.1:$PORT/timed/$c" >/dev/null 2>&1 \
        || die "wrk /timed/$c failed"
    sleep 0.2
    n=$(($(requests) - q0 - 1))
    case $c in usage|usage_w) SERVED[$c]=$((SERVED[$c] + n)) ;; esac
done
curl -s "http://127.0.0.1:$PORT/timed_report" >"$TMP/timed.out" || true
stop_pid "$NGINX_PID" QUIT 30 nginx
NGINX_PID=
sleep 1
stop_pid "$SUB_PID" TERM 10 subscriber
SUB_PID=
stop_pid "$SINK_PID" TERM 10 sink
SINK_PID=
received_usage=$(cat "$TMP/sub.count" 2>/dev/null || echo 0)
received_socket=$(cat "$TMP/sink.count" 2>/dev/null || echo 0)
access_lines=$(wc -l <"$TMP/nginx/logs/usage.json")
errors=$(grep -c '\[error\]\|\[alert\]\|\[crit\]' "$TMP/nginx/logs/error.log" || true)

echo
echo "nginx 2 workers, wrk -t$THREADS -c$CONNS, ${SEG}s per segment, $ROUNDS rounds interleaved;"
echo "consumer of the usage records: $CONSUMER ($([ "$CONSUMER" = packed ] && echo "packed stream, a message per batch" || echo "regular stream, a message per record"))"
echo "CPU in microseconds per request (schedstat)"
printf '%-5s %-7s %8s %8s %8s %8s %8s %8s %8s\n' round case requests req/s worker drainer zmq-bg adaptor node
for r in "${RESULTS[@]}"; do
    # shellcheck disable=SC2086
    set -- $r
    awk -v rd="$1" -v c="$2" -v n="$3" -v rps="$4" -v m="$5" -v d="$6" -v b="$7" -v a="$8" 'BEGIN {
        k = 1e-3 / (n > 0 ? n : 1)
        printf "%-5s %-7s %8d %8.0f %8.2f %8.2f %8.2f %8.2f %8.2f\n", rd, c, n, rps, m * k, d * k,
            b * k, a * k, (m + d + b + a) * k
    }'
done
echo
echo "per round: worker CPU over 'empty' (usage, access), usage/access (target <= 2);"
echo "node CPU per request usage vs socket (target < 1); last line: medians over the rounds"
printf '%-6s %9s %9s %9s %13s %11s %9s %13s\n' round usage usage_w access usage/access "node:usage" socket usage/socket
printf '%s\n' "${RESULTS[@]}" | awk '
    function median(a, n,    i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { w[$1, $2] = $5 / $3 / 1e3; node[$1, $2] = ($5 + $6 + $7 + $8) / $3 / 1e3; if ($1 > R) R = $1 }
    END {
        for (r = 1; r <= R; r++) {
            u = w[r, "usage"] - w[r, "empty"]; a = w[r, "access"] - w[r, "empty"]
            uw = w[r, "usage_w"] - w[r, "empty"]
            U[r] = u; A[r] = a; UW[r] = uw; Q[r] = (a > 0 ? u / a : 1e9)
            NU[r] = node[r, "usage"]; NS[r] = node[r, "socket"]; NQ[r] = NU[r] / NS[r]
            printf "%-6s %9.2f %9.2f %9.2f %13s %11.2f %9.2f %13.2f\n", r, u, uw, a,
                (a > 0 ? sprintf("%.2f", u / a) : "n/a"), NU[r], NS[r], NQ[r]
        }
        printf "%-6s %9.2f %9.2f %9.2f %13.2f %11.2f %9.2f %13.2f\n", "median", median(U, R),
            median(UW, R), median(A, R), median(Q, R), median(NU, R), median(NS, R), median(NQ, R)
    }'
echo
echo "Worker CPU of one call in log_by_lua under wrk load (thread CPU clock around the"
echo "call, minus the clock itself; 'request_id' = ngx.var.request_id alone, its first"
echo "read in the request):"
cat "$TMP/timed.out"
echo
echo "ns per variable read inside a request (content_by_lua loop of 100,000 reads). Here"
echo "\$request_id is in a log_format, so nginx caches it per request: only the first read"
echo "draws its 16 random bytes (the usage - usage_w difference above); without such a"
echo "use every read draws them again:"
cat "$TMP/micro.out"
echo
echo "records (warm-up included): /usage + /usage_w served $((SERVED[usage] + SERVED[usage_w]))," \
    "subscriber received $received_usage, lost $((SERVED[usage] + SERVED[usage_w] - received_usage)); /socket served ${SERVED[socket]}," \
    "sink received $received_socket, lost $((SERVED[socket] - received_socket));" \
    "/access served ${SERVED[access]}, log lines $access_lines; nginx errors $errors"

if [ "${BENCH_LUA:-}" = 1 ]; then
    echo
    echo "LuaJIT micro-benchmark (scripts/bench_lua.lua, records delivered to the adaptor):"
    # The adaptor forwards only while a consumer is subscribed: keep one attached.
    rm -f "$TMP/sub.ready"
    "$PYTHON" "$ROOT/scripts/sub.py" "$SUB_ENDPOINT" "${SUB_ARGS[@]}" --probe "$LISTEN" \
        --ready "$TMP/sub.ready" --count-only --timeout 300 --out "$TMP/sub.count" 2>>"$TMP/sub.err" &
    SUB_PID=$!
    wait_file "$TMP/sub.ready" "$SUB_PID" subscriber
    timeout 300 luajit "$ROOT/scripts/bench_lua.lua" "$LISTEN"
fi
