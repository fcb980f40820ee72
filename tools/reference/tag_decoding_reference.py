#!/usr/bin/env python3
"""Slot F1 of a JointBERT-layout checkpoint with each word's argmax tag and with BIO-constrained
decoding, computed independently of bertd: transformers runs the model, seqeval scores.

    .venv-ref/bin/python tools/reference/tag_decoding_reference.py CHECKPOINT DATA_DIR [test|dev]

DATA_DIR: the JointBERT layout (SPLIT/seq.in, SPLIT/seq.out). Each word's tag comes from its
first word piece (max_length 64, as `bertd eval --max-length 64`). The constrained decoding is
a Viterbi pass over per-word log-softmax with I-X allowed only after B-X or I-X, written here
from that definition so `bertd eval --tag-decoding bio` can be checked against it.
"""
import os
import sys

import numpy as np
import torch
from seqeval.metrics import f1_score
from transformers import BertTokenizerFast

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_saved_checkpoint import load  # noqa: E402


def allowed_matrix(labels):
    """allowed[i, j]: tag j may follow tag i; row len(labels) is the sentence start."""
    K = len(labels)
    allowed = np.ones((K + 1, K), bool)
    for j, b in enumerate(labels):
        if b.startswith("I-"):
            for i, a in enumerate(labels + ["<start>"]):
                if not (a[:2] in ("B-", "I-") and a[2:] == b[2:]):
                    allowed[i, j] = False
    return allowed


def viterbi(lp, allowed):
    K = lp.shape[1]
    neg = -1e30
    score = np.where(allowed[K], lp[0], neg)
    back = []
    for t in range(1, len(lp)):
        cand = score[:, None] + np.where(allowed[:K], 0.0, neg)
        back.append(cand.argmax(0))
        score = cand.max(0) + lp[t]
    path = [int(score.argmax())]
    for bp in reversed(back):
        path.append(int(bp[path[-1]]))
    return path[::-1]


def decode(ckpt, words):
    """Each sentence's word tags from the checkpoint: (argmax, BIO-constrained Viterbi)."""
    _, model, _ = load(ckpt)
    tok = BertTokenizerFast.from_pretrained(ckpt)
    labels = [l.strip() for l in open(os.path.join(ckpt, "slot_label.txt")) if l.strip()]
    allowed = allowed_matrix(labels)
    am, vt = [], []
    for s in range(0, len(words), 64):
        batch = words[s:s + 64]
        enc = tok(batch, is_split_into_words=True, padding=True, truncation=True, max_length=64,
                  return_tensors="pt")
        with torch.no_grad():
            hidden = model.bert(**enc)[0]
            lp = torch.log_softmax(model.slot_classifier.linear(hidden), -1).numpy()
        for b, w in enumerate(batch):
            rows, seen = [], set()
            for t, x in enumerate(enc.word_ids(b)):
                if x is not None and x not in seen:
                    seen.add(x)
                    rows.append(t)
            pad = ["O"] * (len(w) - len(rows))
            L = lp[b, rows]
            am.append([labels[i] for i in L.argmax(-1)] + pad)
            vt.append([labels[i] for i in viterbi(L, allowed)] + pad)
    return am, vt


def main():
    ckpt, data = sys.argv[1], sys.argv[2]
    split = sys.argv[3] if len(sys.argv) > 3 else "test"
    torch.set_num_threads(1)
    words = [l.split() for l in open(os.path.join(data, split, "seq.in"))]
    gold = [l.split() for l in open(os.path.join(data, split, "seq.out"))]
    am, vt = decode(ckpt, words)
    print(f"{split}: slot F1 argmax {100 * f1_score(gold, am):.2f}, "
          f"bio {100 * f1_score(gold, vt):.2f} ({len(gold)} sentences)")


if __name__ == "__main__":
    main()
