//! The detection task: boxes, annotated scenes, detection datasets, the COCO evaluator.
//!
//! Detection data differ from classification data in shape (an image has any number of
//! objects, each a box and a class), so they live here rather than in [`crate::data`].

pub mod augment;
pub mod centernet;
pub mod eval;
pub mod export;
pub mod formats;
pub mod loss;
mod rules;
pub mod run;
pub mod scenes;
pub mod train;
pub mod xml;
pub mod yaml;

/// An axis-aligned box in pixels: left, top, width, height (COCO's order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl BBox {
    /// Right edge.
    pub fn right(&self) -> f32 {
        self.x + self.w
    }

    /// Bottom edge.
    pub fn bottom(&self) -> f32 {
        self.y + self.h
    }

    /// Width times height.
    pub fn area(&self) -> f32 {
        self.w * self.h
    }
}

/// One annotated object of a scene.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Its box.
    pub bbox: BBox,
    /// Class, 0..K-1.
    pub class: usize,
    /// A COCO crowd region: never a positive in training; matches any number of detections
    /// in evaluation without counting as missed.
    pub crowd: bool,
    /// Not counted in evaluation either way (VOC's `difficult`).
    pub ignore: bool,
    /// Area for COCO's small/medium/large ranges: the annotation's `area` where a file gives
    /// one (COCO's is the segmentation's), else the box's.
    pub area: f32,
}

/// One image with its objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// Image id (COCO's `id`; a running number for other formats).
    pub id: u64,
    /// File name, relative to the dataset's image folder.
    pub file: String,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Pixels in [0, 1], channel-major (C×H×W).
    pub pixels: Vec<f32>,
    /// Its objects.
    pub objects: Vec<Object>,
}

/// A detection dataset in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct DetDataset {
    /// Name (registered name or `format:path`).
    pub name: String,
    /// Channels per image (1 grey, 3 RGB).
    pub channels: usize,
    /// Class names; an object's `class` indexes this.
    pub classes: Vec<String>,
    /// The COCO category id of each class: a COCO file's own, else 1..K.
    pub category_ids: Vec<u64>,
    /// Scenes to train and validate on.
    pub train: Vec<Scene>,
    /// Fixed test scenes.
    pub test: Vec<Scene>,
}

/// Loads a detection dataset by name: `digit-scenes` (generated as `scenes` says) or a dataset
/// in files (`coco:`, `yolo:`, `voc:`), whose fixed test fifth is held out.
pub fn load(name: &str, scenes: &scenes::ScenesConfig) -> anyhow::Result<DetDataset> {
    if name == "digit-scenes" {
        return scenes::digit_scenes(scenes);
    }
    let mut ds = formats::load(name)?;
    if ds.test.is_empty() {
        (ds.train, ds.test) = formats::split_test(std::mem::take(&mut ds.train), TEST_FRACTION);
    }
    Ok(ds)
}

/// Category ids 1..K, for datasets whose files name none (COCO's own convention).
pub fn default_category_ids(classes: usize) -> Vec<u64> {
    (1..=classes as u64).collect()
}

/// Fraction of a file dataset's scenes held out for testing.
pub const TEST_FRACTION: f64 = 0.2;
