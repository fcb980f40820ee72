#!/usr/bin/env python3
"""bertd in fp32, bf16 and int8 beside ONNX Runtime (fp32, quantize_dynamic int8) and OpenVINO
(f32, bf16) on the same shapes, machine, thread count and run, with speed ratios and peak RSS.

    .venv-ref/bin/python bench/run_precision.py --bench build/bench/bench_encoder \
        --minilm "$(scripts/fetch-model.sh minilm | tail -1)" [--ov-python VENV/bin/python] \
        [--threads 2] [--seconds 1] [--rounds 3] [--batches 1,8] [--lengths 16,64] [--json]

Rounds: every engine and precision runs each shape once per round, rounds interleaved, and the
best of the rounds is kept: on a machine other work shares, the best of several short runs is
the figure least disturbed by it (the spread is printed too). Each run is its own process, so
its peak RSS (ru_maxrss from wait4) is its own. The BERT-Base-shaped model is random
(12/768/12/3072; speed does not depend on the values); ONNX Runtime and OpenVINO run the model
exported from transformers (opset 14). ORT int8 is onnxruntime.quantization.quantize_dynamic with
its defaults (int8 weights, dynamic uint8 activations) -- the model users get from ORT's docs.
OpenVINO bf16 is INFERENCE_PRECISION_HINT bf16 (what it picks by default on CPUs with AMX);
--ov-python names a Python with the openvino package (absent: no OpenVINO columns). OpenVINO
int8 needs NNCF calibration and is not run. bench_encoder names the CPU's kernel it used.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

EXPORT = r'''
import sys, torch
from transformers import BertConfig, BertModel
model, path = sys.argv[1:3]
if model == "bert-base-random":
    torch.manual_seed(0)
    m = BertModel(BertConfig())
else:
    m = BertModel.from_pretrained(model)
m.eval()
ids = torch.ones((1, 8), dtype=torch.long)
torch.onnx.export(m, (ids, torch.ones_like(ids), torch.zeros_like(ids)), path,
                  input_names=["input_ids", "attention_mask", "token_type_ids"],
                  output_names=["last_hidden_state", "pooler_output"],
                  dynamic_axes={k: {0: "b", 1: "t"} for k in
                                ["input_ids", "attention_mask", "token_type_ids"]},
                  opset_version=14)
if len(sys.argv) > 3:
    from onnxruntime.quantization import quantize_dynamic, QuantType
    quantize_dynamic(path, sys.argv[3], weight_type=QuantType.QInt8)
'''

ENGINE = r'''
import json, sys, time
import numpy as np
engine, path, precision, threads, seconds, shapes = sys.argv[1:7]
threads = int(threads); seconds = float(seconds); shapes = json.loads(shapes)
if engine == "onnxruntime":
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    run = lambda feed: sess.run(["last_hidden_state"], feed)
else:
    import openvino as ov
    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
           "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
    comp = core.compile_model(core.read_model(path), "CPU", cfg)
    req = comp.create_infer_request()
    run = lambda feed: req.infer(feed)
for B, T in shapes:
    ids = ((np.arange(B * T) * 7919) % 20000 + 1000).reshape(B, T).astype(np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids)}
    run(feed)
    n = 0; t0 = time.perf_counter()
    while True:
        run(feed); n += 1
        t = time.perf_counter() - t0
        if t >= seconds: break
    print(json.dumps(dict(batch=B, length=T, sentences_per_s=n * B / t)), flush=True)
'''


def run_child(cmd, env):
    p = subprocess.run(cmd, capture_output=True, env=env, text=True)
    if p.returncode != 0:
        sys.exit(f"run_precision: {' '.join(cmd[:4])} failed: {p.stderr.strip()[-300:]}")


def rss_child(cmd, env):
    """rows, peak RSS in MiB, kernel name (bertd rows carry it)"""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"run_precision: {' '.join(cmd[:4])} failed with exit {code}: {err.strip()}")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return rows, ru.ru_maxrss / 1024.0


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--minilm", required=True)
    ap.add_argument("--ov-python")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--lengths", default="16,64")
    ap.add_argument("--models", default="all-MiniLM-L6-v2,bert-base-random")
    ap.add_argument("--json", action="store_true", help="print JSON rows instead of the table")
    ap.add_argument("--json-out", help="also write the JSON rows to this file")
    a = ap.parse_args()
    shapes = [[int(b), int(t)] for b in a.batches.split(",") for t in a.lengths.split(",")]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    tmp = tempfile.mkdtemp(prefix="bertd-precision-")
    models = a.models.split(",")
    src = {"all-MiniLM-L6-v2": a.minilm, "bert-base-random": "bert-base-random"}
    onnx = {}
    for label in models:
        f32, i8 = os.path.join(tmp, label + ".onnx"), os.path.join(tmp, label + ".int8.onnx")
        run_child([sys.executable, "-c", EXPORT, src[label], f32, i8], env)
        onnx[label] = (f32, i8)
    # engine runs: (engine, precision) -> command per model
    runs = []
    for label in models:
        bsrc = ["--bert-base"] if label == "bert-base-random" else ["--model", a.minilm]
        for p in ("fp32", "bf16", "int8"):
            runs.append((label, "bertd", p, [a.bench, *bsrc, "--precision", p, "--batches",
                                              a.batches, "--lengths", a.lengths, "--seconds",
                                              str(a.seconds), "--json"]))
        for p, path in (("fp32", onnx[label][0]), ("int8", onnx[label][1])):
            runs.append((label, "onnxruntime", p, [sys.executable, "-c", ENGINE, "onnxruntime",
                                                    path, p, str(a.threads), str(a.seconds),
                                                    json.dumps(shapes)]))
        if a.ov_python:
            for p in ("fp32", "bf16"):
                runs.append((label, "openvino", p, [a.ov_python, "-c", ENGINE, "openvino",
                                                     onnx[label][0], p, str(a.threads),
                                                     str(a.seconds), json.dumps(shapes)]))
    best, worst, rss, kernel, cur = {}, {}, {}, {}, {}
    for r in range(a.rounds):
        for label, eng, p, cmd in runs:
            if (label, eng, p) in kernel and kernel[(label, eng, p)] is None:
                continue  # refused in an earlier round
            try:
                rows, mib = rss_child(cmd, env)
            except SystemExit as e:
                if eng == "bertd" and p != "fp32":  # the CPU lacks the instructions: one line
                    print(f"# bertd {p}: {e}", file=sys.stderr)
                    kernel[(label, eng, p)] = None
                    continue
                raise
            rss[(label, eng, p)] = max(rss.get((label, eng, p), 0.0), mib)
            for row in rows:
                key = (label, eng, p, row["batch"], row["length"])
                v = row["sentences_per_s"]
                best[key] = max(best.get(key, 0.0), v)
                worst[key] = min(worst.get(key, v), v)
                if "kernel" in row:
                    kernel[(label, eng, p)] = row["kernel"]
                if "rss_mib" in row:
                    cur[(label, eng, p)] = max(cur.get((label, eng, p), 0.0), row["rss_mib"])
    cpu = cpu_name()
    def g(label, eng, p, B, T):
        return best.get((label, eng, p, B, T))
    def ratio(x, y):
        return f"{x / y:.2f}" if x and y else "-"
    rows = [json.dumps(dict(engine=eng, model=label, precision=p, batch=B, length=T,
                            sentences_per_s=round(v, 3),
                            worst_sentences_per_s=round(worst[(label, eng, p, B, T)], 3),
                            kernel=kernel.get((label, eng, p)),
                            peak_rss_mib=round(rss.get((label, eng, p), 0.0)),
                            rss_mib=cur.get((label, eng, p)),
                            threads=a.threads, rounds=a.rounds, cpu=cpu))
            for (label, eng, p, B, T), v in sorted(best.items())]
    if a.json_out:
        with open(a.json_out, "w") as f:
            f.write("".join(r + "\n" for r in rows))
    if a.json:
        print("\n".join(rows))
        return
    print(f"CPU: {cpu}; threads={a.threads}; {a.rounds} rounds x {a.seconds} s per shape, best "
          f"of the rounds (sentences/s)")
    print("bertd kernels: " + ", ".join(f"{l} {p}: {k}" for (l, e, p), k in sorted(kernel.items())
                                         if e == "bertd"))
    hdr = (f"{'model':17} {'B':>2} {'T':>3} | {'fp32':>7} {'bf16':>7} {'int8':>7} | "
           f"{'ORT32':>7} {'ORTi8':>7} {'OV32':>7} {'OVbf16':>7} | {'bf16/fp32':>9} "
           f"{'int8/fp32':>9} {'bf16/OVbf16':>11} {'int8/ORTi8':>10}")
    print(hdr)
    for label in models:
        for B, T in shapes:
            f, b, i = (g(label, "bertd", p, B, T) for p in ("fp32", "bf16", "int8"))
            o32, oi8 = g(label, "onnxruntime", "fp32", B, T), g(label, "onnxruntime", "int8", B, T)
            v32, vbf = g(label, "openvino", "fp32", B, T), g(label, "openvino", "bf16", B, T)
            cell = lambda x: f"{x:7.1f}" if x else f"{'-':>7}"
            print(f"{label[:17]:17} {B:2d} {T:3d} | {cell(f)} {cell(b)} {cell(i)} | {cell(o32)} "
                  f"{cell(oi8)} {cell(v32)} {cell(vbf)} | {ratio(b, f):>9} {ratio(i, f):>9} "
                  f"{ratio(b, vbf):>11} {ratio(i, oi8):>10}")
    print("peak RSS (MiB; bertd also resident after its runs: what the loaded model holds):")
    for (label, eng, p), mib in sorted(rss.items()):
        now = f"   resident {cur[(label, eng, p)]:7.0f}" if (label, eng, p) in cur else ""
        print(f"  {label:17} {eng:12} {p:5} peak {mib:7.0f}{now}")


if __name__ == "__main__":
    main()
