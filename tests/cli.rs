//! The `sweep` binary end to end on a tiny experiment: CSVs row by row, reproducibility, errors.

use std::path::Path;
use std::process::{Command, Output};

use sweep::spec::Plan;
use sweep::spec::schema::RunConfig;

const TINY: &str = r#"
[experiment]
name = "tiny"
seeds = [0]

[source]
dataset = "mnist-10k"
limit = 300
epochs = 1

[target]
dataset = "uci-digits"
labels_per_class = 3

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = 2
patience = 0

[transfer]
strategy = ["scratch", "finetune"]
freeze_depth = 1
"#;

#[path = "common/cli.rs"]
mod cli_util;
use cli_util::{col, read_csv, sweep};

#[test]
fn tiny_experiment_writes_both_csvs_and_reproduces() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.toml");
    std::fs::write(&file, TINY).unwrap();
    let plan = Plan::parse(&file, TINY, sweep::task::rules).unwrap();
    assert_eq!(plan.runs.len(), 2);

    let a = dir.path().join("a");
    let out = sweep(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        a.to_str().unwrap(),
        "--jobs",
        "2",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (h, rows) = read_csv(&a.join("runs.csv"));
    assert_eq!(rows.len(), 2);
    for (run, row) in plan.runs.iter().zip(&rows) {
        assert_eq!(row[col(&h, "run_id")], run.id, "rows in plan order");
        assert_eq!(
            row[col(&h, "strategy")],
            run.config.transfer.strategy.as_str()
        );
        assert_eq!(row[col(&h, "labels_per_class")], "3");
        assert_eq!(row[col(&h, "seed")], "0");
        assert_eq!(row[col(&h, "status")], "ok");
        assert_eq!(row[col(&h, "epochs_run")], "2");
        assert_eq!(row[col(&h, "train_images")], "30", "3 labels x 10 classes");
        let best: usize = row[col(&h, "best_epoch")].parse().unwrap();
        assert!((1..=2).contains(&best));
        for m in ["test_accuracy", "test_precision", "test_recall", "test_f1"] {
            let v: f64 = row[col(&h, m)].parse().unwrap();
            assert!((0.0..=1.0).contains(&v), "{m} = {v}");
        }
        // Only the finetune run has a freeze depth.
        let freeze = &row[col(&h, "freeze_depth")];
        assert_eq!(
            freeze.is_empty(),
            run.config.transfer.strategy.as_str() == "scratch",
            "{freeze}"
        );

        let saved =
            std::fs::read_to_string(a.join("runs").join(&run.id).join("config.toml")).unwrap();
        let config: RunConfig = toml::from_str(&saved).unwrap();
        assert_eq!(
            config, run.config,
            "runs/<id>/config.toml holds the expanded config"
        );
        let (_, confusion) = read_csv(&a.join("runs").join(&run.id).join("confusion.csv"));
        let total: u64 = confusion
            .iter()
            .flat_map(|r| r[1..].iter().map(|v| v.parse::<u64>().unwrap()))
            .sum();
        let test_images = sweep::data::prepare("uci-digits", &[], None, 16)
            .unwrap()
            .test
            .len();
        assert_eq!(total as usize, test_images, "every test image counted once");
    }

    let (eh, erows) = read_csv(&a.join("epochs.csv"));
    assert_eq!(
        eh,
        [
            "run_id",
            "epoch",
            "train_loss",
            "train_accuracy",
            "val_loss",
            "val_accuracy",
            "lr",
            "frozen_parts"
        ]
    );
    let keys: Vec<(String, String)> = erows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let expected: Vec<(String, String)> = plan
        .runs
        .iter()
        .flat_map(|r| ["1", "2"].map(|e| (r.id.clone(), e.to_string())))
        .collect();
    assert_eq!(keys, expected);
    for r in &erows {
        let loss: f64 = r[2].parse().unwrap();
        let val: f64 = r[5].parse().unwrap();
        assert!(loss.is_finite() && loss > 0.0 && (0.0..=1.0).contains(&val));
        assert_eq!(r[6], "0.001");
        let run = plan.runs.iter().find(|p| p.id == r[0]).unwrap();
        let frozen = run.config.transfer.freeze_depth.to_string();
        assert_eq!(r[7], frozen, "frozen parts of {}", r[0]);
    }
    assert_eq!(
        std::fs::read_to_string(a.join("experiment.toml")).unwrap(),
        TINY
    );
    let cached = |prefix: &str| {
        std::fs::read_dir(a.join("cache"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(prefix)
            })
            .count()
    };
    assert_eq!(cached("source-"), 2, "one cached source stage");
    assert_eq!(
        cached("features-"),
        1,
        "the stem's outputs, shared by both seeds"
    );

    // Same config again, one run at a time, in a fresh folder: identical metrics, bit for bit.
    let b = dir.path().join("b");
    let out = sweep(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
        "--jobs",
        "1",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, rows_b) = read_csv(&b.join("runs.csv"));
    let without_time = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        let t = col(&h, "seconds");
        rows.iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != t)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .collect()
    };
    assert_eq!(without_time(&rows), without_time(&rows_b));
    assert_eq!(
        std::fs::read(a.join("epochs.csv")).unwrap(),
        std::fs::read(b.join("epochs.csv")).unwrap()
    );
}

