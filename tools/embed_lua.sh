#!/bin/sh
# embed_lua.sh COMMON FILE... — each Lua script as a C string,
# redis_script_<name>, with COMMON put in after its #! line, for
# storage/redis_store.c (the Makefile writes it to build/gen/).
set -eu
common=$1
shift
echo "/* Made by tools/embed_lua.sh from storage/redis/: do not edit. */"
for f in "$@"; do
	printf 'static const char redis_script_%s[] =\n' "$(basename "$f" .lua)"
	{ head -n 1 "$f"; cat "$common"; tail -n +2 "$f"; } |
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/'
	printf ';\n'
done
