#!/usr/bin/env python3
"""Writes the checkpoint-loader fixtures into tests/fixtures/loader/ (and seeds the safetensors
fuzz corpus). Run from the repository root with the reference environment:

    .venv-ref/bin/python tools/reference/make_loader_fixtures.py [--minilm DIR]

Everything here is generated; never edit the outputs by hand. What it writes:

  base_f32/        BertModel.save_pretrained (no "bert." prefix), plus embeddings.position_ids
                   as I64 the way older transformers saved it, and sentence-transformers files
                   (modules.json, 1_Pooling/config.json, sentence_bert_config.json),
                   tokenizer_config.json with transformers' int(1e30) "no limit" sentinel
  seqcls_f16/      BertForSequenceClassification in F16, 3 labels in id2label
  tokcls_bf16/     BertForTokenClassification in BF16 (no pooler)
  qa_f32/          BertForQuestionAnswering (no pooler)
  pretraining_f32/ BertForPreTraining (MLM + NSP; decoder tied, so not in the file)
  mlm_sharded/     BertForMaskedLM saved in shards + model.safetensors.index.json
  joint_f32/       JointBERT layout: bert.* + intent_classifier.linear.* + slot_classifier.linear.*,
                   intent_label.txt and slot_label.txt
  missing_tensor/  base_f32's config with one tensor dropped from the file
  legacy_names/    a smaller BertModel with "bert." names and TF-era LayerNorm gamma/beta names
  values.safetensors  small hand-assembled file (unpadded header, so the data is unaligned) with
                   F32, F16, BF16, I64 tensors and __metadata__: the exact-table and conversion test
  bad/*.safetensors   one file per kind of damage the parser must report
  expected.json    a few exact float32 bit patterns per fixture (the dequantized values for F16/BF16)
  minilm_values.json  a few exact values of the real all-MiniLM-L6-v2 (with --minilm)
"""
import argparse
import json
import os
import shutil
import struct

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import (BertConfig, BertForMaskedLM, BertForPreTraining, BertForQuestionAnswering,
                          BertForSequenceClassification, BertForTokenClassification, BertModel)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "loader")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus", "safetensors")

TINY = dict(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=32, max_position_embeddings=64, type_vocab_size=2)

# Flat indices whose values expected.json records for every parameter it lists.
PROBE = [0, 1, 7, -1]


def bits(t):
    """float32 bit patterns of a tensor's values, flattened."""
    return [v & 0xFFFFFFFF for v in t.detach().float().contiguous().view(torch.int32).flatten().tolist()]


def probe(state, names):
    out = {}
    for canonical, stored in names.items():
        t = state[stored].detach().float().flatten()
        idx = [i % t.numel() for i in PROBE]
        out[canonical] = {"index": idx, "bits": [bits(t)[i] for i in idx]}
    return out


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def fresh(name):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def tiny_config(**kw):
    return BertConfig(**{**TINY, **kw})


def build(cls, config, seed):
    torch.manual_seed(seed)
    m = cls(config).eval()
    # LayerNorm starts at exactly 1/0 and biases at 0; make every value distinctive.
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return m


def save_model(model, d, dtype=None, **kw):
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(d, safe_serialization=True, **kw)
    return {k: v for k, v in model.state_dict().items()}


PARAMS = ["bert.embeddings.word_embeddings.weight", "bert.encoder.layer.1.output.LayerNorm.bias",
          "bert.encoder.layer.0.attention.self.query.weight"]


