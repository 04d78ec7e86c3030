//! Classification metrics: accuracy, macro precision / recall / F1, confusion matrix.

use serde::{Deserialize, Serialize};

/// Metrics of a set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Unweighted mean over classes of precision (0 for a class never predicted).
    pub precision: f64,
    /// Unweighted mean over classes of recall.
    pub recall: f64,
    /// Unweighted mean over classes of F1 (0 where precision + recall is 0).
    pub f1: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
}

/// Computes the metrics of `predicted` against `truth` over `classes` classes.
pub fn metrics(truth: &[usize], predicted: &[usize], classes: usize) -> Metrics {
    assert_eq!(truth.len(), predicted.len(), "one prediction per label");
    let mut confusion = vec![vec![0u64; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        confusion[t][p] += 1;
    }
    let correct: u64 = (0..classes).map(|c| confusion[c][c]).sum();
    let accuracy = correct as f64 / truth.len().max(1) as f64;
    let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
    for (c, row) in confusion.iter().enumerate() {
        let tp = row[c] as f64;
        let predicted_c: u64 = confusion.iter().map(|r| r[c]).sum();
        let actual_c: u64 = row.iter().sum();
        let p = if predicted_c > 0 {
            tp / predicted_c as f64
        } else {
            0.0
        };
        let r = if actual_c > 0 {
            tp / actual_c as f64
        } else {
            0.0
        };
        precision += p;
        recall += r;
        f1 += if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
    }
    let k = classes.max(1) as f64;
    Metrics {
        accuracy,
        precision: precision / k,
        recall: recall / k,
        f1: f1 / k,
        confusion,
    }
}
