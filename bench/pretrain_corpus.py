#!/usr/bin/env python3
"""Writes a plain-text pre-training corpus for `bertd train --task mlm-nsp` from AG News
(agnews/test.csv as scripts/fetch-data.sh resolves it: $BERTD_DATA_DIR/agnews, the cache
.data/agnews, or a checked download): each article (title, then its description split into
sentences) is one document; a sentence a line, a blank line between documents. Standard
library only; the corpus is written where asked (never committed: the data is not ours).

    python3 bench/pretrain_corpus.py [--rows N] OUT.txt
"""
import argparse
import csv
import os
import re
import sys

from dataset_dir import dataset_dir


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=0, help="first N articles (0: all)")
    a = ap.parse_args()
    csv_path = os.path.join(dataset_dir("agnews"), "test.csv")
    if not os.path.isfile(csv_path):
        sys.exit("pretrain_corpus: %s is missing (the agnews folder holds test.csv)" % csv_path)
    docs = 0
    with open(csv_path, newline="", encoding="utf-8") as fh, open(a.out, "w", encoding="utf-8") as out:
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
