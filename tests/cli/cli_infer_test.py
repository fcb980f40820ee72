#!/usr/bin/env python3
"""The inference commands through the `bertd` binary: tokenize, classify, tag, joint, qa, embed,
fill-mask, nsp.

    python3 tests/cli/cli_infer_test.py --build BUILD_DIR

Values: each command on its tiny checkpoint (tests/fixtures/models/) must print what
transformers computed for the same lines (tests/fixtures/cli/expected.json, written by
tools/reference/make_cli_fixtures.py): token ids and offsets, top-k labels in order, word tags
and spans, answer text and character offsets, fills, embeddings. Errors: for every command, bad
flags, a missing --model / --input and malformed lines give one line naming the flag, file or
line, exit 2 for bad arguments, and a JSONL file with bad lines in the middle gives one output
line per input line (exit 1, the count on stderr). --precision: a CPU without the instructions
(forced with BERTD_CPU_DISABLE) gets one line and exit 2; embed in int8 on the AVX2 kernel stays
within cosine 0.99 of transformers. Only the standard library.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
EXPECTED = os.path.join(ROOT, "tests", "fixtures", "cli", "expected.json")
SCORE_TOL = 2e-4   # float32 BLAS vs torch on scores in [0, 1]
EMBED_TOL = 2e-3   # the f16 checkpoint's hidden states, mean-pooled

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def close(a, b, tol):
    return abs(a - b) <= tol


class Bertd:
    def __init__(self, build):
        self.exe = os.path.join(build, "cli", "bertd")
        self.tmp = tempfile.mkdtemp(prefix="bertd-cli-")

    def run(self, *args, stdin=None, env=None):
        p = subprocess.run([self.exe, *args], input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300,
                           env=dict(os.environ, **env) if env else None)
        return p.returncode, p.stdout, p.stderr

    def file(self, name, lines):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        return path


def same_labels(got, want, key):
    return (len(got) == len(want) and [g[key] for g in got] == [w[key] for w in want]
            and all(close(g["score"], w["score"], SCORE_TOL) for g, w in zip(got, want)))


def same_spans(got, want, key):
    strip = lambda s: [{k: x[k] for k in (key, "text", "start", "end")} for x in s]
    return strip(got) == strip(want)


def compare(cmd, got, want):
    """What each command's output line must hold, as transformers computed it."""
    if cmd == "tokenize":
        return (got["ids"] == want["ids"] and got["type_ids"] == want["type_ids"]
                and got["offsets"] == want["offsets"] and got["tokens"] == want["tokens"])
    if cmd == "classify":
        return same_labels(got["labels"], want["labels"], "label")
    if cmd == "tag":
        return got["tags"] == want["tags"] and same_spans(got["spans"], want["spans"], "label")
    if cmd == "joint":
        return (same_labels(got["intents"], want["intents"], "label")
                and got["intent"]["label"] == want["intents"][0]["label"]
                and got["tags"] == want["tags"] and same_spans(got["slots"], want["slots"], "slot"))
    if cmd == "qa":
        g, w = got["answer"], want["answer"]
        return ((g["text"], g["start"], g["end"]) == (w["text"], w["start"], w["end"])
                and close(g["score"], w["score"], SCORE_TOL))
    if cmd == "embed":
        return (len(got["embedding"]) == len(want["embedding"])
                and all(close(a, b, EMBED_TOL) for a, b in zip(got["embedding"], want["embedding"])))
    if cmd == "fill-mask":
        gm, wm = got["masks"], want["masks"]
        return len(gm) == len(wm) and all(
            g["position"] == w["position"] and [f["id"] for f in g["fills"]] == [f["id"] for f in w["fills"]]
            and [f["token"] for f in g["fills"]] == [f["token"] for f in w["fills"]]
            and all(close(a["score"], b["score"], SCORE_TOL) for a, b in zip(g["fills"], w["fills"]))
            for g, w in zip(gm, wm))
    if cmd == "nsp":
        return close(got["is_next"], want["is_next"], SCORE_TOL)
    raise ValueError(cmd)


def test_values(b, case):
    cmd, model = case["command"], os.path.join(MODELS, case["model"])
    path = b.file(cmd + ".jsonl", case["lines"])
    rc, out, err = b.run(cmd, "--model", model, "--input", path, *case["args"])
    lines = out.splitlines()
    check(rc == 0 and err == "", "%s: exit 0, nothing on stderr (rc %d: %s)" % (cmd, rc, err.strip()))
    check(len(lines) == len(case["lines"]), "%s: one output line per input line" % cmd)
    for i, (line, want) in enumerate(zip(lines, case["expected"])):
        got = json.loads(line)
        # each output is the input object, results added; the text keeps its NULs
        check(got["text"] == json.loads(case["lines"][i])["text"], "%s line %d: text echoed" % (cmd, i + 1))
        ok = compare(cmd, got, want)
        check(ok, "%s line %d: %s as transformers" % (cmd, i + 1, case["lines"][i][:50]))
        if not ok:
            print("     got  %s\n     want %s" % (json.dumps(got)[:400], json.dumps(want)[:400]))


