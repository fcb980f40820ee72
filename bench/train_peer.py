#!/usr/bin/env python3
"""The fine-tune `bertd train --task joint` runs, done with transformers + PyTorch: same
checkpoint, same JointBERT-layout data, same hyperparameters, same thread count. Prints the
peer's metrics beside bertd's (from bertd's JSON summary) and the ratio of training tokens/s.

    .venv-ref/bin/python bench/train_peer.py --model "$(scripts/fetch-model.sh minilm | tail -1)" \
        --data atis --epochs 6 --lr 5e-5 --batch-size 16 --warmup-ratio 0.1 \
        --max-length 64 --threads 2 [--bertd-summary OUT/train_summary.json]

The model is JointBERT (monologg): BertModel, intent = Linear(dropout(pooled)), slots =
Linear(dropout(sequence)), loss = intent CE + slot CE with ignore_index 0 ("PAD": [CLS], [SEP]
and non-first word pieces). AdamW (torch), linear warm-up then linear decay
(get_linear_schedule_with_warmup), global-norm clipping at 1.0, the best epoch by dev
mean(intent accuracy, slot F1), then test. Slot F1 is given with each word's argmax tag and
with BIO-constrained decoding (tools/reference/tag_decoding_reference.py's Viterbi, what bertd
serves by default); --select-by picks which one chooses the epoch (bio, as bertd does). Batches are shuffled and padded to their longest
sequence (what a transformers user gets); tokens/s counts real tokens only, as bertd does, and
covers the training steps only (not evaluation).
"""
import argparse
import copy
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
from seqeval.metrics import f1_score
from transformers import BertModel, BertTokenizerFast, get_linear_schedule_with_warmup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools",
                                "reference"))
from tag_decoding_reference import allowed_matrix, viterbi  # noqa: E402
from dataset_dir import dataset_dir  # noqa: E402


def read_labels(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip()]


def read_split(data, split, intents, slots):
    d = os.path.join(data, split)
    with open(os.path.join(d, "seq.in")) as f:
        words = [l.split() for l in f]
    with open(os.path.join(d, "seq.out")) as f:
        tags = [l.split() for l in f]
    with open(os.path.join(d, "label")) as f:
        labels = [l.strip() for l in f]
    ii = {n: i for i, n in enumerate(intents)}
    si = {n: i for i, n in enumerate(slots)}
    out = []
    for w, t, l in zip(words, tags, labels):
        out.append((w, [si.get(x, si["UNK"]) for x in t], ii.get(l, ii["UNK"])))
    return out


def encode(tok, examples, max_length):
    """ids, word ids and slot labels on first word pieces (0 = PAD elsewhere), JointBERT style."""
    enc = []
    for words, tags, intent in examples:
        e = tok(words, is_split_into_words=True, truncation=True, max_length=max_length)
        wids = e.word_ids()
        lab, seen = [], set()
        for w in wids:
            if w is None or w in seen:
                lab.append(0)
            else:
                seen.add(w)
                lab.append(tags[w])
        enc.append((e["input_ids"], lab, wids, intent, tags))
    return enc


class JointBert(torch.nn.Module):
    def __init__(self, model_dir, n_intents, n_slots):
        super().__init__()
        self.bert = BertModel.from_pretrained(model_dir)
        h, p = self.bert.config.hidden_size, self.bert.config.hidden_dropout_prob
        self.drop = torch.nn.Dropout(p)
        self.intent_classifier = torch.nn.Linear(h, n_intents)
        self.slot_classifier = torch.nn.Linear(h, n_slots)
        std = self.bert.config.initializer_range
        for lin in (self.intent_classifier, self.slot_classifier):
            lin.weight.data.normal_(0.0, std)
            lin.bias.data.zero_()

    def forward(self, ids, mask):
        o = self.bert(input_ids=ids, attention_mask=mask)
        return (self.intent_classifier(self.drop(o.pooler_output)),
                self.slot_classifier(self.drop(o.last_hidden_state)))


