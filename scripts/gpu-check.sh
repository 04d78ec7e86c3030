#!/usr/bin/env bash
# One prepared GPU check, for a machine with an NVIDIA GPU (network not needed once the crates
# are fetched: run `cargo fetch` beforehand, or vendor them with `cargo vendor`):
#  1. builds sweep with `--features vulkan` (and `--features cuda` when crates.io is reachable,
#     since burn-cuda's build downloads an LLVM bundle);
#  2. runs the quickstart on the GPU and on the CPU (same seeds) and compares the mean test
#     accuracy of every cell: GPU kernels round differently, so single runs drift apart over 30
#     epochs; the check allows 0.05 per cell mean (3 seeds) and reports the largest gap;
#  3. runs the step benchmark (../shared/bench/SPEC.md) on the GPU, beside PyTorch on CUDA when a
#     CUDA-enabled torch is importable (scripts/bench/torch-venv.sh's, ~/.cache/sweep/tch-venv).
# Writes everything under ${OUT:-gpu-check}/ and prints a summary. Meant to finish in under 8
# minutes on one GPU and 16 cores.
#
# The Vulkan loader (libvulkan.so.1) comes from Debian's libvulkan1. Without network, bring the
# .deb along and unpack it beside the build: `dpkg-deb -x libvulkan1_*.deb vk/`; this script adds
# vk/usr/lib/x86_64-linux-gnu to LD_LIBRARY_PATH. NVIDIA's driver is found through its ICD file
# (nvidia_icd.json); where the container lacks one but has libGLX_nvidia.so.0, the script writes
# one and points VK_ICD_FILENAMES at it.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check}
mkdir -p "$out"
log() { echo "gpu-check: $*" | tee -a "$out/summary.txt"; }
: >"$out/summary.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$out/summary.txt"

[ -d vk/usr/lib/x86_64-linux-gnu ] && export LD_LIBRARY_PATH="$PWD/vk/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
if ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1 &&
  ldconfig -p | grep -q libGLX_nvidia.so.0; then
  cat >"$out/nvidia_icd.json" <<'JSON'
{ "file_format_version": "1.0.0", "ICD": { "library_path": "libGLX_nvidia.so.0", "api_version": "1.3" } }
JSON
  export VK_ICD_FILENAMES="$PWD/$out/nvidia_icd.json"
  log "wrote an NVIDIA ICD file: $VK_ICD_FILENAMES"
fi

offline=""
cargo fetch --quiet >/dev/null 2>&1 || offline="--offline"
start=$(date +%s)
if ! cargo build --release $offline --features vulkan --bin sweep --example bench_step >"$out/build-vulkan.log" 2>&1; then
  log "FAILED: cargo build --features vulkan (see $out/build-vulkan.log)"
  exit 1
fi
log "built --features vulkan in $(($(date +%s) - start)) s"
if [ -z "$offline" ]; then
  if cargo build --release --features cuda --target-dir target/cuda --bin sweep >"$out/build-cuda.log" 2>&1; then
    log "built --features cuda"
    cuda_bin=target/cuda/release/sweep
  else
    log "cargo build --features cuda failed (see $out/build-cuda.log)"
  fi
else
  log "no network: skipped --features cuda (its build downloads LLVM)"
fi

t0=$(date +%s)
./target/release/sweep run experiments/quickstart.toml --device vulkan --jobs 4 --out "$out/gpu" --quiet >"$out/gpu.txt" 2>"$out/gpu.err"
gpu_rc=$?
log "quickstart on vulkan: exit $gpu_rc, $(($(date +%s) - t0)) s"
t0=$(date +%s)
./target/release/sweep run experiments/quickstart.toml --jobs "$(nproc)" --out "$out/cpu" --quiet >"$out/cpu.txt" 2>"$out/cpu.err"
log "quickstart on cpu: exit $?, $(($(date +%s) - t0)) s"
if [ -n "${cuda_bin:-}" ]; then
  t0=$(date +%s)
  $cuda_bin run experiments/quickstart.toml --device cuda --jobs 4 --out "$out/cuda" --quiet >"$out/cuda.txt" 2>"$out/cuda.err"
  log "quickstart on cuda: exit $?, $(($(date +%s) - t0)) s"
fi
if [ "$gpu_rc" -eq 0 ]; then
  python3 - "$out/cpu/runs.csv" "$out/gpu/runs.csv" <<'PY' | tee -a "$out/summary.txt"
import csv, sys
from collections import defaultdict
def cells(path):
    acc = defaultdict(list)
    for r in csv.DictReader(open(path)):
        acc[(r["labels_per_class"], r["strategy"], r["freeze_depth"])].append(float(r["test_accuracy"] or "nan"))
    return {k: sum(v) / len(v) for k, v in acc.items()}
cpu, gpu = cells(sys.argv[1]), cells(sys.argv[2])
worst = max(abs(cpu[k] - gpu[k]) for k in cpu)
for k in sorted(cpu):
    print(f"  {' '.join(k):32} cpu {cpu[k]:.4f}  gpu {gpu[k]:.4f}  diff {gpu[k] - cpu[k]:+.4f}")
print(f"gpu-check: largest cell difference {worst:.4f} (tolerance 0.05): {'OK' if worst <= 0.05 else 'TOO LARGE'}")
PY
fi

read -r st si sh sc < <(./target/release/examples/bench_step vulkan 2>"$out/bench.err") &&
  log "step on vulkan: train $st, infer $si, head-only $sh img/s"
venv=${SWEEP_TORCH_VENV:-${SWEEP_PARITY_VENV:-$HOME/.cache/sweep/tch-venv}}
if "$venv/bin/python" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  read -r pt pi ph < <("$venv/bin/python" scripts/bench/step.py cuda)
  log "step on PyTorch CUDA: train $pt, infer $pi, head-only $ph img/s"
  awk -v a="$st" -v b="$pt" -v c="$si" -v d="$pi" 'BEGIN { printf "gpu-check: sweep-vulkan / PyTorch-CUDA: train %.2f, infer %.2f\n", a / b, c / d }' | tee -a "$out/summary.txt"
else
  log "no CUDA-enabled torch in $venv: PyTorch side skipped"
fi
log "total $(($(date +%s) - start)) s"