def test_errors(b, case):
    cmd, model = case["command"], os.path.join(MODELS, case["model"])
    good = case["lines"][0]
    # bad flags: one line naming the flag, exit 2
    for args, word in ((["--top-k", "x"], "--top-k"), (["--batch-size", "0"], "--batch-size"),
                       (["--max-length", "0"], "--max-length"), (["--max-length", "1"], "--max-length"),
                       (["--threshold", "2"], "--threshold"), (["--no-such-flag"], "--no-such-flag"),
                       (["--truncation", "middle"], "--truncation")):
        rc, out, err = b.run(cmd, "--model", model, *args, stdin=good + "\n")
        check(rc == 2 and out == "" and err.count("\n") == 1 and word in err and cmd in err,
              "%s %s: exit 2, one line naming the flag (%d: %s)" % (cmd, " ".join(args), rc, err.strip()))
    rc, out, err = b.run(cmd, stdin=good + "\n")
    check(rc == 2 and "--model" in err and err.count("\n") == 1, "%s without --model: exit 2" % cmd)
    # a value over the model's maximum is capped, and said
    rc, out, err = b.run(cmd, "--model", model, "--max-length", "100000", stdin=good + "\n")
    check(rc == 0 and len(out.splitlines()) == 1 and "--max-length 100000" in err and "128" in err,
          "%s --max-length 100000: capped to 128 and said (%s)" % (cmd, err.strip()))
    # missing files: one line naming the file and the flag, exit 2
    rc, out, err = b.run(cmd, "--model", "/nonexistent/model", stdin=good + "\n")
    check(rc == 2 and err == "bertd %s: --model /nonexistent/model: No such file or directory\n" % cmd,
          "%s --model /nonexistent/model: exit 2, names it (%s)" % (cmd, err.strip()))
    rc, out, err = b.run(cmd, "--model", MODELS, stdin=good + "\n")  # a directory, not a model
    check(rc == 2 and MODELS in err and "config.json" in err and err.count("\n") == 1,
          "%s --model DIR without config.json: exit 2, names the directory and file" % cmd)
    rc, out, err = b.run(cmd, "--model", model, "--input", "/nonexistent.jsonl")
    check(rc == 2 and err == "bertd %s: --input /nonexistent.jsonl: No such file or directory\n" % cmd,
          "%s --input /nonexistent.jsonl: exit 2, names it" % cmd)
    # bad lines in the middle: one output line per input line, errors in place, exit 1
    pair = json.loads(good).get("text_pair")
    lines = [good, "{not json", '{"txt": "x"}', '{"text": "a\\ud800b"}', '{"text": 5}', '["x"]', good]
    if pair is not None:
        lines.append(json.dumps({"text": "x", "text_pair": 3}))
    if cmd == "qa":
        lines.append(json.dumps({"text": "which city?"}))
    path = b.file(cmd + "-bad.jsonl", lines)
    rc, out, err = b.run(cmd, "--model", model, "--input", path)
    outs = [json.loads(l) for l in out.splitlines()]
    check(rc == 1 and len(outs) == len(lines), "%s with bad lines: exit 1, %d outputs for %d lines"
          % (cmd, len(outs), len(lines)))
    want_err = {2: "not valid JSON at column ", 3: "field 'text' is missing",
                4: "invalid Unicode '\\uD800'", 5: "field 'text' must be a string, got a number",
                6: "expected a JSON object, got an array", 8: "field 'text_pair' must be a string or null"}
    if pair is None:
        del want_err[8]
    if cmd == "qa":
        want_err[9] = "field 'text_pair' is missing: qa reads the question from 'text'"
    for n, o in enumerate(outs, 1):
        if n in want_err:
            check(o.get("line") == n and want_err[n] in o.get("error", "") and len(o) == 2,
                  "%s line %d: error line %s" % (cmd, n, json.dumps(o)))
        else:
            check("error" not in o and o["text"] == json.loads(good)["text"],
                  "%s line %d: the good line answered in place" % (cmd, n))
    nbad = len(want_err)
    check(err.splitlines()[-1] == "bertd %s: %d of %d lines had errors" % (cmd, nbad, len(lines))
          and "%s:2: not valid JSON" % path in err,
          "%s: stderr names file:line and ends with the count (%s)" % (cmd, err.splitlines()[-1]))
    # --strict: the good lines before are answered, the bad one's error line, then it stops
    rc, out, err = b.run(cmd, "--model", model, "--input", path, "--strict")
    outs = [json.loads(l) for l in out.splitlines()]
    check(rc == 1 and len(outs) == 2 and "error" not in outs[0] and outs[1]["line"] == 2
          and err.splitlines()[-1] == "bertd %s: 1 of 2 lines had errors (--strict: stopped at the first)" % cmd,
          "%s --strict: stops at line 2 (%d outputs)" % (cmd, len(outs)))


