//! The ledger of a results folder: which runs are finished (`runs/<id>/outcome.json`, written
//! by an atomic rename of the whole run folder), the lock under which processes sharing the
//! folder rewrite its CSVs, and the check that a folder belongs to the experiment.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::run::{Outcome, Status};
use crate::io::write_error;
use crate::spec::Plan;

/// Which finished runs `sweep run` trains again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Rerun {
    /// None: only runs without a result are trained.
    #[default]
    None,
    /// Runs recorded as failed or diverged.
    Failed,
    /// Every run.
    All,
}

/// An exclusive lock on a results folder's shared files (`runs.csv`, `epochs.csv`,
/// `experiment.toml`), held while the value lives: briefly, while one process rewrites them.
pub struct Lock {
    _file: File,
}

/// Takes the folder's lock, waiting while another process holds it.
pub fn lock(dir: &Path) -> anyhow::Result<Lock> {
    let path = dir.join(".sweep.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(Lock { _file: file })
}

/// Makes `dir` this experiment's results folder: creates it, refuses one holding another
/// experiment, and writes `experiment.toml`, under the folder's lock (other processes may be
/// doing the same).
pub fn adopt(dir: &Path, plan: &Plan) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the results folder {}", dir.display()))?;
    let _lock = lock(dir)?;
    check_experiment(dir, plan)?;
    crate::io::write_atomic(&dir.join("experiment.toml"), plan.text.as_bytes())
}

/// Whether a run's recorded outcome was written at or after `since` (by this or another
/// process).
pub fn finished_since(dir: &Path, id: &str, since: std::time::SystemTime) -> bool {
    std::fs::metadata(run_dir(dir, id).join("outcome.json"))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since)
}

/// The plan of the experiment a results folder holds (its copy of the experiment file), for
/// `sweep VERB DIR`.
pub fn plan(dir: &Path, verb: &str) -> anyhow::Result<Plan> {
    let file = dir.join("experiment.toml");
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "{} has no experiment.toml; point `sweep {verb}` at a results folder",
            dir.display()
        )
    })?;
    Plan::parse(&file, &text, crate::task::rules).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Refuses a folder that holds the results of an experiment with another name.
pub fn check_experiment(dir: &Path, plan: &Plan) -> anyhow::Result<()> {
    let path = dir.join("experiment.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    #[derive(serde::Deserialize)]
    struct Exp {
        name: String,
    }
    #[derive(serde::Deserialize)]
    struct File {
        experiment: Exp,
    }
    let name = toml::from_str::<File>(&text)
        .map(|f| f.experiment.name)
        .unwrap_or_default();
    if name != plan.name {
        bail!(
            "{} holds the results of experiment `{name}`, not `{}`; give another --out (or delete the folder)",
            dir.display(),
            plan.name
        );
    }
    Ok(())
}

/// Folder of a run.
pub fn run_dir(dir: &Path, id: &str) -> PathBuf {
    dir.join("runs").join(id)
}

/// The recorded outcome of a run, if it finished (a half-written run folder never counts).
pub fn load(dir: &Path, id: &str) -> Option<Outcome> {
    let text = std::fs::read_to_string(run_dir(dir, id).join("outcome.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The recorded outcomes of the plan's runs, less those `rerun` asks to train again.
pub fn finished(dir: &Path, plan: &Plan, rerun: Rerun) -> Vec<Option<Outcome>> {
    plan.runs
        .iter()
        .map(|r| match (load(dir, &r.id), rerun) {
            (_, Rerun::All) => None,
            // A pruned run ended as its search decided; it did not fail.
            (Some(o), Rerun::Failed) if !matches!(o.status, Status::Ok | Status::Pruned) => None,
            (o, _) => o,
        })
        .collect()
}

/// Writes a run's folder under a temporary name and renames it into place, so a run folder
/// with an `outcome.json` is always complete.
pub fn commit(dir: &Path, id: &str, files: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    let runs = dir.join("runs");
    // The writer's own name: another process may be writing this run's folder too (a rerun).
    let tmp = runs.join(format!(".{id}.{}.tmp", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot clear {}", tmp.display()))?;
    }
    let write = |path: &Path, bytes: &[u8]| {
        let mut f = File::create(path)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()
    };
    let written = std::fs::create_dir_all(&tmp)
        .map_err(|e| write_error(&tmp, e))
        .and_then(|()| {
            files.iter().try_for_each(|(name, bytes)| {
                let path = tmp.join(name);
                // A file in a subfolder (`tb/...`).
                if let Some(parent) = path.parent().filter(|p| *p != tmp) {
                    std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
                }
                write(&path, bytes).map_err(|e| write_error(&path, e))
            })
        });
    if let Err(e) = written {
        // Half a run folder is no result, and on a full disk it holds space the next try needs.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let target = run_dir(dir, id);
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("cannot replace {}", target.display()))?;
    }
    std::fs::rename(&tmp, &target).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        write_error(&target, e)
    })
}
