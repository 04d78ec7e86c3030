"""sweep's COCO box evaluator against pycocotools' COCOeval, on generated cases.

Usage: python scripts/parity_coco.py SWEEP_BINARY [DIR]
       python scripts/parity_coco.py SWEEP_BINARY --pair GT.json DETECTIONS.json

Each case is a COCO ground-truth file and a results file, written to DIR (default: a temporary
folder); both evaluators score it and every one of the twelve numbers must agree within 1e-4.
The cases cover crowd regions, images without objects, categories with no ground truth, images
with more than 100 detections, tied scores and objects of every size range. `--pair` checks one
given pair instead (e.g. a trained model's detections.json). Exits 1 on any difference.
"""

import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
KEYS = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
        "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large"]
TOLERANCE = 1e-4


def pycocotools_stats(gt_path, dt_path):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(dt_path)
        e = COCOeval(gt, dt, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return [float(v) for v in e.stats]


def sweep_stats(binary, gt_path, dt_path):
    out = subprocess.run([binary, "coco-eval", "--json", gt_path, dt_path],
                         check=True, capture_output=True, text=True).stdout
    d = json.loads(out)
    return [d[k] for k in KEYS]


def jitter(rng, box, amount):
    x, y, w, h = box
    s = amount * max(w, h)
    nw = max(1.0, w + rng.gauss(0, s))
    nh = max(1.0, h + rng.gauss(0, s))
    return [round(x + rng.gauss(0, s), 2), round(y + rng.gauss(0, s), 2), round(nw, 2), round(nh, 2)]


def random_box(rng, size, lo=4, hi=160):
    w = rng.uniform(lo, hi)
    h = w * rng.uniform(0.5, 2.0)
    x = rng.uniform(0, max(1, size - w))
    y = rng.uniform(0, max(1, size - h))
    return [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]


def make_case(seed, images=30, cats=(1, 3, 7, 9), crowd=0.1, many=False, ties=False,
              missing_cat=False, empty_images=0.2, max_side=1e9):
    rng = random.Random(seed)
    size = 320
    gt = {"images": [], "annotations": [], "categories": [{"id": c, "name": f"c{c}"} for c in cats]}
    dts = []
    ann_id = 1
    gt_cats = cats[:-1] if missing_cat else cats
    for i in range(images):
        image_id = 1000 + 7 * i  # ids neither contiguous nor from 0
        gt["images"].append({"id": image_id, "file_name": f"{image_id}.png", "width": size, "height": size})
        objects = 0 if rng.random() < empty_images else rng.randint(1, 8)
        for _ in range(objects):
            box = random_box(rng, size, hi=min(160, max_side))
            c = rng.choice(gt_cats)
            is_crowd = 1 if rng.random() < crowd else 0
            area = box[2] * box[3]
            if rng.random() < 0.3:  # a segmentation's area, below the box's
                area *= rng.uniform(0.4, 0.95)
            gt["annotations"].append({"id": ann_id, "image_id": image_id, "category_id": c,
                                      "bbox": box, "area": round(area, 3), "iscrowd": is_crowd})
            ann_id += 1
            if rng.random() < 0.85:
                for _ in range(rng.choice([1, 1, 1, 2, 3]) if is_crowd == 0 else rng.randint(1, 4)):
                    score = rng.random()
                    dts.append({"image_id": image_id, "category_id": c if rng.random() < 0.9 else rng.choice(cats),
                                "bbox": jitter(rng, box, rng.choice([0.02, 0.05, 0.15])),
                                "score": round(score, 1) if ties else round(score, 4)})
        for _ in range(rng.randint(0, 3) + (130 if many and i % 5 == 0 else 0)):
            score = rng.random() * 0.6
            dts.append({"image_id": image_id, "category_id": rng.choice(cats), "bbox": random_box(rng, size, 2, min(120, max_side)),
                        "score": round(score, 1) if ties else round(score, 4)})
    rng.shuffle(dts)
    return gt, dts


CASES = {
    "random": dict(seed=1),
    "crowds": dict(seed=2, crowd=0.35),
    "many-detections": dict(seed=3, many=True),
    "tied-scores": dict(seed=4, ties=True),
    "category-without-truth": dict(seed=5, missing_cat=True),
    "mostly-empty-images": dict(seed=6, empty_images=0.7, images=40),
    "one-category": dict(seed=7, cats=(5,), images=12),
    # No medium or large objects: those numbers are -1 in both.
    "small-objects-only": dict(seed=8, max_side=20),
}


def compare(binary, name, gt_path, dt_path):
    want = pycocotools_stats(gt_path, dt_path)
    got = sweep_stats(binary, gt_path, dt_path)
    worst = max(abs(a - b) for a, b in zip(want, got))
    status = "ok" if worst <= TOLERANCE else "DIFFERS"
    print(f"{name:<24} worst |sweep - pycocotools| = {worst:.2e}  {status}")
    print("    " + "  ".join(f"{n}={v:.4f}" for n, v in zip(NAMES, want)))
    if worst > TOLERANCE:
        print("    sweep: " + "  ".join(f"{n}={v:.4f}" for n, v in zip(NAMES, got)))
    return worst <= TOLERANCE


def main():
    binary = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "--pair":
        ok = compare(binary, os.path.basename(sys.argv[4]), sys.argv[3], sys.argv[4])
        sys.exit(0 if ok else 1)
    out = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="sweep-coco-")
    os.makedirs(out, exist_ok=True)
    ok = True
    for name, kw in CASES.items():
        gt, dts = make_case(**kw)
        gt_path = os.path.join(out, f"{name}-truth.json")
        dt_path = os.path.join(out, f"{name}-detections.json")
        with open(gt_path, "w") as f:
            json.dump(gt, f)
        with open(dt_path, "w") as f:
            json.dump(dts, f)
        ok &= compare(binary, name, gt_path, dt_path)
    print("COCO evaluator parity:", "all cases agree" if ok else "DIFFERENCES")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
