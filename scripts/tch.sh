#!/usr/bin/env bash
# The LibTorch backend (`--features tch`), built and checked:
#  1. the PyTorch 2.9.0 venv (scripts/bench/torch-venv.sh), made once;
#  2. `cargo build --release --features tch` against it, offline: LIBTORCH_USE_PYTORCH=1 with the
#     venv's python3 first on PATH (torch-sys links the installed torch; the binary records
#     torch/lib as its rpath, so it runs without LD_LIBRARY_PATH);
#  3. clippy on that build, and tests/tch.rs, tests/kernels.rs and tests/device.rs under it;
#  4. the quickstart's grid with source-stage seeds (3 source seeds x 3 run seeds, 5 labels per
#     class) trained by that one binary under flex (--device cpu) and under LibTorch (--device
#     tch), every cell compared by scripts/reference/compare.py: exits 1 on a significant
#     difference.
#   scripts/tch.sh           all of it
#   scripts/tch.sh --build   1 and 2 only
# Output in $SWEEP_TCH_DIR (default target/tch).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench/torch-venv.sh
export LIBTORCH_USE_PYTORCH=1 PATH="$venv/bin:$PATH"
cargo build --release --features tch
[ "${1:-}" = "--build" ] && exit 0
cargo clippy --release --features tch --all-targets -- -D warnings
cargo test --release --features tch --test tch --test kernels --test device
out=${SWEEP_TCH_DIR:-target/tch}
mkdir -p "$out"
sed -e 's/^\[source\]$/[source]\nseed = [0, 1, 2]/' \
    -e 's/^labels_per_class = .*/labels_per_class = 5/' \
    -e 's/^name = "quickstart"/name = "quickstart-tch"/' \
    experiments/quickstart.toml > "$out/experiment.toml"
for device in cpu tch; do
  rm -rf "${out:?}/$device"
  start=$(date +%s)
  target/release/sweep run "$out/experiment.toml" --out "$out/$device" --quiet --device "$device" \
    --jobs 2 --threads 1 > "$out/$device.log"
  echo "tch.sh: --device $device: $(($(date +%s) - start)) s ($(($(wc -l < "$out/$device/runs.csv") - 1)) runs)"
done
echo "tch.sh: flex (first) against LibTorch (second), cell by cell:"
"$venv/bin/python" scripts/reference/compare.py "$out/cpu/runs.csv" "$out/tch/runs.csv"
