//! Detection datasets named by format and path: `coco:FILE.json[:IMAGES]`, `yolo:DIR`,
//! `voc:DIR`. Images are read at their own size as RGB (grey files expanded to 3 channels).
//!
//! Every scene of a loaded dataset lands in `train`; [`split_test`] holds out a fixed test
//! set. Annotations that cannot be right (a box outside its image, an unknown class) are
//! errors naming the file and the annotation, never silently dropped or clipped away.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rayon::prelude::*;
use serde::Deserialize;

use super::{BBox, DetDataset, Object, Scene, xml, yaml};
use crate::seed;

/// How far (pixels) a box may pass the right or bottom edge of its image, for annotation
/// tools that round outwards; such boxes are clipped to the image.
pub const EDGE_SLACK: f32 = 0.5;

/// Seed of the fixed test split of file datasets; never a run's seed.
const SPLIT_SEED: u64 = 0x5EED_DE7E;

pub use crate::data::names::{DETECT_FORMATS as FORMATS, detect as parse, paths};

/// Reads a detection dataset given as `format:path`; every scene is in `train`.
pub fn load(name: &str) -> anyhow::Result<DetDataset> {
    let Some((prefix, path)) = parse(name) else {
        let known: Vec<&str> = FORMATS.iter().map(|(p, _)| *p).collect();
        bail!(
            "`{name}` is not a detection dataset; write `format:path` with format one of {}",
            known.join(", ")
        );
    };
    let (file, images) = paths(prefix, path);
    let mut ds = match prefix {
        "coco" => load_coco(&file, &images),
        "yolo" => load_yolo(&file),
        _ => load_voc(&file),
    }
    .with_context(|| format!("cannot load detection dataset `{name}`"))?;
    ds.name = name.to_string();
    Ok(ds)
}

/// Splits scenes into (train, test), `fraction` of them (rounded) in test: the same scenes
/// for the same ids whatever order they come in, each side sorted by id.
pub fn split_test(mut scenes: Vec<Scene>, fraction: f64) -> (Vec<Scene>, Vec<Scene>) {
    let k = (scenes.len() as f64 * fraction.clamp(0.0, 1.0)).round() as usize;
    // Ranking by a hash of the id keeps a scene on its side when others are added.
    scenes.sort_by_key(|s| (seed::derive(SPLIT_SEED, "det-split", s.id), s.id));
    let rest = scenes.split_off(k);
    let (mut train, mut test) = (rest, scenes);
    train.sort_by_key(|s| s.id);
    test.sort_by_key(|s| s.id);
    (train, test)
}

/// An image file as (width, height, RGB pixels in [0, 1], C×H×W).
pub fn read_rgb(path: &Path) -> anyhow::Result<(usize, usize, Vec<f32>)> {
    if !path.is_file() {
        bail!("image {} does not exist", path.display());
    }
    let img = image::open(path)
        .with_context(|| format!("cannot decode image {}", path.display()))?
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let pixels = (0..3)
        .flat_map(|ch| img.pixels().map(move |p| f32::from(p[ch]) / 255.0))
        .collect();
    Ok((w, h, pixels))
}

/// A checked box: positive size, inside a `width` x `height` image (left and top exactly,
/// right and bottom within [`EDGE_SLACK`], then clipped). The error says what is wrong.
fn checked_box(b: BBox, width: usize, height: usize) -> Result<BBox, String> {
    let finite = [b.x, b.y, b.w, b.h].iter().all(|v| v.is_finite());
    if !finite {
        return Err(format!("box {} has a non-number", show(&b)));
    }
    if b.w <= 0.0 || b.h <= 0.0 {
        return Err(format!(
            "box {} has a zero or negative width or height",
            show(&b)
        ));
    }
    let (wf, hf) = (width as f32, height as f32);
    if b.x < 0.0 || b.y < 0.0 || b.right() > wf + EDGE_SLACK || b.bottom() > hf + EDGE_SLACK {
        return Err(format!(
            "box {} extends outside the {width}x{height} image",
            show(&b)
        ));
    }
    Ok(BBox {
        w: b.w.min(wf - b.x),
        h: b.h.min(hf - b.y),
        ..b
    })
}

fn show(b: &BBox) -> String {
    format!("[x {}, y {}, w {}, h {}]", b.x, b.y, b.w, b.h)
}

#[derive(Deserialize)]
struct CocoFile {
    images: Vec<CocoImage>,
    #[serde(default)]
    annotations: Vec<CocoAnnotation>,
    categories: Vec<CocoCategory>,
}

#[derive(Deserialize)]
struct CocoImage {
    id: u64,
    file_name: String,
    width: usize,
    height: usize,
}

