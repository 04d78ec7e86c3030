#!/usr/bin/env bash
# A segmentation training step on sweep's flex engine and on PyTorch 2.9.0, on the same threads:
# experiments/segment-digits.toml's segmenter at 64x64 (feature pyramid, stride 4, width 32, 11
# classes, on resnet-mini width 16, 3 stages, 1 block, 1 channel), batch 32, cross-entropy + Dice,
# Adam lr 3e-3, as `sweep::segment::train::fit` runs it (examples/bench_segment.rs) and as the
# same segmenter runs in plain PyTorch (scripts/bench/segment.py). ROUNDS rounds (default 3),
# each running sweep then PyTorch back to back; prints the median images/s of each as a Markdown
# table with the ratio.
# Both sides print their parameter counts to stderr (they must agree).
# Usage: scripts/bench/segment.sh [THREADS] [ROUNDS]   (default 1 3). Makes the torch venv once.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
rounds=${2:-3}
source scripts/bench/torch-venv.sh
cargo build --release --quiet --example bench_segment
results=$(mktemp)
for _ in $(seq "$rounds"); do
  echo "sweep $(RAYON_NUM_THREADS=$threads ./target/release/examples/bench_segment)" >> "$results"
  echo "torch $(OMP_NUM_THREADS=$threads "$venv/bin/python" scripts/bench/segment.py "$threads")" >> "$results"
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
print(f"| segmentation train step (FPN on resnet-mini w16, 64x64, batch 32, CE + Dice, Adam) "
      f"| {s:.1f} | {t:.1f} | {s / t:.2f} |")
PY
rm -f "$results"
