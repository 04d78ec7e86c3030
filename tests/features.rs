//! The frozen-feature cache: cached and uncached runs agree bit for bit, entries are shared by
//! the runs `sweep plan` says share them, and a cache folder serves a second sweep.

use std::path::Path;
use std::process::{Command, Output};

const EXPERIMENT: &str = r#"
[experiment]
name = "features"
seeds = [0, 1]

[source]
dataset = "uci-digits"
epochs = 1
classes = [0, 1, 2, 3, 4]

[target]
dataset = "uci-digits"
classes = [5, 6, 7, 8, 9]
labels_per_class = 4

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = 3
patience = 0

[transfer]
strategy = ["linear-probe", "finetune"]
freeze_depth = [1, 2]
"#;

fn sweep(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args(args)
        .output()
        .expect("sweep runs");
    assert!(
        out.status.success(),
        "sweep {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// runs.csv without its `seconds` column, and epochs.csv.
fn results(dir: &Path) -> (Vec<Vec<String>>, String) {
    let mut r = csv::Reader::from_path(dir.join("runs.csv")).unwrap();
    let seconds = r.headers().unwrap().iter().position(|c| c == "seconds");
    let runs = r
        .records()
        .map(|row| {
            let row = row.unwrap();
            row.iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != seconds)
                .map(|(_, v)| v.to_string())
                .collect()
        })
        .collect();
    (
        runs,
        std::fs::read_to_string(dir.join("epochs.csv")).unwrap(),
    )
}

fn weight_hashes(dir: &Path) -> Vec<String> {
    let mut ids: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    ids.sort();
    ids.iter()
        .map(|d| {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(d.join("outcome.json")).unwrap())
                    .unwrap();
            v["manifest"]["weights_sha256"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn entries(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("features-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn cached_and_uncached_runs_agree_bit_for_bit_and_share_entries_as_planned() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("features.toml");
    std::fs::write(&file, EXPERIMENT).unwrap();
    let path = |p: &str| dir.path().join(p);
    let s = |p: &Path| p.to_str().unwrap().to_string();

    // The plan: linear probe (all 3 parts frozen) and finetune with 1 or 2 frozen parts, 2 seeds
    // each: 6 runs sharing 3 entries, the seeds of one setting sharing one.
    let plan = String::from_utf8(sweep(&["plan", &s(&file)]).stdout).unwrap();
    let groups: std::collections::BTreeSet<&str> = plan
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() > 2 && w[w.len() - 2] == "cache").then(|| w[w.len() - 1])
        })
        .collect();
    assert_eq!(groups.len(), 3, "{plan}");
    assert!(plan.contains("(3 entries)"), "{plan}");

    let cached = path("cached");
    let plain = path("plain");
    sweep(&[
        "run",
        &s(&file),
        "--out",
        &s(&cached),
        "--jobs",
        "2",
        "--quiet",
    ]);
    sweep(&[
        "run",
        &s(&file),
        "--out",
        &s(&plain),
        "--jobs",
        "2",
        "--quiet",
        "--no-feature-cache",
    ]);
    assert_eq!(results(&cached), results(&plain));
    assert_eq!(weight_hashes(&cached), weight_hashes(&plain));
    assert_eq!(weight_hashes(&cached).len(), 6);
    assert_eq!(entries(&cached.join("cache")).len(), 3);
    assert!(entries(&plain.join("cache")).is_empty());

    // A second sweep given the first one's cache folder trains no source stage, computes no
    // features, and gets the same results.
    let second = path("second");
    let shared = cached.join("cache");
    let before: Vec<_> = entries(&shared)
        .iter()
        .map(|n| {
            std::fs::metadata(shared.join(n))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    let log = sweep(&[
        "run",
        &s(&file),
        "--out",
        &s(&second),
        "--jobs",
        "1",
        "--cache",
        &s(&shared),
    ]);
    let err = String::from_utf8_lossy(&log.stderr);
    assert!(err.contains(": reusing"), "{err}");
    assert!(!err.contains("training on"), "{err}");
    let after: Vec<_> = entries(&shared)
        .iter()
        .map(|n| {
            std::fs::metadata(shared.join(n))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    assert_eq!(before, after);
    assert_eq!(results(&second), results(&cached));
    assert!(!second.join("cache").exists());
}

#[test]
fn entries_are_mapped_from_the_cache_folder_and_damaged_ones_are_refused() {
    use burn::tensor::{Device, Tensor, TensorData};
    use sweep::model;
    use sweep::spec::schema::ModelSpec;
    use sweep::train::features;

    let device = Device::flex().autodiff();
    let data = sweep::data::prepare("uci-digits", &[], None, 16).unwrap();
    let spec = ModelSpec {
        width: 8,
        stages: 2,
        blocks: 1,
        input_size: 16,
        ..ModelSpec::default()
    };
    let net = model::build(&spec, 1, 10, 3, &device).freeze_leading(2, false);
    let dir = tempfile::tempdir().unwrap();
    let got = features::obtain(&net, 2, &data, "uci-map", dir.path(), &device)
        .unwrap()
        .expect("small enough to cache");
    assert!(got.data.pixels.is_mapped(), "{:?}", got.data.pixels);
    assert_eq!(got.data.pixels.len(), data.labels.len() * 8 * 16 * 16);

    // The mapped values are the frozen prefix's outputs on the images.
    let picked = [0, 7, data.labels.len() - 1];
    let (x, _) = data.gather(&picked);
    let x = Tensor::<4>::from_data(TensorData::new(x, [3, 1, 16, 16]), &device);
    let direct = net
        .prefix(x, 2)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let (mapped, _) = got.data.gather(&picked);
    assert_eq!(mapped, direct);

    // Read back from the folder: mapped again, the same values.
    let path = features::file(dir.path(), &got.key);
    let again = features::load(&path, &data).expect("a complete entry");
    assert!(again.pixels.is_mapped());
    assert_eq!(&again.pixels[..], &got.data.pixels[..]);

    // A short file, a foreign file and an entry for another image count are refused (the caller
    // then computes the entry again).
    let bytes = std::fs::read(&path).unwrap();
    let other = dir.path().join("other.f32");
    std::fs::write(&other, &bytes[..bytes.len() - 4]).unwrap();
    assert!(features::load(&other, &data).is_none());
    let mut foreign = bytes.clone();
    foreign[0] = b'X';
    std::fs::write(&other, &foreign).unwrap();
    assert!(features::load(&other, &data).is_none());
    let fewer = data.subset(Some(100), Some(20));
    assert!(features::load(&path, &fewer).is_none());
}

#[test]
fn efficientnet_lite_frozen_prefixes_cache_bit_for_bit() {
    // The Lite backbones split at their parts too: a linear probe and a finetune of the last
    // stages read cached features and equal the runs that compute every layer.
    let text = EXPERIMENT
        .replace(
            "backbone = \"resnet-mini\"\nwidth = 8\nstages = 2",
            "backbone = \"efficientnet_lite0\"\ninput_size = 16",
        )
        .replace("freeze_depth = [1, 2]", "freeze_depth = 6")
        .replace("seeds = [0, 1]", "seeds = [0]");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lite.toml");
    std::fs::write(&file, &text).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (cached, plain) = (dir.path().join("cached"), dir.path().join("plain"));
    sweep(&["run", &s(&file), "--out", &s(&cached), "--quiet"]);
    sweep(&[
        "run",
        &s(&file),
        "--out",
        &s(&plain),
        "--quiet",
        "--no-feature-cache",
    ]);
    assert_eq!(results(&cached), results(&plain));
    assert_eq!(weight_hashes(&cached), weight_hashes(&plain));
    assert_eq!(weight_hashes(&cached).len(), 2);
    assert_eq!(entries(&cached.join("cache")).len(), 2);
}
