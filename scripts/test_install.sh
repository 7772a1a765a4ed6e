#!/usr/bin/env bash
# Packaging checks, run by `make test` after `make build` (no git, no network):
#  1. make install into a DESTDIR: the file list, stripped ELF files, SONAME and
#     symlinks, the .pc file relocated with --define-variable=prefix.
#  2. The README's C program, extracted from README.md, compiled with
#     -Wall -Wextra -Werror through pkg-config against the DESTDIR, run against the
#     installed adaptor; `zmq-adaptor tail` must print its records.
#  3. The installed Lua module loads and finds the installed library.
#  4. The installed unit's ExecStart, run as written (paths inside the DESTDIR) with
#     the installed config, receives records, and stops on SIGTERM with status 0.
#  5. make deb, lintian without errors, and (as root, when no zmq-adaptor package is
#     installed already) dpkg -i, zmq-adaptor --version, the service user, the
#     unit's ExecStart as that user, starting the unit when systemd runs, dpkg -P
#     leaving nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=test_install
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

PY=/usr/bin/python3
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
MAJOR=${VERSION%%.*}
fails=0
ok() { echo "ok - $*"; }
fail() { echo "not ok - $*" >&2; fails=$((fails + 1)); }
skip() { echo "skip - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

tmp=$(mktemp -d /tmp/zmq-adaptor-install.XXXXXX)
chmod 0755 "$tmp"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do stop_pid "$p" KILL 2 "process"; done
  rm -rf "$tmp"
}
trap cleanup EXIT

D=$tmp/root
P=/usr/local

# ---------------------------------------------------------------- 1. make install
make -s install DESTDIR="$D" PREFIX="$P" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; exit 1; }
for f in bin/zmq-adaptor bin/zmq-loggen bin/api-gateway-zmq-adaptor \
  lib/libzmq_adaptor.so.$VERSION lib/libzmq_adaptor.so.$MAJOR lib/libzmq_adaptor.so \
  include/zmq_adaptor.h lib/pkgconfig/zmq_adaptor.pc lib/lua/5.1/zmq_logger.so \
  share/lua/5.1/resty/zmq_logger/usage.lua lib/systemd/system/zmq-adaptor.service \
  etc/zmq-adaptor/zmq-adaptor.toml share/doc/zmq-adaptor/zmq-adaptor.toml.example \
  share/doc/zmq-adaptor/LICENSE share/man/man1/zmq-adaptor.1.gz \
  share/man/man1/zmq-loggen.1.gz share/man/man1/api-gateway-zmq-adaptor.1.gz; do
  [ -e "$D$P/$f" ] || fail "installed: $f missing"
done
# The manual pages (roff, made from the flags by clap_mangen) document the flags.
for page in 'zmq-adaptor:publish\-packed' 'zmq-loggen:flush\-ms'; do
  zcat "$D$P/share/man/man1/${page%%:*}.1.gz" | grep -qF -- "${page#*:}" \
    || fail "man ${page%%:*}: ${page#*:} not documented"
done
if [ -e target/dist/ngx_http_zmq_log_module.so ]; then
  m=$D$P/lib/nginx/modules/ngx_http_zmq_log_module.so
  [ -e "$m" ] || fail "installed: lib/nginx/modules/ngx_http_zmq_log_module.so missing"
  # It finds the installed library through its $ORIGIN/../.. runpath.
  if LD_LIBRARY_PATH= ldd "$m" | grep -q "libzmq_adaptor.so.$MAJOR => $D$P/lib/nginx/modules/../../libzmq_adaptor"; then :; else
    fail "nginx module does not resolve the installed libzmq_adaptor.so.$MAJOR: $(ldd "$m" | grep zmq_adaptor)"
  fi
