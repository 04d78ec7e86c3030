//! Which runs of a plan one `sweep run` process trains: all of them, a shard (`--shard K/N`)
//! or named ones (`--only ID`), so several processes or a scheduler's array tasks can split a
//! sweep between them.

use anyhow::bail;

use crate::spec::Plan;

/// A share of a plan's runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// `(k, n)`: the runs whose position in the plan (from 0) leaves `k - 1` divided by `n`.
    pub shard: Option<(usize, usize)>,
    /// Only the runs with these ids (empty: no restriction).
    pub only: Vec<String>,
    /// Train only the source stages the selected runs need, and no run.
    pub sources_only: bool,
}

impl Selection {
    /// Whether every run of the plan is selected.
    pub fn is_all(&self) -> bool {
        self.shard.is_none() && self.only.is_empty() && !self.sources_only
    }

    /// The plan positions of the selected runs, in plan order; an id the plan lacks is an error.
    pub fn indices(&self, plan: &Plan) -> anyhow::Result<Vec<usize>> {
        for id in &self.only {
            if !plan.runs.iter().any(|r| &r.id == id) {
                bail!(
                    "--only {id}: `{}` has no run with that id; `sweep plan {}` lists them",
                    plan.name,
                    plan.file.display()
                );
            }
        }
        Ok((0..plan.runs.len())
            .filter(|&i| {
                self.shard.is_none_or(|(k, n)| i % n == k - 1)
                    && (self.only.is_empty() || self.only.contains(&plan.runs[i].id))
            })
            .collect())
    }
}

/// Parses `K/N` (1 ≤ K ≤ N), as `--shard` takes it.
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{text}` is not K/N with 1 <= K <= N, e.g. 2/4 (the second of 4 shares)");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}
