//! Semantic segmentation (`task = "segment"`): mask datasets ([`data`], [`formats`],
//! [`coco`]), mask-aware augmentation ([`augment`]), FCN and feature-pyramid heads on any
//! backbone ([`model`]), pixel losses ([`loss`]), whole-split metrics ([`metrics`]), training
//! ([`train`]) and one sweep run ([`run`]).

pub mod augment;
pub mod coco;
pub mod data;
pub mod formats;
pub mod loss;
pub mod metrics;
pub mod model;
mod rules;
pub mod run;
pub mod train;