fi
ok "make install DESTDIR: every file in place"
soname=$(readelf -d "$D$P/lib/libzmq_adaptor.so.$VERSION" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
check "SONAME is libzmq_adaptor.so.$MAJOR (readelf: '$soname')" [ "$soname" = "libzmq_adaptor.so.$MAJOR" ]
check "libzmq_adaptor.so -> .so.$MAJOR -> .so.$VERSION" \
  test "$(readlink "$D$P/lib/libzmq_adaptor.so")" = "libzmq_adaptor.so.$MAJOR" \
  -a "$(readlink "$D$P/lib/libzmq_adaptor.so.$MAJOR")" = "libzmq_adaptor.so.$VERSION"
for f in bin/zmq-adaptor bin/zmq-loggen lib/libzmq_adaptor.so.$VERSION lib/lua/5.1/zmq_logger.so; do
  if readelf -S "$D$P/$f" | grep -q -e '\.symtab' -e '\.debug_info'; then fail "$f is not stripped"; fi
done
ok "installed ELF files are stripped ($(du -k "$D$P/bin/zmq-adaptor" | cut -f1) KiB zmq-adaptor)"
# A second install keeps an edited config.
echo "# edited" >>"$D$P/etc/zmq-adaptor/zmq-adaptor.toml"
make -s install DESTDIR="$D" PREFIX="$P" >/dev/null 2>&1
check "reinstall keeps an edited config" grep -q '^# edited' "$D$P/etc/zmq-adaptor/zmq-adaptor.toml"
# Without staged artifacts, install refuses (never builds).
if (cd "$tmp" && mkdir -p empty/scripts empty/target && cp "$OLDPWD/scripts/install.sh" empty/scripts/ &&
    cp "$OLDPWD/Cargo.toml" empty/ && cd empty && DESTDIR=$tmp/x scripts/install.sh) >"$tmp/noinst.log" 2>&1; then
  fail "install without a build must fail"
else
  check "install without a build fails clearly" grep -q "run 'make build' first" "$tmp/noinst.log"
fi

export PKG_CONFIG_PATH=$D$P/lib/pkgconfig
pc() { pkg-config --define-variable=prefix="$D$P" "$@" zmq_adaptor; }
check "pkg-config --modversion = $VERSION" [ "$(pc --modversion)" = "$VERSION" ]
check "pkg-config --cflags/--libs point into the DESTDIR" \
  [ "$(pc --cflags --libs | xargs)" = "-I$D$P/include -L$D$P/lib -lzmq_adaptor" ]

# ------------------------------------------------------ 2. README C program
awk '/^```c$/{n++; on=1; next} /^```$/{on=0} on{print > (dir "/readme_" n ".c")}' dir="$tmp" README.md
nblocks=$(find "$tmp" -maxdepth 1 -name 'readme_*.c' | wc -l)
check "README.md has exactly one C block ($nblocks)" [ "$nblocks" -eq 1 ]
# shellcheck disable=SC2046
if cc -std=c11 -Wall -Wextra -Werror -o "$tmp/readme_c" "$tmp/readme_1.c" $(pc --cflags --libs) 2>"$tmp/cc.log"; then
  ok "README C program compiles with -Wall -Wextra -Werror via pkg-config"
else
  cat "$tmp/cc.log" >&2
  fail "README C program compiles"
fi
needed=$(readelf -d "$tmp/readme_c" | grep -c "Shared library: \[libzmq_adaptor.so.$MAJOR\]" || true)
check "the program needs libzmq_adaptor.so.$MAJOR" [ "$needed" -eq 1 ]

cat >"$tmp/version.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <zmq_adaptor.h>
int main(void)
{
    printf("%d.%d.%d %s %s\n", ZMQ_ADAPTOR_VERSION_MAJOR, ZMQ_ADAPTOR_VERSION_MINOR,
           ZMQ_ADAPTOR_VERSION_PATCH, ZMQ_ADAPTOR_VERSION_STRING, zmq_adaptor_version());
    return strcmp(zmq_adaptor_version(), ZMQ_ADAPTOR_VERSION_STRING) != 0;
}
C
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/version" "$tmp/version.c" $(pc --cflags --libs) || fail "version.c compiles"
vout=$(LD_LIBRARY_PATH=$D$P/lib "$tmp/version" || true)
check "header macros and zmq_adaptor_version(): $vout" [ "$vout" = "$VERSION $VERSION $VERSION" ]

# wait_file PATH: waits up to 10 s for PATH to exist.
wait_file() { local i; for ((i = 0; i < 200; i++)); do [ -e "$1" ] && return 0; sleep 0.05; done; return 1; }
# wait_exit PID SECONDS: waits for PID to exit; returns its status (124: still running).
wait_exit() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    if ! kill -0 "$1" 2>/dev/null; then wait "$1"; return $?; fi
    sleep 0.05
  done
  return 124
}

BIN=$D$P/bin/zmq-adaptor
port=$(free_port "$PY")
listen=ipc://$tmp/listen
"$BIN" -b "$listen" -p "tcp://127.0.0.1:$port" --stats-interval 0 >"$tmp/adaptor.out" 2>&1 &
apid=$!; pids+=("$apid")
wait_file "$tmp/listen" || fail "installed adaptor did not bind $listen"
"$BIN" tail "tcp://127.0.0.1:$port" --json --count 2 >"$tmp/tail.out" 2>"$tmp/tail.err" &
tpid=$!; pids+=("$tpid")
if LD_LIBRARY_PATH=$D$P/lib "$tmp/readme_c" "$listen" >"$tmp/readme.out" 2>&1; then
  ok "README C program runs: $(head -n1 "$tmp/readme.out")"
