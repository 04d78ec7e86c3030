//! `transfer.transfer_depth`: copied parts equal the source bit for bit, fresh parts equal a
//! fresh network of the run's seed, `freeze_depth` ≤ `transfer_depth` is checked at its line,
//! leaving it out keeps today's run ids, and the report draws Yosinski et al.'s Figure 2.

use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor};
use sweep::model;
use sweep::spec::{Plan, SpecError};

/// Every tensor (parameters and batch-norm statistics) with its id, in visiting order.
fn tensors(m: &model::Network) -> Vec<(ParamId, Vec<f32>)> {
    struct V(Vec<(ParamId, Vec<f32>)>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let v = p.val().into_data().try_to_vec::<f32>().unwrap();
            self.0.push((p.id, v));
        }
    }
    let mut v = V(Vec::new());
    m.visit(&mut v);
    v.0
}

/// Adds 0.25 to every tensor, so a source differs from any fresh network in its batch-norm
/// statistics too (fresh ones are all 0 and 1).
struct Shift;
impl ModuleMapper for Shift {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        p.map(|t| t.add_scalar(0.25))
    }
}

fn file(backbone: &str, weights: Option<&Path>, depth: Option<usize>, strategy: &str) -> String {
    let depth = depth.map_or(String::new(), |n| format!("transfer_depth = {n}\n"));
    let weights = weights.map_or(String::new(), |w| format!("weights = \"{}\"", w.display()));
    format!(
        r#"
[experiment]
name = "t"
seeds = [3]

[target]
dataset = "mnist-10k"
labels_per_class = 5

[model]
backbone = "{backbone}"
width = 8
stages = 3
input_size = 32
{weights}

[transfer]
strategy = "{strategy}"
{depth}"#
    )
}

fn parse(text: &str) -> Result<Plan, SpecError> {
    Plan::parse(Path::new("exp.toml"), text, sweep::task::rules)
}

/// The initial network of the one run of `text`, as `sweep run` builds it.
fn initial(text: &str) -> (model::Network, sweep::spec::Run) {
    let plan = parse(text).unwrap();
    let run = plan.runs[0].clone();
    let cache = tempfile::tempdir().unwrap();
    let net = sweep::task::backbone::backbone(&run, None, cache.path(), (1, 10), &Device::flex())
        .unwrap();
    (net, run)
}

fn check_depths(backbone: &str, depths: &[usize]) {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("source.safetensors");
    let probe = parse(&file(backbone, None, None, "scratch")).unwrap();
    let spec = probe.runs[0].config.model.clone();
    let source = model::build(&spec, 1, 7, 99, &Device::flex()).map(&mut Shift);
    model::weights::save_safetensors(&source, &weights).unwrap();
    let source = tensors(&source);
    let (whole, run) = initial(&file(backbone, Some(&weights), None, "finetune"));
    let fresh = tensors(&model::build(
        &spec,
        1,
        10,
        run.config.experiment.seed,
        &Device::flex(),
    ));
    let whole_t = tensors(&whole);
    let parts = whole.part_param_ids();
    assert!(parts.len() >= 4, "{backbone}: {} parts", parts.len());
    for &n in depths {
        let (net, _) = initial(&file(backbone, Some(&weights), Some(n), "finetune"));
        let got = tensors(&net);
        assert_eq!(got.len(), fresh.len());
        let parts = net.part_param_ids();
        let part_of = |id: &ParamId| parts.iter().position(|p| p.contains(id));
        let (mut copied, mut renewed, mut head) = (0, 0, 0);
        for (i, (id, v)) in got.iter().enumerate() {
            match part_of(id) {
                Some(k) if k < n => {
                    assert_eq!(
                        v, &source[i].1,
                        "{backbone} n={n}: tensor {i} (part {k}) copied"
                    );
                    copied += 1;
                }
                Some(k) => {
                    assert_eq!(
                        v, &fresh[i].1,
                        "{backbone} n={n}: tensor {i} (part {k}) fresh"
                    );
                    assert_ne!(
                        v, &source[i].1,
                        "{backbone} n={n}: tensor {i} differs from source"
                    );
                    renewed += 1;
                }
                // The head: as fresh as in a run that copies every part.
                None => {
                    assert_eq!(v, &whole_t[i].1, "{backbone} n={n}: head tensor {i}");
                    head += 1;
                }
            }
        }
        assert!(head > 0 && renewed > 0 && (n == 0 || copied > 0));
    }
    // Every part copied: the whole source backbone, as without `transfer_depth`.
    for (i, (id, v)) in whole_t.iter().enumerate() {
        if parts.iter().any(|p| p.contains(id)) {
            assert_eq!(v, &source[i].1);
        }
    }
}

