#!/usr/bin/env python3
"""`bertd replay` of the ATIS test set gives the numbers `bertd eval` gives on the files, and
`--stored` on the daemon's output topic gives them again (a `data` test).

    BERTD_DATA_ATIS=DIR BERTD_MODEL_DIR=MINILM python3 tests/cli/cli_replay_atis_test.py \\
        --build BUILD_DIR

data sets: atis

Run through tests/data_gate.sh, which resolves ATIS. The checkpoint is fine-tuned here by
`bertd train` from MiniLM (BERTD_MODEL_DIR) on the first 300 ATIS training sentences for two
epochs: its quality does not matter, only that replay and eval score the same checkpoint alike.
The 893 test utterances are produced with `bertd produce` (gold intent and BIO slots as record
fields; labels missing from the label lists are scored as UNK, JointBERT's convention, which
`bertd eval` follows: --unknown-gold-as UNK). Exit 77 (skipped) without MiniLM.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
import daemon_test as kt  # noqa: E402

SCHEMA = os.path.join(ROOT, "tests", "fixtures", "replay", "labelled.avsc")
check = kt.check


def lines(path):
    with open(path, encoding="utf-8") as fh:
        return [l.rstrip("\n") for l in fh]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    a = ap.parse_args()
    atis, minilm = os.environ.get("BERTD_DATA_ATIS"), os.environ.get("BERTD_MODEL_DIR")
    if not atis:
        print("BERTD_DATA_ATIS is not set: run through tests/data_gate.sh")
        sys.exit(1)
    if not minilm or not os.path.isdir(minilm):
        print("skipped: BERTD_MODEL_DIR (all-MiniLM-L6-v2, scripts/fetch-model.sh minilm) is not set")
        sys.exit(77)
    exe = os.path.join(a.build, "cli", "bertd")
    h = kt.Harness(a.build, "replay-atis")
    try:
        # a small fine-tune: the checkpoint both paths score
        mini = os.path.join(h.tmp, "atis-mini")
        for split, n in (("train", 300), ("dev", 60)):
            os.makedirs(os.path.join(mini, split))
            for f in ("seq.in", "seq.out", "label"):
                with open(os.path.join(mini, split, f), "w") as fh:
                    fh.write("\n".join(lines(os.path.join(atis, split, f))[:n]) + "\n")
        for f in ("intent_label.txt", "slot_label.txt"):
            shutil.copy(os.path.join(atis, f), os.path.join(mini, f))
        ckpt = os.path.join(h.tmp, "ckpt")
        p = subprocess.run([exe, "train", "--task", "joint", "--model", minilm, "--data", mini,
                            "--out", ckpt, "--epochs", "2", "--batch-size", "16",
                            "--max-length", "64", "--lr", "3e-4"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=1200)
        check(p.returncode == 0, "bertd train: a joint checkpoint on 300 ATIS sentences (%s)"
              % p.stderr.strip()[-200:])
        p = subprocess.run([exe, "eval", "--task", "joint", "--model", ckpt, "--data", atis,
                            "--split", "test", "--max-length", "64"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=1200)
        ev = json.loads(p.stdout) if p.returncode == 0 else {}
        check(p.returncode == 0 and ev.get("examples") == 893,
              "bertd eval on the ATIS test files: %s" % {k: ev.get(k) for k in (
                  "examples", "intent_acc", "slot_f1", "sentence_acc")})

        texts = lines(os.path.join(atis, "test", "seq.in"))
        slots = lines(os.path.join(atis, "test", "seq.out"))
        intents = lines(os.path.join(atis, "test", "label"))
        recs = [{"id": "t%03d" % i, "text": t, "intent": g, "slots": s}
                for i, (t, s, g) in enumerate(zip(texts, slots, intents))]
        h.start([("atis", 1), ("atis.out", 1), ("atis.dlq", 1)])
        h.produce("atis", recs, schema=SCHEMA)

        def replay(*args):
            rep = os.path.join(h.tmp, "r.json")
            p = subprocess.run([exe, "replay", "--brokers", h.bootstrap, "--schema", SCHEMA,
                                "--text-field", "text", "--task", "joint", "--model", ckpt,
                                "--gold-intent", "intent", "--gold-slots", "slots",
                                "--unknown-gold-as", "UNK", "--report-json", rep, *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=1200)
            if p.returncode:
                print("     replay: " + p.stderr.strip()[-300:])
            return json.load(open(rep)) if p.returncode == 0 else {}

        def pct(x):
            """bertd eval's percentages: two decimals, as eval/evaluate.c rounds them (with 893
            records a hundredth of a percent pins the count of right answers)"""
            return None if x is None else int(x * 10000 + 0.5) / 100

        def same(r, what):
            got = (r.get("labelled"), pct(r.get("accuracy")), pct(r.get("slot_f1")),
                   pct(r.get("sentence_accuracy")))
            want = (ev.get("examples"), ev.get("intent_acc"), ev.get("slot_f1"),
                    ev.get("sentence_acc"))
            ok = got == want and None not in got
            check(ok, "%s: records, intent accuracy, slot F1, sentence accuracy as bertd eval's "
                  "(%s vs %s)" % (what, got, want))

        r = replay("--topic", "atis", "--max-length", "64")
        same(r, "replay of the ATIS test topic")
        check(r.get("unknown_gold", {}).get("count", 0) > 0,
              "replay: the ATIS test labels missing from the label lists are named (%s)"
              % r.get("unknown_gold"))
        cfg = os.path.join(h.tmp, "bertd.yaml")
        with open(cfg, "w") as fh:
            fh.write("""kafka:
  bootstrap.servers: %s
  group.id: replay-atis
pipelines:
  - name: atis
    input: { topics: [atis], schema: %s, text_field: text }
    output: { topic: atis.out }
    dead_letter: { topic: atis.dlq }
    model: { dir: %s, task: joint, max_length: 64 }
""" % (h.bootstrap, SCHEMA, ckpt))
        h.run_daemon(cfg, stats_ms=1000)
        out = h.wait_output("atis.out", {x["id"] for x in recs}, 600,
                            schema=h.enriched_schema(SCHEMA))
        check(h.stop_daemon() == 0 and len(out) == len(recs),
              "bertd run: the ATIS test topic enriched (%d)" % len(out))
        s = replay("--topic", "atis.out", "--stored")
        same(s, "replay --stored of the daemon's output")
    finally:
        h.close()
    print("%d passed, %d failed" % (len(kt.passed), len(kt.failures)))
    sys.exit(1 if kt.failures else 0)


if __name__ == "__main__":
    main()
