//! The LibTorch backend (`--features tch`): weights move between flex and LibTorch with the same
//! logits, `--threads` governs libtorch's threads, and a LibTorch run repeated is bitwise equal
//! and verifies on LibTorch. `scripts/tch.sh` builds against PyTorch 2.9.0 and runs these.
#![cfg(feature = "tch")]
#![allow(deprecated)] // burn-tch's device constructors are deprecated upstream

use std::process::Command;

use burn::tensor::{Device, Tensor};
use sweep::model::{self, weights};
use sweep::spec::schema::ModelSpec;

fn spec(backbone: &str) -> ModelSpec {
    ModelSpec {
        backbone: backbone.into(),
        width: 8,
        stages: 2,
        blocks: 1,
        input_size: 16,
        ..ModelSpec::default()
    }
}

/// Eval-mode logits of a fixed, non-trivial batch (BatchNorm on its running statistics).
fn logits(net: &model::Network, device: &Device) -> Vec<f32> {
    let x: Vec<f32> = (0..2 * 3 * 16 * 16)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let x = Tensor::<1>::from_floats(x.as_slice(), device).reshape([2, 3, 16, 16]);
    net.forward(x, None)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-5,
        "{what}: logits differ by {worst:e}: {a:?} vs {b:?}"
    );
    // Not a constant output: a loader that dropped the weights would agree with itself.
    assert!(a.iter().any(|x| (x - a[0]).abs() > 1e-3), "{what}: {a:?}");
}

#[test]
fn weights_saved_under_flex_load_under_libtorch_with_the_same_logits_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (flex, tch) = (Device::flex(), Device::libtorch());
    for backbone in ["resnet-mini", "mobilenet_v2", "resnet18"] {
        let spec = spec(backbone);
        let from_flex = dir.path().join(format!("{backbone}-flex.safetensors"));
        weights::save_safetensors(&model::build(&spec, 3, 10, 7, &flex), &from_flex).unwrap();
        // Loading re-initialises the head from the seed, alike on both backends.
        let here = model::pretrained(&spec, &from_flex, 3, 10, 7, false, &flex).unwrap();
        let there = model::pretrained(&spec, &from_flex, 3, 10, 7, false, &tch).unwrap();
        assert_close(&logits(&here, &flex), &logits(&there, &tch), backbone);

        // And back: built (so initialised) under LibTorch, saved there, loaded under flex.
        let from_tch = dir.path().join(format!("{backbone}-tch.safetensors"));
        weights::save_safetensors(&model::build(&spec, 3, 10, 8, &tch), &from_tch).unwrap();
        let there = model::pretrained(&spec, &from_tch, 3, 10, 8, false, &tch).unwrap();
        let back = model::pretrained(&spec, &from_tch, 3, 10, 8, false, &flex).unwrap();
        assert_close(&logits(&there, &tch), &logits(&back, &flex), backbone);
    }
}

#[test]
fn threads_govern_libtorch_threads_on_each_pool_thread() {
    for threads in [1, 2] {
        let pool = sweep::device::compute_pool(threads).unwrap();
        let seen = pool.install(sweep::device::libtorch_threads);
        assert_eq!(seen, threads);
    }
}

const TINY: &str = r#"
[experiment]
name = "tch"
seeds = [0, 1]

[source]
dataset = "uci-digits"
epochs = 1

[target]
dataset = "uci-digits"
labels_per_class = 3

[model]
backbone = "resnet-mini"
width = 4
stages = 1

[train]
epochs = 2

[transfer]
strategy = ["scratch", "finetune"]
"#;

fn sweep(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args(args)
        .output()
        .expect("sweep runs")
}

fn outcomes(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut runs: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    runs.iter()
        .map(|r| {
            let text = std::fs::read_to_string(r.join("outcome.json")).unwrap();
            serde_json::from_str(&text).unwrap()
        })
        .collect()
}

#[test]
fn a_libtorch_run_repeated_is_bitwise_equal_and_verifies_on_libtorch() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tch.toml");
    std::fs::write(&file, TINY).unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let mut hashes = Vec::new();
    for name in ["a", "b"] {
        let out = dir.path().join(name);
        let run = sweep(&[
            "run",
            &s(&file),
            "--out",
            &s(&out),
            "--quiet",
            "--device",
            "tch",
            "--jobs",
            "2",
            "--threads",
            "1",
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let all = outcomes(&out);
        assert_eq!(all.len(), 4);
        for o in &all {
            let platform = &o["manifest"]; // the platform facts are flattened into it
            assert_eq!(platform["device"], "tch", "{o}");
            assert!(
                platform["backend"]
                    .as_str()
                    .unwrap()
                    .starts_with("libtorch 2.9.0"),
                "{platform}"
            );
        }
        hashes.push(
            all.iter()
                .map(|o| {
                    o["manifest"]["weights_sha256"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(hashes[0], hashes[1], "two LibTorch sweeps differ");

    let verified = sweep(&["verify", &s(&dir.path().join("a")), "--all"]);
    let text = String::from_utf8_lossy(&verified.stdout);
    let err = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{text}{err}");
    assert!(
        err.contains(", tch)"),
        "verify did not train on LibTorch: {err}"
    );
    let reproduced = text.lines().filter(|l| l.ends_with(" reproduced")).count();
    assert_eq!(reproduced, 4, "{text}");
}

#[test]
fn a_missing_cuda_gpu_is_one_clear_line() {
    if tch::Cuda::device_count() > 0 {
        return; // a machine with a GPU: nothing to refuse
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tch.toml");
    std::fs::write(&file, TINY).unwrap();
    let out = dir.path().join("out");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let run = sweep(&[
        "run",
        &s(&file),
        "--out",
        &s(&out),
        "--device",
        "tch:cuda:0",
    ]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(err.contains("LibTorch finds no CUDA GPU"), "{err}");
    assert!(
        err.lines().count() <= 2 && !err.contains("frame #"),
        "{err}"
    );
    assert!(!out.join("runs").exists());
}
