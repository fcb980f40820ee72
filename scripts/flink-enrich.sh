#!/usr/bin/env bash
# Runs the bertd Flink job (plugin/flink/) on a local Flink MiniCluster in this JVM:
#
#   scripts/flink-enrich.sh --model DIR --task TASK [--input FILE.jsonl]      JSONL out on stdout
#   scripts/flink-enrich.sh --model DIR --task TASK --brokers B --topic IN --output-topic OUT \
#       --schema FILE.avsc [--dead-letter-topic DLQ] [--bounded] ...           Kafka in, Kafka out
#
#   scripts/flink-enrich.sh sql [-D KEY=VALUE ...] (-e SQL | -f FILE)      SQL, rows as JSON lines
#
# `--help` lists every flag. The job jar, its jars and libbertd_plugin.so come from the build
# (cmake --build build: target bertd_flink); BERTD_BUILD_DIR points at another build directory.
# JAVA_OPTS adds JVM options (e.g. -Xmx2g).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BERTD_BUILD_DIR:-$ROOT/build}"
JOB="$BUILD/plugin/flink"
SO="$BUILD/plugin/libbertd_plugin.so"

die() { echo "flink-enrich: $*" >&2; exit 2; }
command -v java >/dev/null 2>&1 || die "java not found (scripts/install-deps.sh installs Java 17)"
[ -f "$JOB/bertd-flink-classes.jar" ] && [ -d "$JOB/lib" ] ||
    die "$JOB/bertd-flink-classes.jar is not built: run 'cmake --build ${BUILD#$ROOT/} --target bertd_flink'"
[ -f "$SO" ] || die "$SO is not built: run 'cmake --build ${BUILD#$ROOT/} --target bertd_plugin_so'"
MAIN=bertd.flink.EnrichJob
if [ "${1:-}" = sql ]; then MAIN=bertd.flink.sql.SqlRunner; shift; fi
# --input with no file reads stdin, as `bertd TASK` does
args=("$@")
has_input=0; has_brokers=0
for a in "$@"; do
    case "$a" in --input) has_input=1 ;; --brokers) has_brokers=1 ;; esac
done
if [ "$MAIN" = bertd.flink.EnrichJob ] && [ "$has_input" = 0 ] && [ "$has_brokers" = 0 ]; then args+=(--input -); fi
# shellcheck disable=SC2086
exec java ${JAVA_OPTS:-} -Dbertd.plugin="$SO" \
    -Dlog4j.configurationFile="$ROOT/plugin/flink/log4j2.properties" \
    -cp "$JOB/bertd-flink-classes.jar:$JOB/lib/*" $MAIN "${args[@]}"
