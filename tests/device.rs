//! Device selection: `--device` and `[experiment] device`, and the errors of a binary built
//! without a GPU feature.

use std::process::{Command, Output};

use sweep::device::Choice;

const TINY: &str = r#"
[experiment]
name = "device"
DEVICE

[target]
dataset = "uci-digits"
labels_per_class = 2

[model]
backbone = "resnet-mini"
width = 4
stages = 1

[train]
epochs = 1
"#;

fn sweep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args(args)
        .output()
        .expect("sweep runs")
}

#[test]
fn device_names_parse_and_print_back() {
    for (text, choice) in [
        ("cpu", Choice::Cpu),
        ("cuda", Choice::Cuda(None)),
        ("cuda:1", Choice::Cuda(Some(1))),
        ("vulkan", Choice::Vulkan(None)),
        ("vulkan:0", Choice::Vulkan(Some(0))),
        ("tch", Choice::TchCpu),
        ("tch:cuda", Choice::TchCuda(None)),
        ("tch:cuda:2", Choice::TchCuda(Some(2))),
    ] {
        assert_eq!(text.parse::<Choice>(), Ok(choice));
        assert_eq!(choice.to_string(), text);
    }
    assert!("gpu".parse::<Choice>().unwrap_err().contains("cpu, cuda"));
    assert!("cuda:x".parse::<Choice>().unwrap_err().contains("`cuda:0`"));
    assert!("cpu:0".parse::<Choice>().is_err());
    assert!(
        "tch:0"
            .parse::<Choice>()
            .unwrap_err()
            .contains("tch:cuda:N")
    );
    assert!(
        "tch:cuda:x"
            .parse::<Choice>()
            .unwrap_err()
            .contains("`tch:cuda:0`")
    );
    assert!("tch:cudax".parse::<Choice>().is_err());
}

#[test]
fn the_cpu_trains_and_a_gpu_without_its_feature_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("device.toml");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();

    std::fs::write(&file, TINY.replace("DEVICE", "device = \"cpu\"")).unwrap();
    let ok = dir.path().join("cpu");
    let run = sweep(&["run", &s(&file), "--out", &s(&ok), "--quiet"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let outcome = std::fs::read_dir(ok.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let text = std::fs::read_to_string(outcome.path().join("outcome.json")).unwrap();
    let backend = format!(
        "\"backend\": \"flex (CPU, kernels {})\"",
        sweep::model::kernels::FLEX_REVISION
    );
    assert!(text.contains(&backend), "{text}");
    assert!(text.contains("\"device\": \"cpu\""), "{text}");

    // The same runs whatever the device setting: it is not part of a run's identity.
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, TINY.replace("DEVICE", "")).unwrap();
    let ids = |f: &std::path::Path| String::from_utf8(sweep(&["plan", &s(f)]).stdout).unwrap();
    assert_eq!(ids(&file), ids(&plain));

    for (feature, args) in [
        ("vulkan", vec!["--device", "vulkan"]),
        ("cuda", vec!["--device", "cuda:0"]),
        ("tch", vec!["--device", "tch"]),
        ("tch", vec!["--device", "tch:cuda"]),
    ] {
        if cfg!(feature = "vulkan") || cfg!(feature = "cuda") || cfg!(feature = "tch") {
            break; // a GPU or LibTorch build: the errors below do not apply
        }
        let out = dir.path().join(feature);
        let mut all = vec!["run".to_string(), s(&plain), "--out".into(), s(&out)];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let refused = sweep(&all);
        assert!(!refused.status.success());
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains(&format!("--features {feature}")), "{err}");
        assert!(!out.join("runs.csv").exists() && !out.join("runs").exists());
    }

    let bad = sweep(&["run", &s(&plain), "--device", "tpu"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown device `tpu`"));

    std::fs::write(&file, TINY.replace("DEVICE", "device = \"tpu\"")).unwrap();
    let bad = sweep(&["plan", &s(&file)]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("experiment.device"),
        "{err}"
    );
    assert!(err.contains("device.toml:4"), "{err}");

    std::fs::write(
        &file,
        TINY.replace("DEVICE", "device = [\"cpu\", \"cuda\"]"),
    )
    .unwrap();
    let bad = sweep(&["plan", &s(&file)]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("cannot be a list"),
        "{err}"
    );
}
