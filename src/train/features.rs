//! Frozen-feature cache: the output of a run's frozen prefix, computed once per image and shared
//! by every epoch and every run with the same prefix weights, depth and data.
//!
//! A frozen prefix in inference mode fed unaugmented images is a fixed function of each image, so
//! its outputs can stand in for the images: training then runs only the trainable rest. Entries
//! are keyed by content (the prefix's frozen values, the depth, the data's identity and the
//! `sweep` version) and written to `DIR/features-<key>.f32`, which is then memory-mapped: every
//! run, later process and other sweep sharing the cache folder reads the same pages of the OS's
//! page cache, and the OS drops them under memory pressure (they are clean) instead of swapping.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use burn::tensor::{Device, Tensor, TensorData};
use sha2::{Digest, Sha256};

use super::Settings;
use crate::data::Prepared;
use crate::data::pixels::Pixels;
use crate::model::Network;

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the cache on or off for this process (`sweep run --no-feature-cache`).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether runs use the cache.
pub fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Bytes of features kept mapped across runs; beyond it, an entry is mapped again by each run
/// that asks (cheap), and entries larger than this are not cached at all.
const MEMORY_BUDGET: usize = 1 << 30;

/// Features standing in for a dataset's images.
pub struct Features {
    /// The dataset with every image replaced by its prefix output (`channels` × `size`²).
    pub data: Arc<Prepared>,
    /// Parts of the network the features have been through.
    pub depth: usize,
    /// Content key of the entry.
    pub key: String,
}

/// The depth whose output can replace the images for a run with these settings, or `None` when
/// the prefix is not a fixed function of the image: random augmentation, batch norms that keep
/// learning statistics, gradual unfreezing, nothing frozen, or a family that cannot split.
pub fn depth(net: &Network, s: &Settings) -> Option<usize> {
    let ok = s.freeze_depth >= 1
        && s.augment.is_empty()
        && !s.bn_train
        && s.unfreeze_every == 0
        && net.can_split();
    ok.then(|| s.freeze_depth.min(net.parts().len()))
}

/// The content key of the first `depth` parts of `net` applied to the data named by `data_id`
/// (its file fingerprint and preparation settings).
pub fn key(net: &Network, depth: usize, data_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(format!("|{depth}|{data_id}|").as_bytes());
    // The frozen values of a run whose first `depth` parts are frozen are exactly the prefix's.
    for (path, values) in crate::model::frozen::values(net) {
        h.update(path.as_bytes());
        h.update([0]);
        for x in values {
            h.update(x.to_le_bytes());
        }
    }
    format!("{:x}", h.finalize())[..24].to_string()
}

type Slot = Arc<OnceLock<Result<Arc<Prepared>, String>>>;

struct Table {
    slots: HashMap<String, Slot>,
    bytes: usize,
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(|| {
        Mutex::new(Table {
            slots: HashMap::new(),
            bytes: 0,
        })
    })
}