#[test]
fn a_bad_file_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, TINY.replace("epochs = 2", "epochs = \"two\"")).unwrap();
    let out_dir = dir.path().join("out");
    let out = sweep(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:21:10") && err.contains("`train.epochs`"),
        "{err}"
    );
    assert!(!out_dir.exists(), "nothing written");
    let out = sweep(&["plan", "no/such/file.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn plan_prints_one_line_per_run_and_the_count() {
    let out = sweep(&["plan", "experiments/quickstart.toml"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("run") && lines[0].contains("strategy") && lines[0].contains("seed")
    );
    assert!(lines[25].starts_with("24 runs"), "{text}");
    // Then what each freeze depth freezes: nothing, the stem, or all four parts (linear probe).
    assert!(
        lines[27..]
            .iter()
            .any(|l| l.starts_with("freeze_depth 1 of resnet-mini freezes stem: ")),
        "{text}"
    );
    assert!(
        lines[27..]
            .iter()
            .any(|l| l.contains("freezes stem, layer1, layer2, layer3: ")),
        "{text}"
    );
    // And which runs share frozen features: the linear probes (all parts frozen) of the three
    // seeds share one entry, finetune with the stem frozen another, whatever the label budget.
    let group = |l: &&str| l.split_whitespace().last().map(str::to_string);
    let probes: std::collections::BTreeSet<_> = lines[1..25]
        .iter()
        .filter(|l| l.contains("linear-probe"))
        .map(group)
        .collect();
    assert_eq!(probes.len(), 1, "{text}");
    assert!(lines[26].starts_with("features: ") && lines[26].contains("(2 entries)"));
    // What the runs will keep on disk.
    let save = lines.last().unwrap();
    assert!(
        save.starts_with("save: model.safetensors per run") && save.contains("for 24 runs"),
        "{text}"
    );
    assert_eq!(lines.len(), 27 + 3 + 1, "{text}");
}

#[test]
fn help_explains_every_verb_and_flag() {
    let top = String::from_utf8(sweep(&["--help"]).stdout).unwrap();
    for verb in ["plan", "run", "datasets", "models", "coco-eval"] {
        assert!(top.contains(verb), "{top}");
    }
    let run = String::from_utf8(sweep(&["run", "--help"]).stdout).unwrap();
    for flag in ["--out", "--jobs", "--threads", "--quiet"] {
        assert!(run.contains(flag), "{run}");
    }
}

const AUGMENTED: &str = r#"
[experiment]
name = "aug"
seeds = [0]

[target]
dataset = "uci-digits"
labels_per_class = 4

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = 2
patience = 0
batch_size = 8
augment = ["none", "heavy"]

[augment.sets]
heavy = ["flip", { op = "rotate", degrees = 20 }, "erase", { op = "cutmix", alpha = 1.0 }, "mixup"]
"#;

#[test]
fn augmented_runs_reproduce_bit_for_bit_and_differ_from_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aug.toml");
    std::fs::write(&file, AUGMENTED).unwrap();
    let mut epochs = Vec::new();
    for (name, jobs) in [("a", "2"), ("b", "1")] {
        let out_dir = dir.path().join(name);
        let out = sweep(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--jobs",
            jobs,
            "--quiet",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        epochs.push(std::fs::read_to_string(out_dir.join("epochs.csv")).unwrap());
    }
    assert_eq!(epochs[0], epochs[1]);
    // The augmented run's training loss differs from the plain run's from the first epoch.
    let (_, rows) = read_csv(&dir.path().join("a/epochs.csv"));
    assert_eq!(rows.len(), 4);
    assert_ne!(rows[0][2], rows[2][2]);
    // The per-run config keeps the set it used, so the run can be repeated from it alone.
    let (_, runs) = read_csv(&dir.path().join("a/runs.csv"));
    let heavy = runs
        .iter()
        .find(|r| r.contains(&"heavy".to_string()))
        .unwrap();
    let config = std::fs::read_to_string(
        dir.path()
            .join("a/runs")
            .join(&heavy[0])
            .join("config.toml"),
    )
    .unwrap();
    assert!(config.contains("cutmix"), "{config}");
}

#[test]
fn augment_preview_and_lr_find_write_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aug.toml");
    std::fs::write(&file, AUGMENTED).unwrap();
    let png = dir.path().join("preview.png");
    let out = sweep(&[
        "augment-preview",
        file.to_str().unwrap(),
        "--set",
        "heavy",
        "--out",
        png.to_str().unwrap(),
        "--images",
        "3",
        "--columns",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&png).unwrap();
    // 16-pixel images scaled 6x: 3 columns (original + 2) by 3 rows of 96-pixel tiles.
    assert_eq!((img.width(), img.height()), (3 * 98 + 2, 3 * 98 + 2));

    let out = sweep(&["augment-preview", file.to_str().unwrap(), "--set", "hevy"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no augmentation set `hevy`") && err.contains("heavy"),
        "{err}"
    );

    let lr_dir = dir.path().join("lr");
    let out = sweep(&[
        "lr-find",
        file.to_str().unwrap(),
        "--run",
        "2",
        "--steps",
        "40",
        "--out",
        lr_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("suggested lr: "), "{stdout}");
    let plan = Plan::parse(&file, AUGMENTED, sweep::task::rules).unwrap();
    let stem = lr_dir.join(format!("lr-find-{}", plan.runs[1].id));
    let (h, rows) = read_csv(&stem.with_extension("csv"));
    assert_eq!(h, ["step", "lr", "loss", "smoothed_loss"]);
    assert!(rows.len() >= 20 && rows.len() <= 40);
    assert!(image::open(stem.with_extension("png")).unwrap().width() == 1000);
    assert!(
        std::fs::read_to_string(stem.with_extension("svg"))
            .unwrap()
            .contains("<svg")
    );

    let out = sweep(&["lr-find", file.to_str().unwrap(), "--run", "9"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the plan has 2 runs"));
}

const LEDGER: &str = r#"
[experiment]
name = "ledger"
seeds = [0, 1, 2]

[target]
dataset = "uci-digits"
labels_per_class = 3

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = 3
patience = 0
lr = [0.001, 0.003]
"#;

fn run_sweep(file: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "2",
    ];
    args.extend_from_slice(extra);
    sweep(&args)
}

fn csv_without_seconds(path: &Path) -> Vec<Vec<String>> {
    let (h, rows) = read_csv(path);
    let t = h.iter().position(|c| c == "seconds");
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != t)
                .map(|(_, v)| v)
                .collect()
        })
        .collect()
}

#[test]
fn a_finished_sweep_trains_nothing_and_a_new_axis_value_trains_only_its_cells() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ledger.toml");
    std::fs::write(&file, LEDGER).unwrap();
    let out = dir.path().join("out");
    assert!(run_sweep(&file, &out, &["--quiet"]).status.success());
    let before = std::fs::read(out.join("runs.csv")).unwrap();
    let again = run_sweep(&file, &out, &[]);
    assert!(again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("6 of 6 runs already finished"), "{err}");
    assert!(err.contains("training the other 0"), "{err}");
    assert_eq!(
        std::fs::read(out.join("runs.csv")).unwrap(),
        before,
        "nothing retrained"
    );

    // One more learning rate: 3 new runs, the 6 old ones untouched.
    std::fs::write(
        &file,
        LEDGER.replace("[0.001, 0.003]", "[0.001, 0.003, 0.01]"),
    )
    .unwrap();
    let more = run_sweep(&file, &out, &[]);
    assert!(more.status.success());
    assert!(String::from_utf8_lossy(&more.stderr).contains("training the other 3"));
    let (_, rows) = read_csv(&out.join("runs.csv"));
    assert_eq!(rows.len(), 9);
    let old: Vec<Vec<String>> = csv::Reader::from_reader(&before[..])
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    for row in &old {
        assert!(rows.contains(row), "old run kept as it was: {row:?}");
    }

    // --rerun all trains all 9 again, to the same metrics.
    let all = run_sweep(&file, &out, &["--rerun", "all", "--quiet"]);
    assert!(all.status.success());

    // Another experiment's folder is refused.
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        LEDGER.replace("name = \"ledger\"", "name = \"other\""),
    )
    .unwrap();
    let refused = run_sweep(&other, &out, &[]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("holds the results of experiment `ledger`")
    );
}

