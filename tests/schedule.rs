//! Learning-rate schedules against PyTorch's closed forms.

use sweep::train::schedule::{LrPlan, Schedule};

fn plan(schedule: Schedule, epochs: usize, steps_per_epoch: usize, per_step: bool) -> LrPlan {
    LrPlan {
        schedule,
        base: 0.1,
        warmup_epochs: 0,
        step_size: 2,
        gamma: 0.5,
        milestones: vec![1, 3],
        per_step,
        epochs,
        steps_per_epoch,
    }
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
    }
}

#[test]
fn step_decays_every_step_size_epochs() {
    let p = plan(Schedule::Step, 6, 5, false);
    let lrs: Vec<f64> = (0..6).map(|e| p.lr(e, 3)).collect();
    close(&lrs, &[0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
}

#[test]
fn cosine_follows_cosine_annealing() {
    let p = plan(Schedule::Cosine, 4, 5, false);
    let lrs: Vec<f64> = (0..4).map(|e| p.lr(e, 0)).collect();
    let pi = std::f64::consts::PI;
    close(
        &lrs,
        &[
            0.1,
            0.05 * (1.0 + (pi / 4.0).cos()),
            0.05,
            0.05 * (1.0 + (3.0 * pi / 4.0).cos()),
        ],
    );
}

#[test]
fn warmup_ramps_linearly_then_hands_over() {
    let mut p = plan(Schedule::Constant, 5, 4, false);
    p.warmup_epochs = 2;
    close(
        &(0..4).map(|e| p.lr(e, 0)).collect::<Vec<_>>(),
        &[0.05, 0.1, 0.1, 0.1],
    );
    p.per_step = true;
    // 8 warm-up steps of 1/8 each.
    close(
        &[p.lr(0, 0), p.lr(0, 3), p.lr(1, 3), p.lr(2, 0)],
        &[0.0125, 0.05, 0.1, 0.1],
    );
}

#[test]
fn per_step_schedules_move_inside_an_epoch() {
    let mut p = plan(Schedule::Step, 3, 3, true);
    p.step_size = 1;
    close(
        &[p.lr(0, 0), p.lr(0, 2), p.lr(1, 0), p.lr(2, 2)],
        &[0.1, 0.1, 0.05, 0.025],
    );
}

#[test]
fn one_cycle_matches_pytorch_defaults() {
    // OneCycleLR(max_lr=1, total_steps=10): div_factor 25, pct_start 0.3, final_div_factor 1e4, cos.
    let mut p = plan(Schedule::OneCycle, 1, 10, true);
    p.base = 1.0;
    let lrs: Vec<f64> = (0..10).map(|s| p.lr(0, s)).collect();
    close(&lrs[..3], &[0.04, 0.52, 1.0]);
    assert!((lrs[9] - 0.04 / 1e4).abs() < 1e-12, "{lrs:?}");
    assert!(
        lrs[3..].windows(2).all(|w| w[1] < w[0]),
        "anneals down after the peak: {lrs:?}"
    );
}

#[test]
fn multi_step_decays_at_each_milestone() {
    let p = plan(Schedule::MultiStep, 5, 4, false);
    let lrs: Vec<f64> = (0..5).map(|e| p.lr(e, 2)).collect();
    close(&lrs, &[0.1, 0.05, 0.05, 0.025, 0.025]);
}

#[test]
fn milestones_are_one_setting_and_a_list_of_them_is_an_axis() {
    let base = "[experiment]\nname = \"m\"\n[target]\ndataset = \"uci-digits\"\n[model]\nbackbone = \"resnet-mini\"\n[train]\nschedule = \"multi-step\"\n";
    let one = sweep::spec::Plan::parse(
        std::path::Path::new("m.toml"),
        &format!("{base}milestones = [10, 20]\n"),
        sweep::task::rules,
    )
    .unwrap();
    assert_eq!(one.runs.len(), 1);
    assert_eq!(one.runs[0].config.train.milestones, [10, 20]);
    let two = sweep::spec::Plan::parse(
        std::path::Path::new("m.toml"),
        &format!("{base}milestones = [[10], [5, 15]]\n"),
        sweep::task::rules,
    )
    .unwrap();
    assert_eq!(two.runs.len(), 2);
    assert_eq!(two.runs[1].config.train.milestones, [5, 15]);
}