#[test]
fn copied_parts_equal_the_source_and_fresh_parts_a_fresh_network_of_the_seed() {
    check_depths("resnet-mini", &[0, 1, 3]);
    check_depths("mobilenet_v2", &[2, 5]);
}

const FILE: &str = r#"
[experiment]
name = "t"
seeds = [0, 1]

[source]
dataset = "mnist-10k"
classes = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]

[target]
dataset = "mnist-10k"
classes = [5, 6, 7, 8, 9]
labels_per_class = 5

[model]
backbone = "resnet-mini"
stages = 3

[transfer]
strategy = ["scratch", "finetune"]
transfer_depth = [1, 2]
freeze_depth = ["copied", 0]
"#;

#[test]
fn depths_expand_name_treatments_and_show_in_the_plan() {
    let plan = parse(FILE).unwrap();
    // 2 seeds x (1 scratch + 2 sources x 2 depths x 2 freezes).
    assert_eq!(plan.runs.len(), 2 * (1 + 8));
    let mut names: Vec<String> = plan
        .runs
        .iter()
        .map(|r| {
            let t = &r.config.transfer;
            assert!(t.freeze_depth <= t.transfer_depth.unwrap_or(0) || t.freeze_depth == 0);
            format!(
                "{}@{:?}",
                sweep::spec::depth::treatment(&r.config),
                t.transfer_depth
            )
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            "AnB+@Some(1)",
            "AnB+@Some(2)",
            "AnB@Some(1)",
            "AnB@Some(2)",
            "BnB+@Some(1)",
            "BnB+@Some(2)",
            "BnB@Some(1)",
            "BnB@Some(2)",
            "scratch@None"
        ]
    );
}

#[test]
fn freezing_more_than_is_copied_is_refused_at_its_line() {
    let text = FILE.replace("freeze_depth = [\"copied\", 0]", "freeze_depth = [0, 2]");
    let e = parse(&text).unwrap_err();
    let shown = e.to_string();
    assert_eq!(e.field.as_deref(), Some("transfer.freeze_depth"), "{shown}");
    let (line, _) = e.position.expect("a position");
    assert_eq!(
        text.lines().nth(line - 1),
        Some("freeze_depth = [0, 2]"),
        "{shown}"
    );
    assert!(
        shown.contains("more than `transfer_depth` 1") && shown.contains("layer1"),
        "{shown}"
    );
    for (from, to, field, words) in [
        (
            "transfer_depth = [1, 2]",
            "transfer_depth = 5",
            "transfer.transfer_depth",
            "more than the 4",
        ),
        (
            "strategy = [\"scratch\", \"finetune\"]",
            "strategy = \"linear-probe\"",
            "transfer.transfer_depth",
            "linear probe",
        ),
        (
            "freeze_depth = [\"copied\", 0]",
            "freeze_depth = 0\nunfreeze_every = 1",
            "transfer.unfreeze_every",
            "gradual unfreezing",
        ),
        (
            "freeze_depth = [\"copied\", 0]",
            "freeze_depth = \"all\"",
            "",
            "\"copied\"",
        ),
    ] {
        let e = parse(&FILE.replace(from, to)).unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("exp.toml:"), "{shown}");
        assert!(shown.contains(words), "`{words}` in {shown}");
        if !field.is_empty() {
            assert_eq!(e.field.as_deref(), Some(field), "{shown}");
        }
    }
}

