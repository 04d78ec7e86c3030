#!/usr/bin/env bash
# The reference micro-benchmark (../shared/bench/SPEC.md) on sweep's engines, flex and LibTorch
# (`--features tch`), and on PyTorch 2.9.0 (the libtorch tch links), on the same threads: ROUNDS
# rounds (default 3), each running flex, LibTorch and PyTorch back to back; prints the median of
# each as a Markdown table with the ratios to PyTorch.
# Usage: scripts/bench/step.sh [THREADS] [ROUNDS]   (default 1 3). Makes the torch venv once.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
rounds=${2:-3}
source scripts/bench/torch-venv.sh
LIBTORCH_USE_PYTORCH=1 PATH="$venv/bin:$PATH" cargo build --release --quiet --features tch --example bench_step
results=$(mktemp)
for _ in $(seq "$rounds"); do
  for device in cpu tch; do
    echo "$device $(RAYON_NUM_THREADS=$threads ./target/release/examples/bench_step $device)" >> "$results"
  done
  echo "torch $(OMP_NUM_THREADS=$threads "$venv/bin/python" -c "import torch; torch.set_num_threads($threads); import runpy; runpy.run_path('scripts/bench/step.py', run_name='__main__')")" >> "$results"
done
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $threads thread(s), median of $rounds rounds, torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
echo
"$venv/bin/python" - "$results" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    name, *vals = line.split()
    rows.setdefault(name, []).append([float(v) for v in vals])
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
names = ["train (batch 64, Adam)", "infer (batch 256)", "head-only (backbone forward each step)",
         "head-only as sweep runs it (feature cache)"]
print("| workload | flex img/s | LibTorch img/s | PyTorch img/s | flex / PyTorch | LibTorch / PyTorch |")
print("|---|---|---|---|---|---|")
for i, n in enumerate(names):
    p = med["torch"][min(i, 2)]
    f, t = med["cpu"][i], med["tch"][i]
    print(f"| {n} | {f:.1f} | {t:.1f} | {p:.1f} | {f / p:.2f} | {t / p:.2f} |")
PY
rm -f "$results"
