//! Datasets named by format and path (`cifar10:DIR`, `folder:DIR`, `idx:DIR`, `csv:FILE`), for
//! data that `sweep` does not bundle. Paths are relative to the folder `sweep` runs in.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use image::imageops::FilterType;

use super::csv_images::read_csv_images;
use super::idx::read_idx;
use super::registry::from_idx;
use super::{Dataset, TestSplit};

/// A file format `sweep` reads, with the prefix that names it.
pub struct Format {
    /// The prefix before `:` in `dataset = "cifar10:path"`.
    pub prefix: &'static str,
    /// One line for `sweep datasets`.
    pub description: &'static str,
}

/// Every format, by prefix.
pub const FORMATS: &[Format] = &[
    Format {
        prefix: "cifar10",
        description: "CIFAR-10 binary version: a folder with data_batch_1..5.bin and test_batch.bin",
    },
    Format {
        prefix: "cifar100",
        description: "CIFAR-100 binary version (fine labels): a folder with train.bin and test.bin",
    },
    Format {
        prefix: "cifar100-coarse",
        description: "CIFAR-100 binary version with its 20 coarse labels",
    },
    Format {
        prefix: "folder",
        description: "image folder: one sub-folder per class (PNG/JPEG); train/ and test/ (or val/) sub-folders give the test split",
    },
    Format {
        prefix: "idx",
        description: "IDX files (MNIST format: Fashion-MNIST, KMNIST, EMNIST): a folder, or folder/prefix, with *train-images*, *train-labels*, and optional t10k/test files",
    },
    Format {
        prefix: "csv",
        description: "CSV file: one image a row, square grey pixels and a label (last column, or the column headed `label`)",
    },
];

/// Splits `format:path`; `None` for a plain registered name.
pub fn parse(name: &str) -> Option<(&'static Format, &str)> {
    let (prefix, path) = name.split_once(':')?;
    FORMATS
        .iter()
        .find(|f| f.prefix == prefix)
        .map(|f| (f, path))
}

/// Whether the path of a `format:path` dataset is there (for `idx:`, a file-name prefix in an
/// existing folder counts).
pub fn exists(format: &Format, path: &Path) -> bool {
    path.exists()
        || format.prefix == "idx"
            && path.file_name().is_some()
            && path
                .parent()
                .is_none_or(|p| p.as_os_str().is_empty() || p.is_dir())
}

/// Reads a dataset given as `format:path`; image folders are resized to `size` here (their
/// images differ in size), the other formats keep their stored size.
pub fn load(name: &str, size: usize) -> anyhow::Result<Dataset> {
    let Some((format, path)) = parse(name) else {
        bail!("`{name}` is neither a registered dataset nor `format:path`");
    };
    let path = Path::new(path);
    if !exists(format, path) {
        bail!(
            "{} does not exist; `{}:` takes a path relative to the folder `sweep` runs in",
            path.display(),
            format.prefix
        );
    }
    let load = match format.prefix {
        "cifar10" => load_cifar(name, path, 10, false),
        "cifar100" => load_cifar(name, path, 100, false),
        "cifar100-coarse" => load_cifar(name, path, 20, true),
        "folder" => load_folder(name, path, size),
        "idx" => load_idx(name, path),
        _ => load_csv(name, path),
    };
    load.with_context(|| format!("cannot load dataset `{name}`"))
}

