#!/usr/bin/env python3
"""Expected outputs of the `bertd` inference commands on the tiny checkpoints, from transformers.

Run with the reference environment (tools/reference/setup-env.sh):
    .venv-ref/bin/python tools/reference/make_cli_fixtures.py
Writes tests/fixtures/cli/expected.json: for each command, the JSONL input lines tests/cli/
feeds `bertd COMMAND --model tests/fixtures/models/NAME` and what transformers says each output
line must hold (token ids and offsets, top-k labels in order, spans, answers, fills, ...).
Texts with escaped control characters (NUL among them) are included on purpose: the tokenizer
must see their full length and clean them exactly as BertTokenizerFast does.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
from seqeval.metrics.sequence_labeling import get_entities
from transformers import (BertConfig, BertForMaskedLM, BertForNextSentencePrediction,
                          BertForQuestionAnswering, BertForSequenceClassification,
                          BertForTokenClassification, BertModel, BertTokenizerFast, pipeline)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
OUT = os.path.join(ROOT, "tests", "fixtures", "cli", "expected.json")
sys.path.insert(0, os.path.dirname(__file__))
from make_model_fixtures import JointBERT  # noqa: E402  (the layout the joint fixture was saved in)


def r(x):
    return round(float(x), 6)


def tok_of(name):
    return BertTokenizerFast.from_pretrained(os.path.join(MODELS, name))


def line(obj):
    # ensure_ascii: control characters stay escaped (\u0000), as users write them
    return json.dumps(obj, ensure_ascii=True)


def tokenize_case():
    tok = tok_of("seq_cls")
    texts = ["show me flights from boston", "nul\u0000byte", "\u0000Boston\u0000 to\u0000denver\u0000",
             "tab\there\u0001x\u007fy", "\u0000", "caf\u00e9 \u00e0 la carte"]
    out = []
    for t in texts:
        e = tok(t, return_offsets_mapping=True)
        out.append(dict(ids=e["input_ids"], type_ids=e["token_type_ids"],
                        offsets=[list(o) for o in e["offset_mapping"]],
                        tokens=tok.convert_ids_to_tokens(e["input_ids"])))
    return dict(command="tokenize", model="seq_cls", args=[],
                lines=[line({"text": t}) for t in texts], expected=out)


def classify_case():
    name = "seq_cls"
    tok, model = tok_of(name), BertForSequenceClassification.from_pretrained(os.path.join(MODELS, name)).eval()
    texts = ["show me the cheapest flights from boston to denver", "error: connection failed",
             "nul\u0000byte weather"]
    out = []
    for t in texts:
        with torch.no_grad():
            p = torch.softmax(model(**tok(t, return_tensors="pt")).logits[0], -1)
        order = torch.argsort(p, descending=True).tolist()
        out.append(dict(labels=[dict(label=model.config.id2label[i], score=r(p[i])) for i in order]))
    return dict(command="classify", model=name, args=["--top-k", "3"],
                lines=[line({"text": t}) for t in texts], expected=out)


def word_tags(tok, logits, text, id2label):
    """Each whitespace word's tag: its first sub-token's argmax (bertd's --tag-decoding argmax,
    transformers' token-classification argmax and JointBERT's predict.py)."""
    words = text.split()
    e = tok(words, is_split_into_words=True)
    first = {}
    for ti, wi in enumerate(e.word_ids()):
        if wi is not None and wi not in first:
            first[wi] = ti
    return [id2label[int(torch.argmax(logits[first[w]]))] for w in range(len(words))], e


def spans(text, tags, key):
    """conlleval spans with code point offsets of their words in text."""
    words, pos, starts = text.split(), 0, []
    for w in words:
        pos = text.index(w, pos)
        starts.append(pos)
        pos += len(w)
    res = []
    # JointBERT's PAD and UNK slot labels are not entity tags: they read as O
    for label, a, b in get_entities(["O" if t in ("PAD", "UNK") else t for t in tags]):
        s, e = starts[a], starts[b] + len(words[b])
        res.append({key: label, "text": text[s:e], "start": s, "end": e})
    return res


def tag_case():
    name = "token_cls"
    tok, model = tok_of(name), BertForTokenClassification.from_pretrained(os.path.join(MODELS, name)).eval()
    texts = ["leaving boston tomorrow morning for new york", "flights from Dallas to Seattle on friday",
             "play music by the artist"]
    out = []
    for t in texts:
        e = tok(t.split(), is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**e).logits[0]
        tags, _ = word_tags(tok, logits, t, model.config.id2label)
        out.append(dict(tags=tags, spans=spans(t, tags, "label")))
    return dict(command="tag", model=name, args=["--tag-decoding", "argmax"],
                lines=[line({"text": t}) for t in texts], expected=out)


def joint_case():
    name = "joint"
    d = os.path.join(MODELS, name)
    intents = open(os.path.join(d, "intent_label.txt")).read().split()
    slots = open(os.path.join(d, "slot_label.txt")).read().split()
    model = JointBERT(BertConfig.from_pretrained(d), len(intents), len(slots))
    model.load_state_dict(load_file(os.path.join(d, "model.safetensors")), strict=False)
    model.eval()
    tok = tok_of(name)
    texts = ["show me flights from boston to denver", "what is the cheapest fare to atlanta"]
    out = []
    for t in texts:
        e = tok(t.split(), is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            _, il, sl = model(**e)
        p = torch.softmax(il[0], -1)
        order = torch.argsort(p, descending=True).tolist()[:2]
        tags, _ = word_tags(tok, sl[0], t, dict(enumerate(slots)))
        out.append(dict(intents=[dict(label=intents[i], score=r(p[i])) for i in order],
                        tags=tags, slots=spans(t, tags, "slot")))
    return dict(command="joint", model=name, args=["--top-k", "2", "--tag-decoding", "argmax"],
                lines=[line({"text": t}) for t in texts], expected=out)


def qa_case():
    """The best span over context tokens maximising p_start * p_end (softmax over the context's
    tokens), end >= start, at most 15 tokens, its text cut from the context by the token offsets
    (not widened to whole words). transformers' question-answering pipeline with
    align_to_words=False must agree on the span: checked here."""
    name = "qa"
    d = os.path.join(MODELS, name)
    tok, model = tok_of(name), BertForQuestionAnswering.from_pretrained(d).eval()
    qa = pipeline("question-answering", model=model, tokenizer=tok, device="cpu")
    pairs = [("which city?", "the flight leaves boston in the morning and arrives in denver at night"),
             ("what failed?", "the connection to the server failed"),
             ("who?", "the user \u00e9t\u00e9 caf\u00e9 in seattle")]
    out = []
    for q, c in pairs:
        e = tok(q, c, return_tensors="pt", return_offsets_mapping=True)
        offs = e.pop("offset_mapping")[0].tolist()
        with torch.no_grad():
            o = model(**e)
        ctx = [i for i, s in enumerate(e.sequence_ids(0)) if s == 1]
        ps = torch.softmax(o.start_logits[0][ctx], -1)
        pe = torch.softmax(o.end_logits[0][ctx], -1)
        best = max(((ps[i] * pe[j]).item(), i, j) for i in range(len(ctx))
                   for j in range(i, min(len(ctx), i + 15)))
        score, i, j = best
        start, end = offs[ctx[i]][0], offs[ctx[j]][1]
        ref = qa(question=q, context=c, max_answer_len=15, align_to_words=False)
        assert (ref["start"], ref["end"]) == (start, end), (ref, start, end)
        out.append(dict(answer=dict(text=c[start:end], start=start, end=end, score=r(score))))
    return dict(command="qa", model=name, args=[],
                lines=[line({"text": q, "text_pair": c}) for q, c in pairs], expected=out)


def embed_case():
    name = "base_f16"
    d = os.path.join(MODELS, name)
    tok, model = tok_of(name), BertModel.from_pretrained(d, torch_dtype=torch.float32).eval()
    texts = ["show me flights from boston", "nul\u0000byte"]
    out = []
    for t in texts:
        e = tok(t, return_tensors="pt")
        with torch.no_grad():
            h = model(**e).last_hidden_state[0]
        out.append(dict(embedding=[r(x) for x in h.mean(0)]))  # mean pooling: no pooling config
    return dict(command="embed", model=name, args=[], lines=[line({"text": t}) for t in texts],
                expected=out)


def fill_mask_case():
    name = "mlm"
    tok, model = tok_of(name), BertForMaskedLM.from_pretrained(os.path.join(MODELS, name)).eval()
    texts = ["show me [MASK] from boston", "the [MASK] to [MASK] is cheap"]
    out = []
    for t in texts:
        e = tok(t, return_tensors="pt")
        with torch.no_grad():
            logits = model(**e).logits[0]
        masks = []
        for pos in (e["input_ids"][0] == tok.mask_token_id).nonzero().flatten().tolist():
            p = torch.softmax(logits[pos], -1)
            top = torch.topk(p, 4)
            masks.append(dict(position=pos, fills=[dict(token=tok.convert_ids_to_tokens(i), id=i, score=r(p[i]))
                                                   for i in top.indices.tolist()]))
        out.append(dict(masks=masks))
    return dict(command="fill-mask", model=name, args=["--top-k", "4"],
                lines=[line({"text": t}) for t in texts], expected=out)


def nsp_case():
    name = "nsp"
    tok, model = tok_of(name), BertForNextSentencePrediction.from_pretrained(os.path.join(MODELS, name)).eval()
    pairs = [("book a table", "at the restaurant for tonight"), ("what time is it", "the stock market is open")]
    out = []
    for a, b in pairs:
        with torch.no_grad():
            p = torch.softmax(model(**tok(a, b, return_tensors="pt")).logits[0], -1)
        out.append(dict(is_next=r(p[0])))  # label 0 is "b follows a"
    return dict(command="nsp", model=name, args=[],
                lines=[line({"text": a, "text_pair": b}) for a, b in pairs], expected=out)


def main():
    torch.set_num_threads(1)
    cases = [tokenize_case(), classify_case(), tag_case(), joint_case(), qa_case(), embed_case(),
             fill_mask_case(), nsp_case()]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(dict(generator="tools/reference/make_cli_fixtures.py", cases=cases), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
