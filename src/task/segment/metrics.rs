//! Segmentation metrics over a whole split, as the standard tools compute them (mmsegmentation,
//! torchmetrics' `MulticlassJaccardIndex`): one pixel confusion matrix accumulated over every
//! image, then IoU, Dice and pixel accuracy from its totals. Not a mean of per-image scores,
//! which weighs a small image like a large one and is undefined on images missing a class.

/// A pixel confusion matrix (rows: true class, columns: predicted class), accumulated image by
/// image.
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    classes: usize,
    ignore: Option<u32>,
    counts: Vec<u64>,
}

/// What a split scores.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Mean IoU over the classes present in the truth or the predictions.
    pub miou: f64,
    /// IoU per class; `None` for a class neither in the truth nor predicted (0 / 0).
    pub iou: Vec<Option<f64>>,
    /// Correct pixels / counted pixels (ignored pixels left out).
    pub pixel_accuracy: f64,
    /// Mean Dice (F1) over the classes present in the truth or the predictions.
    pub mean_dice: f64,
    /// Dice per class; `None` as for `iou`.
    pub dice: Vec<Option<f64>>,
    /// Pixels counted (not ignored).
    pub pixels: u64,
}

impl Confusion {
    /// An empty matrix of `classes` classes; truth pixels equal to `ignore` are not counted.
    pub fn new(classes: usize, ignore: Option<u32>) -> Confusion {
        Confusion {
            classes,
            ignore,
            counts: vec![0; classes * classes],
        }
    }

    /// Counts one image's pixels (`truth` and `pred` in the same pixel order). A size mismatch
    /// or a class out of range is an error that says which.
    pub fn add(&mut self, truth: &[u32], pred: &[u32]) -> Result<(), String> {
        if truth.len() != pred.len() {
            return Err(format!(
                "the prediction has {} pixels and the truth {}",
                pred.len(),
                truth.len()
            ));
        }
        let k = self.classes as u32;
        // Checked before anything is counted: a bad image leaves the matrix as it was.
        for (&t, &p) in truth.iter().zip(pred) {
            if Some(t) == self.ignore {
                continue;
            }
            if t >= k {
                return Err(format!(
                    "true class {t} is out of range: {k} classes (0..{}){}",
                    k - 1,
                    self.ignore
                        .map_or(String::new(), |i| format!(", {i} ignored"))
                ));
            }
            if p >= k {
                return Err(format!(
                    "predicted class {p} is out of range: {k} classes (0..{})",
                    k - 1
                ));
            }
        }
        for (&t, &p) in truth.iter().zip(pred) {
            if Some(t) != self.ignore {
                self.counts[t as usize * self.classes + p as usize] += 1;
            }
        }
        Ok(())
    }

    /// Adds another matrix of the same classes (a worker's share of the split).
    pub fn merge(&mut self, other: &Confusion) {
        assert_eq!(
            self.classes, other.classes,
            "merging matrices of other sizes"
        );
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// Pixels of true class `t` predicted as `p`.
    pub fn count(&self, t: usize, p: usize) -> u64 {
        self.counts[t * self.classes + p]
    }

    /// The metrics of everything counted so far.
    pub fn stats(&self) -> Stats {
        let n = self.classes;
        let row = |c: usize| (0..n).map(|p| self.count(c, p)).sum::<u64>();
        let col = |c: usize| (0..n).map(|t| self.count(t, c)).sum::<u64>();
        let mut iou = Vec::with_capacity(n);
        let mut dice = Vec::with_capacity(n);
        for c in 0..n {
            let (tp, r, k) = (self.count(c, c), row(c), col(c));
            let union = r + k - tp;
            iou.push((union > 0).then(|| tp as f64 / union as f64));
            dice.push((r + k > 0).then(|| 2.0 * tp as f64 / (r + k) as f64));
        }
        let pixels: u64 = self.counts.iter().sum();
        let correct: u64 = (0..n).map(|c| self.count(c, c)).sum();
        Stats {
            miou: nanmean(&iou),
            pixel_accuracy: if pixels == 0 {
                f64::NAN
            } else {
                correct as f64 / pixels as f64
            },
            mean_dice: nanmean(&dice),
            iou,
            dice,
            pixels,
        }
    }
}

/// The mean of the defined values (NaN when none is).
fn nanmean(v: &[Option<f64>]) -> f64 {
    let defined: Vec<f64> = v.iter().flatten().copied().collect();
    if defined.is_empty() {
        f64::NAN
    } else {
        defined.iter().sum::<f64>() / defined.len() as f64
    }
}
