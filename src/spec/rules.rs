//! What each task adds to the checks and the canonical form of a run. The tasks declare these
//! (`crate::task::registry::rules`) and the plan calls them, so that `spec` names no task: a new
//! task brings its own rules without touching this layer.

use super::schema::{Monitor, RunConfig, Task};
use super::validate::Problem;

/// A task's part of validating and normalising one grid point.
pub trait Rules: Sync {
    /// Checks the task's own settings: its dataset, its label budget, its sections, its monitor.
    fn validate(&self, c: &RunConfig) -> Result<(), Problem>;
    /// Resets what cannot affect a run of this task (the other tasks' sections and budgets), so
    /// that grid points differing only there are one run.
    fn normalize(&self, c: &mut RunConfig);
    /// Checks that the task records `metric`; `field` names the setting for the message.
    fn check_metric(&self, field: &str, metric: Monitor) -> Result<(), Problem>;
}

/// Maps an experiment's task to its rules (`crate::task::registry::rules`).
pub type RulesOf = fn(Task) -> &'static dyn Rules;
