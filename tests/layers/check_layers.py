#!/usr/bin/env python3
"""The layering rule, checked over the tree: a .c/.h file includes only headers of its own
top-level folder, or public headers (named bertd*.h) of the folders below it.

    python3 tests/layers/check_layers.py [ROOT]

Prints one line per violation (file:line: what and why) and exits 1 if there is any. A test in
tests/<folder>/ may also include <folder>'s private headers: it checks the insides of the module
it mirrors. System headers (<...>) are not checked."""
import os
import re
import sys

# folder -> the folders whose public headers it may include (the arrows of ARCHITECTURE.md)
BELOW = {
    "model": [],
    "plugin": ["model"],
    "config": [],
    "avro": [],
    "dataset": ["model"],
    # eval/replay reads a topic (librdkafka), decodes it as the daemon does (avro/) and runs it
    # through the daemon's enrichment stage (plugin/, its ABI header only)
    "eval": ["avro", "plugin", "dataset", "model"],
    "train": ["eval", "dataset", "model"],
    "consumer": ["config", "avro", "plugin"],
    "cli": ["consumer", "train", "eval", "dataset", "avro", "config", "plugin", "model"],
    # bench/load_gen.c encodes and decodes the records it feeds bertd run with avro/'s codec, so
    # the latency bench writes exactly the Avro the daemon reads
    "bench": ["model", "avro"],
}
# consumer/ and eval/ reach the enrichment stage only through the plugin ABI (eval/ links it in
# process), never the in-process bertd_enrich.h API
ONLY = {("consumer", "plugin"): {"bertd_plugin.h"}, ("eval", "plugin"): {"bertd_plugin.h"}}
# tests/fuzz/fuzz_<module>.c drive the insides of the modules they fuzz
FUZZED = {"model", "avro"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    where = {}  # header basename -> set of top-level folders holding one
    files = []
    for top in list(BELOW) + ["tests"]:
        for d, _, names in os.walk(os.path.join(root, top)):
            if "/fixtures" in d:
                continue
            for n in names:
                if n.endswith((".c", ".h")):
                    p = os.path.join(d, n)
                    files.append(p)
                    if n.endswith(".h"):
                        where.setdefault(n, set()).add(top)
    bad = []
    for p in sorted(files):
        rel = os.path.relpath(p, root)
        parts = rel.split(os.sep)
        top = parts[0]
        mirrored = parts[1] if top == "tests" and len(parts) > 2 else None
        for i, line in enumerate(open(p, encoding="utf-8", errors="replace"), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            name = os.path.basename(m.group(1))
            homes = where.get(name, set())
            if top in homes or not homes:
                continue  # its own folder's header, or not a project header
            if mirrored in homes or (mirrored == "fuzz" and homes & FUZZED):
                continue  # a test and the module it mirrors
            home = sorted(homes)[0]
            if not name.startswith("bertd"):
                bad.append(f"{rel}:{i}: includes {name}, a private header of {home}/")
            elif top != "tests" and home not in BELOW.get(top, []):
                bad.append(f"{rel}:{i}: includes {name} of {home}/, which is not below {top}/")
            elif (top, home) in ONLY and name not in ONLY[(top, home)]:
                bad.append(f"{rel}:{i}: includes {name}; {top}/ may use only "
                           f"{', '.join(sorted(ONLY[(top, home)]))} of {home}/")
    for b in bad:
        print(b)
    print(f"layers: {len(files)} files checked, {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
