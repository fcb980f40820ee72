#!/usr/bin/env python3
"""bertd's encoder beside ONNX Runtime, OpenVINO and PyTorch: same machine, same run, same
shapes and inputs, same thread count, in every precision the CPU runs (fp32, bf16, int8).
bench/run.sh sets up the environment and calls this; see bench/encoder_results.md.

    python bench/peers.py --bench build/bench/bench_encoder --minilm DIR [--quick]
        [--threads N] [--seconds S] [--repeats R] [--json FILE] [--workdir DIR]
        [--engines bertd,onnxruntime,openvino,torch] [--precisions fp32,bf16,int8]

Each engine runs in its own process per precision (its peak RSS, ru_maxrss from wait4, is its
own); every repeat runs all engines and precisions back to back on one model before the next
model, so a burst of load from elsewhere hits all engines of a round. Each engine's variants are
measured on every shape and the one with the best median over the repeats is kept and named
(`variant`), as a user would deploy it: bertd with one stream and with as many streams as
threads (bench_encoder --streams: batches side by side, each on threads/streams threads);
ONNX Runtime as exported and after its own transformer optimizer (fused attention, LayerNorm,
GELU); OpenVINO with its LATENCY hint (one synchronous request) and its THROUGHPUT hint (its
optimal number of requests in flight). The BERT-Base-shaped model is random (12/768/12/3072)
in every engine: speed does not depend on the values. ONNX Runtime and OpenVINO run the same
ONNX export of the transformers model (opset 14).

Precisions: bertd --precision fp32|bf16|int8 (a CPU without the units: bertd's one-line
refusal is printed and the precision has no bertd rows); ONNX Runtime fp32 and int8
(quantize_dynamic: int8 weights, dynamic uint8 activations, of both graphs); OpenVINO f32 and
bf16 (INFERENCE_PRECISION_HINT; bf16 only where the CPU has avx512_bf16 or amx_bf16, elsewhere
OpenVINO would quietly run f32) and int8 (NNCF post-training quantization of the same ONNX
model, calibrated on 64 tokenized fixture texts; the ops NNCF leaves unquantized run at
OpenVINO's default precision for the CPU); PyTorch fp32.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_table  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDS = lambda np, B, T: ((np.arange(B * T) * 7919) % 20000 + 1000).reshape(B, T).astype(np.int64)
# the flags the bench reports: the kernels bertd and the peers pick come from these
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
              "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# --as-cpu avx2: this CPU narrowed to an AVX2-only one's instructions, for the engines that can be
# narrowed: bertd (BERTD_CPU_DISABLE: fp32, attention and int8 all on their AVX2 kernels),
# OpenVINO (oneDNN's ONEDNN_MAX_CPU_ISA), PyTorch (ATEN_CPU_CAPABILITY, its oneDNN) and OpenBLAS
# (OPENBLAS_CORETYPE). ONNX Runtime's kernels read cpuid with no such switch: it keeps its
# AVX-512 kernels, a faster peer than it would be on an AVX2-only CPU.
AS_CPU = {"avx2": dict(
    env=dict(BERTD_CPU_DISABLE="avx512f,amx_tile", ONEDNN_MAX_CPU_ISA="AVX2",
             DNNL_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2", OPENBLAS_CORETYPE="Haswell"),
    drop=("avx512", "amx"), uncapped=["onnxruntime"])}


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
    files = {"fp32": (("exported", a.onnx), ("optimized", a.onnx_opt)),
             "int8": (("exported", a.onnx_int8), ("optimized", a.onnx_opt_int8))}[a.precision]
    sessions = {}
    for variant, path in files:
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
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt}
        for variant, sess in sessions.items():
            sps = timed(lambda: sess.run(["last_hidden_state"], feed), a.seconds, B)
            yield B, T, lens, sps, {"variant": variant}


def child_openvino(a, shapes):
    import numpy as np
    import openvino as ov
    core = ov.Core()
    path = a.ov_int8 if a.precision == "int8" else a.onnx
    for B, T, lens in shapes:
        ids, mask, tt = padded_inputs(np, B, T, lens)
        model = core.read_model(path)
        # static shapes: OpenVINO compiles its best code for a known shape
        model.reshape({"input_ids": list(ids.shape), "attention_mask": list(ids.shape),
                       "token_type_ids": list(ids.shape)})
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt}
        for hint in ("LATENCY", "THROUGHPUT"):
            cfg = {"PERFORMANCE_HINT": hint, "INFERENCE_NUM_THREADS": a.threads}
            if a.precision != "int8":  # int8: the unquantized ops at OpenVINO's default
                cfg["INFERENCE_PRECISION_HINT"] = "bf16" if a.precision == "bf16" else "f32"
            cm = core.compile_model(model, "CPU", cfg)
            inner = cm.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # e.g. bf16
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
            del cm
            yield B, T, lens, sps, {"variant": hint, "inference_precision": inner}


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
        yield B, T, lens, timed(run, a.seconds, B), {"variant": "eager"}


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


def child_quantize_ort(a):
    """ONNX Runtime's dynamic int8 of both graphs, with the defaults its docs give (int8
    weights); the optimized graph's fused ops defeat shape inference, hence the default type."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    for src, dst in ((a.onnx, a.onnx_int8), (a.onnx_opt, a.onnx_opt_int8)):
        quantize_dynamic(src, dst + ".tmp", weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(dst + ".tmp", dst)


def child_quantize_openvino(a):
    """OpenVINO int8: NNCF post-training quantization (its transformer preset, SmoothQuant and
    bias correction included) of the ONNX model read by OpenVINO, calibrated on the first 64
    texts of tests/fixtures/texts/synthetic.jsonl tokenized by MiniLM's tokenizer (the two
    models share the BERT uncased vocabulary), one text per batch, up to 128 tokens."""
    # NNCF 3.x loads its PyTorch backend whenever torch imports, and that backend needs a newer
    # torch than Debian's 1.13; its OpenVINO backend needs no torch at all
    sys.modules["torch"] = None
    import numpy as np
    import nncf
    import openvino as ov
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(a.tokenizer_dir, "tokenizer.json"))
    tok.enable_truncation(128)
    items = []
    with open(os.path.join(ROOT, "tests", "fixtures", "texts", "synthetic.jsonl")) as f:
        for line in f:
            text = json.loads(line)["text"]
            if text.strip():
                ids = np.array([tok.encode(text).ids], dtype=np.int64)
                items.append({"input_ids": ids, "attention_mask": np.ones_like(ids),
                              "token_type_ids": np.zeros_like(ids)})
            if len(items) == 64:
                break
    model = ov.Core().read_model(a.onnx)
    q = nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                      subset_size=len(items))
    ov.save_model(q, a.ov_int8 + ".tmp.xml")
    os.replace(a.ov_int8 + ".tmp.bin", a.ov_int8[:-len(".xml")] + ".bin")
    os.replace(a.ov_int8 + ".tmp.xml", a.ov_int8)


