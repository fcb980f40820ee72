#!/usr/bin/env python3
"""bench/results_table.py on a small synthetic run: which variant each engine keeps, the ratios
per precision (bertd / best peer at the same precision, bertd / bertd fp32), the summary and
the printed lines. Exact expected values worked out by hand; no timing (speed lives in bench/)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import results_table as rt  # noqa: E402

FAILS = []


def check(what, got, want):
    if got != want:
        FAILS.append(f"{what}: got {got!r}, want {want!r}")


def close(what, got, want):
    if got is None or abs(got - want) > 1e-9:
        FAILS.append(f"{what}: got {got!r}, want {want!r}")


SAMPLES = {
    # bertd fp32 8x64: streams=1 median 100, streams=2 median 120 (min 80, max 130) -> streams=2
    ("bertd", "minilm", 8, 64, "fp32", "streams=1"): [100.0, 110.0, 90.0],
    ("bertd", "minilm", 8, 64, "fp32", "streams=2"): [120.0, 80.0, 130.0],
    ("bertd", "minilm", 8, 64, "bf16", "streams=1"): [250.0],
    ("bertd", "minilm", 8, 64, "bf16", "streams=2"): [240.0],
    ("bertd", "minilm", 8, 64, "int8", "streams=1"): [200.0],
    ("bertd", "minilm", 1, 16, "fp32", "streams=1"): [50.0],
    ("onnxruntime", "minilm", 8, 64, "fp32", "exported"): [100.0],
    ("onnxruntime", "minilm", 8, 64, "fp32", "optimized"): [150.0],
    ("onnxruntime", "minilm", 8, 64, "int8", "exported"): [400.0],
    ("onnxruntime", "minilm", 1, 16, "fp32", "exported"): [40.0],
    ("openvino", "minilm", 8, 64, "fp32", "LATENCY"): [140.0],
    ("openvino", "minilm", 8, 64, "fp32", "THROUGHPUT"): [160.0],
    ("openvino", "minilm", 8, 64, "bf16", "LATENCY"): [200.0],
    ("openvino", "minilm", 8, 64, "int8", "LATENCY"): [100.0],
    # a tie keeps the first name
    ("torch", "minilm", 1, 16, "fp32", "b"): [10.0],
    ("torch", "minilm", 1, 16, "fp32", "a"): [10.0],
}

best = rt.pick_best(SAMPLES)
check("rows", len(best), 11)
b = best[("bertd", "minilm", 8, 64, "fp32")]
check("bertd fp32 8x64", b, dict(variants={"streams=1": 100.0, "streams=2": 120.0},
                                 variant="streams=2", sentences_per_s=120.0,
                                 sentences_per_s_min=80.0, sentences_per_s_max=130.0, repeats=3))
check("bertd bf16 variant", best[("bertd", "minilm", 8, 64, "bf16")]["variant"], "streams=1")
check("ort fp32 variant", best[("onnxruntime", "minilm", 8, 64, "fp32")]["variant"], "optimized")
check("ov fp32 variant", best[("openvino", "minilm", 8, 64, "fp32")]["variant"], "THROUGHPUT")
check("torch tie", best[("torch", "minilm", 1, 16, "fp32")]["variant"], "a")

rows = []
for (e, m, B, T, p), r in best.items():
    row = dict(engine=e, model=m, batch=B, length=T, precision=p,
               sentences_per_s=r["sentences_per_s"], variant=r["variant"], peak_rss_mib=100.0)
    if e == "bertd":
        row["gflops"] = 50.0
    rows.append(row)

comps = rt.compare(rows)
check("compare order", [(c["precision"], c["batch"], c["length"]) for c in comps],
      [("fp32", 1, 16), ("fp32", 8, 64), ("bf16", 8, 64), ("int8", 8, 64)])
c16, c64, cbf, ci8 = comps
check("fp32 1x16 best", c16["best_peer"], "onnxruntime")
close("fp32 1x16 vs best", c16["vs_best"], 1.25)
close("fp32 1x16 vs torch", c16["vs_peer"]["torch"], 5.0)
check("fp32 1x16 vs fp32", c16["vs_fp32"], None)
check("fp32 8x64 best", c64["best_peer"], "openvino")
close("fp32 8x64 vs best", c64["vs_best"], 0.75)
close("fp32 8x64 vs ort", c64["vs_peer"]["onnxruntime"], 0.8)
check("bf16 peers", cbf["peers"], {"openvino": 200.0})
close("bf16 vs best", cbf["vs_best"], 1.25)
close("bf16 vs fp32", cbf["vs_fp32"], 250.0 / 120.0)
check("int8 best", ci8["best_peer"], "onnxruntime")
close("int8 vs best", ci8["vs_best"], 0.5)
close("int8 vs openvino", ci8["vs_peer"]["openvino"], 2.0)
close("int8 vs fp32", ci8["vs_fp32"], 200.0 / 120.0)

s = rt.summary(comps)
check("summary fp32", (s["fp32"]["n"], s["fp32"]["min"], s["fp32"]["median"],
                       s["fp32"]["below"], s["fp32"]["stream_min"]), (2, 0.75, 1.0, 1, 1.25))
check("summary fp32 target", s["fp32"]["vs_fp32_target"], {})
close("summary bf16 target", s["bf16"]["vs_fp32_target"]["minilm"], 250.0 / 120.0)
check("summary int8", (s["int8"]["n"], s["int8"]["min"], s["int8"]["below"]), (1, 0.5, 1))

doc = dict(rows=rows, sgemm_gflops=200.0)
lines = rt.text_lines(doc)
check("header", lines[0],
      "model     prec   B    T    bertd   variant GFLOP/s %sgemm onnxruntime    openvino"
      "       torch bertd/best /onnxrunt /openvino    /torch  /fp32 ceiling")
check("fp32 8x64 line", lines[2],
      "minilm    fp32   8   64    120.0 streams=2    50.0     25       150.0       160.0"
      "           -       0.75      0.80      0.75         -      -       -")
check("int8 line", lines[4],
      "minilm    int8   8   64    200.0 streams=1    50.0     25       400.0       100.0"
      "           -       0.50      0.50      2.00         -   1.67       -")
check("summary lines", lines[5:10], [
    "fp32 bertd / best peer at fp32: min 0.75, median 1.00, batch 1 T<=64 min 1.25; "
    "below 1.0 on 1 of 2 shapes",
    "bf16 bertd / best peer at bf16: min 1.25, median 1.25; below 1.0 on 0 of 1 shapes",
    "bf16 bertd bf16 / bertd fp32 at 8x64: minilm 2.08x (target >= 2.5x)",
    "int8 bertd / best peer at int8: min 0.50, median 0.50; below 1.0 on 1 of 1 shapes",
    "int8 bertd int8 / bertd fp32 at 8x64: minilm 1.67x (target >= 2.0x)"])

# the ceiling, from the run's fp32 multiply-add peak (100 GFLOP/s): at 8x64 bertd's 50 GFLOP/s
# at 120 s/s make OpenVINO's 160 s/s 66.67 GFLOP/s (2/3 of the peak, ceiling 1.5); at 1x16
# ONNX Runtime's 40 s/s against bertd's 50 s/s at 50 GFLOP/s are 40 GFLOP/s (ceiling 2.5);
# only fp32 has one
check("no peak, no ceiling", [c["ceiling"] for c in comps], [None] * 4)
pc = rt.compare(rows, {"fp32": 100.0})
close("ceiling 1x16", pc[0]["ceiling"], 2.5)
close("peer peak 8x64", pc[1]["peer_peak"], 2.0 / 3.0)
close("ceiling 8x64", pc[1]["ceiling"], 1.5)
check("ceiling bf16, int8", [pc[2]["ceiling"], pc[3]["ceiling"]], [None, None])
ps = rt.summary(pc)["fp32"]
close("ceiling median", ps["ceiling_median"], 2.0)
check("ceiling stream", [round(x, 9) for x in ps["ceiling_stream"]], [2.5])
check("no ceiling in bf16's summary", "ceiling_median" in rt.summary(pc)["bf16"], False)
plines = rt.text_lines(dict(doc, fma_peak_gflops=100.0, fma_peak_isa="avx512f"))
check("fp32 8x64 line with its ceiling", plines[2][-8:], "    1.50")
check("ceiling line", plines[6],
      "fp32 ceiling: the best peer runs at 40-67 % of this machine's fp32 multiply-add peak "
      "(100.0 GFLOP/s, avx512f), so bertd at that peak on every shape would be at most: median "
      "2.00, batch 1 with T <= 64 2.50-2.50 times the best peer")

# bf16 from vdpbf16ps's peak (200 GFLOP/s): OpenVINO's 200 s/s against bertd's 250 s/s at 50
# GFLOP/s are 40 GFLOP/s, a fifth of the peak (ceiling 5); an AMX CPU's bf16 has no peak here
check("peaks", rt.peaks_of(dict(fma_peak_gflops=100.0, bf16_peak_gflops=200.0, flags=["avx512f"])),
      {"fp32": 100.0, "bf16": 200.0})
check("peaks on AMX", rt.peaks_of(dict(fma_peak_gflops=100.0, bf16_peak_gflops=200.0,
                                       flags=["amx_bf16"])), {"fp32": 100.0})
check("peaks, none measured", rt.peaks_of(dict(bf16_peak_gflops=0.0)), {})
bc = rt.compare(rows, {"fp32": 100.0, "bf16": 200.0})
close("ceiling bf16", bc[2]["ceiling"], 5.0)
bdoc = dict(doc, fma_peak_gflops=100.0, fma_peak_isa="avx512f", bf16_peak_gflops=200.0)
blines = rt.text_lines(bdoc)
check("bf16 ceiling and peak ratio lines", blines[8:11], [
    "bf16 ceiling: the best peer runs at 20-20 % of this machine's bf16 pair-product peak (200.0 "
    "GFLOP/s, avx512-bf16), so bertd at that peak on every shape would be at most: median 5.00 "
    "times the best peer",
    "bf16 bertd bf16 / bertd fp32 at 8x64: minilm 2.08x (target >= 2.5x)",
    "bf16 peak / fp32 peak on this CPU: 2.00x (200.0 / 100.0 GFLOP/s): bertd bf16 / bertd fp32 "
    "passes it only by as much as bertd fp32 falls short of the fp32 peak"])

# the markdown header: a run narrowed with --as-cpu says so, and which engines it could not narrow
md_doc = dict(doc, cpu="Test CPU", flags_used=["avx2", "fma"], threads=2,
              bertd_kernels={"fp32": "avx2 (attention avx2)"}, repeats=3, seconds_per_shape=1.0,
              load_average=[1.0, 1.5])
md = rt.markdown_lines(md_doc)
check("markdown header", md[0],
      "CPU: Test CPU; flags used: avx2 fma; 2 threads; bertd kernels: fp32 avx2 (attention avx2); "
      "OpenBLAS sgemm 2048^3 200.0 GFLOP/s; 3 repeats of 1.0 s per shape (median; min-max in the "
      "JSON); load average 1.0 before, 1.5 after")
check("markdown, not narrowed", [x for x in md if "Run as an" in x], [])
md = rt.markdown_lines(dict(md_doc, as_cpu="avx2", as_cpu_uncapped=["onnxruntime"]))
check("markdown, narrowed", md[2],
      "Run as an avx2-only CPU (bench/run.sh --as-cpu): the engines with a switch for it narrowed "
      "to avx2; not narrowed: onnxruntime")

if FAILS:
    print("\n".join(FAILS))
    sys.exit(1)
print("results_table: all checks passed")
