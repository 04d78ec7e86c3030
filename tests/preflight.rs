//! Preflight: bad datasets, label budgets and weights files are one error, exit 2, naming the
//! file, line and setting, before the results folder exists.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use sweep::model::{self, weights};
use sweep::spec::schema::ModelSpec;

const BASE: &str = r#"
[experiment]
name = "pre"
seeds = [0]

[target]
dataset = "uci-digits"
labels_per_class = [3, 5]

[model]
backbone = "resnet-mini"
width = 8
stages = 2
input_size = 8

[train]
epochs = 1
"#;

/// Writes `text` as an experiment, runs `sweep run` on it; returns (exit code, stderr, the
/// results folder, which must not exist afterwards for a rejection).
fn run(dir: &Path, text: &str) -> (Option<i32>, String, PathBuf) {
    let file = dir.join("exp.toml");
    std::fs::write(&file, text).unwrap();
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--quiet"])
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into(),
        out,
    )
}

/// Asserts a rejection: exit 2, `exp.toml:LINE` and the field named, `words` said, nothing written.
fn rejected(dir: &Path, text: &str, line: usize, field: &str, words: &[&str]) {
    let (code, err, out) = run(dir, text);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("exp.toml:{line}:")),
        "line {line}:\n{err}"
    );
    assert!(err.contains(&format!("`{field}`")), "{field}:\n{err}");
    for w in words {
        assert!(err.contains(w), "`{w}` in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "nothing may be written: {err}");
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn with_weights(path: &Path) -> String {
    BASE.replace(
        "input_size = 8\n",
        &format!("input_size = 8\nweights = \"{}\"\n", path.display()),
    )
    .replace(
        "seeds = [0]",
        "seeds = [0]\n\n[transfer]\nstrategy = \"linear-probe\"",
    )
}

fn save(spec: &ModelSpec, path: &Path) {
    let net = model::build(spec, 1, 10, 0, &Device::flex());
    weights::save_safetensors(&net, path).unwrap();
}

fn spec(width: usize, stages: usize) -> ModelSpec {
    ModelSpec {
        width,
        stages,
        input_size: 8,
        ..ModelSpec::default()
    }
}

#[test]
fn bad_weights_files_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    save(&spec(8, 2), &good);
    let bytes = std::fs::read(&good).unwrap();
    let variants: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec(), &[]),
        ("empty", Vec::new(), &[]),
        (
            "garbage",
            b"this is not a tensor file at all".repeat(20),
            &[],
        ),
    ];
    for (name, content, words) in variants {
        let path = dir.path().join(format!("{name}.safetensors"));
        std::fs::write(&path, content).unwrap();
        let text = with_weights(&path);
        let line = line_of(&text, "weights =");
        let mut all = vec![name];
        all.extend_from_slice(words);
        rejected(dir.path(), &text, line, "model.weights", &all);
    }
    // Keys of another shape: a backbone twice as wide.
    let wide = dir.path().join("wide.safetensors");
    save(&spec(16, 2), &wide);
    let text = with_weights(&wide);
    rejected(
        dir.path(),
        &text,
        line_of(&text, "weights ="),
        "model.weights",
        &["wrong shape", "model [8"],
    );
    // Keys missing: a backbone with one stage fewer lacks layer2.
    let short = dir.path().join("short.safetensors");
    save(&spec(8, 1), &short);
    let text = with_weights(&short);
    rejected(
        dir.path(),
        &text,
        line_of(&text, "weights ="),
        "model.weights",
        &["missing keys", "layer2."],
    );
    // A folder where the file belongs.
    let text = with_weights(dir.path());
    rejected(
        dir.path(),
        &text,
        line_of(&text, "weights ="),
        "model.weights",
        &["is a folder"],
    );
    // And the good file passes preflight and trains.
    let (code, err, out) = run(dir.path(), &with_weights(&good));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.join("runs.csv").exists());
}

