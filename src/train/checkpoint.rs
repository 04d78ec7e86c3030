//! Per-epoch checkpoints of a training job, so that a killed job resumes where it stopped.
//!
//! A job's folder holds `epoch-N/` for its last complete epoch: the model being trained and
//! the best one so far (burnpack, which, unlike safetensors, keeps the `ParamId`s that the
//! optimizer state is keyed by), the optimizer state, and `state.json` (what else [`fit`]
//! carries between epochs, and a SHA-256 of each file). Nothing about random generators needs
//! keeping: `fit` seeds every draw from (seed, purpose, epoch), so the epoch number is their
//! position.
//!
//! [`fit`]: super::fit

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{EpochLog, Settings};
use crate::model::Network;

/// Where one training job keeps its checkpoints, and how it reports on them.
pub struct Checkpoint<'a> {
    dir: PathBuf,
    tag: String,
    log: &'a dyn Fn(String),
}

/// A [`Checkpoint`] bound to one job's settings and images (see [`Checkpoint::job`]).
pub struct Job<'a> {
    at: &'a Checkpoint<'a>,
    id: String,
}

/// What [`fit`](super::fit) carries from one epoch to the next besides models and optimizer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Learning curve so far; its length is the epoch the checkpoint was taken after.
    pub epochs: Vec<EpochLog>,
    /// 1-based epoch of the best model so far.
    pub best_epoch: usize,
    /// Epoch in which each backbone part last became trainable.
    pub thawed_in: Vec<usize>,
    /// Backbone parts frozen in the last epoch.
    pub frozen_now: usize,
}

/// A checkpoint read back: the job continues from epoch `state.epochs.len() + 1`.
pub struct Resumed {
    /// The model being trained, with the `ParamId`s its optimizer state refers to.
    pub model: Network,
    /// The optimizer with its state.
    pub optim: ModuleOptimizer,
    /// The best model so far, in inference mode.
    pub best: Network,
    /// Everything else.
    pub state: State,
}

/// `state.json`.
#[derive(Serialize, Deserialize)]
struct Meta {
    job: String,
    state: State,
    /// File holding the best model: `model.bpk` itself when the last epoch was the best.
    best_in: String,
    sha256: BTreeMap<String, String>,
}

const MODEL: &str = "model.bpk";
const BEST: &str = "best.bpk";
const OPTIM: &str = "optimizer.bpk";

impl<'a> Checkpoint<'a> {
    /// Checkpoints in `dir`, for a job that `tag` names (a cache key); `log` hears about resumes.
    pub fn new(dir: PathBuf, tag: &str, log: &'a dyn Fn(String)) -> Checkpoint<'a> {
        let tag = tag.to_string();
        Checkpoint { dir, tag, log }
    }

    /// Binds to one job: a checkpoint written for other settings or images is foreign.
    pub fn job(&self, s: &Settings, train: &[usize], val: &[usize]) -> Job<'_> {
        let parts = [
            self.tag.clone(),
            format!("{s:?}"),
            format!("{train:?}{val:?}"),
        ];
        let id = crate::seed::hash_hex(&parts);
        Job { at: self, id }
    }

    /// Deletes every checkpoint, once the job's result is stored.
    pub fn remove(&self) {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                (self.log)(format!("cannot remove {}: {e}", self.dir.display()))
            }
            _ => {}
        }
    }

    /// Complete epoch folders, by epoch.
    fn epochs(&self) -> Vec<(usize, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<(usize, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                Some((name.strip_prefix("epoch-")?.parse().ok()?, e.path()))
            })
            .collect();
        found.sort();
        found
    }
}

