#!/usr/bin/env python3
"""produce, consume and run through the `bertd` binary against a real broker
(tests/kafka/broker.sh, started and stopped here); schema without one.

    python3 tests/cli/cli_kafka_test.py --build BUILD_DIR

produce: JSONL records (texts with escaped NULs among them) go to a topic as Avro; a bad line in
the middle is reported as FILE:LINE and skipped, the rest are sent, exit 1; --strict sends
nothing. consume: the records come back as they were written, NULs included. run: the tiny
JointBERT checkpoint enriches them; each enriched record holds what transformers computed
(tests/fixtures/cli/expected.json, joint, argmax decoding) and, for the NUL texts, what
`bertd joint` prints for the same text. Bad flags, missing files and a bad config: one line,
exit 2. Only the standard library.
"""
import argparse
import json
import re
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
import daemon_test as kt  # noqa: E402  (its broker harness: tests/kafka/broker.sh)

SCHEMA = os.path.join(ROOT, "schemas", "utterance.avsc")
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
EXPECTED = os.path.join(ROOT, "tests", "fixtures", "cli", "expected.json")
check = kt.check


def run(exe, *args, stdin=None, timeout=120):
    p = subprocess.run([exe, *args], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def unwrap(v):
    return kt.unwrap(v)


def test_schema(exe, tmp):
    rc, out, err = run(exe, "schema", "enrich", SCHEMA)
    s = json.loads(out) if rc == 0 else {}
    names = [f["name"] for f in s.get("fields", [])]
    want = [f["name"] for f in json.load(open(SCHEMA))["fields"]] + ["bertd"]
    check(rc == 0 and names == want, "schema enrich: the input's fields, then bertd (%s)" % names)
    rc, out, err = run(exe, "schema", "enrich", "/nonexistent.avsc")
    check(rc == 2 and err.count("\n") == 1 and "/nonexistent.avsc" in err, "schema enrich /nonexistent.avsc: one line, exit 2")
    bad = os.path.join(tmp, "bad.avsc")
    with open(bad, "w") as f:
        f.write('{"type": "record",\n "name": \n')
    rc, out, err = run(exe, "schema", "enrich", bad)
    check(rc == 2 and err.count("\n") == 1 and bad + ": line" in err, "schema enrich: malformed JSON named with its line (%s)" % err.strip())
    rc, out, err = run(exe, "schema", "merge", SCHEMA)
    check(rc == 2 and out == "", "schema merge: exit 2")


def test_flags(exe):
    for cmd in ("produce", "consume"):
        for args, word in ((["--bogus"], "--bogus"),
                           (["--brokers", "127.0.0.1:9", "--topic", "t"], "--schema"),
                           (["--brokers", "127.0.0.1:9", "--topic", "t", "--schema", "/nonexistent.avsc"],
                            "--schema /nonexistent.avsc: No such file")):
            rc, out, err = run(exe, cmd, *args)
            check(rc == 2 and err.count("\n") == 1 and word in err,
                  "%s %s: one line naming it, exit 2 (%s)" % (cmd, word, err.strip()))
    rc, out, err = run(exe, "produce", "--brokers", "127.0.0.1:9", "--topic", "t", "--schema",
                       SCHEMA, "--input", "/nonexistent.jsonl")
    check(rc == 2 and err == "bertd produce: --input /nonexistent.jsonl: No such file or directory\n",
          "produce --input /nonexistent.jsonl: one line, exit 2")
    rc, out, err = run(exe, "consume", "--brokers", "127.0.0.1:9", "--topic", "t", "--schema",
                       SCHEMA, "--count", "x")
    check(rc == 2 and err.count("\n") == 1 and "--count" in err, "consume --count x: one line, exit 2")
    for args, word in ((["--bogus"], "--bogus"), (["-c"], "-c"), ([], "-c CONFIG"),
                       (["-c", "/nonexistent.yaml"], "/nonexistent.yaml"),
                       (["-c", "x", "--max-in-flight", "lots"], "--max-in-flight")):
        rc, out, err = run(exe, "run", *args)
        check(rc == 2 and err.count("\n") == 1 and word in err,
              "run %s: one line naming it, exit 2 (%s)" % (" ".join(args), err.strip()))


def config(h, path, model, extra=""):
    with open(path, "w") as f:
        f.write("""kafka:
  bootstrap.servers: %s
  group.id: cli-test
pipelines:
  - name: cli
    input: { topics: [utt], schema: %s, text_field: text }
    output: { topic: utt.out }
    dead_letter: { topic: utt.dlq }
    model: { dir: %s, task: joint, max_length: 64, tag_decoding: argmax%s }
""" % (h.bootstrap, SCHEMA, model, extra))


def test_kafka(exe, build):
    h = kt.Harness(build, "cli")
    try:
        h.start([("utt", 1), ("utt.out", 1), ("utt.dlq", 1), ("strict", 1)])
        joint = next(c for c in json.load(open(EXPECTED))["cases"] if c["command"] == "joint")
        texts = [json.loads(l)["text"] for l in joint["lines"]]
        nul_texts = ["nul\u0000byte to boston", "\u0000show me flights\u0000"]
        recs = [{"id": "r%d" % i, "text": t} for i, t in enumerate(texts + nul_texts)]
        lines = [json.dumps(r) for r in recs[:2]] + ['{"id": "bad", "text": ', '{"id": "notext"}'] + \
                [json.dumps(r) for r in recs[2:]]
        path = os.path.join(h.tmp, "in.jsonl")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        prod = ["--brokers", h.bootstrap, "--schema", SCHEMA, "--key-field", "id", "--input", path]
        rc, out, err = run(exe, "produce", "--topic", "strict", "--strict", *prod)
        check(rc == 1 and out == "" and "%s:3:" % path in err and "nothing sent" in err,
              "produce --strict: line 3 named, nothing sent, exit 1 (%s)" % err.strip().replace("\n", " | "))
        rc, out, err = run(exe, "produce", "--topic", "utt", *prod)
        # (librdkafka's own messages, written as bertd log lines "... bertd[pid] warn: kafka ...",
        # come and go with the broker's state)
        errs = [l for l in err.splitlines() if not re.match(r"\S+Z bertd\[\d+\] \w+: kafka ", l)]
        check(rc == 1 and out.strip() == "4" and len(errs) == 3 and "%s:3: not valid JSON" % path in errs[0]
              and "%s:4:" % path in errs[1] and "text" in errs[1] and errs[2] == "bertd produce: 2 bad lines skipped",
              "produce: the 4 good lines sent, lines 3 and 4 named, exit 1 (%s)" % " | ".join(errs))
        rc, out, err = run(exe, "consume", "--brokers", h.bootstrap, "--topic", "utt", "--schema",
                           SCHEMA, "--from-beginning", "--until-eof")
        got = [json.loads(l) for l in out.splitlines()]
        check(rc == 0 and [(r["id"], r["text"]) for r in got] == [(r["id"], r["text"]) for r in recs]
              and all(r["_key"] == r["id"] for r in got),
              "consume: the records as produced, in order, NULs kept (%d)" % len(got))
        rc, out, err = run(exe, "consume", "--brokers", h.bootstrap, "--topic", "utt", "--schema",
                           SCHEMA, "--from-beginning", "--count", "2")
        check(rc == 0 and len(out.splitlines()) == 2, "consume --count 2: two records")
        # run: a bad config is one line, exit 2
        bad = os.path.join(h.tmp, "bad.yaml")
        config(h, bad, "/nonexistent/model")
        rc, out, err = run(exe, "run", "-c", bad)
        check(rc == 2 and err.count("\n") == 1 and "/nonexistent/model" in err,
              "run with a model dir that does not exist: one line, exit 2 (%s)" % err.strip())
        config(h, bad, os.path.join(MODELS, "joint"), ", no_such_key: 1")
        rc, out, err = run(exe, "run", "-c", bad)
        check(rc == 2 and err.count("\n") == 1 and "no_such_key" in err and bad in err,
              "run with an unknown key: one line naming file and key, exit 2 (%s)" % err.strip())
        # run: the records enriched
        cfg = os.path.join(h.tmp, "bertd.yaml")
        config(h, cfg, os.path.join(MODELS, "joint"))
        h.run_daemon(cfg, stats_ms=500)
        outs = h.wait_output("utt.out", {r["id"] for r in recs}, 90)
        rc = h.stop_daemon()
        check(rc == 0, "run: exits 0 on SIGTERM (rc %s)" % rc)
        by_id = {r["id"]: r for r in outs}
        check(set(by_id) == {r["id"] for r in recs}, "run: every record enriched (%d)" % len(by_id))
        for r, want in zip(recs[:2], joint["expected"]):
            b = by_id.get(r["id"], {}).get("bertd", {})
            intent = unwrap(b.get("intent")) or {}
            slots = [(s["slot"], s["text"], s["start"], s["end"]) for s in b.get("slots", [])]
            ok = (intent.get("label") == want["intents"][0]["label"]
                  and abs(intent.get("score", -1) - want["intents"][0]["score"]) < 2e-4
                  and b.get("tags") == want["tags"]
                  and slots == [(s["slot"], s["text"], s["start"], s["end"]) for s in want["slots"]])
            check(ok, "run: %s enriched as transformers (intent, tags, slots)" % r["id"])
            if not ok:
                print("     got %s\n     want %s" % (json.dumps(b)[:300], json.dumps(want)[:300]))
        cli_out = run(exe, "joint", "--model", os.path.join(MODELS, "joint"), "--max-length", "64",
                      "--tag-decoding", "argmax",
                      stdin="".join(json.dumps(r) + "\n" for r in recs[2:]))[1].splitlines()
        for r, c in zip(recs[2:], cli_out):
            b, c = by_id.get(r["id"], {}).get("bertd", {}), json.loads(c)
            check(by_id.get(r["id"], {}).get("text") == r["text"] and b.get("tags") == c["tags"]
                  and len(c["tags"]) == len(r["text"].split())
                  and abs(unwrap(b.get("intent"))["score"] - c["intent"]["score"]) < 1e-5,
                  "run: an Avro text with NULs (%r) enriched in full, as `bertd joint` does" % r["text"])
    finally:
        h.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--no-broker", action="store_true", help="only what needs no broker")
    a = ap.parse_args()
    exe = os.path.join(a.build, "cli", "bertd")
    tmp = __import__("tempfile").mkdtemp(prefix="bertd-cli-kafka-")
    test_schema(exe, tmp)
    test_flags(exe)
    if not a.no_broker:
        test_kafka(exe, a.build)
    print("%d failed" % len(kt.failures) if kt.failures else "all passed")
    sys.exit(1 if kt.failures else 0)


if __name__ == "__main__":
    main()
