#!/usr/bin/env bash
# Forward and training images/s per backbone at 32x32 and 64x64, batch 32, for sweep on flex
# (its kernels), on flex with burn's stock layers (`flex (burn)`), on LibTorch (`--features tch`)
# and for PyTorch 2.9.0, one after the other on the same threads; prints a Markdown table with
# the ratios to PyTorch. ROUNDS=N (default 1) repeats the whole interleaved sequence N times and
# reports each figure's median: on a shared machine one round's figures can swing by a third.
# Usage: scripts/bench/backbones.sh [THREADS] [NAME...]   (default 1 thread, every backbone)
# ENGINES="cpu cpu-burn" leaves LibTorch out (no `--features tch` build); default all three.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
shift || true
source scripts/bench/torch-venv.sh
engines=${ENGINES:-cpu cpu-burn tch}
case " $engines " in
  *" tch "*) LIBTORCH_USE_PYTORCH=1 PATH="$venv/bin:$PATH" cargo build --release --quiet --features tch --example bench_backbones ;;
  *) cargo build --release --quiet --example bench_backbones ;;
esac
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
# Every backbone with a torchvision twin (backbones.py's NAMES) unless names are given: the
# EfficientNet-Lite ones have none.
if [ $# -eq 0 ]; then
  set -- $("$venv/bin/python" -c "import sys; sys.path.insert(0, 'scripts/bench'); import backbones; print(' '.join(backbones.NAMES))")
fi
rounds=${ROUNDS:-1}
for round in $(seq "$rounds"); do
  for size in 32 64; do
    for engine in $engines; do
      RAYON_NUM_THREADS=$threads BENCH_DEVICE=$engine ./target/release/examples/bench_backbones "$size" "$@" >> "$results/$engine.$round"
    done
    OMP_NUM_THREADS=$threads "$venv/bin/python" -c "import torch; torch.set_num_threads($threads); import runpy, sys; sys.argv=['b', '$size'] + sys.argv[1:]; runpy.run_path('scripts/bench/backbones.py', run_name='__main__')" "$@" >> "$results/torch.$round"
  done
done
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $threads thread(s), batch 32, torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)'), median of $rounds round(s)"
echo
"$venv/bin/python" - "$results" "$rounds" $engines <<'PY'
import statistics
import sys
folder, rounds, engines = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
title = {"cpu": "flex", "cpu-burn": "flex (burn)", "tch": "LibTorch"}


def median_rows(engine):
    """Each row's figures as the median over the rounds (`n/a` stays `n/a`)."""
    per_round = [[l.split() for l in open(f"{folder}/{engine}.{r}")] for r in range(1, rounds + 1)]
    out = []
    for cells in zip(*per_round):
        row = list(cells[0][:2])
        for col in (2, 3):
            vals = [c[col] for c in cells]
            row.append("n/a" if "n/a" in vals else f"{statistics.median(map(float, vals)):.1f}")
        out.append(row)
    return out


rows = {e: median_rows(e) for e in engines + ["torch"]}
names = " / ".join(title[e] for e in engines)
print(f"| backbone | size | fwd img/s {names} / PyTorch | fwd ratio {names} | train img/s {names} / PyTorch | train ratio {names} |")
print("|---|---|---|---|---|---|")
ratio = lambda a, b: "n/a" if "n/a" in (a, b) else f"{float(a) / float(b):.2f}"
for i, t in enumerate(rows["torch"]):
    cells = [rows[e][i] for e in engines]
    if any(c[:2] != t[:2] for c in cells):
        sys.exit(f"rows out of step: {[c[:2] for c in cells]} vs PyTorch's {t[:2]}")
    fwd = " / ".join(c[2] for c in cells + [t])
    train = " / ".join(c[3] for c in cells + [t])
    print(f"| {t[0]} | {t[1]} | {fwd} | {' / '.join(ratio(c[2], t[2]) for c in cells)} | {train} | "
          f"{' / '.join(ratio(c[3], t[3]) for c in cells)} |")
PY
