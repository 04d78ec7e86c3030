//! Weight files: round trip under torchvision's names, and clear errors for bad files.

use std::path::Path;

use burn::tensor::{Device, Tensor};
use sweep::model::{self, weights};
use sweep::spec::schema::ModelSpec;

fn spec(width: usize) -> ModelSpec {
    ModelSpec {
        backbone: "resnet-mini".into(),
        width,
        stages: 2,
        blocks: 1,
        input_size: 16,
        ..ModelSpec::default()
    }
}

fn logits(net: &model::Network) -> Vec<f32> {
    let x = Tensor::<4>::ones([1, 1, 16, 16], &Device::flex());
    net.forward(x, None)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

fn save(width: usize, classes: usize, path: &Path) {
    let net = model::build(&spec(width), 1, classes, 1, &Device::flex());
    weights::save_safetensors(&net, path).unwrap();
}

fn pretrained_err(path: &Path, width: usize) -> String {
    let r = model::pretrained(&spec(width), path, 1, 10, 0, false, &Device::flex());
    format!("{:#}", r.expect_err("an error"))
}

#[test]
fn saved_weights_load_back_with_torchvision_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let net = model::build(&spec(8), 1, 10, 1, &Device::flex());
    weights::save_safetensors(&net, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut keys: Vec<String> = st.names().into_iter().map(String::from).collect();
    keys.sort();
    for key in [
        "conv1.weight",
        "bn1.weight",
        "bn1.running_var",
        "layer1.0.conv1.weight",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.bias",
        "fc.weight",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} not in {keys:?}");
    }
    assert_eq!(
        st.tensor("fc.weight").unwrap().shape(),
        [10, 16],
        "Linear stored as PyTorch [out, in]"
    );
    let (back, report) =
        weights::load(model::build(&spec(8), 1, 10, 2, &Device::flex()), &path).unwrap();
    assert!(
        report.is_complete() && report.unexpected.is_empty(),
        "{}",
        report.describe()
    );
    assert_eq!(logits(&back), logits(&net));
}

#[test]
fn a_new_head_replaces_the_old_one_and_everything_else_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    save(8, 7, &path);
    let net = model::pretrained(&spec(8), &path, 1, 10, 0, false, &Device::flex()).unwrap();
    assert_eq!(logits(&net).len(), 10);
}

/// Saves a `from`-channel network, loads it for `to`-channel images, and gives the largest gap
/// between the two on one grey image (fed to each with its channel count).
fn refitted_gap(from: usize, to: usize) -> f32 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let device = Device::flex();
    let theirs = model::build(&spec(8), from, 10, 1, &device);
    weights::save_safetensors(&theirs, &path).unwrap();
    let ours = model::pretrained(&spec(8), &path, to, 10, 0, false, &device).unwrap();
    assert_eq!(ours.in_channels(), to);
    let ramp: Vec<f32> = (0..256).map(|i| (i % 23) as f32 / 23.0 - 0.4).collect();
    let grey =
        Tensor::<4>::from_floats(burn::tensor::TensorData::new(ramp, [1, 1, 16, 16]), &device);
    let last = |net: &model::Network, channels: usize| {
        net.stages(grey.clone().repeat_dim(1, channels))
            .pop()
            .unwrap()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let (a, b) = (last(&ours, to), last(&theirs, from));
    assert!(
        a.iter().any(|v| v.abs() > 1e-3),
        "features are not all zero"
    );
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn three_channel_weights_serve_one_channel_images() {
    // A grey image through the summed kernel = the same image on three channels.
    let err = refitted_gap(3, 1);
    assert!(err < 1e-4, "{err}");
}

#[test]
fn one_channel_weights_serve_three_channel_images() {
    // A grey source (MNIST) transferred to an RGB target (COCO): the kernel spread over three
    // channels gives a grey RGB image the features the source gave the grey one.
    let err = refitted_gap(1, 3);
    assert!(err < 1e-4, "{err}");
}

#[test]
fn wrong_shapes_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.safetensors");
    save(16, 10, &path);
    let e = pretrained_err(&path, 8);
    assert!(
        e.contains("wide.safetensors") && e.contains("wrong shape") && e.contains("conv1.weight"),
        "{e}"
    );
    assert!(e.contains("allow_partial"), "{e}");
}

#[test]
fn missing_keys_are_refused_unless_partial_loads_are_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.safetensors");
    // A 1-stage model lacks every layer2 key of a 2-stage one.
    let mut one = spec(8);
    one.stages = 1;
    weights::save_safetensors(&model::build(&one, 1, 10, 1, &Device::flex()), &path).unwrap();
    let e = pretrained_err(&path, 8);
    assert!(
        e.contains("short.safetensors")
            && e.contains("15 missing keys")
            && e.contains("layer2.0.bn1.weight"),
        "{e}"
    );
    let partial = model::pretrained(&spec(8), &path, 1, 10, 0, true, &Device::flex());
    assert!(partial.is_ok());
}

#[test]
fn truncated_garbage_and_unknown_formats_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    save(8, 10, &good);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = pretrained_err(&cut, 8);
    assert!(e.contains("cut.safetensors"), "{e}");

    let text = dir.path().join("notes.safetensors");
    std::fs::write(&text, "these are not weights").unwrap();
    assert!(pretrained_err(&text, 8).contains("notes.safetensors"));

    let pth = dir.path().join("bad.pth");
    std::fs::write(&pth, [0u8; 64]).unwrap();
    assert!(pretrained_err(&pth, 8).contains("bad.pth"));

    let other = dir.path().join("w.onnx");
    std::fs::write(&other, b"x").unwrap();
    let e = pretrained_err(&other, 8);
    assert!(
        e.contains("w.onnx") && e.contains("unknown weights format"),
        "{e}"
    );

    let e = pretrained_err(&dir.path().join("absent.safetensors"), 8);
    assert!(
        e.contains("absent.safetensors") && e.contains("does not exist"),
        "{e}"
    );
}
