//! Classifier heads: torchvision-style names and widths, a fresh head on a pretrained backbone,
//! cached and uncached head-only training agreeing, and an MLP head on a flatten that learns.

use burn::tensor::{Device, Tensor};

use sweep::data::sample_per_class;
use sweep::model::frozen::all_values;
use sweep::model::head::{Activation, Head, Pool};
use sweep::model::{self, Network};
use sweep::spec::Optimizer;
use sweep::spec::schema::ModelSpec;
use sweep::train::{self, Settings};

fn mlp(hidden: &[usize], dropout: f64) -> Option<Head> {
    Some(Head::Mlp {
        hidden: hidden.to_vec(),
        activation: Activation::Relu,
        dropout,
    })
}

/// resnet-mini, width 8, two stages, 16x16: its last map is 16 channels of 8x8.
fn mini(head: Option<Head>, pool: Option<Pool>) -> ModelSpec {
    ModelSpec {
        width: 8,
        stages: 2,
        blocks: 1,
        input_size: 16,
        head,
        pool,
        ..ModelSpec::default()
    }
}

/// (path, number of values) of every head tensor (paths starting with `prefix`).
fn head_shapes(net: &Network, prefix: &str) -> Vec<(String, usize)> {
    all_values(net)
        .into_iter()
        .filter(|(p, _)| p.starts_with(prefix))
        .map(|(p, v)| (p, v.len()))
        .collect()
}

fn shapes(list: &[(&str, usize)]) -> Vec<(String, usize)> {
    list.iter().map(|&(p, n)| (p.to_string(), n)).collect()
}

#[test]
fn heads_take_nn_sequential_names_and_the_pooled_width() {
    let device = Device::flex();
    let build = |s: &ModelSpec| model::build(s, 1, 10, 0, &device);
    // Linear(1024, 32), ReLU, Dropout, Linear(32, 10): flatten gives 16 * 8 * 8 = 1024 values.
    let net = build(&mini(mlp(&[32], 0.5), Some(Pool::Flatten)));
    assert_eq!(
        head_shapes(&net, "fc."),
        shapes(&[
            ("fc.0.weight", 1024 * 32),
            ("fc.0.bias", 32),
            ("fc.3.weight", 32 * 10),
            ("fc.3.bias", 10)
        ])
    );
    // No dropout layer, two hidden layers, the average pool's 16 values.
    let net = build(&mini(mlp(&[32, 24], 0.0), None));
    assert_eq!(
        head_shapes(&net, "fc.")
            .into_iter()
            .filter(|(p, _)| p.ends_with("weight"))
            .collect::<Vec<_>>(),
        shapes(&[
            ("fc.0.weight", 16 * 32),
            ("fc.2.weight", 32 * 24),
            ("fc.4.weight", 24 * 10)
        ])
    );
    // A linear head on the flatten keeps torchvision's `fc.weight`.
    let net = build(&mini(Some(Head::Linear), Some(Pool::Flatten)));
    assert_eq!(
        head_shapes(&net, "fc."),
        shapes(&[("fc.weight", 1024 * 10), ("fc.bias", 10)])
    );
    // VGG's 4096-wide classifier is replaced whole: at 32x32 its map is 512 x 1 x 1.
    let vgg = ModelSpec {
        backbone: "vgg11_bn".into(),
        input_size: 32,
        ..mini(mlp(&[64], 0.0), Some(Pool::Flatten))
    };
    assert_eq!(
        head_shapes(&model::build(&vgg, 3, 5, 0, &device), "classifier.")
            .into_iter()
            .filter(|(p, _)| p.ends_with("weight"))
            .collect::<Vec<_>>(),
        shapes(&[
            ("classifier.0.weight", 512 * 64),
            ("classifier.2.weight", 64 * 5)
        ])
    );
}

#[test]
fn every_family_takes_a_custom_head() {
    let device = Device::flex();
    for (name, size) in [
        ("resnet-mini", 16),
        ("vgg11_bn", 32),
        ("alexnet", 64),
        ("mobilenet_v2", 32),
        ("densenet121", 32),
    ] {
        for pool in [Pool::Avg, Pool::Flatten] {
            let s = ModelSpec {
                backbone: name.into(),
                input_size: size,
                ..mini(mlp(&[16], 0.2), Some(pool))
            };
            let net = model::build(&s, 3, 7, 1, &device);
            let x = Tensor::<4>::ones([2, 3, size, size], &device);
            assert_eq!(net.forward(x, None).dims(), [2, 7], "{name} {pool:?}");
            assert!(
                net.head_prefix().ends_with('.') && !net.head_prefix().contains(char::is_numeric),
                "{name}: the whole head is replaced on transfer, not its last layer"
            );
        }
    }
}