CHILDREN = {"onnxruntime": child_onnxruntime, "openvino": child_openvino, "torch": child_torch}
PREPARE = {"export": child_export, "quantize-ort": child_quantize_ort,
           "quantize-openvino": child_quantize_openvino}


def own_peak_mib():
    """This process's own peak resident memory since exec (VmHWM), MiB; None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def child_main(a):
    if a.child in PREPARE:
        PREPARE[a.child](a)
        return
    shapes = json.loads(a.shapes)
    for B, T, lens, sps, extra in CHILDREN[a.child](a, shapes):
        print(json.dumps(dict(engine=a.child, batch=B, length=T if lens is None else "mix",
                              precision=a.precision, sentences_per_s=sps,
                              own_peak_mib=own_peak_mib(), **extra)), flush=True)


class Refused(Exception):
    """A child exited 2 with a one-line reason (bertd on a CPU without a precision's units)."""


class Failed(Exception):
    """A child failed otherwise (a crash, a peer's export or quantizer error): the message is
    its exit status and the last line of its stderr."""


def run_child(cmd, env):
    """rows (the child's JSON lines), its peak RSS in MiB; exit 2 raises Refused with the
    child's last stderr line, any other failure Failed. stderr goes to a file, so a chatty
    child never blocks on a full pipe. The peak is the largest `own_peak_mib` the rows carry
    (the child's VmHWM, bench_encoder and child_main print it): wait4's ru_maxrss is not the
    child's own, since exec keeps the pre-exec memory's peak, i.e. this process's (270 MiB
    once transformers is loaded: every small child read 270). ru_maxrss only when no row has
    it."""
    with tempfile.TemporaryFile(mode="w+") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        out = p.stdout.read()
        p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        msg = err.read()
    if code == 2:
        raise Refused((msg.strip().splitlines() or ["(no message)"])[-1])
    if code != 0:
        sys.stderr.write(msg[-2000:])
        last = (msg.strip().splitlines() or ["(no message)"])[-1]
        raise Failed(f"{os.path.basename(cmd[0])} {' '.join(cmd[1:4])} ... exited {code}: {last}")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    own = [r["own_peak_mib"] for r in rows if r.get("own_peak_mib")]
    return rows, max(own) if own else ru.ru_maxrss / 1024.0


def cpu_info():
    """(lscpu's model name, the flags of /proc/cpuinfo)."""
    model, flags = None, []
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            k = k.strip()
            if k == "model name" and model is None:
                model = v.strip()
            elif k == "flags" and not flags:
                flags = v.split()
    return model or "unknown", flags


def versions():
    out = {}
    for pkg in ("onnxruntime", "openvino", "nncf", "torch", "transformers"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def mix_lengths(minilm, n=32):
    """Token counts of the first n texts of tests/fixtures/texts/synthetic.jsonl under MiniLM's
    tokenizer, capped at 128: a real mix of short utterances, log lines and news."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(minilm)
    lens = []
    with open(os.path.join(ROOT, "tests", "fixtures", "texts", "synthetic.jsonl")) as f:
        for line in f:
            t = json.loads(line)["text"]
            if t.strip():
                lens.append(len(tok(t, truncation=True, max_length=128)["input_ids"]))
            if len(lens) == n:
                break
    return lens


def prepare_models(a, engines, precisions, workdir, env, models=("minilm", "bert-base"),
                   python=None, failed=None):
    """The ONNX export, ONNX Runtime's optimized graph and the int8 models, made once per
    workdir: {model: {onnx, onnx_opt, onnx_int8, onnx_opt_int8, ov_int8}} paths. models and
    python (the interpreter of the steps, default this one) let bench/precision_accuracy.py
    build or reuse MiniLM's OpenVINO int8 exactly as the speed bench does. failed: a dict to
    record a failed step in, (engine, precision or None for all, model) -> reason, so the
    bench goes on without what it could not make; without it a failure ends the run."""
    # what each step's failure takes away: (engine, precision) pairs, None for every precision
    lost = {"export": [("onnxruntime", None), ("openvino", None)],
            "quantize-ort": [("onnxruntime", "int8")], "quantize-openvino": [("openvino", "int8")]}
    me = os.path.abspath(__file__)
    files = {}
    for label, path in (("minilm", a.minilm), ("bert-base", None)):
        if label not in models:
            continue
        f = {k: os.path.join(workdir, label + suffix) for k, suffix in (
            ("onnx", ".onnx"), ("onnx_opt", "-ort.onnx"), ("onnx_int8", "-int8.onnx"),
            ("onnx_opt_int8", "-ort-int8.onnx"), ("ov_int8", "-ov-int8.xml"))}
        files[label] = f
        base = [python or sys.executable, me, "--model", label, "--model-dir", path or "",
                "--tokenizer-dir", a.minilm] + sum(
            ([f"--{k.replace('_', '-')}", v] for k, v in f.items()), [])
        steps = []
        if "onnxruntime" in engines or "openvino" in engines:
            steps.append(("export", ("onnx", "onnx_opt")))
        if "onnxruntime" in engines and "int8" in precisions:
            steps.append(("quantize-ort", ("onnx_int8", "onnx_opt_int8")))
        if "openvino" in engines and "int8" in precisions:
            steps.append(("quantize-openvino", ("ov_int8",)))
        for step, outs in steps:
            if not all(os.path.exists(f[o]) for o in outs):
                print(f"peers: {step} {label}", file=sys.stderr, flush=True)
                try:
                    run_child(base + ["--child", step], env)
                except (Failed, Refused) as e:
                    if failed is None:
                        sys.exit(f"peers: {step} {label} failed: {e}")
                    for eng, p in lost[step]:
                        failed[(eng, p, label)] = f"{step} failed: {e}"
                    if step == "export":
                        break  # nothing else can be made from a missing export
    return files


def plan_runs(a, engines, precisions, files, batches, lengths, mix, shapes, bf16_cpu,
              failed=None):
    """[(model, engine, precision, command, variant or None)]: the processes of one repeat; a
    bertd command names its variant (its streams), a peer's rows name theirs."""
    me = os.path.abspath(__file__)
    streams = sorted({1, min(a.threads, 16)})  # bench_encoder runs up to 16 streams
    runs = []
    for label, path in (("minilm", a.minilm), ("bert-base", None)):
        for eng in engines:
            for p in precisions:
                if eng == "bertd":
                    src = ["--bert-base"] if label == "bert-base" else ["--model", path]
                    for s in streams:
                        cmd = [a.bench, *src, "--precision", p, "--streams", str(s), "--batches",
                               ",".join(map(str, batches)), "--lengths",
                               ",".join(map(str, lengths)), "--seconds", str(a.seconds), "--json"]
                        if mix:
                            cmd += ["--mix", ",".join(map(str, mix))]
                        runs.append((label, eng, p, cmd, f"streams={s}"))
                    continue
                if (eng == "onnxruntime" and p == "bf16") or (eng == "torch" and p != "fp32"):
                    continue  # not a precision this bench runs that engine in
                if eng == "openvino" and p == "bf16" and not bf16_cpu:
                    continue  # OpenVINO would quietly run f32; said in the header
                if failed and ((eng, None, label) in failed or (eng, p, label) in failed):
                    continue  # its model could not be made; said in the header
                f = files[label]
                cmd = [sys.executable, me, "--child", eng, "--model", label, "--model-dir",
                       path or "", "--precision", p, "--threads", str(a.threads), "--seconds",
                       str(a.seconds), "--shapes", json.dumps(shapes)] + sum(
                    ([f"--{k.replace('_', '-')}", v] for k, v in f.items()), [])
                runs.append((label, eng, p, cmd, None))
    return runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--model")
    ap.add_argument("--model-dir")
    ap.add_argument("--tokenizer-dir")
    for k in ("onnx", "onnx-opt", "onnx-int8", "onnx-opt-int8", "ov-int8"):
        ap.add_argument("--" + k)
    ap.add_argument("--precision", default="fp32", choices=results_table.PRECISIONS)
    ap.add_argument("--shapes")
    ap.add_argument("--bench")
    ap.add_argument("--minilm")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--engines", default="bertd,onnxruntime,openvino,torch")
    ap.add_argument("--precisions", default=",".join(results_table.PRECISIONS))
    ap.add_argument("--as-cpu", choices=sorted(AS_CPU), default=None)
    a = ap.parse_args()
    if a.child:
        child_main(a)
        return
    if not a.bench or not a.minilm:
        ap.error("--bench and --minilm are required")
    engines = a.engines.split(",")
    precisions = [p for p in results_table.PRECISIONS if p in a.precisions.split(",")]
    bad = [x for x in engines if x not in ("bertd",) + results_table.PEERS] + [
        x for x in a.precisions.split(",") if x not in results_table.PRECISIONS]
    if bad:
        ap.error(f"unknown engine or precision: {', '.join(bad)}")
    # the median of 3 passes over one slow or fast pass (a shared virtual machine moves by up to
    # 15 % between runs); the median of 2 is their mean
    repeats = a.repeats if a.repeats is not None else 3
    batches, lengths = ([1, 8], [16, 64]) if a.quick else ([1, 8, 32], [16, 64, 128])
    mix = None if a.quick else mix_lengths(a.minilm)
    shapes = [[B, T, None] for B in batches for T in lengths]
    if mix:
        shapes.append([len(mix), max(mix), mix])
    workdir = a.workdir or os.path.join(os.path.dirname(os.path.abspath(a.bench)), "peers")
    os.makedirs(workdir, exist_ok=True)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    cpu, flags = cpu_info()
    run_flags = flags
    if a.as_cpu:
        cap = AS_CPU[a.as_cpu]
        env.update(cap["env"])
        run_flags = [f for f in flags if not f.startswith(cap["drop"])]
    bf16_cpu = any(f in run_flags for f in BF16_FLAGS)
    # a peer or a low precision that fails is left out and named, not the end of the run:
    # (engine, precision or None, model) -> reason; only bertd fp32 and sgemm are required
    failed = {}
    files = prepare_models(a, engines, precisions, workdir, env, failed=failed)
    runs = plan_runs(a, engines, precisions, files, batches, lengths, mix, shapes, bf16_cpu,
                     failed)
    load_before = os.getloadavg()
    sgemm_runs = []  # OpenBLAS sgemm before every repeat; the best is the machine's rate
    peak_runs = []   # the fp32 and bf16 multiply-add peaks and the memory read rate, likewise
    samples = {}     # (engine, model, B, T, precision, variant) -> [sentences/s]
    extra = {}       # the same key -> kernel, gflops, resident and peak memory
    refusals = {}    # precision -> bertd's one line
    for rep in range(repeats):
        sg, _ = run_child([a.bench, "--sgemm", "2048", "--seconds", str(max(a.seconds, 1.0)),
                           "--json"], env)
        sgemm_runs.append(sg[0]["sgemm_gflops"])
        pk, _ = run_child([a.bench, "--peak", "--seconds", str(max(a.seconds, 1.0)), "--json"],
                          env)
        peak_runs.append(pk[0])
        for i, (label, eng, p, cmd, run_variant) in enumerate(runs):
            if (eng == "bertd" and p in refusals) or (eng, p, label) in failed:
                continue
            try:
                rows, peak = run_child(cmd, env)
            except Refused as e:
                if eng != "bertd" or p == "fp32":
                    sys.exit(f"peers: {eng} {p} failed: {e}")
                refusals[p] = str(e)
                continue
            except Failed as e:
                if eng == "bertd" and p == "fp32":
                    sys.exit(f"peers: bertd fp32 failed: {e}")
                print(f"peers: {eng} {p} {label} failed, left out: {e}", file=sys.stderr,
                      flush=True)
                failed[(eng, p, label)] = str(e)
                continue
            for r in rows:
                variant = run_variant or r.get("variant", "-")
                k = (eng, label, r["batch"], r["length"], p, variant)
                samples.setdefault(k, []).append(r["sentences_per_s"])
                x = extra.setdefault(k, {"gflops": [], "peak": 0.0})
                x["peak"] = max(x["peak"], peak)
                for f in ("kernel", "inference_precision"):
                    if f in r:
                        x[f] = r[f]
                if "gflops" in r:
                    x["gflops"].append(r["gflops"])
                if "rss_mib" in r:
                    x["rss_mib"] = max(x.get("rss_mib", 0.0), r["rss_mib"])
            if i + 1 == len(runs) or runs[i + 1][0] != label:
                print(f"peers: repeat {rep + 1}/{repeats} {label} done", file=sys.stderr,
                      flush=True)
    load_after = os.getloadavg()
    sgemm = max(sgemm_runs)
    out_rows = []
    for (eng, label, B, T, p), best in results_table.pick_best(samples).items():
        x = extra[(eng, label, B, T, p, best["variant"])]
        row = dict(engine=eng, model=label, batch=B, length=T, precision=p,
                   sentences_per_s=round(best["sentences_per_s"], 3),
                   sentences_per_s_min=round(best["sentences_per_s_min"], 3),
                   sentences_per_s_max=round(best["sentences_per_s_max"], 3),
                   repeats=best["repeats"], peak_rss_mib=round(x["peak"], 1),
                   variant=best["variant"],
                   variants={v: round(s, 3) for v, s in best["variants"].items()})
        for f in ("kernel", "inference_precision", "rss_mib"):
            if f in x:
                row[f] = x[f]
        if x["gflops"]:
            # the median as sentences_per_s takes it (of 2 repeats, their mean), so that the two
            # columns describe the same figure
            row["gflops"] = round(statistics.median(x["gflops"]), 3)
        out_rows.append(row)
    order = ["bertd", *results_table.PEERS]
    out_rows.sort(key=lambda r: (order.index(r["engine"]), results_table.MODELS.get(r["model"], 9),
                                 results_table.PRECISIONS.index(r["precision"]),
                                 results_table.shape_order(r["model"], r["batch"], r["length"])))
    kernels = {}
    for r in out_rows:
        if r["engine"] == "bertd":
            kernels.setdefault(r["precision"], r.get("kernel", "?"))
    kernels = {p: kernels[p] for p in results_table.PRECISIONS if p in kernels}
    vers = versions()
    not_run = []
    if "openvino" in engines and "bf16" in precisions and not bf16_cpu:
        not_run.append("openvino bf16 (the CPU has neither avx512_bf16 nor amx_bf16)")
    failures = [f"{eng} {p or 'every precision'} {label}: {why}"
                for (eng, p, label), why in failed.items()]
    doc = dict(cpu=cpu, flags=flags, flags_used=[f for f in SIMD_FLAGS if f in run_flags],
               threads=a.threads, sgemm_gflops=round(sgemm, 3),
               sgemm_gflops_runs=[round(x, 3) for x in sgemm_runs],
               fma_peak_gflops=round(max(r["fma_gflops"] for r in peak_runs), 3),
               fma_peak_isa=peak_runs[0]["fma_isa"],
               fma_peak_gflops_runs=[round(r["fma_gflops"], 3) for r in peak_runs],
               bf16_peak_gflops=round(max(r.get("bf16_gflops", 0.0) for r in peak_runs), 3),
               read_gbs=round(max(r["read_gbs"] for r in peak_runs), 3),
               bertd_kernel=kernels.get("fp32", "?"), bertd_kernels=kernels, refusals=refusals,
               not_run=not_run, failures=failures, versions=vers, precisions=precisions,
               seconds_per_shape=a.seconds, repeats=repeats,
               load_average=[round(load_before[0], 2), round(load_after[0], 2)],
               mix_lengths=mix, rows=out_rows)
    if a.as_cpu:
        doc["as_cpu"] = a.as_cpu
        doc["as_cpu_uncapped"] = AS_CPU[a.as_cpu]["uncapped"]
    print(f"CPU: {cpu}")
    print("flags used: " + (" ".join(doc["flags_used"]) or "-") + "; absent: "
          + (" ".join(f for f in SIMD_FLAGS if f not in run_flags) or "-"))
    if a.as_cpu:
        print(f"as an {a.as_cpu}-only CPU: bertd, OpenVINO, PyTorch and OpenBLAS narrowed to "
              f"{a.as_cpu}; not narrowed (no switch): "
              + ", ".join(AS_CPU[a.as_cpu]["uncapped"]))
    print(f"threads={a.threads} seconds/shape={a.seconds} repeats={repeats} (median per variant, "
          f"the best variant kept) OpenBLAS sgemm 2048^3={sgemm:.1f} GFLOP/s; fp32 "
          f"multiply-add peak ({doc['fma_peak_isa']})={doc['fma_peak_gflops']:.1f} GFLOP/s; "
          f"memory read={doc['read_gbs']:.1f} GB/s")
    print("bertd kernels: " + (", ".join(f"{p} {k}" for p, k in kernels.items()) or "-"))
    for p, line in refusals.items():
        print(f"bertd {p}: refused: {line}")
    for line in not_run:
        print(f"not run: {line}")
    for line in failures:
        print(f"FAILED, left out: {line}")
    print("peers: " + ", ".join(f"{k} {v}" for k, v in vers.items() if v))
    print(f"load average before {load_before[0]:.2f} after {load_after[0]:.2f}")
    for line in results_table.text_lines(doc):
        print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"peers: wrote {a.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
