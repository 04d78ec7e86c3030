"""`sweep export` against PyTorch: a ResNet-18 that sweep trained is exported, loaded by
torchvision's resnet18 with `load_state_dict(strict=True)`, and must predict the class sweep
predicted for every test image (the run's confusion matrix, reproduced exactly).

The data is an IDX dataset this script writes (32x32 grey, 4 classes: a bright square in one
quadrant, faint against the noise, so that a model trained briefly errs on some images and
the check is not passed by any model that is always right), so the images reach both models untouched: no resize, pixels / 255, then
the normalisation the export's JSON states.

usage: parity_export.py SWEEP_BINARY WORK_DIR
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision
from safetensors.torch import load_file
from torch import nn


def idx(path, array):
    dims = array.shape
    code = 0x08  # unsigned bytes
    header = bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def images(n, rng):
    labels = rng.integers(0, 4, size=n)
    x = rng.integers(0, 160, size=(n, 32, 32))
    for i, k in enumerate(labels):
        r, c = divmod(int(k), 2)
        x[i, 4 + 16 * r : 12 + 16 * r, 4 + 16 * c : 12 + 16 * c] += 45
    return np.clip(x, 0, 255), labels


def main():
    sweep, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    data = work / "quadrants"
    data.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in [("train", 240), ("t10k", 120)]:
        x, y = images(n, rng)
        idx(data / f"{split}-images-idx3-ubyte", x)
        idx(data / f"{split}-labels-idx1-ubyte", y)
    experiment = work / "export.toml"
    experiment.write_text(
        f"""
[experiment]
name = "export-parity"
seeds = [0]

[target]
dataset = "idx:{data}"
labels_per_class = 10
val_fraction = 0.2

[model]
backbone = "resnet18"
input_size = 32

[train]
epochs = 1
batch_size = 8
patience = 0
"""
    )
    out = work / "results"
    subprocess.run([sweep, "run", str(experiment), "--out", str(out), "--quiet", "--rerun", "all"], check=True)
    weights = work / "resnet18.safetensors"
    subprocess.run([sweep, "export", str(out), "--run", "best", "--out", str(weights)], check=True)
    info = json.loads(weights.with_suffix(".json").read_text())

    model = torchvision.models.resnet18(num_classes=info["classes"])
    model.conv1 = nn.Conv2d(info["input_channels"], 64, 7, 2, 3, bias=False)
    model.load_state_dict(load_file(str(weights)), strict=True)
    model.eval()

    raw = (data / "t10k-images-idx3-ubyte").read_bytes()[16:]
    x = np.frombuffer(raw, np.uint8).reshape(-1, 1, 32, 32).astype(np.float32) / 255.0
    y = np.frombuffer((data / "t10k-labels-idx1-ubyte").read_bytes()[8:], np.uint8)
    norm = info["normalisation"]
    mean = np.array(norm["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.array(norm["std"], np.float32).reshape(1, -1, 1, 1)
    with torch.no_grad():
        logits = model(torch.from_numpy((x - mean) / std))
    predicted = logits.argmax(1).numpy()
    ours = np.zeros((info["classes"], info["classes"]), np.int64)
    for t, p in zip(y, predicted):
        ours[t, p] += 1
    with open(out / "runs" / info["run_id"] / "confusion.csv") as f:
        rows = list(csv.reader(f))[1:]
    theirs = np.array([[int(v) for v in r[1:]] for r in rows])
    accuracy = np.trace(ours) / len(y)
    print(f"export: resnet18 run {info['run_id']} strict-loaded by torchvision; "
          f"{len(y)} test images, accuracy {accuracy:.4f} (sweep: {info['test_metric']:.4f})")
    assert (ours == theirs).all(), f"confusion differs:\nPyTorch\n{ours}\nsweep\n{theirs}"
    assert abs(accuracy - info["test_metric"]) < 1e-9
    # A model right on every image would agree whatever the loading got wrong.
    assert 0.3 < accuracy < 0.95 and len(set(predicted)) > 1, (accuracy, set(predicted))
    print("export parity: PyTorch reproduces sweep's test predictions (confusion matrix equal)")


if __name__ == "__main__":
    main()
