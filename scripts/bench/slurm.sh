#!/usr/bin/env bash
# An experiment (default: the quickstart) through the local Slurm (`sweep submit`, one CPU per
# task, as many tasks at once as the node has CPUs) beside `sweep run` of the same file on the same
# machine (its default: one single-threaded run per core). Prints both wall times, their ratio,
# the overhead per Slurm task ((Slurm wall - local wall) x CPUs / tasks), the fixed cost of one
# `sweep run --only ID` process (start, preflight, ledger; measured on a finished run), and
# checks that runs.csv and epochs.csv agree bit for bit, seconds aside.
# Needs a Slurm answering sinfo: `scripts/slurm.sh up` (as root) brings up a one-node one.
# Usage: scripts/bench/slurm.sh [EXPERIMENT.toml]
set -euo pipefail
cd "$(dirname "$0")/../.."
exp=${1:-experiments/quickstart.toml}
sinfo -h >/dev/null 2>&1 || { echo "no Slurm answers sinfo: run scripts/slurm.sh up (as root) first" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/sweep
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
now() { date +%s.%N; }

t0=$(now)
"$bin" run "$exp" --out "$out/local" --quiet >/dev/null
t1=$(now)
"$bin" submit "$exp" --out "$out/slurm" --cpus-per-task 1 >/dev/null
ids=$(python3 -c "import json,sys; print(','.join(j['id'] for j in json.load(open(sys.argv[1]))))" "$out/slurm/slurm/jobs.json")
while [ -n "$(squeue -h -o %i -j "$ids")" ]; do sleep 0.2; done
t2=$(now)
# Each task's start and end as Slurm recorded them (whole seconds; kept MinJobAge after the end).
for j in ${ids//,/ }; do scontrol -o show job "$j" 2>/dev/null || true; done >"$out/jobs.txt"
id=$(sed -n 2p "$out/local/runs.csv" | cut -d, -f1)
t3=$(now)
"$bin" run "$exp" --out "$out/local" --only "$id" --quiet >/dev/null
t4=$(now)

python3 - "$out" "$t0" "$t1" "$t2" "$t3" "$t4" "$(nproc)" <<'PY'
import csv, json, sys
out, t0, t1, t2, t3, t4, cpus = sys.argv[1], *map(float, sys.argv[2:7]), int(sys.argv[7])
def rows(path):
    with open(path) as f:
        r = list(csv.reader(f))
    drop = r[0].index("seconds") if "seconds" in r[0] else None
    return [[c for i, c in enumerate(row) if i != drop] for row in r]
same = all(rows(f"{out}/local/{c}") == rows(f"{out}/slurm/{c}") for c in ("runs.csv", "epochs.csv"))
jobs = json.load(open(f"{out}/slurm/slurm/jobs.json"))
tasks = sum(j["runs"] or 1 for j in jobs)
local, slurm = t1 - t0, t2 - t1
print(f"cpu: {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}, {cpus} CPUs")
print(f"sweep run (local):      {local:7.1f} s")
print(f"sweep submit (Slurm):   {slurm:7.1f} s  ({slurm / local:.2f}x local), {tasks} tasks in {len(jobs)} jobs")
print(f"overhead per task:      {(slurm - local) * cpus / tasks:7.2f} s  ((Slurm - local) x {cpus} CPUs / {tasks} tasks)")
print(f"one `sweep run --only` process on a finished run: {t4 - t3:.2f} s")
# Where the Slurm time goes: inside the tasks (process start, data, training) or between them.
import re
from datetime import datetime
spans = []
for line in open(f"{out}/jobs.txt"):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    if f.get("StartTime", "Unknown") != "Unknown" and f.get("EndTime", "Unknown") != "Unknown":
        t = lambda k: datetime.strptime(f[k], "%Y-%m-%dT%H:%M:%S").timestamp()
        spans.append((t("StartTime"), t("EndTime")))
if spans:
    with open(f"{out}/slurm/runs.csv") as fh:
        run_s = sum(float(r["seconds"]) for r in csv.DictReader(fh))
    inside = sum(e - s for s, e in spans)
    print(f"tasks recorded by Slurm: {len(spans)}; their time {inside:.0f} s of which the runs' own "
          f"{run_s:.0f} s; {cpus} CPUs x wall {slurm:.0f} s = {cpus * slurm:.0f} CPU-s, so "
          f"{cpus * slurm - inside:.0f} CPU-s idle between tasks (scheduling, dependencies)")
print(f"runs.csv and epochs.csv equal (seconds aside): {same}")
sys.exit(0 if same else 1)
PY
