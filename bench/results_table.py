#!/usr/bin/env python3
"""The bench's arithmetic and tables, shared by bench/peers.py (the printed table) and by hand
(the markdown of bench/encoder_results.md from a bench/run.sh --json file):

    python3 bench/results_table.py FILE.json

pick_best: each engine's variants (bertd's streams, ONNX Runtime's exported / optimized graph,
OpenVINO's LATENCY / THROUGHPUT hint) measured over the repeats -> one row per engine x model x
batch x length x precision, the variant with the highest median kept. compare: per shape and
precision, bertd / the best peer at the same precision, bertd / each peer, bertd at that
precision / bertd fp32. Standard library only (the unit test runs it without the bench venv).
"""
import json
import statistics
import sys

PRECISIONS = ("fp32", "bf16", "int8")
PEERS = ("onnxruntime", "openvino", "torch")
MODELS = {"minilm": 0, "bert-base": 1}
# the issues' speed targets, checked at this shape: bertd bf16 / int8 over bertd fp32
TARGET_SHAPE = (8, 64)
TARGET_VS_FP32 = {"bf16": 2.5, "int8": 2.0}


def pick_best(samples):
    """{(engine, model, batch, length, precision, variant): [sentences/s, one per repeat]} ->
    {(engine, model, batch, length, precision): {variant, sentences_per_s (the median),
    sentences_per_s_min, sentences_per_s_max, repeats, variants: {variant: median}}}; the
    variant with the highest median is kept (on a tie, the first in name order)."""
    out = {}
    for key in sorted(samples, key=lambda k: tuple(str(x) for x in k)):
        v = samples[key]
        row_key, variant = key[:5], key[5]
        med = statistics.median(v)
        cur = out.setdefault(row_key, {"variants": {}})
        cur["variants"][variant] = med
        if "sentences_per_s" not in cur or med > cur["sentences_per_s"]:
            cur.update(variant=variant, sentences_per_s=med, sentences_per_s_min=min(v),
                       sentences_per_s_max=max(v), repeats=len(v))
    return out


def shape_order(model, batch, length):
    return (MODELS.get(model, 9), batch, 1 << 30 if length == "mix" else int(length))


def compare(rows, peaks=None):
    """The JSON's rows -> one dict per model x batch x length x precision that bertd ran:
    model, batch, length, precision, bertd (sentences/s), variant (bertd's), gflops, peers
    ({engine: sentences/s} of the peers with a row at that precision), best_peer (engine or None),
    vs_best, vs_peer ({engine: bertd / it}), vs_fp32 (bertd here / bertd fp32 on the shape; None
    for fp32 or without an fp32 row), and, for a precision with a peak in peaks ({precision:
    the run's multiply-add peak in it, GFLOP/s}): peer_peak (the best peer's GFLOP/s as a
    fraction of it: every engine does the same arithmetic per sentence, so its rate is bertd's
    GFLOP/s x its sentences/s / bertd's) and ceiling (1 / peer_peak: bertd / best peer if bertd
    ran the shape at the peak, which no product passes); None elsewhere."""
    peaks = peaks or {}
    by = {(r["engine"], r["model"], r["batch"], str(r["length"]), r["precision"]): r for r in rows}
    out = []
    for r in rows:
        if r["engine"] != "bertd":
            continue
        m, B, T, p = r["model"], r["batch"], str(r["length"]), r["precision"]
        b = r["sentences_per_s"]
        peers = {e: by[(e, m, B, T, p)]["sentences_per_s"] for e in PEERS if (e, m, B, T, p) in by}
        best = max(peers, key=lambda e: peers[e]) if peers else None
        f = by.get(("bertd", m, B, T, "fp32"))
        g = r.get("gflops")
        peer_peak = (g * peers[best] / b / peaks[p]
                     if peaks.get(p) and best and g and b else None)
        out.append(dict(model=m, batch=B, length=r["length"], precision=p, bertd=b,
                        variant=r.get("variant"), gflops=g, peers=peers,
                        best_peer=best, vs_best=b / peers[best] if best else None,
                        vs_peer={e: b / x for e, x in peers.items()},
                        vs_fp32=b / f["sentences_per_s"] if f and p != "fp32" else None,
                        peer_peak=peer_peak, ceiling=1.0 / peer_peak if peer_peak else None))
    out.sort(key=lambda c: (MODELS.get(c["model"], 9), PRECISIONS.index(c["precision"]),
                            shape_order(c["model"], c["batch"], c["length"])))
    return out


