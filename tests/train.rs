//! Training learns, freezing freezes, and metrics are right.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

use sweep::data::sample_per_class;
use sweep::model::{self, Network};
use sweep::spec::Optimizer;
use sweep::spec::schema::ModelSpec;
use sweep::train::{self, Settings, metrics};

fn spec(width: usize, stages: usize) -> ModelSpec {
    ModelSpec {
        backbone: "resnet-mini".into(),
        width,
        stages,
        blocks: 1,
        input_size: 16,
        weights: None,
        sha256: None,
        allow_partial: false,
    }
}

fn settings(epochs: usize, lr: f64, mult: f64) -> Settings {
    Settings {
        backbone_lr_mult: mult,
        ..Settings::new(epochs, 32, Optimizer::Adam, lr, 7)
    }
}

#[test]
fn resnet_mini_learns_mnist() {
    let data = sweep::data::prepare("mnist-10k", None, 16).unwrap();
    let device = Device::flex().autodiff();
    let (candidates, val) = data.val_split(0.1);
    let train_idx = sample_per_class(&candidates, &data.labels, 200, 0);
    let net = model::build(&spec(16, 3), 1, 10, 0, &device);
    let fitted = train::fit(
        net,
        &data,
        &train_idx,
        &val[..500],
        &settings(3, 2e-3, 1.0),
        &device,
        &mut |_| {},
    )
    .unwrap();
    let test = train::evaluate(&fitted.best, &data, &data.test[..1000], &device);
    let acc = train::accuracy(&test);
    // 2,000 training images, 1,000 held-out test images never seen in training or selection.
    assert!(acc >= 0.90, "held-out accuracy {acc}");
    assert_eq!(fitted.epochs.len(), 3);
}

/// Every float parameter and running statistic, by path.
#[derive(Default)]
struct Snapshot(Vec<(String, Vec<f32>)>, Vec<String>);

impl ModuleVisitor for Snapshot {
    // Enum variants (`ResNet`, `Basic`) are left out, as in torchvision's key names.
    fn enter_module(&mut self, name: &str, container: &str) {
        if !container.starts_with("Enum") {
            self.1.push(name.to_string());
        }
    }
    fn exit_module(&mut self, _: &str, container: &str) {
        if !container.starts_with("Enum") {
            self.1.pop();
        }
    }
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let values = p
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        self.0.push((self.1.join("."), values));
    }
}

/// Float tensors of a module by path.
type Values = Vec<(String, Vec<f32>)>;

fn snapshot(m: &Network) -> Values {
    let mut s = Snapshot::default();
    m.valid().visit(&mut s);
    s.0
}

/// Trains `net` on `per_class` UCI digits per class; returns the parameters before and after.
fn train_uci(net: Network, per_class: usize, s: Settings) -> (Values, Values) {
    let data = sweep::data::prepare("uci-digits", None, 16).unwrap();
    let (candidates, val) = data.val_split(0.2);
    let train_idx = sample_per_class(&candidates, &data.labels, per_class, 0);
    let before = snapshot(&net);
    let fitted = train::fit(
        net,
        &data,
        &train_idx,
        &val,
        &s,
        &Device::flex().autodiff(),
        &mut |_| {},
    )
    .unwrap();
    (before, snapshot(&fitted.best))
}

#[test]
fn frozen_parts_and_their_batch_norm_statistics_do_not_move() {
    // freeze_depth 2 = stem and layer1 frozen.
    let (before, after) = train_uci(
        model::build(&spec(8, 2), 1, 10, 1, &Device::flex().autodiff()).freeze_leading(2, false),
        10,
        settings(2, 1e-2, 0.5),
    );
    assert_eq!(before.len(), after.len());
    let (mut frozen, mut moved) = (0, 0);
    for ((path, b), (path2, a)) in before.iter().zip(&after) {
        assert_eq!(path, path2);
        let is_frozen =
            path.starts_with("conv1") || path.starts_with("bn1") || path.starts_with("layer1");
        if is_frozen {
            assert_eq!(a, b, "{path} is frozen but changed");
            frozen += 1;
        } else if a != b {
            moved += 1;
        }
    }
    assert!(
        frozen >= 10,
        "stem and layer1 hold weights and BN statistics ({frozen})"
    );
    assert!(moved >= 10, "the unfrozen parts train ({moved} changed)");
    assert!(
        before.iter().any(|(p, _)| p == "bn1.running_mean"),
        "running statistics are visited"
    );
}

#[test]
fn zero_backbone_lr_trains_only_the_head() {
    let (before, after) = train_uci(
        model::build(&spec(8, 1), 1, 10, 1, &Device::flex().autodiff()),
        5,
        settings(1, 1e-2, 0.0),
    );
    for ((path, b), (_, a)) in before.iter().zip(&after) {
        let weight = path.ends_with("weight") || path.ends_with("gamma") || path.ends_with("beta");
        if path.starts_with("fc") {
            assert_ne!(a, b, "{path}: the head trains");
        } else if weight {
            assert_eq!(a, b, "{path}: backbone lr is 0");
        }
    }
}

#[test]
fn metrics_match_hand_computed_values() {
    // truth 0 0 1 1 2, predicted 0 1 1 1 0
    let m = metrics(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 3);
    assert_eq!(
        m.confusion,
        vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]
    );
    assert!((m.accuracy - 0.6).abs() < 1e-12);
    // precision: 1/2, 2/3, 0; recall: 1/2, 1, 0
    assert!((m.precision - (0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    assert!((m.recall - 0.5).abs() < 1e-12);
    let f1_1 = 2.0 * (2.0 / 3.0) / (2.0 / 3.0 + 1.0);
    assert!((m.f1 - (0.5 + f1_1) / 3.0).abs() < 1e-12);
}

#[test]
fn the_train_bn_policy_updates_statistics_but_not_weights() {
    let (before, after) = train_uci(
        model::build(&spec(8, 1), 1, 10, 1, &Device::flex().autodiff()).freeze_leading(1, true),
        5,
        settings(1, 1e-2, 1.0),
    );
    let get = |s: &[(String, Vec<f32>)], k: &str| s.iter().find(|(p, _)| p == k).unwrap().1.clone();
    assert_eq!(
        get(&before, "conv1.weight"),
        get(&after, "conv1.weight"),
        "weights stay frozen"
    );
    assert_eq!(get(&before, "bn1.gamma"), get(&after, "bn1.gamma"));
    assert_ne!(
        get(&before, "bn1.running_mean"),
        get(&after, "bn1.running_mean"),
        "statistics train"
    );
}

#[test]
fn frozen_values_are_exactly_the_frozen_parts() {
    let device = Device::flex().autodiff();
    let paths = |net: &Network| -> Vec<String> {
        model::frozen::values(net)
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    };
    assert!(paths(&model::build(&spec(8, 2), 1, 10, 1, &device)).is_empty());
    let stem = paths(&model::build(&spec(8, 2), 1, 10, 1, &device).freeze_leading(1, false));
    assert_eq!(
        stem,
        [
            "conv1.weight",
            "bn1.gamma",
            "bn1.beta",
            "bn1.running_mean",
            "bn1.running_var"
        ]
    );
    // With the `train` policy the statistics are not frozen.
    let stem = paths(&model::build(&spec(8, 2), 1, 10, 1, &device).freeze_leading(1, true));
    assert_eq!(stem, ["conv1.weight", "bn1.gamma", "bn1.beta"]);
}
