#!/usr/bin/env bash
# Forward and training images/s per backbone at 32x32 and 64x64, batch 32, for sweep on flex and
# on LibTorch (`--features tch`) and for PyTorch 2.9.0, one after the other on the same threads;
# prints a Markdown table with the ratios to PyTorch.
# Usage: scripts/bench/backbones.sh [THREADS] [NAME...]   (default 1 thread, every backbone)
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
shift || true
source scripts/bench/torch-venv.sh
LIBTORCH_USE_PYTORCH=1 PATH="$venv/bin:$PATH" cargo build --release --quiet --features tch --example bench_backbones
flex=$(mktemp); tch=$(mktemp); torch=$(mktemp)
trap 'rm -f "$flex" "$tch" "$torch"' EXIT
for size in 32 64; do
  RAYON_NUM_THREADS=$threads BENCH_DEVICE=cpu ./target/release/examples/bench_backbones "$size" "$@" >> "$flex"
  RAYON_NUM_THREADS=$threads BENCH_DEVICE=tch ./target/release/examples/bench_backbones "$size" "$@" >> "$tch"
  OMP_NUM_THREADS=$threads "$venv/bin/python" -c "import torch; torch.set_num_threads($threads); import runpy, sys; sys.argv=['b', '$size'] + sys.argv[1:]; runpy.run_path('scripts/bench/backbones.py', run_name='__main__')" "$@" >> "$torch"
done
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $threads thread(s), batch 32, torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
echo
echo "| backbone | size | fwd img/s flex / LibTorch / PyTorch | fwd ratio flex / LibTorch | train img/s flex / LibTorch / PyTorch | train ratio flex / LibTorch |"
echo "|---|---|---|---|---|---|"
paste -d' ' "$flex" "$tch" "$torch" | awk '
  function r(a, b) { return (a == "n/a" || b == "n/a") ? "n/a" : sprintf("%.2f", a / b) }
  { printf "| %s | %s | %s / %s / %s | %s / %s | %s / %s / %s | %s / %s |\n",
      $1, $2, $3, $7, $11, r($3, $11), r($7, $11), $4, $8, $12, r($4, $12), r($8, $12) }'
