#!/usr/bin/env python3
"""Builds tiny random BERT checkpoints for every head and writes transformers' outputs for them.

Run with the reference environment (tools/reference/setup-env.sh):
    .venv-ref/bin/python tools/reference/make_model_fixtures.py
Writes tests/fixtures/models/<name>/ (a save_pretrained directory) and
tests/fixtures/models/<name>/golden.json with, for each input, the token ids and the reference
outputs at batch 1 and as one padded batch of 8. Seeds are fixed, so reruns reproduce the files.
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file
from transformers import (BertConfig, BertForMaskedLM, BertForNextSentencePrediction,
                          BertForPreTraining, BertForQuestionAnswering,
                          BertForSequenceClassification, BertForTokenClassification,
                          BertModel, BertTokenizerFast)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "models")

# A small vocabulary that still exercises WordPiece: specials, characters, "##" characters and
# whole words, so that random models stay a few hundred KB.
WORDS = """the a an to from of in on at for with and or is are was be i me my you it this that
what which show list find flight flights fare fares airline airlines ticket tickets cheapest
first last next morning evening afternoon night day today tomorrow monday friday sunday
boston denver dallas atlanta pittsburgh baltimore san francisco new york washington seattle
leaving arriving depart departing arrive return round trip one way stop nonstop please
play music song album artist book restaurant table weather rain snow movie schedule rate
error warning info failed connection server client user session request response time
world sports business science technology market stock price company government team game
play ##s ##ed ##ing ##er ##ly ##est ##tion ##al un re dis""".split()


def make_vocab(cased):
    toks = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(33, 127)]
    if not cased:
        chars = [c for c in chars if not c.isupper()]
    toks += chars + ["##" + c for c in chars if c.isalnum()]
    for w in WORDS:
        w = w if cased else w.lower()
        if w not in toks:
            toks.append(w)
        if cased and w[0].isalpha() and not w.startswith("##") and w.capitalize() not in toks:
            toks.append(w.capitalize())
    return toks


TEXTS = [
    ("show me the cheapest flights from boston to denver", None),
    ("Play some music by the artist", None),
    ("error: connection to server failed after 3 retries", None),
    ("what is the weather tomorrow morning in seattle?", None),
    ("i", None),
    ("which airline has a nonstop flight leaving dallas on friday evening and arriving in "
     "san francisco before the night", None),
    ("book a table", "at the restaurant for tonight"),
    ("what time is it", "it is morning in new york and the market is open"),
]

QA = [
    ("which city?", "the flight leaves boston in the morning and arrives in denver at night"),
    ("what failed?", "the connection to the server failed"),
    ("when?", "tomorrow"),
    ("who plays?", "the team plays the game on sunday in atlanta with the world watching"),
    ("what rate?", "the stock price rate is up"),
    ("where?", "in seattle"),
    ("what is the fare?", "the cheapest fare from dallas to washington is one way"),
    ("who?", "the user"),
]

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=128, type_vocab_size=2, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0)


class JointBERT(torch.nn.Module):
    """The JointBERT layout: bert + intent_classifier.linear (on the pooled output) +
    slot_classifier.linear (on every token), as github.com/monologg/JointBERT saves it."""

    def __init__(self, config, n_intents, n_slots):
        super().__init__()
        self.bert = BertModel(config)
        self.intent_classifier = torch.nn.Module()
        self.intent_classifier.linear = torch.nn.Linear(config.hidden_size, n_intents)
        self.slot_classifier = torch.nn.Module()
        self.slot_classifier.linear = torch.nn.Linear(config.hidden_size, n_slots)

    def forward(self, **kw):
        out = self.bert(**kw)
        return out, self.intent_classifier.linear(out[1]), self.slot_classifier.linear(out[0])


def f(t):
    return [round(float(x), 7) for x in t.reshape(-1).tolist()]


def run(model, kind, enc_list, tok, pad_id):
    """Reference outputs for each input alone and as one padded batch."""
    def forward(ids, tt, mask):
        with torch.no_grad():
            if kind == "joint":
                out, il, sl = model(input_ids=ids, token_type_ids=tt, attention_mask=mask)
                return dict(hidden=out.last_hidden_state, pooled=out.pooler_output,
                            intent_logits=il, slot_logits=sl)
            if kind == "base":
                out = model(input_ids=ids, token_type_ids=tt, attention_mask=mask)
                return dict(hidden=out.last_hidden_state, pooled=out.pooler_output)
            out = model(input_ids=ids, token_type_ids=tt, attention_mask=mask,
                        output_hidden_states=True)
            d = dict(hidden=out.hidden_states[-1])
            if kind == "qa":
                d["start_logits"] = out.start_logits
                d["end_logits"] = out.end_logits
            elif kind == "mlm":
                d["mlm_logits"] = out.logits
            elif kind == "pretraining":
                d["mlm_logits"] = out.prediction_logits
                d["nsp_logits"] = out.seq_relationship_logits
            else:
                d["logits"] = out.logits
            return d

    items = []
    for e in enc_list:
        ids = torch.tensor([e["input_ids"]])
        tt = torch.tensor([e["token_type_ids"]])
        items.append(dict(ids=e["input_ids"], type_ids=e["token_type_ids"],
                          single=forward(ids, tt, torch.ones_like(ids))))
    T = max(len(e["input_ids"]) for e in enc_list)
    ids = torch.full((len(enc_list), T), pad_id)
    tt = torch.zeros((len(enc_list), T), dtype=torch.long)
    mask = torch.zeros((len(enc_list), T), dtype=torch.long)
    for b, e in enumerate(enc_list):
        n = len(e["input_ids"])
        ids[b, :n] = torch.tensor(e["input_ids"])
        tt[b, :n] = torch.tensor(e["token_type_ids"])
        mask[b, :n] = 1
    batch = forward(ids, tt, mask)
    out = []
    for b, it in enumerate(items):
        n = len(it["ids"])
        rec = dict(ids=it["ids"], type_ids=it["type_ids"])
        for key, val in it["single"].items():
            rec[key] = f(val[0])
            bv = batch[key][b]
            # per-token outputs: only the sequence's own positions (padding is not an output)
            per_token = key in ("hidden", "start_logits", "end_logits", "mlm_logits",
                                "slot_logits") or (key == "logits" and kind == "token_cls")
            rec["batch_" + key] = f(bv[:n] if per_token else bv)
        out.append(rec)
    return out