#[test]
fn a_pretrained_backbone_keeps_its_weights_and_gets_a_fresh_head() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.safetensors");
    // The source stage's network: torchvision's linear head on 5 classes.
    let source = model::build(&mini(None, None), 1, 5, 3, &device);
    model::weights::save_safetensors(&source, &path).unwrap();
    let target = mini(mlp(&[32], 0.0), Some(Pool::Flatten));
    let net = model::pretrained(&target, &path, 1, 10, 4, false, &device).unwrap();
    let (before, after) = (all_values(&source), all_values(&net));
    let backbone = |v: &[(String, Vec<f32>)]| -> Vec<(String, Vec<f32>)> {
        v.iter()
            .filter(|(p, _)| !p.starts_with("fc."))
            .cloned()
            .collect()
    };
    assert_eq!(
        backbone(&before),
        backbone(&after),
        "backbone loaded bit for bit"
    );
    assert_eq!(
        head_shapes(&net, "fc.")
            .into_iter()
            .filter(|(p, _)| p.ends_with("weight"))
            .collect::<Vec<_>>(),
        shapes(&[("fc.0.weight", 1024 * 32), ("fc.2.weight", 32 * 10)])
    );
    // The head is drawn from the run's seed: another seed, another head, same backbone.
    let other = model::pretrained(&target, &path, 1, 10, 5, false, &device).unwrap();
    let head = |n: &Network| all_values(n).into_iter().find(|(p, _)| p == "fc.0.weight");
    assert_ne!(head(&net), head(&other));
    assert_eq!(backbone(&all_values(&other)), backbone(&after));
}

fn uci_settings(epochs: usize) -> Settings {
    Settings::new(epochs, 32, Optimizer::Adam, 0.003, 7)
}

#[test]
fn an_mlp_head_on_a_flatten_learns_uci_digits() {
    let device = Device::flex().autodiff();
    let data = sweep::data::prepare("uci-digits", &[], None, 16).unwrap();
    let (candidates, val) = data.val_split(0.2);
    let train_idx = sample_per_class(&candidates, &data.labels, 30, 0);
    let spec = mini(mlp(&[64], 0.3), Some(Pool::Flatten));
    let net = model::build(&spec, data.channels, data.classes, 0, &device);
    let fitted = train::fit(
        net,
        &data,
        &train_idx,
        &val,
        &uci_settings(15),
        &device,
        &mut |_| {},
    )
    .unwrap();
    let test = train::evaluate(&fitted.best, &data, &data.test, &device);
    let acc = train::accuracy(&test);
    assert!(
        acc >= 0.85,
        "MLP head on 300 UCI digits: held-out accuracy {acc:.3} < 0.85"
    );
}

