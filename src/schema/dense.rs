//! The dense tasks' tables: `[detect]` and `[segment]` (the detector's neck, the segmenter's
//! head and loss).

use serde::{Deserialize, Serialize};

/// How the backbone's maps reach the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Neck {
    /// Feature pyramid (top-down): from the stage at the output stride on, the last stage of each
    /// stride, each through a 1×1 conv, upsampled and summed, then a 3×3 conv.
    #[default]
    Fpn,
    /// The head on the last stage's map, at the backbone's full stride.
    None,
}

/// The decoder on the backbone's stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SegHead {
    /// Feature pyramid on the last stage of each stride from `stride` on (1×1 laterals,
    /// top-down sum, 3×3 conv), then the classifier.
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

/// `[detect]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detect {
    /// `fpn` (feature pyramid from the stage at `stride` up) or `none` (the last stage only).
    #[serde(default)]
    pub neck: Neck,
    /// Output stride wanted from the FPN, in input pixels per cell.
    #[serde(default = "default_det_stride")]
    pub stride: usize,
    /// Channels of the neck and of the head's hidden layers.
    #[serde(default = "default_det_width")]
    pub width: usize,
    /// Box-aware augmentation: `none`, `flip`, `scale` (zoom 0.75-1.25 and shift) or
    /// `flip-scale`.
    #[serde(default)]
    pub augment: DetAugment,
    /// `digit-scenes`: side of the canvas.
    #[serde(default = "default_canvas")]
    pub canvas: usize,
    /// `digit-scenes`: training scenes generated.
    #[serde(default = "default_train_scenes")]
    pub train_scenes: usize,
    /// `digit-scenes`: test scenes generated.
    #[serde(default = "default_test_scenes")]
    pub test_scenes: usize,
}

/// `[detect] augment`: a named set of box-aware augmentations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetAugment {
    /// None.
    #[default]
    None,
    /// Horizontal flip, half the time.
    Flip,
    /// Random zoom in 0.75-1.25 and shift.
    Scale,
    /// Both.
    FlipScale,
}

impl Default for Detect {
    fn default() -> Detect {
        Detect {
            neck: Default::default(),
            stride: default_det_stride(),
            width: default_det_width(),
            augment: DetAugment::None,
            canvas: default_canvas(),
            train_scenes: default_train_scenes(),
            test_scenes: default_test_scenes(),
        }
    }
}

impl Detect {
    /// True when nothing is set (not written in a run's config).
    pub fn is_default(&self) -> bool {
        *self == Detect::default()
    }
}

fn default_det_stride() -> usize {
    4
}
fn default_det_width() -> usize {
    32
}
fn default_canvas() -> usize {
    64
}
fn default_train_scenes() -> usize {
    2000
}
fn default_test_scenes() -> usize {
    500
}

/// `[segment]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// `fpn` (feature pyramid from the stage at `stride` up) or `fcn` (the last stage only).
    #[serde(default)]
    pub head: SegHead,
    /// `ce` (cross-entropy, 255 ignored), `dice` or `ce-dice` (their sum); a grid axis.
    #[serde(default)]
    pub loss: Loss,
    /// Finest stride of the pyramid, in input pixels per cell.
    #[serde(default = "default_det_stride")]
    pub stride: usize,
    /// Channels of the pyramid and of the classifier's hidden layer.
    #[serde(default = "default_det_width")]
    pub width: usize,
    /// Mask-aware augmentation: `none`, `flip`, `scale` (zoom 0.75-1.25, shift up to 1/8),
    /// `rotate` (up to 15 degrees) or `all` (the three).
    #[serde(default)]
    pub augment: SegAugment,
    /// `digit-scenes`: side of the canvas.
    #[serde(default = "default_canvas")]
    pub canvas: usize,
    /// `digit-scenes`: training scenes generated.
    #[serde(default = "default_train_scenes")]
    pub train_scenes: usize,
    /// `digit-scenes`: test scenes generated.
    #[serde(default = "default_test_scenes")]
    pub test_scenes: usize,
}

/// `[segment] augment`: a named set of mask-aware augmentations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegAugment {
    /// None.
    #[default]
    None,
    /// Horizontal flip, half the time.
    Flip,
    /// Random zoom in 0.75-1.25 and shift up to 1/8 of the side.
    Scale,
    /// Random rotation up to 15 degrees either way.
    Rotate,
    /// Flip, scale and rotate.
    All,
}

impl Default for Segment {
    fn default() -> Segment {
        Segment {
            head: Default::default(),
            loss: Default::default(),
            stride: default_det_stride(),
            width: default_det_width(),
            augment: SegAugment::None,
            canvas: default_canvas(),
            train_scenes: default_train_scenes(),
            test_scenes: default_test_scenes(),
        }
    }
}

impl Segment {
    /// True when nothing is set (not written in a run's config).
    pub fn is_default(&self) -> bool {
        *self == Segment::default()
    }
}
