#!/usr/bin/env python3
"""make_tokenizer_fixtures.py: golden tokenizer outputs from transformers' BertTokenizerFast.

Writes tests/fixtures/tokenizer/:
  uncased/   vocab.txt + tokenizer_config.json + special_tokens_map.json of all-MiniLM-L6-v2
             (bert-base-uncased's vocabulary, Apache-2.0), copied from the model directory
  cased/     a small cased WordPiece vocabulary trained here with `tokenizers` on the project's
             own texts (tests/fixtures/texts/, tools/reference/edge_cases.txt), saved by
             BertTokenizerFast.save_pretrained (tokenizer.json dropped)
  cases.json every edge case of tools/reference/edge_cases.txt under three configurations
             (uncased, cased, uncased with accents kept), pairs also under each truncation
             strategy and several max_lengths, with full expected ids / offsets (unit test)
  parity.txt the project's own texts (tests/fixtures/texts/*.jsonl, made by make_texts.py:
             edge cases with every C0/C1 control character and NUL, synthetic utterances, log
             lines and news) for uncased and cased, a sweep over all of Unicode (every code
             point as the word "x" + char, 128 per text), then pairs of consecutive synthetic
             texts under each truncation strategy: a hash of the input and a digest of the
             encoding. tests/model/parity_tokenizer.c reads the same inputs in the order of
             the '@' lines (paths relative to tests/fixtures/) and compares.
  data_parity.txt  (only with --data, or BERTD_DATA_DIR set) the same for every text of the
             public sets (atis + snips seq.in, loghub Content, agnews title and description, and
             agnews title + description pairs): tests/model/data_tokenizer.c, a `data` test,
             reads them where tests/data_gate.sh resolves them (BERTD_DATA_ATIS, ...).

Digests (the C test computes the same):
  text hash   FNV-1a 64 over the UTF-8 bytes (a pair: text, byte 0xFF, pair), low 32 bits, 8 hex
  encoding    FNV-1a 64 over 32-bit words (h ^= word; h *= prime), for every token the words
              id, type_id, seq_id, word_id, char_start, char_end, byte_start, byte_end
              (seq_id / word_id -1 for the added [CLS]/[SEP]), low 40 bits, 10 hex
  count       number of tokens, or -1 when transformers raises (truncation impossible)

Usage: .venv-ref/bin/python tools/reference/make_tokenizer_fixtures.py --model-dir DIR [--data DIR]
       ... --explain texts/edge.jsonl 17      (print transformers' encoding of that input;
                                              a data file: --explain atis/train/seq.in 17)
       ... --texts FILE.jsonl --parity-out OUT  (held-out texts: OUT is a parity file for them;
                                              BERTD_TOKENIZER_PARITY=OUT ctest -R parity_tokenizer)
"""
import argparse
import csv
import io
import json
import os
import re
import shutil
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
EDGE = os.path.join(ROOT, "tools", "reference", "edge_cases.txt")
OWNED_TEXTS = ["texts/edge.jsonl", "texts/synthetic.jsonl", "texts/utterances.jsonl"]
OWNED_PAIRS = "texts/synthetic.jsonl"  # pairs: texts 2k and 2k+1
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
FNV_OFFSET, FNV_PRIME, M64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1

LINE_SOURCES = ["atis/train/seq.in", "atis/dev/seq.in", "atis/test/seq.in",
                "snips/train/seq.in", "snips/dev/seq.in", "snips/test/seq.in"]
PAIR_STRATEGIES = ["longest_first", "only_first", "only_second"]
SWEEP_BLOCK = 128  # code points per text of the Unicode sweep
PAIR_MAX_LENGTHS = [16, 48]
PAIR_ROWS = 2000
CASE_MAX_LENGTHS = [0, 2, 3, 4, 5, 8, 12]


def fnv_bytes(data, h=FNV_OFFSET):
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & M64
    return h


def text_hash(text, pair=None):
    data = text.encode("utf-8")
    if pair is not None:
        data += b"\xff" + pair.encode("utf-8")
    return "%08x" % (fnv_bytes(data) & 0xFFFFFFFF)


def decode_escapes(s):
    table = {"t": "\t", "n": "\n", "r": "\r", "0": "\0", "\\": "\\"}

    def repl(m):
        e = m.group(1)
        if e[0] in "uUx":
            return chr(int(e[1:], 16))
        return table[e]
    return re.sub(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[tnr0\\])", repl, s)


