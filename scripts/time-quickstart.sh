#!/usr/bin/env bash
# Measures the quickstart end to end (source stage included, cache cleared) and prints the
# wall time and the mean test accuracy per cell. Usage: scripts/time-quickstart.sh [extra sweep args]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s%N)
./target/release/sweep run experiments/quickstart.toml --out "$out" --quiet "$@"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'quickstart wall time: %d.%03d s on %s cores (%s)\n' $((ms / 1000)) $((ms % 1000)) "$(nproc)" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
