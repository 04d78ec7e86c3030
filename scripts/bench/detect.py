"""PyTorch's twin of examples/bench_detect.rs: a CenterNet training step on resnet-mini.

The detector is sweep's (src/detect/centernet.rs) on resnet-mini width 16, 3 stages, 1 block,
1 input channel (scripts/parity_gen.py's ResNetMini, the parity tests' twin of src/model/resnet.rs):
the FPN from the first stage at stride >= 4 (here only layer3, at stride 4: 1x1 lateral conv to
32 channels, then a 3x3 smooth conv), heat and box branches (3x3 conv + ReLU + 1x1 conv, heat bias
-2.19), the targets of src/detect/loss.rs (Gaussian peaks with CenterNet's radius, box values at
centre cells) built in numpy every step, focal loss (alpha 2, beta 4) plus L1, both per object,
Adam lr 2e-3. One fixed batch of 32 random 64x64 1-channel images with 1-5 random boxes each.
Prints training images/s on stdout; parameter counts and objects on stderr.

Usage: detect.py [THREADS]   (default: torch's own; detect.sh sets it)
"""

import math
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, "scripts")
from parity_gen import ResNetMini  # noqa: E402
from reference.detect_ref import targets as reference_targets  # noqa: E402

BATCH, SIDE, CLASSES, WIDTH, WANTED_STRIDE = 32, 64, 10, 32, 4
WARM, STEPS, LR = 3, 10, 2e-3
HEAT_PRIOR = -2.19


class Branch(nn.Module):
    def __init__(self, cin, width, cout):
        super().__init__()
        self.hidden = nn.Conv2d(cin, width, 3, 1, 1)
        self.out = nn.Conv2d(width, cout, 1)

    def forward(self, x):
        return self.out(F.relu(self.hidden(x)))


class Detector(nn.Module):
    """src/detect/centernet.rs's Detector with Neck::Fpn."""

    def __init__(self):
        super().__init__()
        self.backbone = ResNetMini(width=16, stages=3, blocks=1, in_channels=1, classes=CLASSES)
        # Channels and strides of the stem and every stage, probed as sweep probes them.
        self.backbone.eval()
        with torch.no_grad():
            shapes = [s.shape for s in self.backbone.stage_outputs(torch.zeros(1, 1, SIDE, SIDE))]
        self.backbone.train()
        strides = [max(-(-SIDE // s[2]), 1) for s in shapes]
        self.level = next((i for i, s in enumerate(strides) if s >= WANTED_STRIDE), len(shapes) - 1)
        self.stride = strides[self.level]
        self.lateral = nn.ModuleList(nn.Conv2d(s[1], WIDTH, 1) for s in shapes[self.level:])
        self.smooth = nn.Conv2d(WIDTH, WIDTH, 3, 1, 1)
        self.heat = Branch(WIDTH, WIDTH, CLASSES)
        nn.init.constant_(self.heat.out.bias, HEAT_PRIOR)
        self.boxes = Branch(WIDTH, WIDTH, 4)

    def forward(self, x):
        used = self.backbone.stage_outputs(x)[self.level:]
        top = None
        for c, lateral in reversed(list(zip(used, self.lateral))):
            l = lateral(c)
            top = l if top is None else F.interpolate(top, size=l.shape[2:], mode="nearest") + l
        f = self.smooth(top)
        return self.heat(f), self.boxes(f)


def targets(scenes, h, w, stride):
    """src/task/detect/loss.rs's Targets::new, as the reference detector builds them: heat,
    negative weights, box values, centre mask, object count."""
    objects = [{"objects": [[*b, k, False] for b, k in o]} for o in scenes]
    return reference_targets(objects, CLASSES, h, w, float(stride))


def loss_of(heat, boxes, tg):
    """src/detect/loss.rs's Targets::loss: focal loss (alpha 2, beta 4) plus L1, per object."""
    target, neg_w, tboxes, centres, count = tg
    positive = (target == 1.0).float()
    negative = neg_w * (1 - positive)
    p = torch.sigmoid(heat)
    away = (1 - target).pow(4)
    pos = F.logsigmoid(heat) * (1 - p).pow(2) * positive
    neg = F.logsigmoid(-heat) * p.pow(2) * away * negative
    norm = float(max(count, 1))
    focal = -(pos.sum() + neg.sum()) / norm
    l1 = ((boxes - tboxes).abs() * centres).sum() / norm
    return focal + l1


def main():
    if len(sys.argv) > 1:
        torch.set_num_threads(int(sys.argv[1]))
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    # digit-scenes' defaults: 1-5 objects, sides 14-28 px, inside the 64 px canvas.
    scenes = []
    for _ in range(BATCH):
        objects = []
        for _ in range(rng.integers(1, 6)):
            bw, bh = (float(v) for v in rng.integers(14, 29, 2))
            x, y = float(rng.uniform(0, SIDE - bw)), float(rng.uniform(0, SIDE - bh))
            objects.append(((x, y, bw, bh), int(rng.integers(0, CLASSES))))
        scenes.append(objects)
    x = torch.randn(BATCH, 1, SIDE, SIDE)

    m = Detector()
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=LR)

    def step():
        opt.zero_grad()
        heat, boxes = m(x)
        h, w = heat.shape[2:]
        loss = loss_of(heat, boxes, targets(scenes, h, w, m.stride))
        value = loss.item()
        assert math.isfinite(value), value
        loss.backward()
        opt.step()

    # Parameters as burn counts them (with BN's running mean and variance) and those trained.
    heat, boxes = m(x)
    loss_of(heat, boxes, targets(scenes, *heat.shape[2:], m.stride)).backward()
    params = sum(p.numel() for p in m.parameters())
    running = sum(b.numel() for n, b in m.named_buffers() if n.endswith(("running_mean", "running_var")))
    trained = sum(p.numel() for p in m.parameters() if p.grad is not None)
    objects = sum(len(s) for s in scenes)
    print(f"torch: {params + running} parameters with BN running statistics ({params} + {running}), "
          f"{trained} trained; output {heat.shape[2]}x{heat.shape[3]} at stride {m.stride}; "
          f"{objects} objects in {BATCH} images", file=sys.stderr)

    for _ in range(WARM):
        step()
    t = time.perf_counter()
    for _ in range(STEPS):
        step()
    print(f"{BATCH * STEPS / (time.perf_counter() - t):.1f}")


if __name__ == "__main__":
    main()
