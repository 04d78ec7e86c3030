"""PyTorch's twin of examples/bench_segment.rs: a segmentation training step on resnet-mini.

The segmenter is sweep's (src/segment/model.rs, Head::Fpn) on resnet-mini width 16, 3 stages,
1 block, 1 input channel (scripts/parity_gen.py's ResNetMini): 1x1 laterals to 32 channels from
the first stage at stride >= 4, the top-down sum (nearest upsampling), a 3x3 smooth conv + ReLU,
a 3x3 hidden conv + ReLU and a 1x1 classifier to 11 classes, upsampled bilinearly
(align_corners=False) to 64x64; the loss is cross-entropy (ignore_index 255) plus soft Dice
(src/segment/loss.rs), Adam lr 3e-3. One fixed batch of 32 random images with random masks.
Prints training images/s on stdout; the parameter count on stderr.

Usage: segment.py [THREADS]   (default: torch's own; segment.sh sets it)
"""

import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, "scripts")
from parity_gen import ResNetMini  # noqa: E402

BATCH, SIDE, CLASSES, WIDTH, WANTED_STRIDE = 32, 64, 11, 32, 4
WARM, STEPS, LR, SMOOTH = 3, 10, 3e-3, 1.0


class Segmenter(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = ResNetMini(width=16, stages=3, blocks=1, in_channels=1, classes=CLASSES)
        self.backbone.eval()
        with torch.no_grad():
            shapes = [s.shape for s in self.backbone.stage_outputs(torch.zeros(1, 1, SIDE, SIDE))]
        self.backbone.train()
        strides = [max(-(-SIDE // s[2]), 1) for s in shapes]
        self.level = next((i for i, s in enumerate(strides) if s >= WANTED_STRIDE), len(shapes) - 1)
        self.lateral = nn.ModuleList(nn.Conv2d(s[1], WIDTH, 1) for s in shapes[self.level:])
        self.smooth = nn.Conv2d(WIDTH, WIDTH, 3, 1, 1)
        self.hidden = nn.Conv2d(WIDTH, WIDTH, 3, 1, 1)
        self.classifier = nn.Conv2d(WIDTH, CLASSES, 1)

    def forward(self, x):
        used = self.backbone.stage_outputs(x)[self.level:]
        top = None
        for c, lateral in reversed(list(zip(used, self.lateral))):
            l = lateral(c)
            top = l if top is None else F.interpolate(top, size=l.shape[2:], mode="nearest") + l
        f = F.relu(self.smooth(top))
        logits = self.classifier(F.relu(self.hidden(f)))
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=False)


def loss_of(logits, target):
    valid = (target != 255).unsqueeze(1).float()
    onehot = F.one_hot(torch.where(target == 255, 0, target), CLASSES).permute(0, 3, 1, 2).float() * valid
    p = logits.softmax(1) * valid
    inter = (p * onehot).sum((0, 2, 3))
    total = p.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    dice = 1 - ((2 * inter + SMOOTH) / (total + SMOOTH)).mean()
    return F.cross_entropy(logits, target, ignore_index=255) + dice


def main():
    if len(sys.argv) > 1:
        torch.set_num_threads(int(sys.argv[1]))
    torch.manual_seed(0)
    x = torch.randn(BATCH, 1, SIDE, SIDE)
    # About a tenth of the pixels ink, as on digit-scenes.
    target = torch.where(torch.rand(BATCH, SIDE, SIDE) < 0.9, 0, torch.randint(1, CLASSES, (BATCH, SIDE, SIDE)))
    m = Segmenter()
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=LR)
    params = sum(p.numel() for p in m.parameters())
    running = sum(b.numel() for n, b in m.named_buffers() if n.endswith(("running_mean", "running_var")))
    print(f"torch: {params + running} parameters with BN running statistics ({params} + {running})", file=sys.stderr)

    def step():
        opt.zero_grad()
        loss = loss_of(m(x), target)
        assert torch.isfinite(loss).item()
        loss.backward()
        opt.step()

    for _ in range(WARM):
        step()
    t = time.perf_counter()
    for _ in range(STEPS):
        step()
    print(f"{BATCH * STEPS / (time.perf_counter() - t):.1f}")


if __name__ == "__main__":
    main()
