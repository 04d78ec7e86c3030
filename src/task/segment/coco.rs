//! `coco-seg:ANNOTATIONS.json[:IMAGES_DIR]`: COCO instance annotations rasterised to semantic
//! masks. Polygons and RLE (uncompressed `counts` lists and compressed strings) are decoded as
//! pycocotools' `annToMask` does, bit for bit (its `rleFrPoly`: the polygon scaled by 5, its
//! boundary walked and downsampled), checked by `scripts/parity_coco_seg.py`.
//!
//! Mask values: 0 background, category i (in the file's category order) i + 1; annotations are
//! painted in file order, so a later one covers an earlier; crowd regions (`iscrowd = 1`) are
//! 255 (ignored) where no other object is, as they are neither object nor background.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

use super::formats::{IGNORE, Sample};

/// A run-length mask: counts of alternating 0s and 1s (0s first), column-major as COCO's.
fn decode_counts(counts: &[u64], h: usize, w: usize) -> Result<Vec<u8>, String> {
    let total: u64 = counts.iter().sum();
    if total != (h * w) as u64 {
        return Err(format!(
            "RLE counts sum to {total} pixels, but the mask is {h}x{w} = {}",
            h * w
        ));
    }
    let mut mask = vec![0u8; h * w];
    let mut at = 0usize;
    for (i, &n) in counts.iter().enumerate() {
        let n = n as usize;
        if i % 2 == 1 {
            for p in at..at + n {
                // Column-major index p = x * h + y.
                mask[(p % h) * w + p / h] = 1;
            }
        }
        at += n;
    }
    Ok(mask)
}

/// COCO's compressed RLE string (pycocotools' `rleFrString`) as counts.
fn counts_from_string(s: &str) -> Result<Vec<u64>, String> {
    let bytes = s.as_bytes();
    let mut counts: Vec<i64> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let (mut x, mut k, mut more) = (0i64, 0u32, true);
        while more {
            let Some(&b) = bytes.get(p) else {
                return Err("a compressed RLE string ends inside a number".into());
            };
            if !(48..48 + 64).contains(&b) {
                return Err(format!("`{}` is not a compressed RLE character", b as char));
            }
            let c = i64::from(b - 48);
            x |= (c & 0x1f) << (5 * k);
            more = c & 0x20 != 0;
            p += 1;
            k += 1;
            if !more && c & 0x10 != 0 {
                x |= -1i64 << (5 * k);
            }
            if k > 12 {
                return Err("a compressed RLE number is too long".into());
            }
        }
        // From the third count on, each is stored as its difference to the count two before.
        if counts.len() > 2 {
            x += counts[counts.len() - 2];
        }
        if x < 0 {
            return Err("a compressed RLE string decodes to a negative count".into());
        }
        counts.push(x);
    }
    Ok(counts.into_iter().map(|c| c as u64).collect())
}

/// One polygon's mask as pycocotools' `rleFrPoly` rasterises it, as sorted column-major
/// boundary indices turned to runs.
fn polygon(xy: &[f64], h: usize, w: usize) -> Vec<u8> {
    let k = xy.len() / 2;
    let scale = 5.0;
    // C's (int) cast truncates toward zero.
    let mut x: Vec<i64> = (0..k).map(|j| (scale * xy[2 * j] + 0.5) as i64).collect();
    let mut y: Vec<i64> = (0..k)
        .map(|j| (scale * xy[2 * j + 1] + 0.5) as i64)
        .collect();
    x.push(x[0]);
    y.push(y[0]);
    let (mut u, mut v) = (Vec::new(), Vec::new());
    for j in 0..k {
        let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
        let (dx, dy) = ((xe - xs).abs(), (ys - ye).abs());
        let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if flip {
            std::mem::swap(&mut xs, &mut xe);
            std::mem::swap(&mut ys, &mut ye);
        }
        if dx >= dy {
            let s = if dx == 0 {
                0.0
            } else {
                (ye - ys) as f64 / dx as f64
            };
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                u.push(t + xs);
                v.push((ys as f64 + s * t as f64 + 0.5) as i64);
            }
        } else {
            let s = (xe - xs) as f64 / dy as f64;
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                v.push(t + ys);
                u.push((xs as f64 + s * t as f64 + 0.5) as i64);
            }
        }
    }
    let mut a: Vec<u64> = Vec::new();
    for j in 1..u.len() {
        if u[j] == u[j - 1] {
            continue;
        }
        let xd = (if u[j] < u[j - 1] { u[j] } else { u[j] - 1 }) as f64;
        let xd = (xd + 0.5) / scale - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > (w as f64 - 1.0) {
            continue;
        }
        let yd = (if v[j] < v[j - 1] { v[j] } else { v[j - 1] }) as f64;
        let yd = ((yd + 0.5) / scale - 0.5).clamp(0.0, h as f64).ceil();
        a.push(xd as u64 * h as u64 + yd as u64);
    }
    a.push((h * w) as u64);
    a.sort_unstable();
    let mut prev = 0;
    for t in a.iter_mut() {
        let here = *t;
        *t -= prev;
        prev = here;
    }
    // Zero-length runs merge their neighbours.
    let mut b = vec![a[0]];
    let mut j = 1;
    while j < a.len() {
        if a[j] > 0 {
            b.push(a[j]);
            j += 1;
        } else {
            j += 1;
            if j < a.len() {
                *b.last_mut().expect("b starts non-empty") += a[j];
                j += 1;
            }
        }
    }
    decode_counts(&b, h, w).expect("runs of a polygon cover the image")
}

