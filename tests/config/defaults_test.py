#!/usr/bin/env python3
"""Every default the documents state is the default bertd runs with.

The model and batching settings and their defaults are defined once, in the plugin's table
(plugin/plugin_config.c). Three documents state them: the tables of config/README.md, the JSON
block of plugin/bertd_plugin.h, and README.md's words on window_stride and on broker_wait_ms.
This test reads each statement and holds it against what `bertd run -c FILE --check` prints for
a pipeline that sets only model.dir and model.task, so no document can drift from the table.
A default the test cannot read is a failure too: a new row must be written so that it can.

    python3 tests/config/defaults_test.py --build BUILD_DIR
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
failures = []


def check(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def effective(bertd):
    """The settings `bertd run --check` reports for a pipeline that sets only dir and task."""
    tmp = tempfile.mkdtemp(prefix="bertd-defaults-")
    model = os.path.join(ROOT, "tests", "fixtures", "config", "models", "atis-joint")
    path = os.path.join(tmp, "minimal.yaml")
    with open(path, "w") as f:
        f.write("kafka: { bootstrap.servers: 127.0.0.1:9, group.id: g }\n"
                "pipelines:\n"
                "  - name: p\n"
                "    input: { topics: [in], schema: %s, text_field: text }\n"
                "    output: { topic: out }\n"
                "    dead_letter: { topic: dlq }\n"
                "    model: { dir: %s, task: joint }\n"
                % (os.path.join(ROOT, "schemas", "utterance.avsc"), model))
    out = subprocess.run([bertd, "run", "-c", path, "--check"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=60)
    if out.returncode != 0:
        sys.exit("bertd run --check failed: %s" % out.stderr.strip())
    lines = out.stdout.strip().splitlines()
    check(len(lines) == 1, "--check prints one line for one pipeline")
    return json.loads(lines[0])


def doubling_buckets(max_length):
    edges, e = [], 16
    while e < max_length:
        edges.append(e)
        e *= 2
    return edges + [max_length]


def read_doc_default(text, key, max_length):
    """The value a config/README.md default cell states, or raises ValueError."""
    t = text.strip()
    if re.fullmatch(r"-?\d+", t):
        return int(t)
    if re.fullmatch(r"`[a-z0-9_]+`", t):  # fp32 has digits
        return t.strip("`")
    if t.startswith("none"):
        return None
    if t == "`max_length / 4`":  # derived when the window is cut: unset in the settings
        return None
    if t == "16, 32, 64, ... up to `max_length`":
        return doubling_buckets(max_length)
    raise ValueError("%s: a default this test cannot read: %r" % (key, t))


def readme_tables(eff):
    """config/README.md: the default column of the #### `model` and #### `batching` tables."""
    text = open(os.path.join(ROOT, "config", "README.md")).read()
    max_length = eff["model"]["max_length"]
    seen = set()
    for section in ("model", "batching"):
        # the heading, any paragraphs, then the table's header, rule and rows
        m = re.search(r"#### `%s`\n(?:[^|#].*\n|\n)*\|.*\n\|[-| ]+\n((?:\|.*\n)+)" % section, text)
        check(m is not None, "config/README.md has a `%s` table" % section)
        if not m:
            continue
        for row in m.group(1).splitlines():
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            key, required, default = cells[0].strip("`"), cells[2], cells[3]
            seen.add((section, key))
            check(key in eff[section], "config/README.md %s.%s is a setting of the plugin"
                  % (section, key))
            if required == "yes":
                check(default == "", "config/README.md %s.%s: required, no default" % (section, key))
                continue
            try:
                want = read_doc_default(default, key, max_length)
            except ValueError as e:
                check(False, "config/README.md %s" % e)
                continue
            check(eff[section].get(key, "absent") == want,
                  "config/README.md %s.%s default %r == %r run" % (section, key, want,
                                                                    eff[section].get(key)))
    for section in ("model", "batching"):
        for key in eff[section]:
            check((section, key) in seen, "config/README.md documents %s.%s" % (section, key))


def plugin_header(eff):
    """plugin/bertd_plugin.h: the JSON block of bertd_plugin_create()'s comment."""
    text = open(os.path.join(ROOT, "plugin", "bertd_plugin.h")).read()
    block = text[text.index("/* Creates a plugin"):
                 text.index("BERTD_PLUGIN_EXPORT int bertd_plugin_create(")]
    section, seen = None, set()
    for line in block.splitlines():
        s = re.match(r'\s*\*\s+"(model|batching)": \{', line)
        if s:
            section = s.group(1)
            continue
        m = re.match(r'\s*\*\s+"(\w+)": (null|-?\d+|"[^"]*"|\[[^\]]*\])', line)
        if not m or not section:
            continue
        key, value = m.group(1), json.loads(m.group(2))
        seen.add((section, key))
        if key in ("dir", "task"):  # required: an example, not a default
            continue
        if key == "buckets" and value is None:  # null: derived from max_length, as it says
            value = doubling_buckets(eff["model"]["max_length"])
        check(eff[section].get(key, "absent") == value,
              "bertd_plugin.h %s.%s default %r == %r run" % (section, key, value,
                                                              eff[section].get(key)))
    for section in ("model", "batching"):
        for key in eff[section]:
            check((section, key) in seen, "bertd_plugin.h documents %s.%s" % (section, key))


def readme(eff):
    """README.md's sentences that state a default."""
    text = open(os.path.join(ROOT, "README.md")).read()
    check("the default is `max_length / 4`" in text and eff["model"]["window_stride"] is None,
          "README.md: window_stride defaults to max_length / 4 (unset in the settings)")
    check(re.search(r"is by\s+default cut to fit", text) is not None,
          "README.md: a text over max_length is cut by default")
    check(eff["model"]["on_too_long"] == "truncate", "on_too_long runs as truncate by default")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    a = ap.parse_args()
    eff = effective(os.path.join(a.build, "cli", "bertd"))
    readme_tables(eff)
    plugin_header(eff)
    readme(eff)
    if failures:
        print("%d failed" % len(failures))
        sys.exit(1)
    print("all defaults agree")


if __name__ == "__main__":
    main()
