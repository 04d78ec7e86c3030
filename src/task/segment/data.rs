//! Segmentation datasets by name: `digit-scenes` (the detection scenes with a mask per scene),
//! `masks:IMAGES_DIR:MASKS_DIR`, `voc-seg:DIR` and `coco-seg:ANNOTATIONS.json[:IMAGES_DIR]`,
//! each split into training images and a fixed test split, and brought to the model's size.

use anyhow::{Context, bail};
use image::imageops::FilterType;
use image::{ImageBuffer, Luma};

use super::formats::{self, Sample};
use crate::seed;
use crate::task::detect::scenes::{self, ScenesConfig};

/// A segmentation dataset in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct SegDataset {
    /// Name (registered name or `format:path`).
    pub name: String,
    /// Channels per image (1 grey, 3 RGB).
    pub channels: usize,
    /// Class names; a mask value indexes this (255 ignored).
    pub classes: Vec<String>,
    /// Images to train and validate on.
    pub train: Vec<Sample>,
    /// Fixed test images.
    pub test: Vec<Sample>,
}

pub use crate::data::names::SEGMENT_FORMATS as FORMATS;

/// Fraction of a file dataset's images held out for testing when it names no test split.
pub const TEST_FRACTION: f64 = 0.2;

/// One line for `sweep datasets`.
pub const DESCRIPTION: &str = "digit-scenes with a mask per scene: each digit's ink labelled with its class + 1, background 0 (11 classes; generated, seeded)";

pub use crate::data::names::segment as parse;

/// Loads a segmentation dataset by name: `digit-scenes` (generated as `cfg` says) or a dataset
/// in files, whose fixed test fifth is held out unless the format has a test split (VOC's val).
pub fn load(name: &str, cfg: &ScenesConfig) -> anyhow::Result<SegDataset> {
    if name == "digit-scenes" {
        return digit_scenes(cfg);
    }
    let Some((prefix, path)) = parse(name) else {
        bail!(
            "`{name}` is not a segmentation dataset; use `digit-scenes` or `format:path` with \
             format one of {}",
            FORMATS.map(|(p, _)| p).join(", ")
        );
    };
    let (classes, train, test) = match prefix {
        "masks" => {
            let Some((images, masks)) = path.split_once(':') else {
                bail!("`{name}`: write `masks:IMAGES_DIR:MASKS_DIR`");
            };
            let (samples, k) = formats::load_masks(images.as_ref(), masks.as_ref(), None)?;
            let (train, test) = split_test(samples, TEST_FRACTION);
            (numbered(k), train, test)
        }
        "voc-seg" => {
            let (train, test) = formats::load_voc_seg(path.as_ref())?;
            (voc_names(), train, test)
        }
        _ => {
            let (json, images) = crate::task::detect::formats::paths("coco", path);
            let (names, samples) = super::coco::load(&json, &images)?;
            let (train, test) = split_test(samples, TEST_FRACTION);
            (names, train, test)
        }
    };
    let channels = train
        .first()
        .or(test.first())
        .map_or(3, |s| s.pixels.len() / (s.width * s.height).max(1));
    Ok(SegDataset {
        name: name.to_string(),
        channels,
        classes,
        train,
        test,
    })
}

/// Class names `0`..`k-1` for datasets whose files name none.
fn numbered(k: usize) -> Vec<String> {
    (0..k).map(|i| i.to_string()).collect()
}

/// PASCAL VOC's class names, background first.
fn voc_names() -> Vec<String> {
    [
        "background",
        "aeroplane",
        "bicycle",
        "bird",
        "boat",
        "bottle",
        "bus",
        "car",
        "cat",
        "chair",
        "cow",
        "diningtable",
        "dog",
        "horse",
        "motorbike",
        "person",
        "pottedplant",
        "sheep",
        "sofa",
        "train",
        "tvmonitor",
    ]
    .map(String::from)
    .to_vec()
}

/// `digit-scenes` with masks: background 0, digit d's ink d + 1.
pub fn digit_scenes(cfg: &ScenesConfig) -> anyhow::Result<SegDataset> {
    let info = crate::data::registry::find("mnist-10k").context("mnist-10k is not registered")?;
    let mnist = info.load()?;
    let g = scenes::generate_from(cfg, &mnist)?;
    let to_samples = |scenes_: &[crate::task::detect::Scene], placed: &[Vec<scenes::Placement>]| {
        scenes_
            .iter()
            .zip(placed)
            .map(|(s, p)| Sample {
                file: s.file.clone(),
                width: s.width,
                height: s.height,
                pixels: s.pixels.clone(),
                mask: scenes::mask(cfg.canvas, &mnist, p),
            })
            .collect()
    };
    let mut classes = vec!["background".to_string()];
    classes.extend(g.dataset.classes.iter().cloned());
    Ok(SegDataset {
        name: "digit-scenes".into(),
        channels: 1,
        classes,
        train: to_samples(&g.dataset.train, &g.train_placements),
        test: to_samples(&g.dataset.test, &g.test_placements),
    })
}

const SPLIT_SEED: u64 = 0x5E6_5917;

/// Splits samples into (train, test), `fraction` of them (rounded) in test, by a hash of the
/// file name: a sample stays on its side when others are added. Each side in name order.
pub fn split_test(mut samples: Vec<Sample>, fraction: f64) -> (Vec<Sample>, Vec<Sample>) {
    let k = (samples.len() as f64 * fraction.clamp(0.0, 1.0)).round() as usize;
    let key = |s: &Sample| {
        let h = s.file.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        seed::derive(SPLIT_SEED, "seg-split", h)
    };
    samples.sort_by(|a, b| (key(a), &a.file).cmp(&(key(b), &b.file)));
    let rest = samples.split_off(k);
    let (mut train, mut test) = (rest, samples);
    train.sort_by(|a, b| a.file.cmp(&b.file));
    test.sort_by(|a, b| a.file.cmp(&b.file));
    (train, test)
}

/// The sample stretched to `size`×`size`: the image with a triangle filter, the mask by nearest
/// neighbour (a class is never blended into another).
pub fn resize(s: &Sample, size: usize) -> Sample {
    let (w, h) = (s.width, s.height);
    if (w, h) == (size, size) || w == 0 || h == 0 {
        return s.clone();
    }
    let plane = w * h;
    let mut pixels = Vec::with_capacity(s.pixels.len() / plane * size * size);
    for ch in s.pixels.chunks_exact(plane) {
        let img: ImageBuffer<Luma<f32>, Vec<f32>> =
            ImageBuffer::from_raw(w as u32, h as u32, ch.to_vec()).expect("plane of w*h values");
        let r = image::imageops::resize(&img, size as u32, size as u32, FilterType::Triangle);
        pixels.extend(r.into_raw());
    }
    // Nearest source pixel centre of each output pixel centre, as PyTorch's `nearest-exact`.
    let src =
        |o: usize, n: usize| (((o as f64 + 0.5) * n as f64 / size as f64) as usize).min(n - 1);
    let mut mask = Vec::with_capacity(size * size);
    for y in 0..size {
        let row = src(y, h) * w;
        mask.extend((0..size).map(|x| s.mask[row + src(x, w)]));
    }
    Sample {
        width: size,
        height: size,
        pixels,
        mask,
        file: s.file.clone(),
    }
}
