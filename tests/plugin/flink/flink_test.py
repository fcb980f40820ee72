#!/usr/bin/env python3
"""bertd inside Apache Flink (plugin/flink/), through the real Flink runtime: each case runs
scripts/flink-enrich.sh, whose job runs on a local Flink MiniCluster in its JVM.

    python3 tests/plugin/flink/flink_test.py CASE --build BUILD_DIR [--records N]

  file   JSONL in, JSONL out: joint (fixture JointBERT, parallelism 2), classify (fixture
         classifier) and embed (MiniLM, BERTD_MODEL_DIR; both parallelism 1) equal `bertd TASK`
         on the same lines (same labels, tags and offsets; scores and embeddings within 1e-5;
         bad lines answered by the same error line); at parallelism 1 byte for byte
  sql    the async SQL functions bertd_joint and bertd_classify over a VALUES table equal
         `bertd joint` / `bertd classify`; the model from a call option and from the job
         configuration; a null text gets an error row
  kafka  a real broker (tests/kafka/broker.sh): N good records (default 10,000) with malformed
         ones between them, enriched by the job at parallelism 2 with a failure injected once in
         the middle (Flink restores from the last checkpoint); a read_committed consumer sees
         every good id exactly once in the output topic, enriched as `bertd joint` says, in
         input-partition order; every malformed record reaches the dead-letter topic once with
         its reason, and the job runs to the end.

Only the standard library (and the project's own tools: bertd, broker.sh, the job's jars).
Exit status 0 when every check passed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
import daemon_test as kt  # noqa: E402  (the broker harness, records and Avro by hand)

FLINK = os.path.join(ROOT, "scripts", "flink-enrich.sh")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "models")
UTTERANCES = os.path.join(ROOT, "tests", "fixtures", "texts", "utterances.jsonl")
check = kt.check


def texts(first, n):
    with open(UTTERANCES, encoding="ascii") as fh:
        all_ = [json.loads(line)["text"] for line in fh if line.strip()]
    return all_[first:first + n]


def same(a, b, tol=1e-5, path=""):
    """None when a and b agree (numbers within tol, everything else exactly), else where not."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return "%s: keys %s vs %s" % (path, sorted(a), sorted(b))
        for k in a:
            d = same(a[k], b[k], tol, path + "." + k)
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return "%s: %d vs %d items" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = same(x, y, tol, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or a is None:
        return None if a == b else "%s: %r vs %r" % (path, a, b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return None if a == b else "%s: %r vs %r" % (path, a, b)
        return None if abs(a - b) <= tol else "%s: %r vs %r" % (path, a, b)
    return None if a == b else "%s: %r vs %r" % (path, a, b)


def run(cmd, timeout, **kw):
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       **kw)
    return p, time.time() - t0


# ---- file ----

def file_lines(tmp):
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(texts(0, 300))]
    lines[10:10] = [
        "",                                   # blank: skipped, counted
        '{"id": "no-text"}',                  # field 'text' is missing
        '{"id": "num", "text": 5}',           # must be a string
        "[1, 2]",                             # not an object
        "this is not json",                   # not valid JSON (message differs: see below)
        '{"text": ""}',                       # empty text: enriched
        '{"text": "nul\\u0000byte and a tab\\t"}',
        json.dumps({"text": " ".join(["flights from boston to denver"] * 80)}),  # truncated
    ]
    path = os.path.join(tmp, "in.jsonl")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def compare_outputs(task, cli_out, flink_out, identical_wanted):
    a = [l for l in cli_out.splitlines()]
    b = [l for l in flink_out.splitlines()]
    check(len(a) == len(b) and len(a) > 0, "%s: %d output lines from flink-enrich, %d from bertd"
          % (task, len(b), len(a)))
    diffs, identical = [], 0
    for i, (x, y) in enumerate(zip(a, b)):
        jx, jy = json.loads(x), json.loads(y)
        identical += x == y
        if "error" in jx and "line" in jx and str(jx["error"]).startswith("not valid JSON"):
            # jansson and Jackson word a parse error differently; the line and kind agree
            if not (jy.get("line") == jx["line"] and str(jy.get("error", "")).startswith(
                    "not valid JSON")):
                diffs.append("line %d: %s vs %s" % (i + 1, x, y))
            continue
        d = same(jx, jy)
        if d:
            diffs.append("line %d %s" % (i + 1, d))
    check(not diffs, "%s: every line equals bertd's (labels, tags, offsets exact; numbers within"
          " 1e-5)%s" % (task, "" if not diffs else ": " + "; ".join(diffs[:3])))
    json_errors = sum(1 for x in a if '"error":"not valid JSON' in x)
    if identical_wanted:
        check(identical == len(a) - json_errors, "%s: at parallelism 1 every line is byte-identical"
              " to bertd's but for the %d not-JSON lines (%d of %d)"
              % (task, json_errors, identical, len(a) - json_errors))
    print("figures: %s %d lines, %d byte-identical to bertd's" % (task, len(a), identical))


