//! Semantic segmentation, the task of issue 24. So far: its metrics ([`metrics`]), checked
//! against a numpy reference by `scripts/parity.sh`; heads, losses, mask datasets and the task's
//! runs come next.

pub mod metrics;
