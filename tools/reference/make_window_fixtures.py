#!/usr/bin/env python3
"""Reference outputs for on_too_long: window: texts longer than max_length cut into overlapping
windows, each run through transformers, and the windows' outputs combined the way bertd
documents it (README, "Texts longer than the model").

    .venv-ref/bin/python tools/reference/make_window_fixtures.py MINILM_DIR

Windows are transformers' own: tokenizer(..., truncation=True, max_length=L, stride=S,
return_overflowing_tokens=True, return_offsets_mapping=True) (for qa the question first and
truncation="only_second", as the question-answering pipeline does with doc_stride). Combining:
  classify  mean of the windows' logits, then softmax;
  tag       each token's logits from the window where min(distance to the window's first
            content token, distance to its last) is largest, the earlier window on a tie; each
            whitespace word's tag is its first token's argmax; spans merge B-/I- tags
            (conlleval), span score = mean of its words' probabilities;
  qa        per window, softmax of start and end logits over the context's tokens, best
            p_start * p_end with end - start < 15; best over windows, the earlier on a tie;
  embed     each window's mean pooling (all its tokens, as sentence-transformers), averaged
            weighted by the window's non-special tokens, then L2-normalised.
Writes tests/fixtures/window/windows.json: the texts, and per model each text's windows' token
ids and the combined result. The texts are written for this fixture (no dataset text).
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import (AutoModel, BertForQuestionAnswering, BertForSequenceClassification,
                          BertForTokenClassification, BertTokenizerFast)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
OUT = os.path.join(ROOT, "tests", "fixtures", "window", "windows.json")

PARAGRAPHS = """The morning flight from boston to denver was late again, and the airline said the \
delay came from a storm over the lakes. Most of us sat at the gate for three hours with \
nothing but a cold coffee and a phone at twelve percent. When the plane finally boarded, the \
crew handed out water and a short apology, and the captain promised we would make up time.

In denver the connection to seattle had already left. The agent at the desk found seats on \
the evening flight, which stops in salt lake city, and gave each of us a meal voucher worth \
less than a sandwich. I spent the afternoon walking the long halls, reading the names of \
restaurants I could not afford, and watching the snow pile up against the windows.

