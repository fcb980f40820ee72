#!/usr/bin/env python3
"""`bertd replay` through the binary against a real broker (tests/kafka/broker.sh, started and
stopped here); its flag errors without one.

    python3 tests/cli/cli_replay_test.py --build BUILD_DIR [--no-broker]

The labelled fixture topic (tests/fixtures/replay/records.jsonl, made with its reference by
tools/reference/make_replay_fixtures.py) is produced with `bertd produce`, then two records that
are not Avro. Replays of it, classify (tests/fixtures/models/seq_cls against the fixture's
seq_cls_b) and joint (models/joint against joint_b), must give every metric the reference
computed with scikit-learn, seqeval, numpy and scipy on transformers' predictions: accuracy,
macro / micro / weighted F1, per-class P/R/F1 and support, the confusion matrix, ECE, the
out-of-scope sweep, slot F1, sentence accuracy, exact McNemar and the paired-bootstrap
intervals (same seed, same resamples). The daemon enriches the topic; `--stored` on its output
gives the joint numbers again; its group's committed offsets are the same before and after
every replay. Gold from a side JSONL file equals gold from the fields; ranges by offset and
time; --output-topic; bad ranges are one line and exit 2. The HTML report holds the numbers and
every plot renders in headless Chromium without a console error (that part is skipped, and
says so, when no Chromium is installed). Only the standard library.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
import daemon_test as kt  # noqa: E402  (its broker harness: tests/kafka/broker.sh)

FIX = os.path.join(ROOT, "tests", "fixtures", "replay")
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
SCHEMA = os.path.join(FIX, "labelled.avsc")
RECORDS = os.path.join(FIX, "records.jsonl")
REF = json.load(open(os.path.join(FIX, "reference.json")))
check = kt.check
TOL = 1e-9      # metrics from counts: exact up to float rounding
TOL_CONF = 2e-6  # ECE: bertd's scores are printed to 8 significant digits


def run(exe, *args, timeout=300):
    p = subprocess.run([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def close(a, b, tol=TOL):
    if isinstance(a, dict) and isinstance(b, dict):
        return all(k in a and close(a[k], b[k], tol) for k in b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= tol
    return a == b


def errors_only(err):
    """stderr less librdkafka's own log lines (they come and go with the broker's state)."""
    return [l for l in err.splitlines() if not re.match(r"\S+Z bertd\[\d+\] \w+: kafka ", l)]


def test_flags(exe, tmp):
    base = ["--brokers", "127.0.0.1:9", "--topic", "t", "--schema", SCHEMA, "--task", "classify",
            "--model", os.path.join(MODELS, "seq_cls")]
    cases = [
        (["--bogus"], "--bogus"),
        (base[:4], "--schema"),
        (base[:6] + ["--model", base[-1]], "--task"),
        (base[:8], "--model DIR"),
        (base[:6] + ["--task", "qa", "--model", base[-1]], "--task qa"),
        (base + ["--from", "x"], "--from"),
        (base + ["--from", "1", "--from-time", "2026-01-01T00:00:00Z"], "--from-time"),
        (base + ["--to-time", "yesterday"], "--to-time yesterday"),
        (base + ["--partition", "-1"], "--partition"),
        (base + ["--tag-decoding", "viterbi"], "--tag-decoding"),
        (base + ["--gold-key", "id"], "--gold-key"),
        (base + ["--stored", "--model-b", base[-1]], "--stored"),
        (base[:8] + ["--model", "/nonexistent/model"], "/nonexistent/model"),
        (base[:4] + ["--schema", "/nonexistent.avsc"] + base[6:], "/nonexistent.avsc"),
        (base + ["--gold-file", "/nonexistent.jsonl"], "/nonexistent.jsonl"),
        (base + ["-X", "nonsense"], "-X nonsense"),
        (["-c", "x.yaml"], "-c"),
        (["-c", "/nonexistent.yaml", "--pipeline", "p"], "/nonexistent.yaml"),
    ]
    for args, word in cases:
        rc, out, err = run(exe, "replay", *args)
        check(rc == 2 and err.count("\n") == 1 and word in err and out == "",
              "replay %s: one line naming %s, exit 2 (%s)" % (" ".join(args[-2:]), word,
                                                              err.strip()))
    cfg = os.path.join(tmp, "bertd.yaml")
    with open(cfg, "w") as f:
        f.write("kafka: { bootstrap.servers: 127.0.0.1:9, group.id: g }\npipelines:\n  - name: p\n"
                "    input: { topics: [t], schema: %s, text_field: text }\n"
                "    output: { topic: o }\n    dead_letter: { topic: d }\n"
                "    model: { dir: %s, task: joint }\n" % (SCHEMA, os.path.join(MODELS, "joint")))
    for args, word in ((["--pipeline", "nope"], "--pipeline nope"),
                       (["--pipeline", "p", "--task", "classify"], "model.task is joint")):
        rc, out, err = run(exe, "replay", "-c", cfg, *args)
        check(rc == 2 and err.count("\n") == 1 and word in err,
              "replay -c %s: one line naming it, exit 2 (%s)" % (" ".join(args), err.strip()))
    rc, out, err = run(exe, "replay", "--help")
    check(rc == 0 and "--gold-label" in out and "--model-b" in out, "replay --help: usage, exit 0")


def config(h, path, group):
    with open(path, "w") as f:
        f.write("""kafka:
  bootstrap.servers: %s
  group.id: %s
