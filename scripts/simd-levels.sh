#!/usr/bin/env bash
# What the SIMD level does to results: trains a tiny experiment natively and under QEMU's user-mode
# emulation of an AVX2-only CPU (`qemu-x86_64 -cpu Haswell`, Debian's qemu-user), compares each
# run's SIMD level and final-weight hash, then runs `sweep verify` under the emulated CPU on the
# native results (it should say "reproduced within float tolerance (platform differs: SIMD ...)").
# Usage: scripts/simd-levels.sh [BINARY]   (default target/release/sweep; about 2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/sweep}
[ -x "$bin" ] || cargo build --release --quiet
if ! command -v qemu-x86_64 >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq qemu-user >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/tiny.toml" <<'TOML'
[experiment]
name = "simd"
seeds = [0, 1, 2]

[target]
dataset = "uci-digits"
labels_per_class = 10

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = 10
lr = 0.01
patience = 0
TOML
emulated() { qemu-x86_64 -cpu Haswell "$@" 2> >(grep -v 'warning: TCG' >&2); }
"$bin" run "$work/tiny.toml" --out "$work/native" --quiet --jobs 1 --threads 1 >/dev/null
emulated "$bin" run "$work/tiny.toml" --out "$work/avx2" --quiet --jobs 1 --threads 1 >/dev/null
same=0; total=0
for f in "$work"/native/runs/*/outcome.json; do
  id=$(basename "$(dirname "$f")")
  read -r level hash acc < <(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); m=o["manifest"]; print(m["simd"].split()[0], m["weights_sha256"][:16], o["scores"]["test_accuracy"])' "$f")
  read -r level2 hash2 acc2 < <(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); m=o["manifest"]; print(m["simd"].split()[0], m["weights_sha256"][:16], o["scores"]["test_accuracy"])' "$work/avx2/runs/$id/outcome.json")
  total=$((total + 1)); [ "$hash" = "$hash2" ] && same=$((same + 1))
  echo "run $id: native $level $hash acc $acc | emulated $level2 $hash2 acc $acc2"
done
echo "weights bit-identical in $same of $total runs"
emulated "$bin" verify "$work/native" --all 2>/dev/null | tail -n +2
