#!/usr/bin/env bash
# The reference micro-benchmark (../shared/bench/SPEC.md) for sweep's engine and PyTorch, one
# after the other on the same threads; prints a Markdown table with the ratios (sweep / PyTorch).
# Usage: scripts/bench/step.sh [THREADS]   (default 1). Installs torch into a cached venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
source scripts/bench/torch-venv.sh
cargo build --release --quiet --example bench_step
read -r st si sh sc < <(RAYON_NUM_THREADS=$threads ./target/release/examples/bench_step)
read -r pt pi ph < <(OMP_NUM_THREADS=$threads "$venv/bin/python" -c "import torch; torch.set_num_threads($threads); import runpy; runpy.run_path('scripts/bench/step.py', run_name='__main__')")
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $threads thread(s), torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
echo
echo "| workload | sweep img/s | PyTorch img/s | ratio |"
echo "|---|---|---|---|"
awk -v st="$st" -v si="$si" -v sh="$sh" -v sc="$sc" -v pt="$pt" -v pi="$pi" -v ph="$ph" 'BEGIN {
  printf "| train (batch 64, Adam) | %s | %s | %.2f |\n", st, pt, st / pt
  printf "| infer (batch 256) | %s | %s | %.2f |\n", si, pi, si / pi
  printf "| head-only (backbone forward each step) | %s | %s | %.2f |\n", sh, ph, sh / ph
  printf "| head-only as sweep runs it (feature cache) | %s | %s | %.2f |\n", sc, ph, sc / ph
}'
