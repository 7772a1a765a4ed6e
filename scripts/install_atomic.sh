#!/bin/sh
# install_atomic.sh MODE SRC DEST: puts a copy of SRC at DEST (a file path) as a new
# file, then renames it over DEST in one step. A process that has the old DEST
# mapped (nginx with zmq_logger.so or libzmq_adaptor.so loaded) keeps reading the
# old, intact inode; `cp` or `install` would rewrite that inode in place, and nginx
# then crashes at its next reload or exit. DEST's directory must exist.
set -eu
[ $# -eq 3 ] || { echo "usage: $0 MODE SRC DEST" >&2; exit 2; }
mode=$1 src=$2 dest=$3
[ -f "$src" ] || { echo "$0: $src: no such file" >&2; exit 1; }
[ ! -d "$dest" ] || { echo "$0: $dest is a directory; give the file name" >&2; exit 2; }
dir=$(dirname -- "$dest")
tmp=$(mktemp "$dir/.$(basename -- "$dest").XXXXXX")
trap 'rm -f "$tmp"' EXIT
cp -- "$src" "$tmp"
chmod "$mode" "$tmp"
mv -f -- "$tmp" "$dest"
trap - EXIT
