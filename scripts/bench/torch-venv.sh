# Sourced by the benchmark and reference scripts: sets $venv to a virtual environment holding torch,
# torchvision, safetensors and scipy from PyPI ($SWEEP_PARITY_VENV, default ~/.cache/sweep/parity-venv), made once.
venv=${SWEEP_PARITY_VENV:-$HOME/.cache/sweep/parity-venv}
if ! "$venv/bin/python" -c "import torch, torchvision, safetensors, scipy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check torch torchvision safetensors scipy
fi
