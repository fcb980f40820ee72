#!/usr/bin/env python3
"""Latency under load: `bertd run` fed a steady R records/s by bench/load_gen (built by
bench/CMakeLists.txt), latency per record = the output record's Kafka timestamp (the output
topic uses message.timestamp.type=LogAppendTime, so it is the broker's append time: delivery)
minus the input record's timestamp (its CreateTime, set by load_gen to the wall-clock time of
the send and also written into the record's `ts` field, which the enriched record keeps).

    python3 bench/latency_load.py --build BUILD --model DIR [--rates 100,1000]
        [--waits 5,20] [--precisions fp32,int8] [--seconds 30] [--warmup 5] [--threads N]
        [--partitions 3] [--linger-ms default,0] [--repeats N] [--json FILE]

One broker (tests/kafka/broker.sh on loopback; BERTD_KAFKA_CACHE is honoured there) serves
every combination; each gets its own input and output topics and its own daemon (task embed,
max_length 128, buckets 16/32/128, max_batch_records 32; batching.max_wait_ms and
model.precision as given). Each daemon first gets a warm-up of --warmup seconds at the same
rate, drained before the measured --seconds start. Then the output topic is read back (load_gen
drain) and the measured records' latencies summarised: p50, p99, max, count in and out, the rate
load_gen achieved, the output rate (measured records over the span of their append times), and
where the time went, from the times bertd writes into every enriched record: queue_ms (waiting
for a batch and behind earlier ones), model_ms (the batch's forward pass), end_to_end_ms (input
timestamp .. encoded, just before produce) and the rest (produce .. broker append: the
producer's linger.ms and the round trip). Prints a markdown table; --json writes the rows.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
import daemon_test as dt  # noqa: E402

TEXTS = os.path.join(ROOT, "tests", "fixtures", "texts", "utterances.jsonl")


def pct(xs, p):
    """p-th percentile, nearest rank."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


