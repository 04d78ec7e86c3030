//! The detection report's picture: test scenes of the best run with the ground-truth boxes and
//! the detector's, each with its class and score.

use std::path::Path;

use anyhow::{Context, anyhow};
use plotters::prelude::*;

use super::charts::Chart;
use crate::spec::Plan;
use crate::task::detect::Scene;
use crate::task::detect::eval::Detection;

/// Detections drawn: those at least this confident.
const SHOWN: f64 = 0.3;
/// Scenes in the grid, and its columns.
const SCENES: usize = 12;
const COLUMNS: usize = 4;

/// Draws the first test scenes of run `run_id` of the results folder `results` (its
/// experiment.toml and `runs/<id>/detections.json`) as `DIR/detections.png`, with an SVG that
/// shows the PNG; `None` when the run or its detections are not there.
pub fn grid(results: &Path, dir: &Path, run_id: &str) -> anyhow::Result<Option<Chart>> {
    let dets_path = results.join("runs").join(run_id).join("detections.json");
    let file = results.join("experiment.toml");
    if !dets_path.exists() || !file.exists() {
        return Ok(None);
    }
    let plan = Plan::load(&file, crate::task::rules).map_err(|e| anyhow!("{e}"))?;
    let Some(run) = plan.runs.iter().find(|r| r.id == run_id) else {
        return Ok(None);
    };
    let ds = crate::task::detect::run::dataset(run)?;
    let text = std::fs::read_to_string(&dets_path)
        .with_context(|| format!("cannot read {}", dets_path.display()))?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a COCO results file", dets_path.display()))?;
    let dets: Vec<Detection> = rows
        .iter()
        .filter_map(|r| {
            Some(Detection {
                image: r["image_id"].as_u64()?,
                class: (r["category_id"].as_u64()? as usize).checked_sub(1)?,
                bbox: serde_json::from_value(r["bbox"].clone()).ok()?,
                score: r["score"].as_f64()?,
            })
        })
        .collect();
    let scenes: Vec<&Scene> = ds.test.iter().take(SCENES).collect();
    draw(
        &dir.join("detections.png"),
        &scenes,
        ds.channels,
        &dets,
        &ds.classes,
    )?;
    let (w, h) = size(&scenes);
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\"><image href=\"detections.png\" width=\"{w}\" height=\"{h}\"/></svg>\n"
    );
    std::fs::write(dir.join("detections.svg"), svg).context("cannot write detections.svg")?;
    Ok(Some(Chart {
        stem: "detections".into(),
        caption: format!(
            "The first {} test scenes and the detections of the best run ({run_id}): ground truth green, detections with a score of at least {SHOWN} orange with class and score.",
            scenes.len()
        ),
    }))
}

/// Pixels per image pixel, so a 64×64 scene is 256 px wide.
fn scale(scenes: &[&Scene]) -> u32 {
    let side = scenes
        .iter()
        .map(|s| s.width.max(s.height))
        .max()
        .unwrap_or(64);
    (256 / side.max(1)).max(1) as u32
}

fn size(scenes: &[&Scene]) -> (u32, u32) {
    let k = scale(scenes);
    let side = scenes
        .iter()
        .map(|s| s.width.max(s.height))
        .max()
        .unwrap_or(64) as u32
        * k
        + 8;
    let rows = scenes.len().div_ceil(COLUMNS) as u32;
    (side * COLUMNS as u32, side * rows.max(1))
}

fn draw(
    path: &Path,
    scenes: &[&Scene],
    channels: usize,
    dets: &[Detection],
    classes: &[String],
) -> anyhow::Result<()> {
    super::plot::register_font();
    let k = scale(scenes);
    let (w, h) = size(scenes);
    let tmp = path.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let cell = w / COLUMNS as u32;
        for (i, s) in scenes.iter().enumerate() {
            let (ox, oy) = (
                (i % COLUMNS) as u32 * cell + 4,
                (i / COLUMNS) as u32 * cell + 4,
            );
            let plane = s.width * s.height;
            for y in 0..s.height {
                for x in 0..s.width {
                    let rgb: Vec<u8> = (0..3)
                        .map(|c| {
                            (s.pixels[c.min(channels - 1) * plane + y * s.width + x]
                                .clamp(0.0, 1.0)
                                * 255.0) as u8
                        })
                        .collect();
                    let colour = RGBColor(rgb[0], rgb[1], rgb[2]);
                    let (px, py) = (ox + x as u32 * k, oy + y as u32 * k);
                    root.draw(&Rectangle::new(
                        [(px as i32, py as i32), ((px + k) as i32, (py + k) as i32)],
                        colour.filled(),
                    ))
                    .map_err(|e| anyhow!("{e}"))?;
                }
            }
            let at = |v: f64, o: u32| o as i32 + (v * f64::from(k)).round() as i32;
            let rect = |b: [f64; 4], colour: RGBColor| {
                Rectangle::new(
                    [
                        (at(b[0], ox), at(b[1], oy)),
                        (at(b[0] + b[2], ox), at(b[1] + b[3], oy)),
                    ],
                    colour.stroke_width(2),
                )
            };
            for o in &s.objects {
                let b = o.bbox;
                let bbox = [b.x, b.y, b.w, b.h].map(f64::from);
                root.draw(&rect(bbox, RGBColor(0, 158, 115)))
                    .map_err(|e| anyhow!("{e}"))?;
            }
            for d in dets.iter().filter(|d| d.image == s.id && d.score >= SHOWN) {
                let orange = RGBColor(230, 159, 0);
                root.draw(&rect(d.bbox, orange))
                    .map_err(|e| anyhow!("{e}"))?;
                let name = classes.get(d.class).map_or("?", String::as_str);
                let label = format!("{name} {:.2}", d.score);
                root.draw(&Text::new(
                    label,
                    (at(d.bbox[0], ox) + 2, at(d.bbox[1], oy) + 2),
                    ("sans-serif", 14).into_font().color(&orange),
                ))
                .map_err(|e| anyhow!("{e}"))?;
            }
        }
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
