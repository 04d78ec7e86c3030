"""The quickstart grid (experiments/quickstart.toml) as a plain PyTorch script, written the way a
user would: pretrain once on MNIST, then train every run of the grid one after the other.
Same model (resnet-mini, width 16, 3 stages, 16x16 inputs), data sizes, epochs, early stopping,
optimizers and seeds as sweep; PyTorch's own default threads. Prints one line per run and the
wall time. Used by scripts/bench/sweep.sh; not a test."""

import copy
import gzip
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, "scripts")
from parity_gen import ResNetMini  # noqa: E402

SIZE = 16


def split(labels, fraction, seed):
    """Stratified: holds out `fraction` of every class."""
    rng = np.random.default_rng(seed)
    rest, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction))
        held.extend(idx[:k])
        rest.extend(idx[k:])
    return np.array(sorted(rest)), np.array(sorted(held))


def prepare(images, labels):
    x = torch.tensor(images, dtype=torch.float32).unsqueeze(1)
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    pool, test = split(labels, 0.25 if images.shape[1] == 8 else 0.2, 0)
    mean, std = x[pool].mean(), x[pool].std()
    return (x - mean) / std, torch.tensor(labels, dtype=torch.long), pool, test


def mnist():
    with gzip.open("data/mnist-10k/images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28) / 255.0
    with gzip.open("data/mnist-10k/labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return prepare(images, labels)


def uci():
    rows = np.loadtxt(gzip.open("data/uci-digits/digits.csv.gz"), delimiter=",")
    return prepare(rows[:, :64].reshape(-1, 8, 8) / 16.0, rows[:, 64].astype(np.uint8))


def evaluate(model, x, y, idx):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[b]).argmax(1) for b in torch.split(torch.tensor(idx), 256)])
    return (pred == y[idx]).float().mean().item()


def fit(model, x, y, train, val, epochs, batch, lr, patience, seed):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    best, best_epoch, best_state = -1.0, 0, None
    for epoch in range(1, epochs + 1):
        model.train()
        for m in frozen_modules(model):
            m.eval()
        order = torch.tensor(train)[torch.randperm(len(train), generator=g)]
        for b in torch.split(order, batch):
            opt.zero_grad()
            F.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
        acc = evaluate(model, x, y, val)
        if acc > best:
            best, best_epoch, best_state = acc, epoch, copy.deepcopy(model.state_dict())
        if patience and epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return model


def frozen_modules(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
            and not any(p.requires_grad for p in m.parameters())]


def freeze(model, depth):
    parts = [[model.conv1, model.bn1], [model.layer1], [model.layer2], [model.layer3]]
    for part in parts[:depth]:
        for m in part:
            for p in m.parameters():
                p.requires_grad_(False)


def main():
    start = time.time()
    xs, ys, pool, _ = mnist()
    train, val = split(ys.numpy()[pool], 0.1, 1)
    train, val = pool[train], pool[val]
    torch.manual_seed(0)
    source = ResNetMini(width=16, stages=3, blocks=1, in_channels=1, classes=10)
    fit(source, xs, ys, train, val, epochs=3, batch=64, lr=0.002, patience=0, seed=0)
    print(f"source stage: {time.time() - start:.1f} s", flush=True)

    x, y, pool, test = uci()
    cand, val = split(y.numpy()[pool], 0.2, 1)
    cand, val = pool[cand], pool[val]
    for labels in [5, 20]:
        for setting in ["scratch", "linear-probe", "finetune-0", "finetune-1"]:
            for seed in [0, 1, 2]:
                t = time.time()
                rng = np.random.default_rng(seed)
                train = np.concatenate([rng.choice(cand[y[cand].numpy() == c], labels, replace=False)
                                        for c in range(10)])
                torch.manual_seed(seed)
                model = ResNetMini(width=16, stages=3, blocks=1, in_channels=1, classes=10)
                if setting != "scratch":
                    state = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
                    model.load_state_dict(state, strict=False)
                    freeze(model, {"linear-probe": 4, "finetune-0": 0, "finetune-1": 1}[setting])
                fit(model, x, y, train, val, epochs=30, batch=32, lr=0.001, patience=10, seed=seed)
                acc = evaluate(model, x, y, test)
                print(f"{labels} {setting} seed {seed}: test acc {acc:.4f} in {time.time() - t:.1f} s",
                      flush=True)
    print(f"wall time: {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