else
  cat "$tmp/readme.out" >&2
  fail "README C program runs"
fi
st=0; wait_exit "$tpid" 10 || st=$?
check "tail got both records of the README program (status $st)" [ "$st" -eq 0 ]
check "  the single-frame record" grep -qF '"topic":null' "$tmp/tail.out"
check "  the [billing, record] message" grep -qF '"topic":"billing"' "$tmp/tail.out"
check "the program reports the library version $VERSION" grep -qF "zmq_adaptor $VERSION" "$tmp/readme.out"
stop_pid "$apid" TERM 5 adaptor

# ----------------------------------------------------------- 3. Lua module
if command -v luajit >/dev/null; then
  lua_out=$(luajit -e "package.cpath='$D$P/lib/lua/5.1/?.so;'..package.cpath
    package.path='$D$P/share/lua/5.1/?.lua;'..package.path
    local z = assert(require('zmq_logger'))
    assert(package.searchpath('resty.zmq_logger.usage', package.path))
    print(z._VERSION, z._LIBRARY)" 2>&1) || true
  lua_lib=$(realpath -q "${lua_out#*	}" || true)
  check "installed zmq_logger.so loads the installed library ($lua_out)" \
    [ "${lua_out%%	*}	$lua_lib" = "$VERSION	$(realpath "$D$P/lib/libzmq_adaptor.so.$VERSION")" ]
else
  skip "Lua module: luajit not installed"
fi

# --------------------------------------- 3b. the README's nginx snippet, as written
# Real nginx (Debian's, modules from /usr/share/nginx/modules) with the installed
# files: only paths are pointed into the DESTDIR/temp dir and a pid/log/temp prelude
# added; a request must arrive at `zmq-adaptor tail` as a usage record.
if command -v nginx >/dev/null && command -v curl >/dev/null && [ -e /usr/share/nginx/modules/ngx_http_lua_module.so ]; then
  awk '/^```nginx$/{n++; on=1; next} /^```$/{on=0} on && n==1{print}' README.md >"$tmp/readme.nginx"
  N=$tmp/nginx; mkdir -p "$N/logs"; ln -s /usr/share/nginx/modules "$N/modules"
  hport=$(free_port "$PY"); zport=$(free_port "$PY")
  {
    grep '^load_module' "$tmp/readme.nginx"
    echo "daemon off; worker_processes 1; pid $N/nginx.pid; error_log $N/logs/error.log;"
    echo "events { worker_connections 64; }"
    grep -v '^load_module' "$tmp/readme.nginx" | sed \
      -e "s|\"/usr/local/|\"$D/usr/local/|g" \
      -e "s|ipc:///run/zmq-adaptor/listen|ipc://$tmp/nlisten|" \
      -e "s|listen 8080;|listen 127.0.0.1:$hport;|" \
      -e "s|^http {|http { access_log off; client_body_temp_path $N/cb; proxy_temp_path $N/p; fastcgi_temp_path $N/f; uwsgi_temp_path $N/u; scgi_temp_path $N/s;|"
  } >"$N/nginx.conf"
  "$BIN" -b "ipc://$tmp/nlisten" -p "tcp://127.0.0.1:$zport" --ipc-mode 0666 --stats-interval 0 >/dev/null 2>&1 &
  napid=$!; pids+=("$napid")
  wait_file "$tmp/nlisten" || fail "adaptor for the nginx check did not start"
  "$BIN" tail "tcp://127.0.0.1:$zport" --count 1 >"$tmp/ntail.out" 2>&1 &
  ntp=$!; pids+=("$ntp")
  nginx -p "$N" -c "$N/nginx.conf" >"$N/logs/stdout" 2>&1 &
  ngpid=$!; pids+=("$ngpid")
  body=""
  for ((i = 0; i < 100; i++)); do
    body=$(curl -s "http://127.0.0.1:$hport/readme-check?x=1" 2>/dev/null) && [ -n "$body" ] && break
    sleep 0.1
  done
  st=0; wait_exit "$ntp" 10 || st=$?
  if [ "$body" = ok ] && [ "$st" -eq 0 ] && grep -q 'readme-check' "$tmp/ntail.out"; then
    ok "README nginx snippet: request -> zmq_logger -> adaptor -> tail: $(cut -c1-100 "$tmp/ntail.out")"
  else
    cat "$N/nginx.conf" "$N/logs/error.log" "$N/logs/stdout" "$tmp/ntail.out" >&2 2>/dev/null || true
    fail "README nginx snippet delivers a record (body '$body', tail status $st)"
  fi
  stop_pid "$ngpid" QUIT 10 nginx
  stop_pid "$napid" TERM 5 adaptor
else
  skip "README nginx snippet: needs nginx-core, libnginx-mod-http-lua and curl (scripts/deps.sh test)"
fi

# --------------------------------------------------------- 4. the unit's ExecStart
# exercise_unit UNIT ROOT AS_USER: runs the unit's ExecStart (absolute paths taken
# under ROOT) as systemd would: as the unit's user, with a runtime directory made
# like RuntimeDirectory= (a temp dir standing in for /run/zmq-adaptor: the config
# file ExecStart names is used through a copy with that one path changed). The
# publish port is overridden on the command line (a free one), and the ipc group
# too when no service group exists. Checks a pub -> adaptor -> tail round trip and
# that SIGTERM stops it with status 0.
exercise_unit() {
  local unit=$1 root=$2 user=$3 rundir=$tmp/run-$RANDOM port exec_start
  for want in NoNewPrivileges=yes ProtectSystem=strict RuntimeDirectory=zmq-adaptor \
    Restart=on-failure KillSignal=SIGTERM; do
    grep -qx "$want" "$unit" || fail "$unit lacks $want"
  done
  exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
  read -r -a cmd <<<"$exec_start"
  local i conf=""
  for i in "${!cmd[@]}"; do
    [[ ${cmd[$i]} == /* ]] && cmd[$i]=$root${cmd[$i]}
    if [ "$i" -gt 0 ] && [ "${cmd[$((i - 1))]}" = --config ]; then
      conf=$rundir.toml
      sed "s|/run/zmq-adaptor/|$rundir/|g" "${cmd[$i]}" >"$conf"
      cmd[$i]=$conf
    fi
  done
  [ -n "$conf" ] || fail "$unit: ExecStart has no --config FILE"
  mkdir -p "$rundir"
  local group prefix=() extra=()
  group=$(id -gn)
  if [ -n "$user" ]; then
    chown "$user:$user" "$rundir"; group=$user
    chmod 0644 "$conf"
    # As systemd would: the process itself runs as the user (signals reach it).
    prefix=(setpriv "--reuid=$user" "--regid=$user" --init-groups --)
  else
    extra=(--ipc-group "$group")
  fi
  chmod 0750 "$rundir"
  port=$(free_port "$PY")
  "${prefix[@]}" "${cmd[@]}" -p "tcp://127.0.0.1:$port" "${extra[@]}" --stats-interval 0.2 \
    >"$tmp/unit.out" 2>"$tmp/unit.err" &
  local upid=$!; pids+=("$upid")
  if ! wait_file "$rundir/listen"; then
    cat "$tmp/unit.out" "$tmp/unit.err" >&2
    fail "unit ExecStart ($exec_start) did not start"
    return
  fi
  ok "unit ExecStart runs: $exec_start${user:+ (as $user)}"
  local mode
  mode=$(stat -c '%a %G' "$rundir/listen")
  check "  socket file mode/group from the config: $mode" [ "$mode" = "660 $group" ]
  "$BIN" tail "tcp://127.0.0.1:$port" --count 3 >"$tmp/utail.out" 2>&1 &
  local tp=$!; pids+=("$tp")
  printf 'one\ntwo\nthree\n' | "$BIN" pub "ipc://$rundir/listen" 2>"$tmp/upub.err" || fail "pub: $(cat "$tmp/upub.err")"
  local st=0; wait_exit "$tp" 10 || st=$?
  check "  pub -> unit's adaptor -> tail: $(tr '\n' ' ' <"$tmp/utail.out")" \
    test "$st" -eq 0 -a "$(cat "$tmp/utail.out")" = $'one\ntwo\nthree'
  kill -TERM "$upid"
  st=0; wait_exit "$upid" 15 || st=$?
  check "  SIGTERM stops it within TimeoutStopSec with status 0 (got $st)" [ "$st" -eq 0 ]
  check "  stats lines went to stderr" grep -q " stats: " "$tmp/unit.err"
}
exercise_unit "$D$P/lib/systemd/system/zmq-adaptor.service" "$D" ""
if command -v systemd-analyze >/dev/null; then
  # Offline check of the unit's syntax (unknown directives, bad values).
  sed "s|ExecStart=/|ExecStart=$D/|; s|^User=.*|User=root|; s|^Group=.*|Group=root|" \
    "$D$P/lib/systemd/system/zmq-adaptor.service" >"$tmp/zmq-adaptor.service"
  if systemd-analyze verify "$tmp/zmq-adaptor.service" >"$tmp/verify.log" 2>&1; then
    ok "systemd-analyze verify"
  elif grep -q -i -e "unknown key" -e "invalid" -e "failed to parse" "$tmp/verify.log"; then
    cat "$tmp/verify.log" >&2; fail "systemd-analyze verify"
  else
    skip "systemd-analyze verify cannot run here: $(head -n1 "$tmp/verify.log")"
  fi
fi

# ------------------------------------------------------------------- 5. make deb
deb=$(make -s deb 2>"$tmp/deb.err" | tail -n1) || { cat "$tmp/deb.err" >&2; exit 1; }
check "make deb: $deb" [ -f "$deb" ]
if command -v lintian >/dev/null; then
  lintian --no-tag-display-limit "$deb" >"$tmp/lintian.out" 2>&1 || true
  if grep -q '^E:' "$tmp/lintian.out"; then
    grep '^E:' "$tmp/lintian.out" >&2
    fail "lintian errors"
  elif grep -q 'no-manual-page' "$tmp/lintian.out"; then
    grep 'no-manual-page' "$tmp/lintian.out" >&2
    fail "lintian: a program without a manual page"
  else
    ok "lintian: no errors ($(grep -c '^W:' "$tmp/lintian.out" || true) warnings)"
  fi
else
  skip "lintian not installed (scripts/deps.sh test installs it)"
fi

if [ "$(id -u)" -ne 0 ]; then
  skip "dpkg -i: needs root"
elif dpkg-query -W -f='${Status}' zmq-adaptor 2>/dev/null | grep -q installed; then
  skip "dpkg -i: a zmq-adaptor package is already installed here; not touching it"
elif ! command -v dpkg >/dev/null; then
  skip "dpkg -i: not a Debian system"
else
  dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -i"; }
  mapfile -t owned < <(dpkg -L zmq-adaptor | grep -v '^/\.$')
  v=$(/usr/bin/zmq-adaptor --version 2>&1 || true)
  check "dpkg -i; zmq-adaptor --version: $v" [ "$v" = "zmq-adaptor $VERSION" ]
  check "service user and group zmq-adaptor exist" getent passwd zmq-adaptor >/dev/null
  multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
  check "ldconfig knows libzmq_adaptor.so.$MAJOR" bash -c "ldconfig -p | grep -q 'libzmq_adaptor.so.$MAJOR .*lib/$multiarch/libzmq_adaptor.so.$MAJOR$'"
  exercise_unit /lib/systemd/system/zmq-adaptor.service "" zmq-adaptor
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if systemctl restart zmq-adaptor.service && sleep 1 && systemctl is-active --quiet zmq-adaptor.service; then
      ok "systemctl start zmq-adaptor: active"
      check "  /run/zmq-adaptor/listen exists" test -S /run/zmq-adaptor/listen
      systemctl stop zmq-adaptor.service
      check "  systemctl stop: inactive" bash -c "! systemctl is-active --quiet zmq-adaptor.service"
    else
      journalctl -u zmq-adaptor.service -n 20 --no-pager >&2 || true
      fail "systemctl start zmq-adaptor"
    fi
  else
    skip "starting the unit: systemd is not running here (PID 1 is $(ps -o comm= -p 1))"
  fi
  dpkg -P zmq-adaptor >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -P"; }
  left=()
  for f in "${owned[@]}"; do
    # Shared directories (and usrmerge's /lib symlink) stay; files and links go.
    if [ ! -d "$f" ] && { [ -L "$f" ] || [ -e "$f" ]; }; then left+=("$f"); fi
  done
  for f in /etc/zmq-adaptor /usr/share/doc/zmq-adaptor /etc/systemd/system/multi-user.target.wants/zmq-adaptor.service \
    /etc/systemd/system/zmq-adaptor.service /var/lib/systemd/deb-systemd-helper-enabled/zmq-adaptor.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-masked/zmq-adaptor.service; do
    if [ -e "$f" ] || [ -L "$f" ]; then left+=("$f"); fi
  done
  getent passwd zmq-adaptor >/dev/null && left+=("user zmq-adaptor")
  getent group zmq-adaptor >/dev/null && left+=("group zmq-adaptor")
  check "dpkg -P leaves nothing (${#owned[@]} paths checked)${left[*]:+: ${left[*]}}" [ "${#left[@]}" -eq 0 ]
fi

if ((fails)); then
  echo "test_install: $fails check(s) failed" >&2
  exit 1
fi
echo "test_install: all checks passed"
