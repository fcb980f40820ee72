#!/usr/bin/env python3
"""Runs bertd's encoder benchmark beside ONNX Runtime and PyTorch on the same shapes, same
machine, same thread count, in one run, and prints throughput ratios and peak resident memory.

    .venv-ref/bin/python bench/run_peers.py --bench build/bench/bench_encoder \
        --minilm "$(scripts/fetch-model.sh minilm | tail -1)" [--threads 2] [--seconds 2]

Each engine runs in its own process so its peak RSS (ru_maxrss from wait4) is its own.
The BERT-Base-shaped model is random (12/768/12/3072) in every engine: speed does not depend on
the values. ONNX Runtime runs the same model exported from transformers (opset 14).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ENGINE = r'''
import json, sys, time, os
engine, model, threads, seconds, shapes, onnx_path = sys.argv[1:7]
threads = int(threads); seconds = float(seconds); shapes = json.loads(shapes)
import numpy as np
import torch
torch.set_num_threads(threads)
from transformers import BertConfig, BertModel
if model == "bert-base-random":
    torch.manual_seed(0)
    m = BertModel(BertConfig())
else:
    m = BertModel.from_pretrained(model)
m.eval()
if engine == "onnxruntime":
    import onnxruntime as ort
    if not os.path.exists(onnx_path):
        ids = torch.ones((1, 8), dtype=torch.long)
        torch.onnx.export(m, (ids, torch.ones_like(ids), torch.zeros_like(ids)), onnx_path,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state", "pooler_output"],
                          dynamic_axes={k: {0: "b", 1: "t"} for k in
                                        ["input_ids", "attention_mask", "token_type_ids"]},
                          opset_version=14)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
for B, T in shapes:
    ids = ((np.arange(B * T) * 7919) % 20000 + 1000).reshape(B, T).astype(np.int64)
    mask = np.ones_like(ids); tt = np.zeros_like(ids)
    if engine == "onnxruntime":
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt}
        run = lambda: sess.run(["last_hidden_state"], feed)
    else:
        ti, tm, tt2 = torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(tt)
        def run():
            with torch.no_grad():
                return m(input_ids=ti, attention_mask=tm, token_type_ids=tt2)
    run()
    n = 0; t0 = time.perf_counter()
    while True:
        run(); n += 1
        t = time.perf_counter() - t0
        if t >= seconds: break
    print(json.dumps(dict(engine=engine, batch=B, length=T, sentences_per_s=n * B / t)), flush=True)
'''


def run_child(cmd, env):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"run_peers: {' '.join(cmd[:3])} failed with exit {p.returncode}")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return rows, ru.ru_maxrss / 1024.0  # MiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--minilm", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--lengths", default="16,64,128")
    a = ap.parse_args()
    shapes = [[int(b), int(t)] for b in a.batches.split(",") for t in a.lengths.split(",")]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    tmp = tempfile.mkdtemp()
    table = {}
    for label, model in (("all-MiniLM-L6-v2", a.minilm), ("bert-base-random", "bert-base-random")):
        src = ["--bert-base"] if model == "bert-base-random" else ["--model", model]
        rows, rss = run_child([a.bench, *src, "--batches", a.batches, "--lengths", a.lengths,
                               "--seconds", str(a.seconds), "--json"], env)
        table[(label, "bertd")] = ({(r["batch"], r["length"]): r for r in rows}, rss)
        for eng in ("onnxruntime", "pytorch"):
            onnx = os.path.join(tmp, label + ".onnx")
            rows, rss = run_child([sys.executable, "-c", ENGINE, eng, model, str(a.threads),
                                   str(a.seconds), json.dumps(shapes), onnx], env)
            table[(label, eng)] = ({(r["batch"], r["length"]): r for r in rows}, rss)
    print(f"threads={a.threads} seconds/shape={a.seconds}")
    print(f"{'model':18} {'B':>3} {'T':>4} {'bertd s/s':>10} {'GFLOP/s':>8} {'ORT s/s':>9} "
          f"{'torch s/s':>9} {'bertd/ORT':>9} {'bertd/torch':>11}")
    for label in ("all-MiniLM-L6-v2", "bert-base-random"):
        bd, _ = table[(label, "bertd")]
        ox, _ = table[(label, "onnxruntime")]
        pt, _ = table[(label, "pytorch")]
        for B, T in shapes:
            b, o, p = bd[(B, T)], ox[(B, T)], pt[(B, T)]
            print(f"{label:18} {B:3d} {T:4d} {b['sentences_per_s']:10.1f} {b['gflops']:8.2f} "
                  f"{o['sentences_per_s']:9.1f} {p['sentences_per_s']:9.1f} "
                  f"{b['sentences_per_s'] / o['sentences_per_s']:9.2f} "
                  f"{b['sentences_per_s'] / p['sentences_per_s']:11.2f}")
    print("peak RSS (MiB):")
    for label in ("all-MiniLM-L6-v2", "bert-base-random"):
        print(f"  {label:18} bertd {table[(label, 'bertd')][1]:7.0f}   "
              f"onnxruntime {table[(label, 'onnxruntime')][1]:7.0f}   "
              f"pytorch {table[(label, 'pytorch')][1]:7.0f}")


if __name__ == "__main__":
    main()
