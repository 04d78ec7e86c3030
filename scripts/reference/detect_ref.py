"""The PyTorch reference learner for detection: sweep's CenterNet (FPN neck) on resnet-mini, in
plain PyTorch, trained from scratch on the very scenes, validation split and labelled subsets
sweep uses (examples/dense_scenes.rs writes them), evaluated by pycocotools.

Written from sweep's description, not its code paths: resnet-mini (3x3 stem, basic blocks,
torchvision's names and initialisation); the pyramid on the last stage of each stride from
`stride` on (1x1 laterals and a 3x3 smooth conv, Caffe2's XavierFill); heat and box branches
(3x3 conv, ReLU, 1x1 conv; heat output PyTorch's default with bias -2.19, box output +-1e-3); CenterNet's targets (Gaussian radius at overlap 0.7,
centre offsets and log sizes in cells), focal loss (2, 4) + L1 per object; Adam; the best epoch
by validation AP50; 3x3-peak decoding, top 100, scores >= 0.01.

Usage: detect_ref.py SCENES_DIR --budgets 200,1000 --seeds 0,1,2 [--epochs 8] [--batch 16]
       [--lr 0.002] --out reference.csv
"""

import argparse
import contextlib
import io
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from parity_gen import ResNetMini  # noqa: E402

HEAT_PRIOR = -2.19
MIN_SCORE = 0.01


def kaiming_fan_out(conv):
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def xavier_fill(conv):
    fan_in = conv.weight[0].numel()
    nn.init.uniform_(conv.weight, -math.sqrt(3 / fan_in), math.sqrt(3 / fan_in))
    nn.init.zeros_(conv.bias)