def batch_tensors(batch):
    T = max(len(b[0]) for b in batch)
    ids = torch.zeros(len(batch), T, dtype=torch.long)
    mask = torch.zeros(len(batch), T, dtype=torch.long)
    slots = torch.zeros(len(batch), T, dtype=torch.long)
    for i, b in enumerate(batch):
        n = len(b[0])
        ids[i, :n] = torch.tensor(b[0])
        mask[i, :n] = 1
        slots[i, :n] = torch.tensor(b[1])
    intents = torch.tensor([b[3] for b in batch])
    return ids, mask, slots, intents


def evaluate(model, enc, slots_names, batch_size):
    """Intent accuracy, slot F1 with each word's argmax tag (JointBERT's predict.py) and with
    BIO-constrained Viterbi (what bertd serves by default), sentence accuracy (argmax)."""
    model.eval()
    right = sent_right = 0
    gold_all, pred_all, bio_all = [], [], []
    allowed = allowed_matrix(slots_names)
    with torch.no_grad():
        for a in range(0, len(enc), batch_size):
            batch = enc[a:a + batch_size]
            ids, mask, _, intents = batch_tensors(batch)
            il, sl = model(ids, mask)
            ip = il.argmax(-1).tolist()
            sp = sl.argmax(-1).tolist()
            lp = torch.log_softmax(sl, -1).numpy()
            for k, b in enumerate(batch):
                wids, gold = b[2], b[4]
                pred = [None] * len(gold)
                rows = []
                for t, w in enumerate(wids):
                    if w is not None and pred[w] is None:
                        pred[w] = sp[k][t]
                        rows.append(t)
                pred = [slots_names[p] if p is not None else "O" for p in pred]
                bio = [slots_names[i] for i in viterbi(lp[k, rows], allowed)] if rows else []
                bio += ["O"] * (len(gold) - len(bio))
                g = [slots_names[x] for x in gold]
                gold_all.append(g)
                pred_all.append(pred)
                bio_all.append(bio)
                right += ip[k] == b[3]
                sent_right += ip[k] == b[3] and g == pred
    n = len(enc)
    return {"intent_acc": 100 * right / n, "slot_f1": 100 * f1_score(gold_all, pred_all),
            "slot_f1_bio": 100 * f1_score(gold_all, bio_all), "sentence_acc": 100 * sent_right / n, "examples": n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="atis",
                    help="a JointBERT-layout folder, or atis / snips: the set as "
                         "scripts/fetch-data.sh resolves it (BERTD_DATA_DIR, .data/, a download)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after this many epochs of the --epochs schedule (a shorter, "
                         "equal-epoch comparison with bertd's per-epoch dev figures)")
    ap.add_argument("--select-by", choices=("bio", "argmax"), default="bio",
                    help="slot decoding of the dev slot F1 that picks the best epoch (bertd "
                         "picks with the decoding it serves, bio by default)")
    ap.add_argument("--bertd-summary", help="bertd's train_summary.json, printed beside")
    a = ap.parse_args()
    a.select_slot_f1 = "slot_f1_bio" if a.select_by == "bio" else "slot_f1"
    if a.data in ("atis", "snips") and not os.path.isdir(a.data):
        a.data = dataset_dir(a.data)

    torch.set_num_threads(a.threads)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    intents = read_labels(os.path.join(a.data, "intent_label.txt"))
    slots = read_labels(os.path.join(a.data, "slot_label.txt"))
    tok = BertTokenizerFast.from_pretrained(a.model)
    train = encode(tok, read_split(a.data, "train", intents, slots), a.max_length)
    dev = encode(tok, read_split(a.data, "dev", intents, slots), a.max_length)
    test = encode(tok, read_split(a.data, "test", intents, slots), a.max_length)

    model = JointBert(a.model, len(intents), len(slots))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, eps=1e-8, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train) / a.batch_size)
    total = steps_per_epoch * a.epochs
    warmup = math.ceil(a.warmup_ratio * total)
    sched = get_linear_schedule_with_warmup(opt, warmup, total)
    ce_intent = torch.nn.CrossEntropyLoss()
    ce_slot = torch.nn.CrossEntropyLoss(ignore_index=0)

    t_wall = time.time()
    train_time, tokens = 0.0, 0
    best, best_state, best_epoch, epochs = -1, None, 0, []
    for epoch in range(1, a.epochs + 1):
        model.train()
        order = list(range(len(train)))
        random.shuffle(order)
        t0 = time.time()
        loss_sum = 0.0
        for s in range(steps_per_epoch):
            batch = [train[i] for i in order[s * a.batch_size:(s + 1) * a.batch_size]]
            ids, mask, slot_y, intent_y = batch_tensors(batch)
            il, sl = model(ids, mask)
            loss = ce_intent(il, intent_y) + ce_slot(sl.reshape(-1, len(slots)),
                                                     slot_y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad()
            loss_sum += loss.item()
            tokens += int(mask.sum())
            if (s + 1) % 50 == 0:
                print(f"peer epoch {epoch} step {s + 1}/{steps_per_epoch} loss {loss.item():.4f}"
                      f" tok/s {tokens / (train_time + time.time() - t0):.0f}",
                      file=sys.stderr, flush=True)
        train_time += time.time() - t0
        m = evaluate(model, dev, slots, 64)
        main_metric = (m["intent_acc"] + m[a.select_slot_f1]) / 2
        print(f"peer epoch {epoch}: train loss {loss_sum / steps_per_epoch:.4f} dev {m}",
              file=sys.stderr, flush=True)
        epochs.append({"epoch": epoch, **{"dev_" + k: v for k, v in m.items()}})
        if main_metric > best:
            best, best_epoch = main_metric, epoch
            best_state = copy.deepcopy(model.state_dict())
        if a.stop_after and epoch >= a.stop_after:
            break
    model.load_state_dict(best_state)
    t = evaluate(model, test, slots, 64)
    peer = {"engine": "transformers", "torch": torch.__version__, "threads": a.threads,
            "epochs": a.epochs, "epochs_run": len(epochs), "lr": a.lr, "batch_size": a.batch_size, "warmup_steps": warmup,
            "best_epoch": best_epoch, **{"test_" + k: round(v, 2) for k, v in t.items()},
            "train_seconds": round(train_time, 1), "train_tokens_per_s": round(tokens / train_time),
            "wall_seconds": round(time.time() - t_wall, 1), "epochs_detail": epochs}
    print(json.dumps(peer))
    if a.bertd_summary:
        with open(a.bertd_summary) as f:
            b = json.load(f)
        print(f"{'':24}{'bertd':>12}{'transformers':>14}")
        # summaries written before bertd had BIO decoding have no tag_decoding: argmax
        print(f"(bertd's test_slot_f1 uses its --tag-decoding, "
              f"{b.get('tag_decoding', 'argmax')}; transformers' argmax and bio are both given)")
        for k in ("test_intent_acc", "test_slot_f1", "test_slot_f1_bio", "test_sentence_acc",
                  "best_epoch",
                  "train_seconds", "train_tokens_per_s"):
            print(f"{k:24}{b.get(k, float('nan')):>12}{peer.get(k, float('nan')):>14}")
        for e in epochs:
            be = next((x for x in b.get("epochs_detail", []) if x["epoch"] == e["epoch"]), {})
            print(f"dev epoch {e['epoch']}: bertd intent {be.get('dev_intent_acc')} slot_f1 "
                  f"{be.get('dev_slot_f1')} | transformers intent {e['dev_intent_acc']:.2f} "
                  f"slot_f1 {e['dev_slot_f1']:.2f}")
        print(f"training tokens/s ratio bertd/transformers: "
              f"{b['train_tokens_per_s'] / peer['train_tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
