//! CSV images: one image a row, its pixels (row-major, one channel) and its integer label, which
//! is the last column, or the column headed `label` when the first row is a header.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

/// Images read from a CSV file: square, one channel, pixel values as written.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvImages {
    /// Side of the square images.
    pub side: usize,
    /// Pixels, `side * side` per image.
    pub pixels: Vec<f32>,
    /// One label per image.
    pub labels: Vec<u8>,
}

/// Reads a CSV of `side*side` pixel values and a label per row (`.gz` allowed).
pub fn read_csv_images(path: &Path) -> anyhow::Result<CsvImages> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut out)
            .with_context(|| format!("{}: corrupt gzip data", path.display()))?;
        out
    } else {
        String::from_utf8(raw).with_context(|| format!("{}: not UTF-8 text", path.display()))?
    };
    parse_csv_images(&text).with_context(|| format!("{}: not a CSV of images", path.display()))
}

/// Parses CSV text of images (see [`read_csv_images`]).
pub fn parse_csv_images(text: &str) -> anyhow::Result<CsvImages> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let (mut pixels, mut labels, mut width) = (Vec::new(), Vec::new(), None);
    // The label is the last column, or the one headed `label` when the first row is a header
    // (a row of names only).
    let mut label_col = None;
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record = record.with_context(|| format!("line {line}"))?;
        let n = record.len();
        if i == 0 && record.iter().all(|f| f.trim().parse::<f32>().is_err()) {
            label_col = record
                .iter()
                .position(|f| f.trim().eq_ignore_ascii_case("label"));
            width = Some(n);
            continue;
        }
        if *width.get_or_insert(n) != n {
            bail!(
                "line {line} has {n} columns, earlier lines have {}",
                width.unwrap_or(0)
            );
        }
        let label_at = label_col.unwrap_or(n - 1);
        for (j, field) in record.iter().enumerate() {
            let value: f32 = field.trim().parse().with_context(|| {
                format!("line {line}, column {}: `{field}` is not a number", j + 1)
            })?;
            if j != label_at {
                pixels.push(value);
            } else if (0.0..=255.0).contains(&value) && value.fract() == 0.0 {
                labels.push(value as u8);
            } else {
                bail!("line {line}: label `{field}` is not an integer from 0 to 255");
            }
        }
    }
    let cols = width.context("the file holds no rows")?;
    if labels.is_empty() {
        bail!("the file holds a header but no rows");
    }
    let side = ((cols - 1) as f64).sqrt().round() as usize;
    if side * side != cols - 1 || side == 0 {
        bail!("{} pixel columns do not make a square image", cols - 1);
    }
    Ok(CsvImages {
        side,
        pixels,
        labels,
    })
}
