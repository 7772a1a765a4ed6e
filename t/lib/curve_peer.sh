#!/bin/sh
# A CURVE peer for nginx tests: a zmq-adaptor listening on tcp with CURVE and a
# `zmq-adaptor tail` consumer, with keys made by `zmq-adaptor keygen`.
#
#   curve_peer.sh keys ADAPTOR_BIN DIR
#       keys in DIR (adaptor.key[_secret], gw.key[_secret], consumer.key[_secret];
#       DIR/clients holds the gateway's and the consumer's public certificates)
#   curve_peer.sh start ADAPTOR_BIN DIR LISTEN_PORT PUBLISH_PORT COUNT
#       the keys, then the adaptor and a tail that exits after COUNT records (both
#       bounded by `timeout 120`; pids in DIR/*.pid)
#   curve_peer.sh wait DIR COUNT
#       until DIR/tail.out has COUNT lines (at most 20 s); prints them
#   curve_peer.sh stop DIR
#       stops the adaptor and the tail by their pids and waits (at most 10 s) until
#       they are gone
set -eu

keys() {
    rm -rf "$2"
    mkdir -p "$2/clients"
    for name in adaptor gw consumer; do "$1" keygen "$2/$name" >/dev/null; done
    cp "$2/gw.key" "$2/consumer.key" "$2/clients/"
}

cmd=$1; shift
case $cmd in
keys)
    keys "$1" "$2"
    ;;
start)
    bin=$1 dir=$2 listen=$3 publish=$4 count=$5
    keys "$bin" "$dir"
    timeout 120 "$bin" -b "tcp://127.0.0.1:$listen" -p "tcp://127.0.0.1:$publish" \
        --curve-secret "$dir/adaptor.key_secret" --curve-clients "$dir/clients" \
        --stats-interval 0 >"$dir/adaptor.log" 2>&1 &
    echo $! >"$dir/adaptor.pid"
    i=0
    until grep -q forwarding "$dir/adaptor.log" 2>/dev/null; do
        i=$((i + 1))
        [ $i -le 100 ] || { cat "$dir/adaptor.log" >&2; exit 1; }
        sleep 0.05
    done
    timeout 120 "$bin" tail "tcp://127.0.0.1:$publish" --count "$count" \
        --curve-secret "$dir/consumer.key_secret" --curve-server-key "$dir/adaptor.key" \
        >"$dir/tail.out" 2>"$dir/tail.err" &
    echo $! >"$dir/tail.pid"
    ;;
wait)
    dir=$1 count=$2 i=0
    until [ "$(wc -l <"$dir/tail.out")" -ge "$count" ]; do
        i=$((i + 1))
        if [ $i -gt 200 ]; then
            echo "tail has $(wc -l <"$dir/tail.out") of $count records" >&2
            cat "$dir/tail.err" "$dir/adaptor.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    cat "$dir/tail.out"
    ;;
stop)
    dir=$1
    for p in tail adaptor; do
        [ -f "$dir/$p.pid" ] || continue
        pid=$(cat "$dir/$p.pid")
        kill "$pid" 2>/dev/null || continue
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do
            i=$((i + 1))
            sleep 0.05
        done
    done
    ;;
*)
    echo "usage: $0 keys|start|wait|stop ..." >&2
    exit 2
    ;;
esac
