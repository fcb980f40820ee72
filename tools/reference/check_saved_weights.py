#!/usr/bin/env python3
"""Checks that transformers loads what bertd_weights_save wrote, with every parameter equal to the
original checkpoint's (as F32). Not run in CI; run after the unit tests:

    (cd build && ctest -R model_test_weights)
    .venv-ref/bin/python tools/reference/check_saved_weights.py build/loader-saved tests/fixtures/loader

For each SAVED/<name>/ (config.json + bertd's model.safetensors) it loads the architecture named in
config.json from both SAVED/<name> and FIXTURES/<name> with from_pretrained, requires no missing or
unexpected keys, and compares state_dicts exactly. Exit status 1 on any difference.
"""
import os
import sys

import torch
import transformers


def main(saved_root, fixtures_root):
    torch.set_grad_enabled(False)
    failures = 0
    names = sorted(os.listdir(saved_root))
    if not names:
        print(f"nothing in {saved_root}: run model_test_weights first")
        return 1
    for name in names:
        saved = os.path.join(saved_root, name)
        config = transformers.AutoConfig.from_pretrained(saved)
        cls = getattr(transformers, config.architectures[0])
        ours, info = cls.from_pretrained(saved, output_loading_info=True)
        theirs = cls.from_pretrained(os.path.join(fixtures_root, name)).float()
        problems = [f"missing {k}" for k in info["missing_keys"]] + \
                   [f"unexpected {k}" for k in info["unexpected_keys"]] + \
                   [f"mismatched {k}" for k in info["mismatched_keys"]]
        a, b = ours.state_dict(), theirs.state_dict()
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                problems.append(f"only in one model: {k}")
            elif not torch.equal(a[k], b[k]):
                problems.append(f"differs: {k}")
        status = "ok" if not problems else "FAIL: " + "; ".join(problems[:5])
        print(f"{name:16s} {cls.__name__:32s} {len(a):4d} tensors  {status}")
        failures += bool(problems)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