def summary(comps):
    """Per precision: {precision: {n, min, median, below (shapes under 1.0), stream_min (batch 1,
    T <= 64), vs_fp32_target: {model: bertd here / fp32 at TARGET_SHAPE}, and where compare gave
    ceilings: ceiling_median, ceiling_stream (batch 1, T <= 64, each shape's), peer_peak_range
    (min, max)}} over the shapes with a peer at that precision (vs_fp32_target also where no
    peer ran)."""
    out = {}
    for p in PRECISIONS:
        cs = [c for c in comps if c["precision"] == p]
        if not cs:
            continue
        rs = [c["vs_best"] for c in cs if c["vs_best"] is not None]
        stream = [c["vs_best"] for c in cs if c["vs_best"] is not None and c["batch"] == 1
                  and c["length"] != "mix" and int(c["length"]) <= 64]
        s = dict(n=len(rs), min=min(rs) if rs else None,
                 median=statistics.median(rs) if rs else None,
                 below=sum(r < 1.0 for r in rs), stream_min=min(stream) if stream else None,
                 vs_fp32_target={})
        for c in cs:
            if (c["batch"], c["length"]) == TARGET_SHAPE and c["vs_fp32"] is not None:
                s["vs_fp32_target"][c["model"]] = c["vs_fp32"]
        ceil = [c for c in cs if c.get("ceiling")]
        if ceil:
            s["ceiling_median"] = statistics.median(c["ceiling"] for c in ceil)
            s["ceiling_stream"] = [c["ceiling"] for c in ceil if c["batch"] == 1 and
                                   c["length"] != "mix" and int(c["length"]) <= 64]
            s["peer_peak_range"] = (min(c["peer_peak"] for c in ceil),
                                    max(c["peer_peak"] for c in ceil))
        out[p] = s
    return out


def _f(x, fmt):
    return format(x, fmt) if x is not None else "-"


def peaks_of(doc):
    """{precision: the run's multiply-add peak in it} from a run's JSON: fp32 from the FMA loop,
    bf16 from vdpbf16ps where the CPU has AVX512-BF16 and not AMX (AMX's tiles are not timed,
    so an AMX CPU's bf16 rows get no ceiling)."""
    out = {}
    if doc.get("fma_peak_gflops"):
        out["fp32"] = doc["fma_peak_gflops"]
    if doc.get("bf16_peak_gflops") and "amx_bf16" not in (doc.get("flags") or []):
        out["bf16"] = doc["bf16_peak_gflops"]
    return out


def peak_ratio_line(doc):
    """The bf16 peak over the fp32 peak (what bf16 / fp32 approaches where the products are all
    the time and both run at their peaks), or None without both."""
    pk = peaks_of(doc)
    if "bf16" not in pk or "fp32" not in pk:
        return None
    return (f"bf16 peak / fp32 peak on this CPU: {pk['bf16'] / pk['fp32']:.2f}x "
            f"({pk['bf16']:.1f} / {pk['fp32']:.1f} GFLOP/s): bertd bf16 / bertd fp32 passes it "
            f"only by as much as bertd fp32 falls short of the fp32 peak")


def ceiling_line(p, s, doc):
    """What the run's multiply-add peak at p allows against the best peer, or None."""
    if "ceiling_median" not in s:
        return None
    lo, hi = s["peer_peak_range"]
    stream = s["ceiling_stream"]
    what = (f"fp32 multiply-add peak ({doc['fma_peak_gflops']:.1f} GFLOP/s, "
            f"{doc.get('fma_peak_isa', '?')})" if p == "fp32" else
            f"{p} pair-product peak ({peaks_of(doc)[p]:.1f} GFLOP/s, avx512-bf16)")
    return (f"{p} ceiling: the best peer runs at {100 * lo:.0f}-{100 * hi:.0f} % of this "
            f"machine's {what}, so bertd at that peak on every shape would be at "
            f"most: median {s['ceiling_median']:.2f}"
            + (f", batch 1 with T <= 64 {min(stream):.2f}-{max(stream):.2f}" if stream else "")
            + " times the best peer")