def make_base(expected):
    d = fresh("base_f32")
    m = build(BertModel, tiny_config(architectures=["BertModel"]), 1)
    m.config.save_pretrained(d)
    state = {k: v.contiguous() for k, v in m.state_dict().items()}
    state["embeddings.position_ids"] = torch.arange(TINY["max_position_embeddings"]).unsqueeze(0)
    save_file(state, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "do_lower_case": False, "strip_accents": None, "tokenize_chinese_chars": False,
        "model_max_length": 1000000000000000019884624838656, "cls_token": "[CLS]",
        "unk_token": {"__type": "AddedToken", "content": "<unk>", "lstrip": False, "normalized": True,
                      "rstrip": False, "single_word": False}})
    write_json(os.path.join(d, "special_tokens_map.json"), {
        "cls_token": {"content": "<cls>", "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False},
        "sep_token": "<sep>", "pad_token": "[PAD]", "mask_token": "[MASK]", "unk_token": "<unk>"})
    write_json(os.path.join(d, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    os.makedirs(os.path.join(d, "1_Pooling"))
    write_json(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": 16, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    write_json(os.path.join(d, "sentence_bert_config.json"), {"max_seq_length": 32, "do_lower_case": False})
    names = {n: n[len("bert."):] for n in PARAMS + ["bert.pooler.dense.weight"]}
    expected["base_f32"] = probe(state, names)

    # missing_tensor: the same checkpoint without one encoder weight
    d2 = fresh("missing_tensor")
    m.config.save_pretrained(d2)
    del state["encoder.layer.1.intermediate.dense.weight"]
    save_file(state, os.path.join(d2, "model.safetensors"), metadata={"format": "pt"})


def make_legacy(expected):
    d = fresh("legacy_names")
    config = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=8, max_position_embeddings=8, architectures=["BertModel"])
    m = build(BertModel, config, 11)
    config.save_pretrained(d)
    state = {}
    for k, v in m.state_dict().items():
        if "LayerNorm." in k:
            k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        state["bert." + k] = v.contiguous()
    save_file(state, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    expected["legacy_names"] = probe(state, {
        "bert.embeddings.LayerNorm.weight": "bert.embeddings.LayerNorm.gamma",
        "bert.encoder.layer.0.output.LayerNorm.bias": "bert.encoder.layer.0.output.LayerNorm.beta",
        "bert.pooler.dense.weight": "bert.pooler.dense.weight"})


def make_heads(expected):
    labels = {0: "NEG", 1: "NEU", 2: "POS"}
    specs = [
        ("seqcls_f16", BertForSequenceClassification,
         dict(architectures=["BertForSequenceClassification"], id2label=labels,
              label2id={v: k for k, v in labels.items()}), torch.float16, {},
         PARAMS + ["bert.pooler.dense.bias", "classifier.weight", "classifier.bias"]),
        ("tokcls_bf16", BertForTokenClassification,
         dict(architectures=["BertForTokenClassification"], num_labels=5), torch.bfloat16, {},
         PARAMS + ["classifier.weight"]),
        ("qa_f32", BertForQuestionAnswering, dict(architectures=["BertForQuestionAnswering"]), None, {},
         PARAMS + ["qa_outputs.weight", "qa_outputs.bias"]),
        ("pretraining_f32", BertForPreTraining, dict(architectures=["BertForPreTraining"]), None, {},
         PARAMS + ["cls.predictions.bias", "cls.predictions.transform.LayerNorm.weight",
                   "cls.seq_relationship.weight"]),
        ("mlm_sharded", BertForMaskedLM, dict(architectures=["BertForMaskedLM"]), None,
         dict(max_shard_size="20KB"),
         PARAMS + ["cls.predictions.bias", "cls.predictions.transform.dense.weight"]),
    ]
    for seed, (name, cls, kw, dtype, save_kw, probe_names) in enumerate(specs, start=2):
        d = fresh(name)
        m = build(cls, tiny_config(**kw), seed)
        state = save_model(m, d, dtype, **save_kw)
        expected[name] = probe(state, {n: n for n in probe_names})


def make_joint(expected):
    d = fresh("joint_f32")
    intents = ["UNK", "atis_flight", "atis_airfare"]
    slots = ["PAD", "UNK", "O", "B-fromloc.city_name", "I-fromloc.city_name"]
    config = tiny_config(architectures=["JointBERT"], finetuning_task="atis")
    bert = build(BertModel, config, 9)
    torch.manual_seed(10)
    state = {"bert." + k: v.contiguous() for k, v in bert.state_dict().items()}
    h = TINY["hidden_size"]
    state["intent_classifier.linear.weight"] = torch.randn(len(intents), h)
    state["intent_classifier.linear.bias"] = torch.randn(len(intents))
    state["slot_classifier.linear.weight"] = torch.randn(len(slots), h)
    state["slot_classifier.linear.bias"] = torch.randn(len(slots))
    save_file(state, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(d)
    with open(os.path.join(d, "intent_label.txt"), "w") as f:
        f.write("\n".join(intents) + "\n")
    with open(os.path.join(d, "slot_label.txt"), "w") as f:
        f.write("\n".join(slots) + "\n")
    expected["joint_f32"] = probe(state, {n: n for n in PARAMS + [
        "intent_classifier.linear.weight", "slot_classifier.linear.bias"]})


def raw_safetensors(header, data=b"", header_len=None, pad=False):
    text = json.dumps(header, separators=(",", ":")).encode() if not isinstance(header, bytes) else header
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + data


F16_BITS = [0x0000, 0x8000, 0x3C00, 0xC100, 0x7BFF, 0x0400, 0x0001, 0x0200, 0x03FF, 0x7C00, 0xFC00,
            0x7E00, 0xFE01, 0x3555]
BF16_BITS = [0x0000, 0x8000, 0x3F80, 0x4049, 0x7F7F, 0x0080, 0x0001, 0x007F, 0x7F80, 0xFF80, 0x7FC0,
             0xFFC1, 0x3EAB]


def make_values(expected):
    """values.safetensors: header not padded (odd length), so every tensor is unaligned in memory."""
    f32 = struct.pack("<6f", 1.0, -2.0, 0.5, 3.25, -0.0, 1e-40)
    f16 = struct.pack("<%dH" % len(F16_BITS), *F16_BITS)
    bf16 = struct.pack("<%dH" % len(BF16_BITS), *BF16_BITS)
    i64 = struct.pack("<4q", 0, 1, 2, 3)
    header = {"__metadata__": {"format": "pt", "note": "loader fixture"}}
    data = b""
    for name, dtype, shape, blob in [("weight", "F32", [2, 3], f32), ("half", "F16", [len(F16_BITS)], f16),
                                     ("brain", "BF16", [len(BF16_BITS)], bf16), ("position_ids", "I64", [1, 4], i64),
                                     ("empty", "F32", [0, 5], b"")]:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header, separators=(",", ":")).encode()
    if len(text) % 2 == 0:
        text += b" "  # odd: misaligned data, as a hand-written or foreign file may have
    with open(os.path.join(OUT, "values.safetensors"), "wb") as f:
        f.write(raw_safetensors(text, data))
    # Oracle: torch's own conversions.
    h = torch.tensor([b - 0x10000 if b >= 0x8000 else b for b in F16_BITS], dtype=torch.int16).view(torch.float16)
    b = torch.tensor([x - 0x10000 if x >= 0x8000 else x for x in BF16_BITS], dtype=torch.int16).view(torch.bfloat16)
    w = torch.tensor(struct.unpack("<6f", f32))
    expected["values"] = {"weight": bits(w), "half": bits(h), "brain": bits(b),
                          "half_in": F16_BITS, "brain_in": BF16_BITS}


def make_bad():
    d = fresh("bad")
    q = "bert.encoder.layer.0.attention.self.query.weight"
    ok_data = bytes(64)
    files = {
        # 5 bytes: not even the header length
        "truncated": b"\x10\x00\x00\x00\x00",
        # says 1000 header bytes, 20 follow
        "header_past_eof": raw_safetensors(b'{"a":{"dtype":"F32",', header_len=1000),
        # a doubled comma on line 2
        "bad_json": raw_safetensors(b'{"a": {"dtype": "F32",\n "shape": [4],, "data_offsets": [0, 16]}}', bytes(16)),
        "not_object": raw_safetensors(b'[1, 2, 3]'),
        "unknown_dtype": raw_safetensors({"a": {"dtype": "F12", "shape": [4], "data_offsets": [0, 16]}}, bytes(16)),
        "out_of_range": raw_safetensors({q: {"dtype": "F32", "shape": [25], "data_offsets": [0, 100]}}, ok_data),
        "overlap": raw_safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                    "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, bytes(24)),
        "size_mismatch": raw_safetensors({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}}, bytes(24)),
        "bad_metadata": raw_safetensors({"__metadata__": {"format": 1}}),
        "negative_dim": raw_safetensors({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)),
        "begin_after_end": raw_safetensors({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}}, bytes(8)),
        "duplicate_name": raw_safetensors(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                          b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)),
        "huge_shape": raw_safetensors({"a": {"dtype": "F32", "shape": [2**62, 2**62, 0, 2**62],
                                             "data_offsets": [0, 0]},
                                       "b": {"dtype": "F64", "shape": [2**61, 4], "data_offsets": [0, 8]}}, bytes(8)),
    }
    for name, blob in files.items():
        with open(os.path.join(d, name + ".safetensors"), "wb") as f:
            f.write(blob)


def make_minilm(model_dir):
    out = {}
    picks = [("embeddings.word_embeddings.weight", [0, 1, 101 * 384 + 7, 30521 * 384 + 383]),
             ("embeddings.LayerNorm.weight", [0, 383]),
             ("encoder.layer.0.attention.self.query.weight", [1000, 147455]),
             ("encoder.layer.5.output.LayerNorm.bias", [383]),
             ("pooler.dense.weight", [123])]
    with safe_open(os.path.join(model_dir, "model.safetensors"), framework="pt") as f:
        for name, idx in picks:
            t = f.get_tensor(name).flatten()
            vals = bits(t)
            out["bert." + name] = {"index": idx, "bits": [vals[i] for i in idx]}
    write_json(os.path.join(OUT, "minilm_values.json"), out)


def seed_corpus():
    shutil.rmtree(CORPUS, ignore_errors=True)
    os.makedirs(CORPUS)
    shutil.copy(os.path.join(OUT, "values.safetensors"), CORPUS)
    for name in sorted(os.listdir(os.path.join(OUT, "bad"))):
        shutil.copy(os.path.join(OUT, "bad", name), os.path.join(CORPUS, "bad_" + name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minilm", help="all-MiniLM-L6-v2 directory (writes minilm_values.json)")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    make_base(expected)
    make_legacy(expected)
    make_heads(expected)
    make_joint(expected)
    make_values(expected)
    make_bad()
    write_json(os.path.join(OUT, "expected.json"), expected)
    if args.minilm:
        make_minilm(args.minilm)
    seed_corpus()
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
