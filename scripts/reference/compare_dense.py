"""Compares sweep's detection (or segmentation) runs with the PyTorch reference learner's, cell by
cell (strategy x labelled images), over run seeds: mean of each, their difference with a 95%
interval, and Welch's t-test, Bonferroni-corrected over the cells. Exits 1 on a significant
difference.

Usage: compare_dense.py SWEEP_RUNS.csv REFERENCE.csv [--metric test_ap50] [--alpha 0.05]
"""

import argparse
import csv
import statistics
import sys
from collections import defaultdict

from scipy import stats


def cells(path, metric):
    out = defaultdict(dict)
    for row in csv.DictReader(open(path)):
        if row.get("status", "ok") != "ok" or not row.get(metric):
            continue
        out[(row["strategy"], int(row["labelled_images"]))][int(row["seed"])] = float(row[metric])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("sweep")
    p.add_argument("reference")
    p.add_argument("--metric", default="test_ap50")
    p.add_argument("--alpha", type=float, default=0.05)
    a = p.parse_args()
    ours, theirs = cells(a.sweep, a.metric), cells(a.reference, a.metric)
    common = sorted(set(ours) & set(theirs))
    if not common:
        sys.exit("no cell in both files")
    worst = []
    print(f"{'cell':<22} {'sweep':>16} {'reference':>16} {'difference (95% CI)':>28}  p (Bonferroni x{len(common)})")
    for cell in common:
        x, y = list(ours[cell].values()), list(theirs[cell].values())
        mx, my = statistics.mean(x), statistics.mean(y)
        vx, vy = statistics.variance(x) / len(x), statistics.variance(y) / len(y)
        se = (vx + vy) ** 0.5
        df = (vx + vy) ** 2 / (vx ** 2 / (len(x) - 1) + vy ** 2 / (len(y) - 1)) if se > 0 else 1
        t = (mx - my) / se if se > 0 else 0.0
        pv = min(1.0, 2 * stats.t.sf(abs(t), df) * len(common))
        half = stats.t.ppf(0.975, df) * se
        flag = "DIFFERENT" if pv < a.alpha else "same"
        name = f"{cell[0]} {cell[1]}"
        print(f"{name:<22} {mx:.4f} ± {statistics.stdev(x):.4f} {my:.4f} ± {statistics.stdev(y):.4f} "
              f"{mx - my:+.4f} ({mx - my - half:+.4f}, {mx - my + half:+.4f})  {pv:.3f} {flag}"
              f"  [{len(x)} vs {len(y)} seeds]")
        if pv < a.alpha:
            worst.append(name)
    if worst:
        print(f"significant differences: {', '.join(worst)}")
        sys.exit(1)
    print("no cell differs significantly")


if __name__ == "__main__":
    main()
