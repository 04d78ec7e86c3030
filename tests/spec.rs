//! Experiment files: validation messages, grid expansion and de-duplication.

use std::path::Path;

use sweep::spec::{Plan, SpecError, Strategy};

const GOOD: &str = r#"
[experiment]
name = "t"
seeds = [0, 1]

[source]
dataset = "mnist-10k"

[target]
dataset = "uci-digits"
labels_per_class = [5, 20]

[model]
backbone = "resnet-mini"

[transfer]
strategy = ["scratch", "linear-probe", "finetune"]
freeze_depth = [0, 1]
"#;

fn parse(text: &str) -> Result<Plan, SpecError> {
    Plan::parse(Path::new("exp.toml"), text, sweep::task::rules)
}

fn error(text: &str) -> SpecError {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

/// Replaces the first occurrence of `from` in the good file.
fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn good_file_expands_and_deduplicates() {
    let plan = parse(GOOD).unwrap();
    // 2 budgets x 2 seeds x (scratch + linear-probe + finetune x 2 depths): scratch and
    // linear-probe do not multiply by freeze_depth.
    assert_eq!(plan.runs.len(), 2 * 2 * (1 + 1 + 2));
    assert_eq!(
        plan.axes,
        [
            "target.labels_per_class",
            "transfer.strategy",
            "transfer.freeze_depth",
            "experiment.seeds"
        ]
    );
    let ids: std::collections::HashSet<_> = plan.runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), plan.runs.len(), "ids are unique");
    // Seeds vary fastest: replicates of a cell are adjacent.
    assert_eq!(plan.runs[0].config.experiment.seed, 0);
    assert_eq!(plan.runs[1].config.experiment.seed, 1);
    assert_eq!(plan.runs[0].config.transfer, plan.runs[1].config.transfer);
    let scratch = plan
        .runs
        .iter()
        .filter(|r| r.config.transfer.strategy == Strategy::Scratch)
        .count();
    assert_eq!(scratch, 4);
    assert!(
        plan.runs
            .iter()
            .filter(|r| r.config.transfer.strategy == Strategy::Scratch)
            .all(|r| r.config.source.is_none())
    );
    let freeze_col = plan
        .axes
        .iter()
        .position(|a| a == "transfer.freeze_depth")
        .unwrap();
    assert!(
        plan.runs
            .iter()
            .filter(|r| r.config.transfer.strategy == Strategy::Scratch)
            .all(|r| r.axis_values[freeze_col] == "-")
    );
}

#[test]
fn single_values_are_not_axes_and_defaults_fill_in() {
    let text = "[experiment]\nname = \"one\"\n[target]\ndataset = \"uci-digits\"\n[model]\nbackbone = \"resnet-mini\"\n";
    let plan = parse(text).unwrap();
    assert_eq!(plan.runs.len(), 1);
    assert!(plan.axes.is_empty());
    let c = &plan.runs[0].config;
    assert_eq!(c.train.epochs, 30);
    assert_eq!(c.transfer.strategy, Strategy::Scratch);
    assert_eq!(c.target.val_fraction, 0.2);
}

#[test]
fn any_list_valued_setting_is_an_axis() {
    let text = edit(
        "[model]\nbackbone = \"resnet-mini\"",
        "[model]\nbackbone = \"resnet-mini\"\nwidth = [8, 16, 32]\n[train]\nlr = [0.1, 0.01]",
    );
    let plan = parse(&text).unwrap();
    assert_eq!(plan.runs.len(), 16 * 3 * 2);
    assert!(plan.axes.contains(&"model.width".to_string()));
    assert!(plan.axes.contains(&"train.lr".to_string()));
}

#[test]
fn duplicate_values_and_full_freeze_collapse() {
    // freeze_depth 4 = every part of a 3-stage model frozen = linear-probe.
    let text = edit("freeze_depth = [0, 1]", "freeze_depth = [0, 0, 4]");
    let plan = parse(&text).unwrap();
    assert_eq!(plan.runs.len(), 2 * 2 * (1 + 1 + 1));
}

#[test]
fn the_id_ignores_labels_but_not_settings() {
    let a = parse(GOOD).unwrap();
    let b = parse(&edit(
        "name = \"t\"",
        "name = \"other\"\ndescription = \"words\"",
    ))
    .unwrap();
    assert_eq!(a.runs[0].id, b.runs[0].id);
    let c = parse(&edit(
        "[model]\nbackbone = \"resnet-mini\"",
        "[model]\nbackbone = \"resnet-mini\"\nwidth = 8",
    ))
    .unwrap();
    assert_ne!(a.runs[0].id, c.runs[0].id);
}