#[derive(Deserialize)]
struct CocoAnnotation {
    id: u64,
    image_id: u64,
    category_id: u64,
    bbox: [f64; 4],
    area: Option<f64>,
    #[serde(default)]
    iscrowd: Flag,
    #[serde(default)]
    ignore: Flag,
}

#[derive(Deserialize)]
struct CocoCategory {
    id: u64,
    name: String,
}

/// COCO writes flags as 0/1; some tools write booleans.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(untagged)]
enum Flag {
    #[default]
    Unset,
    Int(u64),
    Bool(bool),
}

impl Flag {
    fn on(self) -> bool {
        matches!(self, Flag::Int(v) if v != 0) || matches!(self, Flag::Bool(true))
    }
}

/// Reads a COCO annotation file; image `file_name`s are relative to `images`. Categories
/// become classes 0..K-1 in increasing id order; images without annotations are kept.
pub fn load_coco(json: &Path, images: &Path) -> anyhow::Result<DetDataset> {
    let bytes = std::fs::read(json).with_context(|| format!("cannot read {}", json.display()))?;
    let coco: CocoFile = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not COCO JSON (images, annotations, categories)",
            json.display()
        )
    })?;
    let mut by_id: BTreeMap<u64, &str> = BTreeMap::new();
    for c in &coco.categories {
        if by_id.insert(c.id, &c.name).is_some() {
            bail!("{}: category id {} is listed twice", json.display(), c.id);
        }
    }
    let class_of: HashMap<u64, usize> = by_id.keys().enumerate().map(|(k, &id)| (id, k)).collect();
    let classes = by_id.values().map(|n| n.to_string()).collect();
    let category_ids = by_id.keys().copied().collect();
    let mut slot: HashMap<u64, usize> = HashMap::new();
    for (k, img) in coco.images.iter().enumerate() {
        if slot.insert(img.id, k).is_some() {
            bail!("{}: image id {} is listed twice", json.display(), img.id);
        }
    }
    let mut objects: Vec<Vec<Object>> = vec![Vec::new(); coco.images.len()];
    for a in &coco.annotations {
        let at = || format!("{}: annotation id {}", json.display(), a.id);
        let Some(&k) = slot.get(&a.image_id) else {
            bail!(
                "{}: image id {} is not among the file's images; fix the annotation or add the image",
                at(),
                a.image_id
            );
        };
        let Some(&class) = class_of.get(&a.category_id) else {
            bail!(
                "{}: category id {} is not among the file's categories (ids {:?}); fix the annotation or add the category",
                at(),
                a.category_id,
                by_id.keys().collect::<Vec<_>>()
            );
        };
        let img = &coco.images[k];
        let [x, y, w, h] = a.bbox.map(|v| v as f32);
        let bbox = checked_box(BBox { x, y, w, h }, img.width, img.height)
            .map_err(|e| anyhow::anyhow!("{} (image {}): {e}; fix the box", at(), img.file_name))?;
        objects[k].push(Object {
            bbox,
            class,
            crowd: a.iscrowd.on(),
            ignore: a.ignore.on(),
            area: a.area.map_or(bbox.area(), |v| v as f32),
        });
    }
    let scenes = coco
        .images
        .par_iter()
        .zip(objects)
        .map(|(img, objects)| {
            let path = images.join(&img.file_name);
            let (w, h, pixels) = read_rgb(&path).with_context(|| {
                format!(
                    "{}: image id {} (`{}`, looked for in {})",
                    json.display(),
                    img.id,
                    img.file_name,
                    images.display()
                )
            })?;
            if (w, h) != (img.width, img.height) {
                bail!(
                    "{}: image id {} says {}x{} but {} is {w}x{h}; fix width/height in the JSON",
                    json.display(),
                    img.id,
                    img.width,
                    img.height,
                    path.display()
                );
            }
            Ok(Scene {
                id: img.id,
                file: img.file_name.clone(),
                width: w,
                height: h,
                pixels,
                objects,
            })
        })
        .collect::<anyhow::Result<Vec<Scene>>>()?;
    Ok(DetDataset {
        name: format!("coco:{}", json.display()),
        channels: 3,
        classes,
        category_ids,
        train: scenes,
        test: Vec::new(),
    })
}

