# Sourced by the parity, benchmark, reference and LibTorch scripts: sets $venv to a virtual
# environment with PyTorch 2.9.0 (the version the `tch` feature's LibTorch must be), torchvision
# 0.24.0, safetensors and scipy from PyPI; made once, about 6 GB with torch's CUDA wheels.
# $SWEEP_TORCH_VENV (or the older $SWEEP_PARITY_VENV) names another; default ~/.cache/sweep/tch-venv.
venv=${SWEEP_TORCH_VENV:-${SWEEP_PARITY_VENV:-$HOME/.cache/sweep/tch-venv}}
if ! "$venv/bin/python" -c "import torch, torchvision, safetensors, scipy; assert torch.__version__.startswith('2.9.0')" 2>/dev/null; then
  echo "creating $venv (torch 2.9.0, torchvision, safetensors, scipy from PyPI)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check torch==2.9.0 torchvision==0.24.0 safetensors scipy
fi
