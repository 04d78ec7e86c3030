//! `sweep`: transfer-learning experiments in computer vision, declared in TOML, run on a grid.
//!
//! The pipeline, one module a stage, each importing only those before it: [`schema`] (the
//! settings of one run) → [`data`] → [`model`] → [`train`] → [`spec`] (the experiment file:
//! validate, expand, identify runs, checking backbones and datasets against their registries) →
//! [`task`] (classification, detection, segmentation: one implementation each, with its file
//! rules) → [`sweep`] (the orchestrator: source stages, runs, results) → [`report`].

pub mod alloc;
pub mod data;
pub mod device;
pub mod io;
pub mod model;
pub mod report;
pub mod schema;
pub mod search;
pub mod seed;
pub mod spec;
pub mod sweep;
pub mod task;
pub mod train;

/// Every program linking `sweep` backs its large tensors with huge pages (see [`alloc`]).
#[global_allocator]
static ALLOCATOR: alloc::HugePages = alloc::HugePages;
