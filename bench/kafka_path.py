#!/usr/bin/env python3
"""The Kafka path against the model alone: `bertd run` (Avro records in from a real broker,
tokenised, batched, encoded, enriched, produced out) against `bertd embed` (the CLI: the same
texts from a JSON-lines file, same model, same threads, same max length), on the same records,
in the same run, alternated `--repeats` times.

    python3 bench/kafka_path.py --build BUILD --model DIR [--records N] [--repeats R]
        [--threads N] [--profile DIR]

The daemon's rate is its own "records/s while busy" (first record in to last delivered), the
CLI's its wall time over the records (model load excluded: the CLI is timed on an empty input
first and that time subtracted). Uses tests/kafka/daemon_test.py's harness (a broker from
tests/kafka/broker.sh on loopback). Prints both rates and their ratio.

--profile DIR: the first round's daemon and CLI each run under a system-wide `perf record`
(DIR/daemon.perf, DIR/cli.perf; the broker and idle CPUs are in them too), and the run ends with
where each one's CPU time went (bench/perf_breakdown.py). Profiled rounds are slower by perf's
sampling; read their rates as such.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
import daemon_test as dt  # noqa: E402
import perf_breakdown  # noqa: E402


def perf_start(out):
    """A system-wide sampling profile into out until perf_stop; None without --profile."""
    if not out:
        return None
    p = subprocess.Popen(["perf", "record", "-a", "-F", "499", "-q", "-o", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # perf has its events open before the measured process starts
    return p


def perf_stop(p):
    if p:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--max-wait-ms", type=int, default=5)
    ap.add_argument("--profile", help="directory for the first round's perf profiles")
    a = ap.parse_args()
    if a.profile:
        os.makedirs(a.profile, exist_ok=True)

    def prof(name, i):
        return os.path.join(a.profile, name) if a.profile and i == 0 else None
    pids = {}
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    h = dt.Harness(os.path.abspath(a.build), "kafka-path")
    h.env["OPENBLAS_NUM_THREADS"] = str(a.threads)
    daemon, cli = [], []
    try:
        recs = dt.utterances(a.records)
        path = os.path.join(h.tmp, "texts.jsonl")
        empty = os.path.join(h.tmp, "empty.jsonl")
        with open(path, "w") as fh:
            for r in recs:
                fh.write(json.dumps({"id": r["id"], "text": r["text"]}) + "\n")
        open(empty, "w").close()
        h.start([("in%d" % i, 3) for i in range(a.repeats)] + [("out", 3), ("dlq", 1)])
        for i in range(a.repeats):
            h.produce("in%d" % i, recs)
        for i in range(a.repeats):
            cfg = h.config(name="p", max_length=128, inp="in%d" % i, out="out", dlq="dlq",
                           group="bench-%d" % i, model=a.model, task="embed")
            # the harness writes max_wait_ms 5 and buckets 16, 32, 128
            if a.max_wait_ms != 5:
                txt = open(cfg).read().replace("max_wait_ms: 5", "max_wait_ms: %d" % a.max_wait_ms)
                open(cfg, "w").write(txt)
            log = "daemon%d.log" % i
            rec = perf_start(prof("daemon.perf", i))
            h.daemon = h.spawn_daemon(cfg, log=log, stats_ms=1000)
            pids.setdefault("daemon", h.daemon.pid)
            deadline = time.time() + 600
            while time.time() < deadline:
                st = None
                for line in h.log_lines(log):
                    if "records/s while busy" in line:
                        st = line
                if st:
                    f = st.split("records in ", 1)[1].replace(",", " ").split()
                    if int(f[2]) + int(f[4]) >= a.records and int(f[f.index("flight") + 1]) == 0:
                        break
                time.sleep(0.5)
            rate = h.busy_rate(log)
            h.stop_daemon()
            perf_stop(rec)
            daemon.append(rate)
            t0 = time.time()
            subprocess.run([h.bertd, "embed", "--model", a.model, "--max-length", "128",
                            "--input", empty], stdout=subprocess.DEVNULL, check=True)
            load = time.time() - t0
            rec = perf_start(prof("cli.perf", i))
            t0 = time.time()
            p = subprocess.Popen([h.bertd, "embed", "--model", a.model, "--max-length", "128",
                                  "--input", path], stdout=subprocess.DEVNULL)
            pids.setdefault("cli", p.pid)
            if p.wait():
                raise RuntimeError("bertd embed failed")
            secs = time.time() - t0 - load
            perf_stop(rec)
            cli.append(a.records / secs)
            print("kafka_path: round %d: daemon %.1f records/s while busy, CLI %.1f records/s "
                  "(load %.2f s excluded)" % (i + 1, rate, cli[-1], load), flush=True)
    finally:
        h.close()
    if a.profile:
        cols = []
        for name in ("daemon", "cli"):
            shares, secs = perf_breakdown.breakdown(os.path.join(a.profile, name + ".perf"),
                                                    {pids[name]})
            cols.append(("%s (%.1f s)" % ("bertd run" if name == "daemon" else "bertd embed",
                                          secs), shares))
        print("kafka_path: where the CPU time went in the first round (perf, both CPUs, over "
              "the span the model ran):\n" + perf_breakdown.table(cols), flush=True)
    d, c = statistics.median(daemon), statistics.median(cli)
    print("kafka_path: %d records (tests/fixtures/texts/utterances.jsonl), %d threads, "
          "max_wait_ms %d: daemon median %.1f records/s, CLI median %.1f records/s, "
          "daemon/CLI %.2f; load average %.2f"
          % (a.records, a.threads, a.max_wait_ms, d, c, d / c, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
