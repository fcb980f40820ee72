#!/usr/bin/env bash
# produce_consume_roundtrip.sh BOOTSTRAP [BERTD]: `bertd produce` then `bertd consume` against a
# real broker, plain and Confluent-framed (fixed schema id); the records read back must equal the
# ones written, with the key taken from `id`. BERTD defaults to build/cli/bertd. Topics get
# a fresh name per run; with $BROKER_SH (tests/kafka/broker.sh of the broker at BOOTSTRAP) they
# are created with 3 partitions, else the broker must auto-create them.
set -euo pipefail
BOOTSTRAP="${1:?usage: produce_consume_roundtrip.sh BOOTSTRAP [BERTD]}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BERTD="${2:-$ROOT/build/cli/bertd}"
SCHEMA="$ROOT/schemas/utterance.avsc"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Input in the form consume prints (Avro JSON encoding, tagged unions, jansson's compact style),
# so the comparison is exact text.
cat >"$WORK/in.jsonl" <<'JSONL'
{"id":"r1","text":"book a table for two","text_pair":null,"channel":{"string":"web"},"ts":{"long":1732550400000}}
{"id":"r2","text":"caf\u00e9 \ud83c\udf75 near me","text_pair":{"string":"context"},"channel":null,"ts":null}
{"id":"r3","text":"","text_pair":null,"channel":null,"ts":{"long":0}}
JSONL
jq -c . "$WORK/in.jsonl" | sort >"$WORK/want.jsonl"

roundtrip() { # NAME EXTRA-ARGS...
  local name="$1"; shift
  local topic="bertd-roundtrip-$name-$$-$RANDOM"
  local n
  if [ -n "${BROKER_SH:-}" ]; then bash "$BROKER_SH" create-topic "$topic" 3 >/dev/null; fi
  n="$("$BERTD" produce --brokers "$BOOTSTRAP" --topic "$topic" --schema "$SCHEMA" \
        --key-field id --input "$WORK/in.jsonl" "$@")"
  [ "$n" = 3 ] || { echo "FAIL $name: produce printed '$n', expected 3" >&2; return 1; }
  "$BERTD" consume --brokers "$BOOTSTRAP" --topic "$topic" --schema "$SCHEMA" \
      --from-beginning --until-eof --timeout-ms 30000 "$@" >"$WORK/out-$name.jsonl"
  # the key is the id; the Kafka fields go, the record must be what was produced
  jq -e -c 'select(._key != .id)' "$WORK/out-$name.jsonl" >/dev/null &&
    { echo "FAIL $name: a _key differs from its id" >&2; return 1; }
  jq -c 'del(._key, ._partition, ._offset, ._headers)' "$WORK/out-$name.jsonl" | sort \
    >"$WORK/got-$name.jsonl"
  diff -u "$WORK/want.jsonl" "$WORK/got-$name.jsonl" ||
    { echo "FAIL $name: records differ" >&2; return 1; }
  echo "ok $name: 3 records through $topic"
}

roundtrip plain
roundtrip confluent --confluent --schema-id 17
