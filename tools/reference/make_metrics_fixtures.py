#!/usr/bin/env python3
"""Writes the metrics fixtures into tests/fixtures/metrics/: inputs and the numbers seqeval and
scikit-learn give for them, which tests/model/test_metrics.c (and data_metrics.c, on ATIS) must reproduce to 1e-9. Run from the
repository root with the reference environment:

    .venv-ref/bin/python tools/reference/make_metrics_fixtures.py [--data DIR]   (default $BERTD_DATA_DIR)

Everything is generated from fixed seeds; never edit the outputs by hand. What it writes:

  spans.json    BIO(ES) tag sequences (gold, predicted) per case, with seqeval's
                classification_report (default mode: conlleval chunking) per type and its
                micro / macro / weighted averages. Cases: hand-written tricky ones (I- without
                B-, adjacent same-type spans, type switches, IOBES), seeded random BIO, random
                IOBES, random tags with JointBERT's PAD / UNK.
  classes.json  class-id sequences per case with scikit-learn's accuracy,
                precision_recall_fscore_support (per class, macro, micro, weighted; labels=None,
                so only classes present in gold or predictions are averaged) and
                confusion_matrix over every class id.
  atis_test.json  expected numbers only (the data stays where it is, read at test time): the
                real ATIS test gold (intents and slot tags, labels missing from the label lists
                mapped to UNK as JointBERT does) against a deterministic corruption of it
                (corrupt_intent / corrupt_slot below; data_metrics.c applies the same rule):
                intent accuracy and class report, slot seqeval report, sentence accuracy.
"""
import argparse
import json
import os
import random

import numpy as np
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "metrics")


def seqeval_expected(gold, pred):
    rep = classification_report(gold, pred, output_dict=True, zero_division=0)
    out = {"per_type": {}, "averages": {}}
    for k, v in rep.items():
        row = [float(v["precision"]), float(v["recall"]), float(v["f1-score"]), int(v["support"])]
        if k.endswith(" avg"):
            out["averages"][k.split()[0]] = row
        else:
            out["per_type"][k] = row
    # the plain calls too, as a check that the report's micro row is what they give
    out["f1_score"] = float(f1_score(gold, pred))
    out["precision_score"] = float(precision_score(gold, pred))
    out["recall_score"] = float(recall_score(gold, pred))
    assert abs(out["f1_score"] - out["averages"]["micro"][2]) < 1e-12
    return out


def span_case(name, gold, pred):
    tags = sorted({t for s in gold + pred for t in s})
    return {"name": name, "tags": tags, "gold": gold, "pred": pred,
            "expected": seqeval_expected(gold, pred)}