def text_lines(doc):
    """The table bench/peers.py prints: one line per model x precision x shape."""
    rows = doc["rows"]
    comps = compare(rows, peaks_of(doc))
    peers = [e for e in PEERS if any(r["engine"] == e for r in rows)]
    sgemm = doc.get("sgemm_gflops") or 0.0
    head = (f"{'model':9} {'prec':4} {'B':>3} {'T':>4} {'bertd':>8} {'variant':>9} "
            f"{'GFLOP/s':>7} {'%sgemm':>6}")
    head += "".join(f" {p[:11]:>11}" for p in peers)
    head += f" {'bertd/best':>10}" + "".join(f" {'/' + p[:8]:>9}" for p in peers)
    head += f" {'/fp32':>6} {'ceiling':>7}"
    lines = [head]
    for c in comps:
        g = c["gflops"]
        line = (f"{c['model']:9} {c['precision']:4} {c['batch']:3d} {str(c['length']):>4} "
                f"{c['bertd']:8.1f} {str(c['variant'] or '-'):>9} {_f(g, '7.1f'):>7} "
                f"{_f(100 * g / sgemm if g is not None and sgemm else None, '6.0f'):>6}")
        line += "".join(f" {_f(c['peers'].get(p), '11.1f'):>11}" for p in peers)
        line += f" {_f(c['vs_best'], '10.2f'):>10}"
        line += "".join(f" {_f(c['vs_peer'].get(p), '9.2f'):>9}" for p in peers)
        line += f" {_f(c['vs_fp32'], '6.2f'):>6} {_f(c['ceiling'], '7.2f'):>7}"
        lines.append(line)
    for p, s in summary(comps).items():
        if s["n"]:
            line = (f"{p} bertd / best peer at {p}: min {s['min']:.2f}, median {s['median']:.2f}"
                    + (f", batch 1 T<=64 min {s['stream_min']:.2f}" if s["stream_min"] else "")
                    + f"; below 1.0 on {s['below']} of {s['n']} shapes")
        else:
            line = f"{p}: no peer ran at {p}"
        lines.append(line)
        if (ceil := ceiling_line(p, s, doc)):
            lines.append(ceil)
        if p in TARGET_VS_FP32:
            B, T = TARGET_SHAPE
            got = ", ".join(f"{m} {v:.2f}x" for m, v in s["vs_fp32_target"].items()) or "-"
            lines.append(f"{p} bertd {p} / bertd fp32 at {B}x{T}: {got} "
                         f"(target >= {TARGET_VS_FP32[p]}x)")
        if p == "bf16" and (ratio := peak_ratio_line(doc)):
            lines.append(ratio)
    rss = {}
    for r in rows:
        rss.setdefault(r["model"], {})[(r["engine"], r["precision"])] = r["peak_rss_mib"]
    for m in sorted(rss, key=lambda m: MODELS.get(m, 9)):
        cells = sorted(rss[m].items(), key=lambda kv: (
            (["bertd"] + list(PEERS)).index(kv[0][0]), PRECISIONS.index(kv[0][1])))
        lines.append(f"peak RSS MiB {m}: " + ", ".join(f"{e} {p} {v:.0f}" for (e, p), v in cells))
    return lines


