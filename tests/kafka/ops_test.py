#!/usr/bin/env python3
"""Operating `bertd run` against a real Kafka broker (tests/kafka/broker.sh): its Prometheus
metrics and health endpoints, checked by promtool and scraped by a real Prometheus server, and
hot reload (SIGHUP and a watched model directory) with no record lost or duplicated.

    python3 tests/kafka/ops_test.py CASE --build BUILD_DIR [--records N]

CASE is one of: metrics, reload, overhead (a measurement CI does not run). Uses the harness of daemon_test.py (its own broker per case,
the tiny JointBERT fixture model). promtool and prometheus are Debian's prometheus package
(scripts/install-deps.sh). Exit status 0 when every check passed. Only the standard library.
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_test as dt  # noqa: E402
from daemon_test import check, free_port, utterances, Harness, MODEL, ROOT  # noqa: E402

DASHBOARD = os.path.join(ROOT, "config", "grafana", "bertd-dashboard.json")


def http_get(url, timeout=5):
    """(status, body); (0, reason) when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, ((label, value), ...)): float} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("not a sample line: %r" % line)
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def with_sections(h, text, **kw):
    """h.config(**kw) plus top-level sections (metrics:, reload:) appended to the same file."""
    path = h.config(**kw)
    with open(path, "a") as fh:
        fh.write(text)
    return path