/// Reads CIFAR-10/100 binary batches: per image a label byte (CIFAR-100: coarse then fine)
/// and 3072 pixel bytes, red plane, green plane, blue plane.
fn load_cifar(name: &str, dir: &Path, classes: usize, coarse: bool) -> anyhow::Result<Dataset> {
    // The official tarballs unpack into one sub-folder.
    let inner = [
        dir.join("cifar-10-batches-bin"),
        dir.join("cifar-100-binary"),
    ];
    let dir = inner
        .iter()
        .find(|d| d.is_dir())
        .map_or(dir, PathBuf::as_path);
    let (train, test): (Vec<PathBuf>, Vec<PathBuf>) = if classes == 10 {
        (
            (1..=5)
                .map(|i| dir.join(format!("data_batch_{i}.bin")))
                .collect(),
            vec![dir.join("test_batch.bin")],
        )
    } else {
        (vec![dir.join("train.bin")], vec![dir.join("test.bin")])
    };
    let label_bytes = if classes == 10 { 1 } else { 2 };
    let record = label_bytes + 3 * 32 * 32;
    let (mut pixels, mut labels, mut n_train) = (Vec::new(), Vec::new(), 0);
    for (k, file) in train.iter().chain(&test).enumerate() {
        let bytes = std::fs::read(file).with_context(|| {
            format!(
                "cannot read {}; download the binary version from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it",
                file.display()
            )
        })?;
        if bytes.is_empty() || bytes.len() % record != 0 {
            bail!(
                "{}: {} bytes is not a whole number of {record}-byte CIFAR records",
                file.display(),
                bytes.len()
            );
        }
        for r in bytes.chunks_exact(record) {
            let label = if coarse { r[0] } else { r[label_bytes - 1] };
            if label as usize >= classes {
                bail!("{}: label {label} is not below {classes}", file.display());
            }
            labels.push(label);
            pixels.extend(r[label_bytes..].iter().map(|&b| f32::from(b) / 255.0));
        }
        if k + 1 == train.len() {
            n_train = labels.len();
        }
    }
    Dataset::new(
        name,
        3,
        32,
        32,
        pixels,
        labels,
        TestSplit::Official(n_train),
    )
}

/// Reads an image folder: classes are the sorted sub-folder names; `train/` with `test/` or
/// `val/` beside it gives the official split, otherwise a fixed 20% is held out.
fn load_folder(name: &str, dir: &Path, size: usize) -> anyhow::Result<Dataset> {
    let (train_dir, test_dir) = if dir.join("train").is_dir() {
        let test = ["test", "val"]
            .iter()
            .map(|t| dir.join(t))
            .find(|d| d.is_dir());
        (dir.join("train"), test)
    } else {
        (dir.to_path_buf(), None)
    };
    let classes = class_folders(&train_dir)?;
    let mut files = image_files(&train_dir, &classes)?;
    let n_train = files.len();
    if let Some(test) = &test_dir {
        for extra in class_folders(test)? {
            if !classes.contains(&extra) {
                bail!(
                    "{}: class folder `{extra}` has no counterpart in {}",
                    test.display(),
                    train_dir.display()
                );
            }
        }
        files.extend(image_files(test, &classes)?);
    }
    if n_train == 0 {
        bail!("{} holds no .png/.jpg/.jpeg images", train_dir.display());
    }
    let images: Vec<image::DynamicImage> = files
        .iter()
        .map(|(path, _)| {
            image::open(path).with_context(|| format!("cannot decode {}", path.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    let grey = images.iter().all(|i| i.color().channel_count() <= 2);
    let channels = if grey { 1 } else { 3 };
    let mut pixels = Vec::with_capacity(images.len() * channels * size * size);
    for img in &images {
        let img = square(img, size);
        if grey {
            pixels.extend(img.to_luma8().iter().map(|&b| f32::from(b) / 255.0));
        } else {
            let rgb = img.to_rgb8();
            for ch in 0..3 {
                pixels.extend(rgb.pixels().map(|p| f32::from(p[ch]) / 255.0));
            }
        }
    }
    let labels = files.iter().map(|(_, l)| *l).collect();
    let split = match test_dir {
        Some(_) => TestSplit::Official(n_train),
        None => TestSplit::Fraction(0.2),
    };
    Dataset::new(name, channels, size, size, pixels, labels, split)
}

/// An image file as RGB pixels in [0, 1], CHW: the shorter side resized to `size`, then the
/// centre `size` x `size` (what `sweep predict` feeds a network).
pub fn image_rgb(path: &Path, size: usize) -> anyhow::Result<Vec<f32>> {
    let img = image::open(path).with_context(|| format!("cannot decode {}", path.display()))?;
    let rgb = square(&img, size).to_rgb8();
    Ok((0..3)
        .flat_map(|ch| rgb.pixels().map(move |p| f32::from(p[ch]) / 255.0))
        .collect())
}

/// The shorter side resized to `size` (triangle filter), then the centre `size` x `size`.
fn square(img: &image::DynamicImage, size: usize) -> image::DynamicImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if (w, h) == (size, size) {
        return img.clone();
    }
    let short = w.min(h);
    let (nw, nh) = (
        (w * size).div_ceil(short).max(size),
        (h * size).div_ceil(short).max(size),
    );
    let resized = img.resize_exact(nw as u32, nh as u32, FilterType::Triangle);
    resized.crop_imm(
        ((nw - size) / 2) as u32,
        ((nh - size) / 2) as u32,
        size as u32,
        size as u32,
    )
}

fn class_folders(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if names.is_empty() {
        bail!(
            "{} has no class sub-folders; put each class's images in a folder named after it",
            dir.display()
        );
    }
    if names.len() > 256 {
        bail!(
            "{}: {} classes; at most 256 are supported",
            dir.display(),
            names.len()
        );
    }
    Ok(names)
}

fn image_files(dir: &Path, classes: &[String]) -> anyhow::Result<Vec<(PathBuf, u8)>> {
    let mut out = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&class_dir)
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| e.into_path())
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
                })
            })
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|p| (p, label as u8)));
    }
    Ok(out)
}

