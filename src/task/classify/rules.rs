//! A classification experiment's own file rules: a classification dataset, a budget in labels
//! per class, no detection or segmentation settings, a classifier's monitor.

use super::Classify;
use crate::spec::schema::{self, Monitor, RunConfig};
use crate::spec::validate::{Problem, known_dataset, problem};

impl crate::spec::Rules for Classify {
    fn validate(&self, c: &RunConfig) -> Result<(), Problem> {
        known_dataset("target.dataset", &c.target.dataset)?;
        self.check_metric("train.monitor", c.train.monitor)?;
        if !c.segment.is_default() {
            return Err(problem(
                "segment",
                "is a segmentation setting, and this experiment classifies",
                "set `task = \"segment\"` in [experiment]",
            ));
        }
        if c.target.labelled_images > 0 || !c.detect.is_default() {
            let field = match c.target.labelled_images > 0 {
                true => "target.labelled_images",
                false => "detect",
            };
            return Err(problem(
                field,
                "is a detection setting, and this experiment classifies",
                "set `task = \"detect\"` in [experiment], or use `labels_per_class` for a classification budget",
            ));
        }
        Ok(())
    }

    fn normalize(&self, c: &mut RunConfig) {
        c.detect = schema::Detect::default();
        c.segment = schema::Segment::default();
        c.target.labelled_images = 0;
    }

    fn check_metric(&self, field: &str, metric: Monitor) -> Result<(), Problem> {
        if matches!(metric, Monitor::ValAp50 | Monitor::ValAp | Monitor::ValMiou) {
            let help = match field {
                "train.monitor" => {
                    "use `val_accuracy` or `val_loss`, or set `task = \"detect\"` or `\"segment\"` in [experiment]"
                }
                _ => "use `val_accuracy` or `val_loss`",
            };
            return Err(problem(
                field,
                "is a detector's or segmenter's metric, and this experiment classifies",
                help,
            ));
        }
        Ok(())
    }
}