def wait_for(what, fn, timeout, interval=0.5):
    """Calls fn until it returns something true; that, or None after timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(interval)
    print("     (gave up waiting for %s after %.0f s)" % (what, timeout), flush=True)
    return None


# ---- metrics ----

def case_metrics(a):
    """A daemon with `metrics: { listen: 127.0.0.1:PORT }` enriches N good records and P that are
    not Avro. /healthz answers as soon as it runs; /readyz once partitions are assigned; /metrics
    passes `promtool check metrics` and counts exactly what happened; a real Prometheus server
    scrapes it and answers bertd_records_out_total through its HTTP API."""
    h = Harness(a.build, "metrics")
    prom = None
    try:
        for tool in ("promtool", "prometheus"):
            if not shutil.which(tool):
                check(False, "%s is installed (scripts/install-deps.sh installs prometheus)" % tool)
                return
        # the input topic does not exist yet: nothing can be assigned
        h.start([("utt.out", 3), ("utt.dlq", 1)])
        # a listen address in use: one line naming it, exit 1, before anything else starts
        import socket
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            taken = busy.getsockname()[1]
            cfg = with_sections(h, "metrics: { listen: 127.0.0.1:%d }\n" % taken)
            out = subprocess.run([h.bertd, "run", "-c", cfg], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=60)
        lines = out.stdout.strip().splitlines()
        check(out.returncode == 1 and lines and lines[-1].endswith(
            "metrics.listen 127.0.0.1:%d: Address already in use" % taken),
            "a metrics.listen address in use: exit 1, one line naming it (%s)" % lines[-1:])
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        cfg = with_sections(h, "metrics: { listen: 127.0.0.1:%d }\n" % port,
                            extra_kafka="  topic.metadata.refresh.interval.ms: 1000\n")
        recs = utterances(a.records)
        poison = [("bad-%d" % i, b"\xff\xfe not avro %d" % i) for i in range(7)]
        h.run_daemon(cfg)
        st = wait_for("/healthz", lambda: http_get(base + "/healthz")[0] == 200, 30, 0.1)
        check(st is not None, "/healthz answers 200 while the daemon runs")
        unready = wait_for("models loaded", lambda: "models not loaded" not in
                           http_get(base + "/readyz")[1], 30, 0.1)
        time.sleep(2)
        got = http_get(base + "/readyz")
        check(unready and got == (503, "not ready: no input partition assigned\n"),
              "/readyz answers 503 naming the reason while no partition is assigned (%s)"
              % (got,))
        h.broker("create-topic", "utt", "3")
        h.produce("utt", recs)
        h.produce_raw("utt", poison)
        h.wait_done(len(recs) + len(poison), a.timeout)
        ready = wait_for("/readyz", lambda: http_get(base + "/readyz")[0] == 200, 30)
        check(ready is not None, "/readyz answers 200 once models are loaded and partitions "
              "assigned (%s)" % (http_get(base + "/readyz"),))
        status, _ = http_get(base + "/nothing")
        check(status == 404, "an unknown path is 404 (%s)" % status)

        # the lag gauges come from librdkafka's statistics (every 5 s): wait for all three at 0
        def lag_zero():
            s = parse_metrics(http_get(base + "/metrics")[1])
            lags = [value(s, "bertd_consumer_lag", topic="utt", partition=str(p))
                    for p in range(3)]
            return s if lags == [0, 0, 0] else None
        samples = wait_for("consumer lag 0", lag_zero, 30)
        check(samples is not None, "bertd_consumer_lag of each of the 3 partitions reaches 0")
        status, text = http_get(base + "/metrics")
        path = os.path.join(h.tmp, "metrics.txt")
        with open(path, "w") as fh:
            fh.write(text)
        with open(path) as fh:
            lint = subprocess.run(["promtool", "check", "metrics"], stdin=fh,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(status == 200 and lint.returncode == 0 and not lint.stdout.strip(),
              "`promtool check metrics` accepts /metrics (%d lines; rc %d %s)"
              % (len(text.splitlines()), lint.returncode, lint.stdout.strip()[:300]))
        s = parse_metrics(text)
        n, p = len(recs), len(poison)
        check(value(s, "bertd_records_in_total", topic="utt") == n + p,
              "bertd_records_in_total{topic=utt} = %d (%s)"
              % (n + p, value(s, "bertd_records_in_total", topic="utt")))
        check(value(s, "bertd_records_out_total", pipeline="intents") == n,
              "bertd_records_out_total{pipeline=intents} = %d" % n)
        check(value(s, "bertd_records_dead_lettered_total", pipeline="intents",
                    reason="NOT_AVRO") == p,
              "bertd_records_dead_lettered_total{reason=NOT_AVRO} = %d" % p)
        for hist in ("bertd_queue_seconds", "bertd_model_seconds", "bertd_end_to_end_seconds"):
            c = value(s, hist + "_count", pipeline="intents")
            inf = value(s, hist + "_bucket", pipeline="intents", le="+Inf")
            check(c == n and inf == n, "%s counts every delivered record (%s)" % (hist, c))
        # every good record was one sequence of one batch; the poison never reached the model
        check(value(s, "bertd_batch_size_sum", pipeline="intents") == n,
              "bertd_batch_size sums to %d sequences" % n)
        batches = value(s, "bertd_batch_size_count", pipeline="intents")
        check(batches and value(s, "bertd_batch_tokens_count", pipeline="intents") == batches
              and value(s, "bertd_batch_padding_ratio_count", pipeline="intents") == batches,
              "batch size, tokens and padding histograms count the same %s batches" % batches)
        tokens = value(s, "bertd_batch_tokens_total", pipeline="intents")
        padded = value(s, "bertd_batch_padded_tokens_total", pipeline="intents")
        check(tokens == value(s, "bertd_batch_tokens_sum", pipeline="intents")
              and padded >= tokens > n * 2,
              "tokens %s (at least [CLS] and [SEP] per record) <= padded tokens %s"
              % (tokens, padded))
        out = h.consume("utt.out", h.enriched_schema())
        checksum = out[0]["bertd"]["model_checksum"] if out else "?"
        check(value(s, "bertd_model_info", pipeline="intents", model="joint", checksum=checksum,
                    task="joint", precision="float32") == 1,
              "bertd_model_info names model joint, checksum %s, task joint, precision float32"
              % checksum)
        check(value(s, "bertd_records_in_flight") == 0 and
              value(s, "bertd_partitions_assigned") == 3 and
              value(s, "bertd_partitions_paused") == 0 and value(s, "bertd_ready") == 1,
              "in flight 0, 3 partitions assigned, none paused, ready 1")
        check((value(s, "bertd_kafka_brokers_up", client="producer") or 0) >= 1,
              "the producer has a broker up")

        # a real Prometheus server scrapes the daemon; its HTTP API answers the count
        pport = free_port()
        pdir = os.path.join(h.tmp, "prometheus")
        os.makedirs(pdir)
        with open(os.path.join(pdir, "prometheus.yml"), "w") as fh:
            fh.write("global: { scrape_interval: 1s, evaluation_interval: 1s }\n"
                     "scrape_configs:\n  - job_name: bertd\n"
                     "    static_configs: [ { targets: ['127.0.0.1:%d'] } ]\n" % port)
        with open(os.path.join(pdir, "prometheus.log"), "w") as log:
            prom = subprocess.Popen(
                ["prometheus", "--config.file=" + os.path.join(pdir, "prometheus.yml"),
                 "--storage.tsdb.path=" + os.path.join(pdir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % pport], stdout=log,
                stderr=subprocess.STDOUT)
        api = "http://127.0.0.1:%d/api/v1/query?query=" % pport

        def query(q):
            st, body = http_get(api + urllib.parse.quote(q))
            if st != 200:
                return None
            res = json.loads(body)["data"]["result"]
            return float(res[0]["value"][1]) if res else None
        got = wait_for("Prometheus' answer", lambda: query(
            'bertd_records_out_total{job="bertd",pipeline="intents"}') == n, 60)
        check(got is not None, "Prometheus scraped the daemon: its API answers "
              "bertd_records_out_total{pipeline=intents} = %d (last: %s)"
              % (n, query('bertd_records_out_total')))
        check(query('up{job="bertd"}') == 1, "Prometheus sees the target up")
        # every query of the Grafana dashboard runs on this server and answers something (rates
        # need a few scrapes in their window)
        wait_for("3 scrapes", lambda: (query('count_over_time(up{job="bertd"}[1m])') or 0) >= 3,
                 30)
        with open(DASHBOARD) as fh:
            exprs = [t["expr"] for pnl in json.load(fh)["panels"] for t in pnl["targets"]]
        empty = []
        for e in exprs:
            q = e.replace("$__rate_interval", "1m").replace("$job", ".*")
            q = q.replace("$instance", ".*")
            st, body = http_get(api + urllib.parse.quote(q))
            if st != 200 or not json.loads(body)["data"]["result"]:
                empty.append((e, st, body[:200]))
        check(exprs and not empty, "each of the dashboard's %d queries answers on Prometheus "
              "(failed: %s)" % (len(exprs), empty[:2]))
        check(query('sum(bertd_consumer_lag{job="bertd"})') == 0,
              "Prometheus' sum of bertd_consumer_lag is 0")
        t0 = time.time()
        for _ in range(20):
            http_get(base + "/metrics")
        print("figures: /metrics %d bytes, %d samples, %.2f ms per scrape (mean of 20); daemon "
              "%.1f records/s while busy with metrics on" % (len(text), len(s),
                                                              (time.time() - t0) * 50,
                                                              h.busy_rate() or 0))
        rc = h.stop_daemon()
        check(rc == 0, "daemon exits 0 on SIGTERM (rc %s)" % rc)
    finally:
        if prom and prom.poll() is None:
            prom.terminate()
            try:
                prom.wait(20)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
        h.close()


# ---- reload ----

def perturbed_copy(src, dst, delta):
    """The checkpoint at src copied to dst with delta added to the first intent bias: another
    checksum, and (a large delta) another intent for most texts."""
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    path = os.path.join(dst, "model.safetensors")
    with open(path, "rb") as fh:
        b = bytearray(fh.read())
    n = struct.unpack("<Q", b[:8])[0]
    t = json.loads(b[8:8 + n])["intent_classifier.linear.bias"]
    at = 8 + n + t["data_offsets"][0]
    (v,) = struct.unpack("<f", b[at:at + 4])
    b[at:at + 4] = struct.pack("<f", v + delta)
    write_file(path, bytes(b))


def write_file(path, data):
    """Replaced whole (a new inode), as a deployment tool would."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def case_reload(a):
    """Reload under load, against a real broker. The daemon starts on model m1 with
    `reload: { watch: true }`; records keep arriving throughout. Then:
      1. the file is made invalid YAML and SIGHUP sent: one line rejects it, m1 keeps serving;
      2. the file names a model whose weights file is damaged, SIGHUP: rejected, m1 serves;
      3. the file names m2 (other weights), SIGHUP: m2 loads beside m1, drain, swap;
      4. m2's weights are replaced in place: the watch reloads it (checksum c3);
      5. m2's weights are damaged in place: the watch's reload is rejected, c3 keeps serving.
    Every record must be in the output exactly once (none dead-lettered), each partition's
    records served by c1, then c2, then c3 in offset order, records produced after a reload
    finished served by the new model; the daemon never restarts and exits 0."""
    h = Harness(a.build, "reload")
    stop_feed = threading.Event()
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        models = os.path.join(h.tmp, "models")
        m1, m2, broken = (os.path.join(models, x) for x in ("m1", "m2", "broken"))
        shutil.copytree(MODEL, m1)
        perturbed_copy(MODEL, m2, 10.0)
        perturbed_copy(MODEL, broken, 0.0)
        with open(os.path.join(broken, "model.safetensors"), "r+b") as fh:
            fh.truncate(4096)
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        sections = ("metrics: { listen: 127.0.0.1:%d }\n"
                    "reload: { watch: true, interval_ms: 300 }\n" % port)
        cfg = with_sections(h, sections, model=m1)
        all_recs = utterances(a.records)
        chunks = [all_recs[i::10] for i in range(10)]  # ten disjoint sets of ids
        phase_of = {}

        def produce(k, phase):
            for r in chunks[k]:
                phase_of[r["id"]] = phase
            h.produce("utt", chunks[k])

        def reloads():
            lines = h.log_lines()
            return (sum("reloaded " in l for l in lines),
                    [l for l in lines if "reload rejected" in l])

        def wait_reloads(ok, rejected, timeout=60):
            return wait_for("%d reloads, %d rejected" % (ok, rejected), lambda: (
                reloads()[0] >= ok and len(reloads()[1]) >= rejected) or
                h.daemon.poll() is not None, timeout, 0.2)

        produce(0, "start")
        h.run_daemon(cfg)
        pid = h.daemon.pid
        h.wait_done(len(chunks[0]), a.timeout)

        # 1. invalid YAML
        with open(cfg, "w") as fh:
            fh.write("kafka: [this is not\n")
        h.daemon.send_signal(signal.SIGHUP)
        wait_reloads(0, 1)
        produce(1, "after bad config")
        ok, rej = reloads()
        check(len(rej) == 1 and cfg in rej[0] and ok == 0,
              "invalid YAML: rejected in one line naming the file (%s)" % (rej[-1:] or "none"))

        # 2. a damaged model
        with_sections(h, sections, model=broken)
        h.daemon.send_signal(signal.SIGHUP)
        wait_reloads(0, 2)
        produce(2, "after bad model")
        ok, rej = reloads()
        check(len(rej) == 2 and "broken" in rej[1] and ok == 0,
              "damaged model: rejected in one line naming it (%s)" % (rej[1:2] or "none"))
        h.wait_done(sum(len(chunks[k]) for k in range(3)), a.timeout)

        # 3. a good model, while records keep arriving
        def feed():
            k = 3
            while not stop_feed.is_set() and k < 6:
                produce(k, "during reload")
                k += 1
                time.sleep(0.3)
        feeder = threading.Thread(target=feed)
        with_sections(h, sections, model=m2)
        feeder.start()
        time.sleep(0.3)
        h.daemon.send_signal(signal.SIGHUP)
        wait_reloads(1, 2)
        feeder.join()
        produce(6, "after reload")
        ok, rej = reloads()
        check(ok == 1 and len(rej) == 2, "SIGHUP with a good model: reloaded (%d ok)" % ok)
        h.wait_done(sum(len(chunks[k]) for k in range(7)), a.timeout)

        # 4. the watched directory changes: new weights in place
        time.sleep(0.5)  # a modification time the watch can tell from the copy's
        perturbed_copy(MODEL, m2 + ".new", -10.0)
        write_file(os.path.join(m2, "model.safetensors"),
                   open(os.path.join(m2 + ".new", "model.safetensors"), "rb").read())
        wait_reloads(2, 2)
        produce(7, "after watch reload")
        ok, rej = reloads()
        check(ok == 2, "changed weights in the watched directory: reloaded (%d ok)" % ok)
        h.wait_done(sum(len(chunks[k]) for k in range(8)), a.timeout)

        # 5. the watched directory gets a damaged weights file
        time.sleep(0.5)
        write_file(os.path.join(m2, "model.safetensors"), b"\x00" * 64)
        wait_reloads(2, 3)
        produce(8, "after watched bad model")
        ok, rej = reloads()
        check(ok == 2 and len(rej) == 3, "damaged weights in the watched directory: rejected in "
              "one line (%s)" % (rej[2:3] or "none"))
        produce(9, "end")
        n = len(all_recs)
        h.wait_done(n, a.timeout)
        s = parse_metrics(http_get(base + "/metrics")[1])
        check(value(s, "bertd_reloads_total", result="ok") == 2 and
              value(s, "bertd_reloads_total", result="rejected") == 3,
              "bertd_reloads_total: ok 2, rejected 3")
        check(h.daemon.pid == pid and h.daemon.poll() is None, "the same daemon ran throughout")
        rc = h.stop_daemon()
        check(rc == 0, "daemon exits 0 on SIGTERM (rc %s)" % rc)

        out = h.consume("utt.out", h.enriched_schema())
        dlq = h.consume("utt.dlq", raw=True)
        ids = collections.Counter(r["id"] for r in out)
        check(set(ids) == set(phase_of) and max(ids.values()) == 1 and not dlq,
              "every record in the output exactly once, none dead-lettered (%d in, %d out, "
              "%d distinct, %d dead)" % (n, len(out), len(ids), len(dlq)))
        sums = []
        for r in out:
            c = r["bertd"]["model_checksum"]
            if c not in sums:
                sums.append(c)
        order = {}
        by_part = collections.defaultdict(list)
        for r in sorted(out, key=lambda r: (r["_partition"], r["_offset"])):
            by_part[r["_partition"]].append(r["bertd"]["model_checksum"])
        first_seen = {}
        for r in sorted(out, key=lambda r: r["_offset"]):
            first_seen.setdefault(r["bertd"]["model_checksum"], len(first_seen))
        order = sorted(first_seen, key=first_seen.get)
        mono = all([order.index(c) for c in cs] == sorted(order.index(c) for c in cs)
                   for cs in by_part.values())
        check(len(order) == 3 and mono, "three models served, each partition's records by the "
              "first, then the second, then the third (%d checksums)" % len(order))
        served = collections.defaultdict(collections.Counter)
        for r in out:
            served[phase_of[r["id"]]][r["bertd"]["model_checksum"]] += 1
        expect = {"start": 0, "after bad config": 0, "after bad model": 0, "after reload": 1,
                  "after watch reload": 2, "after watched bad model": 2, "end": 2}
        for phase, k in expect.items():
            got = served[phase]
            check(len(order) == 3 and set(got) == {order[k]},
                  "records produced %s: served by model %d only (%s)"
                  % (phase, k + 1, dict(got)))
        print("figures: reload records %d; served during the SIGHUP reload: %s"
              % (n, dict(served["during reload"])))
    finally:
        stop_feed.set()
        h.close()


