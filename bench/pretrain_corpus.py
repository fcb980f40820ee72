#!/usr/bin/env python3
"""Writes a plain-text pre-training corpus for `bertd train --task mlm-nsp` from AG News
(../shared/data/agnews/test.csv): each article (title, then its description split into
sentences) is one document; a sentence a line, a blank line between documents. Standard
library only; the corpus is written where asked (never committed: the data is not ours).

    python3 bench/pretrain_corpus.py [--rows N] OUT.txt
"""
import argparse
import csv
import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CSV = os.path.join(ROOT, "..", "shared", "data", "agnews", "test.csv")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=0, help="first N articles (0: all)")
    a = ap.parse_args()
    docs = 0
    with open(CSV, newline="", encoding="utf-8") as fh, open(a.out, "w", encoding="utf-8") as out:
        for i, row in enumerate(csv.DictReader(fh)):
            if a.rows and i >= a.rows:
                break
            text = " ".join(row["description"].replace("\\", " ").split())
            # sentence ends: . ! ? followed by a space and a capital or a quote
            sents = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", text) if s]
            lines = [" ".join(row["title"].split())] + sents
            if len(lines) < 2:
                continue
            out.write("\n".join(lines) + "\n\n")
            docs += 1
    print("%d documents -> %s" % (docs, a.out))


if __name__ == "__main__":
    main()
