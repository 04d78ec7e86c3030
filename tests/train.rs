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
        ..ModelSpec::default()
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
    let data = sweep::data::prepare("mnist-10k", &[], None, 16).unwrap();
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

/// Trains `net` on `per_class` UCI digits per class; returns the parameters before, the fitted
/// models and the frozen parts of every epoch.
fn fit_uci(net: Network, per_class: usize, s: Settings) -> (Values, train::Fitted, Vec<usize>) {
    let data = sweep::data::prepare("uci-digits", &[], None, 16).unwrap();
    let (candidates, val) = data.val_split(0.2);
    let train_idx = sample_per_class(&candidates, &data.labels, per_class, 0);
    let before = snapshot(&net);
    let mut frozen = Vec::new();
    let fitted = train::fit(
        net,
        &data,
        &train_idx,
        &val,
        &s,
        &Device::flex().autodiff(),
        &mut |e| frozen.push(e.frozen_parts),
    )
    .unwrap();
    (before, fitted, frozen)
}

/// The parameters before and after training (the best epoch's).
fn train_uci(net: Network, per_class: usize, s: Settings) -> (Values, Values) {
    let (before, fitted, _) = fit_uci(net, per_class, s);
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

/// Trains on 10 UCI digits per class: parameters before, after the last epoch, frozen parts.
fn train_uci_last(net: Network, s: Settings) -> (Values, Values, Vec<usize>) {
    let (before, fitted, frozen) = fit_uci(net, 10, s);
    (before, snapshot(&fitted.last), frozen)
}

/// Names of the parts whose values changed: `stem` (conv1, bn1), `layer1`.., `fc`.
fn moved_parts(before: &Values, after: &Values) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ((path, b), (_, a)) in before.iter().zip(after) {
        let part = match path.split('.').next().unwrap() {
            "conv1" | "bn1" => "stem",
            p => p,
        };
        if a != b && !out.iter().any(|o| o == part) {
            out.push(part.to_string());
        }
    }
    out
}

#[test]
fn the_unfreezing_schedule_thaws_one_part_per_period_down_to_freeze_depth() {
    let s = Settings {
        freeze_depth: 1,
        unfreeze_every: 2,
        ..Settings::new(8, 32, Optimizer::Adam, 1e-3, 0)
    };
    let depths: Vec<usize> = (1..=8).map(|e| s.frozen_parts(4, e)).collect();
    assert_eq!(depths, [4, 4, 3, 3, 2, 2, 1, 1]);
    let off = Settings::new(8, 32, Optimizer::Adam, 1e-3, 0);
    assert_eq!(off.frozen_parts(4, 5), 0);
}

#[test]
fn gradual_unfreezing_trains_exactly_the_thawed_parts() {
    let device = Device::flex().autodiff();
    // stem, layer1, layer2, layer3; one more part thaws every epoch, the stem never.
    let s = |epochs| Settings {
        freeze_depth: 1,
        unfreeze_every: 1,
        patience: 0,
        ..Settings::new(epochs, 32, Optimizer::Adam, 1e-2, 3)
    };
    let net = || model::build(&spec(8, 3), 1, 10, 1, &device);
    let (b1, a1, f1) = train_uci_last(net(), s(1));
    assert_eq!(f1, [4]);
    assert_eq!(moved_parts(&b1, &a1), ["fc"]);
    let (b2, a2, f2) = train_uci_last(net(), s(2));
    assert_eq!(f2, [4, 3]);
    assert_eq!(moved_parts(&b2, &a2), ["layer3", "fc"]);
    let (b4, a4, f4) = train_uci_last(net(), s(4));
    assert_eq!(f4, [4, 3, 2, 1]);
    assert_eq!(moved_parts(&b4, &a4), ["layer1", "layer2", "layer3", "fc"]);
}