# ---- overhead (a measurement, not run by CI) ----

def case_overhead(a):
    """The cost of metrics on the Kafka path: the same records consumed by daemons alternately
    without and with `metrics:` (each run its own consumer group, so each reads every record),
    records/s while busy as the daemon's stats line gives it, with Prometheus-style scrapes every
    second during the metrics runs. Prints the ratio and the CPU."""
    h = Harness(a.build, "overhead")
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        h.produce("utt", utterances(a.records))
        rates = {"off": [], "on": []}
        for rnd in range(a.rounds):
            for mode in ("off", "on"):
                port = free_port()
                group = "overhead-%s-%d" % (mode, rnd)
                sections = "metrics: { listen: 127.0.0.1:%d }\n" % port if mode == "on" else ""
                cfg = with_sections(h, sections, group=group, out="utt.out")
                log = "daemon-%s.log" % group
                proc = h.spawn_daemon(cfg, log=log)
                h.daemon = proc
                stop = threading.Event()

                def scrape():
                    while not stop.wait(1.0):
                        http_get("http://127.0.0.1:%d/metrics" % port)
                scraper = threading.Thread(target=scrape)
                if mode == "on":
                    scraper.start()
                deadline = time.time() + a.timeout
                while time.time() < deadline:
                    lines = [l for l in h.log_lines(log) if "records/s while busy" in l]
                    if lines and ("out %d," % a.records) in lines[-1] and "in flight 0" in lines[-1]:
                        break
                    time.sleep(0.5)
                stop.set()
                if mode == "on":
                    scraper.join()
                h.stop_daemon(proc=proc)
                rates[mode].append(h.busy_rate(log) or 0)
        cpu = "?"
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        off, on = max(rates["off"]), max(rates["on"])
        check(off > 0 and on > 0, "both modes delivered every record")
        print("figures: overhead %d records x %d rounds, tiny joint model, records/s while busy "
              "(best of rounds): metrics off %.1f %s, on (scraped every 1 s) %.1f %s; on/off %.3f; "
              "CPU %s" % (a.records, a.rounds, off, rates["off"], on, rates["on"], on / off, cpu))
    finally:
        h.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["metrics", "reload", "overhead"])
    ap.add_argument("--build", required=True)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    try:
        {"metrics": case_metrics, "reload": case_reload, "overhead": case_overhead}[a.case](a)
    except Exception as e:  # a harness failure is a failed check, not a traceback-only exit
        check(False, "%s: %s: %s" % (a.case, type(e).__name__, e))
    print("%d passed, %d failed" % (len(dt.passed), len(dt.failures)))
    sys.exit(1 if dt.failures else 0)


if __name__ == "__main__":
    main()
