"""TensorBoard event files against the `tensorboard` package's own reader: a tiny sweep with
`tensorboard = true` is run, and every run's `runs/<id>/tb/` must parse with EventAccumulator,
hold the epochs of epochs.csv (train/val loss and accuracy, lr, as float32) and the run's
settings as hparams.

usage: parity_tensorboard.py SWEEP_BINARY WORK_DIR
"""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2


def main():
    sweep, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    experiment = work / "tb.toml"
    experiment.write_text(
        """
[experiment]
name = "tb"
seeds = [0, 1]
tensorboard = true

[target]
dataset = "uci-digits"
labels_per_class = 5

[model]
backbone = "resnet-mini"
width = 4
stages = 2
input_size = 8

[train]
epochs = 3
patience = 0
lr = [1e-3, 3e-3]
"""
    )
    out = work / "results"
    subprocess.run([sweep, "run", str(experiment), "--out", str(out), "--quiet", "--rerun", "all"], check=True)
    with open(out / "epochs.csv") as f:
        rows = list(csv.DictReader(f))
    runs = sorted({r["run_id"] for r in rows})
    assert len(runs) == 4, runs
    for run in runs:
        ea = EventAccumulator(str(out / "runs" / run / "tb"))
        ea.Reload()
        epochs = [r for r in rows if r["run_id"] == run]
        for tag, column in [
            ("train/loss", "train_loss"),
            ("train/accuracy", "train_accuracy"),
            ("val/loss", "val_loss"),
            ("val/accuracy", "val_accuracy"),
            ("lr", "lr"),
        ]:
            got = ea.Scalars(tag)
            assert [e.step for e in got] == [int(r["epoch"]) for r in epochs], (run, tag)
            want = np.array([float(r[column]) for r in epochs], np.float32)
            have = np.array([e.value for e in got], np.float32)
            # epochs.csv rounds to 6 decimals; the events hold float32.
            assert np.allclose(have, want, rtol=0, atol=1e-6), (run, tag, have, want)
        content = ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        hp = data.session_start_info.hparams
        assert hp["model.backbone"].string_value == "resnet-mini", hp
        assert hp["train.epochs"].number_value == 3
        assert hp["train.lr"].number_value in (1e-3, 3e-3)
        print(f"tensorboard: run {run}: {len(epochs)} epochs x 5 scalars and {len(hp)} hparams read back")
    print("tensorboard parity: the reference reader returns epochs.csv and the settings")


if __name__ == "__main__":
    main()