/// Image files under `dir` (PNG/JPEG, any depth), sorted.
fn image_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| {
            p.is_file()
                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
                })
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Reads a YOLO folder: `images/` (sub-folders allowed), `labels/` mirroring it with one
/// `class cx cy w h` line per object (normalised to [0, 1]; an image without a label file
/// has no objects), and class names from `classes.txt` or `data.yaml`'s `names`.
pub fn load_yolo(dir: &Path) -> anyhow::Result<DetDataset> {
    let classes = yolo_classes(dir)?;
    let image_dir = dir.join("images");
    let files = image_files(&image_dir)?;
    if files.is_empty() {
        bail!("{} holds no .png/.jpg/.jpeg images", image_dir.display());
    }
    let scenes = files
        .par_iter()
        .enumerate()
        .map(|(k, path)| {
            let rel = path.strip_prefix(&image_dir).unwrap_or(path);
            let label = dir.join("labels").join(rel).with_extension("txt");
            let (w, h, pixels) = read_rgb(path)?;
            let objects = match std::fs::read_to_string(&label) {
                Ok(text) => yolo_objects(&text, &label, w, h, classes.len())?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => bail!("cannot read {}: {e}", label.display()),
            };
            Ok(Scene {
                id: k as u64 + 1,
                file: rel.to_string_lossy().into_owned(),
                width: w,
                height: h,
                pixels,
                objects,
            })
        })
        .collect::<anyhow::Result<Vec<Scene>>>()?;
    Ok(DetDataset {
        name: format!("yolo:{}", dir.display()),
        channels: 3,
        category_ids: super::default_category_ids(classes.len()),
        classes,
        train: scenes,
        test: Vec::new(),
    })
}

/// The objects of one YOLO label file for a `w` x `h` image.
fn yolo_objects(
    text: &str,
    file: &Path,
    w: usize,
    h: usize,
    classes: usize,
) -> anyhow::Result<Vec<Object>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", file.display(), n + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != 5 {
            bail!(
                "{}: {} fields; a YOLO box line is `class cx cy w h` (5 fields; segmentation polygons are not read)",
                at(),
                fields.len()
            );
        }
        let class: usize = fields[0].parse().map_err(|_| {
            anyhow::anyhow!("{}: class `{}` is not a whole number", at(), fields[0])
        })?;
        if class >= classes {
            bail!(
                "{}: class {class} is out of range: the dataset names {classes} classes (0 to {})",
                at(),
                classes.saturating_sub(1)
            );
        }
        let mut v = [0f32; 4];
        for (slot, field) in v.iter_mut().zip(&fields[1..]) {
            *slot = field
                .parse()
                .map_err(|_| anyhow::anyhow!("{}: `{field}` is not a number", at()))?;
            if !(0.0..=1.0).contains(slot) {
                bail!(
                    "{}: value {field} is outside [0, 1]; YOLO coordinates are fractions of the image size",
                    at()
                );
            }
        }
        let [cx, cy, bw, bh] = v;
        let (wf, hf) = (w as f32, h as f32);
        let (x, y) = ((cx - bw / 2.0) * wf, (cy - bh / 2.0) * hf);
        // Rounded normalised centres can put a left or top edge a hair before the image.
        let (x0, y0) = (snap(x), snap(y));
        let bbox = BBox {
            x: x0,
            y: y0,
            w: bw * wf - (x0 - x),
            h: bh * hf - (y0 - y),
        };
        let bbox = checked_box(bbox, w, h).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        out.push(Object {
            bbox,
            class,
            crowd: false,
            ignore: false,
            area: bbox.area(),
        });
    }
    Ok(out)
}

/// A left or top edge within [`EDGE_SLACK`] before the image moved onto it.
fn snap(v: f32) -> f32 {
    if v < 0.0 && v > -EDGE_SLACK { 0.0 } else { v }
}

/// Class names of a YOLO folder: `classes.txt` (one a line), else `data.yaml`'s `names`.
fn yolo_classes(dir: &Path) -> anyhow::Result<Vec<String>> {
    let txt = dir.join("classes.txt");
    if txt.is_file() {
        let text = std::fs::read_to_string(&txt)
            .with_context(|| format!("cannot read {}", txt.display()))?;
        let names: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if names.is_empty() {
            bail!("{} names no classes; write one a line", txt.display());
        }
        return Ok(names);
    }
    for yaml in ["data.yaml", "data.yml"].map(|f| dir.join(f)) {
        if yaml.is_file() {
            let text = std::fs::read_to_string(&yaml)
                .with_context(|| format!("cannot read {}", yaml.display()))?;
            return yaml::names(&text).map_err(|e| anyhow::anyhow!("{}: {e}", yaml.display()));
        }
    }
    bail!(
        "{} has neither classes.txt nor data.yaml; write the class names one a line into classes.txt",
        dir.display()
    )
}

