#!/usr/bin/env bash
# Parity with PyTorch: torchvision writes random weights and reference outputs for every
# backbone, the Rust parity test loads them by torchvision's key names and compares (one line
# per backbone with the measured error), and PyTorch loads, strictly, weights that sweep exported.
# The venv (torch, torchvision, safetensors from PyPI; about 5 GB with torch's CUDA wheels) is
# cached in $SWEEP_PARITY_VENV, default ~/.cache/sweep/parity-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SWEEP_PARITY_VENV:-$HOME/.cache/sweep/parity-venv}
if ! "$venv/bin/python" -c "import torch, torchvision, safetensors" 2>/dev/null; then
  echo "parity: creating $venv (torch, torchvision, safetensors)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check torch torchvision safetensors
fi
out=${SWEEP_PARITY_DIR:-target/parity}
mkdir -p "$out"
"$venv/bin/python" scripts/parity_gen.py "$out"
SWEEP_PARITY_DIR="$out" cargo test --release --test parity -- --ignored --nocapture --test-threads 1
"$venv/bin/python" scripts/parity_gen.py "$out" --check
