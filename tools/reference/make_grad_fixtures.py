#!/usr/bin/env python3
"""Golden losses and gradients from PyTorch autograd for bertd's training code.

Run with the reference environment (tools/reference/setup-env.sh):
    .venv-ref/bin/python tools/reference/make_grad_fixtures.py
Writes tests/fixtures/grad/<name>/ for each loss:
    config.json, model.safetensors       a tiny random checkpoint (H=32, L=2, NH=4, I=64, V=64)
    (intent_label.txt, slot_label.txt)   JointBERT only
    golden.json                          the packed inputs and labels, the loss, and an index
                                         {name: {offset, shape}} into grads.f32
    grads.f32                            every parameter's gradient, float32 little-endian
and tests/fixtures/grad/optim.json: torch.optim.AdamW steps (weight decay on one tensor, off on
the other) under get_linear_schedule_with_warmup, the schedule's values, and
torch.nn.utils.clip_grad_norm_ results.

The batch has 4 sequences of lengths 7, 3, 12, 5; PyTorch runs it padded to 12 with an
attention mask, bertd packed. Dropout is 0 so both compute the same function. Seeds are fixed.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from transformers import (BertConfig, BertForMaskedLM, BertForNextSentencePrediction,
                          BertForPreTraining, BertForSequenceClassification,
                          BertForTokenClassification, BertModel,
                          get_linear_schedule_with_warmup)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "grad")

V, PAD, CLS, SEP, MASK = 64, 0, 2, 3, 4
LENS = [7, 3, 12, 5]
TINY = dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=32, type_vocab_size=2,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.1,
            pad_token_id=PAD)
INTENTS = ["atis_flight", "atis_airfare", "atis_ground_service", "UNK"]
SLOTS = ["PAD", "UNK", "O", "B-fromloc.city_name", "B-toloc.city_name", "I-toloc.city_name"]


class JointBERT(torch.nn.Module):
    """monologg/JointBERT without CRF: intent on the pooled output, slots on every token, each
    behind a dropout (0 here). Loss: CE(intent) + slot_loss_coef * CE(slots, ignore_index=0)
    over the active (attention_mask == 1) tokens, as JointBERT computes it."""

    def __init__(self, config):
        super().__init__()
        self.bert = BertModel(config)
        self.intent_classifier = torch.nn.Module()
        self.intent_classifier.linear = torch.nn.Linear(config.hidden_size, len(INTENTS))
        self.slot_classifier = torch.nn.Module()
        self.slot_classifier.linear = torch.nn.Linear(config.hidden_size, len(SLOTS))

    def forward(self, input_ids, token_type_ids, attention_mask, intent_label_ids,
                slot_labels_ids, slot_loss_coef=1.0, ignore_index=0):
        out = self.bert(input_ids=input_ids, token_type_ids=token_type_ids,
                        attention_mask=attention_mask)
        intent_logits = self.intent_classifier.linear(out[1])
        slot_logits = self.slot_classifier.linear(out[0])
        loss = torch.nn.CrossEntropyLoss()(intent_logits, intent_label_ids)
        active = attention_mask.view(-1) == 1
        slot_loss = torch.nn.CrossEntropyLoss(ignore_index=ignore_index)(
            slot_logits.view(-1, len(SLOTS))[active], slot_labels_ids.view(-1)[active])
        return loss + slot_loss_coef * slot_loss


def make_inputs(g):
    ids, types = [], []
    for b, n in enumerate(LENS):
        seq = [CLS] + [int(x) for x in torch.randint(5, V, (n - 2,), generator=g)] + [SEP]
        t = [0] * n
        if b == 2:  # a sentence pair: the second segment has type 1
            t = [0] * 6 + [1] * (n - 6)
        ids.append(seq)
        types.append(t)
    return ids, types


def pad(rows, value):
    T = max(LENS)
    return torch.tensor([r + [value] * (T - len(r)) for r in rows])


def perturb(model):
    """Non-trivial biases and LayerNorms, so every gradient path is exercised."""
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("bias") or "LayerNorm" in n:
                p.add_(torch.randn_like(p) * 0.1)


def build(name, cls, task, act="gelu", extra=None):
    torch.manual_seed(sum(map(ord, name)))
    g = torch.Generator().manual_seed(1000 + sum(map(ord, name)))
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cfg = BertConfig(**TINY, hidden_act=act, **(extra or {}))
    ids, types = make_inputs(g)
    labels = {}
    if task == "mlm" or task == "pretraining":
        mlm = []
        for b, seq in enumerate(ids):
            row = []
            for t, tok in enumerate(seq):
                if 0 < t < len(seq) - 1 and torch.rand((), generator=g) < 0.4:
                    row.append(tok)
                    if torch.rand((), generator=g) < 0.8:
                        seq[t] = MASK
                else:
                    row.append(-100)
            if all(x == -100 for x in row):
                row[1] = seq[1]
            mlm.append(row)
        labels["mlm_labels"] = mlm
    if task in ("nsp", "pretraining"):
        labels["nsp_labels"] = [0, 1, 1, 0]
    if task == "seq_cls":
        labels["labels"] = [0, 2, 1, 2]
    if task == "multi_label":
        labels["multi_labels"] = [[float(x) for x in torch.randint(0, 2, (4,), generator=g)]
                                  for _ in LENS]
    if task == "token_cls":
        tl = []
        for seq in ids:
            row = [int(x) for x in torch.randint(0, 5, (len(seq),), generator=g)]
            row[0] = row[-1] = -100
            if len(row) > 4:
                row[2] = -100  # a non-first word piece
            tl.append(row)
        labels["token_labels"] = tl
    if task == "joint":
        labels["labels"] = [1, 0, 3, 2]
        sl = []
        for seq in ids:
            row = [int(x) for x in torch.randint(1, len(SLOTS), (len(seq),), generator=g)]
            row[0] = row[-1] = 0
            if len(row) > 4:
                row[3] = 0
            sl.append(row)
        labels["token_labels"] = sl

    input_ids, type_ids = pad(ids, PAD), pad(types, 0)
    mask = pad([[1] * n for n in LENS], 0)
    if task == "joint":
        model = JointBERT(cfg)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, cfg.initializer_range)
        perturb(model)
        loss = model(input_ids, type_ids, mask, torch.tensor(labels["labels"]),
                     pad(labels["token_labels"], 0))
    else:
        model = cls(cfg)
        perturb(model)
        kw = dict(input_ids=input_ids, token_type_ids=type_ids, attention_mask=mask)
        if task == "seq_cls":
            kw["labels"] = torch.tensor(labels["labels"])
        elif task == "multi_label":
            kw["labels"] = torch.tensor(labels["multi_labels"])
        elif task == "token_cls":
            kw["labels"] = pad(labels["token_labels"], -100)
        elif task == "mlm":
            kw["labels"] = pad(labels["mlm_labels"], -100)
        elif task == "nsp":
            kw["labels"] = torch.tensor(labels["nsp_labels"])
        elif task == "pretraining":
            kw["labels"] = pad(labels["mlm_labels"], -100)
            kw["next_sentence_label"] = torch.tensor(labels["nsp_labels"])
        loss = model(**kw).loss
    model.train()  # dropout is 0: train and eval compute the same
    loss.backward()

    # the checkpoint, as bertd will load it
    if task == "joint":
        cfg.architectures = ["JointBERT"]
        cfg.save_pretrained(d)
        for fname, lst in (("intent_label.txt", INTENTS), ("slot_label.txt", SLOTS)):
            with open(os.path.join(d, fname), "w") as fh:
                fh.write("\n".join(lst) + "\n")
        from safetensors.torch import save_file
        sd = {k: v.contiguous() for k, v in model.state_dict().items()
              if not k.endswith("position_ids")}
        save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    else:
        model.save_pretrained(d, safe_serialization=True)
        gen = os.path.join(d, "generation_config.json")
        if os.path.exists(gen):
            os.remove(gen)

    index, chunks, off = {}, [], 0
    for n, p in model.named_parameters():
        gr = p.grad if p.grad is not None else torch.zeros_like(p)
        a = gr.detach().numpy().astype("<f4").reshape(-1)
        index[n] = dict(offset=off, shape=list(p.shape))
        chunks.append(a)
        off += a.size
    np.concatenate(chunks).tofile(os.path.join(d, "grads.f32"))
    def packed(rows):  # per-token lists are packed back to back; per-sequence ones stay
        return [x for r in rows for x in r] if isinstance(rows[0], list) else rows
    golden = dict(name=name, task=task, loss=float(loss), lens=LENS, ids=packed(ids),
                  type_ids=packed(types), grads=index)
    for k, v in labels.items():
        golden[k] = v if k == "multi_labels" else packed(v)
    with open(os.path.join(d, "golden.json"), "w") as fh:
        json.dump(golden, fh, indent=1)
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    print(f"{name}: loss {float(loss):.6f}, {off} gradient floats, {size} bytes", file=sys.stderr)


def optim_fixture():
    torch.manual_seed(7)
    w = torch.nn.Parameter(torch.randn(4, 3))
    b = torch.nn.Parameter(torch.randn(3))
    init = dict(w=w.detach().reshape(-1).tolist(), b=b.detach().tolist())
    lr, wd, warmup, total = 1e-2, 0.1, 2, 6
    opt = torch.optim.AdamW([dict(params=[w], weight_decay=wd), dict(params=[b], weight_decay=0.0)],
                            lr=lr, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, warmup, total)
    steps = []
    for s in range(total):
        gw, gb = torch.randn(4, 3), torch.randn(3)
        w.grad, b.grad = gw.clone(), gb.clone()
        used_lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        steps.append(dict(lr=used_lr, grad_w=gw.reshape(-1).tolist(), grad_b=gb.tolist(),
                          w=w.detach().reshape(-1).tolist(), b=b.detach().tolist()))
    # the schedule alone, beyond the end too
    o2 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=3e-4)
    s2 = get_linear_schedule_with_warmup(o2, 3, 10)
    sched_vals = []
    for _ in range(13):
        sched_vals.append(o2.param_groups[0]["lr"])
        o2.step()
        s2.step()
    clips = []
    for max_norm in (1.0, 100.0):
        a = torch.nn.Parameter(torch.zeros(5, 2))
        c = torch.nn.Parameter(torch.zeros(7))
        a.grad, c.grad = torch.randn(5, 2) * 2, torch.randn(7) * 2
        before = torch.cat([a.grad.reshape(-1), c.grad]).tolist()
        norm = torch.nn.utils.clip_grad_norm_([a, c], max_norm)
        clips.append(dict(max_norm=max_norm, grads=before, norm=float(norm),
                          clipped=torch.cat([a.grad.reshape(-1), c.grad]).tolist()))
    out = dict(adamw=dict(lr=lr, weight_decay=wd, warmup=warmup, total=total, init=init,
                          steps=steps),
               schedule=dict(peak=3e-4, warmup=3, total=10, lrs=sched_vals),
               clip=clips)
    with open(os.path.join(OUT, "optim.json"), "w") as fh:
        json.dump(out, fh, indent=1)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    build("seq_cls", BertForSequenceClassification, "seq_cls", "gelu", dict(num_labels=3))
    build("multi_label", BertForSequenceClassification, "multi_label", "gelu_new",
          dict(num_labels=4, problem_type="multi_label_classification"))
    build("token_cls", BertForTokenClassification, "token_cls", "gelu", dict(num_labels=5))
    build("joint", None, "joint", "gelu")
    build("mlm", BertForMaskedLM, "mlm", "relu")
    build("nsp", BertForNextSentencePrediction, "nsp", "gelu")
    build("pretraining", BertForPreTraining, "pretraining", "gelu_new")
    optim_fixture()


if __name__ == "__main__":
    main()