impl Job<'_> {
    /// The state after the last complete epoch, or `None` (logged, unless there is no
    /// checkpoint at all) when there is none that fits `model` and this job.
    pub fn resume(&self, model: &Network, optim: ModuleOptimizer) -> Option<Resumed> {
        let (_, dir) = self.at.epochs().pop()?;
        match self.read(&dir, model, optim) {
            Ok(r) => {
                let epoch = r.state.epochs.len();
                (self.at.log)(format!(
                    "resuming after epoch {epoch} from {}",
                    dir.display()
                ));
                Some(r)
            }
            Err(e) => {
                // Removed, or training again to its epoch would find it in the way.
                let _ = std::fs::remove_dir_all(&dir);
                let why = format!("{e:#}");
                (self.at.log)(format!(
                    "ignored {} ({why}); training from epoch 1",
                    dir.display()
                ));
                None
            }
        }
    }

    fn read(&self, dir: &Path, model: &Network, optim: ModuleOptimizer) -> anyhow::Result<Resumed> {
        let text = std::fs::read_to_string(dir.join("state.json")).context("no state.json")?;
        let meta: Meta = serde_json::from_str(&text).context("unreadable state.json")?;
        if meta.job != self.id {
            bail!("written for another job");
        }
        let state = meta.state;
        let n = state.epochs.len();
        let numbered = state
            .epochs
            .iter()
            .enumerate()
            .all(|(i, e)| e.epoch == i + 1);
        let name = dir.file_name().and_then(|f| f.to_str());
        if !numbered || name != Some(format!("epoch-{n}").as_str()) {
            bail!("its epochs do not match its name");
        }
        if !(1..=n).contains(&state.best_epoch) || ![MODEL, BEST].contains(&&*meta.best_in) {
            bail!("no best epoch");
        }
        for name in [MODEL, OPTIM, meta.best_in.as_str()] {
            let want = meta.sha256.get(name).map(String::as_str);
            if want != Some(sha256(&dir.join(name))?.as_str()) {
                bail!("{name} is damaged");
            }
        }
        // Loaded into inference copies, so that a failed load leaves `model` as it was (a
        // clone would share its batch norms' running statistics); `train` then brings back
        // the gradient and batch-norm settings `model` has.
        let current = load(model.valid(), &dir.join(MODEL))?.train();
        let best = match meta.best_in.as_str() {
            BEST => load(model.valid(), &dir.join(BEST))?,
            _ => current.valid(),
        };
        let optim = optim
            .load(dir.join(OPTIM))
            .map_err(|e| anyhow::anyhow!("{OPTIM}: {e}"))?;
        Ok(Resumed {
            model: current,
            optim,
            best,
            state,
        })
    }

    /// Writes the state after epoch `state.epochs.len()` and removes the older epochs; a
    /// failure is logged, not returned, since training can go on without a checkpoint.
    pub fn save(&self, model: &Network, optim: &ModuleOptimizer, best: &Network, state: &State) {
        if let Err(e) = self.write(model, optim, best, state) {
            (self.at.log)(format!("checkpoint not written: {e:#}"));
        }
    }

    fn write(
        &self,
        model: &Network,
        optim: &ModuleOptimizer,
        best: &Network,
        state: &State,
    ) -> anyhow::Result<()> {
        let epoch = state.epochs.len();
        let done = self.at.dir.join(format!("epoch-{epoch}"));
        // Written under a temporary name and renamed, so a kill leaves the previous epoch whole;
        // named by process, so two `sweep run`s sharing the cache do not write into one folder.
        let tmp = (self.at.dir).join(format!(".epoch-{epoch}.tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        // `valid` also settles batch norm's last running-statistics update, which burn keeps
        // aside until the next read.
        save(&model.valid(), &tmp.join(MODEL))?;
        let best_in = if state.best_epoch == epoch {
            MODEL // the same values: not written twice
        } else {
            save(best, &tmp.join(BEST))?;
            BEST
        };
        optim
            .save(tmp.join(OPTIM))
            .map_err(|e| anyhow::anyhow!("{OPTIM}: {e}"))?;
        let mut sha = BTreeMap::new();
        for name in [MODEL, OPTIM, best_in] {
            sha.insert(name.to_string(), sha256(&tmp.join(name))?);
        }
        let meta = Meta {
            job: self.id.clone(),
            state: state.clone(),
            best_in: best_in.to_string(),
            sha256: sha,
        };
        std::fs::write(tmp.join("state.json"), serde_json::to_string_pretty(&meta)?)?;
        if let Err(e) = std::fs::rename(&tmp, &done) {
            std::fs::remove_dir_all(&tmp)?;
            // Unless another process sharing the cache got there first, bit for bit the same.
            if !done.is_dir() {
                return Err(e).with_context(|| format!("cannot write {}", done.display()));
            }
        }
        for (e, dir) in self.at.epochs() {
            if e < epoch {
                std::fs::remove_dir_all(&dir)?;
            }
        }
        Ok(())
    }
}

fn save(model: &Network, path: &Path) -> anyhow::Result<()> {
    let mut store = BurnpackStore::from_file(path).overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

fn load(mut model: Network, path: &Path) -> anyhow::Result<Network> {
    // Every tensor, of the right shape: a checkpoint of another architecture is foreign.
    let mut store = BurnpackStore::from_file(path)
        .allow_partial(false)
        .validate(true);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let result = model
        .load_from(&mut store)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    if !result.unused.is_empty() {
        bail!("{name} holds tensors the model does not have");
    }
    Ok(model)
}

fn sha256(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}
