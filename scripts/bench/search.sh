#!/usr/bin/env bash
# Search samplers (issue 22): sweep's TPE and random search beside Optuna's TPESampler and
# RandomSampler on Branin, Hartmann-6 and Branin + N(0, 1) noise, 20 seeds, best value after
# 25/50/100 trials, with Welch t-test p-values. About 2-3 minutes on 2 cores.
# Usage: scripts/bench/search.sh [SEEDS]. $SWEEP_OPTUNA_VENV names another virtual environment
# (default ~/.cache/sweep/optuna-venv, made here with Optuna 5.0.0, numpy and scipy if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-20}
optuna_version=5.0.0
venv=${SWEEP_OPTUNA_VENV:-$HOME/.cache/sweep/optuna-venv}
if ! "$venv/bin/python" -c "import optuna, numpy, scipy; assert optuna.__version__ == '$optuna_version'" 2>/dev/null; then
  echo "creating $venv (optuna $optuna_version, numpy, scipy from PyPI)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "optuna==$optuna_version" numpy scipy
fi
rust=$(mktemp); py=$(mktemp)
trap 'rm -f "$rust" "$py"' EXIT
cargo run --release --quiet --example bench_search -- --seeds "$seeds" > "$rust"
"$venv/bin/python" scripts/bench/search.py run --seeds "$seeds" --jobs 2 > "$py"
echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), optuna $optuna_version, $seeds seeds"
grep '^# sweep:' "$rust"
echo
"$venv/bin/python" scripts/bench/search.py compare "$rust" "$py"
