#!/usr/bin/env python3
"""bertd run against a real Kafka broker (tests/kafka/broker.sh): end to end, kill -9, broker
restart, poison records, bad configs, memory, a rebalance between two live daemons, backpressure.

    python3 tests/kafka/daemon_test.py CASE --build BUILD_DIR [--records N] ...

CASE is one of: e2e, kill, broker-restart, poison, bad-config, memory, rebalance, backpressure,
broker-unreachable, timing, exactly-once, security, registry (a real Schema Registry from
tests/registry/registry.sh).
Each case starts its own broker (its own state directory, a free port), uses the tiny JointBERT
fixture model (so the numbers measure the Kafka path, not BERT) -- except memory, which serves
the real MiniLM checkpoint named by BERTD_MODEL_DIR, as deployed -- checks what it must, prints
its figures, and stops the broker. Exit status 0 when every check passed. Only the standard
library: CI runs it as is.
"""
import argparse
import base64
import collections
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# customer-service utterances written by tools/reference/make_texts.py (seeded; some with
# accents, CJK or emoji): the records' texts
UTTERANCES = os.path.join(ROOT, "tests", "fixtures", "texts", "utterances.jsonl")
BROKER = os.path.join(ROOT, "tests", "kafka", "broker.sh")
REGISTRY = os.path.join(ROOT, "tests", "registry", "registry.sh")
SCHEMA = os.path.join(ROOT, "schemas", "utterance.avsc")
MODEL = os.path.join(ROOT, "tests", "fixtures", "models", "joint")

failures = []
passed = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    (passed if cond else failures).append(what)


