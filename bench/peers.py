#!/usr/bin/env python3
"""bertd's encoder beside ONNX Runtime, OpenVINO and PyTorch: same machine, same run, same
shapes and inputs, same thread count, fp32 everywhere. bench/run.sh sets up the environment
and calls this; see bench/encoder_results.md.

    python bench/peers.py --bench build/bench/bench_encoder --minilm DIR [--quick]
        [--threads N] [--seconds S] [--repeats R] [--json FILE] [--workdir DIR]

Each engine runs in its own process (its peak RSS, ru_maxrss from wait4, is its own); every
repeat runs all engines back to back on one model before the next model, so a burst of load
from elsewhere hits all engines of a round, and each figure is the median over the repeats
(min and max kept in the JSON). The BERT-Base-shaped model is random (12/768/12/3072) in every
engine: speed does not depend on the values. ONNX Runtime and OpenVINO run the same ONNX export
of the transformers model (opset 14); ONNX Runtime is tried as exported and after its own
transformer optimizer (fused attention, LayerNorm, GELU), OpenVINO with its LATENCY hint
(one synchronous request) and its THROUGHPUT hint (its optimal number of requests in flight);
the better of each is kept per shape and named in the JSON.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

IDS = lambda np, B, T: ((np.arange(B * T) * 7919) % 20000 + 1000).reshape(B, T).astype(np.int64)


def padded_inputs(np, B, T, lens):
    """(ids, mask, types): B rows of T tokens, or the mix's rows padded to its longest."""
    if lens is None:
        ids = IDS(np, B, T)
        return ids, np.ones_like(ids), np.zeros_like(ids)
    T = max(lens)
    ids = IDS(np, B, T)
    mask = np.zeros_like(ids)
    for b, n in enumerate(lens):
        mask[b, :n] = 1
    return ids * mask, mask, np.zeros_like(ids)


def timed(run, seconds, per_call):
    run()
    n, t0 = 0, time.perf_counter()
    while True:
        run()
        n += 1
        t = time.perf_counter() - t0
        if t >= seconds:
            return n * per_call / t


def child_onnxruntime(a, shapes):
    import numpy as np
    import onnxruntime as ort
    sessions = {}
    for variant, path in (("exported", a.onnx), ("optimized", a.onnx_opt)):
        if not path or not os.path.exists(path):
            continue
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sessions[variant] = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for B, T, lens in shapes:
        ids, mask, tt = padded_inputs(np, B, T, lens)
        best = None
        for variant, sess in sessions.items():
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt}
            sps = timed(lambda: sess.run(["last_hidden_state"], feed), a.seconds, B)
            if best is None or sps > best[0]:
                best = (sps, variant)
        yield B, T, lens, best[0], {"variant": best[1]}


def child_openvino(a, shapes):
    import numpy as np
    import openvino as ov
    core = ov.Core()
    for B, T, lens in shapes:
        ids, mask, tt = padded_inputs(np, B, T, lens)
        model = core.read_model(a.onnx)
        # static shapes: OpenVINO compiles its best code for a known shape
        model.reshape({"input_ids": list(ids.shape), "attention_mask": list(ids.shape),
                       "token_type_ids": list(ids.shape)})
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt}
        best = None
        for hint in ("LATENCY", "THROUGHPUT"):
            cm = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": hint,
                                                   "INFERENCE_PRECISION_HINT": "f32",
                                                   "INFERENCE_NUM_THREADS": a.threads})
            if hint == "LATENCY":
                req = cm.create_infer_request()
                sps = timed(lambda: req.infer(feed), a.seconds, B)
            else:
                nreq = max(1, cm.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
                q = ov.AsyncInferQueue(cm, nreq)

                def burst():
                    for _ in range(nreq):
                        q.start_async(feed)
                    q.wait_all()
                sps = timed(burst, a.seconds, B * nreq)
            if best is None or sps > best[0]:
                best = (sps, hint)
            del cm
        yield B, T, lens, best[0], {"variant": best[1]}


def child_torch(a, shapes):
    import numpy as np
    import torch
    from transformers import BertConfig, BertModel
    torch.set_num_threads(a.threads)
    if a.model == "bert-base":
        torch.manual_seed(0)
        m = BertModel(BertConfig())
    else:
        m = BertModel.from_pretrained(a.model_dir)
    m.eval()
    for B, T, lens in shapes:
        ids, mask, tt = (torch.from_numpy(x) for x in padded_inputs(np, B, T, lens))

        def run():
            with torch.inference_mode():
                return m(input_ids=ids, attention_mask=mask, token_type_ids=tt)
        yield B, T, lens, timed(run, a.seconds, B), {}


def child_export(a):
    """Exports the model to ONNX (opset 14) and writes ONNX Runtime's optimized variant."""
    import torch
    from transformers import BertConfig, BertModel
    if a.model == "bert-base":
        torch.manual_seed(0)
        m = BertModel(BertConfig())
    else:
        m = BertModel.from_pretrained(a.model_dir)
    m.eval()
    ids = torch.ones((1, 8), dtype=torch.long)
    torch.onnx.export(m, (ids, torch.ones_like(ids), torch.zeros_like(ids)), a.onnx,
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state", "pooler_output"],
                      dynamic_axes={k: {0: "b", 1: "t"} for k in
                                    ["input_ids", "attention_mask", "token_type_ids",
                                     "last_hidden_state"]},
                      opset_version=14)
    from onnxruntime.transformers.optimizer import optimize_model
    c = m.config
    opt = optimize_model(a.onnx, model_type="bert", num_heads=c.num_attention_heads,
                         hidden_size=c.hidden_size, opt_level=1)
    opt.save_model_to_file(a.onnx_opt)


CHILDREN = {"onnxruntime": child_onnxruntime, "openvino": child_openvino, "torch": child_torch}


def child_main(a):
    if a.child == "export":
        child_export(a)
        return
    shapes = json.loads(a.shapes)
    for B, T, lens, sps, extra in CHILDREN[a.child](a, shapes):
        print(json.dumps(dict(engine=a.child, batch=B, length=T if lens is None else "mix",
                              sentences_per_s=sps, **extra)), flush=True)


def run_child(cmd, env):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"peers: {' '.join(cmd[:4])} failed with exit {code}")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return rows, ru.ru_maxrss / 1024.0  # MiB


