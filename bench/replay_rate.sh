#!/usr/bin/env bash
# records/s of `bertd replay` on a topic, against `bertd <task>` on the same texts from a file
# (the same enrichment without Kafka and Avro), in the same run, on the same machine.
#   bench/replay_rate.sh BUILD BROKERS TOPIC SCHEMA TEXTS.jsonl MODEL TASK [RUNS] [-- REPLAY FLAGS]
# Both are timed from process start to exit (model load included); replay's own
# records_per_s (first record read .. last result) is printed too.
# TEXTS.jsonl holds the topic's texts as {"text": ...} lines. Prints each run's rate, the medians,
# their ratio and the CPU (lscpu's model name and flags).
set -euo pipefail
[ $# -ge 7 ] || { sed -n 2,6p "$0" >&2; exit 2; }
build=$1 brokers=$2 topic=$3 schema=$4 texts=$5 model=$6 task=$7
runs=${8:-5}
shift $(( $# >= 8 ? 8 : 7 ))
[ "${1:-}" = "--" ] && shift
bertd="$build/cli/bertd"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
n=$(wc -l < "$texts")
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
for i in $(seq "$runs"); do
  s=$(date +%s.%N)
  "$bertd" replay --brokers "$brokers" --topic "$topic" --schema "$schema" --model "$model" \
    --task "$task" --report-json "$tmp/r.json" "$@" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; exit 1; }
  e=$(date +%s.%N)
  python3 -c "print('%.1f' % ($n / ($e - $s)))" >> "$tmp/replay_wall"
  python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["records_per_s"])' \
    "$tmp/r.json" | tee -a "$tmp/replay"
  s=$(date +%s.%N)
  "$bertd" "$task" --model "$model" "$@" < "$texts" > /dev/null 2>"$tmp/err" || true
  e=$(date +%s.%N)
  python3 -c "print('%.1f' % ($n / ($e - $s)))" >> "$tmp/cli"
done 2>/dev/null | sed 's/^/replay run, records\/s: /'
r=$(median < "$tmp/replay")
w=$(median < "$tmp/replay_wall")
c=$(median < "$tmp/cli")
echo "records: $n; runs: $runs"
echo "bertd replay  median records/s: $r (its report: first record read .. last result)"
echo "bertd replay  median records/s: $w (process start to exit: model load, metadata, report)"
echo "bertd $task   median records/s: $c (same texts from a file, process start to exit)"
python3 -c "print('ratio replay / cli, process start to exit: %.2f' % ($w / $c))"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; flags: $(lscpu | sed -n 's/^Flags: *//p' | tr ' ' '\n' | grep -E '^(avx2|avx512f|fma)$' | tr '\n' ' ')"
