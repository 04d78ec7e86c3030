//! The one place that maps an experiment's `task` to its implementation.

use super::Task;
use super::classify::Classify;
use super::detect::run::Detect;
use super::segment::run::Segment;
use crate::spec::schema::Task as Kind;

/// The implementation of a task.
pub fn of(kind: Kind) -> &'static dyn Task {
    match kind {
        Kind::Classify => &Classify,
        Kind::Detect => &Detect,
        Kind::Segment => &Segment,
    }
}

/// A task's file rules, for [`crate::spec::Plan::load`].
pub fn rules(kind: Kind) -> &'static dyn crate::spec::Rules {
    of(kind)
}

/// Every task, for reading files whose task is not known yet (an old `outcome.json`).
pub fn all() -> [&'static dyn Task; 3] {
    [&Classify, &Detect, &Segment]
}