def build(name, cls, vocab_cased, kind, cfg_extra=None, dtype=None, texts=TEXTS):
    torch.manual_seed(sum(map(ord, name)))
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    vocab = make_vocab(vocab_cased)
    with open(os.path.join(d, "vocab.txt"), "w") as fh:
        fh.write("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(os.path.join(d, "vocab.txt"), do_lower_case=not vocab_cased)
    tok.save_pretrained(d)
    os.remove(os.path.join(d, "tokenizer.json"))  # bertd reads vocab.txt + tokenizer_config.json
    cfg = BertConfig(vocab_size=len(vocab), **TINY, **(cfg_extra or {}))
    if kind == "joint":
        intents = ["atis_flight", "atis_airfare", "atis_ground_service", "UNK"]
        slots = ["PAD", "UNK", "O", "B-fromloc.city_name", "I-fromloc.city_name",
                 "B-toloc.city_name", "I-toloc.city_name", "B-depart_time.period_of_day"]
        model = JointBERT(cfg, len(intents), len(slots))
        # JointBERT's layout has real-valued weights everywhere; perturb biases too
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        model.eval()
        cfg.architectures = ["JointBERT"]
        cfg.save_pretrained(d)
        with open(os.path.join(d, "intent_label.txt"), "w") as fh:
            fh.write("\n".join(intents) + "\n")
        with open(os.path.join(d, "slot_label.txt"), "w") as fh:
            fh.write("\n".join(slots) + "\n")
        sd = {k: v.contiguous() for k, v in model.state_dict().items()
              if not k.endswith("position_ids")}
        save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    else:
        model = cls(cfg)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith("bias") or "LayerNorm" in n:
                    p.add_(torch.randn_like(p) * 0.1)  # non-trivial biases and norms
        model.eval()
        if dtype is not None:
            model.to(dtype)
        model.save_pretrained(d, safe_serialization=True)
        if dtype is not None:
            # the reference is transformers running on the same file, upcast to F32
            model = cls.from_pretrained(d, torch_dtype=torch.float32)
            model.eval()
    if kind == "qa":
        encs = [tok(q, c) for q, c in QA]
    else:
        encs = [tok(a, b) if b else tok(a) for a, b in texts]
    if kind in ("pretraining", "mlm"):
        # fill-mask inputs: every 3rd token that is not [CLS]/[SEP] becomes [MASK]
        specials = {tok.cls_token_id, tok.sep_token_id}
        for e in encs:
            e["input_ids"] = [tok.mask_token_id if (t % 3 == 1 and i not in specials) else i
                              for t, i in enumerate(e["input_ids"])]
    golden = dict(name=name, kind=kind, hidden_size=cfg.hidden_size,
                  id2label=getattr(cfg, "id2label", None),
                  inputs=run(model, kind, encs, tok, tok.pad_token_id))
    with open(os.path.join(d, "golden.json"), "w") as fh:
        json.dump(golden, fh, separators=(",", ":"))
    print(name, sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d)), "bytes",
          file=sys.stderr)


def main():
    torch.set_num_threads(1)
    labels3 = {0: "negative", 1: "neutral", 2: "positive"}
    build("seq_cls", BertForSequenceClassification, False, "seq_cls",
          dict(num_labels=3, id2label=labels3, label2id={v: k for k, v in labels3.items()}))
    tags = {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "B-TIME", 4: "I-TIME"}
    build("multi_label", BertForSequenceClassification, True, "seq_cls",
          dict(num_labels=4, problem_type="multi_label_classification", hidden_act="gelu_new",
               id2label={0: "travel", 1: "music", 2: "ops", 3: "weather"},
               label2id={"travel": 0, "music": 1, "ops": 2, "weather": 3}))
    build("token_cls", BertForTokenClassification, True, "token_cls",
          dict(num_labels=5, id2label=tags, label2id={v: k for k, v in tags.items()}))
    build("qa", BertForQuestionAnswering, False, "qa")
    build("pretraining", BertForPreTraining, False, "pretraining")
    build("mlm", BertForMaskedLM, False, "mlm", dict(hidden_act="relu"))
    build("nsp", BertForNextSentencePrediction, False, "nsp")
    build("joint", None, False, "joint")
    build("base_f16", BertModel, False, "base", dtype=torch.float16)
    build("base_bf16", BertModel, False, "base", dtype=torch.bfloat16)


if __name__ == "__main__":
    main()