The evening flight was half empty. I slept for an hour, woke up over the mountains, and \
watched the lights of small towns pass below like scattered coins. We landed in seattle a \
little after midnight, eleven hours after I had left home, and my bag was the last one on the \
belt. Next time I will take the train, or at least book the nonstop fare, whatever it costs."""

LOG = "\n".join(
    f"2024-03-{d:02d} {h:02d}:{m:02d}:{s:02d} {lvl} server-{n} session {sid}: {msg}"
    for d, h, m, s, lvl, n, sid, msg in [
        (4, 9, 15, 2, "INFO", 1, 8812, "client connected from 10.0.4.17"),
        (4, 9, 15, 3, "INFO", 1, 8812, "request GET /api/flights?from=bos&to=den took 41 ms"),
        (4, 9, 16, 40, "WARNING", 2, 8813, "response time 1840 ms over the 1000 ms budget"),
        (4, 9, 17, 1, "ERROR", 2, 8813, "connection to database failed: timeout after 3 retries"),
        (4, 9, 17, 2, "INFO", 2, 8813, "retrying with the replica in us-east"),
        (4, 9, 17, 9, "ERROR", 3, 8814, "user 4471 login failed: token expired"),
        (4, 9, 18, 30, "INFO", 1, 8812, "request POST /api/book took 212 ms"),
        (4, 9, 19, 0, "WARNING", 3, 8815, "disk usage at 91 percent on /var/lib/queue"),
        (4, 9, 20, 12, "INFO", 2, 8813, "replica answered, session restored"),
        (4, 9, 21, 45, "ERROR", 1, 8816, "client closed the connection before the response"),
        (4, 9, 22, 5, "INFO", 3, 8815, "queue compacted, disk usage at 64 percent"),
        (4, 9, 23, 59, "INFO", 1, 8812, "session closed after 8 minutes 57 seconds"),
    ])

# A long text of about 3,000 words: sentences written for this fixture, varied by a fixed
# rule (no randomness), so the text is the same on every run.
SUBJECTS = ["the team", "a small company", "the government", "our server", "the market",
            "the airline", "my sister", "the new user", "every client", "the science desk"]
VERBS = ["reported", "rejected", "planned", "tested", "scheduled", "booked", "cancelled",
         "reviewed", "moved", "watched"]
OBJECTS = ["a cheaper fare to atlanta", "the stock price on friday", "a game against dallas",
           "the weather for the weekend", "a table at the new restaurant",
           "the last train to pittsburgh", "an album by a local artist",
           "the session timeout error", "a round trip to san francisco",
           "the technology budget for next year"]
TAILS = ["before the morning meeting", "after a long night", "without telling anyone",
         "because the price was right", "while the snow kept falling", "on a quiet sunday",
         "during the afternoon rush", "with some help from a friend", "at the very last minute",
         "for the second time this month"]


def long_text(words=3000):
    out, n, i = [], 0, 0
    while n < words:
        s = (f"{SUBJECTS[i % 10].capitalize()} {VERBS[(i * 3) % 10]} {OBJECTS[(i * 7) % 10]} "
             f"{TAILS[(i * 9 + i // 10) % 10]}.")
        out.append(s)
        n += len(s.split())
        i += 1
        if i % 8 == 0:
            out.append("\n\n")
    return " ".join(out).replace(" \n\n ", "\n\n")


ACCENTS = ("Le café près de la gare ouvre à six heures; the café near the station opens at six, "
           "and the naïve traveller who orders a crème brûlée before the first train learns "
           "that the kitchen only starts at nine. ") * 6

SHORT = "show me the cheapest flights from boston to denver"

TEXTS = [PARAGRAPHS, LOG, long_text(), ACCENTS, SHORT]
QUESTIONS = ["when did the plane land in seattle?", "which user failed to log in?",
             "what did the airline book?", "when does the kitchen start?",
             "where do the flights go?"]


def windows(tok, max_length, stride, text, pair=None):
    if pair is None:
        return tok(text, truncation=True, max_length=max_length, stride=stride,
                   return_overflowing_tokens=True, return_offsets_mapping=True)
    return tok(text, pair, truncation="only_second", max_length=max_length, stride=stride,
               return_overflowing_tokens=True, return_offsets_mapping=True)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def run(model, enc, key):
    out = []
    with torch.no_grad():
        for ids, types in zip(enc["input_ids"], enc["token_type_ids"]):
            r = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]),
                      attention_mask=torch.ones(1, len(ids), dtype=torch.long))
            out.append(key(r))
    return out


def content_ranges(enc, seq):
    """(first, last+1) token index of the windowed sequence in each window."""
    r = []
    for k in range(len(enc["input_ids"])):
        idx = [t for t, s in enumerate(enc.sequence_ids(k)) if s == seq]
        r.append((idx[0], idx[-1] + 1))
    return r


def classify(model_dir, max_length, stride):
    tok = BertTokenizerFast.from_pretrained(model_dir)
    model = BertForSequenceClassification.from_pretrained(model_dir).eval()
    labels = model.config.id2label
    res = []
    for text in TEXTS:
        enc = windows(tok, max_length, stride, text)
        logits = np.array(run(model, enc, lambda r: r.logits[0].double().numpy()))
        p = softmax(logits.mean(0))
        order = sorted(range(len(p)), key=lambda i: -p[i])
        res.append({"window_ids": enc["input_ids"],
                    "labels": [{"label": labels[i], "score": float(p[i])} for i in order]})
    return res


def whitespace_word(text, offsets):
    """Index of the whitespace-separated word holding each char offset."""
    word, w, prev_space = [], -1, True
    for ch in text:
        space = ch.isspace()
        if not space and prev_space:
            w += 1
        word.append(w if not space else -1)
        prev_space = space
    return [word[a] for a, _ in offsets]


def tag(model_dir, max_length, stride):
    tok = BertTokenizerFast.from_pretrained(model_dir)
    model = BertForTokenClassification.from_pretrained(model_dir).eval()
    labels = model.config.id2label
    res = []
    for text in TEXTS:
        enc = windows(tok, max_length, stride, text)
        logits = run(model, enc, lambda r: r.logits[0].double().numpy())
        ranges = content_ranges(enc, 0)
        # the windowed tokens in order: window 0 whole, then each window past the overlap
        starts = [0]
        for k in range(1, len(ranges)):
            starts.append(starts[-1] + (ranges[k - 1][1] - ranges[k - 1][0]) - stride)
        n = starts[-1] + ranges[-1][1] - ranges[-1][0]
        rows, offs = [], []
        for pos in range(n):
            best, best_c = None, -1
            for k, (a, b) in enumerate(ranges):
                s, e = starts[k], starts[k] + b - a
                if s <= pos < e:
                    c = min(pos - s, e - 1 - pos)
                    if c > best_c:
                        best, best_c = k, c
            t = ranges[best][0] + pos - starts[best]
            rows.append(logits[best][t])
            offs.append(enc["offset_mapping"][best][t])
        words = whitespace_word(text, offs)
        tags, prev = [], None
        for pos in range(n):
            if words[pos] == prev:
                tags[-1]["end"] = offs[pos][1]
                continue
            prev = words[pos]
            p = softmax(rows[pos])
            i = int(np.argmax(p))
            tags.append({"tag": labels[i], "start": offs[pos][0], "end": offs[pos][1],
                         "score": float(p[i])})
        spans = []
        for t in tags + [{"tag": "O"}]:
            kind, typ = ("O", None) if t["tag"] == "O" else (t["tag"][0], t["tag"][2:])
            if spans and spans[-1]["open"] and kind == "I" and typ == spans[-1]["label"]:
                spans[-1]["end"] = t["end"]
                spans[-1]["scores"].append(t["score"])
                continue
            if spans:
                spans[-1]["open"] = False
            if kind != "O":
                spans.append({"label": typ, "start": t["start"], "end": t["end"],
                              "scores": [t["score"]], "open": True})
        res.append({"window_ids": enc["input_ids"], "tags": [t["tag"] for t in tags],
                    "spans": [{"label": s["label"], "text": text[s["start"]:s["end"]],
                               "start": s["start"], "end": s["end"],
                               "score": float(np.mean(s["scores"]))} for s in spans]})
    return res


def qa(model_dir, max_length, stride, max_answer=15):
    tok = BertTokenizerFast.from_pretrained(model_dir)
    model = BertForQuestionAnswering.from_pretrained(model_dir).eval()
    res = []
    for q, ctx in zip(QUESTIONS, TEXTS):
        enc = windows(tok, max_length, stride, q, ctx)
        outs = run(model, enc, lambda r: (r.start_logits[0].double().numpy(),
                                          r.end_logits[0].double().numpy()))
        best = None
        for k, (st, en) in enumerate(outs):
            seq = enc.sequence_ids(k)
            ctx_t = [t for t, s in enumerate(seq) if s == 1]
            ps = softmax(st[ctx_t])
            pe = softmax(en[ctx_t])
            for a in range(len(ctx_t)):
                for b in range(a, min(len(ctx_t), a + max_answer)):
                    sc = ps[a] * pe[b]
                    if best is None or sc > best[0]:
                        off = enc["offset_mapping"][k]
                        best = (sc, off[ctx_t[a]][0], off[ctx_t[b]][1])
        res.append({"question": q, "window_ids": enc["input_ids"],
                    "answer": {"text": ctx[best[1]:best[2]], "start": best[1], "end": best[2],
                               "score": float(best[0])}})
    return res


def embed(model_dir, max_length, stride):
    tok = BertTokenizerFast.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    res = []
    for text in TEXTS:
        enc = windows(tok, max_length, stride, text)
        pooled = run(model, enc, lambda r: r.last_hidden_state[0].double().numpy().mean(0))
        weights = [sum(s is not None for s in enc.sequence_ids(k))
                   for k in range(len(enc["input_ids"]))]
        v = sum(w * p for w, p in zip(weights, pooled)) / sum(weights)
        v = v / max(np.linalg.norm(v), 1e-12)
        res.append({"window_ids": enc["input_ids"], "embedding": [float(x) for x in v]})
    return res


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.manual_seed(0)
    fixture = {
        "texts": TEXTS,
        "classify": {"model": "seq_cls", "max_length": 48, "window_stride": 12,
                     "results": classify(os.path.join(MODELS, "seq_cls"), 48, 12)},
        "tag": {"model": "token_cls", "max_length": 40, "window_stride": 14,
                "results": tag(os.path.join(MODELS, "token_cls"), 40, 14)},
        "qa": {"model": "qa", "max_length": 64, "window_stride": 16,
               "results": qa(os.path.join(MODELS, "qa"), 64, 16)},
        "embed": {"model": "MiniLM", "max_length": 256, "window_stride": 64,
                  "results": embed(sys.argv[1], 256, 64)},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=0, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