/// The features of `net`'s first `depth` parts on every image of `data`: from memory, else from
/// `dir`, else computed (once, however many runs ask at the same time) and written to `dir`.
/// `None` when the entry would exceed the memory budget: an early, wide layer's outputs on a
/// large dataset (the stem's on Fashion-MNIST, say) cost more to store and read back than the
/// frozen layers cost to run.
pub fn obtain(
    net: &Network,
    depth: usize,
    data: &Prepared,
    data_id: &str,
    dir: &Path,
    device: &Device,
) -> anyhow::Result<Option<Features>> {
    let (one, _) = data.gather(&[0]);
    let one = Tensor::<4>::from_data(
        TensorData::new(one, [1, data.channels, data.size, data.size]),
        device,
    );
    let per_image = net
        .prefix(one, depth)
        .map_or(0, |y| y.dims().iter().product::<usize>());
    if per_image * data.labels.len() * 4 > MEMORY_BUDGET {
        return Ok(None);
    }
    let key = key(net, depth, data_id);
    let slot = table()
        .lock()
        .expect("feature table")
        .slots
        .entry(key.clone())
        .or_default()
        .clone();
    let mut fresh = false;
    let got = slot.get_or_init(|| {
        fresh = true;
        let path = file(dir, &key);
        let made = match load(&path, data) {
            Some(f) => Ok(f),
            None => {
                let f = compute(net, depth, data, device);
                // Mapped once written, so the computed copy can leave this process's memory;
                // kept as computed where the file cannot be mapped.
                write(&path, &f).map(|()| load(&path, data).unwrap_or(f))
            }
        };
        made.map(Arc::new).map_err(|e| format!("{e:#}"))
    });
    let features = got.clone().map_err(anyhow::Error::msg)?;
    if fresh {
        // Over the memory budget the entry leaves the table (runs holding it keep it until they
        // finish); the next run that asks reads it back from disk.
        let mut t = table().lock().expect("feature table");
        let size = features.pixels.len() * 4;
        if t.bytes + size > MEMORY_BUDGET {
            t.slots.remove(&key);
        } else {
            t.bytes += size;
        }
    }
    Ok(Some(Features {
        data: features,
        depth,
        key,
    }))
}

/// Path of an entry in the cache folder.
pub fn file(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("features-{key}.f32"))
}

/// Runs the prefix over every image in batches, in inference mode.
fn compute(net: &Network, depth: usize, data: &Prepared, device: &Device) -> Prepared {
    let n = data.labels.len();
    let all: Vec<usize> = (0..n).collect();
    let (mut pixels, mut shape) = (Vec::new(), [0usize; 3]);
    for batch in all.chunks(256) {
        let (x, _) = data.gather(batch);
        let x = Tensor::<4>::from_data(
            TensorData::new(x, [batch.len(), data.channels, data.size, data.size]),
            device,
        );
        let y = net.prefix(x, depth).expect("a family that can split");
        let [_, c, h, w] = y.dims();
        shape = [c, h, w];
        pixels.extend(
            y.into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32"),
        );
    }
    with_pixels(data, pixels, shape)
}

/// `data` with its images replaced by `pixels` of `[channels, size, size]` each.
fn with_pixels(data: &Prepared, pixels: impl Into<Pixels>, [c, h, w]: [usize; 3]) -> Prepared {
    debug_assert_eq!(h, w, "square inputs give square features");
    Prepared {
        name: data.name.clone(),
        channels: c,
        size: h,
        classes: data.classes,
        pixels: pixels.into(),
        labels: data.labels.clone(),
        pool: data.pool.clone(),
        test: data.test.clone(),
        mean: Vec::new(),
        std: Vec::new(),
    }
}

/// Header of an entry: magic, images, channels, size.
const MAGIC: &[u8; 8] = b"SWEEPFT1";

fn write(path: &Path, f: &Prepared) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the cache folder {}", parent.display()))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?,
    );
    out.write_all(MAGIC)?;
    for v in [f.labels.len(), f.channels, f.size] {
        out.write_all(&(v as u64).to_le_bytes())?;
    }
    for x in f.pixels.iter() {
        out.write_all(&x.to_le_bytes())?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    // Renamed into place complete, so a crash never leaves a half-written entry under its key.
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Maps an entry of the cache folder; `None` when it is missing, cannot be mapped or does not
/// fit `data` (then the caller computes it again and replaces the file).
pub fn load(path: &Path, data: &Prepared) -> Option<Prepared> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut head = [0u8; 32];
    file.read_exact(&mut head).ok()?;
    let word = |i: usize| u64::from_le_bytes(head[8 + 8 * i..16 + 8 * i].try_into().unwrap());
    let (n, c, s) = (word(0) as usize, word(1) as usize, word(2) as usize);
    if &head[..8] != MAGIC || n != data.labels.len() {
        return None;
    }
    let len = n.checked_mul(c)?.checked_mul(s)?.checked_mul(s)?;
    let pixels = Pixels::map(&file, head.len(), len)?;
    Some(with_pixels(data, pixels, [c, s, s]))
}
