#!/usr/bin/env bash
# Runs a `data` test (tests/<layer>/data_*.c) when its public datasets can be had, else reports it
# skipped with the reason.
#   data_gate.sh "atis snips" TEST-EXECUTABLE [ARGS...]
# Each set is resolved by scripts/fetch-data.sh (BERTD_DATA_DIR mirror, .data/ cache, or a checked
# download) and passed to the test as BERTD_DATA_<NAME> (BERTD_DATA_ATIS=/path/to/atis, ...).
# Exit 77 (the test's SKIP_RETURN_CODE in tests/CMakeLists.txt) when a set cannot be resolved:
# ctest then lists the test as skipped, never as passed.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sets="$1"
shift
for s in $sets; do
  if ! out="$(bash "$ROOT/scripts/fetch-data.sh" "$s" 2>&1)"; then
    echo "skipped: $(printf '%s\n' "$out" | tail -n 1)"
    exit 77
  fi
  var="BERTD_DATA_$(printf '%s' "$s" | tr '[:lower:]' '[:upper:]')"
  export "$var=$(printf '%s\n' "$out" | tail -n 1)"
done
exec "$@"
