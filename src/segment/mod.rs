//! Semantic segmentation, the task of issue 24. So far: its metrics ([`metrics`]) and losses
//! ([`loss`]), checked against numpy, torchmetrics and PyTorch by `scripts/parity.sh`, and mask
//! files ([`formats`]); heads, the other mask formats and the task's runs come next.

pub mod formats;
pub mod loss;
pub mod metrics;
pub mod model;
