#!/usr/bin/env python3
"""Where a process's CPU time went, from a system-wide `perf record -a` taken while it ran:
its samples by kind of work (the model, JSON, Avro, librdkafka, the kernel, ...), beside other
processes (the broker) and idle CPUs, as shares of all samples over the span the model ran
(the longest stretch in which the model keeps the CPUs busy, so start-up, the daemon's warm-up
forward passes and shutdown are left out).

    python3 bench/perf_breakdown.py FILE.perf PID [PID ...]

bench/kafka_path.py --profile DIR records one for the daemon and one for the CLI and prints
both; used alone it reads such a file. Needs `perf` (Debian's linux-perf).
"""
import collections
import re
import subprocess
import sys

# (what, how to tell it): the first kind whose test matches a sample's symbol or object wins
KINDS = [
    ("model (encoder, heads)", lambda sym, dso: "bertd" in dso and (
        sym in ("tile", "transpose_tile") or sym.startswith(("bertd_attention", "layernorm",
                                                             "bertd_embeddings", "bertd_gemm",
                                                             "bertd_encoder", "slice_run",
                                                             "bertd_pool", "bertd_lowp",
                                                             "bertd_attention_rows",
                                                             "gelu", "bertd_gelu")))),
    ("model load",
     lambda sym, dso: "bertd" in dso and sym.startswith(("bertd_weights_load", "bertd_vocab_load",
                                                         "bertd_checkpoint"))),
    ("tokenizer", lambda sym, dso: "utf8proc" in dso or ("bertd" in dso and (
        "wordpiece" in sym or "tokeniz" in sym or "basic_" in sym or
        sym.startswith(("bertd_vocab_find", "bertd_push_piece"))))),
    ("JSON (jansson, printf/strtod of reals)", lambda sym, dso: "jansson" in dso or any(
        k in sym for k in ("printf", "strtod", "str_to_mpn", "mpn_", "hack_digit",
                           "round_and_return", "localeconv", "parse_one_spec", "xsputn"))),
    ("Avro", lambda sym, dso: "avro" in dso or sym.startswith(("bertd_codec", "from_json"))),
    ("librdkafka", lambda sym, dso: "rdkafka" in dso),
    ("malloc/free", lambda sym, dso: "libc" in dso and ("malloc" in sym or "free" in sym or
                                                        "_int_" in sym or "unlink_chunk" in sym)),
    ("kernel (syscalls, scheduling, page faults)", lambda sym, dso: "kernel" in dso),
    ("other libc", lambda sym, dso: "libc" in dso),
]


def samples(perf_file):
    """(pid, time, symbol, object) per sample."""
    out = subprocess.run(["perf", "script", "-i", perf_file, "-F", "pid,time,ip,sym,dso"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s+([\d.]+):\s+\S+\s+(.*?)\s+\((.*)\)\s*$", line)
        if m:
            rows.append((int(m.group(1)), float(m.group(2)), m.group(3),
                         m.group(4).rsplit("/", 1)[-1]))
    return rows


def kind(sym, dso):
    for name, test in KINDS:
        if test(sym, dso):
            return name
    return "other (%s)" % dso


def breakdown(perf_file, pids):
    """{kind: share} over the model's span, with "idle" and "other processes"; and the span."""
    rows = samples(perf_file)
    model = [r[1] for r in rows if r[0] in pids and kind(r[2], r[3]).startswith("model (")]
    if not model:
        return {}, 0.0
    # the longest run of 0.1 s bins in which the model has at least a third of all samples: the
    # daemon's warm-up forward passes at start-up are followed by a lull (the consumer group's
    # join, the first fetch), which ends a run, so the span is the records' processing
    start = min(r[1] for r in rows)
    nbins = int((max(r[1] for r in rows) - start) / 0.1) + 1
    busy, total = [0] * nbins, [0] * nbins
    for r in rows:
        total[int((r[1] - start) / 0.1)] += 1
    for t in model:
        busy[int((t - start) / 0.1)] += 1
    best, run0 = (0, -1), None
    for i in range(nbins + 1):
        if i < nbins and total[i] and busy[i] * 3 >= total[i]:
            run0 = i if run0 is None else run0
        elif run0 is not None:
            if i - run0 > best[1] - best[0] + 1:
                best = (run0, i - 1)
            run0 = None
    t0, t1 = start + best[0] * 0.1, start + (best[1] + 1) * 0.1
    span = [r for r in rows if t0 <= r[1] <= t1]
    c = collections.Counter()
    for pid, _, sym, dso in span:
        c["idle" if pid == 0 else kind(sym, dso) if pid in pids else "other processes"] += 1
    return {k: v / len(span) for k, v in c.items()}, t1 - t0


def table(columns):
    """columns: [(title, {kind: share})] -> markdown rows, kinds in the first column's order."""
    kinds = sorted({k for _, d in columns for k in d}, key=lambda k: -columns[0][1].get(k, 0))
    lines = ["| share of both CPUs | " + " | ".join(t for t, _ in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for k in kinds:
        lines.append("| %s | %s |" % (k, " | ".join("%.1f %%" % (100 * d.get(k, 0))
                                                    for _, d in columns)))
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: perf_breakdown.py FILE.perf PID [PID ...]")
    shares, secs = breakdown(sys.argv[1], {int(p) for p in sys.argv[2:]})
    print("%.1f s of model activity" % secs)
    print(table([(sys.argv[1], shares)]))
