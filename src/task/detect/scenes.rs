//! `digit-scenes`: a generated detection dataset of MNIST digits pasted on a black canvas.
//!
//! Every scene is drawn from its own generator (dataset seed, split, scene number), so the
//! dataset is the same on every machine and a scene does not depend on how many came before.
//! Train scenes take their digits from the pool side of MNIST-10k's fixed split and test scenes
//! from its test side, so no test digit is ever seen in training.

use anyhow::{Context, bail};
use rand::Rng;

use super::{BBox, DetDataset, Object, Scene};
use crate::data::Dataset;
use crate::seed;

/// One line for `sweep datasets`.
pub const DESCRIPTION: &str = "MNIST-10k digits pasted 1-5 per black canvas at random scale and place, boxes tight to the ink (generated, seeded; 2,000 train + 500 test scenes of 64x64)";

/// A pixel of a pasted digit counts as ink above this value; boxes are tight to the ink.
pub const INK: f32 = 0.1;

/// Largest IoU a new digit may have with one already placed.
pub const MAX_IOU: f32 = 0.3;

/// Placements tried per digit before it is left out of its scene.
const PLACEMENT_TRIES: usize = 10;

/// Side of an MNIST digit.
const DIGIT: usize = 28;

/// How `digit-scenes` is generated.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenesConfig {
    /// Side of the square canvas in pixels.
    pub canvas: usize,
    /// Number of training scenes.
    pub train_scenes: usize,
    /// Number of test scenes.
    pub test_scenes: usize,
    /// Fewest digits a scene is drawn with.
    pub min_objects: usize,
    /// Most digits a scene is drawn with (fewer land when placements overlap too much).
    pub max_objects: usize,
    /// Smallest side of a pasted digit in pixels.
    pub min_size: usize,
    /// Largest side of a pasted digit in pixels.
    pub max_size: usize,
    /// The dataset's own seed (never a run's seed: the data stay fixed across runs).
    pub seed: u64,
}

/// The seed of the registered `digit-scenes`.
pub const DEFAULT_SEED: u64 = 0xD161_75CE;

impl Default for ScenesConfig {
    fn default() -> Self {
        ScenesConfig {
            canvas: 64,
            train_scenes: 2000,
            test_scenes: 500,
            min_objects: 1,
            max_objects: 5,
            min_size: 14,
            max_size: 28,
            seed: DEFAULT_SEED,
        }
    }
}

impl ScenesConfig {
    /// The first problem with these settings, if any.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.min_size < 2 || self.min_size > self.max_size {
            bail!(
                "digit sizes {}..{} px: need 2 <= min_size <= max_size",
                self.min_size,
                self.max_size
            );
        }
        if self.max_size > self.canvas {
            bail!(
                "a {} px digit does not fit a {} px canvas; lower max_size or raise canvas",
                self.max_size,
                self.canvas
            );
        }
        if self.min_objects > self.max_objects {
            bail!(
                "min_objects {} exceeds max_objects {}",
                self.min_objects,
                self.max_objects
            );
        }
        Ok(())
    }
}

/// Where one digit of a scene came from and where it was pasted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Index of the digit in the source dataset (MNIST-10k).
    pub digit: usize,
    /// Side of the pasted (resized) digit in pixels.
    pub size: usize,
    /// Column of the pasted digit's left edge.
    pub x: usize,
    /// Row of the pasted digit's top edge.
    pub y: usize,
}

/// A generated dataset with the placement of every pasted digit.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The scenes.
    pub dataset: DetDataset,
    /// Per train scene, the placement of each object, in object order.
    pub train_placements: Vec<Vec<Placement>>,
    /// Per test scene, the placement of each object, in object order.
    pub test_placements: Vec<Vec<Placement>>,
}

/// Generates `digit-scenes` from the bundled MNIST-10k.
pub fn digit_scenes(cfg: &ScenesConfig) -> anyhow::Result<DetDataset> {
    Ok(generate(cfg)?.dataset)
}

/// Generates `digit-scenes` and tells which MNIST-10k digit each object is and where it lies.
pub fn generate(cfg: &ScenesConfig) -> anyhow::Result<Generated> {
    let info = crate::data::registry::find("mnist-10k").context("mnist-10k is not registered")?;
    let mnist = info.load()?;
    generate_from(cfg, &mnist)
}

/// Generates the scenes from any 28x28 grey digit dataset with its fixed split.
pub fn generate_from(cfg: &ScenesConfig, digits: &Dataset) -> anyhow::Result<Generated> {
    cfg.check()
        .context("invalid digit-scenes settings; fix the ScenesConfig")?;
    if (digits.channels, digits.height, digits.width) != (1, DIGIT, DIGIT) {
        bail!(
            "`{}` has {}x{}x{} images; digit-scenes needs 1x28x28 digits",
            digits.name,
            digits.channels,
            digits.height,
            digits.width
        );
    }
    let (pool, test) = digits.split();
    if pool.is_empty() || test.is_empty() {
        bail!(
            "`{}` has an empty training or test side; digit-scenes needs both",
            digits.name
        );
    }
    let make = |side: &[usize], tag: &str, count: usize, first_id: u64| {
        (0..count)
            .map(|k| {
                let mut rng = seed::rng(cfg.seed, tag, k as u64);
                let id = first_id + k as u64;
                scene(cfg, id, side, digits, &mut rng)
            })
            .unzip::<_, _, Vec<Scene>, Vec<Vec<Placement>>>()
    };
    let (train, train_placements) = make(&pool, "digit-scenes-train", cfg.train_scenes, 1);
    let first_test = cfg.train_scenes as u64 + 1;
    let (test, test_placements) = make(&test, "digit-scenes-test", cfg.test_scenes, first_test);
    Ok(Generated {
        dataset: DetDataset {
            name: "digit-scenes".into(),
            channels: 1,
            classes: (0..digits.classes).map(|c| c.to_string()).collect(),
            category_ids: super::default_category_ids(digits.classes),
            train,
            test,
        },
        train_placements,
        test_placements,
    })
}

