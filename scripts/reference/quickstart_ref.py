"""The quickstart's grid (experiments/quickstart.toml) trained by a plain PyTorch reference learner,
with source-stage seeds as well as run seeds, so that scripts/reference/compare.py can tell a real
difference from `sweep` from seed noise.

What it shares with `sweep` on purpose: the model (resnet-mini, width 16, 3 stages, 1 block,
torchvision's initialisation: conv weights N(0, 2/fan_out), BN weight 1 / bias 0, Linear
uniform(+-1/sqrt(fan_in))), 16x16 inputs made the way `sweep` makes them (a box filter when
shrinking MNIST's 28x28, bilinear with align_corners=False when enlarging UCI's 8x8: `--resize`),
per-dataset standardisation over the training pool, the split fractions (MNIST 20% test, 10% of
the rest validation; UCI 25% test, 20% of the rest validation), Adam (PyTorch's defaults), the
epochs, batch sizes, learning rates, early stopping on validation accuracy with the best epoch's
weights kept, frozen parts' batch norms in eval mode. With `--splits` (as scripts/reference/run.sh
uses it) the test, validation and training images and every seed's label budget are sweep's own;
what differs then is the batch order and the initial values (other random generators) and the
kernels' rounding, so only distributions are compared, never single runs.

Writes one CSV row per run: source_seed (empty for scratch), labels_per_class, setting, seed,
test_accuracy, best_epoch. Not a test by itself; see scripts/reference/run.sh.
"""

import argparse
import copy
import csv
import gzip
import json
import math
import os
import sys
from multiprocessing import Pool

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from parity_gen import ResNetMini  # noqa: E402

SIZE = 16
SETTINGS = ["scratch", "linear-probe", "finetune-0", "finetune-1"]
FREEZE = {"linear-probe": 4, "finetune-0": 0, "finetune-1": 1}


def axis_weights(n_in, n_out):
    """sweep's resize weights (src/data/transform.rs): box filter shrinking, bilinear enlarging."""
    w = np.zeros((n_out, n_in))
    scale = n_in / n_out
    for o in range(n_out):
        if scale >= 1.0:
            start, end = o * scale, (o + 1) * scale
            for i in range(math.floor(start), min(math.ceil(end), n_in)):
                w[o, i] = max(min(end, i + 1.0) - max(start, i), 0.0) / scale
        else:
            x = min(max((o + 0.5) * scale - 0.5, 0.0), n_in - 1)
            i0 = math.floor(x)
            i1 = min(i0 + 1, n_in - 1)
            f = x - i0
            w[o, i0] += 1.0 - f
            w[o, i1] += f
    return torch.tensor(w, dtype=torch.float32)


def resize(images, mode):
    x = torch.tensor(images, dtype=torch.float32)
    if mode == "bilinear":  # PyTorch's F.interpolate, no antialiasing
        return F.interpolate(x.unsqueeze(1), size=(SIZE, SIZE), mode="bilinear",
                             align_corners=False)
    w = axis_weights(x.shape[-1], SIZE)
    return (w @ x @ w.T).unsqueeze(1)


def split(labels, fraction, rng):
    """Stratified: holds out `fraction` of every class."""
    rest, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction))
        held.extend(idx[:k])
        rest.extend(idx[k:])
    return np.array(sorted(rest)), np.array(sorted(held))


class Data:
    """Resized, standardised images with their splits: sweep's own (`splits`, from
    examples/splits.rs) or drawn here with the same fractions."""

    def __init__(self, images, labels, test_fraction, val_fraction, resize_mode, splits=None):
        x = resize(images, resize_mode)
        self.budgets = None
        if splits:
            with open(splits) as f:
                s = json.load(f)
            self.test, self.val = np.array(s["test"]), np.array(s["val"])
            self.cand, self.budgets = np.array(s["candidates"]), s["budgets"]
            pool = np.sort(np.concatenate([self.cand, self.val]))
        else:
            rng = np.random.default_rng(12345)
            pool, self.test = split(labels, test_fraction, rng)
            cand, val = split(labels[pool], val_fraction, rng)
            self.cand, self.val = pool[cand], pool[val]
        mean, std = x[pool].mean(), x[pool].std(unbiased=False)
        self.x = (x - mean) / std
        self.y = torch.tensor(labels, dtype=torch.long)


