#!/usr/bin/env bash
# End to end: the quickstart grid run by `sweep` on flex and on LibTorch (`--device tch`, a
# `--features tch` build; empty results folder each) beside scripts/bench/quickstart_torch.py, the
# same grid as a plain PyTorch 2.9.0 script; prints the wall times, the ratios, and each one's
# peak memory (max RSS). Makes the torch venv once.
# Usage: scripts/bench/sweep.sh [extra sweep run args, e.g. --jobs 2 --threads 1]
# ENGINES=cpu leaves LibTorch out (no `--features tch` build); default "cpu tch".
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/torch-venv.sh
engines=${ENGINES:-cpu tch}
case " $engines " in
  *" tch "*) LIBTORCH_USE_PYTORCH=1 PATH="$venv/bin:$PATH" cargo build --release --quiet --features tch ;;
  *) cargo build --release --quiet ;;
esac
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
tw=n/a; tm=n/a
case " $engines " in
  *" tch "*) read -r tw tm < <(measure ./target/release/sweep run experiments/quickstart.toml --out "$out/t" --quiet --device tch "$@") ;;
esac
read -r pw pm < <(measure "$venv/bin/python" scripts/bench/quickstart_torch.py)
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
echo
echo "| | wall time | peak RSS |"
echo "|---|---|---|"
echo "| sweep run experiments/quickstart.toml $* | $sw s | $sm MiB |"
[ "$tw" = n/a ] || echo "| sweep run experiments/quickstart.toml --device tch $* | $tw s | $tm MiB |"
echo "| scripts/bench/quickstart_torch.py | $pw s | $pm MiB |"
awk -v s="$sw" -v t="$tw" -v p="$pw" 'BEGIN { printf "\nagainst the PyTorch script, end to end: sweep on flex %.2fx", p / s; if (t != "n/a") printf ", on LibTorch %.2fx", p / t; print " as fast" }'