def resnet_mini(side=64):
    """scripts/parity_gen.py's ResNetMini (sweep's resnet-mini: 3x3 stem, no max-pool, basic
    blocks) on 1 channel with torchvision's initialisation, and its stages' channels and strides,
    probed as sweep probes them."""
    net = ResNetMini(width=16, stages=3, blocks=1, in_channels=1)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            kaiming_fan_out(m)
    net.eval()
    with torch.no_grad():
        shapes = [t.shape for t in net.stage_outputs(torch.zeros(1, 1, side, side))]
    net.train()
    return net, [s[1] for s in shapes], [max(-(-side // s[2]), 1) for s in shapes]


def levels(strides, stride):
    first = next((i for i, s in enumerate(strides) if s >= stride), len(strides) - 1)
    return [i for i in range(first, len(strides)) if i + 1 == len(strides) or strides[i + 1] != strides[i]]


class Branch(nn.Module):
    def __init__(self, cin, width, cout, bound):
        super().__init__()
        self.hidden = nn.Conv2d(cin, width, 3, 1, 1)
        kaiming_fan_out(self.hidden)
        self.out = nn.Conv2d(width, cout, 1)
        nn.init.uniform_(self.out.weight, -bound, bound)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        return self.out(F.relu(self.hidden(x)))


class Detector(nn.Module):
    def __init__(self, classes, stride=4, width=32):
        super().__init__()
        self.backbone, channels, strides = resnet_mini()
        self.levels = levels(strides, stride)
        self.stride = strides[self.levels[0]]
        self.lateral = nn.ModuleList(nn.Conv2d(channels[i], width, 1) for i in self.levels)
        self.smooth = nn.Conv2d(width, width, 3, 1, 1)
        for c in [*self.lateral, self.smooth]:
            xavier_fill(c)
        self.heat = Branch(width, width, classes, 1 / math.sqrt(width))
        nn.init.constant_(self.heat.out.bias, HEAT_PRIOR)
        self.boxes = Branch(width, width, 4, 1e-3)

    def forward(self, x):
        stages = self.backbone.stage_outputs(x)
        top = None
        for i, lateral in reversed(list(zip(self.levels, self.lateral))):
            l = lateral(stages[i])
            top = l if top is None else F.interpolate(top, size=l.shape[-2:], mode="nearest") + l
        f = self.smooth(top)
        return self.heat(f), self.boxes(f)


def gaussian_radius(h, w, overlap=0.7):
    b1, c1 = h + w, w * h * (1 - overlap) / (1 + overlap)
    r1 = (b1 + math.sqrt(b1 * b1 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - overlap) * w * h
    r2 = (b2 + math.sqrt(b2 * b2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * overlap, -2 * overlap * (h + w), (overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 * b3 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def targets(scenes, classes, h, w, s):
    n = len(scenes)
    heat = np.zeros((n, classes, h, w), np.float32)
    negative = np.ones((n, classes, h, w), np.float32)
    boxes = np.zeros((n, 4, h, w), np.float32)
    centres = np.zeros((n, 1, h, w), np.float32)
    count = 0
    for i, scene in enumerate(scenes):
        for x, y, bw, bh, c, ignore in scene["objects"]:
            if ignore:
                y0, x0 = max(int(math.floor(y / s)), 0), max(int(math.floor(x / s)), 0)
                y1, x1 = min(int(math.ceil((y + bh) / s)), h), min(int(math.ceil((x + bw) / s)), w)
                negative[i, c, y0:y1, x0:x1] = 0
                continue
            if bw <= 0 or bh <= 0:
                continue
            cx, cy = (x + bw / 2) / s, (y + bh / 2) / s
            gx, gy = int(min(max(math.floor(cx), 0), w - 1)), int(min(max(math.floor(cy), 0), h - 1))
            ws, hs = bw / s, bh / s
            r = max(int(math.floor(gaussian_radius(math.ceil(hs), math.ceil(ws)))), 0)
            sigma = (2 * r + 1) / 6
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    yy, xx = gy + dy, gx + dx
                    if 0 <= yy < h and 0 <= xx < w:
                        g = math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
                        heat[i, c, yy, xx] = max(heat[i, c, yy, xx], g)
            heat[i, c, gy, gx] = 1
            if centres[i, 0, gy, gx] == 0:
                count += 1
            centres[i, 0, gy, gx] = 1
            boxes[i, :, gy, gx] = [cx - gx, cy - gy, math.log(ws), math.log(hs)]
    t = [torch.from_numpy(a) for a in (heat, negative, boxes, centres)]
    return (*t, count)


def loss(heat, boxes, scenes, classes, stride):
    _, _, h, w = heat.shape
    target, negative, tboxes, centres, count = targets(scenes, classes, h, w, stride)
    positive = (target == 1).float()
    negative = negative * (1 - positive)
    p = torch.sigmoid(heat)
    pos = F.logsigmoid(heat) * (1 - p) ** 2 * positive
    neg = F.logsigmoid(-heat) * p ** 2 * (1 - target) ** 4 * negative
    norm = max(count, 1)
    return -(pos.sum() + neg.sum()) / norm + ((boxes - tboxes).abs() * centres).sum() / norm


def decode(heat, boxes, stride, top=100):
    p = torch.sigmoid(heat)
    peaks = (F.max_pool2d(p, 3, 1, 1) == p)
    out = []
    n, k, h, w = p.shape
    for i in range(n):
        score = p[i][peaks[i]]
        c, y, x = peaks[i].nonzero(as_tuple=True)
        order = torch.argsort(-score, stable=True)[:top]
        dets = []
        for j in order.tolist():
            v = float(score[j])
            if v < MIN_SCORE:
                continue
            yy, xx = int(y[j]), int(x[j])
            b = boxes[i, :, yy, xx].double()
            cx, cy = (xx + float(b[0])) * stride, (yy + float(b[1])) * stride
            bw = math.exp(min(max(float(b[2]), -8), 8)) * stride
            bh = math.exp(min(max(float(b[3]), -8), 8)) * stride
            dets.append((int(c[j]), [cx - bw / 2, cy - bh / 2, bw, bh], v))
        out.append(dets)
    return out


def coco_ap(model, images, scenes, classes, stride):
    model.eval()
    results = []
    with torch.no_grad():
        for a in range(0, len(scenes), 64):
            heat, boxes = model(images[a:a + 64])
            for scene, dets in zip(scenes[a:a + 64], decode(heat, boxes, stride)):
                results += [{"image_id": scene["id"], "category_id": c + 1, "bbox": b, "score": v}
                            for c, b, v in dets]
    model.train()
    gt = {"images": [{"id": s["id"]} for s in scenes],
          "categories": [{"id": c + 1} for c in range(classes)],
          "annotations": [{"id": k + 1, "image_id": s["id"], "category_id": o[4] + 1, "bbox": o[:4],
                           "area": o[2] * o[3], "iscrowd": int(o[5])}
                          for k, (s, o) in enumerate((s, o) for s in scenes for o in s["objects"])]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        if not results:
            return 0.0, 0.0
        ev = COCOeval(coco, coco.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return max(ev.stats[1], 0.0), max(ev.stats[0], 0.0)


def run(data, budget, seed, args):
    by_id = {s["id"]: k for k, s in enumerate(data["train"])}
    labelled = [by_id[i] for i in data["labelled"][str(budget)][str(seed)]]
    val = [by_id[i] for i in data["val"]]
    x = data["pixels"]["train"]
    train_x = x[labelled]
    mean, std = train_x.mean(dim=(0, 2, 3)), train_x.std(dim=(0, 2, 3), unbiased=False).clamp(min=1e-6)
    norm = lambda t: (t - mean[None, :, None, None]) / std[None, :, None, None]
    train_x, val_x = norm(train_x), norm(x[val])
    test_x = norm(data["pixels"]["test"])
    train_s = [data["train"][k] for k in labelled]
    val_s = [data["train"][k] for k in val]
    torch.manual_seed(seed)
    model = Detector(data["classes"])
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-8)
    g = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch = -1.0, None, 0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(train_s), generator=g).tolist()
        for a in range(0, len(order), args.batch):
            idx = order[a:a + args.batch]
            heat, boxes = model(train_x[idx])
            l = loss(heat, boxes, [train_s[i] for i in idx], data["classes"], model.stride)
            opt.zero_grad()
            l.backward()
            opt.step()
        ap50, _ = coco_ap(model, val_x, val_s, data["classes"], model.stride)
        if ap50 > best:
            best, best_epoch = ap50, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    ap50, ap = coco_ap(model, test_x, data["test"], data["classes"], model.stride)
    return ap50, ap, best_epoch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenes")
    p.add_argument("--budgets", default="200,1000")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = json.load(open(os.path.join(args.scenes, "scenes.json")))
    data["pixels"] = load_file(os.path.join(args.scenes, "scenes.safetensors"))
    rows = ["strategy,labelled_images,seed,test_ap50,test_ap,best_epoch"]
    for budget in args.budgets.split(","):
        for seed in args.seeds.split(","):
            ap50, ap, epoch = run(data, int(budget), int(seed), args)
            print(f"reference scratch {budget} scenes seed {seed}: test AP50 {ap50:.4f} AP {ap:.4f} "
                  f"(best epoch {epoch})", flush=True)
            rows.append(f"scratch,{budget},{seed},{ap50:.6f},{ap:.6f},{epoch}")
    with open(args.out, "w") as f:
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