def tricky():
    pairs = [
        (["I-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),          # I- without B- opens a chunk
        (["B-LOC", "B-LOC", "I-LOC"], ["B-LOC", "I-LOC", "I-LOC"]),  # adjacent same-type spans
        (["B-LOC", "I-PER", "I-PER"], ["B-LOC", "B-PER", "I-PER"]),  # type switch inside a span
        (["O", "I-ORG", "B-ORG", "O", "I-ORG"], ["O", "I-ORG", "I-ORG", "O", "B-ORG"]),
        (["B-a-b", "I-a-b", "O"], ["B-a-b", "I-a", "O"]),            # a type with a dash
        (["B-MISC"], ["I-MISC"]),                                   # one-word spans
        (["O", "O", "O"], ["O", "B-PER", "O"]),                     # a false positive only
        (["B-PER", "O", "B-PER"], ["O", "O", "O"]),                 # misses only
        (["S-LOC", "B-PER", "E-PER", "O"], ["S-LOC", "B-PER", "I-PER", "E-PER"]),  # IOBES
        (["B-LOC", "E-LOC", "E-LOC"], ["B-LOC", "I-LOC", "E-LOC"]),
        (["B-PER", "I-PER", "I-LOC", "I-LOC"], ["B-PER", "I-PER", "B-LOC", "I-LOC"]),
        (["I-PER"], ["I-PER"]),
    ]
    return span_case("tricky", [g for g, _ in pairs], [p for _, p in pairs])


def random_tags(rng, n_sent, types, prefixes, extra=()):
    gold, pred = [], []
    for _ in range(n_sent):
        n = rng.randint(1, 20)
        g = []
        for _ in range(n):
            r = rng.random()
            if r < 0.45:
                g.append("O")
            elif extra and r < 0.48:
                g.append(rng.choice(extra))
            else:
                g.append(rng.choice(prefixes) + "-" + rng.choice(types))
        p = []
        for t in g:
            r = rng.random()
            if r < 0.7:
                p.append(t)
            elif r < 0.8:
                p.append("O")
            elif r < 0.9 and t != "O" and "-" in t:
                p.append(rng.choice(prefixes) + t[1:])     # boundary error, same type
            else:
                p.append(rng.choice(prefixes) + "-" + rng.choice(types))
        gold.append(g)
        pred.append(p)
    return gold, pred


def class_case(name, n_classes, gold, pred):
    present = sorted(set(gold) | set(pred))
    p, r, f, s = precision_recall_fscore_support(gold, pred, average=None, zero_division=0)
    per = {str(c): [float(p[i]), float(r[i]), float(f[i]), int(s[i])] for i, c in enumerate(present)}
    avg = {}
    for a in ("micro", "macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(gold, pred, average=a, zero_division=0)
        avg[a] = [float(ap), float(ar), float(af), len(gold)]
    cm = confusion_matrix(gold, pred, labels=list(range(n_classes)))
    return {"name": name, "n_classes": n_classes, "gold": gold, "pred": pred,
            "expected": {"accuracy": float(accuracy_score(gold, pred)), "per_class": per,
                         "averages": avg, "confusion": cm.tolist()}}


# ---- ATIS: the corruption rule, mirrored in tests/model/data_metrics.c ----

def corrupt_intent(i, gold, n_intents):
    if i % 17 == 0:
        return (gold + 1) % n_intents
    if i % 23 == 3:
        return 0
    return gold


def corrupt_slot(i, j, gold, slot_labels):
    """Word j of sentence i, gold tag id -> predicted tag id."""
    h = (i * 7 + j * 13) % 29
    if h == 0:
        return slot_labels.index("O")
    if h == 1:
        return (gold + 1) % len(slot_labels)
    if h == 2 and slot_labels[gold].startswith("B-"):
        i_tag = "I-" + slot_labels[gold][2:]
        return slot_labels.index(i_tag) if i_tag in slot_labels else gold
    return gold


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def atis_case(data):
    d = os.path.join(data, "atis")
    intents = read_lines(os.path.join(d, "intent_label.txt"))
    slots = read_lines(os.path.join(d, "slot_label.txt"))
    gold_i = [intents.index(x) if x in intents else intents.index("UNK")
              for x in read_lines(os.path.join(d, "test", "label"))]
    gold_s = [[slots.index(t) if t in slots else slots.index("UNK") for t in line.split()]
              for line in read_lines(os.path.join(d, "test", "seq.out"))]
    pred_i = [corrupt_intent(i, g, len(intents)) for i, g in enumerate(gold_i)]
    pred_s = [[corrupt_slot(i, j, g, slots) for j, g in enumerate(s)] for i, s in enumerate(gold_s)]
    gold_tags = [[slots[t] for t in s] for s in gold_s]
    pred_tags = [[slots[t] for t in s] for s in pred_s]
    cls = class_case("atis_test_intents", len(intents), gold_i, pred_i)
    del cls["gold"], cls["pred"]
    # JointBERT's get_sentence_frame_acc: intent right and every slot tag right
    sent = np.mean([gi == pi and gs == ps for gi, pi, gs, ps in zip(gold_i, pred_i, gold_s, pred_s)])
    return {"sentences": len(gold_i), "n_intents": len(intents), "n_slots": len(slots),
            "intents": cls["expected"], "slots": seqeval_expected(gold_tags, pred_tags),
            "sentence_accuracy": float(sent),
            "changed_intents": sum(g != p for g, p in zip(gold_i, pred_i)),
            "changed_tags": sum(g != p for gs, ps in zip(gold_s, pred_s) for g, p in zip(gs, ps))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("BERTD_DATA_DIR"),
                    help="folder holding atis/ (default: $BERTD_DATA_DIR); without it "
                         "atis_test.json is left as it is")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)

    rng = random.Random(20240601)
    spans = [tricky()]
    spans.append(span_case("random_bio", *random_tags(rng, 200, ["LOC", "PER", "ORG", "a-b"], ["B", "I"])))
    spans.append(span_case("random_iobes", *random_tags(rng, 150, ["LOC", "PER", "TIME"], ["B", "I", "E", "S"])))
    spans.append(span_case("random_with_pad_unk",
                           *random_tags(rng, 150, ["fromloc.city_name", "toloc.city_name", "depart_date.day_name"],
                                        ["B", "I"], extra=("UNK", "PAD"))))

    classes = []
    g = [rng.randrange(5) for _ in range(500)]
    # class 5 only ever predicted, class 6 never seen: sklearn averages over 0..5 only
    p = [x if rng.random() < 0.6 else rng.randrange(6) for x in g]
    classes.append(class_case("random_7_classes", 7, g, p))
    classes.append(class_case("perfect", 3, [0, 1, 2, 2, 1], [0, 1, 2, 2, 1]))
    classes.append(class_case("all_wrong", 3, [0, 0, 1, 1], [1, 2, 0, 2]))

    with open(os.path.join(OUT, "spans.json"), "w") as f:
        json.dump({"cases": spans}, f, indent=None, separators=(",", ":"))
    with open(os.path.join(OUT, "classes.json"), "w") as f:
        json.dump({"cases": classes}, f, indent=None, separators=(",", ":"))
    names = ["spans.json", "classes.json"]
    if args.data:
        with open(os.path.join(OUT, "atis_test.json"), "w") as f:
            json.dump(atis_case(args.data), f, indent=1)
        names.append("atis_test.json")
    for name in names:
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")


if __name__ == "__main__":
    main()
