#!/bin/sh
# run-fuzzer.sh BINARY WORK_CORPUS [SEED_CORPUS]: a bounded libFuzzer run for ctest.
set -eu
bin="$1"; work="$2"; seed="${3:-}"
mkdir -p "$work"
cd "$(dirname "$work")"
if [ -n "$seed" ] && [ -d "$seed" ]; then
  exec "$bin" -max_total_time="${BERTD_FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=4096 "$work" "$seed"
fi
exec "$bin" -max_total_time="${BERTD_FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=4096 "$work"
