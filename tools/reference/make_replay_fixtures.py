#!/usr/bin/env python3
"""The labelled fixture topic of `bertd replay` and its reference metrics.

Run with the reference environment (tools/reference/setup-env.sh):
    .venv-ref/bin/python tools/reference/make_replay_fixtures.py

Writes tests/fixtures/replay/:
  models/seq_cls_b, models/joint_b   a second tiny classifier and JointBERT with the labels of
                                     tests/fixtures/models/{seq_cls,joint} (other seeds): model B
  labelled.avsc                      the records' schema: id, text, label, intent, slots,
                                     entities
  records.jsonl                      the records (seeded): gold class label, gold intent, gold
                                     slots as BIO tags or as character spans, entities (the
                                     slots as the LOC / TIME types of models/token_cls); some
                                     unlabelled, some with a gold label the models do not know
  stats.json                         exact McNemar p-values (scipy), ECE with its 15 bins and
                                     percentiles (numpy) on seeded inputs, for the unit test
  reference.json                     for classify (seq_cls vs seq_cls_b) and joint (joint vs
                                     joint_b): transformers' predictions of both models and
                                     every metric bertd replay reports, computed by
                                     scikit-learn (accuracy, P/R/F1, confusion), seqeval (slot
                                     F1), numpy (ECE, out-of-scope sweep, bootstrap
                                     percentiles) and scipy (exact McNemar). Texts where a
                                     model's top two scores are closer than 1e-3 are left out,
                                     so float rounding cannot flip a prediction. tag: the
                                     token_cls fixture's span F1 (seqeval) on the entities.

The paired bootstrap draws its indices with bertd's splitmix64 stream (model/rng.c), rewritten
here, so bertd and this script resample the same records from the same seed.
"""
import json
import math
import os
import random
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy.stats import binomtest
from seqeval.metrics import f1_score as seq_f1
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_model_fixtures as mmf  # noqa: E402  (TINY, JointBERT)

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
OUT = os.path.join(ROOT, "tests", "fixtures", "replay")
SEED = 42
ROUNDS = 1000
OOS_LABEL = "neutral"  # the classify replay treats it as out of scope (CLINC150 style)
MARGIN = 1e-3

WORDS = """show me the cheapest flights from boston to denver list fares flight airline ticket
first last next morning evening afternoon night today tomorrow monday friday sunday dallas
atlanta pittsburgh baltimore san francisco new york washington seattle leaving arriving depart
return round trip one way nonstop please weather schedule time book table""".split()
CITIES = ["boston", "denver", "dallas", "atlanta", "pittsburgh", "seattle", "baltimore",
          "san francisco", "new york", "washington"]
PERIODS = ["morning", "evening", "afternoon", "night"]


# ---- bertd's random stream (model/rng.c) ----
M64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & M64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, n):
        limit = M64 - M64 % n
        while True:
            x = self.next()
            if x < limit:
                return x % n


# ---- models ----
def copy_tokenizer(src, dst):
    for f in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(src, f), os.path.join(dst, f))