#[test]
fn layer_decay_scales_each_parts_step_by_its_depth() {
    let device = Device::flex().autodiff();
    let data = sweep::data::prepare("uci-digits", &[], None, 16).unwrap();
    let (candidates, val) = data.val_split(0.2);
    let train_idx = sample_per_class(&candidates, &data.labels, 4, 0);
    // One plain-SGD step over the whole set: each parameter moves by -rate * gradient.
    let step = |decay: f64| {
        let s = Settings {
            layer_decay: decay,
            batch_size: train_idx.len(),
            ..Settings::new(1, 32, Optimizer::Sgd, 0.1, 0)
        };
        let net = model::build(&spec(8, 3), 1, 10, 1, &device);
        let before = snapshot(&net);
        let fitted = train::fit(net, &data, &train_idx, &val, &s, &device, &mut |_| {}).unwrap();
        (before, snapshot(&fitted.last))
    };
    let (before, plain) = step(1.0);
    let (_, decayed) = step(0.5);
    let mut checked = 0;
    for (((path, b), (_, p)), (_, d)) in before.iter().zip(&plain).zip(&decayed) {
        if path.contains("running") {
            continue;
        }
        // timm's rule: part k of n = 4 learns at decay^(n - k); the head at the full rate.
        let want = match path.split('.').next().unwrap() {
            "conv1" | "bn1" => 0.5f64.powi(4),
            "layer1" => 0.5f64.powi(3),
            "layer2" => 0.5f64.powi(2),
            "layer3" => 0.5,
            _ => 1.0,
        };
        for ((b, p), d) in b.iter().zip(p).zip(d) {
            let (dp, dd) = (f64::from(p - b), f64::from(d - b));
            if dp.abs() > 1e-4 {
                assert!(
                    (dd / dp - want).abs() < 0.02,
                    "{path}: step ratio {} instead of {want}",
                    dd / dp
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked} values compared");
}

#[test]
fn head_dropout_acts_in_training_only_and_is_seeded() {
    use rand::SeedableRng;
    let device = Device::flex();
    let mut with = spec(8, 2);
    with.dropout = 0.5;
    let net = model::build(&with, 1, 10, 0, &device);
    let x = Tensor::<4>::random([4, 1, 16, 16], burn::tensor::Distribution::Default, &device);
    let values = |t: Tensor<2>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let plain = values(net.forward(x.clone(), None));
    let eval = values(net.forward_dropout(x.clone(), None, 0.5));
    assert_eq!(plain, eval, "no generator, no dropout");
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let a = values(net.forward_dropout(x.clone(), Some(&mut rng), 0.5));
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let b = values(net.forward_dropout(x, Some(&mut rng), 0.5));
    assert_ne!(a, plain);
    assert_eq!(a, b);
}

#[test]
fn lr_find_suggests_a_rate_that_trains() {
    let device = Device::flex().autodiff();
    let data = sweep::data::prepare("uci-digits", &[], None, 16).unwrap();
    let (candidates, val) = data.val_split(0.2);
    let train_idx = sample_per_class(&candidates, &data.labels, 20, 0);
    let s = Settings::new(8, 32, Optimizer::Adam, 1e-3, 0);
    let net = || model::build(&spec(8, 2), 1, 10, 0, &device);
    let found = train::lr_find::lr_find(net(), &data, &train_idx, &s, (1e-6, 10.0, 80), &device);
    let lr = found.valley.expect("a suggestion");
    assert!((1e-6..=10.0).contains(&lr));
    // The curve falls to its minimum and then rises: the test stopped early or ended higher.
    let min = found
        .points
        .iter()
        .map(|p| p.smoothed)
        .fold(f64::MAX, f64::min);
    assert!(found.points[0].smoothed > min);
    assert!(found.points.last().unwrap().smoothed > min);
    // Training at the suggested rate learns, far better than at a rate left of the valley.
    let acc = |lr: f64| {
        let s = Settings { lr, ..s.clone() };
        let fitted = train::fit(net(), &data, &train_idx, &val, &s, &device, &mut |_| {}).unwrap();
        train::accuracy(&train::evaluate(&fitted.best, &data, &val, &Device::flex()))
    };
    let (good, slow) = (acc(lr), acc(1e-5));
    assert!(
        good >= 0.6,
        "validation accuracy {good} at the suggested lr {lr:e}"
    );
    assert!(good > slow + 0.2, "{good} at {lr:e}, {slow} at 1e-5");
}

#[test]
fn part_ids_split_the_backbone_into_disjoint_nonempty_parts() {
    let device = Device::flex();
    for (name, size) in [
        ("resnet-mini", 16),
        ("vgg11_bn", 32),
        ("mobilenet_v2", 32),
        ("densenet121", 32),
    ] {
        let s = ModelSpec {
            backbone: name.into(),
            input_size: size,
            ..spec(8, 2)
        };
        let net = model::build(&s, 3, 10, 0, &device);
        let parts = net.part_param_ids();
        assert_eq!(parts.len(), net.parts().len(), "{name}");
        let all = model::param_ids(&net);
        let mut seen = std::collections::HashSet::new();
        for (k, ids) in parts.iter().enumerate() {
            assert!(!ids.is_empty(), "{name}: part {k} has no parameters");
            for id in ids {
                assert!(seen.insert(*id), "{name}: a parameter in two parts");
            }
        }
        // What no part holds is the head: present, and smaller than the backbone.
        let head = all.len() - seen.len();
        assert!(
            head >= 2 && head < seen.len(),
            "{name}: {head} head tensors"
        );
    }
}

#[test]
fn the_freeze_check_catches_a_deliberately_broken_freeze() {
    let device = Device::flex().autodiff();
    // The promise: stem frozen with its batch norm in eval mode.
    let promised = model::build(&spec(8, 2), 1, 10, 1, &device).freeze_leading(1, false);
    let before = model::frozen::values(&promised);
    // The Keras pitfall, made on purpose: the same stem with its batch norm left training.
    let broken = model::build(&spec(8, 2), 1, 10, 1, &device).freeze_leading(1, true);
    let s = settings(1, 1e-2, 1.0);
    let data = sweep::data::prepare("uci-digits", &[], None, 16).unwrap();
    let (candidates, val) = data.val_split(0.2);
    let idx = sample_per_class(&candidates, &data.labels, 5, 0);
    let fit = |net: Network| train::fit(net, &data, &idx, &val, &s, &device, &mut |_| {}).unwrap();
    let good = fit(promised);
    assert_eq!(model::frozen::check(&before, &good.last), Ok(()));
    let bad = fit(broken);
    let err = model::frozen::check(&before, &bad.last).unwrap_err();
    assert_eq!(err, "frozen tensor `bn1.running_mean` changed");
}
