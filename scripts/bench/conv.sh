#!/usr/bin/env bash
# Where the training-step gap sits: the quickstart model's 3x3 convolutions on sweep's engine
# (burn-flex) and on PyTorch, one after the other on the same threads, split into forward, input
# gradient and weight gradient, plus the weight gradient as one im2col + GEMM (single-threaded,
# examples/bench_conv.rs) to show what a direct kernel would cost; prints a Markdown table of
# milliseconds and ratios (PyTorch time / sweep time: below 1, sweep is slower).
# Usage: scripts/bench/conv.sh [THREADS] (default 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
source scripts/bench/torch-venv.sh
cargo build --release --quiet --example bench_conv
sw=$(RAYON_NUM_THREADS=$threads ./target/release/examples/bench_conv)
pt=$(OMP_NUM_THREADS=$threads "$venv/bin/python" -c "import torch; torch.set_num_threads($threads); import runpy; runpy.run_path('scripts/bench/conv.py', run_name='__main__')")
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $threads thread(s), torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
echo
echo "| conv (batch 32) | sweep fwd ms | PyTorch fwd ms | ratio | sweep input grad ms | PyTorch | ratio | sweep weight grad ms | PyTorch | ratio | im2col + GEMM weight grad ms | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
paste -d' ' <(echo "$sw") <(echo "$pt") | awk '{
  printf "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", $1, $2, $7, $7 / $2, $3, $8, $8 / $3, $4, $9, $9 / $4, $5, $9 / $5
  sf += $2; pf += $7; sx += $3; px += $8; sg += $4; pg += $9; og += $5
} END {
  printf "| all five | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", sf, pf, pf / sf, sx, px, px / sx, sg, pg, pg / sg, og, pg / og
  printf "\nweight gradient: %.0f%% of sweep'"'"'s convolution time, %.0f%% of PyTorch'"'"'s\n", 100 * sg / (sf + sx + sg), 100 * pg / (pf + px + pg)
}'
