//! The dense tasks' part of the experiment file: the detector's neck, the segmenter's head and
//! loss, and the checks of a `task = "detect"` or `"segment"` experiment's own settings.

use super::schema::{Monitor, RunConfig};
use super::validate::{Problem, problem, range};

/// How the backbone's maps reach the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Neck {
    /// Feature pyramid (top-down): every stage from the one at the output stride to the last,
    /// each through a 1×1 conv, upsampled and summed, then a 3×3 conv.
    #[default]
    Fpn,
    /// The head on the last stage's map, at the backbone's full stride.
    None,
}

/// The decoder on the backbone's stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SegHead {
    /// Feature pyramid from the first stage at `stride` to the last (1×1 laterals, top-down
    /// sum, 3×3 conv), then the classifier.
    #[default]
    Fpn,
    /// FCN-32s: the classifier on the last stage's map.
    Fcn,
}

impl SegHead {
    /// The TOML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SegHead::Fpn => "fpn",
            SegHead::Fcn => "fcn",
        }
    }
}

/// Which loss a segmentation run trains with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Mean cross-entropy over the pixels not ignored (PyTorch's `cross_entropy` with
    /// `ignore_index`).
    #[default]
    Ce,
    /// 1 − mean over classes of the soft Dice of the batch (`SMOOTH` added above and below).
    Dice,
    /// Their sum.
    CeDice,
}

/// The checks of a `task = "detect"` experiment's own settings.
pub(super) fn validate_detect(c: &RunConfig) -> Result<(), Problem> {
    let name = &c.target.dataset;
    let file = match crate::data::names::detect(name) {
        _ if name == "digit-scenes" => None,
        None => {
            return Err(problem(
                "target.dataset",
                format!("`{name}` is not a detection dataset"),
                "use `digit-scenes` or a dataset in files: `coco:annotations.json[:IMAGES_DIR]`, `yolo:DIR` or `voc:DIR` (`sweep datasets` lists them)",
            ));
        }
        Some((prefix, path)) => Some(crate::data::names::paths(prefix, path).0),
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
    if c.train.monitor == Monitor::ValLoss {
        return Err(problem(
            "train.monitor",
            "a detector is validated by COCO AP, not a loss",
            "use `val_ap50` (the default) or `val_ap`",
        ));
    }
    if !c.segment.is_default() {
        return Err(problem(
            "segment",
            "is a segmentation setting, and this experiment detects",
            "set `task = \"segment\"` in [experiment], or write the detector's settings in [detect]",
        ));
    }
    Ok(())
}

/// The checks of a `task = "segment"` experiment's own settings.
pub(super) fn validate_segment(c: &RunConfig) -> Result<(), Problem> {
    let name = &c.target.dataset;
    let file = match crate::data::names::segment(name) {
        _ if name == "digit-scenes" => None,
        None => {
            return Err(problem(
                "target.dataset",
                format!("`{name}` is not a segmentation dataset"),
                "use `digit-scenes` or masks in files: `masks:IMAGES_DIR:MASKS_DIR`, `voc-seg:DIR` or `coco-seg:annotations.json[:IMAGES_DIR]` (`sweep datasets` lists them)",
            ));
        }
        Some(("coco-seg", path)) => Some(crate::data::names::paths("coco", path).0),
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
    if !matches!(c.train.monitor, Monitor::ValAccuracy | Monitor::ValMiou) {
        return Err(problem(
            "train.monitor",
            "a segmenter is validated by mIoU",
            "use `val_miou` (the default) or leave `monitor` out",
        ));
    }
    if !c.detect.is_default() {
        return Err(problem(
            "detect",
            "is a detection setting, and this experiment segments",
            "write the segmenter's settings in [segment]",
        ));
    }
    Ok(())
}

/// What detection and segmentation check alike: the dataset's file or folder exists, the budget
/// is counted in images, and the table's (stride, width, canvas, train and test scenes) are in
/// range. `(task, images)`: the task's adjective and what its images are called.
fn dense_checks(
    c: &RunConfig,
    (task, images): (&str, &str),
    file: Option<std::path::PathBuf>,
    sizes: [(&'static str, usize); 5],
) -> Result<(), Problem> {
    if let Some(file) = file
        && !file.exists()
    {
        return Err(problem(
            "target.dataset",
            format!("{} does not exist", file.display()),
            "the path is relative to the folder `sweep` runs in",
        ));
    }
    if c.target.labels_per_class > 0 {
        return Err(problem(
            "target.labels_per_class",
            format!("counts images per class, which a {task} dataset does not have"),
            format!("write the budget as `labelled_images = N` (labelled training {images})"),
        ));
    }
    let limits = [
        (1, 64),
        (1, 1024),
        (16, 1024),
        (2, 1_000_000),
        (1, 1_000_000),
    ];
    for ((path, v), (lo, hi)) in sizes.into_iter().zip(limits) {
        range(path, v, lo, hi)?;
    }
    Ok(())
}
