//! Segmentation masks from files: `masks:IMAGES_DIR:MASKS_DIR`, an image and a mask PNG of the
//! same name (stem) in each folder, and `voc-seg:DIR`, PASCAL VOC's layout. A mask holds class
//! indices, as a palette PNG (VOC's masks: the palette index is the class) or an 8-bit grey PNG;
//! 255 is "ignore" (VOC's object edges).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The value of a mask pixel that no loss or metric counts.
pub const IGNORE: u8 = 255;

/// An image with its mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// File name of the image, relative to the images folder.
    pub file: String,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// RGB pixels in [0, 1], C×H×W.
    pub pixels: Vec<f32>,
    /// Class index per pixel, row-major ([`IGNORE`] for unlabelled pixels).
    pub mask: Vec<u8>,
}

/// A mask file's (width, height, class indices), from a palette or 8-bit grey PNG.
pub fn read_mask(path: &Path) -> anyhow::Result<(usize, usize, Vec<u8>)> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open mask {}", path.display()))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    // Palette indices as they are, not expanded to colours.
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder
        .read_info()
        .with_context(|| format!("mask {} is not a readable PNG", path.display()))?;
    let size = reader
        .output_buffer_size()
        .with_context(|| format!("mask {} is too large", path.display()))?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .with_context(|| format!("cannot decode mask {}", path.display()))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let bits = match (info.color_type, info.bit_depth) {
        (png::ColorType::Indexed, d) => d as usize,
        (png::ColorType::Grayscale, png::BitDepth::Eight) => 8,
        (c, d) => bail!(
            "mask {} is a {c:?} PNG of {} bits; a mask holds class indices: save it as a palette \
             PNG (as VOC's) or an 8-bit grey PNG",
            path.display(),
            d as usize
        ),
    };
    // Rows of 1, 2 or 4-bit indices are packed, most significant bits first.
    let per_byte = 8 / bits;
    let mut mask = Vec::with_capacity(w * h);
    for row in buf.chunks(info.line_size).take(h) {
        mask.extend((0..w).map(|x| {
            let byte = row[x / per_byte];
            let shift = 8 - bits * (x % per_byte + 1);
            (byte >> shift) & ((1u16 << bits) - 1) as u8
        }));
    }
    Ok((w, h, mask))
}

/// Loads `masks:IMAGES_DIR:MASKS_DIR`: every image (PNG or JPEG) of the images folder, in name
/// order, with the mask of the same stem (`.png`) in the masks folder. A missing mask, a mask of
/// another size, or a class index of `classes` or more (other than 255) is an error naming the
/// file. `classes`: the dataset's class count, or `None` to take the largest index + 1.
pub fn load_masks(
    images: &Path,
    masks: &Path,
    classes: Option<usize>,
) -> anyhow::Result<(Vec<Sample>, usize)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(images)
        .with_context(|| format!("cannot read the images folder {}", images.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "{} holds no PNG or JPEG images; `masks:IMAGES_DIR:MASKS_DIR` needs the images in the first folder",
            images.display()
        );
    }
    let pairs: Vec<(PathBuf, PathBuf)> = files
        .iter()
        .map(|image| {
            let stem = image
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            (image.clone(), masks.join(format!("{stem}.png")))
        })
        .collect();
    let samples = pairs
        .iter()
        .map(|(image, mask)| read_pair(image, mask))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let largest = samples
        .iter()
        .flat_map(|s| s.mask.iter().copied().filter(|&v| v != IGNORE))
        .max()
        .map_or(0, |m| m as usize + 1);
    let classes = classes.unwrap_or(largest);
    check_classes(&samples, &pairs, classes)?;
    Ok((samples, classes))
}

/// An image and its mask, checked to match in size.
fn read_pair(image: &Path, mask_path: &Path) -> anyhow::Result<Sample> {
    let (w, h, pixels) = crate::task::detect::formats::read_rgb(image)?;
    if !mask_path.is_file() {
        bail!(
            "image {} has no mask: expected {}",
            image.display(),
            mask_path.display()
        );
    }
    let (mw, mh, mask) = read_mask(mask_path)?;
    if (mw, mh) != (w, h) {
        bail!(
            "mask {} is {mw}x{mh} but its image {} is {w}x{h}; a mask must match its image pixel for pixel",
            mask_path.display(),
            image.display()
        );
    }
    Ok(Sample {
        file: image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        width: w,
        height: h,
        pixels,
        mask,
    })
}

/// Refuses a mask value of `classes` or more (255 aside), naming the mask file.
fn check_classes(
    samples: &[Sample],
    pairs: &[(PathBuf, PathBuf)],
    classes: usize,
) -> anyhow::Result<()> {
    for (s, (_, mask)) in samples.iter().zip(pairs) {
        if let Some(&v) = s
            .mask
            .iter()
            .find(|&&v| v != IGNORE && v as usize >= classes)
        {
            bail!(
                "mask {} holds class {v}, but the dataset has {classes} classes (0..{}; 255 = ignore)",
                mask.display(),
                classes.saturating_sub(1)
            );
        }
    }
    Ok(())
}

/// PASCAL VOC's 21 segmentation classes: background and the 20 object classes.
pub const VOC_CLASSES: usize = 21;

/// Loads `voc-seg:DIR`, a VOC devkit year folder: the images listed in
/// `ImageSets/Segmentation/train.txt` and `val.txt` (the test split: VOC's test masks are not
/// public), `JPEGImages/<id>.jpg` with `SegmentationClass/<id>.png`; 21 classes, 255 ignored.
pub fn load_voc_seg(dir: &Path) -> anyhow::Result<(Vec<Sample>, Vec<Sample>)> {
    let list = |name: &str| -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
        let path = dir.join("ImageSets").join("Segmentation").join(name);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}: `voc-seg:DIR` needs a VOC year folder (VOC2012/) with \
                 ImageSets/Segmentation/, JPEGImages/ and SegmentationClass/",
                path.display()
            )
        })?;
        Ok(text
            .split_whitespace()
            .map(|id| {
                (
                    dir.join("JPEGImages").join(format!("{id}.jpg")),
                    dir.join("SegmentationClass").join(format!("{id}.png")),
                )
            })
            .collect())
    };
    let read = |pairs: Vec<(PathBuf, PathBuf)>| -> anyhow::Result<Vec<Sample>> {
        let samples = pairs
            .iter()
            .map(|(image, mask)| read_pair(image, mask))
            .collect::<anyhow::Result<Vec<_>>>()?;
        check_classes(&samples, &pairs, VOC_CLASSES)?;
        Ok(samples)
    };
    Ok((read(list("train.txt")?)?, read(list("val.txt")?)?))
}
