//! Seed derivation: every random choice of a run takes its seed from the run's seed.

use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};

/// A seed for one purpose (`tag`, with an index such as the epoch) derived from a base seed.
pub fn derive(seed: u64, tag: &str, index: u64) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(tag.as_bytes());
    h.update(index.to_le_bytes());
    u64::from_le_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

/// A generator seeded for one purpose (see [`derive`]).
pub fn rng(seed: u64, tag: &str, index: u64) -> StdRng {
    StdRng::seed_from_u64(derive(seed, tag, index))
}

/// Hex SHA-256 of some strings, each followed by a separator.
pub fn hash_hex(parts: &[String]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    format!("{:x}", h.finalize())
}
