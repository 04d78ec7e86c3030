//! The terminal summary after a sweep: mean test accuracy per cell, transfer against scratch.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::run::Outcome;
use crate::spec::schema::Task;
use crate::spec::{Plan, Strategy};

/// One cell of the summary: a transfer setting at one label budget, averaged over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Label budget (images per class, or a detector's labelled images).
    pub labels_per_class: usize,
    /// `scratch`, `linear-probe` or `finetune (freeze k)`.
    pub setting: String,
    /// Mean test accuracy (a detector's AP50) over the finished seeds.
    pub mean_accuracy: f64,
    /// Finished seeds.
    pub n: usize,
}

/// Groups the finished runs by label budget and transfer setting (other axes averaged over).
pub fn cells(plan: &Plan, outcomes: &[Outcome]) -> Vec<Cell> {
    let mut groups: BTreeMap<(usize, String), Vec<f64>> = BTreeMap::new();
    for (run, o) in plan.runs.iter().zip(outcomes) {
        let Some(score) = o.headline() else {
            continue;
        };
        let t = &run.config.transfer;
        let setting = match t.strategy {
            Strategy::Finetune => format!("finetune (freeze {})", t.freeze_depth),
            s => s.as_str().to_string(),
        };
        groups
            .entry((
                run.config
                    .target
                    .labels_per_class
                    .max(run.config.target.labelled_images),
                setting,
            ))
            .or_default()
            .push(score);
    }
    groups
        .into_iter()
        .map(|((labels_per_class, setting), accs)| Cell {
            labels_per_class,
            setting,
            mean_accuracy: accs.iter().sum::<f64>() / accs.len() as f64,
            n: accs.len(),
        })
        .collect()
}

/// A plain-text table of the cells, with the difference to scratch at the same budget.
pub fn render(cells: &[Cell], task: Task) -> String {
    let mut s = String::new();
    let task = crate::task::of(task);
    let (budget, metric) = (task.budget().label, task.headline_label());
    let _ = writeln!(
        s,
        "{:>16}  {:<22} {:>9} {:>10} {:>6}",
        budget, "setting", metric, "vs scratch", "runs"
    );
    for c in cells {
        let scratch = cells
            .iter()
            .find(|o| o.labels_per_class == c.labels_per_class && o.setting == "scratch")
            .map(|o| o.mean_accuracy);
        let diff = match scratch {
            Some(b) if c.setting != "scratch" => format!("{:+.4}", c.mean_accuracy - b),
            _ => "".into(),
        };
        let budget = if c.labels_per_class == 0 {
            "all".to_string()
        } else {
            c.labels_per_class.to_string()
        };
        let _ = writeln!(
            s,
            "{budget:>16}  {:<22} {:>9.4} {diff:>10} {:>6}",
            c.setting, c.mean_accuracy, c.n
        );
    }
    s
}