pipelines:
  - name: replayed
    input: { topics: [lab], schema: %s, text_field: text }
    output: { topic: lab.out }
    dead_letter: { topic: lab.dlq }
    model: { dir: %s, task: joint, max_length: 64, tag_decoding: argmax }
""" % (h.bootstrap, group, SCHEMA, os.path.join(MODELS, "joint")))


def offsets(h, tool, group):
    p = subprocess.run([tool, h.bootstrap, group, "lab", "1"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    return p.stdout.strip() if p.returncode == 0 else "error: " + p.stderr.strip()


def replay(exe, h, *args):
    rep = os.path.join(h.tmp, "report-%d.json" % time.monotonic_ns())
    rc, out, err = run(exe, "replay", "--brokers", h.bootstrap, "--schema", SCHEMA,
                       "--text-field", "text", "--report-json", rep, *args)
    r = json.load(open(rep)) if rc == 0 and os.path.exists(rep) else {}
    if rc != 0:
        print("     replay %s: rc %d: %s" % (" ".join(args), rc, " | ".join(errors_only(err))))
    return rc, r, out, err


def same_metrics(got, want, what, fields, tol=TOL):
    for k in fields:
        if k not in want:
            continue
        t = TOL_CONF if k in ("ece", "oos") else tol
        ok = k in got and close(got[k], want[k], t)
        check(ok, "%s: %s as the reference" % (what, k))
        if not ok:
            print("     got  %s\n     want %s" % (json.dumps(got.get(k))[:400],
                                                 json.dumps(want[k])[:400]))


CLASS_FIELDS = ["labelled", "accuracy", "macro_f1", "micro_f1", "weighted_f1", "per_class",
                "confusion", "ece", "oos"]
JOINT_FIELDS = CLASS_FIELDS + ["slot_f1", "sentence_accuracy"]


def test_classify(exe, h, html):
    ref = REF["classify"]
    rc, r, out, err = replay(exe, h, "--topic", "lab", "--task", "classify",
                             "--model", os.path.join(MODELS, "seq_cls"),
                             "--model-b", os.path.join(FIX, "models", "seq_cls_b"),
                             "--gold-label", "label", "--oos-label", REF["oos_label"],
                             "--seed", str(REF["seed"]), "--report-html", html,
                             "--predictions", html + ".jsonl")
    check(rc == 0, "replay classify A/B: exit 0")
    preds = [json.loads(l) for l in open(html + ".jsonl")] if rc == 0 else []
    check([(p["offset"], p["a"]["label"], p["b"]["label"]) for p in preds] ==
          list(zip(range(ref["records"]), ref["predictions_a"], ref["predictions_b"])),
          "replay --predictions: every decoded record's predictions, labelled or not, as "
          "transformers' (%d lines)" % len(preds))
    check(sum(p["gold"] == "none" for p in preds) == ref["unlabelled"] and
          sum(p["gold"] == "unknown" and p["gold_label"] == "refund" for p in preds) ==
          ref["unknown_gold"], "replay --predictions: unlabelled and unknown gold marked")
    check(r.get("records") == ref["records"] + 2 and r.get("undecodable") == 2
          and r.get("unlabelled") == ref["unlabelled"]
          and r.get("unknown_gold", {}).get("count") == ref["unknown_gold"]
          and r.get("unknown_gold", {}).get("labels") == {"refund": ref["unknown_gold"]},
          "replay classify: %s records + 2 undecodable, %s unlabelled, %s gold labels the model "
          "does not know, named (%s)" % (ref["records"], ref["unlabelled"], ref["unknown_gold"],
                                         {k: r.get(k) for k in ("records", "undecodable",
                                                                "unlabelled", "unknown_gold")}))
    bad = r.get("undecodable_records", [])
    check([(b["partition"], b["offset"], b["reason"]) for b in bad] ==
          [(0, ref["records"], "NOT_AVRO"), (0, ref["records"] + 1, "NOT_AVRO")],
          "replay: the undecodable records listed with partition, offset and reason (%s)" % bad)
    same_metrics(r, ref["a"], "replay classify A", CLASS_FIELDS)
    same_metrics(r.get("b", {}), ref["b"], "replay classify B", CLASS_FIELDS)
    cmp_ = r.get("comparison", {})
    check(cmp_.get("seed") == REF["seed"] and cmp_.get("bootstrap_rounds") == REF["bootstrap_rounds"],
          "replay classify: the bootstrap's seed and rounds reported")
    same_metrics(cmp_, ref["comparison"], "replay classify A/B", ["mcnemar", "macro_f1"])
    changed = [i for i, (a, b) in enumerate(zip(ref["predictions_a"], ref["predictions_b"]))
               if a != b]
    got = cmp_.get("changed", [])
    texts = [json.loads(l)["text"] for l in open(RECORDS)]
    check(cmp_.get("records_changed") == len(changed)
          and [(c["partition"], c["offset"], c["text"], c["a"], c["b"]) for c in got] ==
          [(0, i, texts[i], ref["predictions_a"][i], ref["predictions_b"][i])
           for i in changed][:len(got)] and len(got) == min(len(changed), 200),
          "replay classify: the %d records whose prediction changed, with partition, offset, "
          "text, A and B" % len(changed))
    # an independent computation on `bertd classify`'s predictions for the same texts
    p = subprocess.run([exe, "classify", "--model", os.path.join(MODELS, "seq_cls")],
                       input="".join(json.dumps({"text": t}) + "\n" for t in texts),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    preds = [json.loads(l)["labels"][0]["label"] for l in p.stdout.splitlines()]
    golds = [json.loads(l)["label"] for l in open(RECORDS)]
    pairs = [(g, q) for g, q in zip(golds, preds) if g in ("negative", "neutral", "positive")]
    acc = sum(g == q for g, q in pairs) / len(pairs)
    f1s = []
    for c in sorted({g for g, _ in pairs} | {q for _, q in pairs}):
        tp = sum(g == c and q == c for g, q in pairs)
        gold_n, pred_n = sum(g == c for g, _ in pairs), sum(q == c for _, q in pairs)
        f1s.append(2 * tp / (gold_n + pred_n) if gold_n + pred_n else 0.0)
    check(p.returncode == 0 and len(preds) == len(texts) and close(r.get("accuracy"), acc)
          and close(r.get("macro_f1"), sum(f1s) / len(f1s)),
          "replay classify: accuracy %.4f and macro F1 %.4f as computed from `bertd classify`'s "
          "predictions" % (acc, sum(f1s) / len(f1s)))
    check(r.get("latency_ms", {}).get("count") == ref["records"] and
          r["latency_ms"]["p50"] <= r["latency_ms"]["p90"] <= r["latency_ms"]["p99"]
          and r.get("records_per_s", 0) > 0,
          "replay classify: latency percentiles over every record, records/s")
    return r


def test_joint(exe, h, extra=(), what="replay joint A/B"):
    ref = REF["joint"]
    rc, r, out, err = replay(exe, h, "--topic", "lab", "--task", "joint",
                             "--model", os.path.join(MODELS, "joint"),
                             "--model-b", os.path.join(FIX, "models", "joint_b"),
                             "--gold-intent", "intent", "--gold-slots", "slots",
                             "--tag-decoding", "argmax", "--max-length", "64",
                             "--seed", str(REF["seed"]), *extra)
    check(rc == 0, "%s: exit 0" % what)
    same_metrics(r, ref["a"], what + " (A)", JOINT_FIELDS)
    same_metrics(r.get("b", {}), ref["b"], what + " (B)", JOINT_FIELDS)
    same_metrics(r.get("comparison", {}), ref["comparison"], what, ["mcnemar", "macro_f1",
                                                                    "slot_f1"])
    return r


def test_html(html, r):
    doc = open(html, encoding="utf-8").read() if os.path.exists(html) else ""
    ext = re.findall(r'(?:src|href)\s*=\s*"[^"#]', doc) + re.findall(r"url\(", doc)
    plots = re.findall(r'data-plot="(\w+)"', doc)
    check(doc.startswith("<!DOCTYPE html>") and not ext and "<script" not in doc,
          "HTML report: one self-contained file, no external resource (%s)" % ext)
    check(sorted(set(plots)) == ["confusion", "f1", "latency", "reliability"],
          "HTML report: confusion heatmap, per-class F1, reliability and latency plots (%s)" % plots)
    want = ["%.4f" % r["accuracy"], "%.4f" % r["macro_f1"], "%.4f" % r["b"]["accuracy"],
            "%.4f" % r["ece"], "p = %.4g" % r["comparison"]["mcnemar"]["p_value"],
            "seed %d" % REF["seed"], "%+.4f" % r["comparison"]["macro_f1"]["diff"]]
    missing = [w for w in want if w not in doc]
    check(not missing, "HTML report: shows accuracy, macro F1 (A and B), ECE, McNemar's p, the "
          "bootstrap interval and seed (missing: %s)" % missing)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def test_browser(html, tmp):
    exe = chromium()
    if not exe:
        print("skip HTML report in a browser: no chromium installed "
              "(scripts/install-deps.sh installs Debian's)")
        return
    # the report has no script of its own: a copy gets one that measures every plot once the
    # page is laid out and writes the answer into the DOM, which --dump-dom prints
    probe = os.path.join(tmp, "probe.html")
    doc = open(html, encoding="utf-8").read()
    js = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
window.addEventListener('load', function () {
  var out = [];
  document.querySelectorAll('svg.plot').forEach(function (s) {
    var b = s.getBoundingClientRect(), shapes = s.querySelectorAll('rect,line,text').length;
    var drawn = 0;
    s.querySelectorAll('rect').forEach(function (r) { var q = r.getBBox(); if (q.width > 0 && q.height > 0) drawn++; });
    out.push(s.getAttribute('data-plot') + ':' + Math.round(b.width) + 'x' + Math.round(b.height) + ':' + shapes + ':' + drawn);
  });
  var p = document.createElement('pre'); p.id = '__probe';
  p.textContent = JSON.stringify({plots: out, errors: window.__errors});
  document.body.appendChild(p);
});
</script>"""
    with open(probe, "w", encoding="utf-8") as fh:
        fh.write(doc.replace("</body>", js + "</body>"))
    prof = tempfile.mkdtemp(prefix="bertd-chromium-", dir=tmp)
    p = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                        "--user-data-dir=" + prof, "--enable-logging=stderr", "--v=0",
                        "--virtual-time-budget=5000", "--dump-dom", "file://" + probe],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    m = re.search(r'<pre id="__probe">(.*?)</pre>', p.stdout, re.S)
    res = json.loads(m.group(1).replace("&quot;", '"')) if m else {}
    console = [l for l in p.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
    check(m is not None and not res.get("errors") and not console,
          "HTML report in headless Chromium: loads without a console error (%s %s)"
          % (res.get("errors"), console[:3]))
    plots = {}
    for s in res.get("plots", []):
        name, size, shapes, drawn = s.split(":")
        w, hh = size.split("x")
        plots.setdefault(name, []).append(int(w) > 0 and int(hh) > 0 and int(shapes) > 0
                                          and int(drawn) > 0)
    check(len(res.get("plots", [])) >= 5 and
          set(plots) == {"confusion", "f1", "latency", "reliability"} and
          all(all(v) for v in plots.values()),
          "HTML report in headless Chromium: every plot laid out with shapes drawn (%s)"
          % res.get("plots"))


def test_kafka(exe, build):
    h = kt.Harness(build, "replay")
    tool = os.path.join(build, "tests", "cli_group_offsets_tool")
    try:
        h.start([("lab", 1), ("lab.out", 1), ("lab.dlq", 1), ("empty", 1), ("lab.replayed", 1),
                 ("lab.cf", 1), ("lab3", 3)])
        recs = [json.loads(l) for l in open(RECORDS)]
        t0 = int(time.time() * 1000)
        h.produce("lab", recs, schema=SCHEMA)
        h.produce_raw("lab", [("bad1", b"\xff\xfe\xfd"), ("bad2", b"\x02")])
        # the daemon's group: it enriches the topic and commits; a replay must not move that
        group = "replay-test-daemon"
        cfg = os.path.join(h.tmp, "bertd.yaml")
        config(h, cfg, group)
        h.run_daemon(cfg, stats_ms=500)
        enriched = h.enriched_schema(SCHEMA)
        outs = h.wait_output("lab.out", {r["id"] for r in recs}, 120, schema=enriched)
        check(h.stop_daemon() == 0 and len(outs) == len(recs),
              "daemon: the fixture topic enriched (%d records)" % len(outs))
        before = offsets(h, tool, group)
        check(before == "0 %d" % (len(recs) + 2),
              "daemon: its group committed the end of the topic (%s)" % before)

        html = os.path.join(h.tmp, "report.html")
        r = test_classify(exe, h, html)
        test_html(html, r)
        test_browser(html, h.tmp)
        test_joint(exe, h)
        # tag: span F1 of the token classifier against the entities (character spans or tags)
        rc, t, out, err = replay(exe, h, "--topic", "lab", "--task", "tag", "--model",
                                 os.path.join(MODELS, "token_cls"), "--gold-slots", "entities",
                                 "--tag-decoding", "argmax")
        check(rc == 0 and t.get("labelled") == REF["tag"]["labelled"] and
              close(t.get("slot_f1"), REF["tag"]["slot_f1"]),
              "replay --task tag: span F1 %s over %s records as seqeval's (%s)" % (
                  REF["tag"]["slot_f1"], REF["tag"]["labelled"], t.get("slot_f1")))
        # the same through the daemon's own config: its pipeline's topic, schema, model and
        # model settings (max_length 64, argmax), model B with the same settings
        test_joint(exe, h, ("-c", cfg, "--pipeline", "replayed"), "replay -c CONFIG --pipeline")

        # --stored: the daemon's own predictions, scored without a model
        ref = REF["joint"]
        rc, s, out, err = replay(exe, h, "--topic", "lab.out", "--task", "joint", "--stored",
                                 "--model", os.path.join(MODELS, "joint"),
                                 "--gold-intent", "intent", "--gold-slots", "slots")
        check(rc == 0 and s.get("stored") is True and s.get("model") == "joint",
              "replay --stored of the daemon's output: exit 0, the model named from the records")
        same_metrics(s, ref["a"], "replay --stored (the daemon's joint predictions)",
                     JOINT_FIELDS)
        rc, s, out, err = replay(exe, h, "-c", cfg, "--pipeline", "replayed", "--stored",
                                 "--gold-intent", "intent", "--gold-slots", "slots")
        check(rc == 0 and s.get("topic") == "lab.out" and s.get("stored") is True,
              "replay -c CONFIG --pipeline --stored: the pipeline's output topic")
        same_metrics(s, ref["a"], "replay -c --stored", ["accuracy", "macro_f1", "slot_f1",
                                                         "sentence_accuracy"])

        # gold from a side file keyed by the record key equals gold from the fields
        gold = os.path.join(h.tmp, "gold.jsonl")
        with open(gold, "w") as fh:
            for x in recs:
                fh.write(json.dumps({"key": x["id"], "id": x["id"], "gold": x["label"]}) + "\n")
        rc, g, out, err = replay(exe, h, "--topic", "lab", "--task", "classify", "--model",
                                 os.path.join(MODELS, "seq_cls"), "--gold-file", gold,
                                 "--gold-label", "gold", "--oos-label", REF["oos_label"])
        same_metrics(g, REF["classify"]["a"], "replay --gold-file (by record key)", CLASS_FIELDS)
        rc, g2, out, err = replay(exe, h, "--topic", "lab", "--task", "classify", "--model",
                                  os.path.join(MODELS, "seq_cls"), "--gold-file", gold,
                                  "--gold-key", "id", "--gold-label", "gold")
        check(rc == 0 and close(g2.get("accuracy"), REF["classify"]["a"]["accuracy"]) and
              close(g2.get("macro_f1"), REF["classify"]["a"]["macro_f1"]),
              "replay --gold-file --gold-key id (by a record field): the same accuracy, macro F1")

        # progress on a terminal: records of the range, records/s, ETA; nothing otherwise
        master, slave = os.openpty()
        p = subprocess.Popen([exe, "replay", "--brokers", h.bootstrap, "--schema", SCHEMA,
                              "--topic", "lab", "--task", "classify", "--model",
                              os.path.join(MODELS, "seq_cls"), "--report-json",
                              os.path.join(h.tmp, "tty.json")], stdout=subprocess.DEVNULL,
                             stderr=slave)
        os.close(slave)
        tty = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            tty += chunk
        p.wait()
        os.close(master)
        last = tty.decode(errors="replace").replace("\r", "\n").strip().splitlines()
        last = [l for l in last if l.startswith("replay:")]
        check(p.returncode == 0 and last and re.match(
            r"replay: %d / %d records, \d+ records/s, ETA \d+ s" % (len(recs) + 2, len(recs) + 2),
            last[-1]), "replay on a terminal: progress ends at every record of the range (%s)"
              % (last[-1] if last else tty[-200:]))
        check("replay:" not in err, "replay not on a terminal: no progress lines")

        # ranges
        rc, g, out, err = replay(exe, h, "--topic", "lab", "--task", "classify", "--model",
                                 os.path.join(MODELS, "seq_cls"), "--gold-label", "label",
                                 "--from", "10", "--to", "30", "--partition", "0")
        check(rc == 0 and g.get("records") == 20 and g.get("ranges") ==
              [{"partition": 0, "from": 10, "to": 30}],
              "replay --from 10 --to 30: records 10..29 (%s)" % g.get("records"))
        rc, g, out, err = replay(exe, h, "--topic", "lab", "--task", "classify", "--model",
                                 os.path.join(MODELS, "seq_cls"), "--from-time",
                                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 / 1000 - 60)),
                                 "--to-time", time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                            time.gmtime(time.time() + 3600)))
        check(rc == 0 and g.get("records") == len(recs) + 2,
              "replay --from-time a minute before the records --to-time in an hour: all of them "
              "(%s)" % g.get("records"))
        for args, word in ((["--topic", "nosuchtopic"], "nosuchtopic"),
                           (["--topic", "lab", "--partition", "3"], "partition 3"),
                           (["--topic", "lab", "--from", "100000"], "past the end"),
                           (["--topic", "empty"], "empty"),
                           (["--topic", "lab", "--from-time", "2099-01-01T00:00:00Z"], "empty"),
                           (["--topic", "lab", "--to", "0"], "empty"),
                           (["--topic", "lab", "--to-time", "2000-01-01T00:00:00Z"], "empty")):
            rc, g, out, err = replay(exe, h, "--task", "classify", "--model",
                                     os.path.join(MODELS, "seq_cls"), *args)
            errs = errors_only(err)
            check(rc == 2 and len(errs) == 1 and word in errs[0],
                  "replay %s: one line naming it, exit 2 (%s)" % (" ".join(args), errs))

        # --output-topic: model A's enriched records, the daemon's format
        rc, g, out, err = replay(exe, h, "--topic", "lab", "--task", "joint", "--model",
                                 os.path.join(MODELS, "joint"), "--tag-decoding", "argmax",
                                 "--max-length", "64", "--output-topic", "lab.replayed")
        got = h.consume("lab.replayed", enriched)
        by_id = {x["id"]: x for x in outs}
        same = [x for x in got if x["id"] in by_id and
                kt.unwrap(x["bertd"]["intent"])["label"] ==
                kt.unwrap(by_id[x["id"]]["bertd"]["intent"])["label"] and
                x["bertd"]["tags"] == by_id[x["id"]]["bertd"]["tags"]]
        check(rc == 0 and g.get("produced", {}).get("records") == len(recs) and
              len(got) == len(recs) and len(same) == len(recs),
              "replay --output-topic: %d enriched records, the daemon's predictions (%d same)"
              % (len(got), len(same)))

        # three partitions: every partition read to its end, metrics as on one partition
        h.produce("lab3", recs, schema=SCHEMA)
        rc, g, out, err = replay(exe, h, "--topic", "lab3", "--task", "classify", "--model",
                                 os.path.join(MODELS, "seq_cls"), "--gold-label", "label",
                                 "--oos-label", REF["oos_label"])
        ends = [x["to"] for x in g.get("ranges", [])]
        check(rc == 0 and g.get("records") == len(recs) and len(ends) == 3 and sum(ends) ==
              len(recs), "replay of a 3-partition topic: every partition to its end (%s)" % ends)
        same_metrics(g, REF["classify"]["a"], "replay of 3 partitions",
                     ["labelled", "accuracy", "macro_f1", "per_class", "confusion", "ece"])
        rc, g1, out, err = replay(exe, h, "--topic", "lab3", "--partition", "1", "--task",
                                  "classify", "--model", os.path.join(MODELS, "seq_cls"))
        check(rc == 0 and len(ends) == 3 and g1.get("records") == ends[1] and
              g1.get("ranges") == [{"partition": 1, "from": 0, "to": ends[1]}],
              "replay --partition 1: that partition alone (%s records)" % g1.get("records"))

        # Confluent framing: writer schemas by id from a Schema Registry, as the daemon reads them
        reg = kt.Registry(tempfile.mkdtemp(prefix="bertd-replay-registry-"))
        try:
            h.produce("lab.cf", recs, schema=SCHEMA, extra=("--confluent", "--registry", reg.url))
            rc, g, out, err = replay(exe, h, "--topic", "lab.cf", "--confluent", "--registry",
                                     reg.url, "--task", "classify", "--model",
                                     os.path.join(MODELS, "seq_cls"), "--gold-label", "label",
                                     "--oos-label", REF["oos_label"])
            check(rc == 0 and g.get("records") == len(recs) and g.get("undecodable") == 0,
                  "replay --confluent --registry: every record decoded (%s)" % g.get("records"))
            same_metrics(g, REF["classify"]["a"], "replay --confluent", CLASS_FIELDS)
        finally:
            reg.close()

        after = offsets(h, tool, group)
        check(after == before, "the daemon group's committed offsets are unchanged after every "
              "replay (%s -> %s)" % (before, after))
    finally:
        h.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--no-broker", action="store_true", help="only what needs no broker")
    a = ap.parse_args()
    exe = os.path.join(a.build, "cli", "bertd")
    tmp = tempfile.mkdtemp(prefix="bertd-cli-replay-")
    try:
        test_flags(exe, tmp)
        if not a.no_broker:
            test_kafka(exe, a.build)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (len(kt.passed), len(kt.failures)))
    sys.exit(1 if kt.failures else 0)


if __name__ == "__main__":
    main()
