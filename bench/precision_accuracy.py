#!/usr/bin/env python3
"""The peers' embedding accuracy at low precision, measured as bertd's parity tests measure
bertd's: all-MiniLM-L6-v2 on the parity texts (tests/fixtures/minilm/), sentence embedding
(mean pooling, L2-normalised) cosine against sentence-transformers' fp32 golden embeddings.
ONNX Runtime: the transformers export, fp32 and quantize_dynamic int8 (its defaults);
OpenVINO (with --ov-python): the same export, f32 and bf16 (INFERENCE_PRECISION_HINT), and
int8: the very model the speed bench times, NNCF post-training quantization of the speed bench's
MiniLM export (bench/peers.py's prepare_models, run with --ov-python: reused from --workdir,
bench/run.sh's build-bench/peers, where it is already there, built there the same way when not).
The ops NNCF leaves unquantized run at OpenVINO's default inference precision for the CPU, as in
the speed bench (bf16 where the CPU has avx512_bf16 or amx_bf16): each OpenVINO row names the
precision OpenVINO reports it compiled for (inference_precision).

    .venv-ref/bin/python bench/precision_accuracy.py --minilm DIR [--ov-python PY] [--workdir DIR]

bertd's own figures come from its tests (ctest -R parity_precision -V prints min and mean).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")

RUN = r'''
import json, sys
import numpy as np
engine, path, precision, inputs, out = sys.argv[1:6]
data = np.load(inputs)
if engine == "onnxruntime":
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    run = lambda f: sess.run(["last_hidden_state"], f)[0]
else:
    import openvino as ov
    core = ov.Core()
    # int8: no hint, the ops NNCF left unquantized at the CPU default, as the speed bench runs
    cfg = {} if precision == "int8" else {
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
    comp = core.compile_model(core.read_model(path), "CPU", cfg)
    print(json.dumps({"inference_precision":
                      comp.get_property("INFERENCE_PRECISION_HINT").get_type_name()}))
    req = comp.create_infer_request()
    run = lambda f: req.infer(f)[comp.output("last_hidden_state")]
embs = []
for i in range(int(data["count"])):
    ids = data["ids_%d" % i][None, :]
    f = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    h = run(f)[0]
    e = h.mean(axis=0)
    embs.append(e / np.linalg.norm(e))
np.save(out, np.stack(embs).astype(np.float32))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minilm", required=True)
    ap.add_argument("--ov-python")
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build-bench", "peers"),
                    help="the speed bench's model directory (bench/run.sh: build-bench/peers)")
    a = ap.parse_args()
    import numpy as np
    import torch
    from transformers import AutoTokenizer, BertModel
    from onnxruntime.quantization import QuantType, quantize_dynamic
    meta = json.load(open(os.path.join(FIX, "minilm", "meta.json")))
    texts = []
    for src in meta["sources"]:
        with open(os.path.join(FIX, src["path"]), encoding="utf-8") as f:
            for _, line in zip(range(src["lines"]), f):
                texts.append(json.loads(line)["text"])
    golden = np.fromfile(os.path.join(FIX, "minilm", "embeddings.f32"), dtype=np.float32)
    golden = golden.reshape(len(texts), -1)
    tok = AutoTokenizer.from_pretrained(a.minilm)
    tmp = tempfile.mkdtemp(prefix="bertd-acc-")
    arrays = {"count": np.array(len(texts))}
    for i, t in enumerate(texts):
        arrays["ids_%d" % i] = np.array(tok(t, truncation=True, max_length=meta["max_seq_length"])
                                        ["input_ids"], dtype=np.int64)
    inputs = os.path.join(tmp, "inputs.npz")
    np.savez(inputs, **arrays)
    m = BertModel.from_pretrained(a.minilm).eval()
    f32, i8 = os.path.join(tmp, "m.onnx"), os.path.join(tmp, "m.int8.onnx")
    ids = torch.ones((1, 8), dtype=torch.long)
    torch.onnx.export(m, (ids, torch.ones_like(ids), torch.zeros_like(ids)), f32,
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state", "pooler_output"],
                      dynamic_axes={k: {0: "b", 1: "t"} for k in
                                    ["input_ids", "attention_mask", "token_type_ids"]},
                      opset_version=14)
    quantize_dynamic(f32, i8, weight_type=QuantType.QInt8)
    runs = [("onnxruntime", "fp32", f32, sys.executable), ("onnxruntime", "int8", i8, sys.executable)]
    if a.ov_python:
        os.makedirs(a.workdir, exist_ok=True)
        ov_int8 = peers.prepare_models(argparse.Namespace(minilm=a.minilm), ["openvino"], ["int8"],
                                       a.workdir, dict(os.environ), models=("minilm",),
                                       python=a.ov_python)["minilm"]["ov_int8"]
        runs += [("openvino", "fp32", f32, a.ov_python), ("openvino", "bf16", f32, a.ov_python),
                 ("openvino", "int8", ov_int8, a.ov_python)]
    for eng, prec, path, py in runs:
        out = os.path.join(tmp, "%s-%s.npy" % (eng, prec))
        p = subprocess.run([py, "-c", RUN, eng, path, prec, inputs, out], check=True,
                           stdout=subprocess.PIPE, text=True)
        said = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
        extra = dict((said or [{}])[0])
        if eng == "openvino" and prec == "int8":
            extra["model"] = os.path.basename(path)
        e = np.load(out)
        cos = (e * golden).sum(1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(golden, axis=1))
        print(json.dumps(dict(engine=eng, precision=prec, texts=len(texts),
                              min_cosine=round(float(cos.min()), 6), worst_text=int(cos.argmin()),
                              mean_cosine=round(float(cos.mean()), 6),
                              below_0_99=int((cos < 0.99).sum()),
                              **{k: v for k, v in extra.items() if v is not None})), flush=True)


if __name__ == "__main__":
    main()
