#!/usr/bin/env python3
"""Renders a bench/run.sh --json file as the markdown table of bench/encoder_results.md.

    python3 bench/results_table.py FILE.json
"""
import json
import statistics
import sys


def main():
    doc = json.load(open(sys.argv[1]))
    rows = doc["rows"]
    by = {(r["engine"], r["model"], r["batch"], str(r["length"])): r for r in rows}
    engines = [e for e in ("onnxruntime", "openvino", "torch") if any(r["engine"] == e for r in rows)]
    shapes = []
    for r in rows:
        if r["engine"] == "bertd":
            shapes.append((r["model"], r["batch"], str(r["length"])))
    order = {"minilm": 0, "bert-base": 1}
    shapes.sort(key=lambda s: (order.get(s[0], 9), s[1], 999 if s[2] == "mix" else int(s[2])))
    print(f"CPU: {doc['cpu']}; {doc['threads']} threads; bertd kernel {doc['bertd_kernel']}; "
          f"OpenBLAS sgemm 2048^3 {doc['sgemm_gflops']:.1f} GFLOP/s; {doc['repeats']} repeats "
          f"of {doc['seconds_per_shape']} s per shape (median; min-max in the JSON); load average "
          f"{doc['load_average'][0]} before, {doc['load_average'][1]} after\n")
    head = "| model | B | T | bertd s/s | GFLOP/s | % sgemm | " + " | ".join(
        f"{e} s/s" for e in engines) + " | bertd / best peer | " + " | ".join(
        f"bertd / {e}" for e in engines) + " |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    ratios = []
    for m, B, T in shapes:
        b = by[("bertd", m, B, T)]
        vals = [by.get((e, m, B, T), {}).get("sentences_per_s") for e in engines]
        best = max(v for v in vals if v)
        ratios.append((m, B, T, b["sentences_per_s"] / best))
        g = b.get("gflops", 0.0)
        cells = [m, str(B), T, f"{b['sentences_per_s']:.1f}", f"{g:.1f}",
                 f"{100 * g / doc['sgemm_gflops']:.0f}"]
        cells += [f"{v:.1f}" if v else "-" for v in vals]
        cells.append(f"**{b['sentences_per_s'] / best:.2f}**")
        cells += [f"{b['sentences_per_s'] / v:.2f}" if v else "-" for v in vals]
        print("| " + " | ".join(cells) + " |")
    rs = [r for *_, r in ratios]
    stream = [r for m, B, T, r in ratios if B == 1 and T != "mix" and int(T) <= 64]
    print(f"\nbertd / best peer: min {min(rs):.2f}, median {statistics.median(rs):.2f}, "
          f"batch 1 with T <= 64: min {min(stream):.2f}; below 1.0 on "
          f"{sum(r < 1 for r in rs)} of {len(rs)} shapes.\n")
    print("| model | " + " | ".join(["bertd"] + engines) + " | bertd / onnxruntime |")
    print("|---|" + "---|" * (len(engines) + 2))
    for m in ("minilm", "bert-base"):
        rss = {e: next((r["peak_rss_mib"] for r in rows if r["engine"] == e and r["model"] == m),
                       None) for e in ["bertd"] + engines}
        ratio = rss["bertd"] / rss["onnxruntime"] if rss.get("onnxruntime") else float("nan")
        print(f"| {m} | " + " | ".join(f"{rss[e]:.0f}" if rss[e] else "-"
                                         for e in ["bertd"] + engines) + f" | {ratio:.2f} |")


if __name__ == "__main__":
    main()
