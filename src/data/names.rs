//! The names of the dense tasks' datasets in files (`coco:FILE.json[:IMAGES]`, `yolo:DIR`,
//! `voc:DIR`; `masks:IMAGES:MASKS`, `voc-seg:DIR`, `coco-seg:FILE.json`): their grammar, which
//! validation, fingerprints and the tasks' loaders share.

use std::path::{Path, PathBuf};

/// The prefixes of the detection formats, with one line each for messages.
pub const DETECT_FORMATS: &[(&str, &str)] = &[
    (
        "coco",
        "COCO JSON: `coco:annotations.json` (images beside it) or `coco:annotations.json:IMAGES_DIR`",
    ),
    (
        "yolo",
        "YOLO: `yolo:DIR` with DIR/images/, DIR/labels/*.txt and DIR/classes.txt or DIR/data.yaml",
    ),
    (
        "voc",
        "Pascal VOC: `voc:DIR` with DIR/Annotations/*.xml and DIR/JPEGImages/",
    ),
];

/// Splits `format:path` for a detection format; `None` for anything else.
pub fn detect(name: &str) -> Option<(&'static str, &str)> {
    let (prefix, path) = name.split_once(':')?;
    DETECT_FORMATS
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(p, _)| (*p, path))
}

/// What the path of a detection dataset (`format:path`, format one of [`DETECT_FORMATS`]) names: the
/// annotation file or folder, and the images' folder. `coco:FILE.json[:IMAGES]` has its images
/// beside the file unless a folder follows it; YOLO and VOC datasets are one folder.
pub fn paths(prefix: &str, path: &str) -> (PathBuf, PathBuf) {
    if prefix != "coco" {
        return (PathBuf::from(path), PathBuf::from(path));
    }
    // The images folder follows the JSON file's name, so a path may hold colons.
    match path.find(".json:") {
        Some(k) => (PathBuf::from(&path[..k + 5]), PathBuf::from(&path[k + 6..])),
        None => (PathBuf::from(path), parent(Path::new(path))),
    }
}

/// A file's folder (`.` for a bare file name).
fn parent(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The prefixes of segmentation datasets in files, with one line each for `sweep datasets`.
pub const SEGMENT_FORMATS: [(&str, &str); 3] = [
    (
        "masks",
        "`masks:IMAGES_DIR:MASKS_DIR`: images with a PNG mask of the same stem (palette or 8-bit grey class indices, 255 ignored)",
    ),
    (
        "voc-seg",
        "Pascal VOC: `voc-seg:DIR` with ImageSets/Segmentation/{train,val}.txt, JPEGImages/ and SegmentationClass/ (21 classes)",
    ),
    (
        "coco-seg",
        "COCO instances rasterised to masks: `coco-seg:annotations.json[:IMAGES_DIR]` (polygons and RLE as pycocotools decodes them)",
    ),
];

/// Splits `format:path` for a segmentation format; `None` for anything else.
pub fn segment(name: &str) -> Option<(&'static str, &str)> {
    let (prefix, path) = name.split_once(':')?;
    SEGMENT_FORMATS
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(p, _)| (*p, path))
}