/// Reads IDX files from a folder, or from the files of a folder that start with a prefix.
fn load_idx(name: &str, path: &Path) -> anyhow::Result<Dataset> {
    let (dir, prefix) = if path.is_dir() {
        (path.to_path_buf(), String::new())
    } else {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let prefix = path.file_name().map(|f| f.to_string_lossy().into_owned());
        (dir, prefix.unwrap_or_default())
    };
    let names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    let find = |kinds: &[&str], required: bool| -> anyhow::Result<Option<PathBuf>> {
        let mut hits: Vec<&String> = names
            .iter()
            .filter(|n| kinds.iter().any(|k| n.contains(k)))
            .collect();
        hits.sort();
        match hits.len() {
            1 => Ok(Some(dir.join(hits[0]))),
            0 if !required => Ok(None),
            0 => bail!(
                "{} has no file named like *{}*",
                dir.display(),
                kinds.join("* or *")
            ),
            _ => bail!(
                "{} has several files named like *{}*: {}; name one set with a prefix, e.g. `idx:{}/{}`",
                dir.display(),
                kinds[0],
                hits.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                dir.display(),
                hits[0].split(kinds[0]).next().unwrap_or("")
            ),
        }
    };
    let train_images = find(&["train-images"], true)?.expect("required");
    let train_labels = find(&["train-labels"], true)?.expect("required");
    let test_images = find(&["t10k-images", "test-images"], false)?;
    let test_labels = find(&["t10k-labels", "test-labels"], false)?;
    let read = |p: &Path| read_idx(p);
    match (test_images, test_labels) {
        (Some(ti), Some(tl)) => {
            let train = from_idx(
                name,
                read(&train_images)?,
                read(&train_labels)?,
                TestSplit::Official(0),
            )?;
            let test = from_idx(name, read(&ti)?, read(&tl)?, TestSplit::Official(0))?;
            train.append_test(test)
        }
        _ => from_idx(
            name,
            read(&train_images)?,
            read(&train_labels)?,
            TestSplit::Fraction(0.2),
        ),
    }
}

/// Reads a CSV of images; pixel values above 1 are taken as bytes and divided by 255.
fn load_csv(name: &str, file: &Path) -> anyhow::Result<Dataset> {
    let csv = read_csv_images(file)?;
    let scale = if csv.pixels.iter().any(|&v| v > 1.0) {
        255.0
    } else {
        1.0
    };
    let pixels = csv.pixels.iter().map(|v| v / scale).collect();
    Dataset::new(
        name,
        1,
        csv.side,
        csv.side,
        pixels,
        csv.labels,
        TestSplit::Fraction(0.2),
    )
}
