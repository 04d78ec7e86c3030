"""Segmentation metrics reference: random cases (several images of different sizes, ignored
pixels, classes absent from truth or predictions), scored with numpy from a pixel confusion
matrix accumulated over each case's images; written to OUT/segment/cases.json for
tests/segment_metrics.rs, which scores the same pixels with sweep::segment::metrics.
Where torchmetrics is installed, its MulticlassJaccardIndex (per class), MulticlassF1Score (per
class; Dice is F1) and micro MulticlassAccuracy check this reference first.

Usage: python scripts/parity_segment.py OUT
"""
import json
import os
import sys

import numpy as np


def reference(classes, ignore, images):
    conf = np.zeros((classes, classes), dtype=np.int64)
    for truth, pred in images:
        t, p = np.asarray(truth), np.asarray(pred)
        keep = t != ignore if ignore is not None else np.ones_like(t, dtype=bool)
        conf += np.bincount(t[keep] * classes + p[keep], minlength=classes * classes).reshape(classes, classes)
    tp = np.diag(conf).astype(np.float64)
    rows, cols = conf.sum(1), conf.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (rows + cols - tp)
        dice = 2 * tp / (rows + cols)
    return {
        "iou": [None if np.isnan(v) else float(v) for v in iou],
        "dice": [None if np.isnan(v) else float(v) for v in dice],
        "miou": float(np.nanmean(iou)),
        "mean_dice": float(np.nanmean(dice)),
        "pixel_accuracy": float(tp.sum() / conf.sum()),
        "pixels": int(conf.sum()),
    }


def check_torchmetrics(classes, ignore, images, ref):
    try:
        import torch
        from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex
    except ImportError:
        return False
    kw = dict(num_classes=classes, ignore_index=ignore)
    jac = MulticlassJaccardIndex(average="none", **kw)
    f1 = MulticlassF1Score(average="none", multidim_average="global", **kw)
    acc = MulticlassAccuracy(average="micro", **kw)
    for truth, pred in images:
        t, p = torch.tensor(truth).view(1, -1), torch.tensor(pred).view(1, -1)
        for m in (jac, f1, acc):
            m.update(p, t)
    j, f, a = jac.compute(), f1.compute(), acc.compute()
    for c in range(classes):
        if ref["iou"][c] is not None:
            assert abs(float(j[c]) - ref["iou"][c]) < 1e-6, (c, float(j[c]), ref["iou"][c])
            assert abs(float(f[c]) - ref["dice"][c]) < 1e-6, (c, float(f[c]), ref["dice"][c])
    assert abs(float(a) - ref["pixel_accuracy"]) < 1e-6, (float(a), ref["pixel_accuracy"])
    return True


def main():
    out = os.path.join(sys.argv[1], "segment")
    os.makedirs(out, exist_ok=True)
    rng = np.random.RandomState(24)
    cases = []
    checked = 0
    for case in range(40):
        classes = int(rng.choice([2, 3, 5, 11, 21]))
        ignore = 255 if case % 2 == 0 else None
        images = []
        for _ in range(int(rng.randint(1, 5))):
            h, w = int(rng.randint(1, 24)), int(rng.randint(1, 24))
            # Some classes never appear in the truth; predictions mostly right, sometimes not.
            present = rng.choice(classes, size=max(1, classes - int(rng.randint(0, 3))), replace=False)
            truth = rng.choice(present, size=(h, w))
            pred = np.where(rng.rand(h, w) < 0.6, truth, rng.randint(0, classes, size=(h, w)))
            if ignore is not None:
                truth = np.where(rng.rand(h, w) < 0.1, ignore, truth)
            images.append((truth.ravel().tolist(), pred.ravel().tolist()))
        if all(all(v == ignore for v in t) for t, _ in images):
            continue
        ref = reference(classes, ignore, images)
        checked += check_torchmetrics(classes, ignore, images, ref)
        cases.append({"classes": classes, "ignore": ignore, "images": images, "expected": ref})
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f)
    print(f"segment metrics: {len(cases)} cases written to {out}/cases.json; "
          f"the numpy reference agreed with torchmetrics on {checked} of them")


if __name__ == "__main__":
    main()
