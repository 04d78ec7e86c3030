//! `sweep`: transfer-learning experiments in computer vision, declared in TOML, run on a grid.
//!
//! The pipeline, one module a stage: [`spec`] (parse, validate, expand) → [`data`] → [`model`]
//! → [`train`] → [`task`] (classification, detection, segmentation: one implementation each) →
//! [`sweep`] (the orchestrator: source stages, runs, results) → [`report`].

pub mod alloc;
pub mod data;
pub mod device;
pub mod io;
pub mod model;
pub mod report;
pub mod search;
pub mod seed;
pub mod spec;
pub mod sweep;
pub mod task;
pub mod train;

/// Every program linking `sweep` backs its large tensors with huge pages (see [`alloc`]).
#[global_allocator]
static ALLOCATOR: alloc::HugePages = alloc::HugePages;
