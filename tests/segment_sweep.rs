//! A segmentation sweep end to end: `sweep run` writes runs.csv with mIoU, pixel accuracy and
//! Dice, epochs.csv with validation mIoU, each run's masks and per-class scores, and a report
//! with the mask picture; `sweep verify` reproduces the runs bit for bit; segmentation settings
//! in the wrong place are refused before anything is written.

const TINY_SEGMENT: &str = r#"
[experiment]
name = "tiny-segment"
task = "segment"
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

[segment]
train_scenes = 40
test_scenes = 8
canvas = 32
loss = ["ce", "ce-dice"]
augment = "all"

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

#[path = "common/cli.rs"]
mod cli_util;
use cli_util::{col, read_csv, sweep};

#[test]
fn segmentation_sweep_writes_metrics_masks_and_report_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("segment.toml");
    std::fs::write(&file, TINY_SEGMENT).unwrap();
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
    assert_eq!(rows.len(), 4, "2 losses x 2 strategies");
    assert!(
        h.contains(&"segment.loss".to_string()),
        "the loss axis is a column: {h:?}"
    );
    for row in &rows {
        assert_eq!(row[col(&h, "status")], "ok", "{row:?}");
        assert_eq!(row[col(&h, "labelled_images")], "24");
        let miou: f64 = row[col(&h, "test_miou")].parse().unwrap();
        let acc: f64 = row[col(&h, "test_pixel_accuracy")].parse().unwrap();
        let dice: f64 = row[col(&h, "test_mean_dice")].parse().unwrap();
        assert!(
            (0.0..=1.0).contains(&miou) && (0.0..=1.0).contains(&acc),
            "{row:?}"
        );
        assert!(
            dice >= miou,
            "Dice {dice} is at least IoU {miou} class by class"
        );
        let run = out_dir.join("runs").join(&row[col(&h, "run_id")]);
        // The per-class IoUs average to the mIoU (over the classes present).
        let (ch, classes) = read_csv(&run.join("classes.csv"));
        assert_eq!(classes.len(), 11);
        let ious: Vec<f64> = classes
            .iter()
            .filter_map(|c| c[col(&ch, "iou")].parse().ok())
            .collect();
        let mean = ious.iter().sum::<f64>() / ious.len() as f64;
        assert!((mean - miou).abs() < 1e-5, "{mean} vs {miou}");
        let masks: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(run.join("masks.json")).unwrap())
                .unwrap();
        assert_eq!(masks.len(), 8, "every test scene (fewer than 12)");
        let pixels: u64 = masks[0]["runs"]
            .as_array()
            .unwrap()
            .chunks(2)
            .map(|p| p[1].as_u64().unwrap())
            .sum();
        assert_eq!(pixels, 32 * 32);
    }
    let (eh, erows) = read_csv(&out_dir.join("epochs.csv"));
    assert!(eh.contains(&"val_miou".to_string()), "{eh:?}");
    assert_eq!(erows.len(), 8, "4 runs x 2 epochs");
    let summary = std::fs::read_to_string(out_dir.join("report/summary.md")).unwrap();
    assert!(summary.contains("mIoU"), "{summary}");
    assert!(out_dir.join("report/accuracy-vs-labels.png").exists());
    let grid = image::open(out_dir.join("report/masks.png")).unwrap();
    assert!(
        grid.width() > 6 * 32 && grid.height() >= 4 * 32,
        "{}x{}",
        grid.width(),
        grid.height()
    );

    // Augmented and trained on two threads' worth of jobs, each run again is bit for bit.
    let verify = sweep(&["verify", out_dir.to_str().unwrap(), "--runs", "2"]);
    assert!(
        verify.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // The best segmenter exported with the normalisation of its training images.
    let export = sweep(&["export", out_dir.to_str().unwrap(), "--run", "best"]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let json = std::fs::read_dir(out_dir.join("export"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(info["task"], "segment");
    assert_eq!(info["classes"], 11);
    let n = &info["normalisation"];
    assert_eq!(n["mean"].as_array().unwrap().len(), 1, "{info}");
    assert!(n["std"][0].as_f64().unwrap() > 0.0, "{info}");

    // A classification experiment with a [segment] table, and a segmentation one with a
    // classification budget: refused, naming the setting, with nothing written.
    let cases = [
        (
            TINY_SEGMENT
                .replace("task = \"segment\"", "")
                .replace("labelled_images = 24\n", "")
                .replace("digit-scenes", "mnist-10k"),
            "segment",
        ),
        (
            TINY_SEGMENT.replace("labelled_images = 24", "labels_per_class = 5"),
            "labels_per_class",
        ),
        (
            TINY_SEGMENT.replace("loss = [\"ce\", \"ce-dice\"]", "loss = \"focal\""),
            "segment.loss",
        ),
    ];
    for (i, (text, field)) in cases.iter().enumerate() {
        let bad = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&bad, text).unwrap();
        let target = dir.path().join(format!("bad{i}"));
        let refused = sweep(&[
            "run",
            bad.to_str().unwrap(),
            "--out",
            target.to_str().unwrap(),
        ]);
        assert_eq!(refused.status.code(), Some(2), "case {i}");
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            err.contains(field) && err.contains(&format!("bad{i}.toml:")),
            "case {i}: {err}"
        );
        assert!(!target.exists(), "case {i}: nothing written");
    }
}