#[test]
fn a_budget_above_a_class_count_names_the_class_and_its_count() {
    let dir = tempfile::tempdir().unwrap();
    // UCI digits: about 180 images per class, 25% test, 20% of the rest for validation.
    let text = BASE.replace("labels_per_class = [3, 5]", "labels_per_class = [3, 500]");
    let (code, err, out) = run(dir.path(), &text);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("exp.toml:8:24"), "points at the 500:\n{err}");
    assert!(err.contains("`target.labels_per_class`") && err.contains("500 labels per class"));
    let count: usize = err
        .split("has only ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in:\n{err}"));
    assert!((90..130).contains(&count), "{err}");
    assert!(err.contains("class ") && err.contains("\"all\""), "{err}");
    assert!(!out.exists());
    // "all" is every image; 0 is refused with that advice.
    let all = BASE.replace("labels_per_class = [3, 5]", "labels_per_class = \"all\"");
    let plan = sweep::spec::Plan::parse(Path::new("exp.toml"), &all, sweep::task::rules).unwrap();
    assert_eq!(plan.runs[0].config.target.labels_per_class, 0);
    let zero = BASE.replace("labels_per_class = [3, 5]", "labels_per_class = 0");
    let e = sweep::spec::Plan::parse(Path::new("exp.toml"), &zero, sweep::task::rules).unwrap_err();
    assert!(e.to_string().contains("or \"all\""), "{e}");
}

/// A CSV dataset of 2x2 images with the given labels, ten images each.
fn csv_dataset(dir: &Path, labels: &[u8]) -> String {
    let mut text = String::new();
    for (i, l) in labels.iter().enumerate() {
        for k in 0..10 {
            text += &format!("{},{},{},{},{l}\n", i * 10 + k, 3, 200, k * 20);
        }
    }
    let path = dir.join("images.csv");
    std::fs::write(&path, text).unwrap();
    format!("csv:{}", path.display())
}

#[test]
fn empty_classes_and_labels_out_of_range_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (labels, words) in [
        (
            &[0u8, 2][..],
            &["labels run from 0 to 2", "1 of those 3 classes", "class 1)"][..],
        ),
        (
            &[250u8][..],
            &["labels run from 0 to 250", "250 of those 251 classes"][..],
        ),
    ] {
        let name = csv_dataset(dir.path(), labels);
        let text = BASE
            .replace("dataset = \"uci-digits\"", &format!("dataset = \"{name}\""))
            .replace("labels_per_class = [3, 5]", "labels_per_class = 2");
        rejected(
            dir.path(),
            &text,
            line_of(&text, "dataset ="),
            "target.dataset",
            words,
        );
    }
    // A folder where the CSV file belongs.
    let text = BASE.replace(
        "dataset = \"uci-digits\"",
        &format!("dataset = \"csv:{}\"", dir.path().display()),
    );
    let (code, err, out) = run(dir.path(), &text);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`target.dataset`") && !err.contains("panicked"),
        "{err}"
    );
    assert!(!out.exists());
}

/// A small grey PNG.
fn grey_png(path: &Path, value: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_fn(16, 16, |_, _| image::Luma([value]))
        .save(path)
        .unwrap();
}

#[test]
fn dense_datasets_without_objects_or_labelled_pixels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // YOLO images without label files: no boxes at all.
    let yolo = d.join("yolo");
    for k in 0..10 {
        grey_png(&yolo.join(format!("images/{k}.png")), 10 * k as u8);
    }
    std::fs::write(yolo.join("classes.txt"), "tree\n").unwrap();
    // Masks whose every pixel is 255 (ignored).
    for k in 0..10 {
        grey_png(&d.join(format!("img/{k}.png")), 10 * k as u8);
        grey_png(&d.join(format!("mask/{k}.png")), 255);
    }
    let masks = format!(
        "masks:{}:{}",
        d.join("img").display(),
        d.join("mask").display()
    );
    for (task, dataset, words) in [
        (
            "detect",
            format!("yolo:{}", yolo.display()),
            ["hold no objects", "yolo:"],
        ),
        ("segment", masks, ["ignored", "masks:"]),
    ] {
        let text = format!(
            "[experiment]\nname = \"e\"\ntask = \"{task}\"\nseeds = [0]\n\n[target]\n\
             dataset = \"{dataset}\"\nlabelled_images = 4\n\n[model]\nbackbone = \"resnet-mini\"\n\
             width = 8\nstages = 2\ninput_size = 16\n\n[{task}]\ncanvas = 16\n\n[train]\nepochs = 1\n"
        );
        rejected(
            d,
            &text,
            line_of(&text, "dataset ="),
            "target.dataset",
            &words,
        );
    }
}