#[test]
fn a_cached_linear_probe_with_an_mlp_head_matches_the_uncached_one() {
    let device = Device::flex().autodiff();
    let data = sweep::data::prepare("uci-digits", &[], None, 16).unwrap();
    let (candidates, val) = data.val_split(0.2);
    let train_idx = sample_per_class(&candidates, &data.labels, 10, 0);
    let spec = mini(mlp(&[32], 0.5), Some(Pool::Flatten));
    let parts = model::parts(&spec).len();
    let net = || model::build(&spec, 1, 10, 2, &device).freeze_leading(parts, false);
    let settings = Settings {
        freeze_depth: parts,
        ..uci_settings(3)
    };
    let whole = train::fit(
        net(),
        &data,
        &train_idx,
        &val,
        &settings,
        &device,
        &mut |_| {},
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let features = train::features::obtain(&net(), parts, &data, "uci-heads", dir.path(), &device)
        .unwrap()
        .expect("small enough to cache");
    let cached = train::fit(
        net(),
        &features.data,
        &train_idx,
        &val,
        &Settings {
            from_part: parts,
            ..settings
        },
        &device,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        model::frozen::weights_hash(&whole.best),
        model::frozen::weights_hash(&cached.best)
    );
}

const EXPERIMENT: &str = r#"
[experiment]
name = "h"
seeds = [0]

[source]
dataset = "mnist-10k"

[target]
dataset = "uci-digits"
labels_per_class = 5

[model]
backbone = "resnet-mini"
HEAD

[transfer]
strategy = ["scratch", "linear-probe"]
"#;

fn plan(head: &str) -> sweep::spec::Plan {
    let text = EXPERIMENT.replace("HEAD", head);
    sweep::spec::Plan::parse(std::path::Path::new("h.toml"), &text, sweep::task::rules).unwrap()
}

#[test]
fn heads_are_values_lists_of_them_axes_and_share_one_source_stage() {
    // An MLP's hidden widths are one value, not an axis.
    let p = plan("head = { kind = \"mlp\", hidden = [256, 128], activation = \"gelu\" }");
    assert_eq!(p.runs.len(), 2);
    assert_eq!(
        p.runs[0].config.model.head,
        Some(Head::Mlp {
            hidden: vec![256, 128],
            activation: Activation::Gelu,
            dropout: 0.0
        })
    );
    // A list of heads is an axis, and so is a list of pools.
    let p = plan(
        "head = [\"linear\", { kind = \"mlp\", hidden = [64] }]\npool = [\"avg\", \"flatten\"]",
    );
    assert_eq!(
        p.axes,
        [
            "model.head",
            "model.pool",
            "transfer.strategy",
            "experiment.seeds"
        ]
    );
    assert_eq!(p.runs.len(), 2 * 2 * 2);
    let labels: Vec<(String, String)> = p
        .runs
        .iter()
        .map(|r| (r.axis_values[0].clone(), r.axis_values[1].clone()))
        .collect();
    assert!(labels.contains(&("linear".into(), "avg".into())));
    assert!(labels.contains(&("mlp 64".into(), "flatten".into())));
    // A linear head on the average pool is a ResNet's own head: the same runs as no head.
    let ids: std::collections::HashSet<_> = p.runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 8);
    assert!(plan("").runs.iter().all(|r| ids.contains(&r.id)));
    // The head belongs to the target runs: every head value trains on one source stage.
    let keys: std::collections::HashSet<_> = p
        .runs
        .iter()
        .filter_map(|r| {
            let s = r.config.source.as_ref()?;
            Some(sweep::sweep::source::key(s, &r.config.model))
        })
        .collect();
    assert_eq!(keys.len(), 1);
}

#[test]
fn the_article_recipes_plan_three_strategies_each() {
    for (file, head) in [
        ("experiments/seed-vgg16.toml", mlp(&[256], 0.0)),
        ("experiments/seed-resnet18.toml", None),
    ] {
        let p = sweep::spec::Plan::load(std::path::Path::new(file), sweep::task::rules).unwrap();
        let strategies: std::collections::BTreeSet<_> = p
            .runs
            .iter()
            .map(|r| r.config.transfer.strategy.as_str())
            .collect();
        assert_eq!(
            strategies.into_iter().collect::<Vec<_>>(),
            ["finetune", "linear-probe", "scratch"],
            "{file}"
        );
        assert!(p.runs.iter().all(|r| r.config.model.head == head), "{file}");
        assert!(p.runs.len() >= 9, "{file}: 3 seeds for confidence bands");
    }
}

#[test]
fn a_custom_head_leaves_the_backbone_as_initialised() {
    // Sizing the head runs the backbone once; on the training device that pass would move
    // every batch norm's running statistics (it did, and cached runs then disagreed).
    let device = Device::flex().autodiff();
    let plain = model::build(&mini(None, None), 1, 10, 0, &device);
    let custom = model::build(
        &mini(mlp(&[8], 0.0), Some(Pool::Flatten)),
        1,
        10,
        0,
        &device,
    );
    let x = Tensor::<4>::ones([2, 1, 16, 16], &device);
    // Running statistics update lazily: an inference pass brings any pending update in.
    let _ = burn::module::Module::valid(&custom).forward(x, None);
    let backbone = |n: &Network| -> Vec<(String, Vec<f32>)> {
        all_values(n)
            .into_iter()
            .filter(|(p, _)| !p.starts_with("fc."))
            .collect()
    };
    assert_eq!(backbone(&plain), backbone(&custom));
}
