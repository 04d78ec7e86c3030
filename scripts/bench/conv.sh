#!/usr/bin/env bash
# Each convolution of the SPEC model (ResNet8-w32, batch 64) and a MobileNet-style 1x1 and
# depthwise pair, split into forward, input gradient and weight gradient, and the batch norm
# after each (training forward and backward): burn-flex's own ops, sweep's Flex kernels
# (src/model/kernels/flex) and PyTorch, one after the other on the same threads
# (examples/bench_conv.rs, scripts/bench/conv.py). Prints a Markdown table: milliseconds,
# speed against PyTorch (PyTorch ms / sweep ms: above 1, sweep is faster), GFLOP/s, and the
# share of this core's ceiling (a 1024^3 f32 GEMM, measured in the same run).
# Usage: scripts/bench/conv.sh [THREADS] (default 1); SHAPES=quickstart times the quickstart
# model's convolutions (resnet-mini, width 16, 16x16, batch 32) instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
source scripts/bench/torch-venv.sh
cargo build --release --quiet --example bench_conv
sw=$(RAYON_NUM_THREADS=$threads ./target/release/examples/bench_conv)
pt=$(OMP_NUM_THREADS=$threads "$venv/bin/python" -c "import torch; torch.set_num_threads($threads); import runpy; runpy.run_path('scripts/bench/conv.py', run_name='__main__')")
ceiling=$(echo "$sw" | awk '/^ceiling/ { print $2 }')
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $threads thread(s), torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)'), GEMM ceiling $ceiling GFLOP/s"
echo
echo "| shape | op | burn ms | sweep ms | PyTorch ms | sweep vs PyTorch | sweep GFLOP/s | PyTorch GFLOP/s | sweep % of ceiling |"
echo "|---|---|---|---|---|---|---|---|---|"
paste -d' ' <(echo "$sw" | grep -v '^ceiling') <(echo "$pt") | awk -v peak="$ceiling" '{
  if ($1 != $6 || $2 != $7) { print "mismatched lines: " $0 > "/dev/stderr"; exit 1 }
  f = $3; b = $4; s = $5; p = $8
  if (f > 0) printf "| %s | %s | %.3f | %.3f | %.3f | %.2f | %.1f | %.1f | %.0f%% |\n", $1, $2, b, s, p, p / s, f / s / 1e6, f / p / 1e6, 100 * f / s / 1e6 / peak
  else printf "| %s | %s | %.3f | %.3f | %.3f | %.2f | | | |\n", $1, $2, b, s, p, p / s
  tb[$2] += b; ts[$2] += s; tp[$2] += p
  # The bn-relu rows repeat the batch norm of the bn rows: left out of the total.
  if ($2 !~ /^bn-relu/) { TB += b; TS += s; TP += p }
} END {
  n = split("forward input-grad weight-grad bn-forward bn-backward bn-relu-forward bn-relu-backward", ops, " ")
  for (i = 1; i <= n; i++) { o = ops[i]; printf "| all | %s | %.3f | %.3f | %.3f | %.2f | | | |\n", o, tb[o], ts[o], tp[o], tp[o] / ts[o] }
  printf "| all | every op | %.3f | %.3f | %.3f | %.2f | | | |\n", TB, TS, TP, TP / TS
}'