def mnist(resize_mode, splits=None):
    with gzip.open("data/mnist-10k/images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28) / 255.0
    with gzip.open("data/mnist-10k/labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return Data(images, labels, 0.2, 0.1, resize_mode, splits)


def uci(resize_mode, splits=None):
    rows = np.loadtxt(gzip.open("data/uci-digits/digits.csv.gz"), delimiter=",")
    return Data(rows[:, :64].reshape(-1, 8, 8) / 16.0, rows[:, 64].astype(np.uint8),
                0.25, 0.2, resize_mode, splits)


def torchvision_init(model, gen):
    """torchvision's ResNet initialisation, drawn from `gen`."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            with torch.no_grad():
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_out), generator=gen)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            fresh_linear(m, gen)


def fresh_linear(m, gen):
    bound = 1.0 / math.sqrt(m.in_features)
    with torch.no_grad():
        m.weight.uniform_(-bound, bound, generator=gen)
        m.bias.uniform_(-bound, bound, generator=gen)


def new_model(classes, seed, init):
    torch.manual_seed(seed)
    model = ResNetMini(width=16, stages=3, blocks=1, in_channels=1, classes=classes)
    if init == "torchvision":
        torchvision_init(model, torch.Generator().manual_seed(seed))
    return model


def evaluate(model, d, idx):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(d.x[b]).argmax(1) for b in torch.split(torch.tensor(idx), 256)])
    return (pred == d.y[idx]).float().mean().item()


def frozen_bns(model):
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)
            and not any(p.requires_grad for p in m.parameters())]


def fit(model, d, train, epochs, batch, lr, patience, seed):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    best, best_epoch, best_state = -1.0, 0, None
    for epoch in range(1, epochs + 1):
        model.train()
        for m in frozen_bns(model):
            m.eval()
        order = torch.tensor(train)[torch.randperm(len(train), generator=g)]
        for b in torch.split(order, batch):
            opt.zero_grad()
            F.cross_entropy(model(d.x[b]), d.y[b]).backward()
            opt.step()
        acc = evaluate(model, d, d.val)
        if acc > best:
            best, best_epoch, best_state = acc, epoch, copy.deepcopy(model.state_dict())
        if patience and epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return model, best_epoch


def freeze(model, depth):
    parts = [[model.conv1, model.bn1], [model.layer1], [model.layer2], [model.layer3]]
    for part in parts[:depth]:
        for m in part:
            for p in m.parameters():
                p.requires_grad_(False)


def source_stage(seed, args):
    if args.source_weights:
        from safetensors.torch import load_file
        model = new_model(10, seed, args.init)
        state = load_file(args.source_weights.replace("{seed}", str(seed)))
        model.load_state_dict(state, strict=False)
        return model
    d = mnist(args.resize, args.splits and os.path.join(args.splits, "mnist-10k.json"))
    model = new_model(10, seed, args.init)
    model, _ = fit(model, d, d.cand, epochs=3, batch=64, lr=0.002, patience=0, seed=seed)
    if args.save_source:
        from safetensors.torch import save_file
        os.makedirs(args.save_source, exist_ok=True)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(args.save_source, f"source-{seed}.safetensors"))
    return model


def task(job):
    """All runs of one source seed (or, for `None`, the scratch runs)."""
    source_seed, args = job
    torch.set_num_threads(1)
    d = uci(args.resize, args.splits and os.path.join(args.splits, "uci-digits.json"))
    source = None if source_seed is None else source_stage(source_seed, args)
    settings = ["scratch"] if source is None else [s for s in args.settings if s != "scratch"]
    rows = []
    for labels in args.labels:
        for setting in settings:
            for seed in args.seeds:
                if d.budgets is not None:
                    train = np.array(d.budgets[str(labels)][str(seed)])
                else:
                    rng = np.random.default_rng(seed)
                    train = np.concatenate([rng.choice(d.cand[d.y[d.cand].numpy() == c],
                                                       labels, replace=False)
                                            for c in range(10)])
                model = new_model(10, seed, args.init)
                if source is not None:
                    state = {k: v for k, v in source.state_dict().items()
                             if not k.startswith("fc.")}
                    model.load_state_dict(state, strict=False)
                    freeze(model, FREEZE[setting])
                model, best_epoch = fit(model, d, train, epochs=30, batch=32, lr=0.001,
                                        patience=10, seed=seed)
                acc = evaluate(model, d, d.test)
                rows.append(["" if source_seed is None else source_seed, labels, setting, seed,
                             f"{acc:.6f}", best_epoch])
                print(f"source {source_seed} {labels} {setting} seed {seed}: {acc:.4f}",
                      flush=True)
    return rows


def ints(text):
    return [int(v) for v in text.split(",") if v]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source-seeds", type=ints, default=[0, 1, 2, 3, 4])
    p.add_argument("--seeds", type=ints, default=[0, 1, 2])
    p.add_argument("--labels", type=ints, default=[5, 20])
    p.add_argument("--settings", type=lambda s: s.split(","), default=SETTINGS)
    p.add_argument("--resize", choices=["area", "bilinear"], default="area",
                   help="how 28x28 MNIST becomes 16x16 (area: sweep's box filter)")
    p.add_argument("--init", choices=["torchvision", "pytorch"], default="torchvision",
                   help="torchvision's ResNet init (sweep's) or nn.Conv2d's default")
    p.add_argument("--source-weights", help="load each source stage from this safetensors "
                   "file ({seed} is replaced by the source seed) instead of training it")
    p.add_argument("--save-source", help="write each source stage here as safetensors")
    p.add_argument("--splits", help="folder with sweep's splits (mnist-10k.json, uci-digits.json "
                   "from examples/splits.rs): test, validate and train on sweep's images")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    jobs = [(s, args) for s in args.source_seeds if set(args.settings) - {"scratch"}]
    if "scratch" in args.settings:
        jobs.insert(0, (None, args))
    with Pool(args.jobs) as pool:
        results = pool.map(task, jobs)
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source_seed", "labels_per_class", "setting", "seed", "test_accuracy",
                    "best_epoch"])
        for rows in results:
            w.writerows(rows)


if __name__ == "__main__":
    main()
