#!/usr/bin/env bash
# A classifier's linear layers at batch 32 (AlexNet's fc6 and fc7, VGG's fc6), forward and
# forward + backward, on sweep's flex engine (examples/bench_linear.rs) and PyTorch 2.9.0
# (scripts/bench/linear.py), ROUNDS rounds interleaved (default 3), medians in GFLOP/s with the
# ratio to PyTorch; the 1024^3 matmul row is the ceiling each reaches on this core.
# Usage: scripts/bench/linear.sh [THREADS] [ROUNDS]   (default 1 3). Makes the torch venv once.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-1}
rounds=${2:-3}
source scripts/bench/torch-venv.sh
cargo build --release --quiet --example bench_linear
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
for r in $(seq "$rounds"); do
  RAYON_NUM_THREADS=$threads ./target/release/examples/bench_linear > "$results/flex.$r"
  OMP_NUM_THREADS=$threads "$venv/bin/python" -c "import torch; torch.set_num_threads($threads); import runpy; runpy.run_path('scripts/bench/linear.py', run_name='__main__')" > "$results/torch.$r"
done
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $threads thread(s), batch 32, median of $rounds rounds, torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
echo
"$venv/bin/python" - "$results" "$rounds" <<'PY'
import statistics
import sys

folder, rounds = sys.argv[1], int(sys.argv[2])


def medians(engine):
    runs = [[l.split() for l in open(f"{folder}/{engine}.{r}")] for r in range(1, rounds + 1)]
    out = []
    for cells in zip(*runs):
        vals = [[c[i] for c in cells] for i in (3, 4)]
        out.append(cells[0][:3] + [v[0] if "n/a" in v else statistics.median(map(float, v)) for v in vals])
    return out


flex, torch = medians("flex"), medians("torch")
ratio = lambda a, b: "n/a" if "n/a" in (a, b) else f"{a / b:.2f}"
fmt = lambda v: v if v == "n/a" else f"{v:.1f}"
print("| layer | in × out | fwd GFLOP/s flex / PyTorch | fwd ratio | train GFLOP/s flex / PyTorch | train ratio |")
print("|---|---|---|---|---|---|")
for f, t in zip(flex, torch):
    assert f[0] == t[0], (f, t)
    print(f"| {f[0]} | {f[1]} × {f[2]} | {fmt(f[3])} / {fmt(t[3])} | {ratio(f[3], t[3])} | "
          f"{fmt(f[4])} / {fmt(t[4])} | {ratio(f[4], t[4])} |")
PY
