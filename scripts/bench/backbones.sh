#!/usr/bin/env bash
# Forward and training images/s per backbone at 32x32 and 64x64, batch 32, for sweep (burn flex)
# and PyTorch, one after the other on the same threads; prints a Markdown table with the ratios.
# Usage: scripts/bench/backbones.sh [THREADS] [NAME...]   (default 1 thread, every backbone)
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
shift || true
source scripts/bench/torch-venv.sh
cargo build --release --quiet --example bench_backbones
rust=$(mktemp); torch=$(mktemp)
trap 'rm -f "$rust" "$torch"' EXIT
for size in 32 64; do
  RAYON_NUM_THREADS=$threads ./target/release/examples/bench_backbones "$size" "$@" >> "$rust"
  OMP_NUM_THREADS=$threads "$venv/bin/python" -c "import torch; torch.set_num_threads($threads); import runpy, sys; sys.argv=['b', '$size'] + sys.argv[1:]; runpy.run_path('scripts/bench/backbones.py', run_name='__main__')" "$@" >> "$torch"
done
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $threads thread(s), batch 32, torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
echo
echo "| backbone | size | sweep fwd img/s | PyTorch fwd img/s | fwd ratio | sweep train img/s | PyTorch train img/s | train ratio |"
echo "|---|---|---|---|---|---|---|---|"
paste -d' ' "$rust" "$torch" | awk '{
  r1 = ($3 == "n/a") ? "n/a" : sprintf("%.2f", $3 / $7); r2 = ($4 == "n/a") ? "n/a" : sprintf("%.2f", $4 / $8);
  printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $7, r1, $4, $8, r2 }'