/// Bad inputs: (file text, field the message must name, words it must contain).
fn bad_inputs() -> Vec<(String, &'static str, &'static str)> {
    vec![
        (edit("[experiment]", "[experiment"), "", "expected"),
        (
            edit("name = \"t\"", "name = \"t\"\ncolour = 3"),
            "experiment.colour",
            "unknown field",
        ),
        (
            edit("labels_per_class", "label_per_class"),
            "target.label_per_class",
            "did you mean `labels_per_class`",
        ),
        (
            edit("backbone = \"resnet-mini\"", "backbone = \"resnet-mni\""),
            "model.backbone",
            "did you mean `resnet-mini`",
        ),
        (
            edit("dataset = \"uci-digits\"", "dataset = \"uci-digit\""),
            "target.dataset",
            "did you mean `uci-digits`",
        ),
        (
            edit("dataset = \"mnist-10k\"", "dataset = \"imagenet\""),
            "source.dataset",
            "unknown dataset",
        ),
        (
            edit("\"finetune\"]", "\"fine-tune\"]"),
            "transfer.strategy",
            "did you mean `finetune`",
        ),
        (
            edit("seeds = [0, 1]", "seeds = []"),
            "experiment.seeds",
            "empty list",
        ),
        (
            edit("seeds = [0, 1]", "seeds = [0, \"one\"]"),
            "experiment.seeds",
            "invalid type",
        ),
        (
            edit("labels_per_class = [5, 20]", "labels_per_class = [5, -2]"),
            "target.labels_per_class",
            "invalid value",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\nstages = 9",
            ),
            "model.stages",
            "out of range",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[train]\nlr = -0.1",
            ),
            "train.lr",
            "positive",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[train]\nlr = \"fast\"",
            ),
            "train.lr",
            "invalid type",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[train]\nepochs = 0",
            ),
            "train.epochs",
            "out of range",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[train]\noptimizer = \"adams\"",
            ),
            "train.optimizer",
            "did you mean `adam`",
        ),
        (
            edit("freeze_depth = [0, 1]", "freeze_depth = [0, 7]"),
            "transfer.freeze_depth",
            "backbone parts",
        ),
        (
            edit(
                "labels_per_class = [5, 20]",
                "labels_per_class = [5, 20]\nval_fraction = 1.5",
            ),
            "target.val_fraction",
            "out of range",
        ),
        (
            edit("[source]\ndataset = \"mnist-10k\"\n", ""),
            "transfer.strategy",
            "no [source] table",
        ),
        (
            edit("name = \"t\"", "name = \"a b/c\""),
            "experiment.name",
            "folder name",
        ),
        (
            edit("name = \"t\"", "name = [\"a\", \"b\"]"),
            "experiment.name",
            "cannot be a list",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[transfer]",
            ),
            "",
            "duplicate",
        ),
        (
            edit("[model]\nbackbone = \"resnet-mini\"\n", ""),
            "",
            "missing field `model`",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[train]\nschedule = \"cosin\"",
            ),
            "train.schedule",
            "did you mean `cosine`",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[train]\nlabel_smoothing = 1.5",
            ),
            "train.label_smoothing",
            "out of range",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[train]\naugment = \"lite\"\n[augment.sets]\nlight = [\"flip\"]",
            ),
            "train.augment",
            "known augmentation sets: none, light",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[augment.sets]\nlight = [\"flip\", \"twirl\"]",
            ),
            "augment.sets.light",
            "unknown variant `twirl`",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[augment.sets]\nlight = [{ op = \"flip\", p = 2.0 }]",
            ),
            "augment.sets.light",
            "out of range",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"mobilenet_v2\"\ndropout = 0.3",
            ),
            "model.dropout",
            "own dropout",
        ),
        (
            edit(
                "[model]\nbackbone = \"resnet-mini\"",
                "[model]\nbackbone = \"resnet-mini\"\n[train]\nepochs = 4\n[transfer]\nunfreeze_every = 5",
            )
            .replace("[transfer]\nstrategy", "strategy"),
            "transfer.unfreeze_every",
            "nothing would ever unfreeze",
        ),
        (
            edit("dataset = \"uci-digits\"", "dataset = \"cifar10:no/such/dir\""),
            "target.dataset",
            "does not exist",
        ),
        (
            with_model_line("head = \"mlpp\""),
            "model.head",
            "did you mean `mlp`",
        ),
        (
            with_model_line("head = { kind = \"mlp\" }"),
            "model.head",
            "missing field `hidden`",
        ),
        (
            with_model_line("head = { kind = \"mlp\", hidden = [] }"),
            "model.head",
            "at least one hidden layer",
        ),
        (
            with_model_line("head = { kind = \"mlp\", hidden = [64], dropout = 1.5 }"),
            "model.head",
            "out of range",
        ),
        (
            edit(
                "backbone = \"resnet-mini\"",
                "backbone = \"vgg11_bn\"\ninput_size = 32\npool = \"flatten\"",
            ),
            "model.pool",
            "unless `head` is set",
        ),
        (
            edit(
                "labels_per_class = [5, 20]",
                "labels_per_class = 5\ntest_limit = 0",
            ),
            "target.test_limit",
            "at least 1",
        ),
    ]
}

