#!/usr/bin/env python3
"""Sorts a JointBERT-layout checkpoint's slot errors on one split by kind, independently of
bertd (transformers runs the model, seqeval finds the spans, slots decoded BIO-constrained as
bertd serves them by default):

    .venv-ref/bin/python tools/reference/slot_errors.py CHECKPOINT DATA_DIR [test|dev] [--list]

Each gold span the prediction lacks is one of: "boundary" (a predicted span of the same type
overlaps it), "type" (a predicted span has its exact boundaries, another type), "type+boundary"
(only spans of other types overlap it) or "missed" (nothing overlaps it); a predicted span that
overlaps no gold span is "spurious". Prints the counts, the types with the most misses and,
with --list, every miss beside the sentence.
"""
import collections
import os
import sys

import torch
from seqeval.metrics.sequence_labeling import get_entities

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tag_decoding_reference import decode  # noqa: E402


def overlaps(a, b):
    return not (a[2] < b[1] or a[1] > b[2])


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ckpt, data = args[0], args[1]
    split = args[2] if len(args) > 2 else "test"
    torch.set_num_threads(1)
    words = [l.split() for l in open(os.path.join(data, split, "seq.in"))]
    gold = [l.split() for l in open(os.path.join(data, split, "seq.out"))]
    _, pred = decode(ckpt, words)
    kinds, by_type, misses = collections.Counter(), collections.Counter(), []
    n_gold = n_pred = 0
    for w, g, p in zip(words, gold, pred):
        G, P = set(get_entities(g)), set(get_entities(p))
        n_gold += len(G)
        n_pred += len(P)
        for span in sorted(G - P, key=lambda x: x[1]):
            near = [x for x in P if overlaps(x, span)]
            if any(x[1:] == span[1:] for x in near):
                kind = "type"
            elif any(x[0] == span[0] for x in near):
                kind = "boundary"
            elif near:
                kind = "type+boundary"
            else:
                kind = "missed"
            kinds[kind] += 1
            by_type[span[0]] += 1
            misses.append((kind, span[0], " ".join(w[span[1]:span[2] + 1]),
                           [(x[0], " ".join(w[x[1]:x[2] + 1])) for x in near], " ".join(w)))
        kinds["spurious"] += sum(1 for x in P - G if not any(overlaps(x, y) for y in G))
    print(f"{split}: {n_gold} gold spans, {n_pred} predicted; gold spans not predicted: "
          + ", ".join(f"{k} {kinds[k]}" for k in ("boundary", "type", "type+boundary", "missed"))
          + f"; spurious predictions {kinds['spurious']}")
    print("most missed types: " + ", ".join(f"{t} {n}" for t, n in by_type.most_common(8)))
    if "--list" in sys.argv:
        for m in misses:
            print(m)


if __name__ == "__main__":
    main()
