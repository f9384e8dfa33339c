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
# It must hold one mbedtls-* directory and nothing beside or above it.
# The result is DIR/src (with DIR/src/.relay-version); the Makefile builds it.
# Only DIR/apt, DIR/unpack and DIR/src are written, each replaced whole: what
# an interrupted run left there goes first (a symbolic link, not its target).
#
# Environment, for tests: MBEDTLS_SUITES (default "trixie trixie-security"),
# MBEDTLS_PINS (default tools/mbedtls.sha256).
set -eu

MIN_PATCH=6

say() {
	echo "relay: $*" >&2
}

# An exported CDPATH would send cd "$dir" to another tree's build/mbedtls.
unset CDPATH

[ $# -eq 1 ] || { say "usage: sh tools/mbedtls.sh DIR"; exit 2; }
dir=$1
pins=${MBEDTLS_PINS:-$(cd "$(dirname "$0")" && pwd)/mbedtls.sha256}
suites=${MBEDTLS_SUITES:-trixie trixie-security}
[ -r "$pins" ] || { say "cannot read $pins"; exit 1; }

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

# The mirrors this machine's own apt configuration uses, in its order: the
# first Debian main archive (a plain suite name) and the first Debian security
# archive. Another origin's (a flat "./" repository, or one that names its
# suite "bookworm" too) only when the machine has no Debian one.
targets=$(apt-get indextargets --format '$(RELEASE) $(REPO_URI) $(ORIGIN)' 2>/dev/null || true)
mirror() {
	printf '%s\n' "$targets" | awk -v suite="$1" '
	$1 ~ suite && $2 ~ /^https?:\/\// {
		if ($3 == "Debian") { debian = $2; exit }
		if (other == "") other = $2
	}
	END { print (debian != "" ? debian : other) }'
}
archive=$(mirror '^[a-z]+$')
security=$(mirror '^[a-z]+-security$')
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
# A plain number for x, small enough for test(1), which fails (and so
# would accept) on one of twenty digits.
case $version in
3.6.[0-9] | 3.6.[1-9][0-9] | 3.6.[1-9][0-9][0-9]) patch=${version#3.6.} ;;
*) patch=-1 ;;
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
	say "$name has SHA-256 $actual, $pins pins $pinned: refused"
	exit 1
fi
[ -n "$pinned" ] || say "$name is newer than $pins knows: trusting apt's check against Debian's signed index"

# One top directory and nothing beside or above it: GNU tar would strip a
# leading / and skip a .., but a tarball that tries is not one to build.
top=$(tar -tf "$tarball" | awk -F / '
	{ sub(/^\.\//, "") }
	$0 == "" { next }
	!seen++ { top = $1 }
	bad == "" && ($1 == "" || $1 != top || $0 ~ /(^|\/)\.\.(\/|$)/) { bad = $0 }
	END { print (bad != "" ? "/" bad : top) }')
case $top in
mbedtls-?*) ;;
*) say "$name must hold one mbedtls-* directory and nothing else, not ${top#/}: refused"; exit 1 ;;
esac

# As root, tar would keep the archive's owners (uid 501 in 3.6.6's) and
# modes: whoever has that uid here could change what root compiles.
trap 'rm -rf "$dir/unpack"' EXIT
mkdir "$dir/unpack"
tar -x --no-same-owner --no-same-permissions -f "$tarball" -C "$dir/unpack" ||
	{ say "cannot unpack $name"; exit 1; }
src=$dir/unpack/$top
# (A link would take the build, and .relay-version, out of DIR.)
if [ -L "$src" ] || [ ! -f "$src/include/mbedtls/build_info.h" ] || \
   [ ! -d "$src/3rdparty/everest" ]; then
	say "$name does not hold mbedTLS's sources with 3rdparty/everest"
	exit 1
fi
echo "$version" >"$src/.relay-version"
mv "$src" "$dir/src"
say "mbedTLS $version ready in $dir/src"