#[test]
fn kill_9_at_any_point_then_resume_gives_the_uninterrupted_results() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ledger.toml");
    std::fs::write(&file, LEDGER).unwrap();
    let reference = dir.path().join("reference");
    assert!(run_sweep(&file, &reference, &["--quiet"]).status.success());

    let out = dir.path().join("killed");
    // Seeded kill points, from before the first run ends to near the end of the sweep.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    for _ in 0..4 {
        let delay = rand::Rng::random_range(&mut rng, 100..1500);
        let mut child = Command::new(env!("CARGO_BIN_EXE_sweep"))
            .args([
                "run",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--jobs",
                "2",
                "--quiet",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    assert!(run_sweep(&file, &out, &["--quiet"]).status.success());
    assert_eq!(
        csv_without_seconds(&out.join("runs.csv")),
        csv_without_seconds(&reference.join("runs.csv"))
    );
    assert_eq!(
        std::fs::read(out.join("epochs.csv")).unwrap(),
        std::fs::read(reference.join("epochs.csv")).unwrap()
    );
    let dirs = std::fs::read_dir(out.join("runs")).unwrap().count();
    assert!(
        dirs >= 6,
        "one folder per run (temporary ones may remain): {dirs}"
    );

    // verify: reproduces; then fails once a stored metric is altered.
    let ok = sweep(&["verify", out.to_str().unwrap(), "--runs", "2"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("2 of 2 runs reproduced: 2 bit for bit"));
    let (_, rows) = read_csv(&out.join("runs.csv"));
    let tamper = |id: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let path = out.join("runs").join(id).join("outcome.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    };
    tamper(&rows[0][0], &|v| {
        v["scores"]["test_accuracy"] = serde_json::json!(0.5)
    });
    tamper(&rows[1][0], &|v| {
        v["manifest"]["weights_sha256"] = serde_json::json!("0".repeat(64))
    });
    let bad = sweep(&["verify", out.to_str().unwrap(), "--all"]);
    assert!(!bad.status.success());
    let table = String::from_utf8_lossy(&bad.stdout);
    assert!(table.contains("4 of 6 runs reproduced"), "{table}");
    let line = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_string()
    };
    assert!(line(&rows[0][0]).contains("DIFFER") && line(&rows[0][0]).contains("MISMATCH"));
    assert!(
        line(&rows[1][0]).ends_with("MISMATCH") && line(&rows[1][0]).contains("same     DIFFER")
    );

    // Made on another CPU: not bit for bit, but within the tolerance of its cell's seeds.
    tamper(&rows[3][0], &|v| {
        v["manifest"]["simd"] = serde_json::json!("another level");
        v["manifest"]["weights_sha256"] = serde_json::json!("1".repeat(64));
    });
    let other = sweep(&["verify", out.to_str().unwrap(), "--all"]);
    let table = String::from_utf8_lossy(&other.stdout);
    let line = table.lines().find(|l| l.starts_with(&rows[3][0])).unwrap();
    assert!(
        line.contains("reproduced within float tolerance")
            && line.contains("SIMD: another level -> "),
        "{table}"
    );
    assert!(
        table.contains("4 of 6 runs reproduced: 3 bit for bit, 1 within float tolerance"),
        "{table}"
    );
}

/// `sweep datasets export` writes a COCO dataset that `sweep coco-eval` reads: the ground truth
/// scored as its own detections has AP 1, one box moved off its object lowers it, and exporting
/// into a folder that holds files is refused with nothing written.
#[test]
fn exported_scenes_score_through_coco_eval() {
    let dir = std::env::temp_dir().join(format!("sweep-cli-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = sweep(&[
        "datasets",
        "export",
        "digit-scenes",
        "--train-scenes",
        "6",
        "--test-scenes",
        "4",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth = dir.join("test.json");
    let gt: serde_json::Value = serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
    let anns = gt["annotations"].as_array().unwrap();
    assert!(anns.len() >= 4, "1-5 digits per scene");
    let mut dets: Vec<serde_json::Value> = anns
        .iter()
        .map(|a| {
            serde_json::json!({"image_id": a["image_id"], "category_id": a["category_id"],
                               "bbox": a["bbox"], "score": 0.9})
        })
        .collect();
    let score = |dets: &[serde_json::Value]| {
        let path = dir.join("dets.json");
        std::fs::write(&path, serde_json::to_vec(dets).unwrap()).unwrap();
        let out = sweep(&[
            "coco-eval",
            "--json",
            truth.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        stats["ap"].as_f64().unwrap()
    };
    assert!((score(&dets) - 1.0).abs() < 1e-9);
    dets[0]["bbox"][0] = serde_json::json!(dets[0]["bbox"][0].as_f64().unwrap() + 40.0);
    assert!(score(&dets) < 0.999);
    let again = sweep(&["datasets", "export", "digit-scenes", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
    let _ = std::fs::remove_dir_all(&dir);
}

const TINY_DETECT: &str = r#"
[experiment]
name = "tiny-detect"
task = "detect"
seeds = [0]

[source]
dataset = "mnist-10k"
limit = 300
epochs = 1
batch_size = 64

[target]
dataset = "digit-scenes"
labelled_images = 24
val_fraction = 0.2

[detect]
train_scenes = 40
test_scenes = 8
canvas = 32

[model]
backbone = "resnet-mini"
width = 8
stages = 2
input_size = 32

[train]
epochs = 2
batch_size = 8

[transfer]
strategy = ["scratch", "finetune"]
"#;

/// A detection sweep end to end: runs.csv with COCO metrics and the scene budget, epochs.csv
/// with validation AP50, each run's detections.json in COCO results form that `sweep
/// coco-eval` scores to the AP50 in runs.csv, and a report; a classification budget in a
/// detection experiment is refused before anything is written.
#[test]
fn detection_sweep_writes_metrics_detections_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("detect.toml");
    std::fs::write(&file, TINY_DETECT).unwrap();
    let out_dir = dir.path().join("out");
    let out = sweep(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (h, rows) = read_csv(&out_dir.join("runs.csv"));
    assert_eq!(rows.len(), 2);
    let truth = dir.path().join("truth.json");
    let export = sweep(&[
        "datasets",
        "export",
        "digit-scenes",
        "--canvas",
        "32",
        "--train-scenes",
        "40",
        "--test-scenes",
        "8",
        dir.path().join("scenes").to_str().unwrap(),
    ]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    std::fs::copy(dir.path().join("scenes/test.json"), &truth).unwrap();
    for row in &rows {
        assert_eq!(row[col(&h, "status")], "ok", "{row:?}");
        assert_eq!(row[col(&h, "labelled_images")], "24");
        assert_eq!(row[col(&h, "train_images")], "24");
        let ap50: f64 = row[col(&h, "test_ap50")].parse().unwrap();
        assert!((0.0..=1.0).contains(&ap50));
        let dets = out_dir
            .join("runs")
            .join(&row[col(&h, "run_id")])
            .join("detections.json");
        let scored = sweep(&[
            "coco-eval",
            "--json",
            truth.to_str().unwrap(),
            dets.to_str().unwrap(),
        ]);
        assert!(
            scored.status.success(),
            "{}",
            String::from_utf8_lossy(&scored.stderr)
        );
        let stats: serde_json::Value = serde_json::from_slice(&scored.stdout).unwrap();
        assert!(
            (stats["ap50"].as_f64().unwrap() - ap50).abs() < 1e-6,
            "{stats} vs {ap50}"
        );
    }
    let (eh, erows) = read_csv(&out_dir.join("epochs.csv"));
    assert!(eh.contains(&"val_ap50".to_string()), "{eh:?}");
    assert_eq!(erows.len(), 4, "2 runs x 2 epochs");
    let summary = std::fs::read_to_string(out_dir.join("report/summary.md")).unwrap();
    assert!(summary.contains("labelled images"), "{summary}");
    assert!(out_dir.join("report/accuracy-vs-labels.png").exists());
    let grid = image::open(out_dir.join("report/detections.png")).unwrap();
    assert_eq!(grid.width(), 4 * (32 * 8 + 8), "4 scenes a row at 8x");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        TINY_DETECT.replace("labelled_images = 24", "labels_per_class = 5"),
    )
    .unwrap();
    let refused = sweep(&[
        "run",
        bad.to_str().unwrap(),
        "--out",
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("labels_per_class") && err.contains("labelled_images"),
        "{err}"
    );
    assert!(!dir.path().join("bad").exists(), "nothing written");
}

/// Box-aware augmentation in a detection sweep changes what a run trains on, and a repeated
/// augmented run is bit for bit the same.
#[test]
fn augmented_detection_runs_differ_and_reproduce() {
    let dir = tempfile::tempdir().unwrap();
    let text = TINY_DETECT
        .replace(
            "strategy = [\"scratch\", \"finetune\"]",
            "strategy = \"scratch\"",
        )
        .replace(
            "canvas = 32",
            "canvas = 32\naugment = [\"none\", \"flip-scale\"]",
        );
    let file = dir.path().join("aug.toml");
    std::fs::write(&file, &text).unwrap();
    let losses = |name: &str| {
        let out_dir = dir.path().join(name);
        let out = sweep(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (h, rows) = read_csv(&out_dir.join("epochs.csv"));
        let (id, loss) = (col(&h, "run_id"), col(&h, "train_loss"));
        let mut by_run: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r[id].clone(), r[loss].clone()))
            .collect();
        by_run.sort();
        by_run
    };
    let a = losses("a");
    assert_eq!(a.len(), 4, "2 runs x 2 epochs");
    let ids: std::collections::BTreeSet<&String> = a.iter().map(|(i, _)| i).collect();
    assert_eq!(ids.len(), 2);
    let (plain, augmented): (Vec<_>, Vec<_>) = a.iter().partition(|(i, _)| *i == a[0].0);
    assert_ne!(
        plain[0].1, augmented[0].1,
        "augmentation changes the first epoch's loss"
    );
    assert_eq!(a, losses("b"), "bit for bit again");
}
