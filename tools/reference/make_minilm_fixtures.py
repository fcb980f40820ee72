#!/usr/bin/env python3
"""Golden sentence embeddings of the real all-MiniLM-L6-v2, made with sentence-transformers.

    .venv-ref/bin/python tools/reference/make_minilm_fixtures.py MODEL_DIR
(MODEL_DIR is the last line of `scripts/fetch-model.sh minilm`.)

Inputs are the project's own texts (tests/fixtures/texts/, made by make_texts.py): every text of
edge.jsonl (many scripts, every C0/C1 control character and NUL, texts longer than the model's
256 word pieces), then the first SYNTHETIC of synthetic.jsonl and the first UTTERANCES of
utterances.jsonl. Writes tests/fixtures/minilm/embeddings.f32 (count x 384 little-endian
float32, normalised as the model's Normalize module does) and tests/fixtures/minilm/meta.json
(sources, sha1 of each text, and the token ids of every text as BertTokenizerFast gives them).
tests/model/parity_minilm.c compares bertd's ids and embeddings with them.

Held-out texts (any JSONL file of {"text": ...}, e.g. make_texts.py --seed N --synthetic-only):
    ... make_minilm_fixtures.py MODEL_DIR --texts FILE.jsonl --out DIR
then BERTD_MINILM_FIXTURE=DIR ctest -R parity_minilm compares on them instead.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np  # noqa: F401  (sentence-transformers returns numpy arrays)
from sentence_transformers import SentenceTransformer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SYNTHETIC, UTTERANCES = 500, 200
SOURCES = [("texts/edge.jsonl", None), ("texts/synthetic.jsonl", SYNTHETIC),
           ("texts/utterances.jsonl", UTTERANCES)]


def read_jsonl(path):
    with open(path, encoding="ascii") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--texts", help="held-out JSONL texts instead of the committed ones")
    ap.add_argument("--out", default=os.path.join(FIXTURES, "minilm"))
    args = ap.parse_args()
    sources = [(os.path.abspath(args.texts), None)] if args.texts else SOURCES
    texts, meta_sources = [], []
    for rel, n in sources:
        t = read_jsonl(rel if os.path.isabs(rel) else os.path.join(FIXTURES, rel))
        t = t if n is None else t[:n]
        texts += t
        meta_sources.append(dict(path=rel, lines=len(t)))
    model = SentenceTransformer(args.model_dir, device="cpu")
    emb = model.encode(texts, batch_size=32, convert_to_numpy=True).astype("<f4")
    os.makedirs(args.out, exist_ok=True)
    emb.tofile(os.path.join(args.out, "embeddings.f32"))
    tok = model.tokenizer
    enc = tok(texts, truncation=True, max_length=model.max_seq_length)
    meta = dict(model="all-MiniLM-L6-v2", dim=int(emb.shape[1]), count=len(texts),
                max_seq_length=model.max_seq_length, sources=meta_sources,
                sha1=[hashlib.sha1(t.encode("utf-8")).hexdigest()[:12] for t in texts],
                ids=enc["input_ids"])
    with open(os.path.join(args.out, "meta.json"), "w") as fh:
        json.dump(meta, fh)
    print("%s: %d texts, %d dims" % (args.out, emb.shape[0], emb.shape[1]), file=sys.stderr)


if __name__ == "__main__":
    main()
