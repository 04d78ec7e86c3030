#!/usr/bin/env bash
# End to end: the quickstart grid run by `sweep` (empty results folder, default --jobs) beside
# scripts/bench/quickstart_torch.py, the same grid as a plain PyTorch script; prints both wall
# times, the ratio, and each one's peak memory (max RSS). Installs torch into a cached venv.
# Usage: scripts/bench/sweep.sh [extra sweep run args]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/torch-venv.sh
cargo build --release --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Wall seconds and peak RSS (MiB) of a command.
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(f"{time.time() - t:.1f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")
PY
}
read -r sw sm < <(measure ./target/release/sweep run experiments/quickstart.toml --out "$out/q" --quiet "$@")
read -r pw pm < <(measure "$venv/bin/python" scripts/bench/quickstart_torch.py)
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
echo
echo "| | wall time | peak RSS |"
echo "|---|---|---|"
echo "| sweep run experiments/quickstart.toml $* | $sw s | $sm MiB |"
echo "| scripts/bench/quickstart_torch.py | $pw s | $pm MiB |"
awk -v s="$sw" -v p="$pw" 'BEGIN { printf "\nsweep is %.2fx faster end to end\n", p / s }'
