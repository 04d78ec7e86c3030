"""Segmentation losses reference: random logits and masks (with ignored pixels), PyTorch's
cross_entropy(ignore_index=255) and the soft Dice written in PyTorch, with their gradients with
respect to the logits, for tests/segment_loss.rs.

Usage: python scripts/parity_segment_loss.py OUT
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

SMOOTH = 1.0


def dice(logits, target, classes):
    valid = (target != 255).unsqueeze(1).float()
    onehot = F.one_hot(torch.where(target == 255, 0, target), classes).permute(0, 3, 1, 2).float() * valid
    p = logits.softmax(1) * valid
    inter = (p * onehot).sum((0, 2, 3))
    total = p.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    return 1 - ((2 * inter + SMOOTH) / (total + SMOOTH)).mean()


def main():
    out = os.path.join(sys.argv[1], "segment")
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(24)
    cases = []
    for case in range(6):
        n, k, h, w = 2, [2, 3, 5][case % 3], 4 + case, 3 + case
        logits = (torch.randn(n, k, h, w, generator=g, dtype=torch.float64) * 2)
        target = torch.randint(0, k, (n, h, w), generator=g)
        target[torch.rand(n, h, w, generator=g) < 0.15] = 255
        row = {"shape": [n, k, h, w], "logits": logits.flatten().tolist(), "target": target.flatten().tolist()}
        for name, f in [("ce", lambda x: F.cross_entropy(x, target, ignore_index=255)),
                        ("dice", lambda x: dice(x, target, k)),
                        ("cedice", lambda x: F.cross_entropy(x, target, ignore_index=255) + dice(x, target, k))]:
            x = logits.clone().requires_grad_()
            v = f(x)
            v.backward()
            row[name] = {"value": v.item(), "grad": x.grad.flatten().tolist()}
        cases.append(row)
    with open(os.path.join(out, "losses.json"), "w") as fh:
        json.dump(cases, fh)
    print(f"segment losses: {len(cases)} cases written to {out}/losses.json")


if __name__ == "__main__":
    main()
