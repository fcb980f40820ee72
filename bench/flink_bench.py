#!/usr/bin/env python3
"""Records/s of the bertd Flink job (plugin/flink/, parallelism 1 and 2) beside the bertd daemon,
on the same records, model and batching settings, Kafka in -> Kafka out, on one real broker
(tests/kafka/broker.sh), in one run on this machine:

    python3 bench/flink_bench.py --build build --model DIR --task embed [--records 5000]

Each engine reads the same input topic (its own consumer group) and writes its own output topic:
  daemon      `bertd run`, one pipeline, model.threads = --threads (run first and again last)
  flink p=1   scripts/flink-enrich.sh --bounded, one subtask, model.threads = --threads
  flink p=2   two subtasks, each a bertd stage with model.threads = --threads / 2
Two rates per engine: busy (first record taken .. last record out: the daemon's own "records/s
while busy", the Flink operator's --report-times lines) and wall (process start .. every record
delivered, committed for Flink's exactly-once sink; JVM, MiniCluster, model load included).
The CPU is named from lscpu. Only the standard library.
"""
import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
import daemon_test as kt  # noqa: E402  (the broker harness and the project's utterances)

FLINK = os.path.join(ROOT, "scripts", "flink-enrich.sh")
BATCHING = {"max_batch_tokens": 4096, "max_batch_records": 32, "max_wait_ms": 5,
            "buckets": "[16,32,64,128]"}


def cpu():
    out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
    name = re.search(r"Model name:\s*(.*)", out)
    flags = re.search(r"Flags:\s*(.*)", out)
    simd = [f for f in (flags.group(1).split() if flags else [])
            if f in ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni")]
    return "%s (%s; %d logical CPUs)" % (name.group(1).strip() if name else "unknown",
                                         " ".join(simd), os.cpu_count())


def daemon(h, a, topic_out, group):
    cfg = os.path.join(h.tmp, "bench.yaml")
    with open(cfg, "w") as fh:
        fh.write("""kafka:
  bootstrap.servers: %s
  group.id: %s
pipelines:
  - name: bench
    input: { topics: [in], schema: %s, text_field: text }
    output: { topic: %s }
    dead_letter: { topic: dlq }
    model: { dir: %s, task: %s, max_length: 128, threads: %d }
    batching: { max_batch_tokens: %d, max_batch_records: %d, max_wait_ms: %d, buckets: %s }
""" % (h.bootstrap, group, kt.SCHEMA, topic_out, a.model, a.task, a.threads,
       BATCHING["max_batch_tokens"], BATCHING["max_batch_records"], BATCHING["max_wait_ms"],
       BATCHING["buckets"]))
    t0 = time.time()
    h.run_daemon(cfg, stats_ms=500)
    h.wait_done(a.records, 3600)
    wall = time.time() - t0
    busy = h.busy_rate()
    h.stop_daemon()
    os.rename(os.path.join(h.tmp, "daemon.log"), os.path.join(h.tmp, "daemon-%s.log" % group))
    return busy, a.records / wall


def flink(h, a, p, topic_out):
    cmd = ["bash", FLINK, "--model", a.model, "--task", a.task, "--max-length", "128",
           "--brokers", h.bootstrap, "--topic", "in", "--output-topic", topic_out,
           "--dead-letter-topic", "dlq", "--schema", kt.SCHEMA, "--group-id", "bench-f%d" % p,
           "--parallelism", str(p), "--bounded", "--report-times",
           "--checkpoint-ms", str(a.checkpoint_ms),
           "--set", "model.threads=%d" % max(1, a.threads // p)]
    for k, v in BATCHING.items():
        cmd += ["--set", "batching.%s=%s" % (k, v)]
    t0 = time.time()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, BERTD_BUILD_DIR=a.build))
    wall = time.time() - t0
    if out.returncode != 0:
        raise RuntimeError("flink-enrich failed: %s" % out.stderr[-2000:])
    subs = [tuple(int(x) for x in m.groups()) for m in re.finditer(
        r"subtask \d+: (\d+) records, first in at (\d+) ms, last out at (\d+) ms", out.stderr)]
    n = sum(s[0] for s in subs)
    if n != a.records:
        raise RuntimeError("flink: %d records reported, %d expected" % (n, a.records))
    busy_s = (max(s[2] for s in subs) - min(s[1] for s in subs)) / 1000.0
    for line in out.stderr.splitlines():
        if "bertd-flink: subtask" in line:
            print("flink p=%d: %s" % (p, line.split("bertd-flink: ", 1)[1]))
    return n / busy_s, a.records / wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--task", default="embed")
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint-ms", type=int, default=1000,
                    help="the Flink job's checkpoint interval (exactly-once commits)")
    ap.add_argument("--flink-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.build, a.model = os.path.abspath(a.build), os.path.abspath(a.model)
    load = os.getloadavg()[0]
    h = kt.Harness(a.build, "flink-bench")
    rows = []
    try:
        h.start([("in", 2), ("out.daemon", 2), ("out.flink1", 2), ("out.flink2", 2),
                 ("out.daemon2", 2), ("dlq", 1)])
        h.produce("in", kt.utterances(a.records))
        # the daemon first and again last: the spread of its two runs shows how much the
        # machine's load moved during the run
        rows.append(("bertd daemon", *(daemon(h, a, "out.daemon", "bench-d1") if not a.flink_only
                                        else (1.0, 1.0))))
        rows.append(("Flink job, parallelism 1", *flink(h, a, 1, "out.flink1")))
        rows.append(("Flink job, parallelism 2", *flink(h, a, 2, "out.flink2")))
        if not a.flink_only:
            rows.append(("bertd daemon, again", *daemon(h, a, "out.daemon2", "bench-d2")))
    finally:
        h.close()
    print("CPU: %s; load average (1 min) at the start: %.1f" % (cpu(), load))
    print("model %s, task %s, %d records (tests/fixtures/texts/utterances.jsonl), max_length 128,"
          " %d threads in all, batching %s, Flink checkpoints every %d ms (exactly-once)"
          % (os.path.basename(a.model), a.task, a.records, a.threads, BATCHING,
             a.checkpoint_ms))
    print("| engine | busy records/s | vs daemon | wall records/s (start included) | vs daemon |")
    print("|---|---|---|---|---|")
    # ratios against the daemon's first run
    d_busy, d_wall = rows[0][1], rows[0][2]
    for name, busy, wall in rows:
        print("| %s | %.1f | %.2fx | %.1f | %.2fx |" % (name, busy, busy / d_busy, wall,
                                                        wall / d_wall))


if __name__ == "__main__":
    main()