class Harness:
    def __init__(self, build, name):
        self.build = build
        self.bertd = os.path.join(build, "cli", "bertd")
        self.tmp = tempfile.mkdtemp(prefix="bertd-%s-" % name)
        self.env = dict(os.environ, BERTD_KAFKA_STATE=os.path.join(self.tmp, "kafka"),
                        BERTD_KAFKA_OWNER_PID=str(os.getpid()))
        self.bootstrap = None
        self.daemon = None
        self.procs = []  # every daemon spawned, so close() can kill what a failure left running

    # ---- broker ----
    def broker(self, *args):
        out = subprocess.run(["bash", BROKER, *args], env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        if out.returncode != 0:
            raise RuntimeError("broker.sh %s failed:\n%s" % (" ".join(args), out.stdout))
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""

    def start(self, topics):
        self.bootstrap = self.broker("start")
        for name, parts in topics:
            self.broker("create-topic", name, str(parts))

    # ---- records ----
    def produce(self, topic, records, key_field="id", schema=SCHEMA, extra=()):
        """extra: more `bertd produce` options, e.g. ("--confluent", "--registry", URL)."""
        path = os.path.join(self.tmp, "produce-%d.jsonl" % random.getrandbits(32))
        with open(path, "w") as fh:
            for r in records:
                fh.write(json.dumps(r) + "\n")
        subprocess.run([self.bertd, "produce", "--brokers", self.bootstrap, "--topic", topic,
                        "--schema", schema, "--key-field", key_field, "--input", path, *extra],
                       check=True, stdout=subprocess.DEVNULL)

    def produce_raw(self, topic, items):
        """items: (key, value bytes) produced as they are (for poison records)."""
        path = os.path.join(self.tmp, "raw-%d.jsonl" % random.getrandbits(32))
        with open(path, "w") as fh:
            for k, v in items:
                fh.write(json.dumps({"key": k, "value_hex": v.hex()}) + "\n")
        subprocess.run([self.bertd, "produce", "--brokers", self.bootstrap, "--topic", topic,
                        "--raw", "--input", path], check=True, stdout=subprocess.DEVNULL)

    def consume(self, topic, schema=None, raw=False, extra=(), count=None):
        """Every record of topic, or its first count (from whichever partitions come first)."""
        cmd = [self.bertd, "consume", "--brokers", self.bootstrap, "--topic", topic,
               "--from-beginning", *(("--count", str(count)) if count else ("--until-eof",)),
               *extra]
        cmd += ["--raw"] if raw else ["--schema", schema]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise RuntimeError("consume %s failed: %s" % (topic, out.stderr.strip()))
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def enriched_schema(self, schema=SCHEMA):
        path = os.path.join(self.tmp, "enriched-%s" % os.path.basename(schema))
        if not os.path.exists(path):
            with open(path, "w") as fh:
                subprocess.run([self.bertd, "schema", "enrich", schema], stdout=fh, check=True)
        return path

    # ---- daemon ----
    def config(self, name="intents", max_length=64, on_too_long="truncate", inp="utt",
               out="utt.out", dlq="utt.dlq", group="bertd-test", extra_kafka="", model=MODEL,
               task="joint", registry=None, more_pipelines=()):
        """registry: a schema_registry.url for the file; more_pipelines: further pipelines as
        (name, input topic, schema, framing, output topic) sharing the first one's model and
        dead-letter topic."""
        path = os.path.join(self.tmp, "bertd.yaml")
        buckets = sorted({b for b in (16, 32) if b < max_length} | {max_length})
        pipelines = [(name, inp, SCHEMA, "plain", out)] + list(more_pipelines)
        with open(path, "w") as fh:
            fh.write("""kafka:
  bootstrap.servers: %s
  group.id: %s
  session.timeout.ms: 6000
  heartbeat.interval.ms: 500
%s""" % (self.bootstrap, group, extra_kafka))
            if registry:
                fh.write("schema_registry:\n  url: %s\n" % registry)
            fh.write("pipelines:\n")
            for pname, ptopic, pschema, framing, pout in pipelines:
                fh.write("""  - name: %s
    input: { topics: [%s], schema: %s, text_field: text, framing: %s }
    output: { topic: %s }
    dead_letter: { topic: %s }
    model: { dir: %s, task: %s, max_length: %d, on_too_long: %s }
    batching: { max_batch_tokens: 4096, max_batch_records: 32, max_wait_ms: 5, buckets: %s }
""" % (pname, ptopic, pschema, framing, pout, dlq, model, task, max_length, on_too_long,
                    buckets))
        return path

    def spawn_daemon(self, cfg, log="daemon.log", args=(), stats_ms=2000):
        """A `bertd run` writing to its own log in the case's directory."""
        with open(os.path.join(self.tmp, log), "a") as fh:
            proc = subprocess.Popen([self.bertd, "run", "-c", cfg, "--stats-interval-ms",
                                     str(stats_ms), *args], stdout=fh, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def run_daemon(self, cfg, args=(), stats_ms=2000):
        self.daemon = self.spawn_daemon(cfg, args=args, stats_ms=stats_ms)
        return self.daemon

    def log_lines(self, log="daemon.log"):
        with open(os.path.join(self.tmp, log)) as fh:
            return fh.read().splitlines()

    def stop_daemon(self, sig=signal.SIGTERM, timeout=60, proc=None):
        """Signals the daemon (or proc) and returns its exit status; kills it after timeout."""
        proc = proc or self.daemon
        if not proc:
            return None
        proc.send_signal(sig)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        if proc is self.daemon:
            self.daemon = None
        return rc

    def busy_rate(self, log="daemon.log"):
        """records/s from the daemon's last stats line (first record in .. last delivered)."""
        rate = None
        with open(os.path.join(self.tmp, log)) as fh:
            for line in fh:
                if "records/s while busy" in line:
                    rate = float(line.rsplit(",", 1)[1].split()[0])
        return rate

    def stats(self, log="daemon.log"):
        """The daemon's last stats line as numbers: in, out, dead, in_flight, heap_kib."""
        last = None
        with open(os.path.join(self.tmp, log)) as fh:
            for line in fh:
                if "records/s while busy" in line:
                    last = line
        if not last:
            return None
        f = last.split("records in ", 1)[1].replace(",", " ").split()
        return {"in": int(f[0]), "out": int(f[2]), "dead": int(f[4]),
                "in_flight": int(f[f.index("flight") + 1]), "heap_kib": int(f[f.index("heap") + 1])}

    def wait_done(self, n, timeout):
        """Waits until the daemon reports n records delivered (output or dead letter) and none in
        flight; returns that stats line."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.stats()
            if st and st["out"] + st["dead"] >= n and st["in_flight"] == 0:
                return st
            if self.daemon.poll() is not None:
                raise RuntimeError("daemon exited (rc %s)" % self.daemon.returncode)
            time.sleep(0.5)
        raise RuntimeError("daemon did not deliver %d records in %.0f s (last: %s)"
                           % (n, timeout, self.stats()))

    def rss_kib(self):
        with open("/proc/%d/status" % self.daemon.pid) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def wait_output(self, topic, want_ids, timeout, schema=None, extra=(), daemons=()):
        """Polls the output topic until every wanted id is there; returns the records. Gives up
        early when the daemon (or every one of daemons) has exited."""
        deadline = time.time() + timeout
        recs = []
        while time.time() < deadline:
            recs = self.consume(topic, schema or self.enriched_schema(), extra=extra)
            if want_ids <= {r["id"] for r in recs}:
                return recs
            procs = list(daemons) or ([self.daemon] if self.daemon else [])
            if procs and all(p.poll() is not None for p in procs):
                break
            time.sleep(1)
        return recs

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        try:
            self.broker("stop")
        except RuntimeError:
            pass
        for log in sorted(os.listdir(self.tmp)) if failures else []:
            if log.startswith("daemon") and log.endswith(".log"):
                tail = self.log_lines(log)[-40:]
                print("--- %s (last 40 lines) ---\n%s" % (log, "\n".join(tail)))
        if os.environ.get("BERTD_TEST_KEEP"):  # for a post-mortem of the logs
            print("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Registry:
    """The real Schema Registry of tests/registry/registry.sh: Apicurio Registry, its Confluent
    API at self.api (http://127.0.0.1:PORT/apis/ccompat/v7), in its own state directory under
    tmp. auth "USER:PASSWORD": the API answers 401 without that HTTP Basic user, and self.url (the
    URL bertd is given) carries it as user:password@. Stopped when this process exits, if a test
    leaves it running."""

    def __init__(self, tmp, auth=None):
        self.env = dict(os.environ, BERTD_REGISTRY_STATE=os.path.join(tmp, "registry"),
                        BERTD_REGISTRY_OWNER_PID=str(os.getpid()))
        self.env.pop("BERTD_REGISTRY_AUTH", None)
        if auth:
            self.env["BERTD_REGISTRY_AUTH"] = auth
        self.auth = auth
        self.api = self.run("start")
        self.url = self.api.replace("http://", "http://%s@" % auth) if auth else self.api

    def run(self, *args):
        out = subprocess.run(["bash", REGISTRY, *args], env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        if out.returncode != 0:
            raise RuntimeError("registry.sh %s failed:\n%s" % (" ".join(args), out.stdout))
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""

    def request(self, method, path, body=None, auth=True):
        """(HTTP status, parsed JSON body) of one call to the Confluent API."""
        req = urllib.request.Request(self.api + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        if auth and self.auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(self.auth.encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text.decode(errors="replace")

    def add(self, text, subject):
        """Registers schema text under subject; returns its id."""
        status, body = self.request("POST", "/subjects/%s/versions" % subject, {"schema": text})
        if status != 200:
            raise RuntimeError("registering under %s: HTTP %d %s" % (subject, status, body))
        return body["id"]

    def subjects(self):
        status, body = self.request("GET", "/subjects")
        return sorted(body) if status == 200 else None

    def close(self):
        try:
            self.run("stop")
        except RuntimeError:
            pass


def utterance_schema(text_type):
    """utterance.avsc with its text field's type replaced (None: the field removed)."""
    with open(SCHEMA) as fh:
        s = json.load(fh)
    fields = []
    for f in s["fields"]:
        if f["name"] == "text":
            if text_type is None:
                continue
            f = {"name": "text", "type": text_type}
            if isinstance(text_type, list) and text_type[0] == "null":
                f["default"] = None
        fields.append(f)
    s["fields"] = fields
    return json.dumps(s, separators=(",", ":"))


def utterances(n):
    """n records, the texts of tests/fixtures/texts/utterances.jsonl in order (again from the
    start when n is larger), ids unique."""
    with open(UTTERANCES, encoding="ascii") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()]
    return [{"id": "u-%d-%d" % (i % len(texts), i), "text": texts[i % len(texts)]}
            for i in range(n)]


def cli_joint(h, recs):
    path = os.path.join(h.tmp, "cli-in.jsonl")
    with open(path, "w") as fh:
        for r in recs:
            fh.write(json.dumps({"id": r["id"], "text": r["text"]}) + "\n")
    t0 = time.time()
    out = subprocess.run([h.bertd, "joint", "--model", MODEL, "--input", path, "--max-length",
                          "64"], stdout=subprocess.PIPE, check=True, text=True)
    secs = time.time() - t0
    return {json.loads(l)["id"]: json.loads(l) for l in out.stdout.splitlines()}, secs


def unwrap(v):
    """Avro JSON encoding wraps union values as {"type": value}."""
    if isinstance(v, dict) and len(v) == 1:
        (k, x), = v.items()
        if "." in k or k in ("string", "float", "double", "int", "long"):
            return x
    return v


def same_enrichment(avro_rec, cli_rec):
    b = avro_rec["bertd"]
    intent = unwrap(b["intent"])
    if intent["label"] != cli_rec["intent"]["label"]:
        return False
    if abs(intent["score"] - cli_rec["intent"]["score"]) > 1e-5:
        return False
    if b["tags"] != cli_rec["tags"] or len(b["slots"]) != len(cli_rec["slots"]):
        return False
    for s, c in zip(b["slots"], cli_rec["slots"]):
        if (s["slot"], s["text"], s["start"], s["end"]) != (c["slot"], c["text"], c["start"],
                                                            c["end"]):
            return False
        if abs(s["score"] - c["score"]) > 1e-5:
            return False
    return True


# ---- cases ----

def case_e2e(a):
    h = Harness(a.build, "e2e")
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        recs = utterances(a.records)
        h.produce("utt", recs)
        inputs = h.consume("utt", SCHEMA)
        check(len(inputs) == len(recs), "%d records produced to a 3-partition topic" % len(recs))
        t0 = time.time()
        cfg = h.config()
        if a.delivery:
            with open(cfg) as fh:
                text = fh.read()
            with open(cfg, "w") as fh:
                fh.write("delivery: %s\n" % a.delivery + text)
        h.run_daemon(cfg)
        out = h.wait_output("utt.out", {r["id"] for r in recs}, a.timeout)
        secs = time.time() - t0
        rc = h.stop_daemon()
        check(rc == 0, "daemon exits 0 on SIGTERM (rc %s)" % rc)
        ids = collections.Counter(r["id"] for r in out)
        check(set(ids) == {r["id"] for r in recs} and max(ids.values()) == 1,
              "every input id exactly once in the output (%d in, %d out, %d distinct)"
              % (len(recs), len(out), len(ids)))
        check(all(r["_key"] == r["id"] for r in out), "keys kept")
        # per-partition order: output partition p holds input partition p's ids in offset order
        by_in = collections.defaultdict(list)
        for r in sorted(inputs, key=lambda r: (r["_partition"], r["_offset"])):
            by_in[r["_partition"]].append(r["id"])
        by_out = collections.defaultdict(list)
        for r in sorted(out, key=lambda r: (r["_partition"], r["_offset"])):
            by_out[r["_partition"]].append(r["id"])
        check(dict(by_in) == dict(by_out), "per-partition order kept (%s records per partition)"
              % [len(by_in[p]) for p in sorted(by_in)])
        cli, cli_secs = cli_joint(h, recs)
        same = sum(same_enrichment(r, cli[r["id"]]) for r in out)
        check(same == len(out), "enrichment equals `bertd joint` on the same texts (%d/%d)"
              % (same, len(out)))
        print("figures: e2e (delivery %s) records %d, daemon %.1f records/s while busy (Kafka in to delivered "
              "out), %.1f records/s wall incl. start-up and polling; CLI %.1f records/s on the "
              "same texts" % (a.delivery or "at_least_once", len(recs), h.busy_rate() or 0, len(recs) / secs,
                              len(recs) / cli_secs))
    finally:
        h.close()


def committed_offsets(h, group="bertd-test", topic="utt"):
    """{partition: the group's committed offset} (-1: none), asked without joining."""
    out = subprocess.run(["bash", BROKER, "committed", group, topic], env=h.env, check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return {int(p): int(o) for p, o in (line.split() for line in out.splitlines())}


def case_kill(a):
    """kill -9 of an at-least-once daemon while records keep arriving. Nothing may be lost, and
    the README's bound must hold: a kill repeats at most the records delivered since the last
    commit. After each kill (before the restart) the group's committed offsets are read; the
    output records whose input offset is at or past them are the ones a restart reads again,
    and the duplicates at the end may not exceed their sum."""
    h = Harness(a.build, "kill")
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        recs = utterances(a.records)
        # static membership: a restarted daemon takes its partitions back at once, as a
        # supervised deployment (systemd, Kubernetes) would run it
        cfg = h.config(extra_kafka="  group.instance.id: bertd-kill-test\n")
        if a.commit_interval:
            with open(cfg) as fh:
                text = fh.read()
            with open(cfg, "w") as fh:
                fh.write("delivery: { commit_interval_ms: %d }\n" % a.commit_interval + text)
        at_kill = []  # (output ids delivered by then, committed offsets) per kill
        rnd = random.Random(a.seed)
        # records keep arriving while the daemon is killed: 20 chunks over several seconds
        chunks = [recs[i:i + len(recs) // 20] for i in range(0, len(recs), len(recs) // 20)]
        producer = threading.Thread(target=lambda: [(h.produce("utt", c), time.sleep(0.4))
                                                    for c in chunks])
        producer.start()
        h.run_daemon(cfg)
        for k in range(a.kills):
            time.sleep(rnd.uniform(1.0, a.kill_window))
            h.daemon.send_signal(signal.SIGKILL)
            h.daemon.wait()
            h.daemon = None
            out = h.consume("utt.out", h.enriched_schema())
            at_kill.append(({r["id"] for r in out}, committed_offsets(h)))
            print("kill -9 #%d: %d distinct of %d records in the output (%d with duplicates)"
                  % (k + 1, len({r["id"] for r in out}), len(recs), len(out)), flush=True)
            h.run_daemon(cfg)
        producer.join()
        out = h.wait_output("utt.out", {r["id"] for r in recs}, a.timeout)
        rc = h.stop_daemon()
        ids = collections.Counter(r["id"] for r in out)
        missing = {r["id"] for r in recs} - set(ids)
        check(not missing, "no loss after %d kill -9: %d missing" % (a.kills, len(missing)))
        dups = sum(ids.values()) - len(ids)
        check(rc == 0, "daemon exits 0 on SIGTERM after the kills (rc %s)" % rc)
        where = {r["id"]: (r["_partition"], r["_offset"]) for r in h.consume("utt", SCHEMA)}
        def after_commit(i, offs):  # read again by the restart: no commit, or at/after it
            part, off = where[i]
            return offs.get(part, -1) < 0 or off >= offs[part]
        since = [sum(after_commit(i, offs) for i in delivered) for delivered, offs in at_kill]
        check(dups <= sum(since), "the bound holds: %d duplicates <= %d records delivered after "
              "the last commit at the kills (%s)" % (dups, sum(since), since))
        print("figures: kill records %d, output %d, duplicates %d, delivered since the last "
              "commit at the kills %d, commit interval %s ms"
              % (len(recs), len(out), dups, sum(since), a.commit_interval or "default"))
    finally:
        h.close()


def case_broker_restart(a):
    h = Harness(a.build, "restart")
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        recs = utterances(a.records)
        half = len(recs) // 2
        h.produce("utt", recs[:half])
        h.run_daemon(h.config())
        time.sleep(2)
        h.broker("restart")
        h.produce("utt", recs[half:])
        out = h.wait_output("utt.out", {r["id"] for r in recs}, a.timeout)
        alive = h.daemon.poll() is None
        rc = h.stop_daemon()
        ids = collections.Counter(r["id"] for r in out)
        missing = {r["id"] for r in recs} - set(ids)
        check(alive, "the daemon kept running through the broker restart")
        check(not missing, "no loss across a broker restart: %d missing of %d"
              % (len(missing), len(recs)))
        check(rc == 0, "daemon exits 0 on SIGTERM (rc %s)" % rc)
        dups = sum(ids.values()) - len(ids)
        # Records delivered before the group dropped the daemon (the broker was down) are not
        # read again when their partitions come back: only records the daemon gave up on at
        # the revoke ("left to the next owner") may be produced twice.
        rebalance = [ln for ln in h.log_lines() if re.search(r"assigned|revoked|resuming", ln)]
        left = sum(int(m.group(1)) for ln in rebalance
                   for m in [re.search(r"(\d+) left to the next owner", ln)] if m)
        check(dups <= left, "duplicates only of records left unfinished at a revoke: %d "
              "duplicates, %d left" % (dups, left))
        print("figures: broker-restart records %d, duplicates %d, left unfinished at revokes %d, "
              "partitions resumed after delivered records %d"
              % (len(recs), dups, left, sum("resuming" in ln for ln in rebalance)))
    finally:
        h.close()


def zz(n):
    """Avro long: zigzag varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def avro_utterance(id_, text_bytes):
    """utterance.avsc by hand: id string, text string (any bytes), text_pair/channel/ts null."""
    body = zz(len(id_)) + id_.encode()
    body += zz(len(text_bytes)) + text_bytes
    return body + zz(0) + zz(0) + zz(0)


def avro_nullable_utterance(id_, text_bytes):
    """utterance.avsc with text ["null","string"], by hand; text_bytes None: a null text."""
    body = zz(len(id_)) + id_.encode()
    body += zz(0) if text_bytes is None else zz(1) + zz(len(text_bytes)) + text_bytes
    return body + zz(0) + zz(0) + zz(0)


def confluent(schema_id, datum):
    """Confluent's wire format: magic byte 0, 4-byte big-endian schema id, the datum."""
    return b"\x00" + struct.pack(">I", schema_id) + datum


def fault_plugin(build):
    """The real plugin with model failures injected by text (tests/kafka/fault_plugin.c)."""
    return os.path.join(build, "tests", "libbertd_fault_plugin.so")


def case_poison(a):
    """Every dead-letter reason a record can earn through Kafka, between good records on the same
    partitions. Two pipelines: `intents` reads plain Avro from utt; `framed` reads Confluent-framed
    records from utt.cf with a schema whose text is ["null","string"], through a Schema Registry
    named in the YAML (schema_registry.url). A record is resolved to the input schema before its
    text is picked; a writer schema without the text field does not resolve (Avro C's resolver
    does not fill a reader field from its default) and is named MISSING_FIELD, one whose text
    cannot hold a string NOT_A_STRING; other unresolvable or unknown writers are WRONG_SCHEMA.
    (A text_field the input schema itself lacks is refused at start-up: bad_run configs.) The
    daemon runs the fault plugin, so that texts
    starting with bertd-fault: fail in the model (MODEL_FAILED) and everything else is enriched
    by the real plugin. Each poison record must reach the dead-letter topic once, with its
    original bytes, its reason and its exact source topic, partition and offset; every good
    record must reach its output topic, and the daemon must keep running."""
    h = Harness(a.build, "poison")
    reg = Registry(h.tmp)
    try:
        plugin = fault_plugin(a.build)
        if not os.path.exists(plugin):
            check(False, "the fault plugin is built (%s)" % plugin)
            return
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1), ("utt.cf", 3), ("utt.cf.out", 3)])
        good = utterances(a.records)
        good_cf = [{"id": "cf-" + r["id"], "text": r["text"]} for r in good[: len(good) // 10]]
        nullable = os.path.join(h.tmp, "utterance-nullable.avsc")
        with open(nullable, "w") as fh:
            fh.write(utterance_schema(["null", "string"]))
        with open(nullable) as fh:
            input_id = reg.add(fh.read(), "utt.cf-value")  # as `bertd produce` registers it
        # writer schemas an upstream producer might have registered, neither of which resolves
        # to the input schema: one without the text field (Avro C's resolver does not fill a
        # reader field from its default, null here), one with text as an int
        no_text_id = reg.add(utterance_schema(None), "upstream-no-text-value")
        int_text_id = reg.add(utterance_schema("int"), "upstream-int-text-value")
        unknown_id = 4040  # the registry's ids count from 1: this one it never gave
        check(len({input_id, no_text_id, int_text_id, unknown_id}) == 4,
              "the registry gave distinct ids %s" % [input_id, no_text_id, int_text_id])
        long_text = " ".join(["flight"] * 200)
        poison = {  # id -> (topic, bytes, expected reason)
            "p-not-avro": ("utt", b"\xff\xfe this is not avro at all \x00\x01", "NOT_AVRO"),
            "p-truncated": ("utt", avro_utterance("p-truncated", b"show me flights")[:12],
                            "NOT_AVRO"),
            "p-trailing": ("utt", avro_utterance("p-trailing", b"hello") + b"\x00\x00junk",
                           "NOT_AVRO"),
            "p-utf8": ("utt", avro_utterance("p-utf8", b"bad \xc3\x28 utf8 \xff"), "INVALID_UTF8"),
            "p-empty": ("utt", b"", "NOT_AVRO"),
            "p-too-long": ("utt", avro_utterance("p-too-long", long_text.encode()),
                           "TOO_LONG"),  # 202 tokens
            "p-model-submit": ("utt", avro_utterance("p-model-submit",
                                                     b"bertd-fault:submit flights to boston"),
                               "MODEL_FAILED"),
            "p-model-inference": ("utt", avro_utterance("p-model-inference",
                                                        b"bertd-fault:inference flights to boston"),
                                  "MODEL_FAILED"),
            "p-cf-null-text": ("utt.cf", confluent(input_id, avro_nullable_utterance(
                "p-cf-null-text", None)), "NOT_A_STRING"),
            "p-cf-no-text-field": ("utt.cf", confluent(no_text_id, zz(18) + b"p-cf-no-text-field"
                                                       + zz(0) + zz(0) + zz(0)), "MISSING_FIELD"),
            "p-cf-text-int": ("utt.cf", confluent(int_text_id, zz(13) + b"p-cf-text-int" + zz(7)
                                                  + zz(0) + zz(0) + zz(0)), "NOT_A_STRING"),
            "p-cf-unknown-id": ("utt.cf", confluent(unknown_id, avro_nullable_utterance(
                "p-cf-unknown-id", b"show me flights")), "WRONG_SCHEMA"),
            "p-cf-bad-magic": ("utt.cf", b"\x01" + confluent(input_id, avro_nullable_utterance(
                "p-cf-bad-magic", b"show me flights"))[1:], "NOT_AVRO"),
        }
        # good records first half, poison, good second half: the partitions must keep moving
        cf_opts = ("--confluent", "--registry", reg.url)
        h.produce("utt", good[: len(good) // 2])
        h.produce("utt.cf", good_cf[: len(good_cf) // 2], schema=nullable, extra=cf_opts)
        for topic in ("utt", "utt.cf"):
            h.produce_raw(topic, [(k, v) for k, (t, v, _) in poison.items() if t == topic])
        h.produce("utt", good[len(good) // 2:])
        h.produce("utt.cf", good_cf[len(good_cf) // 2:], schema=nullable, extra=cf_opts)
        where = {}  # key -> (topic, partition, offset) as the input topics hold them
        for topic in ("utt", "utt.cf"):
            for r in h.consume(topic, raw=True):
                where[r["_key"]] = (topic, r["_partition"], r["_offset"])
        cfg = h.config(max_length=128, on_too_long="dead_letter", registry=reg.url,
                       more_pipelines=[("framed", "utt.cf", nullable, "confluent", "utt.cf.out")])
        h.run_daemon(cfg, args=("--plugin", plugin))
        out = h.wait_output("utt.out", {r["id"] for r in good}, a.timeout)
        out_cf = h.wait_output("utt.cf.out", {r["id"] for r in good_cf}, a.timeout,
                               schema=h.enriched_schema(nullable), extra=cf_opts)
        deadline = time.time() + 30
        dead = []
        while time.time() < deadline:
            dead = h.consume("utt.dlq", raw=True)
            if len(dead) >= len(poison):
                break
            time.sleep(1)
        alive = h.daemon.poll() is None
        rc = h.stop_daemon()
        check(alive, "the daemon never exited while fed poison")
        check({r["id"] for r in out} == {r["id"] for r in good},
              "every good plain record arrived (%d of %d)" % (len({r["id"] for r in out}),
                                                              len(good)))
        check({r["id"] for r in out_cf} == {r["id"] for r in good_cf},
              "every good Confluent-framed record arrived, read back through the registry "
              "(%d of %d)" % (len({r["id"] for r in out_cf}), len(good_cf)))
        got = {}
        for d in dead:
            got[d["_key"]] = {k: v for k, v in d["_headers"]}
        counts = collections.Counter()
        for key, (topic, value, reason) in poison.items():
            hd = got.get(key)
            src = where.get(key)
            ok = bool(hd) and bool(src) and hd.get("bertd.reason") == reason and \
                (hd.get("bertd.source.topic"), hd.get("bertd.source.partition"),
                 hd.get("bertd.source.offset")) == (topic, str(src[1]), str(src[2]))
            if hd:
                counts[hd.get("bertd.reason")] += 1
            check(ok, "%s -> dead-letter topic with reason %s from %s (got %s from %s[%s]@%s: %s)"
                  % (key, reason, src and "%s[%d]@%d" % src, hd and hd.get("bertd.reason"),
                     hd and hd.get("bertd.source.topic"), hd and hd.get("bertd.source.partition"),
                     hd and hd.get("bertd.source.offset"), hd and hd.get("bertd.error")))
        value_kept = len(dead) == len(poison) and all(
            bytes.fromhex(d["_value_hex"] or "") == poison[d["_key"]][1] for d in dead)
        check(value_kept, "each dead letter once (%d of %d), with its original bytes"
              % (len(dead), len(poison)))
        check(rc == 0, "daemon exits 0 on SIGTERM (rc %s)" % rc)
        print("figures: poison dead-letter counts by reason %s; good records %d plain, %d "
              "Confluent-framed" % (dict(sorted(counts.items())), len(good), len(good_cf)))
    finally:
        reg.close()
        h.close()


def with_fields(base_text, extra_fields):
    """A record schema's JSON with more fields appended (schema evolution)."""
    sch = json.loads(base_text)
    sch["fields"] = sch["fields"] + extra_fields
    return json.dumps(sch, separators=(",", ":"))


def case_registry(a):
    """The Confluent-framed path against a real Schema Registry (tests/registry/registry.sh:
    Apicurio Registry, Confluent API, HTTP Basic auth on) and a real broker:
      register   `bertd produce --confluent` registers its writer schema under utt-value (the
                 subject has BACKWARD compatibility), the daemon the enriched schema under
                 utt.out-value; a writer schema that breaks compatibility is refused (HTTP 409)
                 with one line;
      fetch      the daemon fetches writer schemas by id, `bertd consume` the enriched one;
      evolution  records written with v2 (v1 + an optional field) are read with v1: same ids and
                 texts, no v2 field in the output;
      auth       without the registry's user the daemon stops at start with one line naming
                 HTTP 401, and no password in what it prints;
      down       the registry is killed; records framed with a schema id the daemon has not
                 fetched yet wait, retried with a growing delay, none dead-lettered; when the
                 registry comes back (same port, same schemas) they are enriched."""
    h = Harness(a.build, "registry")
    password = "pw-%08x" % random.getrandbits(32)
    reg = Registry(h.tmp, auth="bertd:" + password)
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        with open(SCHEMA) as fh:
            v1_text = fh.read().strip()
        optional = lambda name: {"name": name, "type": ["null", "string"], "default": None}
        v2_text = with_fields(v1_text, [optional("lang")])
        v3_text = with_fields(v1_text, [optional("lang"), optional("source")])
        paths = {}
        for name, text in (("v2", v2_text), ("v3", v3_text)):
            paths[name] = os.path.join(h.tmp, "utterance-%s.avsc" % name)
            with open(paths[name], "w") as fh:
                fh.write(text)
        cf = ("--confluent", "--registry", reg.url)

        # --- auth and register
        status, _ = reg.request("GET", "/subjects", auth=False)
        check(status == 401, "the registry answers 401 without its user (got %s)" % status)
        status, body = reg.request("PUT", "/config/utt-value", {"compatibility": "BACKWARD"})
        check(status == 200, "BACKWARD compatibility set on utt-value (%s %s)" % (status, body))
        recs = utterances(a.records)
        n3 = len(recs) // 3
        batch1 = recs[:n3]
        batch2 = [dict(r, lang="en") for r in recs[n3:2 * n3]]
        batch3 = [dict(r, lang="fr", source="chat") for r in recs[2 * n3:]]
        h.produce("utt", batch1, extra=cf)
        status, v = reg.request("GET", "/subjects/utt-value/versions/latest")
        v1_id = v.get("id") if status == 200 else None
        check(status == 200 and json.loads(v["schema"]) == json.loads(v1_text),
              "bertd produce registered v1 under utt-value (id %s)" % v1_id)
        # --- compatibility
        status, c2 = reg.request("POST", "/compatibility/subjects/utt-value/versions/latest",
                                 {"schema": v2_text})
        bad_text = utterance_schema("int")
        status_bad, cbad = reg.request("POST", "/compatibility/subjects/utt-value/versions/latest",
                                       {"schema": bad_text})
        check(status == 200 and c2.get("is_compatible") is True and status_bad == 200 and
              cbad.get("is_compatible") is False,
              "compatibility check: v2 (an optional field more) compatible, text as int not "
              "(%s, %s)" % (c2, cbad))
        bad = os.path.join(h.tmp, "utterance-bad.avsc")
        with open(bad, "w") as fh:
            fh.write(bad_text)
        out = subprocess.run([h.bertd, "produce", "--brokers", h.bootstrap, "--topic", "utt",
                              "--schema", bad, "--key-field", "id", *cf],
                             input='{"id": "x", "text": 1}\n', stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=60)
        lines = out.stderr.strip().splitlines()
        check(out.returncode != 0 and len(lines) == 1 and "HTTP 409" in lines[0] and
              "registering under subject 'utt-value'" in lines[0] and password not in lines[0],
              "an incompatible writer schema is refused with one line naming HTTP 409 "
              "(exit %d: %r)" % (out.returncode, lines[:2]))
        h.produce("utt", batch2, schema=paths["v2"], extra=cf)
        status, v = reg.request("GET", "/subjects/utt-value/versions/latest")
        v2_id = v.get("id") if status == 200 else None
        check(v2_id not in (None, v1_id), "v2 registered under utt-value as id %s (v1: %s)"
              % (v2_id, v1_id))
        # v3 is registered now but no record carries it until the registry is down
        v3_id = reg.add(v3_text, "utt-value")

        # --- auth seen from the daemon
        cfg_noauth = h.config(registry=reg.api)
        with open(cfg_noauth) as fh:
            text = fh.read()
        text = text.replace("framing: plain", "framing: confluent")
        with open(cfg_noauth, "w") as fh:
            fh.write(text)
        proc = h.spawn_daemon(cfg_noauth, log="daemon-noauth.log")
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = None
        lines = h.log_lines("daemon-noauth.log")
        check(rc == 1 and len(lines) == 1 and "HTTP 401" in lines[0],
              "without the registry's user the daemon stops at start with one line naming HTTP "
              "401 (rc %s: %r)" % (rc, lines[-1:]))

        # --- the daemon: fetch by id, evolution
        cfg = h.config(registry=reg.url)
        with open(cfg) as fh:
            text = fh.read().replace("framing: plain", "framing: confluent")
        with open(cfg, "w") as fh:
            fh.write(text)
        h.run_daemon(cfg)
        out12 = h.wait_output("utt.out", {r["id"] for r in batch1 + batch2}, a.timeout,
                              extra=cf)
        by_id = {r["id"]: r for r in out12}
        check(set(by_id) == {r["id"] for r in batch1 + batch2},
              "v1 and v2 records enriched (%d of %d)" % (len(by_id), len(batch1 + batch2)))
        check(all(by_id[r["id"]]["text"] == r["text"] and "lang" not in by_id[r["id"]]
                  for r in batch1 + batch2 if r["id"] in by_id),
              "records written with v2 read with v1: texts kept, no v2 field in the output")
        status, ov = reg.request("GET", "/subjects/utt.out-value/versions/latest")
        out_schema = json.loads(ov["schema"]) if status == 200 else {}
        check(status == 200 and [f["name"] for f in out_schema.get("fields", [])] ==
              [f["name"] for f in json.loads(v1_text)["fields"]] + ["bertd"],
              "the daemon registered the enriched schema under utt.out-value (id %s)"
              % (ov.get("id") if status == 200 else None))
        raw = h.consume("utt.out", raw=True)
        ids = collections.Counter(struct.unpack(">I", bytes.fromhex(r["_value_hex"])[1:5])[0]
                                  for r in raw if r["_value_hex"].startswith("00"))
        check(status == 200 and set(ids) == {ov["id"]} and sum(ids.values()) == len(raw),
              "every enriched record carries that id in its Confluent header (%s)" % dict(ids))

        # --- registry down
        reg.run("kill")
        h.produce("utt", batch3, schema=paths["v3"], extra=("--confluent", "--schema-id",
                                                             str(v3_id)))
        time.sleep(8)
        dead = h.consume("utt.dlq", raw=True)
        alive = h.daemon.poll() is None
        waits = [ln for ln in h.log_lines() if "waiting for the schema registry" in ln or
                 "records wait for the schema registry" in ln]
        delays = [int(m.group(1)) for ln in waits
                  for m in [re.search(r"next retry in (\d+) ms", ln)] if m]
        check(alive and not dead, "registry down: the daemon runs on, nothing dead-lettered "
              "(%d dead letters)" % len(dead))
        check(len(delays) >= 3 and all(b > c for b, c in zip(delays[1:], delays)),
              "records wait and are retried with a growing delay (retries in %s ms)" % delays)
        reg.run("restart")
        out = h.wait_output("utt.out", {r["id"] for r in recs}, a.timeout, extra=cf)
        got = collections.Counter(r["id"] for r in out)
        missing = {r["id"] for r in recs} - set(got)
        check(not missing, "registry back: the waiting records enriched (%d of %d missing)"
              % (len(missing), len(batch3)))
        rc = h.stop_daemon()
        dead = h.consume("utt.dlq", raw=True)
        check(not dead, "no record dead-lettered in the whole case (%d; reasons %s)"
              % (len(dead), sorted({dict(d["_headers"]).get("bertd.reason") for d in dead})))
        check(rc == 0, "daemon exits 0 on SIGTERM (rc %s)" % rc)
        logged = "\n".join(h.log_lines())
        check(password not in logged, "the registry password never appears in the daemon's log")
        print("figures: registry records %d (v1 %d, v2 %d, v3 while down %d); schema ids v1 %s "
              "v2 %s v3 %s enriched %s; retry delays %s ms"
              % (len(recs), len(batch1), len(batch2), len(batch3), v1_id, v2_id, v3_id,
                 ov.get("id"), delays))
    finally:
        reg.close()
        h.close()


def case_bad_config(a):
    # bad/: what the config layer refuses; bad_run/: what `bertd run` refuses before it starts
    # anything, with the Avro schemas read (a text field the input schema lacks, ...)
    fixtures = os.path.join(ROOT, "tests", "fixtures", "config")
    env = dict(os.environ, BERTD_MODELS=os.path.join(fixtures, "models"))
    env.pop("BERTD_KAFKA_BOOTSTRAP", None)
    n = 0
    bertd = os.path.join(a.build, "cli", "bertd")
    for path in sorted(os.path.join(fixtures, d, f) for d in ("bad", "bad_run")
                       for f in os.listdir(os.path.join(fixtures, d))):
        name = os.path.relpath(path, fixtures)
        with open(path) as fh:
            first = fh.readline()
        if not first.startswith("# error: "):
            continue
        want = first[len("# error: "):].strip()
        out = subprocess.run([bertd, "run", "-c", path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, timeout=30)
        lines = out.stderr.strip().splitlines()
        ok = out.returncode == 2 and len(lines) == 1 and lines[0] == "%s:%s" % (path, want)
        check(ok, "%s: exit %d, %r" % (name, out.returncode, lines[:1]))
        n += 1
    check(n >= 46, "%d bad configs checked" % n)
    registry_sources(a)


def registry_sources(a):
    """Where a confluent pipeline's registry URL comes from: schema_registry.url in the file,
    else BERTD_SCHEMA_REGISTRY_URL, else start-up fails naming both. Seen from a real registry
    (tests/registry/registry.sh): the daemon registers the enriched schema under "<output
    topic>-value" as it starts (before it needs a broker, so none runs here). When both are set,
    the environment names a port where nothing answers: a daemon that took it could not
    register there."""
    bertd = os.path.join(a.build, "cli", "bertd")
    tmp = tempfile.mkdtemp(prefix="bertd-registry-")
    used = Registry(tmp)
    # a URL where no registry answers: a daemon that took it would fail to start
    unused = "http://127.0.0.1:%d/apis/ccompat/v7" % free_port()
    try:
        def config(url, out="out"):
            path = os.path.join(tmp, "bertd.yaml")
            with open(path, "w") as fh:
                fh.write("kafka: { bootstrap.servers: 127.0.0.1:9, group.id: g }\n")
                if url:
                    fh.write("schema_registry: { url: %s }\n" % url)
                fh.write("""pipelines:
  - name: framed
    input: { topics: [in], schema: %s, text_field: text, framing: confluent }
    output: { topic: %s }
    dead_letter: { topic: dlq }
    model: { dir: %s, task: joint, max_length: 64 }
""" % (SCHEMA, out, MODEL))
            return path

        env = dict(os.environ)
        env.pop("BERTD_SCHEMA_REGISTRY_URL", None)
        cfg = config(None)
        out = subprocess.run([bertd, "run", "-c", cfg], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env, timeout=60)
        want = ("error: pipeline framed: confluent framing needs a schema registry: set "
                "schema_registry.url in %s (or BERTD_SCHEMA_REGISTRY_URL)" % cfg)
        check(out.returncode == 1 and out.stdout.strip().endswith(want),
              "no registry anywhere: exit %d, %r" % (out.returncode, out.stdout.strip()[-160:]))
        for what, url, env_url, out in (("from BERTD_SCHEMA_REGISTRY_URL", None, used.url, "out"),
                                        ("schema_registry.url over the environment", used.url,
                                         unused, "out2")):
            before = set(used.subjects())
            if env_url:
                env["BERTD_SCHEMA_REGISTRY_URL"] = env_url
            proc = subprocess.Popen([bertd, "run", "-c", config(url, out)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
            deadline = time.time() + 60
            new = set()
            while time.time() < deadline and not new and proc.poll() is None:
                new = set(used.subjects()) - before
                time.sleep(0.1)
            new = set(used.subjects()) - before
            proc.kill()
            proc.wait()
            check(sorted(new) == ["%s-value" % out],
                  "registry %s: enriched schema registered there as %s" % (what, sorted(new)))
    finally:
        used.close()
        shutil.rmtree(tmp, ignore_errors=True)


def case_memory(a):
    """Records arrive in equal bursts of --records; resident memory after the last burst must be
    within 5 % of that after the first (growth with the number of records processed is a leak;
    a bigger burst legitimately buffers more in librdkafka, so bursts are equal).

    The daemon serves the real all-MiniLM-L6-v2 checkpoint (embed), as a deployment would: with
    the tiny fixture model the whole process is ~20 MiB, and glibc's free-page fragmentation across
    librdkafka's threads (+-1 MiB, not growth) alone is 5 % of it. So that a leak cannot hide in
    the larger total, the heap in use (every malloc arena, from the daemon's stats line) must not
    grow by more than 16 bytes per record from the second burst to the last: glibc's smallest
    chunk is 32 bytes, so a leak of any allocation on every record (or every other one) fails,
    while the idle heap's own jitter (tens of KiB) stays well below the bound. (The first burst is left out of that slope: librdkafka and the
    codec grow their caches by ~100 KiB once, during the first records.)"""
    model = os.environ.get("BERTD_MODEL_DIR", "")
    if not os.path.exists(os.path.join(model, "config.json")):
        check(False, "BERTD_MODEL_DIR names the all-MiniLM-L6-v2 checkpoint "
              "(scripts/fetch-model.sh minilm prints it)")
        return
    h = Harness(a.build, "memory")
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        burst, total = a.records, a.records_large
        recs = utterances(total)
        h.run_daemon(h.config(model=model, task="embed"))
        rss, heap = [], []
        for start in range(0, total, burst):
            h.produce("utt", recs[start:start + burst])
            h.wait_done(start + burst, a.timeout)
            time.sleep(2.5)  # past one stats tick of the idle daemon (it trims the heap there)
            rss.append(h.rss_kib())
            heap.append(h.stats()["heap_kib"])
            print("after %d records: resident %d KiB, heap in use %d KiB"
                  % (start + burst, rss[-1], heap[-1]), flush=True)
        st = h.stats()
        rc = h.stop_daemon()
        check(st["out"] == total and st["dead"] == 0,
              "all %d records enriched (out %d, dead-lettered %d)" % (total, st["out"], st["dead"]))
        same_embeddings_as_cli(h, model, recs)
        growth = (rss[-1] - rss[0]) / rss[0]
        check(growth <= 0.05, "resident memory after %d records within 5%% of after %d "
              "(%d KiB -> %d KiB, %+.1f%%)" % (total, burst, rss[0], rss[-1], growth * 100))
        if len(heap) >= 3:
            per_record = (heap[-1] - heap[1]) * 1024.0 / (total - 2 * burst)
            check(per_record <= 16, "heap in use grows at most 16 bytes per record from %d to %d "
                  "records (%d KiB -> %d KiB, %.2f bytes per record)"
                  % (2 * burst, total, heap[1], heap[-1], per_record))
        else:
            check(False, "memory needs at least 3 bursts (--records-large >= 3 x --records)")
        check(rc == 0, "daemon exits 0 on SIGTERM (rc %s)" % rc)
    finally:
        h.close()


def same_embeddings_as_cli(h, model, recs, n=300):
    """The first n enriched records' embeddings (the plugin hands them to the daemon as floats,
    which the Avro encoder writes as they are) against `bertd embed` on the same texts: equal
    within 1e-5 (batches differ, so the kernels' rounding may; the CLI prints 8 digits)."""
    out = h.consume("utt.out", h.enriched_schema(), count=n)
    path = os.path.join(h.tmp, "embed-in.jsonl")
    by_id = {r["id"]: r for r in recs}
    with open(path, "w") as fh:
        for r in out:
            fh.write(json.dumps({"id": r["id"], "text": by_id[r["id"]]["text"]}) + "\n")
    cli = subprocess.run([h.bertd, "embed", "--model", model, "--input", path, "--max-length",
                          "64"], stdout=subprocess.PIPE, check=True, text=True)
    want = {json.loads(l)["id"]: json.loads(l)["embedding"] for l in cli.stdout.splitlines()}
    worst, bad = 0.0, 0
    for r in out:
        got, w = r["bertd"]["embedding"], want.get(r["id"], [])
        if len(got) != 384 or len(w) != 384:
            bad += 1
            continue
        worst = max(worst, max(abs(a - b) for a, b in zip(got, w)))
    check(len(out) == n and bad == 0 and worst <= 1e-5,
          "%d enriched embeddings equal `bertd embed`'s within 1e-5 (%d read, %d of the wrong "
          "size, largest difference %.2g)" % (n, len(out), bad, worst))


def partition_order(inputs, out):
    """Per-partition order with at-least-once repeats allowed. inputs and out as consume() gives
    them. Returns (ok, replays): ok when each output partition, read in offset order with
    repeated ids dropped, is its input partition's ids in offset order; replays counts the
    places where an output partition steps back to an earlier input offset (a repeat)."""
    pos = {r["id"]: (r["_partition"], r["_offset"]) for r in inputs}
    by_in = collections.defaultdict(list)
    for r in sorted(inputs, key=lambda r: (r["_partition"], r["_offset"])):
        by_in[r["_partition"]].append(r["id"])
    by_out = collections.defaultdict(list)
    replays = 0
    last = {}
    for r in sorted(out, key=lambda r: (r["_partition"], r["_offset"])):
        p = r["_partition"]
        off = pos[r["id"]][1]
        if pos[r["id"]][0] != p:
            return False, replays
        if p in last and off <= last[p]:
            replays += 1
        last[p] = off
        if r["id"] not in by_out[p]:
            by_out[p].append(r["id"])
    return dict(by_in) == dict(by_out), replays


def wait_log(h, log, pattern, timeout, procs=()):
    """Waits until a line of the log matches pattern; returns the match."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in h.log_lines(log):
            m = re.search(pattern, line)
            if m:
                return m
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError("%s: daemon exited (rc %s)" % (log, proc.returncode))
        time.sleep(0.1)
    raise RuntimeError("%s: no line matching %r in %.0f s" % (log, pattern, timeout))


def assignments(h, log):
    """The partition counts of the daemon's "assigned N partition(s)" lines, in order."""
    return [int(m.group(1)) for m in
            (re.search(r"assigned (\d+) partition", line) for line in h.log_lines(log)) if m]


def case_rebalance(a):
    """Two live daemons in one consumer group on a 3-partition topic while records keep
    arriving: A runs alone, B joins mid-stream (partitions move from A to B), then A is stopped
    with SIGTERM mid-stream (its partitions move to B). Every input id must reach the output
    (repeats are allowed, at least once, and counted), both daemons must exit 0, and each
    output partition, with repeats dropped, must hold its input partition's records in offset
    order. Records are keyed by one of 30 keys (the channel field), so each key lives on one
    partition and keeps its order too.

    The producer produces in 30 chunks and waits at two gates, so that the transitions happen
    mid-stream whatever the machine's speed: after the first third until B has been started, and
    after the second third until B holds partitions; A is stopped once two thirds are produced,
    while the last third is still being produced."""
    h = Harness(a.build, "rebalance")
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        recs = utterances(a.records)
        for i, r in enumerate(recs):
            r["channel"] = "k%02d" % (i % 30)
        cfg = h.config()
        n_chunks = 30
        size = -(-len(recs) // n_chunks)
        chunks = [recs[i:i + size] for i in range(0, len(recs), size)]
        b_started, b_assigned = threading.Event(), threading.Event()
        produced = [0]

        def produce_all():
            for i, chunk in enumerate(chunks):
                if i == len(chunks) // 3:
                    b_started.wait(a.timeout)
                if i == 2 * len(chunks) // 3:
                    b_assigned.wait(a.timeout)
                h.produce("utt", chunk, key_field="channel")
                produced[0] += len(chunk)
                time.sleep(0.2)

        producer = threading.Thread(target=produce_all)
        producer.start()
        da = h.spawn_daemon(cfg, "daemon-a.log")
        wait_log(h, "daemon-a.log", r"assigned 3 partition", 60, [da])
        while produced[0] < len(recs) // 3:
            time.sleep(0.1)
        a_before = len(assignments(h, "daemon-a.log"))
        db = h.spawn_daemon(cfg, "daemon-b.log")
        b_started.set()
        try:
            wait_log(h, "daemon-b.log", r"assigned [12] partition", 60, [db])
            # A logs its own new assignment a few milliseconds after B may log B's: read A's
            # count once A has logged it (a run read A's old 3 beside B's 1)
            deadline = time.time() + 30
            while len(assignments(h, "daemon-a.log")) <= a_before and time.time() < deadline:
                time.sleep(0.05)
        finally:
            b_assigned.set()  # never leave the producer waiting
        b_parts = assignments(h, "daemon-b.log")[-1]
        a_parts = assignments(h, "daemon-a.log")[-1]
        # SIGTERM as soon as the chunk that completes two thirds is on the topic, so that A is
        # likely to be enriching it
        while produced[0] < 2 * len(recs) // 3 and producer.is_alive():
            time.sleep(0.01)
        mid_stream = producer.is_alive() and produced[0] < len(recs)
        a_at_stop = produced[0]
        rc_a = h.stop_daemon(proc=da)
        producer.join()
        out = h.wait_output("utt.out", {r["id"] for r in recs}, a.timeout, daemons=[db])
        b_final = assignments(h, "daemon-b.log")[-1]
        rc_b = h.stop_daemon(proc=db)
        inputs = h.consume("utt", SCHEMA)

        check(len(inputs) == len(recs), "%d records produced to a 3-partition topic"
              % len(recs))
        check(a_parts + b_parts == 3 and b_parts > 0,
              "B joined mid-stream and took partitions from A (A %d, B %d)" % (a_parts, b_parts))
        check(mid_stream, "A stopped mid-stream (%d of %d records produced at SIGTERM)"
              % (a_at_stop, len(recs)))
        check(b_final == 3, "B holds all 3 partitions after A left (%d)" % b_final)
        ids = collections.Counter(r["id"] for r in out)
        missing = {r["id"] for r in recs} - set(ids)
        check(not missing, "no loss: every input id in the output (%d missing of %d)"
              % (len(missing), len(recs)))
        check(rc_a == 0 and rc_b == 0, "both daemons exit 0 on SIGTERM (A %s, B %s)"
              % (rc_a, rc_b))
        ok, replays = partition_order(inputs, out)
        check(ok, "per-partition order kept, repeats dropped (%d replays)" % replays)
        key_in, key_out = collections.defaultdict(list), collections.defaultdict(list)
        for r in sorted(inputs, key=lambda r: (r["_partition"], r["_offset"])):
            key_in[r["_key"]].append(r["id"])
        for r in sorted(out, key=lambda r: (r["_partition"], r["_offset"])):
            if r["id"] not in key_out[r["_key"]]:
                key_out[r["_key"]].append(r["id"])
        check(dict(key_in) == dict(key_out) and len(key_in) == 30,
              "each of the %d keys keeps its order" % len(key_in))
        handovers = ["%s: %s" % (log[7], line.split("info: ", 1)[-1])
                     for log in ("daemon-a.log", "daemon-b.log") for line in h.log_lines(log)
                     if "revoked" in line or "stopping: draining" in line]
        print("handovers (daemon: what it finished before letting go):\n  "
              + "\n  ".join(handovers))
        print("figures: rebalance records %d, output %d, duplicates %d, replays %d; B took %d "
              "partition(s) mid-stream, A stopped at %d produced"
              % (len(recs), len(out), sum(ids.values()) - len(ids), replays, b_parts,
                 a_at_stop))
    finally:
        h.close()


def case_backpressure(a):
    """The in-flight bound (--max-in-flight) with every record already on the topic, so that
    fetching outruns the model: the daemon must pause fetching when its in-flight records reach
    the bound, resume when they drain to half of it, and deliver every record exactly once.

    The daemon checks the bound before each poll, and each poll hands it one record; librdkafka
    drops the records it had prefetched for a partition when that partition is paused (they
    are fetched again on resume). So the in-flight figure can reach the bound but never pass
    it: the tolerance is zero records, both at each pause (the figure logged when pausing is
    exactly the bound) and in every stats line (written every 50 ms)."""
    bound = a.max_in_flight
    h = Harness(a.build, "backpressure")
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        recs = utterances(a.records)
        h.produce("utt", recs)
        h.run_daemon(h.config(), args=("--max-in-flight", str(bound)), stats_ms=50)
        out = h.wait_output("utt.out", {r["id"] for r in recs}, a.timeout)
        rc = h.stop_daemon()
        lines = h.log_lines()
        stop = next((i for i, l in enumerate(lines) if "stopping: draining" in l), len(lines))
        pauses, resumes, in_flight = [], [], []
        for line in lines[:stop]:  # the shutdown pauses too; that one is not backpressure
            m = re.search(r"(pausing|resuming) fetching: (\d+) records in flight", line)
            if m:
                (pauses if m.group(1) == "pausing" else resumes).append(int(m.group(2)))
            m = re.search(r"in flight (\d+), heap", line)
            if m:
                in_flight.append(int(m.group(1)))
        ids = collections.Counter(r["id"] for r in out)
        check(set(ids) == {r["id"] for r in recs} and max(ids.values()) == 1,
              "every record exactly once in the output (%d in, %d out, %d distinct)"
              % (len(recs), len(out), len(ids)))
        check(len(pauses) >= 1 and len(resumes) >= 1,
              "fetching paused %d times and resumed %d times" % (len(pauses), len(resumes)))
        check(pauses and all(n == bound for n in pauses),
              "every pause at exactly the bound %d (%s)" % (bound, sorted(set(pauses))))
        check(resumes and all(n <= bound // 2 for n in resumes),
              "every resume at or below half the bound, %d (max %s)"
              % (bound // 2, max(resumes, default=None)))
        check(len(in_flight) >= 10 and max(in_flight) <= bound,
              "in flight never above the bound in %d stats lines (max %s)"
              % (len(in_flight), max(in_flight, default=None)))
        check(rc == 0, "daemon exits 0 on SIGTERM (rc %s)" % rc)
        print("figures: backpressure records %d, bound %d, pauses %d, resumes %d, max in flight "
              "%d in %d stats lines, %.1f records/s while busy"
              % (len(recs), bound, len(pauses), len(resumes), max(in_flight, default=0),
                 len(in_flight), h.busy_rate() or 0))
    finally:
        h.close()


def free_port():
    """A loopback port where nothing listens (bound, then released)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def case_broker_unreachable(a):
    """bootstrap.servers names a port where nothing listens: `bertd run` gives up after the
    start-up wait (--broker-wait-ms, else broker_wait_ms in the file) with one error line and
    exit status 1, instead of logging "Connection refused" for ever. A broker lost while
    running is retried for ever: that is the broker-restart case."""
    h = Harness(a.build, "unreachable")
    try:
        h.bootstrap = "127.0.0.1:%d" % free_port()
        cfg = h.config()
        for how, wait_ms, args in (("--broker-wait-ms", 3000, ("--broker-wait-ms", "3000")),
                                   ("broker_wait_ms", 2000, ())):
            if not args:
                with open(cfg) as fh:
                    text = fh.read()
                with open(cfg, "w") as fh:
                    fh.write("broker_wait_ms: %d\n" % wait_ms + text)
            log = "daemon-%s.log" % how.strip("-")
            t0 = time.time()
            proc = h.spawn_daemon(cfg, log=log, args=args)
            try:
                rc = proc.wait(wait_ms / 1000.0 + 20)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = None
            secs = time.time() - t0
            lines = h.log_lines(log)
            check(rc == 1, "%s %d: exit status 1 (rc %s)" % (how, wait_ms, rc))
            check(wait_ms / 1000.0 <= secs <= wait_ms / 1000.0 + 10,
                  "%s %d: gave up after %.1f s" % (how, wait_ms, secs))
            check(len(lines) == 1 and "no Kafka broker of %s answered within %d ms"
                  % (h.bootstrap, wait_ms) in lines[0] and "Connection refused" in lines[0],
                  "%s %d: one line naming the broker and the cause: %s"
                  % (how, wait_ms, lines[:3]))
    finally:
        h.close()


def case_timing(a):
    """The enriched record's times during a catch-up (every record already on the topic):
    queue_ms (waiting in the model stage), model_ms (the batch's forward pass) and
    end_to_end_ms (from the input record's Kafka timestamp) are each there, in order of size
    (model <= queue + model <= end to end), and model_ms stays small while end_to_end_ms grows
    with the backlog -- the question the old single latency_ms could not answer."""
    h = Harness(a.build, "timing")
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        recs = utterances(a.records)
        produced_at = time.time()
        h.produce("utt", recs)
        produced_by = time.time()
        time.sleep(1.0)  # the backlog is at least this old when the daemon starts
        h.run_daemon(h.config())
        out = h.wait_output("utt.out", {r["id"] for r in recs}, a.timeout)
        done_by = time.time()
        rc = h.stop_daemon()
        check(rc == 0, "daemon exits 0 on SIGTERM (rc %s)" % rc)
        times = [(r["bertd"]["queue_ms"], r["bertd"]["model_ms"],
                  unwrap(r["bertd"]["end_to_end_ms"])) for r in out]
        check(len(times) >= len(recs), "%d enriched records" % len(times))
        check(all(q >= 0 and m > 0 and e is not None for q, m, e in times),
              "queue_ms >= 0, model_ms > 0, end_to_end_ms set in every record")
        check(all(q + m <= e + 1.0 for q, m, e in times),
              "queue_ms + model_ms <= end_to_end_ms in every record (1 ms for clock rounding)")
        lo, hi = 1000.0, (done_by - produced_at) * 1000.0 + 1.0
        check(all(lo <= e <= hi for _, _, e in times),
              "end_to_end_ms between the 1 s the backlog waited and produce-to-done %.0f ms "
              "(min %.0f, max %.0f)" % (hi, min(e for _, _, e in times),
                                         max(e for _, _, e in times)))
        med = lambda xs: sorted(xs)[len(xs) // 2]
        mm, me = med([m for _, m, _ in times]), med([e for _, _, e in times])
        check(mm * 10 < me, "median model_ms %.2f is a small part of median end_to_end_ms %.0f"
              % (mm, me))
        print("figures: timing records %d, median queue_ms %.1f, model_ms %.2f, end_to_end_ms "
              "%.0f (produce took %.1f s)" % (len(times), med([q for q, _, _ in times]), mm, me,
                                             produced_by - produced_at))
    finally:
        h.close()


READ_COMMITTED = ("-X", "isolation.level=read_committed")


def eos_config(h, instance, txn_id=None):
    """The case's config with delivery: exactly_once and a static member id (which also names
    the transactional.id, so a restarted instance fences its killed predecessor at once), or
    the transactional id txn_id. Transactions stay open 2 s, so that a kill within a second of
    a chunk's arrival almost surely finds records in an open transaction."""
    path = h.config(extra_kafka="  group.instance.id: %s\n" % instance)
    with open(path) as fh:
        text = fh.read()
    out = os.path.join(h.tmp, "bertd-%s.yaml" % instance)
    with open(out, "w") as fh:
        fh.write("delivery: { mode: exactly_once, commit_interval_ms: 2000%s }\n"
                 % (", transactional_id: " + txn_id if txn_id else "") + text)
    return out


def reconcile(h, want, isolation=READ_COMMITTED):
    """Every input id's count in output + dead-letter, as a reader with the isolation level
    sees them: (Counter, lost ids)."""
    out = h.consume("utt.out", h.enriched_schema(), extra=isolation)
    dead = h.consume("utt.dlq", raw=True, extra=isolation)
    ids = collections.Counter(r["id"] for r in out)
    ids.update(r["_key"] for r in dead)
    return ids, set(want) - set(ids)


def case_exactly_once(a):
    """delivery: exactly_once through kill -9s, broker restarts and a second daemon in the group
    for part of the run, while records keep arriving; every 50th record is not Avro and must
    reach the dead-letter topic (produced in the same transactions). A read_committed reader
    must then see every input id exactly once in output + dead-letter. A read_uncommitted
    reader sees the aborted transactions' records too: the count of those shows that the run
    did produce records that only the transactions kept from being duplicates."""
    h = Harness(a.build, "exactly-once")
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1)])
        recs = utterances(a.records)
        poison = {r["id"] for i, r in enumerate(recs) if i % 50 == 25}
        rnd = random.Random(a.seed)
        # chunks large enough that the daemons take a while over each: events wait for one
        n_chunks = max(a.kills + a.restarts + 4, len(recs) // 2000)
        size = -(-len(recs) // n_chunks)
        chunks = [recs[i:i + size] for i in range(0, len(recs), size)]

        def produce(c):
            h.produce("utt", [r for r in c if r["id"] not in poison])
            h.produce_raw("utt", [(r["id"], b"\xffnot avro " + r["id"].encode())
                                  for r in c if r["id"] in poison])

        cfg_a, cfg_b = eos_config(h, "eos-a"), eos_config(h, "eos-b")
        da = h.spawn_daemon(cfg_a, "daemon-a.log")
        db = None
        events = ["kill"] * a.kills + ["broker-restart"] * a.restarts
        rnd.shuffle(events)
        events.insert(1, "b-join")
        events.insert(len(events) - 1, "b-leave")
        kills = restarts = 0
        b_parts = 0
        for ev in events:
            # each event comes while the daemons work through a chunk that is still arriving:
            # a kill then hits an open transaction with records in it
            producer = threading.Thread(target=produce, args=(chunks.pop(0),))
            producer.start()
            time.sleep(rnd.uniform(0.2, 0.8))
            if ev == "kill":
                # the victim alternates while B is there
                victim_b = db is not None and kills % 2 == 1
                proc = db if victim_b else da
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                if victim_b:
                    db = h.spawn_daemon(cfg_b, "daemon-b.log")
                else:
                    da = h.spawn_daemon(cfg_a, "daemon-a.log")
                print("kill -9 #%d (%s)" % (kills, "B" if victim_b else "A"), flush=True)
            elif ev == "broker-restart":
                h.broker("restart")
                restarts += 1
                print("broker restart #%d" % restarts, flush=True)
            elif ev == "b-join":
                db = h.spawn_daemon(cfg_b, "daemon-b.log")
                wait_log(h, "daemon-b.log", r"assigned [123] partition", 60, [db])
                b_parts = max(assignments(h, "daemon-b.log"))
                print("daemon B joined the group (%d partition(s))" % b_parts, flush=True)
            elif ev == "b-leave":
                rc_b = h.stop_daemon(proc=db)
                db = None
                print("daemon B left the group (rc %s)" % rc_b, flush=True)
            producer.join()
        # a zombie: C starts with A's transactional.id, which fences A (its next transactional
        # call fails fatally: exit 1, one line); C takes over A's partitions and finishes
        # A's latest process has initialised its transactions and holds partitions (its lines
        # carry its pid), so that C's start fences A and not the other way round
        wait_log(h, "daemon-a.log", r"bertd\[%d\] info: assigned" % da.pid, 60, [da])
        dc = h.spawn_daemon(eos_config(h, "eos-c", txn_id="bertd-bertd-test-eos-a"),
                            "daemon-c.log")
        for c in chunks:
            produce(c)
        try:
            rc_fenced = da.wait(60)
        except subprocess.TimeoutExpired:
            rc_fenced = None
        fenced_line = (h.log_lines("daemon-a.log") or [""])[-1]
        check(rc_fenced == 1 and re.search(r"fenc", fenced_line, re.I),
              "A, fenced by C with its transactional.id, exits 1 with one line (rc %s): %s"
              % (rc_fenced, fenced_line[-200:]))
        da = dc
        want = {r["id"] for r in recs}
        deadline = time.time() + a.timeout
        while True:
            ids, lost = reconcile(h, want)
            if not lost or time.time() > deadline or da.poll() is not None:
                break
            time.sleep(2)
        rc = h.stop_daemon(proc=da)
        ids, lost = reconcile(h, want)
        dups = sum(ids.values()) - len(ids)
        dead = h.consume("utt.dlq", raw=True, extra=READ_COMMITTED)
        uncommitted, _ = reconcile(h, want, ("-X", "isolation.level=read_uncommitted"))
        aborted = sum(uncommitted.values()) - sum(ids.values())
        check(kills == a.kills and restarts == a.restarts and b_parts > 0,
              "%d kill -9, %d broker restarts, a second daemon held %d partition(s)"
              % (kills, restarts, b_parts))
        check(not lost and dups == 0, "read_committed: lost %d, duplicates %d of %d records"
              % (len(lost), dups, len(recs)))
        check({r["_key"] for r in dead} == poison and len(dead) == len(poison),
              "the %d records that are not Avro are in the dead-letter topic once each (%d)"
              % (len(poison), len(dead)))
        extra = [l for log in ("daemon-a.log", "daemon-b.log", "daemon-c.log") if os.path.exists(
            os.path.join(h.tmp, log)) for l in h.log_lines(log)]
        commits = sum(int(m.group(1)) for l in extra
                      for m in [re.search(r"(\d+) transaction\(s\) committed", l)] if m)
        aborts = [int(m.group(1)) for l in extra
                  for m in [re.search(r"transaction aborted; (\d+) partition", l)] if m]
        check(aborted > 0, "kills hit open transactions: %d records a read_uncommitted reader "
              "sees besides, which read_committed readers never see" % aborted)
        check(rc == 0, "daemon exits 0 on SIGTERM after the run (rc %s)" % rc)
        print("figures: exactly-once records %d, kill -9 %d, broker restarts %d, lost %d, "
              "duplicates %d; read_uncommitted sees %d more (aborted or uncommitted), "
              "transactions committed by the daemons that exited cleanly %d; transactions "
              "aborted and redone by live daemons %d (%d partition rewinds)"
              % (len(recs), kills, restarts, len(lost), dups, aborted, commits, len(aborts),
                 sum(aborts)))
    finally:
        h.close()


def create_txn_id_acl(bootstrap, principal, prefix, operation):
    """ALLOW principal operation ("write", "describe") on transactional ids starting with prefix,
    by a CreateAcls v1 request on the PLAINTEXT listener (the admin API of librdkafka 2.0 has no
    transactional-id resource type). Kafka's wire format: resource type 5 = TRANSACTIONAL_ID,
    pattern 4 = PREFIXED, operation 4 = WRITE / 8 = DESCRIBE, permission 3 = ALLOW."""
    import socket

    def string(x):
        b = x.encode()
        return struct.pack(">h", len(b)) + b

    body = struct.pack(">i", 1) + struct.pack(">b", 5) + string(prefix) + struct.pack(">b", 4)
    body += string(principal) + string("*")
    body += struct.pack(">bb", {"write": 4, "describe": 8}[operation], 3)
    req = struct.pack(">hhi", 30, 1, 7) + string("bertd-test") + body
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(struct.pack(">i", len(req)) + req)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("CreateAcls: connection closed")
            data += chunk
    # size, correlation id, throttle ms, results count, then the first result's error code
    _, corr, _, count, err = struct.unpack(">iiiih", data[:18])
    if corr != 7 or count != 1 or err != 0:
        raise RuntimeError("CreateAcls transactional id %s for %s: error %d" % (prefix, principal,
                                                                                err))


def librdkafka_version():
    """rd_kafka_version(): 0xMMmmrrxx."""
    import ctypes
    import ctypes.util
    lib = ctypes.CDLL(ctypes.util.find_library("rdkafka") or "librdkafka.so.1")
    lib.rd_kafka_version.restype = ctypes.c_int
    return lib.rd_kafka_version()


def case_security(a):
    """bertd run against the broker's secured listeners (tests/kafka/broker.sh with
    BERTD_KAFKA_SECURE=1: certificates made there by openssl and keytool, an ACL authorizer).
    The daemon's principal, bertd, may read its input topic and group and write its output and
    dead-letter topics, nothing else. Mutual TLS with a certificate the broker trusts (its key
    encrypted, the key password from ${ENV}) enriches every record; a certificate from another CA,
    a wrong SCRAM password (from ${file:...}) and an output topic without ACLs each stop start-up
    at once with exit status 1 and one line naming the cause. No log line holds a secret."""
    key_pw = "kp-%08x" % random.getrandbits(32)
    scram_pw = "sp-%08x" % random.getrandbits(32)
    h = Harness(a.build, "security")
    h.env.update(BERTD_KAFKA_SECURE="1", BERTD_KAFKA_SCRAM_USERS="bertd:" + scram_pw)
    try:
        h.start([("utt", 3), ("utt.out", 3), ("utt.dlq", 1), ("utt.denied", 1),
                 ("utt.nowrite", 1)])
        plain = h.bootstrap
        ssl_at, sasl_at, ca = h.broker("bootstrap", "ssl"), h.broker("bootstrap", "sasl_ssl"), \
            h.broker("ca")
        for args in (("topic", "utt", "read"), ("topic", "utt", "describe"),
                     ("group", "bertd-sec*", "read"), ("topic", "utt.out", "write"),
                     ("topic", "utt.out", "describe"), ("topic", "utt.dlq", "write"),
                     ("topic", "utt.dlq", "describe"), ("topic", "utt.nowrite", "describe")):
            h.broker("acl", "bertd", *args)
        certs = os.path.join(h.tmp, "certs")
        h.broker("client-cert", "bertd", certs)
        h.broker("client-cert", "bertd", os.path.join(certs, "other"), "untrusted")
        # the good key encrypted with the key password, as a deployment would keep it
        subprocess.run(["openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in",
                        os.path.join(certs, "bertd.key"), "-out",
                        os.path.join(certs, "bertd.enc.key"), "-passout", "pass:" + key_pw],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pw_file = os.path.join(h.tmp, "scram.password")
        with open(pw_file, "w") as fh:
            fh.write("wrong-" + scram_pw + "\n")
        recs = utterances(a.records)
        h.produce("utt", recs)
        env_before = dict(os.environ)
        os.environ["BERTD_TEST_KEY_PASSWORD"] = key_pw

        def daemon(log, bootstrap, kafka, out="utt.out", eos=False):
            h.bootstrap = bootstrap
            cfg = h.config(group="bertd-sec-" + log, out=out, extra_kafka=kafka)
            h.bootstrap = plain
            with open(cfg) as fh:
                text = fh.read()
            with open(os.path.join(h.tmp, log + ".yaml"), "w") as fh:
                # transactional.id bertd-bertd-sec-LOG-host
                fh.write(("delivery: exactly_once\n" if eos else "") + text)
            return h.spawn_daemon(os.path.join(h.tmp, log + ".yaml"), log + ".log")

        for op in ("write", "describe"):
            create_txn_id_acl(plain, "User:bertd", "bertd-bertd-sec-mtls", op)
        mtls = ("  security.protocol: SSL\n  ssl.ca.location: %s\n"
                "  ssl.certificate.location: %s\n  ssl.key.location: %s\n"
                "  ssl.key.password: ${BERTD_TEST_KEY_PASSWORD}\n")
        good = mtls % (ca, os.path.join(certs, "bertd.crt"), os.path.join(certs, "bertd.enc.key"))
        proc = daemon("mtls", ssl_at, good, eos=True)
        h.daemon = proc
        out = h.wait_output("utt.out", {r["id"] for r in recs}, a.timeout)
        rc = h.stop_daemon()
        ids = collections.Counter(r["id"] for r in out)
        check(set(ids) == {r["id"] for r in recs} and rc == 0,
              "mutual TLS, exactly_once (principal from the certificate's CN, ACLs allow its "
              "topics, group and transactional id): %d of %d records enriched, exit %s"
              % (len(ids), len(recs), rc))
        scram = ("  security.protocol: SASL_SSL\n  sasl.mechanism: SCRAM-SHA-512\n"
                 "  sasl.username: bertd\n  sasl.password: ${file:%s}\n  ssl.ca.location: %s\n"
                 % (pw_file, ca))
        version = librdkafka_version()
        if version >= 0x020601ff:
            with open(pw_file, "w") as fh:
                fh.write(scram_pw + "\n")
            h.daemon = daemon("scram", sasl_at, scram)
            deadline = time.time() + a.timeout
            while time.time() < deadline:
                twice = collections.Counter(r["id"] for r in h.consume("utt.out", h.enriched_schema()))
                if all(twice[r["id"]] >= 2 for r in recs) or h.daemon.poll() is not None:
                    break
                time.sleep(1)
            rc = h.stop_daemon()
            check(all(twice[r["id"]] == 2 for r in recs) and rc == 0,
                  "SASL_SSL with SCRAM-SHA-512 (password from ${file:...}), its own group: every "
                  "record enriched once more, exit %s" % rc)
        else:
            # librdkafka before 2.6.1 sends a SCRAM client-final nonce that Kafka 4 brokers reject
            # (librdkafka#4895): every password is "invalid credentials"
            print("skip SASL_SSL with SCRAM-SHA-512, good password: librdkafka %x is older than "
                  "2.6.1, which Kafka %s brokers need for SCRAM" % (version >> 8, "4.x"))
        with open(pw_file, "w") as fh:
            fh.write("wrong-" + scram_pw + "\n")

        def refused(name, bootstrap, kafka, want, out="utt.out", eos=False):
            t0 = time.time()
            proc = daemon(name, bootstrap, kafka, out, eos)
            try:
                rc = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = None
            secs = time.time() - t0
            lines = [l for l in h.log_lines(name + ".log") if " error: " in l or "bertd run:" in l]
            last = h.log_lines(name + ".log")[-1] if h.log_lines(name + ".log") else ""
            check(rc == 1 and secs < 20 and re.search(want, last),
                  "%s: exit %s after %.1f s, last line names the cause: %s"
                  % (name, rc, secs, last[-260:]))

        untrusted = mtls % (ca, os.path.join(certs, "other", "bertd.crt"),
                            os.path.join(certs, "other", "bertd.key"))
        refused("untrusted-cert", ssl_at, untrusted.replace(
            "  ssl.key.password: ${BERTD_TEST_KEY_PASSWORD}\n", ""), r"refused.*(certificate|SSL)")
        refused("wrong-password", sasl_at, scram, r"refused.*[Aa]uthentication")
        refused("acl-denied", ssl_at, good, r"not authorized to describe topic utt\.denied",
                out="utt.denied")
        # described but not writable: the first delivery report stops the daemon (nothing is
        # dead-lettered in its place)
        refused("acl-no-write", ssl_at, good.replace(
            "  ssl.key.password", "  ssl.key.password"), r"not authorized to write to topic "
                r"utt\.nowrite", out="utt.nowrite")
        refused("acl-denied-txn", ssl_at, good, r"TRANSACTIONAL_ID_AUTHORIZATION_FAILED", eos=True)
        leaks = [(log, l) for log in sorted(os.listdir(h.tmp)) if log.endswith(".log")
                 for l in h.log_lines(log) if key_pw in l or scram_pw in l]
        check(not leaks, "no log line holds the key password or the SCRAM password (%d logs "
              "searched): %s" % (sum(1 for l in os.listdir(h.tmp) if l.endswith(".log")),
                                 leaks[:2]))
        os.environ.clear()
        os.environ.update(env_before)
    finally:
        h.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=["e2e", "kill", "broker-restart", "poison", "bad-config",
                                     "memory", "rebalance", "backpressure", "broker-unreachable",
                                     "timing", "exactly-once", "security", "registry"])
    ap.add_argument("--build", required=True)
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--records-large", type=int, default=100000)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--kill-window", type=float, default=3.0)
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--delivery", default="", help="e2e: the delivery: mode (default: the file's)")
    ap.add_argument("--commit-interval", type=int, default=0,
                    help="kill: delivery.commit_interval_ms (0: the default)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--max-in-flight", type=int, default=100)
    a = ap.parse_args()
    try:
        {"e2e": case_e2e, "kill": case_kill, "broker-restart": case_broker_restart,
         "poison": case_poison, "bad-config": case_bad_config, "memory": case_memory,
         "rebalance": case_rebalance, "backpressure": case_backpressure,
         "broker-unreachable": case_broker_unreachable, "timing": case_timing,
         "exactly-once": case_exactly_once, "security": case_security,
         "registry": case_registry}[a.case](a)
    except Exception as e:  # a harness failure is a failed check, not a traceback-only exit
        check(False, "%s: %s: %s" % (a.case, type(e).__name__, e))
    print("%d passed, %d failed" % (len(passed), len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
