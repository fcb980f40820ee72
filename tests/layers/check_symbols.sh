#!/usr/bin/env bash
# check_symbols.sh BUILD_DIR: every extern symbol that bertd's libraries define carries the bertd_
# prefix, so the libraries can be linked beside any other code (nm over the built archives and
# the plugin's shared object). Symbols the sanitizers add (__odr_asan.*, __sancov*) are theirs.
set -uo pipefail
build="$1"
libs=$(find "$build" -name 'libbertd_*.a' -o -name 'libbertd_plugin.so' | sort)
[ -n "$libs" ] || { echo "FAIL: no libbertd_* library under $build"; exit 1; }
bad=0
for lib in $libs; do
  syms=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBRCV]/ {print $3}' |
         grep -v -e '^bertd_' -e '^__odr_asan\.' -e '^__sancov' | sort -u)
  if [ -n "$syms" ]; then
    echo "FAIL: $(basename "$lib") defines extern symbols without the bertd_ prefix:" $syms
    bad=1
  fi
done
[ "$bad" = 0 ] && echo "ok: $(echo "$libs" | wc -l) libraries, every extern symbol prefixed bertd_"
exit "$bad"