def markdown_lines(doc):
    """bench/encoder_results.md's table: the same figures as text_lines, as markdown."""
    rows = doc["rows"]
    comps = compare(rows, peaks_of(doc))
    peers = [e for e in PEERS if any(r["engine"] == e for r in rows)]
    sgemm = doc.get("sgemm_gflops") or 0.0
    kernels = doc.get("bertd_kernels") or {"fp32": doc.get("bertd_kernel", "?")}
    lines = [f"CPU: {doc['cpu']}; flags used: {' '.join(doc.get('flags_used', [])) or '-'}; "
             f"{doc['threads']} threads; bertd kernels: "
             + ", ".join(f"{p} {k}" for p, k in kernels.items())
             + f"; OpenBLAS sgemm 2048^3 {sgemm:.1f} GFLOP/s"
             + (f"; fp32 multiply-add peak {doc['fma_peak_gflops']:.1f} GFLOP/s "
                f"({doc.get('fma_peak_isa', '?')}), memory read {doc.get('read_gbs', 0):.1f} GB/s"
                if doc.get("fma_peak_gflops") else "")
             + f"; {doc.get('repeats')} repeats of "
             f"{doc.get('seconds_per_shape')} s per shape (median; min-max in the JSON); load "
             f"average {doc['load_average'][0]} before, {doc['load_average'][1]} after", ""]
    if doc.get("as_cpu"):
        lines.append(f"Run as an {doc['as_cpu']}-only CPU (bench/run.sh --as-cpu): the engines "
                     f"with a switch for it narrowed to {doc['as_cpu']}; not narrowed: "
                     + ", ".join(doc.get("as_cpu_uncapped") or ["-"]))
    for p, line in (doc.get("refusals") or {}).items():
        lines.append(f"bertd {p}: refused on this CPU: {line}")
    head = ("| model | precision | B | T | bertd s/s | bertd variant | GFLOP/s | % sgemm | "
            + " | ".join(f"{e} s/s" for e in peers) + " | bertd / best peer | "
            + " | ".join(f"bertd / {e}" for e in peers) + " | bertd / bertd fp32 | ceiling |")
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for c in comps:
        g = c["gflops"]
        cells = [c["model"], c["precision"], str(c["batch"]), str(c["length"]),
                 f"{c['bertd']:.1f}", str(c["variant"] or "-"), _f(g, ".1f"),
                 _f(100 * g / sgemm if g is not None and sgemm else None, ".0f")]
        cells += [_f(c["peers"].get(e), ".1f") for e in peers]
        cells.append(f"**{c['vs_best']:.2f}**" if c["vs_best"] is not None else "-")
        cells += [_f(c["vs_peer"].get(e), ".2f") for e in peers]
        cells.append(_f(c["vs_fp32"], ".2f"))
        cells.append(_f(c["ceiling"], ".2f"))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for p, s in summary(comps).items():
        if s["n"]:
            lines.append(f"- {p}: bertd / best peer min {s['min']:.2f}, median {s['median']:.2f}"
                         + (f", batch 1 with T <= 64 min {s['stream_min']:.2f}"
                            if s["stream_min"] else "")
                         + f"; below 1.0 on {s['below']} of {s['n']} shapes.")
        if (ceil := ceiling_line(p, s, doc)):
            lines.append(f"- {ceil}.")
        if p in TARGET_VS_FP32 and s["vs_fp32_target"]:
            B, T = TARGET_SHAPE
            lines.append(f"- bertd {p} / bertd fp32 at {B} x {T}: " + ", ".join(
                f"{m} {v:.2f}x" for m, v in s["vs_fp32_target"].items())
                + f" (target >= {TARGET_VS_FP32[p]}x).")
        if p == "bf16" and (ratio := peak_ratio_line(doc)):
            lines.append(f"- {ratio}.")
    lines.append("")
    engines = ["bertd"] + peers
    lines.append("| model | precision | " + " | ".join(f"{e} peak RSS MiB" for e in engines) + " |")
    lines.append("|---|---|" + "---|" * len(engines))
    rss = {(r["engine"], r["model"], r["precision"]): r["peak_rss_mib"] for r in rows}
    for m in sorted({r["model"] for r in rows}, key=lambda m: MODELS.get(m, 9)):
        for p in PRECISIONS:
            if any((e, m, p) in rss for e in engines):
                lines.append(f"| {m} | {p} | " + " | ".join(
                    _f(rss.get((e, m, p)), ".0f") for e in engines) + " |")
    return lines


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: results_table.py FILE.json")
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    print("\n".join(markdown_lines(doc)))


if __name__ == "__main__":
    main()
