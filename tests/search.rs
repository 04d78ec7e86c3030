//! Searches: distributions in experiment files, the stopping rules on hand-made curves, and
//! searches trained end to end (resume, `--jobs`, pruned runs in the CSVs and the report).

use std::path::Path;
use std::sync::Arc;

use sweep::search::prune::{Curve, Pruner, Rule};
use sweep::search::{Distribution, Value};
use sweep::spec::{Plan, SpecError};
use sweep::sweep::{Options, search};

const SEARCH: &str = r#"
[experiment]
name = "s"
seeds = [0, 1]

[target]
dataset = "uci-digits"
labels_per_class = 3

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = 3
patience = 0
lr = { log_uniform = [1e-4, 1e-1] }
weight_decay = { uniform = [0.0, 0.01] }
batch_size = { int = [8, 32], log = true }
optimizer = { choice = ["sgd", "adam"] }

[transfer]
strategy = "scratch"

[search]
method = "random"
trials = 5
seed = 7
"#;

fn parse(text: &str) -> Result<Plan, SpecError> {
    Plan::parse(Path::new("exp.toml"), text, sweep::task::rules)
}

fn error(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn edit(from: &str, to: &str) -> String {
    assert!(SEARCH.contains(from), "{from}");
    SEARCH.replacen(from, to, 1)
}

#[test]
fn distributions_parse_into_a_search_plan() {
    let plan = parse(SEARCH).unwrap();
    let s = plan.search.as_ref().expect("a search");
    assert_eq!(
        s.names,
        [
            "train.lr",
            "train.weight_decay",
            "train.batch_size",
            "train.optimizer"
        ]
    );
    assert_eq!(
        s.dists,
        [
            Distribution::LogUniform {
                low: 1e-4,
                high: 1e-1
            },
            Distribution::Uniform {
                low: 0.0,
                high: 0.01
            },
            Distribution::Int {
                low: 8,
                high: 32,
                log: true
            },
            Distribution::Choice { n: 2 },
        ]
    );
    assert_eq!(s.described[3], "choice [\"sgd\", \"adam\"]");
    assert_eq!(s.spec.trials, 5);
    // One cell (no grid axis but the seeds), two seeds in it.
    assert_eq!(s.cells, [vec![0, 1]]);
    // The searched settings are columns, before the seeds.
    assert_eq!(plan.axes.last().unwrap(), "experiment.seeds");
    assert!(plan.axes.contains(&"train.lr".to_string()));

    // A trial's values land in its runs' settings, one run per seed.
    let values = vec![
        Value::Float(0.003),
        Value::Float(0.002),
        Value::Int(16),
        Value::Choice(1),
    ];
    let (trials, of) = plan.with_trials(&[(0, values)]).unwrap();
    assert_eq!(of, [vec![0, 1]]);
    for r in &trials.runs {
        assert_eq!(r.config.train.lr, 0.003);
        assert_eq!(r.config.train.weight_decay, 0.002);
        assert_eq!(r.config.train.batch_size, 16);
        assert_eq!(
            serde_json::to_value(r.config.train.optimizer).unwrap(),
            "adam"
        );
    }
    assert_ne!(trials.runs[0].id, trials.runs[1].id, "two seeds, two runs");
    assert_ne!(
        trials.runs[0].id, plan.runs[0].id,
        "the trial is not the placeholder"
    );
}

#[test]
fn bad_distributions_name_file_line_column_and_field() {
    let e = error(&edit("[1e-4, 1e-1]", "[1e-1, 1e-4]"));
    assert!(
        e.contains("exp.toml:18:") && e.contains("`train.lr`") && e.contains("not below"),
        "{e}"
    );
    let e = error(&edit("log_uniform = [1e-4", "log_uniform = [0.0"));
    assert!(
        e.contains("exp.toml:18:") && e.contains("non-positive") && e.contains("`train.lr`"),
        "{e}"
    );
    let e = error(&edit("choice = [\"sgd\", \"adam\"]", "choice = []"));
    assert!(
        e.contains("exp.toml:21:") && e.contains("empty choice") && e.contains("train.optimizer"),
        "{e}"
    );
    let e = error(&edit(
        "int = [8, 32], log = true",
        "int = [0, 32], log = true",
    ));
    assert!(
        e.contains("low ≥ 1") && e.contains("train.batch_size"),
        "{e}"
    );
    let e = error(&edit("int = [8, 32]", "int = [8.0, 32]"));
    assert!(e.contains("integers"), "{e}");
    let e = error(&edit(
        "uniform = [0.0, 0.01]",
        "uniform = [0.0, 0.01], log = true",
    ));
    assert!(e.contains("`log` is for `int`"), "{e}");
    // A distribution the setting's type cannot take: the serde error, at the distribution.
    let e = error(&edit("int = [8, 32], log = true", "uniform = [8.0, 32.0]"));
    assert!(
        e.contains("exp.toml:20:") && e.contains("train.batch_size"),
        "{e}"
    );
    // A distribution in a grid.
    let e = error(&edit("method = \"random\"", "method = \"grid\""));
    assert!(
        e.contains("is a distribution") && e.contains("[search]"),
        "{e}"
    );
    let e = error(&edit("trials = 5", "trials = 0"));
    assert!(
        e.contains("exp.toml:28:") && e.contains("`search.trials`"),
        "{e}"
    );
    let e = error(&edit("seed = 7", "seed = 7\ndirection = \"minimize\""));
    assert!(
        e.contains("`search.direction`") && e.contains("disagrees"),
        "{e}"
    );
    let e = error(&edit("seed = 7", "seed = 7\nmetric = \"val_ap50\""));
    assert!(
        e.contains("`search.metric`") && e.contains("detector"),
        "{e}"
    );
    let e = error(&edit("seed = 7", "seed = 7\ntrails = 3"));
    assert!(e.contains("trails") && e.contains("search"), "{e}");
    let e = error(&edit(
        "seed = 7",
        "seed = 7\n[search.stop]\nmethod = \"asha\"\nreduction = 1",
    ));
    assert!(e.contains("`search.stop.reduction`"), "{e}");
    let e = error(&edit("seeds = [0, 1]", "seeds = { choice = [0, 1] }"));
    assert!(e.contains("cannot be searched"), "{e}");
}

fn curve(values: &[f64], complete: bool) -> Curve {
    Curve {
        values: values.to_vec(),
        complete,
    }
}

fn pruner(rule: Rule, others: Vec<Curve>) -> Pruner {
    Pruner {
        rule,
        others: Arc::new(others),
        epochs: 10,
    }
}

#[test]
fn asha_promotes_the_top_third_at_each_rung() {
    let asha = Rule::Asha {
        grace: 1,
        reduction: 3,
    };
    // Rungs at 1, 3, 9.
    let rungs: Vec<usize> = (1..=10)
        .filter(|&e| sweep::search::prune::is_rung(e, 1, 3))
        .collect();
    assert_eq!(rungs, [1, 3, 9]);
    // Five runs reached epoch 1 with 0.1 .. 0.5: with this run, six compete, the top 2 go on.
    let others: Vec<Curve> = (1..=5)
        .map(|k| curve(&[k as f64 / 10.0, 0.6, 0.7], true))
        .collect();
    let p = pruner(asha, others);
    assert!(!p.should_stop(&[0.45]), "second best of six goes on");
    assert!(p.should_stop(&[0.35]), "third of six stops");
    assert!(!p.should_stop(&[0.9]));
    // Epoch 2 is no rung: nobody stops there, however bad.
    assert!(!p.should_stop(&[0.45, 0.0]));
    // At rung 3 the five others had 0.7: this run's 0.65 is last of six.
    assert!(p.should_stop(&[0.45, 0.5, 0.65]));
    assert!(
        !p.should_stop(&[0.45, 0.5, 0.7]),
        "a tie with the 2nd best goes on"
    );
    // Alone at a rung (no other run got that far): it goes on.
    let lonely = pruner(asha, vec![curve(&[0.9], false)]);
    assert!(!lonely.should_stop(&[0.1, 0.1, 0.1]));
    // Never after its last epoch.
    let mut last = pruner(asha, (0..5).map(|_| curve(&[1.0; 10], true)).collect());
    last.epochs = 3;
    assert!(!last.should_stop(&[0.0, 0.0, 0.0]));
    assert!(last.should_stop(&[0.0]));
}

#[test]
fn median_rule_stops_below_the_median_of_finished_runs() {
    let median = Rule::Median {
        warmup: 1,
        min_trials: 3,
    };
    let finished = vec![
        curve(&[0.2, 0.3, 0.4], true),
        curve(&[0.2, 0.5, 0.6], true),
        curve(&[0.2, 0.7, 0.8], true),
        // Stopped runs do not count (Optuna compares with completed trials only).
        curve(&[0.9, 0.9], false),
    ];
    let p = pruner(median, finished.clone());
    assert!(!p.should_stop(&[0.0]), "warm-up epoch");
    // Median at epoch 2 is 0.5; the run's best so far counts, not its last value.
    assert!(p.should_stop(&[0.1, 0.45]));
    assert!(!p.should_stop(&[0.55, 0.1]));
    assert!(!p.should_stop(&[0.1, 0.5]), "equal to the median goes on");
    // Fewer finished runs than min_trials: no stopping.
    let few = pruner(median, finished[..2].to_vec());
    assert!(!few.should_stop(&[0.0, 0.0]));
    assert_eq!(
        sweep::search::prune::median(vec![3.0, 1.0, 2.0, 10.0]),
        Some(2.5)
    );
}

/// A tiny search file: `trials` TPE trials over lr, one seed, optionally with a stopping rule.
fn tiny_search(name: &str, stop: &str) -> String {
    format!(
        r#"
[experiment]
name = "{name}"
seeds = [0]

[target]
dataset = "uci-digits"
labels_per_class = 3

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = 3
patience = 0
lr = {{ log_uniform = [1e-3, 0.5] }}

[transfer]
strategy = "scratch"

[search]
method = "tpe"
trials = 6
batch = 2
seed = 3
startup_trials = 2
{stop}
"#
    )
}

fn options(out: &Path, jobs: usize) -> Options {
    Options {
        out: out.to_path_buf(),
        jobs,
        threads: 1,
        quiet: true,
        rerun: Default::default(),
        cache: None,
        device: Default::default(),
        select: Default::default(),
    }
}

/// The run ids and learning rates of a finished search, in trial order.
fn trials_of(dir: &Path, text: &str, jobs: usize) -> Vec<(String, f64)> {
    let plan = Plan::parse(&dir.join("x.toml"), text, sweep::task::rules).unwrap();
    let (plan, sweep) = search::run(&plan, &options(dir, jobs)).unwrap();
    assert_eq!(sweep.outcomes.len(), 6);
    plan.runs
        .iter()
        .map(|r| (r.id.clone(), r.config.train.lr))
        .collect()
}

#[test]
fn a_search_is_the_same_with_one_or_two_jobs_and_after_a_kill() {
    let text = tiny_search("tpe", "");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let one = trials_of(a.path(), &text, 1);
    let two = trials_of(b.path(), &text, 2);
    assert_eq!(one, two, "--jobs 1 and --jobs 2 propose the same trials");
    let lrs: std::collections::HashSet<u64> = one.iter().map(|t| t.1.to_bits()).collect();
    assert_eq!(lrs.len(), 6, "six different trials");
    assert!(one.iter().all(|t| (1e-3..=0.5).contains(&t.1)));

    // Killed after four trials: their runs are in the folder, the others are not. Run again,
    // the search proposes the same six trials (the first four read back, not retrained).
    let runs = b.path().join("runs");
    let ids: Vec<&String> = one.iter().map(|t| &t.0).collect();
    for id in &ids[4..] {
        std::fs::remove_dir_all(runs.join(id)).unwrap();
    }
    let plan = Plan::parse(&b.path().join("x.toml"), &text, sweep::task::rules).unwrap();
    let (again, sweep) = search::run(&plan, &options(b.path(), 2)).unwrap();
    assert_eq!(sweep.trained, 2, "only the missing trials train");
    let again: Vec<(String, f64)> = again
        .runs
        .iter()
        .map(|r| (r.id.clone(), r.config.train.lr))
        .collect();
    assert_eq!(again, one);
    let csv = std::fs::read_to_string(b.path().join("runs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7, "a header and six runs");

    // `sweep best`: the best trial as a plain experiment whose run is that trial's run.
    let (plan, best) = sweep::sweep::best::best(b.path(), None).unwrap();
    let text = sweep::sweep::best::experiment_file(&plan, &best).unwrap();
    let exported = Plan::parse(Path::new("best.toml"), &text, sweep::task::rules).unwrap();
    assert!(exported.search.is_none(), "{text}");
    assert_eq!(exported.name, "tpe-best");
    assert_eq!(exported.runs.len(), 1);
    let id = &exported.runs[0].id;
    let winner = one
        .iter()
        .position(|t| &t.0 == id)
        .expect("the best file is one of the trials");
    assert_eq!(winner, best.trial);
    // It won on validation accuracy among the six.
    let (_, sweep) = search::run(&plan, &options(b.path(), 1)).unwrap();
    let val = |i: usize| {
        sweep.outcomes[i]
            .epochs
            .iter()
            .map(|e| e.score("val_accuracy"))
            .fold(f64::MIN, f64::max)
    };
    assert!((0..6).all(|i| val(i) <= val(winner)), "{text}");
    assert_eq!(best.value, val(winner));
}

#[test]
fn a_grid_with_a_stopping_rule_stops_runs_against_earlier_batches() {
    let text = r#"
[experiment]
name = "grid-median"
seeds = [0]

[target]
dataset = "uci-digits"
labels_per_class = 3

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = 4
patience = 0
lr = [0.01, 0.003, 0.03, 0.0001, 0.00003, 0.00001]

[transfer]
strategy = "scratch"

[search]
batch = 3

[search.stop]
method = "median"
warmup = 1
min_trials = 3
"#;
    let dir = tempfile::tempdir().unwrap();
    let plan = Plan::parse(&dir.path().join("x.toml"), text, sweep::task::rules).unwrap();
    assert_eq!(plan.runs.len(), 6);
    let (plan, sweep) = search::run(&plan, &options(dir.path(), 2)).unwrap();
    let epochs: Vec<usize> = sweep.outcomes.iter().map(|o| o.epochs.len()).collect();
    // The first batch trains whole; of the second, the tiny rates fall below the median.
    assert_eq!(epochs[..3], [4, 4, 4], "{epochs:?}");
    let pruned = sweep
        .outcomes
        .iter()
        .filter(|o| o.status == sweep::sweep::Status::Pruned)
        .count();
    assert!(pruned >= 2, "{epochs:?}");
    assert_eq!(plan.runs.len(), 6);
}

#[test]
fn pruned_runs_are_recorded_and_reported() {
    // ASHA with rungs at epochs 1 and 2 and halving: with six trials some must stop.
    let stop = "[search.stop]\nmethod = \"asha\"\ngrace = 1\nreduction = 2";
    let text = tiny_search("asha", stop);
    let dir = tempfile::tempdir().unwrap();
    let plan = Plan::parse(&dir.path().join("x.toml"), &text, sweep::task::rules).unwrap();
    let (plan, sweep) = search::run(&plan, &options(dir.path(), 2)).unwrap();
    let pruned: Vec<usize> = (0..plan.runs.len())
        .filter(|&i| sweep.outcomes[i].status == sweep::sweep::Status::Pruned)
        .collect();
    assert!(!pruned.is_empty(), "ASHA stopped no run");
    for &i in &pruned {
        let epochs = sweep.outcomes[i].epochs.len();
        assert!(epochs == 1 || epochs == 2, "stopped at a rung: {epochs}");
        assert!(
            sweep.outcomes[i].scores.is_empty(),
            "a pruned run is not tested"
        );
    }
    // The first batch has no earlier runs to lose to: it trains to the end.
    assert_eq!(sweep.outcomes[0].epochs.len(), 3);
    assert_eq!(sweep.outcomes[1].epochs.len(), 3);
    let csv = std::fs::read_to_string(dir.path().join("runs.csv")).unwrap();
    let pruned_rows = csv.lines().filter(|l| l.contains(",pruned,")).count();
    assert_eq!(pruned_rows, pruned.len(), "{csv}");
    assert!(csv.contains("stopped early after epoch"), "{csv}");
    // The report renders with pruned runs in it.
    let r = sweep::report::render(dir.path(), &Default::default()).unwrap();
    assert!(r.dir.join("index.html").exists());
}