def cpu_info():
    model, flags = "unknown", []
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            k = k.strip()
            if k == "model name" and model == "unknown":
                model = v.strip()
            elif k == "flags" and not flags:
                flags = v.split()
    return model, flags


def mix_lengths(minilm, n=32):
    """Token counts of the first n texts of tests/fixtures/texts/synthetic.jsonl under MiniLM's
    tokenizer, capped at 128: a real mix of short utterances, log lines and news."""
    from transformers import AutoTokenizer
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tok = AutoTokenizer.from_pretrained(minilm)
    lens = []
    with open(os.path.join(root, "tests", "fixtures", "texts", "synthetic.jsonl")) as f:
        for line in f:
            t = json.loads(line)["text"]
            if t.strip():
                lens.append(len(tok(t, truncation=True, max_length=128)["input_ids"]))
            if len(lens) == n:
                break
    return lens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--model")
    ap.add_argument("--model-dir")
    ap.add_argument("--onnx")
    ap.add_argument("--onnx-opt")
    ap.add_argument("--shapes")
    ap.add_argument("--bench")
    ap.add_argument("--minilm")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--engines", default="bertd,onnxruntime,openvino,torch")
    a = ap.parse_args()
    if a.child:
        child_main(a)
        return
    if not a.bench or not a.minilm:
        ap.error("--bench and --minilm are required")
    seconds = a.seconds if a.seconds is not None else 1.0
    repeats = a.repeats if a.repeats is not None else (2 if a.quick else 3)
    batches, lengths = ([1, 8], [16, 64]) if a.quick else ([1, 8, 32], [16, 64, 128])
    mix = None if a.quick else mix_lengths(a.minilm)
    shapes = [[B, T, None] for B in batches for T in lengths]
    if mix:
        shapes.append([len(mix), max(mix), mix])
    engines = a.engines.split(",")
    workdir = a.workdir or os.path.join(os.path.dirname(os.path.abspath(a.bench)), "peers")
    os.makedirs(workdir, exist_ok=True)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    me = os.path.abspath(__file__)
    models = (("minilm", a.minilm), ("bert-base", None))
    onnx = {}
    for label, path in models:
        o, oo = (os.path.join(workdir, f"{label}.onnx"), os.path.join(workdir, f"{label}-ort.onnx"))
        onnx[label] = (o, oo)
        if ("onnxruntime" in engines or "openvino" in engines) and not (
                os.path.exists(o) and os.path.exists(oo)):
            run_child([sys.executable, me, "--child", "export", "--model", label,
                       "--model-dir", path or "", "--onnx", o, "--onnx-opt", oo], env)
    cpu, flags = cpu_info()
    load_before = os.getloadavg()
    sgemm_runs = []  # OpenBLAS sgemm before every repeat; the best is the machine's rate
    samples = {}  # (engine, model, B, T) -> [sps]
    rss = {}      # (engine, model) -> MiB
    extra = {}    # (engine, model, B, T) -> dict
    gflops = {}   # (engine, model, B, T) -> [GFLOP/s], bertd's
    for rep in range(repeats):
        sg, _ = run_child([a.bench, "--sgemm", "2048", "--seconds", str(max(seconds, 1.0)),
                           "--json"], env)
        sgemm_runs.append(sg[0]["sgemm_gflops"])
        for label, path in models:
            for eng in engines:
                if eng == "bertd":
                    src = ["--bert-base"] if label == "bert-base" else ["--model", path]
                    cmd = [a.bench, *src, "--batches", ",".join(map(str, batches)), "--lengths",
                           ",".join(map(str, lengths)), "--seconds", str(seconds), "--json"]
                    if mix:
                        cmd += ["--mix", ",".join(map(str, mix))]
                else:
                    cmd = [sys.executable, me, "--child", eng, "--model", label,
                           "--model-dir", path or "", "--onnx", onnx[label][0],
                           "--onnx-opt", onnx[label][1], "--threads", str(a.threads),
                           "--seconds", str(seconds), "--shapes", json.dumps(shapes)]
                rows, peak = run_child(cmd, env)
                rss[(eng, label)] = max(rss.get((eng, label), 0.0), peak)
                for r in rows:
                    k = (eng, label, r["batch"], r["length"])
                    samples.setdefault(k, []).append(r["sentences_per_s"])
                    extra.setdefault(k, {}).update(
                        {x: r[x] for x in ("variant", "kernel") if x in r})
                    if "gflops" in r:
                        gflops.setdefault(k, []).append(r["gflops"])
            print(f"peers: repeat {rep + 1}/{repeats} {label} done", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    sgemm = max(sgemm_runs)
    kernel = next((v["kernel"] for k, v in extra.items() if "kernel" in v), "?")
    out_rows = []
    for (eng, label, B, T), v in sorted(samples.items(), key=lambda kv: str(kv[0])):
        row = dict(engine=eng, model=label, batch=B, length=T, precision="fp32",
                   sentences_per_s=round(statistics.median(v), 3),
                   sentences_per_s_min=round(min(v), 3), sentences_per_s_max=round(max(v), 3),
                   repeats=len(v), peak_rss_mib=round(rss[(eng, label)], 1))
        row.update(extra.get((eng, label, B, T), {}))
        if (eng, label, B, T) in gflops:
            row["gflops"] = round(statistics.median(gflops[(eng, label, B, T)]), 3)
        out_rows.append(row)

    def med(eng, label, B, T):
        v = samples.get((eng, label, B, T))
        return statistics.median(v) if v else None

    print(f"CPU: {cpu}")
    simd = [f for f in flags if f.startswith(("avx", "amx", "fma"))]
    print(f"flags (SIMD): {' '.join(simd)}")
    print(f"threads={a.threads} seconds/shape={seconds} repeats={repeats} (median) "
          f"bertd kernel={kernel} OpenBLAS sgemm 2048^3={sgemm:.1f} GFLOP/s "
          f"load average before {load_before[0]:.2f} after {load_after[0]:.2f}")
    peers = [e for e in engines if e != "bertd"]
    head = f"{'model':9} {'B':>3} {'T':>4} {'bertd':>8} {'GFLOP/s':>7} {'%sgemm':>6}"
    for p in peers:
        head += f" {p[:11]:>11}"
    head += f" {'bertd/best':>10}"
    for p in peers:
        head += f" {'/' + p[:8]:>9}"
    print(head)
    ratios = []
    for label, _ in models:
        for B, T, lens in shapes:
            Tk = "mix" if lens else T
            b = med("bertd", label, B, Tk)
            if b is None:
                continue
            g = statistics.median(gflops.get(("bertd", label, B, Tk), [0.0]))
            line = f"{label:9} {B:3d} {str(Tk):>4} {b:8.1f} {g:7.1f} {100 * g / sgemm:6.0f}"
            vals = [med(p, label, B, Tk) for p in peers]
            for x in vals:
                line += f" {x:11.1f}" if x else f" {'-':>11}"
            best = max((x for x in vals if x), default=None)
            if best:
                ratios.append((label, B, Tk, b / best))
            line += f" {b / best:10.2f}" if best else f" {'-':>10}"
            for x in vals:
                line += f" {b / x:9.2f}" if x else f" {'-':>9}"
            print(line)
    if ratios:
        rs = [r for *_, r in ratios]
        stream = [r for label, B, T, r in ratios if B == 1 and T != "mix" and T <= 64]
        print(f"bertd / best peer: min {min(rs):.2f}, median {statistics.median(rs):.2f}"
              + (f", batch 1 T<=64 min {min(stream):.2f}" if stream else "")
              + f"; below 1.0 on {sum(r < 1.0 for r in rs)} of {len(rs)} shapes")
    print("peak RSS (MiB): " + "; ".join(
        f"{label} " + " ".join(f"{e} {rss[(e, label)]:.0f}" for e in engines if (e, label) in rss)
        for label, _ in models))
    if a.json:
        doc = dict(cpu=cpu, flags=flags, threads=a.threads, sgemm_gflops=round(sgemm, 3),
                   sgemm_gflops_runs=[round(x, 3) for x in sgemm_runs],
                   bertd_kernel=kernel, seconds_per_shape=seconds, repeats=repeats,
                   load_average=[round(load_before[0], 2), round(load_after[0], 2)],
                   mix_lengths=mix, rows=out_rows)
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"peers: wrote {a.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
