//! Pixel storage of a prepared dataset: owned in memory, or memory-mapped from a feature-cache
//! file so that large entries live in the page cache, shared between runs and processes and
//! dropped by the OS under memory pressure instead of copied into each run.

use std::fmt;
use std::fs::File;
use std::ops::Deref;

/// Normalised pixels (or frozen features), NCHW, as one `f32` slice.
pub enum Pixels {
    /// Held in this process's memory.
    Owned(Vec<f32>),
    /// `len` little-endian `f32`s at byte `offset` of a read-only mapped file.
    Mapped {
        /// The mapping.
        map: memmap2::Mmap,
        /// Byte offset of the first value (a multiple of 4).
        offset: usize,
        /// Number of values.
        len: usize,
    },
}

impl Pixels {
    /// Maps `len` `f32`s at byte `offset` of `file`; `None` when the file has another length,
    /// the values would be misaligned, or this machine is big-endian (the files are
    /// little-endian).
    pub fn map(file: &File, offset: usize, len: usize) -> Option<Pixels> {
        if cfg!(target_endian = "big") || !offset.is_multiple_of(4) {
            return None;
        }
        // SAFETY: cache files are written under a temporary name and renamed into place, never
        // modified afterwards; replacing or deleting one leaves this mapping's inode intact.
        let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
        if map.len() != offset + len * 4 {
            return None;
        }
        let pixels = Pixels::Mapped { map, offset, len };
        // The page-aligned mapping keeps `offset` aligned; checked once here, not on every read.
        bytemuck::try_cast_slice::<u8, f32>(pixels.bytes()).ok()?;
        Some(pixels)
    }

    /// Whether the values come from a mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(self, Pixels::Mapped { .. })
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Pixels::Owned(v) => bytemuck::cast_slice(v),
            Pixels::Mapped { map, offset, len } => &map[*offset..*offset + *len * 4],
        }
    }
}

impl Deref for Pixels {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        match self {
            Pixels::Owned(v) => v,
            Pixels::Mapped { .. } => bytemuck::cast_slice(self.bytes()),
        }
    }
}

impl From<Vec<f32>> for Pixels {
    fn from(v: Vec<f32>) -> Pixels {
        Pixels::Owned(v)
    }
}

impl FromIterator<f32> for Pixels {
    fn from_iter<I: IntoIterator<Item = f32>>(iter: I) -> Pixels {
        Pixels::Owned(iter.into_iter().collect())
    }
}

impl PartialEq for Pixels {
    /// The same values, wherever they are stored.
    fn eq(&self, other: &Pixels) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Pixels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.is_mapped() { "mapped" } else { "owned" };
        write!(f, "Pixels({} values, {how})", self.len())
    }
}