def read_edge_cases():
    cases = []
    with open(EDGE, encoding="utf-8", newline="\n") as f:
        for line in f:
            line = line.rstrip("\n")
            if line == "" or line.startswith("#"):
                continue
            parts = line.split(" ||| ")
            texts = ["" if p == "<empty>" else decode_escapes(p) for p in parts]
            cases.append((texts[0], texts[1] if len(texts) > 1 else None))
    return cases


# ---- inputs, read exactly as the C parity tests read them ----
def read_jsonl(path):
    with open(path, encoding="ascii") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def owned_path(rel):
    return rel if os.path.isabs(rel) else os.path.join(FIXTURES, rel)


def owned_texts():
    texts = []
    for rel in OWNED_TEXTS:
        texts += read_jsonl(owned_path(rel))
    return texts


def owned_pairs():
    t = read_jsonl(owned_path(OWNED_PAIRS))
    return t[0::2][: len(t) // 2], t[1::2]

def read_lines(path):
    with open(path, "rb") as f:
        parts = f.read().split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8") for p in parts]


def read_csv_column(path, column):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    col = rows[0].index(column)
    return [r[col] if col < len(r) else "" for r in rows[1:]]


def sweep_texts():
    """Every code point but the surrogates and '\\n', each as the word "x" + char, SWEEP_BLOCK
    of them per text: checks the Unicode classes (control, whitespace, punctuation, CJK, Mn,
    case) of utf8proc's Unicode against those of tokenizers' Rust crates, everywhere."""
    texts = []
    for b in range(0, 0x110000, SWEEP_BLOCK):
        cps = [c for c in range(b, b + SWEEP_BLOCK) if not (0xD800 <= c <= 0xDFFF) and c != 10]
        if cps:
            texts.append("".join("x" + chr(c) + " " for c in cps))
    return texts


def loghub_files(data):
    d = os.path.join(data, "loghub")
    return sorted("loghub/" + f for f in os.listdir(d) if f.endswith("_structured.csv"))


# ---- encodings as the C API lays them out ----
def word_index(text):
    """Index of the whitespace-separated word (str.split()) each char belongs to."""
    out, w, after_space = [], -1, True
    for ch in text:
        if ch.isspace():
            after_space = True
        elif after_space:
            w += 1
            after_space = False
        out.append(max(w, 0))
    return out


def byte_index(text):
    out = [0]
    for ch in text:
        out.append(out[-1] + len(ch.encode("utf-8")))
    return out


def layout(enc, text, pair):
    """The C encoding of one tokenizers.Encoding: a list of 8-tuples per token."""
    seqs = enc.sequence_ids
    srcs = [text, pair]
    words = [word_index(t) if t is not None else None for t in srcs]
    bytes_ = [byte_index(t) if t is not None else None for t in srcs]
    rows = []
    for i, tid in enumerate(enc.ids):
        s, (cs, ce) = seqs[i], enc.offsets[i]
        if s is None:
            rows.append((tid, enc.type_ids[i], -1, -1, 0, 0, 0, 0))
        else:
            rows.append((tid, enc.type_ids[i], s, words[s][cs], cs, ce,
                         bytes_[s][cs], bytes_[s][ce]))
    return rows


def digest(rows):
    h = FNV_OFFSET
    for row in rows:
        for v in row:
            h = ((h ^ (v & 0xFFFFFFFF)) * FNV_PRIME) & M64
    return "%010x" % (h & 0xFFFFFFFFFF)


def encode(tok, text, pair=None, max_length=0, truncation="longest_first"):
    """None when transformers raises (only_first/only_second cannot fit). max_length 0 means the
    model_max_length (512), as in the C API; truncation is always on, as the daemon runs it."""
    kw = dict(return_offsets_mapping=True, truncation=truncation, max_length=max_length or None)
    try:
        enc = tok(text, pair, **kw)
    except Exception:  # tokenizers' truncation errors come back as plain Exception
        return None
    return layout(enc.encodings[0], text, pair if pair else None)


def summary(rows):
    return ("-1 -" if rows is None else "%d %s" % (len(rows), digest(rows)))


# ---- tokenizers ----
def load_uncased(model_dir):
    from transformers import BertTokenizerFast
    return BertTokenizerFast.from_pretrained(model_dir)


def train_cased_vocab(dest):
    """A small cased vocabulary so the cased path (no lower-casing, no accent stripping) is
    tested, trained on the project's own texts."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast
    texts = owned_texts()
    for a, b in read_edge_cases():
        texts += [a] + ([b] if b else [])
    wp = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                lowercase=False)
    wp.train_from_iterator(texts, vocab_size=3000, min_frequency=2, limit_alphabet=400,
                           special_tokens=SPECIALS, show_progress=False)
    os.makedirs(dest, exist_ok=True)
    tmp = os.path.join(dest, "tmp")
    os.makedirs(tmp, exist_ok=True)
    wp.save_model(tmp)
    tok = BertTokenizerFast(vocab_file=os.path.join(tmp, "vocab.txt"), do_lower_case=False,
                            model_max_length=512)
    tok.save_pretrained(dest)
    shutil.rmtree(tmp)
    os.remove(os.path.join(dest, "tokenizer.json"))  # derived from the rest; large


def load_dir(path, **kw):
    from transformers import BertTokenizerFast
    return BertTokenizerFast.from_pretrained(path, **kw)


# ---- outputs ----
def write_cases(toks):
    cases = []
    for text, pair in read_edge_cases():
        for config, tok in toks.items():
            settings = [(0, "longest_first")]
            if pair is not None:
                settings += [(ml, st) for st in PAIR_STRATEGIES for ml in CASE_MAX_LENGTHS if ml]
            elif config == "uncased":
                settings += [(ml, st) for st in PAIR_STRATEGIES for ml in (2, 3, 5)]
            for ml, st in settings:
                rows = encode(tok, text, pair, ml, st)
                c = {"config": config, "text": text, "pair": pair, "max_length": ml,
                     "truncation": st, "error": rows is None}
                if rows is not None:
                    for k, name in enumerate(["ids", "type_ids", "seq_ids", "word_ids",
                                              "char_start", "char_end", "byte_start", "byte_end"]):
                        c[name] = [r[k] for r in rows]
                    c["tokens"] = tok.convert_ids_to_tokens(c["ids"])
                cases.append(c)
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=True) for c in cases) + "\n]\n")
    return len(cases)


class ParityWriter:
    """One parity file: '@' directives naming inputs, then one line per input."""

    def __init__(self, path, what):
        import tokenizers
        import transformers
        self.out = open(path, "w", encoding="utf-8", newline="\n")
        self.out.write("# generated by tools/reference/make_tokenizer_fixtures.py with transformers "
                       "%s, tokenizers %s; do not edit\n"
                       % (transformers.__version__, tokenizers.__version__))
        self.out.write("# inputs: %s\n" % what)
        self.out.write("# @lines FILE | @csv FILE COLUMN | @jsonl FILE: then per text (truncation=True,"
                       " max_length 512): hash n_uncased digest n_cased digest\n")
        self.out.write("# @sweep BLOCK: texts generated, not read: see sweep_texts()\n")
        self.out.write("# @pairs FILE COL_A COL_B STRATEGY MAX_LENGTH ROWS | @jsonpairs FILE STRATEGY"
                       " MAX_LENGTH ROWS (texts 2k, 2k+1): per pair: hash n digest (uncased)\n")
        self.singles_n = 0
        self.pairs_n = 0

    def singles(self, directive, texts, uncased, cased):
        self.out.write(directive + "\n")
        encs = {}
        for name, tok in (("u", uncased), ("c", cased)):
            batch = tok(texts, return_offsets_mapping=True, truncation=True)
            encs[name] = [layout(e, t, None) for e, t in zip(batch.encodings, texts)]
        for i, t in enumerate(texts):
            self.out.write("%s %s %s\n" % (text_hash(t), summary(encs["u"][i]),
                                           summary(encs["c"][i])))
        self.singles_n += len(texts)

    def pairs(self, directive, firsts, seconds, uncased, st, ml):
        self.out.write(directive + "\n")
        for a, b in zip(firsts, seconds):
            self.out.write("%s %s\n" % (text_hash(a, b), summary(encode(uncased, a, b, ml, st))))
            self.pairs_n += 1

    def close(self):
        self.out.close()


def pair_settings(rows_all):
    settings = [(st, ml, PAIR_ROWS) for st in PAIR_STRATEGIES for ml in PAIR_MAX_LENGTHS]
    settings.append(("longest_first", 0, rows_all))
    return settings


def write_owned_parity(uncased, cased):
    w = ParityWriter(os.path.join(OUT, "parity.txt"),
                     "the project's texts (tests/fixtures/texts/, tools/reference/make_texts.py)")
    for rel in OWNED_TEXTS:
        w.singles("@jsonl " + rel, read_jsonl(owned_path(rel)), uncased, cased)
    w.singles("@sweep %d" % SWEEP_BLOCK, sweep_texts(), uncased, cased)
    firsts, seconds = owned_pairs()
    for st, ml, rows in pair_settings(len(firsts)):
        w.pairs("@jsonpairs %s %s %d %d" % (OWNED_PAIRS, st, ml, rows), firsts[:rows],
                seconds[:rows], uncased, st, ml)
    w.close()
    return w.singles_n, w.pairs_n


def write_texts_parity(path, out, uncased, cased):
    """Held-out texts (any JSONL file of {"text": ...}): a parity file naming it by its path."""
    path = os.path.abspath(path)
    w = ParityWriter(out, "held-out texts")
    w.singles("@jsonl " + path, read_jsonl(path), uncased, cased)
    w.close()
    return w.singles_n


def write_data_parity(data, uncased, cased):
    w = ParityWriter(os.path.join(OUT, "data_parity.txt"),
                     "the public sets, read where tests/data_gate.sh resolves them")
    for src in LINE_SOURCES:
        w.singles("@lines " + src, read_lines(os.path.join(data, src)), uncased, cased)
    for src in loghub_files(data):
        w.singles("@csv %s Content" % src, read_csv_column(os.path.join(data, src), "Content"),
                  uncased, cased)
    for col in ("title", "description"):
        w.singles("@csv agnews/test.csv " + col,
                  read_csv_column(os.path.join(data, "agnews/test.csv"), col), uncased, cased)
    titles = read_csv_column(os.path.join(data, "agnews/test.csv"), "title")
    descs = read_csv_column(os.path.join(data, "agnews/test.csv"), "description")
    for st, ml, rows in pair_settings(len(titles)):
        w.pairs("@pairs agnews/test.csv title description %s %d %d" % (st, ml, rows),
                titles[:rows], descs[:rows], uncased, st, ml)
    w.close()
    return w.singles_n, w.pairs_n


def explain(args, uncased, cased):
    src, n = args.explain
    n = int(n)
    if src.endswith(".jsonl"):
        texts = read_jsonl(owned_path(src))
    else:
        path = os.path.join(args.data, src)
        texts = read_lines(path) if src.endswith(".in") else read_csv_column(path, args.column)
    text = texts[n]
    print(repr(text))
    for name, tok in (("uncased", uncased), ("cased", cased)):
        enc = tok(text, return_offsets_mapping=True, truncation=True)
        rows = layout(enc.encodings[0], text, None)
        print(name, len(rows), digest(rows))
        for tokstr, r in zip(enc.tokens(), rows):
            print("  %-20s id=%d type=%d seq=%d word=%d chars=%d-%d bytes=%d-%d" % ((tokstr,) + r))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True, help="all-MiniLM-L6-v2 checkpoint directory")
    ap.add_argument("--data", default=os.environ.get("BERTD_DATA_DIR"),
                    help="folder holding atis/ snips/ loghub/ agnews/ (default: $BERTD_DATA_DIR);"
                         " without it data_parity.txt is left as it is")
    ap.add_argument("--explain", nargs=2, metavar=("SOURCE", "INDEX"))
    ap.add_argument("--column", default="Content", help="CSV column for --explain")
    ap.add_argument("--texts", help="held-out JSONL texts: write --parity-out for them only")
    ap.add_argument("--parity-out", help="with --texts: the parity file to write")
    ap.add_argument("--retrain-cased", action="store_true",
                    help="train a new cased vocabulary instead of keeping the committed one")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    udir = os.path.join(OUT, "uncased")
    if not args.explain and not args.texts:
        os.makedirs(udir, exist_ok=True)
        for f in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(os.path.join(args.model_dir, f), os.path.join(udir, f))
        # tokenizers' trainer breaks ties differently from run to run: the committed vocabulary
        # is kept unless asked for a new one (then every golden output changes with it).
        if args.retrain_cased or not os.path.exists(os.path.join(OUT, "cased", "vocab.txt")):
            train_cased_vocab(os.path.join(OUT, "cased"))
    uncased = load_uncased(args.model_dir)
    cased = load_dir(os.path.join(OUT, "cased"))
    if args.explain:
        explain(args, uncased, cased)
        return
    if args.texts:
        if not args.parity_out:
            ap.error("--texts needs --parity-out")
        n = write_texts_parity(args.texts, args.parity_out, uncased, cased)
        print("%s: %d texts (x2 vocabularies)" % (args.parity_out, n))
        return
    keep = load_dir(udir, strip_accents=False)
    ncases = write_cases({"uncased": uncased, "cased": cased, "uncased_accents": keep})
    nlines, npairs = write_owned_parity(uncased, cased)
    print("cases.json: %d cases; parity.txt: %d texts (x2 vocabularies), %d pairs"
          % (ncases, nlines, npairs))
    if args.data:
        nlines, npairs = write_data_parity(args.data, uncased, cased)
        print("data_parity.txt: %d texts (x2 vocabularies), %d pairs" % (nlines, npairs))


if __name__ == "__main__":
    sys.exit(main())