def case_file(a):
    tmp = tempfile.mkdtemp(prefix="bertd-flink-file-")
    try:
        file_runs(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def file_runs(a, tmp):
    path = file_lines(tmp)
    bertd = os.path.join(a.build, "cli", "bertd")
    minilm = os.environ.get("BERTD_MODEL_DIR", "")
    # parallelism 2: bertd's length buckets batch, numbers agree within 1e-5; parallelism 1:
    # the job forms the batches `bertd TASK` forms, and the lines are byte-identical
    runs = [("joint", os.path.join(FIXTURES, "joint"), ["--top-k", "3"], 2),
            ("classify", os.path.join(FIXTURES, "seq_cls"), [], 1),
            ("embed", minilm, [], 1)]
    for task, model, flags, par in runs:
        if not os.path.exists(os.path.join(model, "config.json")):
            check(False, "%s: model at hand (BERTD_MODEL_DIR: scripts/fetch-model.sh minilm)" % task)
            continue
        cli, _ = run([bertd, task, "--model", model, "--input", path, *flags], 600)
        fl, secs = run(["bash", FLINK, "--model", model, "--task", task, "--input", path,
                        "--parallelism", str(par), *flags], 600,
                       env=dict(os.environ, BERTD_BUILD_DIR=a.build))
        check(cli.returncode == 1 and fl.returncode == 1,
              "%s: both exit 1 for the bad lines (bertd %d, flink-enrich %d)%s"
              % (task, cli.returncode, fl.returncode,
                 "" if fl.returncode == 1 else ": " + fl.stderr.decode()[-1500:]))
        compare_outputs(task, cli.stdout.decode(), fl.stdout.decode(), par == 1)
        print("figures: %s flink-enrich --input %.1f s (JVM, MiniCluster and job start included)"
              % (task, secs))


# ---- sql ----

def sql_quote(s):
    return "'" + s.replace("'", "''") + "'"


def case_sql(a):
    tmp = tempfile.mkdtemp(prefix="bertd-flink-sql-")
    try:
        sql_run(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sql_run(a, tmp):
    bertd = os.path.join(a.build, "cli", "bertd")
    joint, cls = os.path.join(FIXTURES, "joint"), os.path.join(FIXTURES, "seq_cls")
    ts = texts(300, 40)
    path = os.path.join(tmp, "in.jsonl")
    with open(path, "w") as fh:
        for i, t in enumerate(ts):
            fh.write(json.dumps({"id": i, "text": t}) + "\n")
    want_j = [json.loads(l) for l in run([bertd, "joint", "--model", joint, "--input", path,
                                          "--top-k", "2"], 300)[0].stdout.splitlines()]
    want_c = [json.loads(l) for l in run([bertd, "classify", "--model", cls, "--input", path],
                                         300)[0].stdout.splitlines()]
    rows = ",\n".join("(%d, %s)" % (i, sql_quote(t)) for i, t in enumerate(ts))
    rows += ",\n(%d, CAST(NULL AS STRING))" % len(ts)
    sql = """CREATE FUNCTION bertd_joint AS 'bertd.flink.sql.BertdJoint';
CREATE FUNCTION bertd_classify AS 'bertd.flink.sql.BertdClassify';
SELECT t.id, j.intent, j.intent_score, j.intents, j.slots, j.tags, j.error AS joint_error,
       c.label, c.score, c.labels, c.error AS classify_error
FROM (VALUES %s) AS t(id, text),
     LATERAL TABLE(bertd_joint(t.text, 'model.dir=%s;model.top_k=2')) AS j,
     LATERAL TABLE(bertd_classify(t.text)) AS c
""" % (rows, joint)
    fl, secs = run(["bash", FLINK, "sql",
                    "-D", "pipeline.global-job-parameters=bertd.model.dir:" + cls,
                    "-D", "table.exec.async-table.max-concurrent-operations=32",
                    "-D", "parallelism.default=1", "-e", sql], 600,
                   env=dict(os.environ, BERTD_BUILD_DIR=a.build))
    check(fl.returncode == 0, "the SQL job ran%s" % ("" if fl.returncode == 0 else
                                                     ": " + fl.stderr.decode()[-1500:]))
    got = {r["id"]: r for r in (json.loads(l) for l in fl.stdout.decode().splitlines())}
    check(len(got) == len(ts) + 1, "one row per input row (%d of %d)" % (len(got), len(ts) + 1))
    diffs = []
    for i in range(len(ts)):
        r = got.get(i)
        if r is None:
            diffs.append("row %d missing" % i)
            continue
        j, c = want_j[i], want_c[i]
        mine_j = {"intent": {"label": r["intent"], "score": r["intent_score"]},
                  "intents": r["intents"], "slots": r["slots"], "tags": r["tags"]}
        d = same({k: j[k] for k in mine_j}, mine_j) or same(c["labels"], r["labels"])
        if not d and (r["label"], r["joint_error"], r["classify_error"]) != (
                c["labels"][0]["label"], None, None):
            d = "label/error columns"
        if d:
            diffs.append("row %d %s" % (i, d))
    check(not diffs, "bertd_joint (model from its option) and bertd_classify (model from the job "
          "configuration) equal bertd joint / classify on %d rows%s"
          % (len(ts), "" if not diffs else ": " + "; ".join(diffs[:3])))
    null_row = got.get(len(ts), {})
    check(null_row.get("intent") is None and "NOT_A_STRING" in str(null_row.get("joint_error")),
          "a null text gets a row with its error (%s)" % null_row.get("joint_error"))
    print("figures: sql %d rows in %.1f s (JVM, MiniCluster and job start included)"
          % (len(got), secs))


# ---- kafka ----

def cli_joint(build, tmp, recs, max_length):
    path = os.path.join(tmp, "cli-in.jsonl")
    with open(path, "w") as fh:
        for r in recs:
            fh.write(json.dumps({"id": r["id"], "text": r["text"]}) + "\n")
    out = subprocess.run([os.path.join(build, "cli", "bertd"), "joint", "--model", kt.MODEL,
                          "--input", path, "--max-length", str(max_length)],
                         stdout=subprocess.PIPE, check=True, text=True)
    return {json.loads(l)["id"]: json.loads(l) for l in out.stdout.splitlines()}


def case_kafka(a):
    h = kt.Harness(a.build, "flink")
    try:
        h.start([("in", 2), ("out", 2), ("dlq", 1)])
        nullable = os.path.join(h.tmp, "utterance-nullable.avsc")
        with open(nullable, "w") as fh:
            fh.write(kt.utterance_schema(["null", "string"]))
        good = kt.utterances(a.records)
        long_text = " ".join(["flight"] * 200).encode()
        poison = {  # id -> (bytes, reason)
            "p-not-avro": (b"\xff\xfe this is not avro at all \x00\x01", "NOT_AVRO"),
            "p-truncated": (kt.avro_nullable_utterance("p-truncated", b"show me flights")[:12],
                            "NOT_AVRO"),
            "p-empty": (b"", "NOT_AVRO"),
            "p-null-text": (kt.avro_nullable_utterance("p-null-text", None), "NOT_A_STRING"),
            "p-utf8": (kt.avro_nullable_utterance("p-utf8", b"bad \xc3\x28 utf8 \xff"),
                       "INVALID_UTF8"),
            "p-too-long": (kt.avro_nullable_utterance("p-too-long", long_text), "TOO_LONG"),
        }
        half = len(good) // 2
        h.produce("in", good[:half], schema=nullable)
        h.produce_raw("in", [(k, v) for k, (v, _) in poison.items()])
        h.produce("in", good[half:], schema=nullable)
        inputs = h.consume("in", raw=True)
        where = {r["_key"]: (r["_partition"], r["_offset"]) for r in inputs}
        marker = os.path.join(h.tmp, "failed-once")
        cmd = ["bash", FLINK, "--model", kt.MODEL, "--task", "joint", "--max-length", "128",
               "--on-too-long", "dead_letter", "--brokers", h.bootstrap, "--topic", "in",
               "--output-topic", "out", "--dead-letter-topic", "dlq", "--schema", nullable,
               "--parallelism", "2", "--bounded", "--same-partition", "--checkpoint-ms", "500",
               "--fail-once-after", str(a.records // 4), "--fail-marker", marker]
        fl, secs = run(cmd, a.timeout, env=dict(os.environ, BERTD_BUILD_DIR=a.build))
        err = fl.stderr.decode()
        check(fl.returncode == 0, "the job ran to the end (exit %d)%s" % (
            fl.returncode, "" if fl.returncode == 0 else ": " + err[-2000:]))
        restored = open(marker).read() if os.path.exists(marker) else ""
        check("restored from checkpoint" in restored and "-1" not in restored,
              "the failure was injected once in the middle and the tasks were restored from a "
              "checkpoint (%s)" % " / ".join(restored.split("\n")[:2]))
        lib = os.path.join(a.build, "plugin", "flink", "lib", "*")
        seen = {}
        for iso in ("read_committed", "read_uncommitted"):
            p, _ = run(["java", "-cp", lib, os.path.join(HERE, "ReadCommitted.java"),
                        h.bootstrap, "out", iso], 180)
            seen[iso] = p.stdout.decode().split()
        ids = seen["read_committed"]
        want = {r["id"] for r in good}
        dup = len(ids) - len(set(ids))
        check(set(ids) == want and dup == 0,
              "read_committed: every one of %d good ids exactly once in the output (%d records, "
              "%d repeated, %d missing, %d unexpected)" % (len(want), len(ids), dup,
                                                          len(want - set(ids)),
                                                          len(set(ids) - want)))
        print("figures: read_uncommitted sees %d output records (%d beyond the %d committed: "
              "records of the transaction the failure aborted)"
              % (len(seen["read_uncommitted"]), len(seen["read_uncommitted"]) - len(ids),
                 len(ids)))
        out = h.consume("out", h.enriched_schema(nullable))
        cli = cli_joint(a.build, h.tmp, good, 128)
        bad = [r["id"] for r in out if not kt.same_enrichment(r, cli[r["id"]])]
        check(not bad and len(out) == len(good),
              "every output record is the daemon's enriched record, enriched as `bertd joint` "
              "says (%d differ)" % len(bad))
        b = out[0]["bertd"] if out else {}
        check(b.get("model") == "joint" and len(b.get("model_checksum", "")) > 0
              and b.get("task") == "joint", "model, checksum and task are set (%s)"
              % {k: b.get(k) for k in ("model", "task")})
        order_ok = True
        last = {}
        for r in sorted(out, key=lambda r: (r["_partition"], r["_offset"])):
            p, off = where[r["id"]]
            if p != r["_partition"] or off <= last.get(p, -1):
                order_ok = False
            last[p] = off
        check(order_ok, "each output partition holds its input partition's records in order")
        dl = h.consume("dlq", raw=True)
        got = {}
        for r in dl:
            hd = {x[0] if isinstance(x, list) else k: x[1] if isinstance(x, list) else v
                  for x in (r.get("_headers") or []) for k, v in ([x] if isinstance(x, list)
                                                                   else [(None, None)])}
            got.setdefault(r["_key"], []).append((r, hd))
        for k, (v, reason) in poison.items():
            recs = got.get(k, [])
            okay = len(recs) == 1 and bytes.fromhex(recs[0][0].get("_value_hex", "")) == v
            hdr = recs[0][1] if recs else {}
            check(okay and reason in json.dumps(hdr) and
                  ("in/%d/%d" % where[k]) == "in/%s/%s" % (hdr.get("bertd.source.partition"),
                                                           hdr.get("bertd.source.offset")),
                  "%s: once in the dead-letter topic, original bytes, reason %s, its source "
                  "offset (%d copies, headers %s)" % (k, reason, len(recs), hdr))
        check(len(dl) == len(poison), "nothing else in the dead-letter topic (%d records)"
              % len(dl))
        print("figures: kafka %d good + %d malformed records, parallelism 2, one failure: "
              "%.1f s (JVM, MiniCluster, restart and job start included)"
              % (len(good), len(poison), secs))
        if kt.failures:
            print("--- flink-enrich stderr (last 60 lines) ---")
            print("\n".join(err.splitlines()[-60:]))
    finally:
        h.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["file", "sql", "kafka"])
    ap.add_argument("--build", required=True)
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--timeout", type=int, default=600)
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    {"file": case_file, "sql": case_sql, "kafka": case_kafka}[a.case](a)
    print("%d passed, %d failed" % (len(kt.passed), len(kt.failures)))
    sys.exit(1 if kt.failures else 0)


if __name__ == "__main__":
    main()