/// One scene: up to `max_objects` digits of `side`, pasted where they overlap little.
fn scene(
    cfg: &ScenesConfig,
    id: u64,
    side: &[usize],
    digits: &Dataset,
    rng: &mut impl Rng,
) -> (Scene, Vec<Placement>) {
    const PER: usize = DIGIT * DIGIT;
    let c = cfg.canvas;
    let mut pixels = vec![0.0f32; c * c];
    let (mut objects, mut placements) = (Vec::new(), Vec::new());
    let n = rng.random_range(cfg.min_objects..=cfg.max_objects);
    for _ in 0..n {
        let source = side[rng.random_range(0..side.len())];
        let s = rng.random_range(cfg.min_size..=cfg.max_size);
        let small = resize_bilinear(&digits.pixels[source * PER..][..PER], DIGIT, s);
        // A blank digit (none in MNIST, but a dataset could hold one) has no box to learn.
        let Some((x0, y0, x1, y1)) = ink_bounds(&small, s) else {
            continue;
        };
        for _ in 0..PLACEMENT_TRIES {
            let px = rng.random_range(0..=c - s);
            let py = rng.random_range(0..=c - s);
            let bbox = BBox {
                x: (px + x0) as f32,
                y: (py + y0) as f32,
                w: (x1 - x0 + 1) as f32,
                h: (y1 - y0 + 1) as f32,
            };
            if objects
                .iter()
                .any(|o: &Object| iou(&o.bbox, &bbox) > MAX_IOU)
            {
                continue;
            }
            for r in 0..s {
                let row = &mut pixels[(py + r) * c + px..][..s];
                for (dst, &src) in row.iter_mut().zip(&small[r * s..(r + 1) * s]) {
                    *dst = dst.max(src);
                }
            }
            objects.push(Object {
                bbox,
                class: digits.labels[source] as usize,
                crowd: false,
                ignore: false,
                area: bbox.area(),
            });
            placements.push(Placement {
                digit: source,
                size: s,
                x: px,
                y: py,
            });
            break;
        }
    }
    let scene = Scene {
        id,
        file: format!("{id:06}.png"),
        width: c,
        height: c,
        pixels,
        objects,
    };
    (scene, placements)
}

/// The segmentation mask of a scene from its placements: each pixel the class + 1 of the digit
/// whose ink is brightest there (the one the pasting kept), 0 where no digit has ink (above
/// [`INK`]). Row-major, `canvas`×`canvas`, aligned with the scene's pixels.
pub fn mask(canvas: usize, digits: &Dataset, placements: &[Placement]) -> Vec<u8> {
    const PER: usize = DIGIT * DIGIT;
    let mut best = vec![0.0f32; canvas * canvas];
    let mut label = vec![0u8; canvas * canvas];
    for p in placements {
        let small = resize_bilinear(&digits.pixels[p.digit * PER..][..PER], DIGIT, p.size);
        let class = digits.labels[p.digit] + 1;
        for r in 0..p.size {
            for c in 0..p.size {
                let (v, at) = (small[r * p.size + c], (p.y + r) * canvas + p.x + c);
                // Strictly brighter, as the pasting's max keeps the earlier digit on a tie.
                if v > INK && v > best[at] {
                    best[at] = v;
                    label[at] = class;
                }
            }
        }
    }
    label
}

/// Bilinear resize of a square grey image (pixel centres aligned, edges replicated).
pub fn resize_bilinear(src: &[f32], from: usize, to: usize) -> Vec<f32> {
    if from == 0 || src.len() < from * from {
        return vec![0.0; to * to];
    }
    let scale = from as f32 / to as f32;
    // Per output coordinate: the two source taps and the weight of the second.
    let taps: Vec<(usize, usize, f32)> = (0..to)
        .map(|o| {
            let u = ((o as f32 + 0.5) * scale - 0.5).clamp(0.0, (from - 1) as f32);
            let i = u.floor() as usize;
            (i, (i + 1).min(from - 1), u - i as f32)
        })
        .collect();
    let mut out = Vec::with_capacity(to * to);
    for &(y0, y1, fy) in &taps {
        for &(x0, x1, fx) in &taps {
            let top = src[y0 * from + x0] * (1.0 - fx) + src[y0 * from + x1] * fx;
            let bottom = src[y1 * from + x0] * (1.0 - fx) + src[y1 * from + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// First and last column and row holding ink (inclusive), `None` for a blank image.
fn ink_bounds(img: &[f32], side: usize) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (side, side, 0, 0);
    for (i, _) in img.iter().enumerate().filter(|(_, v)| **v > INK) {
        let (y, x) = (i / side, i % side);
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    (x0 <= x1).then_some((x0, y0, x1, y1))
}

/// Intersection over union of two boxes (0 when either is empty).
pub fn iou(a: &BBox, b: &BBox) -> f32 {
    let w = (a.right().min(b.right()) - a.x.max(b.x)).max(0.0);
    let h = (a.bottom().min(b.bottom()) - a.y.max(b.y)).max(0.0);
    let inter = w * h;
    let union = a.area() + b.area() - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}
