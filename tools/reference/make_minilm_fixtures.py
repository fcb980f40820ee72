#!/usr/bin/env python3
"""Golden sentence embeddings of the real all-MiniLM-L6-v2, made with sentence-transformers.

    .venv-ref/bin/python tools/reference/make_minilm_fixtures.py MODEL_DIR
(MODEL_DIR is the last line of `scripts/fetch-model.sh minilm`.)

Inputs are read from ../shared/data at run time and never copied: the first 500 lines of
atis/test/seq.in then the first 500 of snips/test/seq.in. Writes
tests/fixtures/minilm/embeddings.f32 (1000 x 384 little-endian float32, normalised as the model's
Normalize module does) and tests/fixtures/minilm/meta.json (sources, sha1 of each text, and the
token ids of the first 20 lines as BertTokenizerFast gives them).
"""
import hashlib
import json
import os
import sys

import numpy as np
from sentence_transformers import SentenceTransformer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.abspath(os.path.join(ROOT, "..", "shared", "data"))
SOURCES = [("atis/test/seq.in", 500), ("snips/test/seq.in", 500)]


def main():
    model_dir = sys.argv[1]
    texts = []
    for rel, n in SOURCES:
        with open(os.path.join(DATA, rel), encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        texts += lines[:n]
    model = SentenceTransformer(model_dir, device="cpu")
    emb = model.encode(texts, batch_size=32, convert_to_numpy=True).astype("<f4")
    out = os.path.join(ROOT, "tests", "fixtures", "minilm")
    os.makedirs(out, exist_ok=True)
    emb.tofile(os.path.join(out, "embeddings.f32"))
    tok = model.tokenizer
    meta = dict(model="all-MiniLM-L6-v2", dim=int(emb.shape[1]), count=len(texts),
                max_seq_length=model.max_seq_length,
                sources=[dict(path=p, lines=n) for p, n in SOURCES],
                sha1=[hashlib.sha1(t.encode("utf-8")).hexdigest()[:12] for t in texts],
                ids=[tok(t)["input_ids"] for t in texts[:20]])
    with open(os.path.join(out, "meta.json"), "w") as fh:
        json.dump(meta, fh)
    print(emb.shape, file=sys.stderr)


if __name__ == "__main__":
    main()
