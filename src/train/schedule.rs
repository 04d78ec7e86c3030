//! Learning-rate schedules: the rate at any step, as a pure function (PyTorch's formulas).

pub use crate::schema::Schedule;

/// Everything that decides the rate.
#[derive(Debug, Clone, PartialEq)]
pub struct LrPlan {
    /// Schedule shape.
    pub schedule: Schedule,
    /// Base (peak) learning rate.
    pub base: f64,
    /// Epochs of linear warm-up before the schedule (not used by one-cycle, which warms itself).
    pub warmup_epochs: usize,
    /// `step`: epochs between decays.
    pub step_size: usize,
    /// `step`, `multi-step`: decay factor.
    pub gamma: f64,
    /// `multi-step`: epochs (counted after warm-up) at which the rate decays.
    pub milestones: Vec<usize>,
    /// Change the rate every optimizer step instead of every epoch.
    pub per_step: bool,
    /// Epochs of the run.
    pub epochs: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
}

impl LrPlan {
    /// The rate for optimizer step `step` (0-based) of epoch `epoch` (0-based).
    pub fn lr(&self, epoch: usize, step: usize) -> f64 {
        let unit = if self.per_step {
            self.steps_per_epoch.max(1)
        } else {
            1
        };
        let t = if self.per_step {
            epoch * unit + step
        } else {
            epoch
        } as f64;
        let total = (self.epochs * unit) as f64;
        let cos = |start: f64, end: f64, pct: f64| {
            end + (start - end) / 2.0 * (1.0 + (std::f64::consts::PI * pct).cos())
        };
        if self.schedule == Schedule::OneCycle {
            let (initial, peak) = (self.base / 25.0, self.base);
            let last = initial / 1e4;
            let up = (0.3 * total - 1.0).max(1.0);
            return if t <= up {
                cos(initial, peak, t / up)
            } else {
                cos(
                    peak,
                    last,
                    ((t - up) / (total - 1.0 - up).max(1.0)).min(1.0),
                )
            };
        }
        let warm = (self.warmup_epochs * unit) as f64;
        if t < warm {
            return self.base * (t + 1.0) / warm;
        }
        let t = t - warm;
        match self.schedule {
            Schedule::Constant | Schedule::OneCycle => self.base,
            Schedule::Step => {
                let every = (self.step_size.max(1) * unit) as f64;
                self.base * self.gamma.powi((t / every).floor() as i32)
            }
            Schedule::MultiStep => {
                let passed = self
                    .milestones
                    .iter()
                    .filter(|&&m| t >= (m * unit) as f64)
                    .count();
                self.base * self.gamma.powi(passed as i32)
            }
            Schedule::Cosine => cos(self.base, 0.0, t / (total - warm).max(1.0)),
        }
    }
}
