//! Semantic segmentation, the task of issue 24. So far: its metrics ([`metrics`]), checked
//! against a numpy reference by `scripts/parity.sh`, and mask files ([`formats`]); heads,
//! losses, the other mask formats and the task's runs come next.

pub mod formats;
pub mod metrics;
