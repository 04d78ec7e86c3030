//! Saved weights: `runs/<id>/model.safetensors` reloads bit for bit and gives the run's test
//! metrics again, its hash is the manifest's, `save = "none"` writes none and `"all"` the last
//! epoch's too, and `sweep export` copies the weights with a JSON that describes the model.

use std::path::Path;

use burn::tensor::Device;
use sweep::model;

#[path = "common/cli.rs"]
mod cli_util;

fn experiment(save: &str) -> String {
    digits(save, "uci-digits", 8)
}

fn digits(save: &str, dataset: &str, size: usize) -> String {
    format!(
        r#"
[experiment]
name = "saved"
seeds = [0]
{save}

[target]
dataset = "{dataset}"
labels_per_class = 5

[model]
backbone = "resnet-mini"
width = 4
stages = 2
input_size = {size}

[train]
epochs = 2
patience = 0

[transfer]
strategy = "scratch"
"#
    )
}

fn run(dir: &Path, save: &str) -> (std::path::PathBuf, String) {
    run_text(dir, &experiment(save))
}

fn run_text(dir: &Path, text: &str) -> (std::path::PathBuf, String) {
    let out = cli_util::run_experiment(dir, "saved", text);
    let (header, rows) = cli_util::read_csv(&out.join("runs.csv"));
    let id = rows[0][cli_util::col(&header, "run_id")].clone();
    (out, id)
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes))
}

