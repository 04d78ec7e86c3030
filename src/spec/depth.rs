//! How deep a transfer goes: `freeze_depth` written as a number or as `"copied"`, and what a
//! run's `transfer_depth` and `freeze_depth` mean for each backbone part.

use super::schema::{RunConfig, Strategy};

pub use crate::schema::depth::FREEZE_COPIED;

/// What happens to one backbone part in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartRole {
    /// Copied from the source and frozen.
    Frozen,
    /// Copied from the source and fine-tuned.
    Copied,
    /// Initialised afresh from the run's seed.
    Fresh,
}

/// The role of each of `parts` backbone parts for a run that copies `transfer` of them
/// (`None`: all) and freezes the first `freeze`.
pub fn roles(parts: usize, transfer: Option<usize>, freeze: usize) -> Vec<PartRole> {
    let copied = transfer.unwrap_or(parts);
    (0..parts)
        .map(|k| match k {
            k if k < freeze.min(copied) => PartRole::Frozen,
            k if k < copied => PartRole::Copied,
            _ => PartRole::Fresh,
        })
        .collect()
}

/// Backbone parts a run copies from its source: `transfer_depth`, all of them when absent.
pub fn copied_parts(c: &RunConfig) -> usize {
    c.transfer
        .transfer_depth
        .unwrap_or_else(|| crate::model::parts(&c.model).len())
}

/// Yosinski et al.'s name of a normalised run's treatment, the depth aside: `BnB` / `BnB+` for
/// a self-transfer (the source stage trained on the target's own dataset and classes), `AnB` /
/// `AnB+` otherwise; `+` when the copied parts are fine-tuned, none when they are frozen,
/// `(freeze k)` in between; `scratch` for the baseline.
pub fn treatment(c: &RunConfig) -> String {
    let t = &c.transfer;
    if t.strategy == Strategy::Scratch {
        return "scratch".into();
    }
    let own = c
        .source
        .as_ref()
        .is_some_and(|s| s.dataset == c.target.dataset && s.classes == c.target.classes);
    let name = if own { "BnB" } else { "AnB" };
    let copied = copied_parts(c);
    match t.freeze_depth {
        0 if copied > 0 => format!("{name}+"),
        k if k >= copied => name.into(),
        k => format!("{name} (freeze {k})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_transfer_and_freeze() {
        use PartRole::*;
        assert_eq!(roles(4, Some(3), 1), [Frozen, Copied, Copied, Fresh]);
        assert_eq!(roles(3, None, 0), [Copied, Copied, Copied]);
        assert_eq!(roles(3, Some(0), 0), [Fresh, Fresh, Fresh]);
        assert_eq!(roles(3, Some(2), 2), [Frozen, Frozen, Fresh]);
    }
}
