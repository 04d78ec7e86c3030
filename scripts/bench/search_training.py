"""Search on real training (issue 22, benchmark 2): tune lr, backbone_lr_mult and weight_decay
of the quickstart's fine-tune at 5 labels per class.

`make DIR METHOD SEED` writes one experiment file (sweep random / tpe / tpe+asha);
`optuna OUT SEED TRIALS SWEEP CACHE` lets Optuna's TPESampler drive the same training, each
trial one `sweep run` of a one-run file; `summary DIR...` prints, per method, the best validation
accuracy, the training epochs spent and the epochs at which the search first came within one
point of its final best, as mean ± std over the search seeds.
"""

import csv
import json
import os
import statistics
import subprocess
import sys

TEMPLATE = """
[experiment]
name = "{name}"
seeds = [0]

[source]
dataset = "mnist-10k"
epochs = 3
optimizer = "adam"
lr = 0.002
batch_size = 64

[target]
dataset = "uci-digits"
labels_per_class = 5
val_fraction = 0.2

[model]
backbone = "resnet-mini"
width = 16
stages = 3
blocks = 1
input_size = 16

[train]
epochs = 27
batch_size = 32
optimizer = "adam"
patience = 0
lr = {lr}
weight_decay = {wd}

[transfer]
strategy = "finetune"
backbone_lr_mult = {blr}
{search}
"""

SPACE = dict(
    lr="{ log_uniform = [1e-4, 3e-2] }",
    wd="{ log_uniform = [1e-6, 1e-2] }",
    blr="{ log_uniform = [0.01, 1.0] }",
)


def make(path, method, seed, trials):
    stop = ""
    sampler = method
    if method == "tpe-asha":
        sampler = "tpe"
        stop = '\n[search.stop]\nmethod = "asha"\ngrace = 3\nreduction = 3\n'
    search = f'[search]\nmethod = "{sampler}"\ntrials = {trials}\nseed = {seed}\nbatch = 2\n{stop}'
    with open(path, "w") as f:
        f.write(TEMPLATE.format(name=f"{method}-{seed}", search=search, **SPACE))


def best_val(out):
    best = None
    with open(os.path.join(out, "epochs.csv")) as f:
        for row in csv.DictReader(f):
            v = float(row["val_accuracy"])
            best = v if best is None else max(best, v)
    return best


def optuna_study(out, seed, trials, sweep, cache):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.makedirs(out, exist_ok=True)
    log = []

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 3e-2, log=True)
        wd = trial.suggest_float("wd", 1e-6, 1e-2, log=True)
        blr = trial.suggest_float("blr", 0.01, 1.0, log=True)
        d = os.path.join(out, f"trial-{trial.number}")
        os.makedirs(d, exist_ok=True)
        f = os.path.join(d, "x.toml")
        with open(f, "w") as fh:
            fh.write(TEMPLATE.format(name=f"optuna-{seed}-{trial.number}", lr=repr(lr), wd=repr(wd), blr=repr(blr), search=""))
        subprocess.run([sweep, "run", f, "--out", os.path.join(d, "out"), "--cache", cache,
                        "--quiet", "--jobs", "1"], check=True, stdout=subprocess.DEVNULL)
        v = best_val(os.path.join(d, "out"))
        log.append(dict(trial=trial.number, value=v, epochs=27))
        return v

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed, multivariate=False))
    study.optimize(objective, n_trials=trials)
    with open(os.path.join(out, "trials.json"), "w") as f:
        json.dump(log, f)


def trials_of(out):
    """(value, epochs) per trial in order: a sweep results folder or an Optuna log."""
    if os.path.exists(os.path.join(out, "runs.csv")):
        rows = []
        with open(os.path.join(out, "runs.csv")) as f:
            for row in csv.DictReader(f):
                rows.append((int(row["trial"]), float(row["search_val_accuracy"]),
                             int(row["epochs_run"]), row["status"]))
        rows.sort()
        return [(v if s == "ok" else None, e) for _, v, e, s in rows]
    with open(os.path.join(out, "trials.json")) as f:
        return [(t["value"], t["epochs"]) for t in json.load(f)]


def summary(dirs):
    by = {}
    for d in dirs:
        method = os.path.basename(d.rstrip("/")).rsplit("-", 1)[0]
        trials = trials_of(d)
        spent, best, reach = 0, None, None
        curve = []
        for v, e in trials:
            spent += e
            if v is not None and (best is None or v > best):
                best = v
            curve.append((spent, best))
        for spent_at, b in curve:
            if b is not None and b >= best - 0.01:
                reach = spent_at
                break
        by.setdefault(method, []).append((best, spent, reach, len(trials), curve))

    def ms(xs):
        return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else f"{xs[0]:.4f}"

    def mi(xs):
        return f"{statistics.mean(xs):.0f} ± {statistics.stdev(xs):.0f}" if len(xs) > 1 else f"{xs[0]}"

    print("| method | search seeds | trials | best val accuracy | epochs spent | epochs to within 1 point of its best |")
    print("|---|---|---|---|---|---|")
    for m, rs in by.items():
        print(f"| {m} | {len(rs)} | {rs[0][3]} | {ms([r[0] for r in rs])} | {mi([r[1] for r in rs])} | {mi([r[2] for r in rs])} |")
    if "tpe" in by and "tpe-asha" in by:
        full = statistics.mean(r[0] for r in by["tpe"])
        asha = statistics.mean(r[0] for r in by["tpe-asha"])
        ratio = statistics.mean(r[1] for r in by["tpe-asha"]) / statistics.mean(r[1] for r in by["tpe"])
        print(f"\nTPE+ASHA vs TPE: best val accuracy {100 * (asha - full):+.2f} points, epochs {ratio:.2f}x")
        # Per search seed: the epochs TPE+ASHA spends until its best so far is within one point
        # of the unpruned TPE search's final best, as a fraction of the unpruned search's epochs.
        fractions = []
        for (b, spent, _, _, _), (_, _, _, _, curve) in zip(by["tpe"], by["tpe-asha"]):
            at = next((e for e, v in curve if v is not None and v >= b - 0.01), None)
            fractions.append(None if at is None else at / spent)
        shown = ", ".join("never" if f is None else f"{f:.2f}" for f in fractions)
        print(f"TPE+ASHA reaches within 1 point of TPE's best after this fraction of TPE's epochs, per seed: {shown}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "optuna":
        optuna_study(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
    elif cmd == "summary":
        summary(sys.argv[2:])