#[test]
fn leaving_transfer_depth_out_keeps_the_run_ids() {
    let one = |depth: &str, freeze: &str| {
        let text = FILE
            .replace("transfer_depth = [1, 2]", depth)
            .replace("freeze_depth = [\"copied\", 0]", freeze);
        parse(&text).unwrap().runs
    };
    let today = one("", "freeze_depth = [4, 0]");
    for r in &today {
        let json = serde_json::to_string(&r.config).unwrap();
        assert!(!json.contains("transfer_depth"), "{json}");
    }
    let ids = |runs: &[sweep::spec::Run]| runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    // Copying all 4 parts is today's run; "copied" then means the whole backbone.
    assert_eq!(
        ids(&one("transfer_depth = 4", "freeze_depth = [4, 0]")),
        ids(&today)
    );
    assert_eq!(ids(&one("", "freeze_depth = [\"copied\", 0]")), ids(&today));
    assert_eq!(
        ids(&one("transfer_depth = 4", "freeze_depth = [\"copied\", 0]")),
        ids(&today)
    );
    let partial = ids(&one("transfer_depth = 3", "freeze_depth = [3, 0]"));
    let same = partial.iter().filter(|id| ids(&today).contains(id)).count();
    assert_eq!(same, 2, "only the scratch runs (2 seeds) are shared");
}

/// A results folder of a Yosinski sweep: scratch and four treatments at depths 1..3, 3 seeds.
fn fixture(dir: &Path) -> Vec<(String, Option<usize>, f64)> {
    let mut rows = vec![
        "run_id,strategy,freeze_depth,transfer_depth,treatment,backbone_lr_mult,labels_per_class,seed,status,test_accuracy,test_precision,test_recall,test_f1,best_epoch,epochs_run,train_images,seconds,error".to_string(),
    ];
    let mut expected = Vec::new();
    let mut n = 0;
    let mut add = |treatment: &str, depth: Option<usize>, base: f64, rows: &mut Vec<String>| {
        let mut accs = Vec::new();
        for seed in 0..3 {
            n += 1;
            let a = base + 0.01 * seed as f64;
            accs.push(a);
            let (strategy, freeze, d) = match (treatment, depth) {
                ("scratch", _) => ("scratch", String::new(), String::new()),
                (t, Some(d)) if t.ends_with('+') => ("finetune", "0".into(), d.to_string()),
                (_, Some(d)) => ("finetune", d.to_string(), d.to_string()),
                _ => unreachable!(),
            };
            rows.push(format!(
                "r{n:03},{strategy},{freeze},{d},{treatment},1,50,{seed},ok,{a},{a},{a},{a},3,3,250,1.0,"
            ));
        }
        expected.push((
            treatment.to_string(),
            depth,
            accs.iter().sum::<f64>() / accs.len() as f64,
        ));
    };
    add("scratch", None, 0.80, &mut rows);
    for d in 1..=3 {
        add("BnB", Some(d), 0.80 - 0.02 * (d % 2) as f64, &mut rows);
        add("BnB+", Some(d), 0.81, &mut rows);
        add("AnB", Some(d), 0.82 - 0.03 * d as f64, &mut rows);
        add("AnB+", Some(d), 0.83, &mut rows);
    }
    std::fs::write(dir.join("runs.csv"), rows.join("\n") + "\n").unwrap();
    expected
}

