#!/usr/bin/env bash
# sweep against the PyTorch reference learner on the quickstart's grid, with source-stage seeds:
# trains the grid with `sweep run` and with scripts/reference/quickstart_ref.py on the very same
# test, validation and labelled images (examples/splits.rs prints sweep's), then
# scripts/reference/compare.py tests every cell and exits 1 on a significant difference.
#   scripts/reference/run.sh            full: 8 source seeds x 5 run seeds, 5 and 20 labels/class
#   scripts/reference/run.sh --reduced  CI: 3 source seeds x 3 run seeds, 5 labels/class
# Results in $SWEEP_REFERENCE_DIR (default target/reference). The venv is scripts/bench's.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/torch-venv.sh
out=${SWEEP_REFERENCE_DIR:-target/reference}
sources="0, 1, 2, 3, 4, 5, 6, 7"; seeds="0, 1, 2, 3, 4"; labels="5, 20"
if [ "${1:-}" = "--reduced" ]; then sources="0, 1, 2"; seeds="0, 1, 2"; labels="5"; fi
list() { echo "${1// /}"; }
mkdir -p "$out/splits"
# The quickstart itself, with the source stage's seed as one more axis.
sed -e "s/^\[source\]$/[source]\nseed = [$sources]/" \
    -e "s/^labels_per_class = .*/labels_per_class = [$labels]/" \
    -e "s/^seeds = .*/seeds = [$seeds]/" \
    -e 's/^name = "quickstart"/name = "quickstart-reference"/' \
    experiments/quickstart.toml > "$out/experiment.toml"
cargo build --release --quiet --example splits
target/release/examples/splits uci-digits 0.2 "$(list "$seeds")" "$(list "$labels")" \
  > "$out/splits/uci-digits.json"
target/release/examples/splits mnist-10k 0.1 "" "" > "$out/splits/mnist-10k.json"
rm -rf "$out/sweep"
start=$(date +%s)
cargo run --release --quiet -- run "$out/experiment.toml" --out "$out/sweep" --quiet \
  --jobs 2 --threads 1 > "$out/sweep.log"
middle=$(date +%s)
"$venv/bin/python" scripts/reference/quickstart_ref.py --source-seeds "$(list "$sources")" \
  --seeds "$(list "$seeds")" --labels "$(list "$labels")" --splits "$out/splits" --jobs 2 \
  --out "$out/reference.csv" > "$out/reference.log"
echo "sweep $((middle - start)) s, reference $(($(date +%s) - middle)) s (2 runs at a time each)"
"$venv/bin/python" scripts/reference/compare.py "$out/sweep/runs.csv" "$out/reference.csv"
