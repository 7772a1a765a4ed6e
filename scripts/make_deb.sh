#!/usr/bin/env bash
# Builds target/deb/zmq-adaptor_<version>-1_<arch>.deb with dpkg-deb from what
# `make build` staged in target/dist (nothing is compiled here): the same files as
# `make install`, in Debian paths, plus the maintainer scripts in packaging/debian
# (service user and group, systemd unit, ldconfig trigger). Prints the .deb's path.
#   DEB_MAINTAINER  Maintainer field (default: the zmq_adaptor authors)
#   DEB_REVISION    Debian revision (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "make_deb: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (Debian only)"

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
DEBVERSION=$VERSION-${DEB_REVISION:-1}
ARCH=$(dpkg --print-architecture)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
MAINTAINER=${DEB_MAINTAINER:-zmq_adaptor authors <maintainers@zmq-adaptor.invalid>}
OUT=target/deb
ROOT=$OUT/root
DEB=$OUT/zmq-adaptor_${DEBVERSION}_${ARCH}.deb

rm -rf "$ROOT"
mkdir -p "$ROOT/DEBIAN"
# Debian paths; the unit and config paths inside the files follow.
DESTDIR=$ROOT PREFIX=/usr LIBDIR=/usr/lib/$MULTIARCH SYSCONFDIR=/etc \
  SYSTEMD_UNIT_DIR=/lib/systemd/system LUA_CMOD_DIR=/usr/lib/$MULTIARCH/lua/5.1 \
  LUA_LMOD_DIR=/usr/share/lua/5.1 DOCDIR=/usr/share/doc/zmq-adaptor MANDIR=/usr/share/man \
  NGINX_MODULE_DIR=/usr/lib/nginx/modules CONFIG=always \
  scripts/install.sh >/dev/null

DOC=$ROOT/usr/share/doc/zmq-adaptor
rm -f "$DOC/LICENSE"                       # the license is in copyright
install -m 0644 packaging/debian/copyright "$DOC/copyright"
gzip -9n <README.md >"$DOC/README.md.gz" && rm -f "$DOC/README.md"
{
  echo "zmq-adaptor ($DEBVERSION) unstable; urgency=medium"
  echo
  echo "  * Package built from the zmq_adaptor source tree (make deb)."
  echo
  # A fixed date keeps the package reproducible (the source has no release date).
  echo " -- $MAINTAINER  Thu, 01 Jan 2026 00:00:00 +0000"
} | gzip -9n >"$DOC/changelog.Debian.gz"
chmod 0644 "$DOC"/*.gz
install -d -m 0755 "$ROOT/usr/share/lintian/overrides"
install -m 0644 packaging/debian/lintian-overrides "$ROOT/usr/share/lintian/overrides/zmq-adaptor"
# The unit's Documentation= points at the README, compressed here.
sed -i "s|file:///usr/share/doc/zmq-adaptor/README.md|file:///usr/share/doc/zmq-adaptor/README.md.gz|" \
  "$ROOT/lib/systemd/system/zmq-adaptor.service"

# Runtime dependencies from the ELF files' NEEDED entries (dpkg-shlibdeps wants a
# debian/control next to it).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debian"
printf 'Source: zmq-adaptor\n\nPackage: zmq-adaptor\nArchitecture: any\n' >"$tmp/debian/control"
elves=()
while IFS= read -r f; do elves+=("$(realpath "$f")"); done < <(find "$ROOT/usr" -type f \( -name '*.so*' -o -path '*/bin/*' \))
root_abs=$(realpath "$ROOT")
depends=$(cd "$tmp" && dpkg-shlibdeps -O -S"$root_abs" "${elves[@]}" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"

size=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s|@DEBVERSION@|$DEBVERSION|" -e "s|@ARCH@|$ARCH|" -e "s|@MAINTAINER@|$MAINTAINER|" \
    -e "s|@SIZE@|$size|" -e "s|@DEPENDS@|$depends|" packaging/debian/control.in >"$ROOT/DEBIAN/control"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$ROOT/DEBIAN/"
install -m 0644 packaging/debian/triggers "$ROOT/DEBIAN/"
echo "/etc/zmq-adaptor/zmq-adaptor.toml" >"$ROOT/DEBIAN/conffiles"
echo "libzmq_adaptor ${VERSION%%.*} zmq-adaptor (>= $VERSION)" >"$ROOT/DEBIAN/shlibs"
chmod 0644 "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/shlibs"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
  xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/md5sums"

# Owned by root whoever builds it.
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