#[test]
fn saved_weights_reload_bit_for_bit_and_test_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (out, id) = run(dir.path(), "");
    let run_dir = out.join("runs").join(&id);
    let file = run_dir.join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    assert!(!run_dir.join("model-last.safetensors").exists());
    let outcome: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("outcome.json")).unwrap()).unwrap();
    assert_eq!(outcome["manifest"]["weights_sha256"], sha256(&bytes));

    let plan = sweep::spec::Plan::load(&out.join("experiment.toml"), sweep::task::rules).unwrap();
    let c = &plan.runs[0].config;
    let data = sweep::data::target(&c.target, c.model.input_size, None).unwrap();
    let fresh = model::build(&c.model, data.channels, data.classes, 123, &Device::flex());
    let (net, report) = model::weights::load(fresh, &file).unwrap();
    assert!(
        report.is_complete() && report.unexpected.is_empty(),
        "{report:?}"
    );
    assert_eq!(
        model::weights::safetensors_bytes(&net).unwrap(),
        bytes,
        "reloads bit for bit"
    );
    let e = sweep::train::evaluate(&net, &data, &data.test, &Device::flex());
    let m = sweep::train::metrics::metrics(&e.truth, &e.predicted, data.classes);
    assert_eq!(
        outcome["scores"]["test_accuracy"].as_f64().unwrap(),
        m.accuracy
    );
    assert_eq!(outcome["scores"]["test_f1"].as_f64().unwrap(), m.f1);

    // Export: the same bytes, and what rebuilding the model takes.
    let o = cli_util::sweep(&["export", out.to_str().unwrap(), "--run", "best"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let exported = out.join("export").join(format!("{id}.safetensors"));
    assert_eq!(std::fs::read(&exported).unwrap(), bytes);
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(exported.with_extension("json")).unwrap()).unwrap();
    assert_eq!(info["run_id"], id.as_str());
    assert_eq!(info["backbone"], "resnet-mini");
    assert_eq!(info["classes"], 10);
    assert_eq!(info["input_size"], 8);
    assert_eq!(info["input_channels"], 1);
    let mean = info["normalisation"]["mean"][0].as_f64().unwrap() as f32;
    assert_eq!(mean, data.mean[0]);
    let custom = dir.path().join("mine.safetensors");
    let o = cli_util::sweep(&[
        "export",
        out.to_str().unwrap(),
        "--run",
        &id,
        "--out",
        custom.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(custom.is_file() && dir.path().join("mine.json").is_file());
    let o = cli_util::sweep(&["export", out.to_str().unwrap(), "--run", "nosuchrun"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no run `nosuchrun`"));

    // A changed weights file is refused, not exported.
    std::fs::write(&file, &bytes[..bytes.len() - 4]).unwrap();
    let o = cli_util::sweep(&["export", out.to_str().unwrap(), "--run", &id]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not match the run's manifest"));
}

#[test]
fn save_none_writes_no_weights_and_all_the_last_epochs_too() {
    let dir = tempfile::tempdir().unwrap();
    let (out, id) = run(dir.path(), "save = \"none\"");
    let run_dir = out.join("runs").join(&id);
    assert!(run_dir.join("outcome.json").is_file());
    let names: Vec<String> = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".safetensors")),
        "{names:?}"
    );
    let o = cli_util::sweep(&["export", out.to_str().unwrap(), "--run", "best"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("kept no weights"));

    let all = tempfile::tempdir().unwrap();
    let (out_all, id_all) = run(all.path(), "save = \"all\"");
    assert_eq!(id_all, id, "`save` is not part of a run's identity");
    let d = out_all.join("runs").join(&id_all);
    let best = std::fs::read(d.join("model.safetensors")).unwrap();
    let last = std::fs::read(d.join("model-last.safetensors")).unwrap();
    assert_eq!(best.len(), last.len());
}

#[test]
fn predict_with_a_run_classifies_image_files_as_the_run_did() {
    // MNIST's pixels are bytes, so a PNG of a test image holds exactly what the run saw.
    let dir = tempfile::tempdir().unwrap();
    let (out, id) = run_text(dir.path(), &digits("", "mnist-10k", 28));
    let plan = sweep::spec::Plan::load(&out.join("experiment.toml"), sweep::task::rules).unwrap();
    let c = &plan.runs[0].config;
    let data = sweep::data::target(&c.target, c.model.input_size, None).unwrap();
    let shown: Vec<usize> = data.test[..12].to_vec();
    let (pixels, _) = data.gather(&shown);
    let plane = c.model.input_size * c.model.input_size;
    let mut files = Vec::new();
    for (k, chunk) in pixels.chunks(plane).enumerate() {
        // Back from the normalised values to the bytes of a PNG.
        let bytes: Vec<u8> = chunk
            .iter()
            .map(|v| {
                ((v * data.std[0] + data.mean[0]) * 255.0)
                    .round()
                    .clamp(0.0, 255.0) as u8
            })
            .collect();
        let path = dir.path().join(format!("test{k}.png"));
        image::GrayImage::from_raw(28, 28, bytes)
            .unwrap()
            .save(&path)
            .unwrap();
        files.push(path);
    }
    let net = model::weights::load(
        model::build(&c.model, 1, data.classes, 0, &Device::flex()),
        &out.join("runs").join(&id).join("model.safetensors"),
    )
    .unwrap()
    .0;
    let expected = sweep::train::evaluate(&net, &data, &shown, &Device::flex()).predicted;

    let csv_path = dir.path().join("predictions.csv");
    let mut args = vec![
        "predict",
        "--results",
        out.to_str().unwrap(),
        "--run",
        "best",
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.extend(["--out", csv_path.to_str().unwrap()]);
    let o = cli_util::sweep(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (header, rows) = cli_util::read_csv(&csv_path);
    assert_eq!(header, ["image", "class", "probability"]);
    assert_eq!(rows.len(), files.len());
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row[0], files[k].display().to_string());
        assert_eq!(row[1], expected[k].to_string(), "image {k}: {row:?}");
        let p: f64 = row[2].parse().unwrap();
        assert!(p > 0.0 && p <= 1.0);
    }
    // A missing image fails before the CSV is written.
    let gone = dir.path().join("gone.csv");
    let o = cli_util::sweep(&[
        "predict",
        "--results",
        out.to_str().unwrap(),
        "nothere.png",
        "--out",
        gone.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!gone.exists());
}

#[test]
fn tensorboard_files_hold_one_record_per_scalar_and_keep_the_run_id() {
    let dir = tempfile::tempdir().unwrap();
    let (out, id) = run(dir.path(), "tensorboard = true");
    let (_, plain) = run(tempfile::tempdir().unwrap().path(), "");
    assert_eq!(id, plain, "`tensorboard` is not part of a run's identity");
    let tb = out.join("runs").join(&id).join("tb");
    let files: Vec<_> = std::fs::read_dir(&tb)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(
        files[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("events.out.tfevents.")
    );
    // TFRecord framing: u64 length, masked CRC-32C of it, the event, masked CRC-32C of that.
    let bytes = std::fs::read(&files[0]).unwrap();
    let masked = |d: &[u8]| crc32c::crc32c(d).rotate_right(15).wrapping_add(0xa282_ead8);
    let (mut at, mut records) = (0, 0);
    while at < bytes.len() {
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        assert_eq!(crc, masked(&bytes[at..at + 8]));
        let data = &bytes[at + 12..at + 12 + len];
        let crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
        assert_eq!(crc, masked(data));
        at += 16 + len;
        records += 1;
    }
    // The version, the hparams, and 5 scalars for each of the 2 epochs.
    assert_eq!(records, 2 + 5 * 2);
}
