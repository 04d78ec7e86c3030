"""Compares every cell of a sweep runs.csv with the PyTorch reference learner's CSV
(scripts/reference/quickstart_ref.py): per (labels per class, setting), each side's mean test
accuracy with its standard error, their difference with a 95% interval, and a t-test.

The runs of a transferred cell are a crossed design, source-stage seeds x run seeds: runs that
share a source stage share its backbone, and runs that share a run seed share its label draw
(which images are labelled), on each side. Treating them as independent runs understates the
noise several times over (the source-to-source spread of a linear probe is about 0.1), so each
side's cell mean gets the standard error of a two-way random-effects ANOVA:
Var(mean) = (MS_source + MS_seed - MS_residual) / (S R), with Satterthwaite degrees of freedom;
scratch cells (no source stage) use the plain standard error of their runs. The two sides are
then compared as in Welch's test (Welch-Satterthwaite degrees of freedom). A cell differs when its
p-value is below alpha / cells (Bonferroni, alpha = 0.05), so a grid does not fail by chance one
time in a few. Exits 1 when any cell differs, 2 on bad input.

    python scripts/reference/compare.py results/ref/runs.csv ref.csv [--alpha 0.05]

The second file may also be a sweep runs.csv (another backend's run of the same grid: scripts/tch.sh).
"""

import argparse
import csv
import sys
from collections import defaultdict

from scipy import stats


def setting_of(row):
    s = row["strategy"]
    return f"finetune-{row['freeze_depth']}" if s == "finetune" else s


def read_sweep(path):
    cells = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] != "ok":
                sys.exit(f"compare: {path}: run {row['run_id']} is {row['status']}; "
                         "a failed run has no accuracy to compare")
            src = row.get("source.seed", "")
            cells[(int(row["labels_per_class"]), setting_of(row))].append(
                (src if src not in ("", "-") else None, row["seed"], float(row["test_accuracy"])))
    return cells


def read_reference(path):
    cells = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            src = row["source_seed"]
            cells[(int(row["labels_per_class"]), row["setting"])].append(
                (src or None, row["seed"], float(row["test_accuracy"])))
    return cells


def mean_and_variance(runs):
    """(mean, variance of the mean, its degrees of freedom, source seeds, run seeds) of a cell."""
    sources = sorted({r[0] for r in runs if r[0] is not None})
    seeds = sorted({r[1] for r in runs})
    y = [r[2] for r in runs]
    m = sum(y) / len(y)
    if not sources or len(sources) == 1:
        var = sum((v - m) ** 2 for v in y) / (len(y) - 1)
        return m, var / len(y), len(y) - 1, len(sources), len(seeds)
    table = {(r[0], r[1]): r[2] for r in runs}
    if len(table) != len(sources) * len(seeds) or len(table) != len(runs):
        sys.exit("compare: a transferred cell must hold one run per (source seed, run seed)")
    S, R = len(sources), len(seeds)
    row = {s: sum(table[s, k] for k in seeds) / R for s in sources}
    col = {k: sum(table[s, k] for s in sources) / S for k in seeds}
    ms_src = R * sum((row[s] - m) ** 2 for s in sources) / (S - 1)
    ms_seed = S * sum((col[k] - m) ** 2 for k in seeds) / (R - 1)
    df_res = (S - 1) * (R - 1)
    ms_res = sum((table[s, k] - row[s] - col[k] + m) ** 2
                 for s in sources for k in seeds) / df_res
    # A negative estimate of a component is taken as zero: the variance is at least the
    # residual's, and at least each main effect's.
    combo = max(ms_src + ms_seed - ms_res, ms_src, ms_seed)
    terms = [(ms_src, S - 1), (ms_seed, R - 1), (ms_res, df_res)]
    if combo == ms_src + ms_seed - ms_res:
        den = sum(ms ** 2 / df for ms, df in terms)
    else:
        den = max(terms[:2])[0] ** 2 / max(terms[:2])[1]
    return m, combo / (S * R), combo ** 2 / den, S, R


def compare(a, b):
    """(difference of means, half-width of its 95% interval, p-value, side summaries)."""
    (m1, v1, d1, *n1), (m2, v2, d2, *n2) = mean_and_variance(a), mean_and_variance(b)
    se2 = v1 + v2
    if se2 == 0:
        return m1 - m2, 0.0, 1.0 if m1 == m2 else 0.0, (m1, n1), (m2, n2)
    df = se2 ** 2 / (v1 ** 2 / d1 + v2 ** 2 / d2)
    t = (m1 - m2) / se2 ** 0.5
    p = 2 * stats.t.sf(abs(t), df)
    return m1 - m2, stats.t.ppf(0.975, df) * se2 ** 0.5, p, (m1, n1), (m2, n2)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sweep_csv")
    p.add_argument("reference_csv")
    p.add_argument("--alpha", type=float, default=0.05)
    args = p.parse_args()
    with open(args.reference_csv, newline="") as f:
        theirs = read_sweep if "run_id" in next(csv.reader(f), []) else read_reference
    ours, ref = read_sweep(args.sweep_csv), theirs(args.reference_csv)
    keys = sorted(set(ours) | set(ref))
    missing = [k for k in keys if len(ours.get(k, [])) < 2 or len(ref.get(k, [])) < 2]
    if missing:
        sys.exit(f"compare: cells with fewer than 2 runs on a side: {missing}")
    level = args.alpha / len(keys)
    print(f"{'labels':>6}  {'setting':<13} {'sweep (SxR)':>17} {'reference (SxR)':>17} "
          f"{'difference (95% CI)':>21} {'p':>8}")
    differ = 0
    for k in keys:
        diff, half, pval, (m1, n1), (m2, n2) = compare(ours[k], ref[k])
        flag = pval < level
        differ += flag
        size = lambda n: f"{n[0]}x{n[1]}" if n[0] else f"{n[1]} runs"
        print(f"{k[0]:>6}  {k[1]:<13} {m1:8.4f} ({size(n1):>6}) {m2:8.4f} ({size(n2):>6}) "
              f"{diff:+8.4f} +- {half:.4f} {pval:8.4f}{'  DIFFERS' if flag else ''}")
    print(f"crossed random-effects standard errors, Welch-Satterthwaite t-test per cell, "
          f"Bonferroni level {args.alpha} / {len(keys)} = {level:.4f}: "
          f"{differ} of {len(keys)} cells differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
