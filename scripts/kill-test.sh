#!/usr/bin/env bash
# Crash test at full scale: runs an experiment once without interruption (the reference), then
# again in a second folder that is `kill -9`ed at seeded random moments and resumed each time,
# and compares the final CSVs. Prints the kill points, how many runs each resume found finished,
# runs lost (a run finished before a kill but missing after it) and duplicates.
# Usage: scripts/kill-test.sh [experiment.toml] [kills] [seed] [max delay s]
# Defaults: experiments/quickstart.toml, 6 kills, seed 1, delays 0.3..70 s, log-uniform (the
# quickstart's source stage takes about 40 s beside the scratch runs, so some kills fall before
# anything finished, some inside it, some after; for many kills use a grid large enough that they
# do not all come after the end). Exits non-zero on any difference. Takes
# about 2x the experiment's wall time. Resumes of a killed source stage are counted from its
# checkpoints ("resuming after epoch N").
set -euo pipefail
cd "$(dirname "$0")/.."
exp=${1:-experiments/quickstart.toml}
kills=${2:-6}
RANDOM=${3:-1} # bash's RANDOM, seeded: the same kill points every time
max_delay=${4:-70}
cargo build --release --quiet
bin=./target/release/sweep
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

t0=$(date +%s)
$bin run "$exp" --out "$work/reference" --quiet
echo "reference: $(($(date +%s) - t0)) s"

# Finished runs are the folders holding outcome.json (temporary folders have none).
finished() { find "$work/killed/runs" -name outcome.json 2>/dev/null | wc -l; }
lost=0
prev=0
t0=$(date +%s)
for k in $(seq 1 "$kills"); do
  # Log-uniform from 0.3 s to max_delay: many kills early in a restart (loading, the first
  # epoch), a few long enough to pass a source stage in one go.
  delay=$(awk -v u="$RANDOM" -v m="$max_delay" 'BEGIN { printf "%.1f", 0.3 * (m / 0.3) ^ (u / 32767) }')
  $bin run "$exp" --out "$work/killed" 2>"$work/log$k" &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  now=$(finished)
  # The resume's own count of finished runs must match what the folder holds.
  said=$(grep -o 'sweep: [0-9]* of' "$work/log$k" | grep -o '[0-9]*' || echo 0)
  [ "$now" -ge "$prev" ] || lost=$((lost + prev - now))
  printf 'kill %d after %4s s: %2d runs finished before, %2d after (resume saw %s)\n' \
    "$k" "$delay" "$prev" "$now" "$said"
  [ "$said" = "$prev" ] || { echo "resume saw $said finished runs, folder held $prev"; lost=$((lost + 1)); }
  prev=$now
done
$bin run "$exp" --out "$work/killed" 2>"$work/final"
echo "killed + resumed: $(($(date +%s) - t0)) s; final resume: $(grep -o 'sweep: [0-9]* of [0-9]*' "$work/final" || echo 'nothing finished before')"

drop_seconds() {
  python3 -c 'import csv,sys
r=list(csv.reader(open(sys.argv[1])))
i=r[0].index("seconds")
for row in r: print(",".join(c for j,c in enumerate(row) if j!=i))' "$1"
}
ref_runs=$(($(wc -l <"$work/reference/runs.csv") - 1))
got_runs=$(($(wc -l <"$work/killed/runs.csv") - 1))
ids=$(cut -d, -f1 "$work/killed/runs.csv" | tail -n +2)
dups=$(($(echo "$ids" | wc -l) - $(echo "$ids" | sort -u | wc -l)))
dirs=$(finished)
dups=$((dups + dirs - got_runs))
missing=$(comm -23 <(cut -d, -f1 "$work/reference/runs.csv" | tail -n +2 | sort) <(echo "$ids" | sort) | wc -l)
lost=$((lost + missing))
same_runs=no; same_epochs=no
cmp -s <(drop_seconds "$work/reference/runs.csv") <(drop_seconds "$work/killed/runs.csv") && same_runs=yes
cmp -s "$work/reference/epochs.csv" "$work/killed/epochs.csv" && same_epochs=yes
trained=$(cat "$work"/log* "$work/final" | grep -c 'source .*: training on' || true)
reused=$(cat "$work"/log* "$work/final" | grep -c 'source .*: reusing' || true)
resumed=$(cat "$work"/log* "$work/final" | grep -c 'source .*: resuming after epoch' || true)
echo "source stage: started $trained time(s), $resumed of them from a checkpoint; reused finished $reused time(s)"
echo "kill points: $kills; runs: $got_runs of $ref_runs; lost: $lost; duplicates: $dups"
echo "runs.csv identical to the reference (seconds column aside): $same_runs"
echo "epochs.csv identical to the reference (bitwise): $same_epochs"
[ "$lost" -eq 0 ] && [ "$dups" -eq 0 ] && [ "$same_runs" = yes ] && [ "$same_epochs" = yes ]
