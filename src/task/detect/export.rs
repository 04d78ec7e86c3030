//! Writes a detection dataset as COCO: PNG images and one annotation file per split, for
//! other tools (pycocotools, torchvision, Ultralytics' converters) and for `coco:` itself.

use std::path::Path;

use anyhow::{Context, bail};
use rayon::prelude::*;
use serde_json::{Value, json};

use super::{DetDataset, Scene};
use crate::io::write_atomic;

/// Writes `dir/train/NNNNNN.png`, `dir/test/NNNNNN.png` (NNNNNN the scene id) and
/// `dir/train.json`, `dir/test.json`, whose `file_name`s are relative to `dir` (so
/// `coco:dir/train.json` reads them back). Class k is category id k + 1. `dir` must be
/// empty or absent. Every file is written beside its place and renamed into it, and each JSON
/// file after its images, so an interrupted export never leaves a JSON naming a half image.
pub fn export_coco(ds: &DetDataset, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("{} exists and cannot be listed", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; export into a new or empty folder (nothing was written)",
                dir.display()
            );
        }
    }
    if !matches!(ds.channels, 1 | 3) {
        bail!(
            "`{}` has {} channels; PNG export writes grey (1) or RGB (3)",
            ds.name,
            ds.channels
        );
    }
    for (split, scenes) in [("train", &ds.train), ("test", &ds.test)] {
        let images = dir.join(split);
        std::fs::create_dir_all(&images)
            .with_context(|| format!("cannot create {}", images.display()))?;
        let coco = coco_json(ds, split, scenes)?;
        scenes
            .par_iter()
            .map(|s| write_png(s, ds.channels, &images.join(format!("{:06}.png", s.id))))
            .collect::<anyhow::Result<()>>()?;
        let bytes = serde_json::to_vec(&coco).context("cannot serialise the COCO JSON")?;
        write_atomic(&dir.join(format!("{split}.json")), &bytes)?;
    }
    Ok(())
}

/// The COCO document of one split (checked before any image is written).
fn coco_json(ds: &DetDataset, split: &str, scenes: &[Scene]) -> anyhow::Result<Value> {
    let mut seen = std::collections::HashSet::new();
    let (mut images, mut annotations) = (Vec::new(), Vec::new());
    for s in scenes {
        if s.id == 0 || !seen.insert(s.id) {
            bail!(
                "`{}` {split} scene `{}` has id {}, zero or repeated; COCO needs distinct nonzero image ids",
                ds.name,
                s.file,
                s.id
            );
        }
        images.push(json!({
            "id": s.id,
            "file_name": format!("{split}/{:06}.png", s.id),
            "width": s.width,
            "height": s.height,
        }));
        for o in &s.objects {
            if o.class >= ds.classes.len() {
                bail!(
                    "`{}` {split} scene {} has an object of class {} but the dataset names {} classes",
                    ds.name,
                    s.id,
                    o.class,
                    ds.classes.len()
                );
            }
            let b = o.bbox;
            let mut a = json!({
                "id": annotations.len() + 1,
                "image_id": s.id,
                "category_id": category_id(ds, o.class),
                "bbox": [b.x, b.y, b.w, b.h],
                "area": o.area,
                "iscrowd": u8::from(o.crowd),
            });
            // Not COCO's own field, but the one its evaluators and converters understand.
            if o.ignore {
                a["ignore"] = json!(1);
            }
            annotations.push(a);
        }
    }
    let categories: Vec<Value> = ds
        .classes
        .iter()
        .enumerate()
        .map(|(k, name)| json!({ "id": category_id(ds, k), "name": name }))
        .collect();
    Ok(json!({
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }))
}

/// The COCO category id of class `k`: the dataset's own (a COCO file's), else k + 1.
fn category_id(ds: &DetDataset, k: usize) -> u64 {
    ds.category_ids.get(k).copied().unwrap_or(k as u64 + 1)
}

/// A scene's pixels as an 8-bit PNG.
fn write_png(s: &Scene, channels: usize, path: &Path) -> anyhow::Result<()> {
    let plane = s.width * s.height;
    if s.pixels.len() != channels * plane || plane == 0 {
        bail!(
            "scene {} holds {} pixel values, not {channels}x{}x{}",
            s.id,
            s.pixels.len(),
            s.height,
            s.width
        );
    }
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    // PNG interleaves channels; the scene keeps them as planes.
    let bytes: Vec<u8> = (0..plane)
        .flat_map(|i| (0..channels).map(move |c| byte(s.pixels[c * plane + i])))
        .collect();
    let color = if channels == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &bytes,
        s.width as u32,
        s.height as u32,
        color,
    )
    .with_context(|| format!("cannot encode scene {} as PNG", s.id))?;
    write_atomic(path, &png)
}
