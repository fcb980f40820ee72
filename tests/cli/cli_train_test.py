#!/usr/bin/env python3
"""`bertd train` and `bertd eval` through the binary, on tiny datasets this test writes.

    python3 tests/cli/cli_train_test.py --build BUILD_DIR

mlm-nsp pre-trains the tiny BertForPreTraining checkpoint on a small corpus and the result
serves fill-mask and nsp. classify (JSONL) and joint (JointBERT layout) fine-tune the tiny encoder checkpoint
(tests/fixtures/models/base_f16) for two epochs: the summary line carries its fields, the
output directory loads in the inference commands, and `bertd eval` reports, on the test split,
the accuracy / F1 that the served predictions (`bertd classify` / `bertd joint` on the same
lines) give when scored here. Bad flags, missing files and a malformed data line: one line
naming the flag, file or line. Only the standard library.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE = os.path.join(ROOT, "tests", "fixtures", "models", "base_f16")

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


TRAVEL = ["show me flights to boston", "find the cheapest fare to denver", "list flights from dallas",
          "what is the fare from atlanta to seattle"]
MUSIC = ["play some music", "play the album by the artist", "play a song", "play music by the artist"]


def run(exe, *args, stdin=None):
    p = subprocess.run([exe, *args], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def f1(gold, pred, label):
    tp = sum(g == label and p == label for g, p in zip(gold, pred))
    fp = sum(g != label and p == label for g, p in zip(gold, pred))
    fn = sum(g == label and p != label for g, p in zip(gold, pred))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def write_classify(d):
    rows = {"train": 12, "dev": 4, "test": 6}
    for split, n in rows.items():
        with open(os.path.join(d, split + ".jsonl"), "w") as f:
            for i in range(n):
                label = "travel" if i % 2 == 0 else "music"
                text = (TRAVEL if label == "travel" else MUSIC)[(i // 2) % 4]
                f.write(json.dumps({"text": text, "label": label}) + "\n")


def slots_of(words):
    cities = {"boston", "denver", "dallas", "atlanta", "seattle"}
    out, prev = [], None
    for w in words:
        if w in cities:
            tag = "B-toloc.city_name" if prev == "to" else "B-fromloc.city_name"
        else:
            tag = "O"
        out.append(tag)
        prev = w
    return out


def write_joint(d):
    texts = {"atis_flight": ["show me flights to boston", "list flights from dallas to denver"],
             "atis_airfare": ["find the cheapest fare to denver", "what is the fare from atlanta to seattle"]}
    with open(os.path.join(d, "intent_label.txt"), "w") as f:
        f.write("UNK\natis_flight\natis_airfare\n")
    with open(os.path.join(d, "slot_label.txt"), "w") as f:
        f.write("PAD\nUNK\nO\nB-fromloc.city_name\nB-toloc.city_name\n")
    for split, reps in (("train", 3), ("dev", 1), ("test", 1)):
        os.makedirs(os.path.join(d, split))
        with open(os.path.join(d, split, "seq.in"), "w") as fi, \
             open(os.path.join(d, split, "seq.out"), "w") as fo, \
             open(os.path.join(d, split, "label"), "w") as fl:
            for _ in range(reps):
                for intent, ts in texts.items():
                    for t in ts:
                        fi.write(t + "\n")
                        fo.write(" ".join(slots_of(t.split())) + "\n")
                        fl.write(intent + "\n")


def test_classify(exe, tmp):
    d = os.path.join(tmp, "cls")
    os.makedirs(d)
    write_classify(d)
    out = os.path.join(tmp, "cls-out")
    data = [ "--data", os.path.join(d, "train.jsonl"), "--dev", os.path.join(d, "dev.jsonl"),
            "--test", os.path.join(d, "test.jsonl")]
    rc, so, se = run(exe, "train", "--task", "classify", "--model", BASE, *data, "--out", out,
                     "--epochs", "2", "--batch-size", "4", "--threads", "1", "--lr", "1e-3")
    check(rc == 0, "train classify: exit 0 (%s)" % se.strip()[-200:])
    s = json.loads(so.splitlines()[-1])
    check(s["task"] == "classify" and s["epochs"] == 2 and s["train_examples"] == 12
          and s["dev_examples"] == 4 and s["test_examples"] == 6 and s["optimizer_steps"] == 6
          and s["best_epoch"] in (1, 2) and len(s["epochs_detail"]) == 2 and s["out"] == out,
          "train classify: summary fields (%d steps, best epoch %s)" % (s.get("optimizer_steps", -1), s.get("best_epoch")))
    saved = json.load(open(os.path.join(out, "train_summary.json")))
    check(saved.keys() == s.keys() and all(saved[k] == s[k] for k in s if isinstance(s[k], (int, str))),
          "train classify: train_summary.json is the printed summary")
    labels = json.load(open(os.path.join(out, "config.json")))["id2label"]
    check(sorted(labels.values()) == ["music", "travel"], "train classify: config.json has the data's labels")
    # the output directory serves; eval's metrics are those of the served predictions
    test = [json.loads(l) for l in open(os.path.join(d, "test.jsonl"))]
    rc, so, se = run(exe, "classify", "--model", out, "--input", os.path.join(d, "test.jsonl"))
    pred = [json.loads(l)["labels"][0]["label"] for l in so.splitlines()]
    check(rc == 0 and len(pred) == len(test), "classify --model OUT: serves the trained checkpoint")
    gold = [r["label"] for r in test]
    acc = 100 * sum(g == p for g, p in zip(gold, pred)) / len(gold)
    macro = 100 * sum(f1(gold, pred, l) for l in ("music", "travel")) / 2
    rc, so, se = run(exe, "eval", "--task", "classify", "--model", out, *data, "--threads", "1")
    m = json.loads(so) if rc == 0 else {}
    check(rc == 0 and m["examples"] == 6 and m["split"] == "test"
          and abs(m["accuracy"] - acc) < 0.01 and abs(m["macro_f1"] - macro) < 0.01,
          "eval classify: accuracy %s / macro F1 %s = the served predictions' %.2f / %.2f"
          % (m.get("accuracy"), m.get("macro_f1"), acc, macro))
    check(abs(m["accuracy"] - s["test_accuracy"]) < 0.01, "eval classify: test accuracy = train's summary")
    # errors
    bad = os.path.join(d, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{bad\n')
    rc, so, se = run(exe, "train", "--task", "classify", "--model", BASE, "--data", bad, "--out",
                     os.path.join(tmp, "bad-out"))
    check(rc == 1 and se.count("\n") == 1 and "%s:3:" % bad in se, "train: a malformed line named FILE:3, exit 1 (%s)" % se.strip())
    for cmd in ("train", "eval"):
        model = BASE if cmd == "train" else out
        o = ["--out", os.path.join(tmp, "x")] if cmd == "train" else []
        cases = [(["--task", "classify", "--model", model, *data, *o, "--epochs", "x"], "--epochs"),
                 (["--task", "nope", "--model", model, *data, *o], "--task"),
                 (["--task", "classify", "--model", model, *data, *o, "--bogus"], "--bogus"),
                 (["--task", "classify", "--model", "/nonexistent", *data, *o], "--model /nonexistent: No such file"),
                 (["--task", "classify", "--model", model, "--data", "/nonexistent.jsonl", *o], "--data /nonexistent.jsonl: No such file")]
        for args, word in cases:
            rc, so, se = run(exe, cmd, *args)
            check(rc == 2 and so == "" and se.count("\n") == 1 and word in se,
                  "%s %s: exit 2, one line naming it (%d: %s)" % (cmd, word, rc, se.strip()))


def test_joint(exe, tmp):
    d = os.path.join(tmp, "atis")
    os.makedirs(d)
    write_joint(d)
    out = os.path.join(tmp, "joint-out")
    rc, so, se = run(exe, "train", "--task", "joint", "--model", BASE, "--data", d, "--out", out,
                     "--epochs", "2", "--batch-size", "4", "--threads", "1", "--lr", "1e-3")
    check(rc == 0, "train joint: exit 0 (%s)" % se.strip()[-200:])
    s = json.loads(so.splitlines()[-1]) if rc == 0 else {}
    check(s.get("task") == "joint" and s.get("train_examples") == 12 and s.get("test_examples") == 4
          and "test_intent_acc" in s and "test_slot_f1" in s and s.get("data") == d,
          "train joint: summary fields (%s)" % sorted(k for k in s if k.startswith("test_")))
    for f in ("intent_label.txt", "slot_label.txt", "config.json", "model.safetensors", "vocab.txt"):
        check(os.path.exists(os.path.join(out, f)), "train joint: %s written" % f)
    lines = open(os.path.join(d, "test", "seq.in")).read().split("\n")[:-1]
    gold = open(os.path.join(d, "test", "label")).read().split()
    rc, so, se = run(exe, "joint", "--model", out, stdin="".join(json.dumps({"text": t}) + "\n" for t in lines))
    pred = [json.loads(l)["intent"]["label"] for l in so.splitlines()]
    check(rc == 0 and len(pred) == 4, "joint --model OUT: serves the trained checkpoint")
    acc = 100 * sum(g == p for g, p in zip(gold, pred)) / len(gold)
    rc, so, se = run(exe, "eval", "--task", "joint", "--model", out, "--data", d, "--threads", "1")
    m = json.loads(so) if rc == 0 else {}
    check(rc == 0 and m.get("examples") == 4 and abs(m.get("intent_acc", -1) - acc) < 0.01,
          "eval joint: intent accuracy %s = the served predictions' %.2f" % (m.get("intent_acc"), acc))


def test_mlm_nsp(exe, tmp):
    """Continued pre-training on a tiny corpus: the summary's counts, and the checkpoint serves
    fill-mask and nsp."""
    sents = ["the flight to boston is cheap", "show me flights from denver",
             "play music by the artist", "the weather is rain today", "book a table at the restaurant"]
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w") as f:
        for d in range(6):
            f.write("".join(sents[(d + i) % len(sents)] + "\n" for i in range(4)) + "\n")
    out = os.path.join(tmp, "pt-out")
    rc, so, se = run(exe, "train", "--task", "mlm-nsp", "--model",
                     os.path.join(ROOT, "tests", "fixtures", "models", "pretraining"), "--data", corpus,
                     "--out", out, "--epochs", "1", "--batch-size", "4", "--threads", "1", "--heldout", "4")
    s = json.loads(so.splitlines()[-1]) if rc == 0 else {}
    check(rc == 0 and s.get("task") == "mlm-nsp" and s.get("heldout_pairs") == 4
          and s.get("train_pairs", 0) > 0 and 0 <= s.get("heldout_nsp_acc", -1) <= 100
          and len(s.get("epochs_detail", [])) == 1,
          "train mlm-nsp: summary fields (%s)" % {k: s.get(k) for k in ("train_pairs", "heldout_pairs")})
    rc, so, se = run(exe, "fill-mask", "--model", out, "--top-k", "3",
                     stdin=json.dumps({"text": "show me [MASK] from denver"}) + "\n")
    m = json.loads(so)["masks"] if rc == 0 else []
    check(len(m) == 1 and m[0]["position"] == 3 and len(m[0]["fills"]) == 3
          and m[0]["fills"][0]["score"] >= m[0]["fills"][1]["score"] >= m[0]["fills"][2]["score"],
          "fill-mask --model OUT: the pre-trained checkpoint serves, 3 fills best first")
    rc, so, se = run(exe, "nsp", "--model", out,
                     stdin=json.dumps({"text": "show me flights", "text_pair": "from denver"}) + "\n")
    check(rc == 0 and 0 <= json.loads(so)["is_next"] <= 1, "nsp --model OUT: serves")
    rc, so, se = run(exe, "train", "--task", "mlm-nsp", "--model", BASE, "--data",
                     os.path.join(tmp, "no-corpus.txt"), "--out", out)
    check(rc == 2 and se.count("\n") == 1 and "--data" in se and "no-corpus.txt" in se,
          "train mlm-nsp without its corpus: one line, exit 2")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    a = ap.parse_args()
    exe = os.path.join(a.build, "cli", "bertd")
    tmp = tempfile.mkdtemp(prefix="bertd-cli-train-")
    test_classify(exe, tmp)
    test_joint(exe, tmp)
    test_mlm_nsp(exe, tmp)
    print("%d failed" % len(failures) if failures else "all passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
