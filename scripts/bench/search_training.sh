#!/usr/bin/env bash
# Search on real training (issue 22): tune lr, backbone_lr_mult and weight_decay of the
# quickstart's fine-tune at 5 labels per class with sweep's random search, TPE and TPE+ASHA,
# and with Optuna's TPESampler driving the same training (each trial one `sweep run`), over
# several search seeds; prints best validation accuracy against training epochs spent.
# Usage: scripts/bench/search_training.sh [SEEDS] [TRIALS] (default 3 and 30; ~20 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-3}
trials=${2:-30}
venv=${SWEEP_OPTUNA_VENV:-$HOME/.cache/sweep/optuna-venv}
[ -x "$venv/bin/python" ] || scripts/bench/search.sh 1 > /dev/null  # creates the venv
cargo build --release --quiet
sweep=$PWD/target/release/sweep
out=${SWEEP_BENCH_DIR:-target/bench-search}
rm -rf "$out"; mkdir -p "$out"
cache=$PWD/$out/cache
start=$(date +%s)
for seed in $(seq 0 $((seeds - 1))); do
  for method in random tpe tpe-asha; do
    python3 scripts/bench/search_training.py make "$out/$method-$seed.toml" "$method" "$seed" "$trials"
    "$sweep" run "$out/$method-$seed.toml" --out "$out/$method-$seed" --cache "$cache" --jobs 2 --quiet > /dev/null
  done
done
echo "sweep searches: $(( $(date +%s) - start )) s" >&2
start=$(date +%s)
for seed in $(seq 0 $((seeds - 1))); do
  "$venv/bin/python" scripts/bench/search_training.py optuna "$out/optuna-tpe-$seed" "$seed" "$trials" "$sweep" "$cache" &
  if (( seed % 2 == 1 )); then wait; fi
done
wait
echo "optuna studies: $(( $(date +%s) - start )) s" >&2
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $seeds search seeds x $trials trials, 1 run seed"
python3 scripts/bench/search_training.py summary "$out"/random-[0-9] "$out"/tpe-[0-9] "$out"/tpe-asha-[0-9] "$out"/optuna-tpe-[0-9]
