#!/usr/bin/env bash
# Augmentation speed: sweep's heavy set (flip, padded crop, rotation, erasing, mixup) vs
# torchvision's v2 transforms on the same thread, and sweep's augmentation time as a share of
# a resnet-mini training step (which says whether moving augmentation off the training thread
# could pay). Usage: scripts/bench/augment.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/torch-venv.sh
cargo build --release --quiet --example bench_augment
rust=$(mktemp); torch=$(mktemp)
trap 'rm -f "$rust" "$torch"' EXIT
RAYON_NUM_THREADS=1 ./target/release/examples/bench_augment > "$rust"
OMP_NUM_THREADS=1 "$venv/bin/python" -c "import torch; torch.set_num_threads(1); import runpy; runpy.run_path('scripts/bench/augment.py', run_name='__main__')" > "$torch"
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), 1 thread, batch 64, torchvision $("$venv/bin/python" -c 'import torchvision; print(torchvision.__version__)')"
echo
echo "| size | sweep augment img/s | torchvision augment img/s | ratio | sweep train img/s (resnet-mini) | augmentation / training step |"
echo "|---|---|---|---|---|---|"
paste -d' ' "$rust" "$torch" | awk '{ printf "| %sx%s | %s | %s | %.1f | %s | %.1f%% |\n", $1, $1, $2, $6, $2 / $6, $3, 100 * $4 }'
