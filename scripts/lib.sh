# Shell helpers shared by scripts/demo.sh and the nginx benchmarks (sourced).
# Set SCRIPT_NAME before sourcing; it prefixes messages.

# stop_pid PID SIGNAL SECONDS NAME: signal a process we started, wait for it, and
# SIGKILL it if it is still running after SECONDS. An empty PID is a no-op.
stop_pid() {
    local pid=$1 sig=$2 secs=$3 name=$4 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.05
    done
    echo "${SCRIPT_NAME:-script}: $name (pid $pid) still running after ${secs}s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# free_port PYTHON: prints a free TCP port on 127.0.0.1.
free_port() {
    "$1" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# default_load_modules: the Debian lua-nginx module paths when NGINX_LOAD_MODULES is
# unset ("" for OpenResty, which has them built in); prints them space-separated.
default_load_modules() {
    if [ -n "${NGINX_LOAD_MODULES+x}" ]; then
        echo "$NGINX_LOAD_MODULES"
        return
    fi
    local m out=
    for m in ndk_http_module ngx_http_lua_module; do
        [ -e "/usr/lib/nginx/modules/$m.so" ] && out+=" /usr/lib/nginx/modules/$m.so"
    done
    echo "$out"
}

# Sum of utime+stime (ticks) of the tasks of $1 selected by $2:
#   main = the main thread; drainer = comm zmq-adaptor-dra*; zmqbg = other threads; all
ticks() {
    local pid=$1 which=$2 t comm stat sum=0 rest
    for t in /proc/"$pid"/task/*; do
        [ -r "$t/stat" ] || continue
        stat=$(cat "$t/stat" 2>/dev/null) || continue
        comm=${stat#*(}; comm=${comm%)*}
        rest=${stat##*) }
        local tid=${t##*/}
        case $which in
            main) [ "$tid" = "$pid" ] || continue ;;
            drainer) [[ "$comm" == zmq-adaptor-dra* ]] || continue ;;
            zmqbg) [ "$tid" != "$pid" ] && [[ "$comm" != zmq-adaptor-dra* ]] || continue ;;
            all) ;;
        esac
        # shellcheck disable=SC2086
        set -- $rest
        sum=$((sum + ${12} + ${13}))
    done
    echo "$sum"
}

workers_of() { # master pid -> worker pids
    local p
    for p in /proc/[0-9]*; do
        [ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
    done
}