def test_batches(b):
    """100 good lines, a bad one, one more: 102 output lines in order at every batch size."""
    lines = [json.dumps({"text": "flight %d to boston" % i, "id": i}) for i in range(100)]
    lines += ['{"text": ', json.dumps({"text": "last", "id": 100})]
    path = b.file("batches.jsonl", lines)
    for bs in ("1", "7", "32", "200"):
        rc, out, err = b.run("tokenize", "--model", os.path.join(MODELS, "seq_cls"), "--input",
                             path, "--batch-size", bs)
        outs = [json.loads(l) for l in out.splitlines()]
        ids = [o.get("id", o.get("line")) for o in outs]
        check(rc == 1 and ids == list(range(100)) + [101, 100] and outs[100].get("line") == 101,
              "tokenize --batch-size %s: 100 good, 1 bad, 1 good -> 102 lines in order" % bs)
    # blank lines are skipped; stdin works; a raw NUL byte (not escaped) is invalid JSON
    rc, out, err = b.run("tokenize", "--model", os.path.join(MODELS, "seq_cls"),
                         stdin='{"text": "a"}\n\n{"text": "b\x00"}\n')
    outs = [json.loads(l) for l in out.splitlines()]
    check(rc == 1 and len(outs) == 2 and outs[1]["line"] == 3 and "<stdin>:3:" in err,
          "stdin: a raw NUL byte is line 3's error, named <stdin>:3")


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = sum(x * x for x in a) ** 0.5
    nb = sum(y * y for y in b) ** 0.5
    return dot / (na * nb) if na and nb else 0.0


def test_precision(b, case):
    """--precision: a CPU without the instructions (forced with BERTD_CPU_DISABLE) gets one line
    and exit 2, never a slow emulation; int8 on the AVX2 kernel, which every AVX2 CPU runs,
    gives transformers' embeddings within cosine 0.99; a bad name is a usage error."""
    cmd, model = case["command"], os.path.join(MODELS, case["model"])
    inp = b.file("precision.jsonl", case["lines"])
    rc, out, err = b.run(cmd, "--model", model, "--input", inp, "--precision", "bf16",
                         env={"BERTD_CPU_DISABLE": "avx512_bf16,amx_bf16"})
    check(rc == 2 and out == "" and err.count("\n") == 1 and err.startswith(
        "bertd %s: --precision bf16: this CPU has neither AMX-BF16 nor AVX512-BF16 (it has: " % cmd),
        "%s --precision bf16 without AVX512-BF16: one line, exit 2 (rc %d: %s)" % (cmd, rc, err.strip()))
    rc, out, err = b.run(cmd, "--model", model, "--input", inp, "--precision", "fp64")
    check(rc == 2 and out == "" and err == "bertd %s: --precision: expected fp32, bf16 or int8, "
          "got 'fp64'\n" % cmd, "%s --precision fp64: exit 2 naming the flag" % cmd)
    rc, out, err = b.run(cmd, "--model", model, "--input", inp, "--precision", "int8",
                         env={"BERTD_CPU_DISABLE": "avx512_vnni,avx_vnni,amx_int8"})
    if rc == 2 and "this CPU has neither" in err:
        print("skip %s --precision int8: %s" % (cmd, err.strip()))
        return
    lines = out.splitlines()
    check(rc == 0 and len(lines) == len(case["lines"]), "%s --precision int8 (avx2): exit 0, %d lines"
          % (cmd, len(case["lines"])))
    for i, line in enumerate(lines):
        got, want = json.loads(line)["embedding"], case["expected"][i]["embedding"]
        c = cosine(got, want)
        check(c >= 0.99, "%s --precision int8 line %d: cosine %.5f vs transformers >= 0.99"
              % (cmd, i + 1, c))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--only", help="one command")
    a = ap.parse_args()
    b = Bertd(a.build)
    cases = json.load(open(EXPECTED))["cases"]
    for case in cases:
        if a.only and case["command"] != a.only:
            continue
        test_values(b, case)
        test_errors(b, case)
        if case["command"] == "embed":
            test_precision(b, case)
    if not a.only:
        test_batches(b)
        rc, out, _ = b.run("--help")
        check(rc == 0 and "train --task joint|classify|tag|mlm-nsp" in out and "--strict" in out,
              "bertd --help: lists train --task mlm-nsp and --strict")
        rc, _, err = b.run("no-such-command")
        check(rc == 2 and err.count("\n") == 1 and "no-such-command" in err, "unknown command: exit 2")
    print("%d failed" % len(failures) if failures else "all passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
