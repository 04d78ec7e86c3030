#!/usr/bin/env bash
# A detection training step on sweep's flex engine and on PyTorch 2.9.0, on the same threads:
# tests/detect.rs's CenterNet (FPN neck, stride 4, width 32, 10 classes) on resnet-mini (width 16,
# 3 stages, 1 block, 1 channel) at 64x64, batch 32, Adam lr 2e-3; a step is forward, targets
# (Gaussian heat peaks, box values), focal + L1 loss, backward and the Adam update, as
# `sweep::detect::train::fit` runs it (examples/bench_detect.rs) and as the same detector runs in
# plain PyTorch (scripts/bench/detect.py). ROUNDS rounds (default 3), each running sweep then
# PyTorch back to back; prints the median images/s of each as a Markdown table with the ratio.
# Both sides print their parameter counts to stderr (they must agree).
# Usage: scripts/bench/detect.sh [THREADS] [ROUNDS]   (default 1 3). Makes the torch venv once.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
rounds=${2:-3}
source scripts/bench/torch-venv.sh
cargo build --release --quiet --example bench_detect
results=$(mktemp)
for _ in $(seq "$rounds"); do
  echo "sweep $(RAYON_NUM_THREADS=$threads ./target/release/examples/bench_detect)" >> "$results"
  echo "torch $(OMP_NUM_THREADS=$threads "$venv/bin/python" scripts/bench/detect.py "$threads")" >> "$results"
done
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $threads thread(s), median of $rounds rounds, torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
echo
"$venv/bin/python" - "$results" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    name, value = line.split()
    rows.setdefault(name, []).append(float(value))
s, t = statistics.median(rows["sweep"]), statistics.median(rows["torch"])
print("| workload | sweep (flex) img/s | PyTorch img/s | sweep / PyTorch |")
print("|---|---|---|---|")
print(f"| detection train step (CenterNet + FPN on resnet-mini w16, 64x64, batch 32, Adam) "
      f"| {s:.1f} | {t:.1f} | {s / t:.2f} |")
PY
rm -f "$results"