#[test]
fn the_report_draws_figure_2_from_a_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let expected = fixture(dir.path());
    let report = sweep::report::render(dir.path(), &Default::default()).unwrap();
    let chart = report
        .charts
        .iter()
        .find(|c| c.stem == "transfer-depth")
        .expect("the figure is listed");
    assert!(chart.caption.contains("Figure 2"), "{}", chart.caption);
    let png = dir.path().join("report/transfer-depth.png");
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
    assert!(dir.path().join("report/transfer-depth.svg").is_file());
    let mut r = csv::Reader::from_path(dir.path().join("report/transfer-depth.csv")).unwrap();
    let got: Vec<(String, Option<usize>, f64, usize)> = r
        .records()
        .map(|row| {
            let row = row.unwrap();
            (
                row[1].to_string(),
                row[2].parse().ok(),
                row[4].parse().unwrap(),
                row[3].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), expected.len());
    for (t, d, mean) in &expected {
        let g = got
            .iter()
            .find(|g| &g.0 == t && &g.1 == d)
            .unwrap_or_else(|| panic!("{t} {d:?} missing from {got:?}"));
        assert!(
            (g.2 - mean).abs() < 1e-6 && g.3 == 3,
            "{t} {d:?}: {g:?} vs {mean}"
        );
    }
    // One depth only: no figure.
    let one = tempfile::tempdir().unwrap();
    fixture(one.path());
    let text = std::fs::read_to_string(one.path().join("runs.csv")).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.contains(",2,BnB")
                && !l.contains(",2,AnB")
                && !l.contains(",3,BnB")
                && !l.contains(",3,AnB")
        })
        .collect();
    std::fs::write(one.path().join("runs.csv"), kept.join("\n") + "\n").unwrap();
    let report = sweep::report::render(one.path(), &Default::default()).unwrap();
    assert!(report.charts.iter().all(|c| c.stem != "transfer-depth"));
}

#[test]
fn a_self_transfer_source_holds_out_the_targets_validation_images() {
    // The source stage validates on 10% of its classes' training images; a target of the same
    // dataset and classes with `val_fraction = 0.1` (and no `limit`) holds out the same images,
    // so a BnB source stage never trained on them. Neither ever trains on the test split.
    let classes = [5u8, 6, 7, 8, 9];
    let source = sweep::data::prepare("mnist-10k", &classes, None, 16).unwrap();
    let (train, val) = source.val_split(0.1);
    let t: sweep::spec::schema::Target = toml::from_str(
        "dataset = \"mnist-10k\"\nclasses = [5, 6, 7, 8, 9]\nval_fraction = 0.1\ntest_limit = 300",
    )
    .unwrap();
    let target = sweep::data::target(&t, 16, None).unwrap();
    let (candidates, target_val) = target.val_split(t.val_fraction);
    assert!(!val.is_empty() && val.len() == target_val.len());
    assert_eq!(source.gather(&val).0, target.gather(&target_val).0);
    assert_eq!(source.gather(&train).0, target.gather(&candidates).0);
    assert!(train.iter().all(|i| !source.test.contains(i)));
}

#[path = "common/cli.rs"]
mod cli_util;

#[test]
fn a_depth_sweep_writes_treatments_and_the_figure() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
[experiment]
name = "depth"
seeds = [0]

[source]
dataset = "uci-digits"
classes = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
epochs = 1

[target]
dataset = "uci-digits"
classes = [5, 6, 7, 8, 9]
labels_per_class = 5
val_fraction = 0.1

[model]
backbone = "resnet-mini"
width = 4
stages = 2
input_size = 8

[train]
epochs = 1

[transfer]
strategy = ["scratch", "finetune"]
transfer_depth = [1, 2]
freeze_depth = ["copied", 0]
"#;
    let out_dir = cli_util::run_experiment(dir.path(), "depth", text);
    let (header, rows) = cli_util::read_csv(&out_dir.join("runs.csv"));
    let (t, n, f) = (
        cli_util::col(&header, "treatment"),
        cli_util::col(&header, "transfer_depth"),
        cli_util::col(&header, "freeze_depth"),
    );
    let mut seen: Vec<String> = rows
        .iter()
        .map(|r| format!("{}@{}/{}", r[t], r[n], r[f]))
        .collect();
    seen.sort();
    // One scratch run, and each source (A: other classes, B: the target's own) at each depth
    // with its copies frozen or fine-tuned.
    assert_eq!(
        seen,
        [
            "AnB+@1/0",
            "AnB+@2/0",
            "AnB@1/1",
            "AnB@2/2",
            "BnB+@1/0",
            "BnB+@2/0",
            "BnB@1/1",
            "BnB@2/2",
            "scratch@/"
        ]
    );
    assert!(out_dir.join("report/transfer-depth.png").is_file());
    assert!(out_dir.join("report/transfer-depth.csv").is_file());
}