def make_seq_cls_b(d, texts):
    torch.manual_seed(1234)
    src = os.path.join(MODELS, "seq_cls")
    cfg = BertConfig.from_pretrained(src)
    model = BertForSequenceClassification(cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("bias") or "LayerNorm" in n:
                p.add_(torch.randn_like(p) * 0.1)
            # weights large enough that the predictions vary from text to text
            if "LayerNorm" not in n:
                p.add_(torch.randn_like(p) * 0.3)
    model.eval()
    # centre the head on these texts, so no one class takes every prediction
    tok = BertTokenizerFast(os.path.join(src, "vocab.txt"), do_lower_case=True)
    with torch.no_grad():
        lg = torch.stack([model(**tok(t, return_tensors="pt")).logits[0] for t in texts])
        model.classifier.bias.sub_(lg.mean(0))
    model.save_pretrained(d, safe_serialization=True)
    copy_tokenizer(src, d)


def load_joint(d):
    cfg = BertConfig.from_pretrained(d)
    intents = open(os.path.join(d, "intent_label.txt")).read().split()
    slots = open(os.path.join(d, "slot_label.txt")).read().split()
    m = mmf.JointBERT(cfg, len(intents), len(slots))
    sd = load_file(os.path.join(d, "model.safetensors"))
    m.load_state_dict(sd, strict=False)
    m.eval()
    return m, intents, slots


def make_joint_b(d, texts):
    torch.manual_seed(4321)
    src = os.path.join(MODELS, "joint")
    cfg = BertConfig.from_pretrained(src)
    intents = open(os.path.join(src, "intent_label.txt")).read().split()
    slots = open(os.path.join(src, "slot_label.txt")).read().split()
    m = mmf.JointBERT(cfg, len(intents), len(slots))
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.add_(torch.randn_like(p) * (0.02 if "LayerNorm" in n else 0.3))
    m.eval()
    tok = BertTokenizerFast(os.path.join(src, "vocab.txt"), do_lower_case=True)
    with torch.no_grad():
        outs = [m(**tok(t, return_tensors="pt")) for t in texts]
        m.intent_classifier.linear.bias.sub_(torch.stack([o[1][0] for o in outs]).mean(0))
        m.slot_classifier.linear.bias.sub_(torch.cat([o[2][0] for o in outs]).mean(0))
    cfg.save_pretrained(d)
    for f in ("intent_label.txt", "slot_label.txt"):
        shutil.copy(os.path.join(src, f), os.path.join(d, f))
    sd = {k: v.contiguous() for k, v in m.state_dict().items() if not k.endswith("position_ids")}
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    copy_tokenizer(src, d)


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def margin_ok(logits):
    s = np.sort(np.asarray(logits, dtype=np.float64))
    return s[-1] - s[-2] >= MARGIN


def classify_preds(d, texts):
    tok = BertTokenizerFast(os.path.join(d, "vocab.txt"), do_lower_case=True)
    m = BertForSequenceClassification.from_pretrained(d)
    m.eval()
    out = []
    for t in texts:
        enc = tok(t, return_tensors="pt")
        with torch.no_grad():
            lg = m(**enc).logits[0].double().numpy()
        p = softmax(lg)
        out.append(dict(label=m.config.id2label[int(p.argmax())], score=float(p.max()),
                        ok=bool(margin_ok(lg))))
    return out


def joint_preds(d, texts):
    tok = BertTokenizerFast(os.path.join(d, "vocab.txt"), do_lower_case=True)
    m, intents, slots = load_joint(d)
    out = []
    for t in texts:
        enc = tok(t)
        ids = torch.tensor([enc["input_ids"]])
        with torch.no_grad():
            _, il, sl = m(input_ids=ids, token_type_ids=torch.zeros_like(ids),
                          attention_mask=torch.ones_like(ids))
        il = il[0].double().numpy()
        sl = sl[0].double().numpy()
        p = softmax(il)
        ok = margin_ok(il)
        tags, seen = [], set()
        for i, w in enumerate(enc.word_ids()):
            if w is None or w in seen:
                continue
            seen.add(w)
            ok = ok and margin_ok(sl[i])
            tags.append(slots[int(sl[i].argmax())])
        out.append(dict(intent=intents[int(p.argmax())], score=float(p.max()), tags=tags,
                        ok=bool(ok)))
    return out


def tag_preds(d, texts):
    """Word tags of a token classifier: each whitespace word's first sub-token, argmax."""
    from transformers import BertForTokenClassification
    tok = BertTokenizerFast(os.path.join(d, "vocab.txt"), do_lower_case=False)
    m = BertForTokenClassification.from_pretrained(d)
    m.eval()
    out = []
    for t in texts:
        enc = tok(t)
        ids = torch.tensor([enc["input_ids"]])
        with torch.no_grad():
            lg = m(input_ids=ids).logits[0].double().numpy()
        tags, seen, ok = [], set(), True
        for i, w in enumerate(enc.word_ids()):
            if w is None or w in seen:
                continue
            seen.add(w)
            ok = ok and margin_ok(lg[i])
            tags.append(m.config.id2label[int(lg[i].argmax())])
        out.append(dict(tags=tags, ok=bool(ok)))
    return out


def ner_tags(tags):
    """The slot tags as the token classifier's entity types: cities LOC, periods TIME."""
    return [t if t == "O" else t[:2] + ("TIME" if "period" in t else "LOC") for t in tags]


# ---- records ----
def sentence(rng):
    """A flight query and its well-formed BIO slots (whitespace words)."""
    words, tags = [], []

    def add(ws, slot=None):
        for i, w in enumerate(ws.split()):
            words.append(w)
            tags.append("O" if not slot else ("B-" if i == 0 else "I-") + slot)

    for _ in range(rng.randint(0, 3)):
        add(rng.choice(WORDS))
    add(rng.choice(["show me flights", "list fares", "flight", "book one way"]))
    if rng.random() < 0.8:
        add("from")
        add(rng.choice(CITIES), "fromloc.city_name")
    if rng.random() < 0.8:
        add("to")
        add(rng.choice(CITIES), "toloc.city_name")
    if rng.random() < 0.5:
        add(rng.choice(PERIODS), "depart_time.period_of_day")
    for _ in range(rng.randint(0, 2)):
        add(rng.choice(WORDS))
    return " ".join(words), tags


def spans_of(words, tags):
    """BIO tags -> character spans [{start, end, label}] (end exclusive) of the joined text."""
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    out, cur = [], None
    for i, t in enumerate(tags):
        if t.startswith("B-"):
            cur = dict(start=starts[i], end=starts[i] + len(words[i]), label=t[2:])
            out.append(cur)
        elif t.startswith("I-") and cur:
            cur["end"] = starts[i] + len(words[i])
        else:
            cur = None
    return out


# ---- metrics, as bertd replay reports them ----
def class_metrics(gold, pred, conf, oos=None):
    labels = sorted(set(gold) | set(pred))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    out = dict(labelled=len(gold), accuracy=accuracy_score(gold, pred),
               macro_f1=f1_score(gold, pred, average="macro", zero_division=0),
               micro_f1=f1_score(gold, pred, average="micro", zero_division=0),
               weighted_f1=f1_score(gold, pred, average="weighted", zero_division=0),
               per_class={l: dict(precision=float(p[i]), recall=float(r[i]), f1=float(f[i]),
                                  support=int(s[i])) for i, l in enumerate(labels)},
               confusion=dict(labels=labels,
                              matrix=confusion_matrix(gold, pred, labels=labels).tolist()))
    conf = np.asarray(conf, dtype=np.float64)
    right = np.asarray([g == q for g, q in zip(gold, pred)], dtype=np.float64)
    k = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    ece = 0.0
    for b in range(15):
        sel = k == b
        if sel.any():
            ece += sel.sum() / len(conf) * abs(right[sel].mean() - conf[sel].mean())
    out["ece"] = ece
    if oos:
        sweep = []
        g_oos = np.asarray([g == oos for g in gold])
        for st in range(20):
            t = st * 0.05
            p_oos = np.asarray([q == oos or c < t for q, c in zip(pred, conf)])
            tp = (p_oos & g_oos).sum()
            ins = ~g_oos
            in_right = sum(1 for i in range(len(gold)) if ins[i] and not p_oos[i] and
                           pred[i] == gold[i])
            sweep.append(dict(threshold=t,
                              precision=float(tp / p_oos.sum()) if p_oos.sum() else 0.0,
                              recall=float(tp / g_oos.sum()) if g_oos.sum() else 0.0,
                              in_scope_accuracy=float(in_right / ins.sum()) if ins.sum() else 0.0))
        out["oos"] = dict(label=oos, precision=sweep[0]["precision"],
                          recall=sweep[0]["recall"], sweep=sweep)
    return out


def bootstrap(n, fa, fb):
    rng = SplitMix64(SEED)
    d = []
    for _ in range(ROUNDS):
        idx = [rng.below(n) for _ in range(n)]
        d.append(fb(idx) - fa(idx))
    lo, hi = np.percentile(np.asarray(d), [2.5, 97.5])
    return float(lo), float(hi)


def compare(gold, pa, pb, tg=None, ta=None, tb=None):
    a_only = sum(1 for g, a, b in zip(gold, pa, pb) if a == g and b != g)
    b_only = sum(1 for g, a, b in zip(gold, pa, pb) if b == g and a != g)
    n = a_only + b_only
    out = dict(mcnemar=dict(a_right_b_wrong=a_only, a_wrong_b_right=b_only,
                            p_value=binomtest(min(a_only, b_only), n, 0.5).pvalue if n else 1.0))

    def mf(pred):
        return lambda idx: f1_score([gold[i] for i in idx], [pred[i] for i in idx],
                                    average="macro", zero_division=0)
    a, b = mf(pa)(range(len(gold))), mf(pb)(range(len(gold)))
    lo, hi = bootstrap(len(gold), mf(pa), mf(pb))
    out["macro_f1"] = dict(a=a, b=b, diff=b - a, ci95_low=lo, ci95_high=hi, records=len(gold))
    if tg is not None:
        def sf(pred):
            return lambda idx: seq_f1([tg[i] for i in idx], [pred[i] for i in idx])
        a, b = sf(ta)(range(len(tg))), sf(tb)(range(len(tg)))
        lo, hi = bootstrap(len(tg), sf(ta), sf(tb))
        out["slot_f1"] = dict(a=a, b=b, diff=b - a, ci95_low=lo, ci95_high=hi, records=len(tg))
    return out


def stats_cases():
    """Seeded inputs and numpy / scipy's answers for tests/eval/test_replay_stats.c."""
    g = np.random.default_rng(3)
    mc = [[a, b, float(binomtest(min(a, b), a + b, 0.5).pvalue) if a + b else 1.0]
          for a, b in ((0, 0), (1, 0), (3, 10), (10, 3), (7, 7), (25, 40), (0, 12), (150, 190),
                       (1000, 1100))]
    conf = np.round(g.uniform(0, 1, 500), 6)
    conf[:4] = [0.0, 1.0, 1 / 15, 14 / 15]  # the edges: bin (k/15, (k+1)/15]
    # scores reach bertd as float32: bin the same values (1/15 as a float32 is above 1/15)
    conf = conf.astype(np.float32).astype(np.float64)
    right = (g.uniform(0, 1, 500) < conf).astype(int)
    k = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    bins, ece = [], 0.0
    for b in range(15):
        sel = k == b
        n = int(sel.sum())
        acc = float(right[sel].mean()) if n else 0.0
        mcf = float(conf[sel].mean()) if n else 0.0
        ece += n / len(conf) * abs(acc - mcf)
        bins.append(dict(count=n, accuracy=acc, confidence=mcf))
    v = np.sort(np.round(g.normal(10, 3, 37), 6))
    pct = [[q, float(np.percentile(v, q))] for q in (0, 2.5, 50, 90, 97.5, 99, 100)]
    return dict(mcnemar=mc, ece=dict(conf=conf.tolist(), right=right.tolist(), ece=ece,
                                     bins=bins),
                percentile=dict(values=v.tolist(), cases=pct))


def main():
    torch.set_num_threads(1)
    with open(os.path.join(OUT, "stats.json"), "w") as fh:
        json.dump(stats_cases(), fh)
    rng = random.Random(7)
    os.makedirs(os.path.join(OUT, "models"), exist_ok=True)
    cands = [sentence(rng) for _ in range(400)]
    texts = [t for t, _ in cands]
    for name, make in (("seq_cls_b", make_seq_cls_b), ("joint_b", make_joint_b)):
        d = os.path.join(OUT, "models", name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        make(d, texts)
    ca = classify_preds(os.path.join(MODELS, "seq_cls"), texts)
    cb = classify_preds(os.path.join(OUT, "models", "seq_cls_b"), texts)
    ja = joint_preds(os.path.join(MODELS, "joint"), texts)
    jb = joint_preds(os.path.join(OUT, "models", "joint_b"), texts)
    ta_ = tag_preds(os.path.join(MODELS, "token_cls"), texts)
    keep = [i for i in range(len(texts)) if ca[i]["ok"] and cb[i]["ok"] and ja[i]["ok"] and
            jb[i]["ok"] and ta_[i]["ok"] and texts[i] not in texts[:i]][:120]
    classes = ["negative", "neutral", "positive"]
    intents = open(os.path.join(MODELS, "joint", "intent_label.txt")).read().split()
    records, refs = [], []
    for n, i in enumerate(keep):
        words = texts[i].split()
        tags = cands[i][1]
        # gold: mostly model A's answer, so the scores are neither 0 nor 1
        label = ca[i]["label"] if rng.random() < 0.55 else rng.choice(classes)
        intent = ja[i]["intent"] if rng.random() < 0.55 else rng.choice(intents)
        r = dict(id="r%03d" % n, text=texts[i], label=label, intent=intent,
                 slots=" ".join(tags) if n % 3 else json.dumps(spans_of(words, tags)),
                 entities=json.dumps(spans_of(words, ner_tags(tags))) if n % 2
                 else " ".join(ner_tags(tags)))
        if n % 17 == 5:          # unlabelled
            r["label"] = r["intent"] = r["slots"] = r["entities"] = None
        elif n % 29 == 11:       # a gold label the models do not know
            r["label"], r["intent"] = "refund", "atis_meal"
        records.append(r)
        refs.append(i)
    with open(os.path.join(OUT, "records.jsonl"), "w") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    schema = {"type": "record", "name": "LabelledUtterance", "namespace": "bertd.test",
              "fields": [{"name": "id", "type": "string"}, {"name": "text", "type": "string"},
                         {"name": "label", "type": ["null", "string"], "default": None},
                         {"name": "intent", "type": ["null", "string"], "default": None},
                         {"name": "slots", "type": ["null", "string"], "default": None},
                         {"name": "entities", "type": ["null", "string"], "default": None}]}
    with open(os.path.join(OUT, "labelled.avsc"), "w") as fh:
        json.dump(schema, fh)
        fh.write("\n")

    lab = [(r, i) for r, i in zip(records, refs) if r["label"] in classes]
    gold = [r["label"] for r, _ in lab]
    pa, pb = [ca[i]["label"] for _, i in lab], [cb[i]["label"] for _, i in lab]
    classify = dict(records=len(records),
                    unlabelled=sum(1 for r in records if r["label"] is None),
                    unknown_gold=sum(1 for r in records if r["label"] == "refund"),
                    predictions_a=[ca[i]["label"] for i in refs],
                    predictions_b=[cb[i]["label"] for i in refs],
                    a=class_metrics(gold, pa, [ca[i]["score"] for _, i in lab], OOS_LABEL),
                    b=class_metrics(gold, pb, [cb[i]["score"] for _, i in lab], OOS_LABEL),
                    comparison=compare(gold, pa, pb))
    lab = [(r, i) for r, i in zip(records, refs) if r["intent"] in intents]
    gold = [r["intent"] for r, _ in lab]
    tg = [cands[i][1] for _, i in lab]
    ta, tb = [ja[i]["tags"] for _, i in lab], [jb[i]["tags"] for _, i in lab]
    joint = dict(records=len(records),
                 predictions_a=[ja[i]["intent"] for i in refs],
                 predictions_b=[jb[i]["intent"] for i in refs],
                 tags_a=[ja[i]["tags"] for i in refs], tags_b=[jb[i]["tags"] for i in refs])
    for k, pred, tags, p in (("a", [ja[i]["intent"] for _, i in lab], ta, ja),
                             ("b", [jb[i]["intent"] for _, i in lab], tb, jb)):
        m = class_metrics(gold, pred, [p[i]["score"] for _, i in lab])
        m["slot_f1"] = seq_f1(tg, tags)
        m["sentence_accuracy"] = float(np.mean([g == q and t == u for g, q, t, u in
                                                zip(gold, pred, tg, tags)]))
        joint[k] = m
    joint["comparison"] = compare(gold, [ja[i]["intent"] for _, i in lab],
                                  [jb[i]["intent"] for _, i in lab], tg, ta, tb)
    lab = [(r, i) for r, i in zip(records, refs) if r["entities"] is not None]
    tg = [ner_tags(cands[i][1]) for _, i in lab]
    tp = [ta_[i]["tags"] for _, i in lab]
    tag = dict(labelled=len(lab), slot_f1=seq_f1(tg, tp), tags=[ta_[i]["tags"] for i in refs])
    ref = dict(seed=SEED, bootstrap_rounds=ROUNDS, oos_label=OOS_LABEL, classify=classify,
               joint=joint, tag=tag)
    with open(os.path.join(OUT, "reference.json"), "w") as fh:
        json.dump(ref, fh, indent=1)
    from collections import Counter
    print(Counter(classify["predictions_b"]), Counter(joint["predictions_a"]),
          Counter(joint["predictions_b"]), file=sys.stderr)
    print("records %d; classify acc A %.4f B %.4f; joint intent acc A %.4f slot F1 A %.4f" %
          (len(records), classify["a"]["accuracy"], classify["b"]["accuracy"],
           joint["a"]["accuracy"], joint["a"]["slot_f1"]), file=sys.stderr)


if __name__ == "__main__":
    main()
