#!/usr/bin/env bash
# sweep against the PyTorch reference detector (scripts/reference/detect_ref.py) on
# experiments/detect-digits.toml's scenes from scratch: the same scenes, validation split and
# labelled subsets (examples/dense_scenes.rs writes sweep's), then
# scripts/reference/compare_dense.py tests every cell and exits 1 on a significant difference.
#   scripts/reference/detect.sh            200 and 1,000 labelled scenes, 5 seeds
#   scripts/reference/detect.sh --reduced  200 labelled scenes, 3 seeds
# Results in $SWEEP_REFERENCE_DIR/detect (default target/reference/detect). The venv is
# scripts/bench's (PyTorch 2.9.0), with pycocotools 2.0.11.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/torch-venv.sh
"$venv/bin/python" -c "import pycocotools" 2>/dev/null ||
  "$venv/bin/pip" install --quiet --disable-pip-version-check pycocotools==2.0.11
out=${SWEEP_REFERENCE_DIR:-target/reference}/detect
seeds="0, 1, 2, 3, 4"; budgets="200, 1000"
if [ "${1:-}" = "--reduced" ]; then seeds="0, 1, 2"; budgets="200"; fi
list() { echo "${1// /}"; }
mkdir -p "$out"
sed -e "s/^seeds = .*/seeds = [$seeds]/" \
    -e "s/^labelled_images = .*/labelled_images = [$budgets]/" \
    -e 's/^strategy = .*/strategy = "scratch"/' \
    -e 's/^name = "detect-digits"/name = "detect-digits-reference"/' \
    experiments/detect-digits.toml > "$out/experiment.toml"
cargo build --release --quiet --example dense_scenes
target/release/examples/dense_scenes "$out/experiment.toml" "$out"
rm -rf "$out/sweep"
start=$(date +%s)
cargo run --release --quiet -- run "$out/experiment.toml" --out "$out/sweep" --quiet > "$out/sweep.log"
middle=$(date +%s)
"$venv/bin/python" scripts/reference/detect_ref.py "$out" --budgets "$(list "$budgets")" \
  --seeds "$(list "$seeds")" --out "$out/reference.csv" > "$out/reference.log"
echo "sweep $((middle - start)) s, reference $(($(date +%s) - middle)) s"
"$venv/bin/python" scripts/reference/compare_dense.py "$out/sweep/runs.csv" "$out/reference.csv"
