#!/usr/bin/env bash
# Renders the report of a results folder and photographs its page in headless Chromium, as a
# reader would see it. Usage: scripts/report-screenshot.sh [RESULTS_DIR] [OUT_PNG]
# (default results/quickstart and docs/quickstart-report.png; needs `apt-get install chromium`).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-results/quickstart}
out=${2:-docs/quickstart-report.png}
cargo run --release --quiet -- report "$dir"
mkdir -p "$(dirname "$out")"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" \
  --screenshot="$out" --window-size=1200,1500 "file://$(realpath "$dir")/report/index.html" 2>/dev/null
echo "screenshot: $out"
