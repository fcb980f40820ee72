#!/usr/bin/env bash
# Runs a command with the librdkafka of scripts/fetch-librdkafka.sh first on LD_LIBRARY_PATH, so
# that the SCRAM login case of tests/kafka/daemon_test.py security runs (Debian 12's librdkafka
# 2.0.2 cannot log in with SCRAM to Kafka 4). When that library cannot be had, it exits 77
# (skipped) with fetch-librdkafka's reason: the system's library would only skip the case.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if dir="$(bash "$ROOT/scripts/fetch-librdkafka.sh" 2>/tmp/fetch-librdkafka.$$)"; then
  export LD_LIBRARY_PATH="${dir##*$'\n'}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "with_librdkafka: $(cat "${dir##*$'\n'}/version") from $LD_LIBRARY_PATH"
else
  echo "with_librdkafka: skipped: $(tail -1 /tmp/fetch-librdkafka.$$)"
  rm -f /tmp/fetch-librdkafka.$$
  exit 77
fi
rm -f /tmp/fetch-librdkafka.$$
exec "$@"
