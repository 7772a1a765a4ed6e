#!/usr/bin/env bash
# Installs the already-built, stripped artifacts of `make build` (target/dist) into
# $DESTDIR$PREFIX. Builds nothing, installs no package, touches no running service:
# safe under sudo (no cargo needed). Used by `make install` and `make deb`.
#
# Layout variables (environment), with their defaults:
#   PREFIX=/usr/local  BINDIR=$PREFIX/bin  LIBDIR=$PREFIX/lib  INCLUDEDIR=$PREFIX/include
#   LUA_CMOD_DIR=$LIBDIR/lua/5.1  LUA_LMOD_DIR=$PREFIX/share/lua/5.1
#   SYSTEMD_UNIT_DIR=$PREFIX/lib/systemd/system  SYSCONFDIR=$PREFIX/etc
#   DOCDIR=$PREFIX/share/doc/zmq-adaptor  NGINX_MODULE_DIR=$PREFIX/lib/nginx/modules
#   MANDIR=$PREFIX/share/man
#   DESTDIR=
#   CONFIG=keep   keep: install zmq-adaptor.toml only when absent (never clobber an
#                 operator's file); always: install it (packaging, conffile).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "install: $*" >&2; exit 1; }

PREFIX=${PREFIX:-/usr/local}
BINDIR=${BINDIR:-$PREFIX/bin}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
LUA_CMOD_DIR=${LUA_CMOD_DIR:-$LIBDIR/lua/5.1}
LUA_LMOD_DIR=${LUA_LMOD_DIR:-$PREFIX/share/lua/5.1}
SYSTEMD_UNIT_DIR=${SYSTEMD_UNIT_DIR:-$PREFIX/lib/systemd/system}
SYSCONFDIR=${SYSCONFDIR:-$PREFIX/etc}
DOCDIR=${DOCDIR:-$PREFIX/share/doc/zmq-adaptor}
MANDIR=${MANDIR:-$PREFIX/share/man}
NGINX_MODULE_DIR=${NGINX_MODULE_DIR:-$PREFIX/lib/nginx/modules}
CONFIG=${CONFIG:-keep}
DESTDIR=${DESTDIR:-}

DIST=target/dist
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
MAJOR=${VERSION%%.*}
[ -n "$VERSION" ] || die "no version in Cargo.toml"

# Every artifact must exist in target/dist and be at least as new as the build.
need() {
  local staged=$DIST/$1 built=$2
  [ -f "$staged" ] || die "$staged is missing: run 'make build' first (as your user, not root)"
  if [ -n "$built" ] && [ "$built" -nt "$staged" ]; then
    die "$staged is older than $built: run 'make build' again"
  fi
}
need "libzmq_adaptor.so.$VERSION" target/release/libzmq_adaptor.so
need zmq_logger.so target/release/libzmq_logger.so
need zmq-adaptor target/release/zmq-adaptor
need zmq-loggen target/release/zmq-loggen

# Libraries, modules and binaries are replaced atomically (new file, then rename,
# scripts/install_atomic.sh): a running nginx or adaptor that has the old file
# mapped keeps its intact inode.
dirs=("$BINDIR" "$LIBDIR" "$LIBDIR/pkgconfig" "$INCLUDEDIR" "$LUA_CMOD_DIR"
      "$LUA_LMOD_DIR/resty/zmq_logger" "$SYSTEMD_UNIT_DIR" "$SYSCONFDIR/zmq-adaptor" "$DOCDIR" "$MANDIR/man1")
for d in "${dirs[@]}"; do install -d -m 0755 "$DESTDIR$d"; done

scripts/install_atomic.sh 0644 "$DIST/libzmq_adaptor.so.$VERSION" "$DESTDIR$LIBDIR/libzmq_adaptor.so.$VERSION"
ln -sfn "libzmq_adaptor.so.$VERSION" "$DESTDIR$LIBDIR/libzmq_adaptor.so.$MAJOR"
ln -sfn "libzmq_adaptor.so.$MAJOR" "$DESTDIR$LIBDIR/libzmq_adaptor.so"
install -m 0644 include/zmq_adaptor.h "$DESTDIR$INCLUDEDIR/"
scripts/install_atomic.sh 0644 "$DIST/zmq_logger.so" "$DESTDIR$LUA_CMOD_DIR/zmq_logger.so"
install -m 0644 lua/resty/zmq_logger/*.lua "$DESTDIR$LUA_LMOD_DIR/resty/zmq_logger/"
for b in zmq-adaptor zmq-loggen; do
  scripts/install_atomic.sh 0755 "$DIST/$b" "$DESTDIR$BINDIR/$b"
done
ln -sfn zmq-adaptor "$DESTDIR$BINDIR/api-gateway-zmq-adaptor"
# Manual pages, made by the binaries themselves from their flags (clap_mangen).
"$DIST/zmq-adaptor" man | gzip -9n >"$DESTDIR$MANDIR/man1/zmq-adaptor.1.gz"
"$DIST/zmq-loggen" --man | gzip -9n >"$DESTDIR$MANDIR/man1/zmq-loggen.1.gz"
chmod 0644 "$DESTDIR$MANDIR/man1/zmq-adaptor.1.gz" "$DESTDIR$MANDIR/man1/zmq-loggen.1.gz"
ln -sfn zmq-adaptor.1.gz "$DESTDIR$MANDIR/man1/api-gateway-zmq-adaptor.1.gz"
# The nginx dynamic module, when it was built (needs nginx-dev).
if [ -e "$DIST/ngx_http_zmq_log_module.so" ]; then
  need ngx_http_zmq_log_module.so target/release/ngx_http_zmq_log_module.so
  install -d -m 0755 "$DESTDIR$NGINX_MODULE_DIR"
  scripts/install_atomic.sh 0644 "$DIST/ngx_http_zmq_log_module.so" "$DESTDIR$NGINX_MODULE_DIR/ngx_http_zmq_log_module.so"
fi

# libdir in the .pc file relative to ${prefix} when below it, so
# `pkg-config --define-variable=prefix=…` relocates the whole file.
case "$LIBDIR" in
  "$PREFIX"/*) pc_libdir="\${prefix}${LIBDIR#"$PREFIX"}" ;;
  *) pc_libdir=$LIBDIR ;;
esac
subst() {
  sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@PC_LIBDIR@|$pc_libdir|g" -e "s|@VERSION@|$VERSION|g" \
      -e "s|@BINDIR@|$BINDIR|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" -e "s|@DOCDIR@|$DOCDIR|g" "$1"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
subst packaging/zmq_adaptor.pc.in >"$tmp/zmq_adaptor.pc"
subst packaging/zmq-adaptor.service.in >"$tmp/zmq-adaptor.service"
install -m 0644 "$tmp/zmq_adaptor.pc" "$DESTDIR$LIBDIR/pkgconfig/"
install -m 0644 "$tmp/zmq-adaptor.service" "$DESTDIR$SYSTEMD_UNIT_DIR/"

install -m 0644 packaging/zmq-adaptor.toml "$DESTDIR$DOCDIR/zmq-adaptor.toml.example"
install -m 0644 README.md LICENSE "$DESTDIR$DOCDIR/"
conf=$DESTDIR$SYSCONFDIR/zmq-adaptor/zmq-adaptor.toml
if [ "$CONFIG" = always ] || [ ! -e "$conf" ]; then
  install -m 0644 packaging/zmq-adaptor.toml "$conf"
else
  echo "install: kept existing $conf (new example: $DOCDIR/zmq-adaptor.toml.example)"
fi

echo "install: installed zmq_adaptor $VERSION under ${DESTDIR}${PREFIX}"