/// The 0/1 mask (row-major, `h`×`w`) of one annotation's `segmentation`: a list of polygons
/// (their union), or an RLE object with `counts` (list or compressed string) and `size`.
pub fn annotation_mask(seg: &Value, h: usize, w: usize) -> Result<Vec<u8>, String> {
    match seg {
        Value::Array(polys) => {
            let mut mask = vec![0u8; h * w];
            for p in polys {
                let xy: Vec<f64> = p
                    .as_array()
                    .ok_or("a polygon is not a list of numbers")?
                    .iter()
                    .map(|v| v.as_f64().ok_or("a polygon coordinate is not a number"))
                    .collect::<Result<_, _>>()?;
                if xy.len() < 6 || xy.len() % 2 == 1 {
                    return Err(format!(
                        "a polygon has {} coordinates; it needs x,y pairs, at least 3",
                        xy.len()
                    ));
                }
                for (m, p) in mask.iter_mut().zip(polygon(&xy, h, w)) {
                    *m |= p;
                }
            }
            Ok(mask)
        }
        Value::Object(rle) => {
            let size: Vec<usize> = rle
                .get("size")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter_map(|v| v.as_u64().map(|v| v as usize))
                        .collect()
                })
                .unwrap_or_default();
            if size != [h, w] {
                return Err(format!(
                    "the RLE's size is {size:?}, but its image is [{h}, {w}] (height, width)"
                ));
            }
            let counts = match rle.get("counts") {
                Some(Value::String(s)) => counts_from_string(s)?,
                Some(Value::Array(c)) => c
                    .iter()
                    .map(|v| v.as_u64().ok_or("an RLE count is not a whole number"))
                    .collect::<Result<_, _>>()?,
                _ => return Err("an RLE segmentation has no `counts`".into()),
            };
            decode_counts(&counts, h, w)
        }
        _ => Err("`segmentation` is neither a list of polygons nor an RLE object".into()),
    }
}

/// Reads a COCO instances file into (class names, background first; samples in image order).
pub fn load(json: &Path, images: &Path) -> anyhow::Result<(Vec<String>, Vec<Sample>)> {
    let text = std::fs::read_to_string(json)
        .with_context(|| format!("cannot read COCO annotations {}", json.display()))?;
    let root: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", json.display()))?;
    let list = |key: &str| -> anyhow::Result<&Vec<Value>> {
        root.get(key).and_then(Value::as_array).with_context(|| {
            format!(
                "{} has no `{key}` list; is it a COCO instances file?",
                json.display()
            )
        })
    };
    let (cats, imgs, anns) = (list("categories")?, list("images")?, list("annotations")?);
    let cat_ids: Vec<u64> = cats.iter().filter_map(|c| c["id"].as_u64()).collect();
    let mut names = vec!["background".to_string()];
    names.extend(
        cats.iter()
            .map(|c| c["name"].as_str().unwrap_or("?").to_string()),
    );
    if names.len() > 255 {
        bail!(
            "{}: {} categories; a mask holds at most 254",
            json.display(),
            cats.len()
        );
    }
    let mut samples = Vec::new();
    for img in imgs {
        let id = img["id"].as_u64();
        let file = img["file_name"].as_str();
        let (Some(id), Some(file)) = (id, file) else {
            bail!("{}: an image has no `id` or `file_name`", json.display());
        };
        let path = images.join(file);
        let (w, h, pixels) = crate::task::detect::formats::read_rgb(&path)?;
        let mut mask = vec![0u8; w * h];
        let mut crowd = vec![false; w * h];
        for (n, a) in anns.iter().enumerate() {
            if a["image_id"].as_u64() != Some(id) {
                continue;
            }
            let at = |what: String| {
                anyhow::anyhow!("{} annotation {n} (image {file}): {what}", json.display())
            };
            let cat = a["category_id"].as_u64();
            let class = cat_ids
                .iter()
                .position(|&c| Some(c) == cat)
                .ok_or_else(|| at(format!("category_id {cat:?} is not in `categories`")))?;
            let m = annotation_mask(&a["segmentation"], h, w).map_err(at)?;
            let is_crowd = a["iscrowd"].as_u64() == Some(1);
            for (p, &on) in m.iter().enumerate() {
                if on == 1 {
                    if is_crowd {
                        crowd[p] = true;
                    } else {
                        mask[p] = class as u8 + 1;
                    }
                }
            }
        }
        for (m, c) in mask.iter_mut().zip(crowd) {
            if c && *m == 0 {
                *m = IGNORE;
            }
        }
        samples.push(Sample {
            file: file.to_string(),
            width: w,
            height: h,
            pixels,
            mask,
        });
    }
    if samples.is_empty() {
        bail!("{} lists no images", json.display());
    }
    Ok((names, samples))
}
