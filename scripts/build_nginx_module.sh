#!/usr/bin/env bash
# Builds the nginx dynamic module nginx/module (ngx_http_zmq_log_module) against the
# nginx-dev sources of the installed nginx, the way Debian builds its own module
# packages (dh_nginx): nginx's ./configure with the flags the nginx binary was built
# with (/usr/share/nginx/src/conf_flags, dpkg-buildflags) and --add-dynamic-module,
# then "make modules". The same configure flags give the same module signature, so
# the result loads into Debian's nginx (load_module checks version and signature).
#
# Output: target/release/ngx_http_zmq_log_module.so, replaced atomically (written
# next to it, then renamed), so a running nginx that has the old file mapped keeps
# a valid mapping. It links target/release/libzmq_adaptor.so (run cargo build
# first) with rpath $ORIGIN:$ORIGIN/../.., so nginx finds the library next to the
# module (or in PREFIX/lib for a module in PREFIX/lib/nginx/modules).
#
# Without nginx-dev (no /usr/share/nginx/src/configure) it prints why and exits 0
# unless ZMQ_NGINX_MODULE_REQUIRED=1 (then 1).
# Environment: NGINX_SRC (default /usr/share/nginx/src), NGINX (default nginx on
# PATH, then /usr/sbin/nginx) for the load check.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REL="$ROOT/target/release"
SRC=${NGINX_SRC:-/usr/share/nginx/src}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
WORK="$ROOT/target/nginx-module"
OUT="$REL/ngx_http_zmq_log_module.so"

die() { echo "build_nginx_module: $*" >&2; exit 1; }

if [ ! -x "$SRC/configure" ] || [ ! -f "$SRC/conf_flags" ]; then
    msg="nginx-dev is not installed ($SRC/configure missing): ngx_http_zmq_log_module not built"
    [ "${ZMQ_NGINX_MODULE_REQUIRED:-0}" = 1 ] && die "$msg"
    echo "build_nginx_module: $msg (apt-get install nginx-dev)" >&2
    exit 0
fi
[ -e "$REL/libzmq_adaptor.so" ] || die "$REL/libzmq_adaptor.so missing: run cargo build --release first"

if command -v dpkg-buildflags >/dev/null 2>&1; then
    CC_OPT="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS)"
    LD_OPT="$(dpkg-buildflags --get LDFLAGS) -fPIC"
else
    CC_OPT="-g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2"
    LD_OPT="-Wl,-z,relro -Wl,-z,now -fPIC"
fi

# nginx's configure writes into the directory it runs in: work on a private copy of
# the sources, configured once per (sources, flags, module config) and reused.
stamp_of() {
    {
        cat "$SRC/conf_flags" "$ROOT/nginx/module/config"
        grep -h 'NGINX_VERSION' "$SRC/src/core/nginx.h"
        echo "$CC_OPT|$LD_OPT|${ZMQ_ADAPTOR_INC:-}|${ZMQ_ADAPTOR_LIBDIR:-}"
    } | sha256sum | cut -d' ' -f1
}
STAMP=$(stamp_of)
if [ "$(cat "$WORK/stamp" 2>/dev/null || true)" != "$STAMP" ] || [ ! -f "$WORK/objs/Makefile" ]; then
    echo "build_nginx_module: configuring against $SRC" >&2
    rm -rf "$WORK"
    mkdir -p "$WORK"
    cp -a "$SRC" "$WORK/src"
    (
        cd "$WORK/src"
        # shellcheck disable=SC1091
        . ./conf_flags
        ./configure --with-cc-opt="$CC_OPT" --with-ld-opt="$LD_OPT" "${NGX_CONF_FLAGS[@]}" \
            --add-dynamic-module="$ROOT/nginx/module" --builddir="$WORK/objs" \
            >"$WORK/configure.log" 2>&1
    ) || { tail -n 30 "$WORK/configure.log" >&2; die "nginx configure failed (log: $WORK/configure.log)"; }
    echo "$STAMP" >"$WORK/stamp"
fi

# nginx's Makefile does not know that the .so depends on libzmq_adaptor.so.
rm -f "$WORK/objs/ngx_http_zmq_log_module.so"
# The rpath goes on the link command: "$$" is make's "$", the quotes keep it from
# the shell.
make -s -C "$WORK/src" -f "$WORK/objs/Makefile" \
    LINK="\$(CC) '-Wl,-rpath,\$\$ORIGIN:\$\$ORIGIN/../..'" modules >"$WORK/make.log" 2>&1 \
    || { cat "$WORK/make.log" >&2; die "module build failed"; }
grep -i 'warning' "$WORK/make.log" >&2 || true

# Copy next to libzmq_adaptor.so (the rpath finds it there), check that the nginx
# binary loads it (version and signature), then rename over the old file.
tmp="$REL/.ngx_http_zmq_log_module.so.tmp.$$"
trap 'rm -f "$tmp"' EXIT
cp "$WORK/objs/ngx_http_zmq_log_module.so" "$tmp"
if [ -x "$NGINX" ]; then
    conf="$WORK/loadcheck.conf"
    printf 'load_module %s;\nerror_log stderr;\npid %s;\nevents {}\n' \
        "$tmp" "$WORK/loadcheck.pid" >"$conf"
    "$NGINX" -t -q -p "$WORK/" -c "$conf" -e /dev/stderr \
        || die "$NGINX does not load the module built for it (see above)"
fi
mv -f "$tmp" "$OUT"
echo "build_nginx_module: built $OUT" >&2
