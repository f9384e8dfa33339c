#!/bin/sh
# mbedtls.sh — fetch mbedTLS 3.6 LTS, as Debian 13 ships it, into build/.
#
#   sh tools/mbedtls.sh DIR      (the Makefile calls it with DIR=build/mbedtls)
#
# Debian 12's mbedTLS (2.28) is out of upstream support and has no TLS 1.3;
# Debian 13 ("trixie") has 3.6 LTS. apt-get fetches trixie's source package
# with a private sources.list and private state under DIR/apt, so nothing on
# the system changes and no root is needed: apt checks the signed index, the
# .dsc's checksums and the tarball's against them. On top of that the tarball
# must match tools/mbedtls.sha256 when it lists it; a newer 3.6.x (a Debian
# security update) is taken on apt's word, and said so.
#
# Only 3.6.x with x >= 6 is accepted. The release tarball is unpacked as it is
# (it ships its generated files), without Debian's patches: one of them
# removes 3rdparty/everest, the fast X25519 the relay is configured to use.
# The result is DIR/src (with DIR/src/.relay-version); the Makefile builds it.
#
# Environment: MBEDTLS_SUITES (default "trixie trixie-security") for tests.
set -eu

MIN_PATCH=6

say() {
	echo "relay: $*" >&2
}

[ $# -eq 1 ] || { say "usage: sh tools/mbedtls.sh DIR"; exit 2; }
dir=$1
pins=$(cd "$(dirname "$0")" && pwd)/mbedtls.sha256
suites=${MBEDTLS_SUITES:-trixie trixie-security}

if ! command -v apt-get >/dev/null 2>&1; then
	say "mbedTLS 3.6 comes from Debian's source package and this system has no apt-get:"
	say "install mbedTLS >= 3.6 and build with make MBEDTLS=system"
	exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
apt=$dir/apt
rm -rf "$apt" "$dir/src" "$dir/unpack"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d" "$apt/dl"

# The mirrors this machine's own apt configuration uses: the first main
# archive (a suite without "-") and the first security archive, by URI.
targets=$(apt-get indextargets --format '$(RELEASE) $(REPO_URI)' 2>/dev/null | sort -u)
archive=$(printf '%s\n' "$targets" | awk '$1 !~ /-/ && $2 ~ /^https?:\/\// { print $2; exit }')
security=$(printf '%s\n' "$targets" | awk '$1 ~ /-security$/ && $2 ~ /^https?:\/\// { print $2; exit }')
archive=${archive:-http://deb.debian.org/debian/}
security=${security:-http://deb.debian.org/debian-security/}
: >"$apt/sources.list"
for suite in $suites; do
	case $suite in
	*-security) uri=$security ;;
	*) uri=$archive ;;
	esac
	echo "deb-src $uri $suite main" >>"$apt/sources.list"
done

# As root apt would hand the download to its _apt user, who cannot write
# into the caller's build tree.
sandbox=
[ "$(id -u)" = 0 ] && sandbox="-o APT::Sandbox::User=root"
apt_get() {
	apt-get -q \
	    -o Dir::Etc::SourceList="$apt/sources.list" \
	    -o Dir::Etc::SourceParts="$apt/sources.list.d" \
	    -o Dir::State::Lists="$apt/lists" \
	    -o Dir::Cache="$apt/cache" \
	    -o APT::Get::Only-Source=true \
	    $sandbox "$@"
}

say "fetching mbedTLS 3.6 from Debian ($suites) into $dir"
if ! apt_get update >"$apt/update.log" 2>&1; then
	cat "$apt/update.log" >&2
	say "cannot read Debian's $suites source index (network?): see above"
	exit 1
fi
if ! (cd "$apt/dl" && apt_get source --download-only mbedtls) >"$apt/source.log" 2>&1; then
	cat "$apt/source.log" >&2
	say "cannot download Debian's mbedtls source package: see above"
	exit 1
fi

# The version from the .dsc's name: mbedtls_[EPOCH:]UPSTREAM-REVISION.dsc.
dsc=$(ls "$apt/dl"/mbedtls_*.dsc 2>/dev/null | head -n 1)
[ -n "$dsc" ] || { say "apt-get left no mbedtls .dsc in $apt/dl"; exit 1; }
version=${dsc##*/mbedtls_}
version=${version%.dsc}
version=${version#*:}
version=${version%-*}
patch=${version#3.6.}
case $patch in
'' | *[!0-9]*) patch=-1 ;;
esac
if [ "$patch" -lt "$MIN_PATCH" ]; then
	say "Debian offers mbedTLS $version; relay needs 3.6.x with x >= $MIN_PATCH"
	exit 1
fi

tarball=
for t in "$apt/dl/mbedtls_$version.orig.tar".*; do
	[ -f "$t" ] && tarball=$t
done
[ -n "$tarball" ] || { say "no mbedtls_$version.orig.tar.* next to $dsc"; exit 1; }
name=${tarball##*/}
pinned=$(awk -v n="$name" '$2 == n { print $1 }' "$pins")
actual=$(sha256sum "$tarball" | cut -d ' ' -f 1)
if [ -n "$pinned" ] && [ "$pinned" != "$actual" ]; then
	say "$name has SHA-256 $actual, tools/mbedtls.sha256 pins $pinned: refused"
	exit 1
fi
[ -n "$pinned" ] || say "$name is newer than tools/mbedtls.sha256 knows: trusting apt's check against Debian's signed index"

mkdir "$dir/unpack"
tar -xf "$tarball" -C "$dir/unpack"
top=$(ls "$dir/unpack")
if [ ! -f "$dir/unpack/$top/include/mbedtls/build_info.h" ] || \
   [ ! -d "$dir/unpack/$top/3rdparty/everest" ]; then
	say "$name does not hold mbedTLS's sources with 3rdparty/everest"
	exit 1
fi
echo "$version" >"$dir/unpack/$top/.relay-version"
mv "$dir/unpack/$top" "$dir/src"
rmdir "$dir/unpack"
say "mbedTLS $version ready in $dir/src"
