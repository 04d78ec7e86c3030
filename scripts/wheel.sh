#!/usr/bin/env bash
# Builds the `sweep` wheel (maturin, `bin` bindings: the Rust binary and the bundled datasets,
# no Python code) into target/wheels/, installs it into a fresh venv and checks the installed
# command: `sweep --version`, and `sweep plan` of the quickstart from another folder, which needs
# the datasets the wheel carries. maturin's venv is cached in ~/.cache/sweep/maturin-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=${SWEEP_MATURIN_VENV:-$HOME/.cache/sweep/maturin-venv}
if ! "$tools/bin/maturin" --version >/dev/null 2>&1; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.9,<2"
fi
rm -rf target/wheel-data target/wheels
mkdir -p target/wheel-data/data/share/sweep
cp -r data target/wheel-data/data/share/sweep/data
"$tools/bin/maturin" build --release -b bin -o target/wheels
wheel=$(ls target/wheels/*.whl)
echo "built $wheel ($(du -h "$wheel" | cut -f1))"
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
python3 -m venv "$check/venv"
"$check/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel"
cp experiments/quickstart.toml "$check/"
cd "$check"
"$check/venv/bin/sweep" --version
"$check/venv/bin/sweep" plan quickstart.toml | tail -3
test -d "$check/venv/share/sweep/data/uci-digits"
echo "wheel: installs and runs"