/// Reads a Pascal VOC folder: `Annotations/*.xml`, each naming its image in `JPEGImages/`.
/// Classes are the object names sorted; `difficult` objects are kept with `ignore` set.
pub fn load_voc(dir: &Path) -> anyhow::Result<DetDataset> {
    let ann_dir = dir.join("Annotations");
    if !ann_dir.is_dir() {
        bail!(
            "{} has no Annotations/ folder; a VOC dataset holds Annotations/*.xml and JPEGImages/",
            dir.display()
        );
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&ann_dir)
        .with_context(|| format!("cannot list {}", ann_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no .xml annotation files", ann_dir.display());
    }
    let parsed = files
        .par_iter()
        .map(|f| voc_file(f, &dir.join("JPEGImages")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names: BTreeSet<&str> = parsed
        .iter()
        .flat_map(|(_, objs)| objs.iter().map(|o| o.0.as_str()))
        .collect();
    let classes: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let scenes = parsed
        .iter()
        .enumerate()
        .map(|(k, (scene, objs))| {
            let objects = objs
                .iter()
                .map(|(name, obj)| Object {
                    class: classes.binary_search(name).expect("collected above"),
                    ..obj.clone()
                })
                .collect();
            Scene {
                id: k as u64 + 1,
                objects,
                ..scene.clone()
            }
        })
        .collect();
    Ok(DetDataset {
        name: format!("voc:{}", dir.display()),
        channels: 3,
        category_ids: super::default_category_ids(classes.len()),
        classes,
        train: scenes,
        test: Vec::new(),
    })
}

/// One VOC annotation: its scene (objects empty) and its objects with their class names.
fn voc_file(file: &Path, images: &Path) -> anyhow::Result<(Scene, Vec<(String, Object)>)> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let root =
        xml::parse(&text).map_err(|e| anyhow::anyhow!("{}: bad XML: {e}", file.display()))?;
    if root.name != "annotation" {
        bail!(
            "{}: the root element is <{}>, not <annotation>",
            file.display(),
            root.name
        );
    }
    let name = root
        .child_text("filename")
        .filter(|s| !s.is_empty())
        .with_context(|| format!("{}: no <filename>; name the image file", file.display()))?;
    let path = images.join(name);
    let (w, h, pixels) =
        read_rgb(&path).with_context(|| format!("{}: its <filename> `{name}`", file.display()))?;
    if let Some(size) = root.child("size") {
        let dim = |t: &str| size.child_text(t).and_then(|v| v.parse::<f64>().ok());
        // Some VOC files carry a zero size; only a real, different size is an error.
        if let (Some(sw), Some(sh)) = (dim("width"), dim("height"))
            && sw > 0.0
            && sh > 0.0
            && (sw as usize, sh as usize) != (w, h)
        {
            bail!(
                "{}: <size> says {sw}x{sh} but {} is {w}x{h}; fix the size or the image",
                file.display(),
                path.display()
            );
        }
    }
    let mut objects = Vec::new();
    for (k, obj) in root.all("object").enumerate() {
        let at = || format!("{}: object {} (of `{name}`)", file.display(), k + 1);
        let class = obj
            .child_text("name")
            .filter(|s| !s.is_empty())
            .with_context(|| format!("{}: no <name>", at()))?;
        let at = || format!("{}: object {} `{class}`", file.display(), k + 1);
        let b = obj
            .child("bndbox")
            .with_context(|| format!("{}: no <bndbox>", at()))?;
        let coord = |t: &str| -> anyhow::Result<f32> {
            let v = b
                .child_text(t)
                .with_context(|| format!("{}: <bndbox> has no <{t}>", at()))?;
            v.parse()
                .map_err(|_| anyhow::anyhow!("{}: <{t}> `{v}` is not a number", at()))
        };
        let (x0, y0, x1, y1) = (
            coord("xmin")?,
            coord("ymin")?,
            coord("xmax")?,
            coord("ymax")?,
        );
        // VOC corners are 1-based and inclusive: pixel 1 is the first column.
        let bbox = BBox {
            x: x0 - 1.0,
            y: y0 - 1.0,
            w: x1 - x0 + 1.0,
            h: y1 - y0 + 1.0,
        };
        let bbox = checked_box(bbox, w, h).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e} (from xmin {x0} ymin {y0} xmax {x1} ymax {y1}, 1-based inclusive); fix the box",
                at()
            )
        })?;
        let difficult = obj.child_text("difficult").unwrap_or("0");
        let ignore = match difficult {
            "1" => true,
            "0" | "" => false,
            other => bail!("{}: <difficult> is `{other}`, not 0 or 1", at()),
        };
        let object = Object {
            bbox,
            class: 0,
            crowd: false,
            ignore,
            area: bbox.area(),
        };
        objects.push((class.to_string(), object));
    }
    let scene = Scene {
        id: 0,
        file: name.to_string(),
        width: w,
        height: h,
        pixels,
        objects: Vec::new(),
    };
    Ok((scene, objects))
}
