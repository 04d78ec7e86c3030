//! `[augment.sets]`: the augmentation ops as written in the file (what they do is in
//! `crate::data::augment`).

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// One augmentation op, written as a table (`{ op = "crop", padding = 4 }`) or, with its
/// defaults, as its name (`"flip"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Op {
    /// Random crop of the padded image back to its size (black padding).
    Crop {
        /// Pixels of padding on every side.
        #[serde(default = "default_padding")]
        padding: usize,
    },
    /// Random crop of `scale` of the area at an aspect ratio in `ratio`, resized back.
    ResizedCrop {
        /// Range of the crop's area as a fraction of the image.
        #[serde(default = "default_crop_scale")]
        scale: [f64; 2],
        /// Range of the crop's width / height.
        #[serde(default = "default_crop_ratio")]
        ratio: [f64; 2],
    },
    /// Horizontal flip with probability `p`.
    Flip {
        /// Probability.
        #[serde(default = "half")]
        p: f64,
    },
    /// Vertical flip with probability `p`.
    Vflip {
        /// Probability.
        #[serde(default = "half")]
        p: f64,
    },
    /// Rotation by an angle uniform in [-degrees, degrees] (bilinear, black corners).
    Rotate {
        /// Largest angle in degrees.
        #[serde(default = "default_degrees")]
        degrees: f64,
    },
    /// Shift by up to `fraction` of the side in each direction (whole pixels, black fill).
    Translate {
        /// Largest shift as a fraction of the side.
        #[serde(default = "default_translate")]
        fraction: f64,
    },
    /// Colour jitter: factors uniform in [1 - x, 1 + x], applied brightness, contrast, saturation.
    Jitter {
        /// Brightness range.
        #[serde(default)]
        brightness: f64,
        /// Contrast range.
        #[serde(default)]
        contrast: f64,
        /// Saturation range (colour images only).
        #[serde(default)]
        saturation: f64,
    },
    /// Additive Gaussian noise, clamped to [0, 1].
    Noise {
        /// Standard deviation in pixel units (1 = full range).
        #[serde(default = "default_noise")]
        std: f64,
    },
    /// Random erasing (torchvision's RandomErasing): a rectangle set to the dataset mean.
    Erase {
        /// Probability.
        #[serde(default = "half")]
        p: f64,
        /// Range of the rectangle's area as a fraction of the image.
        #[serde(default = "default_erase_scale")]
        scale: [f64; 2],
        /// Range of the rectangle's height / width.
        #[serde(default = "default_erase_ratio")]
        ratio: [f64; 2],
    },
    /// Cutout: a `size` x `size` square (clipped at the border) set to the dataset mean.
    Cutout {
        /// Side of the square in pixels.
        #[serde(default = "default_cutout")]
        size: usize,
    },
    /// Mixup: each batch mixed with a permutation of itself, weight ~ Beta(alpha, alpha).
    Mixup {
        /// Beta parameter.
        #[serde(default = "default_mixup")]
        alpha: f64,
    },
    /// CutMix: a box of each image replaced by another's, area ~ Beta(alpha, alpha).
    Cutmix {
        /// Beta parameter.
        #[serde(default = "one")]
        alpha: f64,
    },
}

fn default_padding() -> usize {
    4
}
fn default_crop_scale() -> [f64; 2] {
    [0.08, 1.0]
}
fn default_crop_ratio() -> [f64; 2] {
    [3.0 / 4.0, 4.0 / 3.0]
}
fn half() -> f64 {
    0.5
}
fn default_degrees() -> f64 {
    15.0
}
fn default_translate() -> f64 {
    0.1
}
fn default_noise() -> f64 {
    0.05
}
fn default_erase_scale() -> [f64; 2] {
    [0.02, 0.33]
}
fn default_erase_ratio() -> [f64; 2] {
    [0.3, 3.3]
}
fn default_cutout() -> usize {
    8
}
fn default_mixup() -> f64 {
    0.2
}
fn one() -> f64 {
    1.0
}

/// The op names, for messages.
pub const OP_NAMES: &[&str] = &[
    "crop",
    "resized-crop",
    "flip",
    "vflip",
    "rotate",
    "translate",
    "jitter",
    "noise",
    "erase",
    "cutout",
    "mixup",
    "cutmix",
];

/// Deserializes an op from its name or from a table; both give serde's own messages.
pub fn deserialize_ops<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Op>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "one_op")] Op);
    let ops: Vec<Wrapped> = Vec::deserialize(d)?;
    Ok(ops.into_iter().map(|w| w.0).collect())
}

fn one_op<'de, D: Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Op;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(
                "an op name such as \"flip\" or a table such as { op = \"crop\", padding = 4 }",
            )
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Op, E> {
            let map = std::iter::once(("op", s));
            Op::deserialize(de::value::MapDeserializer::new(map))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Op, A::Error> {
            Op::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V)
}

/// `[augment]` table: `[augment.sets] light = ["flip", { op = "crop", padding = 4 }]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Named lists of ops, chosen by `[train] augment = "name"`.
    #[serde(default)]
    pub sets: std::collections::BTreeMap<String, OpList>,
}

impl Augment {
    /// True when no set is defined.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// The ops of one augmentation set, applied in order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpList(#[serde(deserialize_with = "deserialize_ops")] pub Vec<Op>);
