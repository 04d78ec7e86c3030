#!/usr/bin/env bash
# The reference micro-benchmark (../shared/bench/SPEC.md) on sweep's engines, flex and LibTorch
# (`--features tch`), and on PyTorch 2.9.0 (the libtorch tch links), on the same threads: ROUNDS
# rounds (default 3), each running flex, LibTorch and PyTorch back to back; prints the median of
# each as a Markdown table with the ratios to PyTorch. `flex (burn)` is flex with burn's stock
# layers instead of sweep's kernels (src/model/kernels/flex), to show what the kernels give.
# Usage: scripts/bench/step.sh [THREADS] [ROUNDS]   (default 1 3). Makes the torch venv once.
# ENGINES="cpu cpu-burn" leaves LibTorch out (no `--features tch` build); default all three.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
rounds=${2:-3}
source scripts/bench/torch-venv.sh
engines=${ENGINES:-cpu cpu-burn tch}
case " $engines " in
  *" tch "*) LIBTORCH_USE_PYTORCH=1 PATH="$venv/bin:$PATH" cargo build --release --quiet --features tch --example bench_step ;;
  *) cargo build --release --quiet --example bench_step ;;
esac
results=$(mktemp)
for _ in $(seq "$rounds"); do
  for device in $engines; do
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
engines = [(k, t) for k, t in [("cpu", "flex"), ("cpu-burn", "flex (burn)"), ("tch", "LibTorch")] if k in med]
print("| workload | " + " | ".join(f"{t} img/s" for _, t in engines) + " | PyTorch img/s | "
      + " | ".join(f"{t} / PyTorch" for _, t in engines) + " |")
print("|---|" + "---|" * (2 * len(engines) + 1))
for i, n in enumerate(names):
    p = med["torch"][min(i, 2)]
    vals = [med[k][i] for k, _ in engines]
    print(f"| {n} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | {p:.1f} | "
          + " | ".join(f"{v / p:.2f}" for v in vals) + " |")
PY
rm -f "$results"
