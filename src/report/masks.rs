//! The segmentation report's picture: test images of the best run beside their true and
//! predicted masks, each class in its own colour over the dimmed image.

use std::path::Path;

use anyhow::{Context, anyhow};
use image::{Rgb, RgbImage};

use super::charts::Chart;
use crate::spec::Plan;
use crate::task::segment::formats::{IGNORE, Sample};
use crate::task::segment::run::SavedMask;

/// Images in the grid per row (each as image, truth, prediction).
const COLUMNS: usize = 2;

/// Class colours (background none); Okabe-Ito first, then more distinct ones, cycled.
const COLOURS: [[u8; 3]; 12] = [
    [230, 159, 0],
    [86, 180, 233],
    [0, 158, 115],
    [240, 228, 66],
    [0, 114, 178],
    [213, 94, 0],
    [204, 121, 167],
    [153, 102, 255],
    [255, 102, 102],
    [102, 204, 204],
    [170, 170, 0],
    [255, 255, 255],
];

/// The colour of class `c` (0 is background: none), or grey for ignored pixels.
fn colour(c: u8) -> Option<[u8; 3]> {
    match c {
        0 => None,
        IGNORE => Some([128, 128, 128]),
        c => Some(COLOURS[(c as usize - 1) % COLOURS.len()]),
    }
}

/// Draws the test images of run `run_id` (its experiment.toml and `runs/<id>/masks.json`) as
/// `DIR/masks.png` with an SVG showing it; `None` when the run or its masks are not there.
pub fn grid(results: &Path, dir: &Path, run_id: &str) -> anyhow::Result<Option<Chart>> {
    let path = results.join("runs").join(run_id).join("masks.json");
    let file = results.join("experiment.toml");
    if !path.exists() || !file.exists() {
        return Ok(None);
    }
    let plan = Plan::load(&file, crate::task::rules).map_err(|e| anyhow!("{e}"))?;
    let Some(run) = plan.runs.iter().find(|r| r.id == run_id) else {
        return Ok(None);
    };
    let ds = crate::task::segment::run::dataset(run)?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let saved: Vec<SavedMask> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a masks file of `sweep run`", path.display()))?;
    let mut shown = Vec::new();
    for m in &saved {
        let sample = ds.test.iter().find(|s| s.file == m.file);
        let pred = m.decode();
        if let (Some(s), Some(p)) = (sample, pred)
            && p.len() == s.mask.len()
        {
            shown.push((s, p));
        }
    }
    if shown.is_empty() {
        return Ok(None);
    }
    let img = draw(&shown);
    let (w, h) = img.dimensions();
    let tmp = dir.join("masks.tmp.png");
    img.save(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join("masks.png")).context("cannot write masks.png")?;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\"><image href=\"masks.png\" width=\"{w}\" height=\"{h}\"/></svg>\n"
    );
    std::fs::write(dir.join("masks.svg"), svg).context("cannot write masks.svg")?;
    let legend: Vec<String> = ds
        .classes
        .iter()
        .enumerate()
        .skip(1)
        .map(|(c, name)| {
            let [r, g, b] = colour(c as u8).expect("not background");
            format!("{name} #{r:02x}{g:02x}{b:02x}")
        })
        .collect();
    Ok(Some(Chart {
        stem: "masks".into(),
        caption: format!(
            "The first {} test images of the best run ({run_id}), each as image | true mask | predicted mask, classes coloured over the dimmed image (background uncoloured, ignored pixels grey): {}.",
            shown.len(),
            legend.join(", ")
        ),
    }))
}

/// Three panels per image (image, truth, prediction), `COLUMNS` images a row.
fn draw(shown: &[(&Sample, Vec<u8>)]) -> RgbImage {
    let side = shown
        .iter()
        .map(|(s, _)| s.width.max(s.height))
        .max()
        .unwrap_or(32);
    let k = (192 / side).max(1) as u32;
    let panel = side as u32 * k + 6;
    let rows = shown.len().div_ceil(COLUMNS) as u32;
    let (w, h) = (
        panel * 3 * COLUMNS as u32 + 12 * (COLUMNS as u32 - 1),
        panel * rows,
    );
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    for (i, (s, pred)) in shown.iter().enumerate() {
        let ox = (i % COLUMNS) as u32 * (panel * 3 + 12);
        let oy = (i / COLUMNS) as u32 * panel;
        let plane = s.width * s.height;
        let channels = s.pixels.len() / plane.max(1);
        for (p, masks) in [None, Some(&s.mask), Some(pred)].into_iter().enumerate() {
            for y in 0..s.height {
                for x in 0..s.width {
                    let at = y * s.width + x;
                    let grey: [u8; 3] = std::array::from_fn(|c| {
                        (s.pixels[c.min(channels - 1) * plane + at].clamp(0.0, 1.0) * 255.0) as u8
                    });
                    let px = match masks.and_then(|m| colour(m[at])) {
                        // A class colour at 75% over the image, so the ink still shows.
                        Some(c) => std::array::from_fn(|j| {
                            (f32::from(c[j]) * 0.75 + f32::from(grey[j]) * 0.25) as u8
                        }),
                        None if masks.is_some() => grey.map(|v| v / 3),
                        None => grey,
                    };
                    for dy in 0..k {
                        for dx in 0..k {
                            img.put_pixel(
                                ox + p as u32 * panel + 3 + x as u32 * k + dx,
                                oy + 3 + y as u32 * k + dy,
                                Rgb(px),
                            );
                        }
                    }
                }
            }
        }
    }
    img
}
