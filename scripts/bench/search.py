"""Optuna's side of the search-sampler benchmark (scripts/bench/search.sh), and the comparison.

`search.py run [--seeds N] [--trials N] [--jobs J]` runs Optuna's TPESampler and RandomSampler on
the functions of examples/bench_search.rs and prints the same RESULT lines;
`search.py compare FILE...` reads RESULT lines (sweep's and Optuna's) and prints the table with
Welch t-test p-values.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections import defaultdict
from multiprocessing import Pool

CHECKPOINTS = (25, 50, 100)
NOISE_SEED_OFFSET = 1_000_000

# Hartmann-6 (Picheny et al.'s constants, global minimum -3.32237).
H_ALPHA = [1.0, 1.2, 3.0, 3.2]
H_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
H_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]


def branin(x: list[float]) -> float:
    x1, x2 = x
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(x: list[float]) -> float:
    total = 0.0
    for i in range(4):
        inner = sum(H_A[i][j] * (x[j] - H_P[i][j]) ** 2 for j in range(6))
        total += H_ALPHA[i] * math.exp(-inner)
    return -total


# name -> (bounds per dimension, function, noise standard deviation)
PROBLEMS = {
    "branin": ([(-5.0, 10.0), (0.0, 15.0)], branin, 0.0),
    "hartmann6": ([(0.0, 1.0)] * 6, hartmann6, 0.0),
    "branin-noisy": ([(-5.0, 10.0), (0.0, 15.0)], branin, 1.0),
}
METHODS = ("optuna-tpe", "optuna-tpe-mv", "optuna-random")


def run_one(args: tuple[str, str, int, int]) -> list[str]:
    import numpy as np
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore")
    method, name, seed, trials = args
    bounds, f, noise = PROBLEMS[name]
    if method == "optuna-tpe":
        # Univariate, as sweep's default (Optuna 4.x's TPESampler default).
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=False)
    elif method == "optuna-tpe-mv":
        # Optuna 5.0's TPESampler(seed=s) default: multivariate for one objective.
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    noise_rng = np.random.default_rng(NOISE_SEED_OFFSET + seed)
    true_values = []

    def objective(trial: optuna.Trial) -> float:
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
        v = f(x)
        true_values.append(v)
        return v + noise * noise_rng.normal() if noise > 0 else v

    study = optuna.create_study(sampler=sampler, direction="minimize")
    study.optimize(objective, n_trials=trials)
    lines = []
    best_obs, best_true = math.inf, math.inf
    for i, t in enumerate(study.trials):
        # The best trial by observed value; its noise-free value is what is reported.
        if t.value < best_obs:
            best_obs, best_true = t.value, true_values[i]
        if i + 1 in CHECKPOINTS:
            lines.append(f"RESULT\t{method}\t{name}\t{seed}\t{i + 1}\t{best_true!r}")
    return lines


def cmd_run(a: argparse.Namespace) -> None:
    import optuna

    jobs = [(m, p, s, a.trials) for m in a.methods for p in PROBLEMS for s in range(a.seeds)]
    start = time.time()
    with Pool(a.jobs) as pool:
        for lines in pool.imap(run_one, jobs):
            print("\n".join(lines), flush=True)
    print(f"# optuna {optuna.__version__}: {len(jobs)} studies in {time.time() - start:.1f} s",
          file=sys.stderr)


def fmt(xs: list[float]) -> str:
    import numpy as np

    return f"{np.mean(xs):.4f} ± {np.std(xs, ddof=1):.4f}"


def cmd_compare(a: argparse.Namespace) -> None:
    from scipy.stats import ttest_ind

    res: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for path in a.files:
        with open(path) as fh:
            for line in fh:
                if line.startswith("RESULT\t"):
                    _, method, name, _seed, trials, best = line.rstrip("\n").split("\t")
                    res[(name, int(trials), method)].append(float(best))

    def p(x: str, y: str, name: str, n: int) -> str:
        xs, ys = res.get((name, n, x)), res.get((name, n, y))
        if not xs or not ys:
            return "n/a"
        return f"{ttest_ind(xs, ys, equal_var=False).pvalue:.3f}"

    def cell(name: str, n: int, m: str) -> str:
        return fmt(res[(name, n, m)]) if res.get((name, n, m)) else "n/a"

    names = [n for n in PROBLEMS if any(k[0] == n for k in res)]
    print("Best value found (minimising), mean ± std over seeds; p: Welch t-test.\n")
    print("| function | trials | sweep TPE | Optuna TPE | sweep random | Optuna random "
          "| p sweep vs Optuna TPE | p sweep TPE vs random |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        for n in CHECKPOINTS:
            print(f"| {name} | {n} | {cell(name, n, 'sweep-tpe')} | {cell(name, n, 'optuna-tpe')} "
                  f"| {cell(name, n, 'sweep-random')} | {cell(name, n, 'optuna-random')} "
                  f"| {p('sweep-tpe', 'optuna-tpe', name, n)} "
                  f"| {p('sweep-tpe', 'sweep-random', name, n)} |")
    if any(k[2] == "sweep-tpe-mv" for k in res):
        print("\nMultivariate TPE (Optuna 5.0's default for one objective):\n")
        print("| function | trials | sweep TPE multivariate | Optuna TPE multivariate "
              "| p sweep vs Optuna |")
        print("|---|---|---|---|---|")
        for name in names:
            for n in CHECKPOINTS:
                print(f"| {name} | {n} | {cell(name, n, 'sweep-tpe-mv')} "
                      f"| {cell(name, n, 'optuna-tpe-mv')} "
                      f"| {p('sweep-tpe-mv', 'optuna-tpe-mv', name, n)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seeds", type=int, default=20)
    r.add_argument("--trials", type=int, default=100)
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    c = sub.add_parser("compare")
    c.add_argument("files", nargs="+")
    a = ap.parse_args()
    cmd_run(a) if a.cmd == "run" else cmd_compare(a)


if __name__ == "__main__":
    main()
