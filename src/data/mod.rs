//! Datasets: loading, fixed test splits, label budgets, resizing and normalisation.

pub mod augment;
pub mod csv_images;
pub mod fingerprint;
pub mod formats;
pub mod idx;
pub mod names;
pub mod pixels;
pub mod preview;
pub mod registry;
pub mod transform;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use rand::seq::SliceRandom;

use crate::seed;

/// How a dataset's test images are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TestSplit {
    /// A fixed stratified fraction, the same on every machine and for every run.
    Fraction(f64),
    /// The dataset's own test set: the images from this index on.
    Official(usize),
}

/// Images of one dataset in memory: pixels in [0, 1], NCHW order, with labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Registered name.
    pub name: String,
    /// Channels per image.
    pub channels: usize,
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
    /// Number of classes (largest label + 1).
    pub classes: usize,
    /// Pixels of all images.
    pub pixels: Vec<f32>,
    /// One label per image.
    pub labels: Vec<u8>,
    test: TestSplit,
}

/// Seed of the fixed test and validation splits; never a run's seed.
const SPLIT_SEED: u64 = 0x5EED_5EED;

impl Dataset {
    /// Checks sizes and builds a dataset.
    pub fn new(
        name: &str,
        channels: usize,
        height: usize,
        width: usize,
        pixels: Vec<f32>,
        labels: Vec<u8>,
        test: TestSplit,
    ) -> anyhow::Result<Dataset> {
        let per = channels * height * width;
        if per == 0 || pixels.len() != labels.len() * per {
            bail!(
                "{} pixel values do not make {} images of {channels}x{height}x{width}",
                pixels.len(),
                labels.len()
            );
        }
        let classes = labels
            .iter()
            .copied()
            .max()
            .context("the dataset holds no images")? as usize
            + 1;
        Ok(Dataset {
            name: name.into(),
            channels,
            height,
            width,
            classes,
            pixels,
            labels,
            test,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Appends an official test set after this (training) set.
    pub fn append_test(mut self, test: Dataset) -> anyhow::Result<Dataset> {
        if (test.channels, test.height, test.width) != (self.channels, self.height, self.width) {
            bail!("the test images have another shape than the training images");
        }
        let start = self.len();
        self.pixels.extend(test.pixels);
        self.labels.extend(test.labels);
        self.classes = self.classes.max(test.classes);
        self.test = TestSplit::Official(start);
        Ok(self)
    }

    /// Keeps the images of `classes` only, relabelled by their position in the list (so
    /// `[5, 6, 7, 8, 9]` become 0 to 4). An empty list keeps everything as it is.
    pub fn select_classes(self, classes: &[u8]) -> anyhow::Result<Dataset> {
        if classes.is_empty() {
            return Ok(self);
        }
        let mut map = [None; 256];
        for (new, &old) in classes.iter().enumerate() {
            if map[old as usize].is_some() {
                bail!("class {old} is listed twice");
            }
            map[old as usize] = Some(new as u8);
        }
        let present: std::collections::BTreeSet<u8> = self.labels.iter().copied().collect();
        if let Some(missing) = classes.iter().find(|c| !present.contains(c)) {
            bail!(
                "`{}` has no images of class {missing} (its classes are 0 to {})",
                self.name,
                self.classes - 1
            );
        }
        let per = self.channels * self.height * self.width;
        let (mut pixels, mut labels, mut kept_before_test) = (Vec::new(), Vec::new(), 0);
        for (i, &label) in self.labels.iter().enumerate() {
            if let Some(new) = map[label as usize] {
                pixels.extend_from_slice(&self.pixels[i * per..(i + 1) * per]);
                labels.push(new);
                if matches!(self.test, TestSplit::Official(start) if i < start) {
                    kept_before_test += 1;
                }
            }
        }
        let test = match self.test {
            TestSplit::Official(_) => TestSplit::Official(kept_before_test),
            fraction => fraction,
        };
        let mut out = Dataset::new(
            &self.name,
            self.channels,
            self.height,
            self.width,
            pixels,
            labels,
            test,
        )?;
        out.classes = classes.len();
        Ok(out)
    }

    /// The fixed split: (indices usable for training and validation, test indices).
    pub fn split(&self) -> (Vec<usize>, Vec<usize>) {
        let all: Vec<usize> = (0..self.len()).collect();
        match self.test {
            TestSplit::Official(start) => (all[..start].to_vec(), all[start..].to_vec()),
            TestSplit::Fraction(f) => stratified_split(&all, &self.labels, f, SPLIT_SEED),
        }
    }
}

/// Splits `indices` into (rest, held-out), holding out `fraction` of every class.
pub fn stratified_split(
    indices: &[usize],
    labels: &[u8],
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let (mut rest, mut held) = (Vec::new(), Vec::new());
    for (class, mut members) in by_class(indices, labels) {
        members.shuffle(&mut seed::rng(seed, "split", class as u64));
        let k = (members.len() as f64 * fraction).round() as usize;
        held.extend_from_slice(&members[..k]);
        rest.extend_from_slice(&members[k..]);
    }
    rest.sort_unstable();
    held.sort_unstable();
    (rest, held)
}

/// About `n` of `indices`, every class keeping its share (all of them when `n` is `None` or
/// not smaller): a fixed subset for a given `seed`.
pub fn stratified_subset(
    indices: &[usize],
    labels: &[u8],
    n: Option<usize>,
    seed: u64,
) -> Vec<usize> {
    match n {
        Some(n) if n < indices.len() => {
            let fraction = n as f64 / indices.len() as f64;
            stratified_split(indices, labels, fraction, seed).1
        }
        _ => indices.to_vec(),
    }
}

/// The label budget: `per_class` images of every class (all when 0 or fewer exist).
///
/// Depends only on (seed, per_class), and the budgets of one seed are nested: the 5 images per
/// class of seed s are among its 20.
pub fn sample_per_class(
    indices: &[usize],
    labels: &[u8],
    per_class: usize,
    seed: u64,
) -> Vec<usize> {
    let mut out = Vec::new();
    for (class, mut members) in by_class(indices, labels) {
        members.shuffle(&mut seed::rng(seed, "labels", class as u64));
        let k = if per_class == 0 {
            members.len()
        } else {
            per_class.min(members.len())
        };
        out.extend_from_slice(&members[..k]);
    }
    out.sort_unstable();
    out
}

fn by_class(indices: &[usize], labels: &[u8]) -> Vec<(u8, Vec<usize>)> {
    let mut map: std::collections::BTreeMap<u8, Vec<usize>> = Default::default();
    for &i in indices {
        map.entry(labels[i]).or_default().push(i);
    }
    map.into_iter().collect()
}

/// A dataset ready for a model: resized to the model's input, normalised, with its fixed splits.
#[derive(Debug)]
pub struct Prepared {
    /// Registered name.
    pub name: String,
    /// Channels per image.
    pub channels: usize,
    /// Side of the square images.
    pub size: usize,
    /// Number of classes.
    pub classes: usize,
    /// Normalised pixels of all images, NCHW (mapped from disk for feature-cache entries).
    pub pixels: pixels::Pixels,
    /// One label per image.
    pub labels: Vec<u8>,
    /// Indices usable for training and validation.
    pub pool: Vec<usize>,
    /// Fixed test indices: never trained on, never used to choose a model.
    pub test: Vec<usize>,
    /// Per-channel mean of the raw [0, 1] pixels of the pool (subtracted in normalisation).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (divided by in normalisation).
    pub std: Vec<f32>,
}

impl Prepared {
    /// Pixels and labels of some images, ready to become a batch.
    pub fn gather(&self, indices: &[usize]) -> (Vec<f32>, Vec<i64>) {
        let per = self.channels * self.size * self.size;
        let mut x = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            x.extend_from_slice(&self.pixels[i * per..(i + 1) * per]);
        }
        (
            x,
            indices.iter().map(|&i| i64::from(self.labels[i])).collect(),
        )
    }

    /// A fixed stratified subset: about `limit` of the pool and `test_limit` of the test images
    /// (all of either when `None`), with the full pool's normalisation.
    pub fn subset(&self, limit: Option<usize>, test_limit: Option<usize>) -> Prepared {
        let pool = stratified_subset(&self.pool, &self.labels, limit, SPLIT_SEED ^ 3);
        let test = stratified_subset(&self.test, &self.labels, test_limit, SPLIT_SEED ^ 4);
        let kept: Vec<usize> = pool.iter().chain(&test).copied().collect();
        let (pixels, _) = self.gather(&kept);
        Prepared {
            name: self.name.clone(),
            channels: self.channels,
            size: self.size,
            classes: self.classes,
            pixels: pixels.into(),
            labels: kept.iter().map(|&i| self.labels[i]).collect(),
            pool: (0..pool.len()).collect(),
            test: (pool.len()..kept.len()).collect(),
            mean: self.mean.clone(),
            std: self.std.clone(),
        }
    }

    /// The same images normalised with the per-channel `mean` and `std` of some pretrained
    /// weights in place of the pool's own (a grey dataset takes their first channel's).
    pub fn renormalised(&self, mean: &[f32], std: &[f32]) -> Prepared {
        let (c, plane) = (self.channels, self.size * self.size);
        let pick = |v: &[f32], ch: usize| v[ch.min(v.len() - 1)];
        let mut pixels = self.pixels.to_vec();
        for image in pixels.chunks_exact_mut(c * plane) {
            for ch in 0..c {
                let (m0, s0) = (f64::from(self.mean[ch]), f64::from(self.std[ch]));
                let (m1, s1) = (f64::from(pick(mean, ch)), f64::from(pick(std, ch)));
                for v in &mut image[ch * plane..][..plane] {
                    *v = ((f64::from(*v) * s0 + m0 - m1) / s1) as f32;
                }
            }
        }
        Prepared {
            name: self.name.clone(),
            channels: c,
            size: self.size,
            classes: self.classes,
            pixels: pixels.into(),
            labels: self.labels.clone(),
            pool: self.pool.clone(),
            test: self.test.clone(),
            mean: (0..c).map(|ch| pick(mean, ch)).collect(),
            std: (0..c).map(|ch| pick(std, ch)).collect(),
        }
    }

    /// Fixed validation split of the pool: (train candidates, validation).
    pub fn val_split(&self, fraction: f64) -> (Vec<usize>, Vec<usize>) {
        stratified_split(&self.pool, &self.labels, fraction, SPLIT_SEED ^ 1)
    }
}

type CacheKey = (String, Vec<u8>, Option<usize>, usize);

/// A fixed per-channel (mean, std) on [0, 1] pixels: the normalisation pretrained weights expect.
pub type Normalisation = ([f32; 3], [f32; 3]);

/// The target dataset of a run, prepared for `size`-pixel inputs, cut to its `limit` and
/// `test_limit`, and normalised with `norm` when given (else with its pool's own statistics);
/// made once per process.
pub fn target(
    t: &crate::schema::Target,
    size: usize,
    norm: Option<Normalisation>,
) -> anyhow::Result<Arc<Prepared>> {
    let full = prepare(&t.dataset, &t.classes, t.crop, size)?;
    if t.limit.is_none() && t.test_limit.is_none() && norm.is_none() {
        return Ok(full);
    }
    type Key = (CacheKey, Option<usize>, Option<usize>, String);
    static CUT: Mutex<Option<HashMap<Key, Arc<Prepared>>>> = Mutex::new(None);
    let key = (
        (t.dataset.clone(), t.classes.clone(), t.crop, size),
        t.limit,
        t.test_limit,
        format!("{norm:?}"),
    );
    let mut cache = CUT.lock().expect("cache lock");
    let cut = cache.get_or_insert_default().entry(key).or_insert_with(|| {
        let limited = t.limit.is_some() || t.test_limit.is_some();
        let cut = limited.then(|| full.subset(t.limit, t.test_limit));
        match (norm, cut) {
            (Some((mean, std)), cut) => {
                Arc::new(cut.as_ref().unwrap_or(&full).renormalised(&mean, &std))
            }
            (None, Some(cut)) => Arc::new(cut),
            (None, None) => full.clone(),
        }
    });
    Ok(cut.clone())
}

/// Loads (once per process) a dataset (a registered name or `format:path`), keeps `classes`
/// (all when empty), center-crops to `crop`, resizes to `size` and normalises with the
/// per-channel mean and std of its training pool.
pub fn prepare(
    name: &str,
    classes: &[u8],
    crop: Option<usize>,
    size: usize,
) -> anyhow::Result<Arc<Prepared>> {
    static CACHE: Mutex<Option<HashMap<CacheKey, Arc<Prepared>>>> = Mutex::new(None);
    let key = (name.to_string(), classes.to_vec(), crop, size);
    if let Some(hit) = CACHE
        .lock()
        .expect("cache lock")
        .get_or_insert_default()
        .get(&key)
    {
        return Ok(hit.clone());
    }
    let ds = match registry::find(name) {
        Some(info) => info.load()?,
        None if formats::parse(name).is_some() => {
            if crop.is_some() && name.starts_with("folder:") {
                bail!(
                    "`crop` does not apply to image folders: their images are resized to `input_size` by the shorter side and center-cropped"
                );
            }
            formats::load(name, size)?
        }
        None => bail!("unknown dataset `{name}`"),
    };
    let ds = ds
        .select_classes(classes)
        .with_context(|| format!("cannot select the classes {classes:?} of `{name}`"))?;
    let prepared = Arc::new(transform::prepare(&ds, crop, size)?);
    CACHE
        .lock()
        .expect("cache lock")
        .get_or_insert_default()
        .insert(key, prepared.clone());
    Ok(prepared)
}
