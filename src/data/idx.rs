//! IDX files (the MNIST format), raw or gzip-compressed.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

/// An IDX array of unsigned bytes: its dimensions and its values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Size of each dimension (images: `[n, rows, cols]`, labels: `[n]`).
    pub dims: Vec<usize>,
    /// The values.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes; `.gz` (or any gzip content) is decompressed.
pub fn read_idx(path: &Path) -> anyhow::Result<IdxArray> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .with_context(|| format!("{}: corrupt gzip data", path.display()))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).with_context(|| format!("{}: not a valid IDX file", path.display()))
}

/// Parses the bytes of an IDX file of unsigned bytes.
pub fn parse_idx(bytes: &[u8]) -> anyhow::Result<IdxArray> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        bail!("the header does not start with two zero bytes");
    }
    if bytes[2] != 0x08 {
        bail!(
            "element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
            bytes[2]
        );
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if rank == 0 || bytes.len() < header {
        bail!("truncated header ({} dimensions declared)", rank);
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let count: usize = dims.iter().product();
    let body = &bytes[header..];
    if body.len() != count {
        bail!(
            "dimensions {:?} need {} values but the file holds {}",
            dims,
            count,
            body.len()
        );
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}

/// Writes an IDX file of unsigned bytes (gzip-compressed when the path ends in `.gz`).
pub fn write_idx(path: &Path, dims: &[usize], data: &[u8]) -> anyhow::Result<()> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend((*d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(data);
    let out = if path.extension().is_some_and(|e| e == "gz") {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, &bytes)?;
        enc.finish()?
    } else {
        bytes
    };
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}
