//! A segmentation experiment's own file rules: a segmentation dataset (scenes or masks in
//! files), a budget in labelled images, the `[segment]` table in range, no detection settings,
//! an mIoU monitor.

use super::run::Segment;
use crate::data::names;
use crate::spec::dense::dense_checks;
use crate::spec::schema::{self, Monitor, RunConfig};
use crate::spec::validate::{Problem, problem};

impl crate::spec::Rules for Segment {
    fn validate(&self, c: &RunConfig) -> Result<(), Problem> {
        let name = &c.target.dataset;
        let file = match names::segment(name) {
            _ if name == "digit-scenes" => None,
            None => {
                return Err(problem(
                    "target.dataset",
                    format!("`{name}` is not a segmentation dataset"),
                    "use `digit-scenes` or masks in files: `masks:IMAGES_DIR:MASKS_DIR`, `voc-seg:DIR` or `coco-seg:annotations.json[:IMAGES_DIR]` (`sweep datasets` lists them)",
                ));
            }
            Some(("coco-seg", path)) => Some(names::paths("coco", path).0),
            Some(("masks", path)) => Some(path.split(':').next().unwrap_or(path).into()),
            Some((_, path)) => Some(path.into()),
        };
        let s = &c.segment;
        dense_checks(
            c,
            ("segmentation", "images"),
            file,
            [
                ("segment.stride", s.stride),
                ("segment.width", s.width),
                ("segment.canvas", s.canvas),
                ("segment.train_scenes", s.train_scenes),
                ("segment.test_scenes", s.test_scenes),
            ],
        )?;
        self.check_metric("train.monitor", c.train.monitor)?;
        if !c.detect.is_default() {
            return Err(problem(
                "detect",
                "is a detection setting, and this experiment segments",
                "write the segmenter's settings in [segment]",
            ));
        }
        Ok(())
    }

    fn normalize(&self, c: &mut RunConfig) {
        c.detect = schema::Detect::default();
        c.target.labels_per_class = 0;
        // The monitor's default means mIoU for a segmenter.
        if c.train.monitor == Monitor::ValAccuracy {
            c.train.monitor = Monitor::ValMiou;
        }
    }

    fn check_metric(&self, field: &str, metric: Monitor) -> Result<(), Problem> {
        if matches!(metric, Monitor::ValAccuracy | Monitor::ValMiou) {
            return Ok(());
        }
        let help = match field {
            "train.monitor" => "use `val_miou` (the default) or leave `monitor` out",
            _ => "use `val_miou`",
        };
        Err(problem(field, "a segmenter is validated by mIoU", help))
    }
}