/// The good file with one more line in its [model] table.
fn with_model_line(line: &str) -> String {
    edit(
        "backbone = \"resnet-mini\"",
        &format!("backbone = \"resnet-mini\"\n{line}"),
    )
}

#[test]
fn class_lists_are_values_and_lists_of_them_axes() {
    let one = edit(
        "labels_per_class = [5, 20]",
        "labels_per_class = 5\nclasses = [5, 6, 7]",
    );
    let plan = parse(&one).unwrap();
    assert!(!plan.axes.iter().any(|a| a == "target.classes"));
    assert_eq!(plan.runs[0].config.target.classes, [5, 6, 7]);
    let two = edit(
        "labels_per_class = [5, 20]",
        "labels_per_class = 5\nclasses = [[0, 1], [2, 3]]",
    );
    let plan = parse(&two).unwrap();
    assert!(plan.axes.iter().any(|a| a == "target.classes"));
    assert_eq!(plan.runs.len(), 2 * 2 * 4);
}

#[test]
fn the_recipes_experiment_expands_and_ids_follow_the_chosen_augmentation_set() {
    let text = std::fs::read_to_string("experiments/recipes.toml").unwrap();
    let plan = parse(&text).unwrap();
    // 3 sets x 2 schedules x 3 seeds x (scratch + finetune x 2 unfreezing settings).
    assert_eq!(plan.runs.len(), 3 * 2 * 3 * 3);
    for r in &plan.runs {
        let c = &r.config;
        match c.train.augment.as_str() {
            "none" => assert!(c.augment.sets.is_empty()),
            set => assert_eq!(c.augment.sets.keys().collect::<Vec<_>>(), [set]),
        }
        if c.transfer.strategy == Strategy::Scratch {
            assert_eq!(c.transfer.unfreeze_every, 0);
        }
    }
    // A set no run uses changes no id; changing a used set changes the ids of its runs.
    let ids = |t: &str| {
        parse(t)
            .unwrap()
            .runs
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>()
    };
    let base = ids(&text);
    assert_eq!(ids(&format!("{text}unused = [\"vflip\"]\n")), base);
    let changed = ids(&text.replace("padding = 2 }]", "padding = 3 }]"));
    let differ = base.iter().zip(&changed).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 2 * 3 * 3, "exactly the runs of `light` change");
}

