#!/bin/sh
# embed_lua.sh FILE... — each Lua script as a C string, redis_script_<name>,
# for storage/redis_store.c (the Makefile writes it to build/*/gen/).
set -eu
echo "/* Made by tools/embed_lua.sh from storage/redis/: do not edit. */"
for f in "$@"; do
	printf 'static const char redis_script_%s[] =\n' "$(basename "$f" .lua)"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$f"
	printf ';\n'
done
