//! A detection experiment's own file rules: a detection dataset (scenes or files), a budget in
//! labelled images, the `[detect]` table in range, no segmentation settings, an AP monitor.

use super::run::Detect;
use crate::data::names;
use crate::spec::dense::dense_checks;
use crate::spec::schema::{self, Monitor, RunConfig};
use crate::spec::validate::{Problem, problem};

impl crate::spec::Rules for Detect {
    fn validate(&self, c: &RunConfig) -> Result<(), Problem> {
        let name = &c.target.dataset;
        let file = match names::detect(name) {
            _ if name == "digit-scenes" => None,
            None => {
                return Err(problem(
                    "target.dataset",
                    format!("`{name}` is not a detection dataset"),
                    "use `digit-scenes` or a dataset in files: `coco:annotations.json[:IMAGES_DIR]`, `yolo:DIR` or `voc:DIR` (`sweep datasets` lists them)",
                ));
            }
            Some((prefix, path)) => Some(names::paths(prefix, path).0),
        };
        let d = &c.detect;
        dense_checks(
            c,
            ("detection", "scenes"),
            file,
            [
                ("detect.stride", d.stride),
                ("detect.width", d.width),
                ("detect.canvas", d.canvas),
                ("detect.train_scenes", d.train_scenes),
                ("detect.test_scenes", d.test_scenes),
            ],
        )?;
        self.check_metric("train.monitor", c.train.monitor)?;
        if !c.segment.is_default() {
            return Err(problem(
                "segment",
                "is a segmentation setting, and this experiment detects",
                "set `task = \"segment\"` in [experiment], or write the detector's settings in [detect]",
            ));
        }
        Ok(())
    }

    fn normalize(&self, c: &mut RunConfig) {
        c.segment = schema::Segment::default();
        c.target.labels_per_class = 0;
    }

    fn check_metric(&self, field: &str, metric: Monitor) -> Result<(), Problem> {
        let message = match metric {
            Monitor::ValLoss => "a detector is validated by COCO AP, not a loss",
            Monitor::ValMiou => "is a segmenter's metric, and this experiment detects",
            _ => return Ok(()),
        };
        Err(problem(
            field,
            message,
            "use `val_ap50` (the default) or `val_ap`",
        ))
    }
}