#[test]
fn bad_inputs_name_the_file_position_and_field() {
    let cases = bad_inputs();
    assert!(cases.len() >= 15);
    for (text, field, words) in cases {
        let e = error(&text);
        let shown = e.to_string();
        assert!(shown.starts_with("exp.toml"), "names the file: {shown}");
        assert!(shown.contains(words), "expected `{words}` in:\n{shown}");
        if !field.is_empty() {
            assert_eq!(e.field.as_deref(), Some(field), "field of:\n{shown}");
            assert!(shown.contains(&format!("`{field}`")), "{shown}");
            let (line, col) = e
                .position
                .unwrap_or_else(|| panic!("no position in:\n{shown}"));
            let line_text = text.lines().nth(line - 1).unwrap();
            let key = field.rsplit('.').next().unwrap();
            // The position points at the key or into the value written after it.
            assert!(
                line_text.contains(key) && col >= 1,
                "line {line} `{line_text}` for {field}:\n{shown}"
            );
        }
    }
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let e = Plan::load(
        Path::new("experiments/does-not-exist.toml"),
        sweep::task::rules,
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn run_ids_follow_the_content_of_the_data_files() {
    use sweep::data::fingerprint;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    let rows = "0,0,0,1,0\n1,1,1,0,1\n";
    std::fs::write(&csv, rows).unwrap();
    let text = edit(
        "dataset = \"uci-digits\"",
        &format!("dataset = \"csv:{}\"", csv.display()),
    );
    let ids = |text: &str| -> Vec<String> {
        parse(text)
            .unwrap()
            .runs
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    let before = ids(&text);
    assert_eq!(before, ids(&text), "same files, same ids");
    let plan = parse(&text).unwrap();
    assert_eq!(
        plan.runs[0].inputs["target"],
        fingerprint::dataset(&format!("csv:{}", csv.display()))
    );
    assert_eq!(plan.runs[0].inputs["target"].len(), 64);
    assert!(
        plan.runs
            .iter()
            .filter(|r| r.config.source.is_some())
            .all(|r| r.inputs["source"].len() == 64)
    );

    // One pixel changed: every run that reads the file is a new run.
    std::fs::write(&csv, "0,0,0,1,0\n1,1,1,1,1\n0,1,0,1,1\n").unwrap();
    let changed = ids(&text);
    assert!(before.iter().zip(&changed).all(|(a, b)| a != b));
    // Content, not the file's date, decides: the old bytes give the old ids back.
    std::fs::write(&csv, rows).unwrap();
    assert_eq!(before, ids(&text));

    // An image folder's labels are its sub-folder names: moving a file changes the fingerprint.
    let images = dir.path().join("images");
    for (class, name) in [("a", "1.png"), ("b", "2.png")] {
        std::fs::create_dir_all(images.join(class)).unwrap();
        std::fs::write(images.join(class).join(name), name.as_bytes()).unwrap();
    }
    let folder = format!("folder:{}", images.display());
    let first = fingerprint::dataset(&folder);
    assert_eq!(first.len(), 64);
    std::fs::rename(images.join("a/1.png"), images.join("b/1.png")).unwrap();
    assert_ne!(first, fingerprint::dataset(&folder));

    // `idx:DIR/PREFIX` reads only its own set.
    for f in ["emnist-a-train-images", "emnist-b-train-images"] {
        std::fs::write(dir.path().join(f), f.as_bytes()).unwrap();
    }
    let a = format!("idx:{}/emnist-a-", dir.path().display());
    let fa = fingerprint::dataset(&a);
    std::fs::write(dir.path().join("emnist-b-train-images"), b"changed set b").unwrap();
    assert_eq!(fa, fingerprint::dataset(&a));
    std::fs::write(dir.path().join("emnist-a-train-images"), b"changed set a").unwrap();
    assert_ne!(fa, fingerprint::dataset(&a));
    assert_eq!(fingerprint::dataset("csv:no/such.csv"), fingerprint::ABSENT);
}

/// A tiny detection or segmentation file with `extra` appended to its [train] table.
fn dense(task: &str, extra: &str) -> String {
    format!(
        "[experiment]\nname = \"d\"\ntask = \"{task}\"\nseeds = [0]\n[target]\ndataset = \"digit-scenes\"\n\
         labelled_images = 20\n[model]\nbackbone = \"resnet-mini\"\n[train]\nepochs = 1\n{extra}"
    )
}

#[test]
fn monitors_and_search_metrics_are_ones_the_task_records() {
    let search = |metric: &str| {
        format!(
            "lr = {{ log_uniform = [1e-4, 1e-2] }}\n[search]\nmethod = \"random\"\ntrials = 2\n\
             metric = \"{metric}\"\n"
        )
    };
    // Each was accepted before the task rules: a detector monitoring mIoU kept its best epoch
    // by AP50, a detection search on val_loss minimised AP50, a segmentation search on AP50
    // ranked by mIoU.
    for (text, field, words) in [
        (
            dense("detect", "monitor = \"val_miou\"\n"),
            "train.monitor",
            "segmenter's metric",
        ),
        (
            dense("detect", &search("val_loss")),
            "search.metric",
            "not a loss",
        ),
        (
            dense("segment", &search("val_ap50")),
            "search.metric",
            "validated by mIoU",
        ),
        (
            dense("segment", "monitor = \"val_ap\"\n"),
            "train.monitor",
            "validated by mIoU",
        ),
        (
            edit("[model]", "[train]\nmonitor = \"val_ap\"\n[model]"),
            "train.monitor",
            "classifies",
        ),
    ] {
        let e = error(&text);
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert!(e.to_string().contains(words), "expected `{words}` in:\n{e}");
    }
    for (task, metric) in [
        ("detect", "val_ap"),
        ("detect", "val_ap50"),
        ("segment", "val_miou"),
    ] {
        let plan = parse(&dense(task, &search(metric))).unwrap();
        assert_eq!(plan.search.unwrap().metric.name(), metric);
    }
}
