"""COCO segmentation decoding against pycocotools 2.0.11: writes random polygons (convex,
concave, self-crossing, partly outside the image, repeated points, several per annotation) and
RLE masks (uncompressed lists and compressed strings) with pycocotools' annToMask of each, for
tests/segment.rs's `coco_decoding_equals_pycocotools` to compare bit for bit.

usage: parity_coco_seg.py OUT_DIR  (writes OUT_DIR/coco-seg/cases.json)
"""
import json
import os
import sys

import numpy as np
import pycocotools.mask as M

out = os.path.join(sys.argv[1], "coco-seg")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(24)
cases = []


def ann_to_mask(seg, h, w):
    # pycocotools.coco.COCO.annToRLE, then decode.
    if isinstance(seg, list):
        rle = M.merge(M.frPyObjects(seg, h, w))
    elif isinstance(seg["counts"], list):
        rle = M.frPyObjects(seg, h, w)
    else:
        rle = seg
    return M.decode(rle)


for i in range(300):
    h, w = int(rng.integers(5, 60)), int(rng.integers(5, 60))
    kind = i % 5
    if kind < 3:
        polys = []
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(3, 12))
            # Some vertices outside the image; some on whole or half pixels.
            xy = rng.uniform(-0.2 * w, 1.2 * w, size=(n, 2))
            xy[:, 1] = rng.uniform(-0.2 * h, 1.2 * h, size=n)
            if kind == 1:
                xy = np.round(xy * 2) / 2
            if kind == 2 and n > 3:
                xy[1] = xy[0]
            polys.append([float(v) for v in xy.reshape(-1)])
        seg = polys
    else:
        m = (rng.random((h, w)) < rng.uniform(0.05, 0.9)).astype(np.uint8)
        rle = M.encode(np.asfortranarray(m))
        if kind == 3:
            # Uncompressed counts, as COCO's crowd annotations are written.
            flat = m.flatten(order="F")
            counts, prev, run = [], 0, 0
            for v in flat:
                if v != prev:
                    counts.append(run)
                    run, prev = 0, int(v)
                run += 1
            counts.append(run)
            seg = {"size": [h, w], "counts": counts}
        else:
            seg = {"size": [h, w], "counts": rle["counts"].decode()}
    mask = ann_to_mask(seg, h, w)
    cases.append({"h": h, "w": w, "segmentation": seg, "mask": mask.reshape(-1).tolist()})

with open(os.path.join(out, "cases.json"), "w") as f:
    json.dump(cases, f)
print(f"coco-seg: {len(cases)} annotations written with pycocotools' masks to {out}")
