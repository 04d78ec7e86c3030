#!/usr/bin/env bash
# Parity with PyTorch: torchvision writes random weights and reference outputs for every
# backbone, the Rust parity test loads them by torchvision's key names and compares (one line
# per backbone with the measured error), and PyTorch loads, strictly, weights that sweep exported.
# The venv (PyTorch 2.9.0, torchvision 0.24.0: scripts/bench/torch-venv.sh) is made once.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench/torch-venv.sh
out=${SWEEP_PARITY_DIR:-target/parity}
mkdir -p "$out"
"$venv/bin/python" scripts/parity_gen.py "$out"
SWEEP_PARITY_DIR="$out" cargo test --release --test parity -- --ignored --nocapture --test-threads 1
"$venv/bin/python" scripts/parity_gen.py "$out" --check
