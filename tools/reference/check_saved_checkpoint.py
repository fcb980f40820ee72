#!/usr/bin/env python3
"""Checks that a checkpoint directory written by bertd (bertd_checkpoint_save) loads in
transformers and gives bertd's logits.

    .venv-ref/bin/python tools/reference/check_saved_checkpoint.py DIR EXPECTED.json [--tol 1e-4]

DIR: config.json + model.safetensors (+ tokenizer files, + intent_label.txt/slot_label.txt for
JointBERT). The model class follows config.json's architectures[0]: AutoModelForSequence-
Classification, AutoModelForTokenClassification, AutoModelForMaskedLM, BertForPreTraining,
BertForNextSentencePrediction, or the JointBERT layout (bert + intent_classifier.linear +
slot_classifier.linear, loaded strictly from the safetensors file).
EXPECTED.json: what bertd computed on a batch, packed (no padding):
    {"lens": [..], "ids": [..], "type_ids": [..], "mlm_rows": [..],
     "outputs": {"labels"|"tags"|"intent"|"slots"|"nsp"|"mlm": [flat floats]}}
  labels/intent/nsp: (B, K) per sequence; tags/slots: (N, K) per packed token;
  mlm: (M, V) at the packed rows mlm_rows.
The script runs the batch padded with an attention mask and prints max |bertd - transformers|
per output; exit status 1 if any exceeds --tol, or if loading reports missing or unexpected
weights.
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import (AutoConfig, AutoModelForMaskedLM, AutoModelForSequenceClassification,
                          AutoModelForTokenClassification, BertForNextSentencePrediction,
                          BertForPreTraining, BertModel)


class JointBERT(torch.nn.Module):
    def __init__(self, config, n_intents, n_slots):
        super().__init__()
        self.bert = BertModel(config)
        self.intent_classifier = torch.nn.Module()
        self.intent_classifier.linear = torch.nn.Linear(config.hidden_size, n_intents)
        self.slot_classifier = torch.nn.Module()
        self.slot_classifier.linear = torch.nn.Linear(config.hidden_size, n_slots)


def count_lines(path):
    with open(path) as fh:
        return sum(1 for line in fh if line.strip())


def load(d):
    cfg = AutoConfig.from_pretrained(d)
    arch = (cfg.architectures or ["BertModel"])[0]
    if arch == "JointBERT":
        m = JointBERT(cfg, count_lines(os.path.join(d, "intent_label.txt")),
                      count_lines(os.path.join(d, "slot_label.txt")))
        sd = load_file(os.path.join(d, "model.safetensors"))
        missing, unexpected = m.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        info = dict(missing_keys=missing, unexpected_keys=list(unexpected))
        return arch, m.eval(), info
    cls = {"BertForSequenceClassification": AutoModelForSequenceClassification,
           "BertForTokenClassification": AutoModelForTokenClassification,
           "BertForMaskedLM": AutoModelForMaskedLM,
           "BertForPreTraining": BertForPreTraining,
           "BertForNextSentencePrediction": BertForNextSentencePrediction}[arch]
    m, info = cls.from_pretrained(d, output_loading_info=True)
    return arch, m.eval(), info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("expected")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    arch, model, info = load(a.dir)
    ok = True
    if info["missing_keys"] or info["unexpected_keys"]:
        print(f"{a.dir}: loading: missing {info['missing_keys']}, unexpected {info['unexpected_keys']}")
        ok = False
    with open(a.expected) as fh:
        exp = json.load(fh)
    lens = exp["lens"]
    B, T = len(lens), max(lens)
    ids = torch.zeros((B, T), dtype=torch.long)
    tt = torch.zeros((B, T), dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.long)
    where = []  # packed row -> (b, t)
    n = 0
    for b, L in enumerate(lens):
        ids[b, :L] = torch.tensor(exp["ids"][n:n + L])
        tt[b, :L] = torch.tensor(exp["type_ids"][n:n + L])
        mask[b, :L] = 1
        where += [(b, t) for t in range(L)]
        n += L
    with torch.no_grad():
        if arch == "JointBERT":
            out = model.bert(input_ids=ids, token_type_ids=tt, attention_mask=mask)
            got = dict(intent=model.intent_classifier.linear(out[1]),
                       slots=model.slot_classifier.linear(out[0]))
        else:
            out = model(input_ids=ids, token_type_ids=tt, attention_mask=mask)
            got = {}
            if arch == "BertForSequenceClassification":
                got["labels"] = out.logits
            elif arch == "BertForTokenClassification":
                got["tags"] = out.logits
            elif arch == "BertForMaskedLM":
                got["mlm"] = out.logits
            elif arch == "BertForPreTraining":
                got["mlm"], got["nsp"] = out.prediction_logits, out.seq_relationship_logits
            elif arch == "BertForNextSentencePrediction":
                got["nsp"] = out.logits
    for key, flat in exp["outputs"].items():
        ref = got[key]
        if key in ("tags", "slots"):
            ref = torch.stack([ref[b, t] for b, t in where])
        elif key == "mlm":
            ref = torch.stack([ref[where[r][0], where[r][1]] for r in exp["mlm_rows"]])
        ours = torch.tensor(flat, dtype=torch.float32).reshape(ref.shape)
        diff = float((ours - ref).abs().max())
        print(f"{os.path.basename(os.path.normpath(a.dir))} {arch} {key} {tuple(ref.shape)}: "
              f"max |bertd - transformers| = {diff:.2e}")
        ok = ok and diff <= a.tol
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