def load_gen(h, gen, *args, timeout=None):
    out = subprocess.run([gen, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError("load_gen %s: %s" % (args[0], out.stderr.strip()))
    return out.stdout


def wait_delivered(h, log, n, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = h.stats(log)
        if st and st["out"] + st["dead"] >= n and st["in_flight"] == 0:
            return st
        if h.daemon.poll() is not None:
            raise RuntimeError("daemon exited (rc %s)" % h.daemon.returncode)
        time.sleep(0.5)
    raise RuntimeError("daemon did not deliver %d records in %.0f s (last: %s)"
                       % (n, timeout, h.stats(log)))


def run_one(h, gen, a, rate, wait, prec, linger, k):
    inp, out = "in-%d" % k, "out-%d" % k
    load_gen(h, gen, "topic", "--brokers", h.bootstrap, "--topic", inp, "--partitions",
             str(a.partitions))
    load_gen(h, gen, "topic", "--brokers", h.bootstrap, "--topic", out, "--partitions",
             str(a.partitions), "--log-append-time")
    extra = "  linger.ms: %s\n" % linger if linger != "default" else ""
    cfg = h.config(name="p", max_length=128, inp=inp, out=out, dlq="dlq", group="lat-%d" % k,
                   model=a.model, task="embed", extra_kafka=extra)
    txt = open(cfg).read().replace("max_wait_ms: 5", "max_wait_ms: %d" % wait)
    txt = txt.replace("on_too_long: truncate }", "on_too_long: truncate, precision: %s }" % prec)
    cfg_k = os.path.join(h.tmp, "bertd-%d.yaml" % k)
    open(cfg_k, "w").write(txt)
    log = "daemon%d.log" % k
    h.daemon = h.spawn_daemon(cfg_k, log=log, stats_ms=500)
    # ready: the pipeline runs and the group gave it its partitions
    deadline = time.time() + 120
    while time.time() < deadline:
        if any("running 1 pipeline" in line for line in h.log_lines(log)):
            break
        if h.daemon.poll() is not None:
            raise RuntimeError("daemon exited: %s" % "\n".join(h.log_lines(log)[-5:]))
        time.sleep(0.2)
    time.sleep(3)  # the group's first assignment
    n_warm = int(round(rate * a.warmup))
    if n_warm:
        load_gen(h, gen, "produce", "--brokers", h.bootstrap, "--topic", inp, "--schema",
                 dt.SCHEMA, "--texts", TEXTS, "--rate", str(rate), "--seconds", str(a.warmup),
                 "--id-prefix", "w")
        wait_delivered(h, log, n_warm, 600)
    load_before = loadavg()
    gen_out = json.loads(load_gen(h, gen, "produce", "--brokers", h.bootstrap, "--topic", inp,
                                  "--schema", dt.SCHEMA, "--texts", TEXTS, "--rate", str(rate),
                                  "--seconds", str(a.seconds), "--id-prefix", "m"))
    n_meas = gen_out["sent"]
    wait_delivered(h, log, n_warm + n_meas, 900)
    load_after = loadavg()
    busy = h.busy_rate(log)
    h.stop_daemon()
    lines = load_gen(h, gen, "drain", "--brokers", h.bootstrap, "--topic", out, "--schema",
                     h.enriched_schema(), "--count", str(n_warm + n_meas), "--timeout-ms",
                     "30000", timeout=300)
    with open(os.path.join(h.tmp, "drain-%d.jsonl" % k), "w") as fh:
        fh.write(lines)
    recs = [json.loads(x) for x in lines.splitlines() if x.strip()]
    meas = [r for r in recs if r["id"].startswith("m-")]
    if any(r["kafka_ts_type"] != 2 for r in meas):
        raise RuntimeError("%s: output timestamps are not LogAppendTime" % out)
    ids = {r["id"] for r in meas}
    lat = [r["kafka_ts"] - r["ts"] for r in meas]
    e2e = [r["end_to_end_ms"] for r in meas if r["end_to_end_ms"] is not None]
    rest = [r["kafka_ts"] - r["ts"] - r["end_to_end_ms"] for r in meas
            if r["end_to_end_ms"] is not None]
    app = sorted(r["kafka_ts"] for r in meas)
    out_rate = (len(app) - 1) / ((app[-1] - app[0]) / 1000.0) if len(app) > 1 and \
        app[-1] > app[0] else float("nan")
    row = {
        "rate": rate, "max_wait_ms": wait, "precision": prec, "linger_ms": linger,
        "seconds": a.seconds,
        "achieved_rate": gen_out["achieved_rate"], "late_max_ms": gen_out["late_max_ms"],
        "in": n_meas, "out": len(ids), "duplicates": len(meas) - len(ids),
        "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": max(lat) if lat else None,
        "out_rate": out_rate, "busy_rate": busy,
        "queue_ms_p50": pct([r["queue_ms"] for r in meas], 50),
        "model_ms_p50": pct([r["model_ms"] for r in meas], 50),
        "e2e_ms_p50": pct(e2e, 50), "e2e_ms_p99": pct(e2e, 99),
        "queue_ms_p99": pct([r["queue_ms"] for r in meas], 99),
        "produce_to_append_ms_p50": pct(rest, 50),
        "produce_to_append_ms_p99": pct(rest, 99),
        "pre_queue_ms_p50": pct([r["end_to_end_ms"] - r["queue_ms"] - r["model_ms"] for r in meas
                                 if r["end_to_end_ms"] is not None], 50),
        "load_before": load_before, "load_after": load_after,
    }
    print("latency_load: R %d/s max_wait_ms %d %s linger.ms %s: p50 %.1f ms p99 %.1f ms "
          "max %.1f ms, in %d out %d, sent at %.1f/s, out %.1f/s; load %s -> %s"
          % (rate, wait, prec, linger, row["p50_ms"], row["p99_ms"], row["max_ms"], row["in"],
             row["out"], row["achieved_rate"], out_rate, load_before, load_after), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--rates", default="100,1000")
    ap.add_argument("--waits", default="5,20")
    ap.add_argument("--precisions", default="fp32,int8")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--linger-ms", default="default",
                    help="the daemon's producer linger.ms (kafka: linger.ms), a comma list of "
                    "values, each run in turn; 'default': bertd's own (5)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="run the whole grid this many times (interleaved, for A/B under noise)")
    ap.add_argument("--json")
    a = ap.parse_args()
    a.model = os.path.abspath(a.model)
    build = os.path.abspath(a.build)
    gen = os.path.join(build, "bench", "load_gen")
    if not os.path.exists(gen):
        sys.exit("latency_load: %s missing: build the bench target load_gen" % gen)
    h = dt.Harness(build, "latency")
    h.env["OPENBLAS_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    rows = []
    print("latency_load: load average at start %s" % loadavg(), flush=True)
    try:
        h.start([("dlq", 1)])
        k = 0
        for _ in range(a.repeats):
            for prec in a.precisions.split(","):
                for rate in [int(x) for x in a.rates.split(",")]:
                    for wait in [int(x) for x in a.waits.split(",")]:
                        for linger in a.linger_ms.split(","):
                            rows.append(run_one(h, gen, a, rate, wait, prec, linger, k))
                            k += 1
    finally:
        h.close()
    print("\n| R (records/s) | max_wait_ms | precision | linger.ms | sent at | p50 ms | p99 ms "
          "| max ms | in | out | output records/s | queue p50 | model p50 | produce..append p50 "
          "| load before -> after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %d | %d | %s | %s | %.1f | %.1f | %.1f | %.1f | %d | %d | %.1f | %.1f | %.1f "
              "| %.1f | %s -> %s |" % (r["rate"], r["max_wait_ms"], r["precision"], r["linger_ms"],
                                r["achieved_rate"],
                                r["p50_ms"], r["p99_ms"], r["max_ms"], r["in"], r["out"],
                                r["out_rate"], r["queue_ms_p50"], r["model_ms_p50"],
                                r["produce_to_append_ms_p50"], r["load_before"],
                                r["load_after"]))
    print("latency_load: load average at end %s" % loadavg())
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"threads": a.threads, "seconds": a.seconds, "warmup": a.warmup,
                       "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
