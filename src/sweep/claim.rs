//! Claims: a file that says "this process trains this run", so that many processes (on one
//! machine or many sharing a filesystem) can work through one results folder without training a
//! run twice at the same time, and without losing a run whose process died.
//!
//! A claim is created with `create_new` (atomic on local filesystems and NFSv3+), names its
//! owner (host, pid, the process's start time, its Slurm job) and is refreshed by its owner. It
//! is stale, and may be taken over, when its process is gone (same host), when it was not
//! refreshed within the timeout (another host), or when it names an earlier run of the Slurm job of
//! the process looking at it (a requeued job keeps its id and counts up its restarts).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Who holds a claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// The process's start time in clock ticks since boot (tells a reused pid apart), if known.
    pub ticks: Option<u64>,
    /// Seconds since the Unix epoch when the claim was made.
    pub started: f64,
    /// Seconds since the Unix epoch when its owner last refreshed it.
    pub refreshed: f64,
    /// `SLURM_JOB_ID` of the owner, if it runs under Slurm.
    pub slurm_job: Option<String>,
    /// The owner's array task as Slurm names it (`SLURM_ARRAY_JOB_ID_SLURM_ARRAY_TASK_ID`,
    /// e.g. `17_0`), what `squeue` shows and `scancel` takes.
    #[serde(default)]
    pub slurm_task: Option<String>,
    /// `SLURM_RESTART_COUNT` of the owner: how often its job was requeued (unset: never).
    #[serde(default)]
    pub slurm_restarts: Option<u32>,
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `HOSTNAME`, else "localhost").
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Start time of process `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Owner {
    /// This process, now.
    pub fn me() -> Owner {
        let pid = std::process::id();
        let t = now();
        Owner {
            host: host(),
            pid,
            ticks: start_ticks(pid),
            started: t,
            refreshed: t,
            slurm_job: std::env::var("SLURM_JOB_ID").ok().filter(|s| !s.is_empty()),
            slurm_task: match (
                std::env::var("SLURM_ARRAY_JOB_ID"),
                std::env::var("SLURM_ARRAY_TASK_ID"),
            ) {
                (Ok(job), Ok(task)) if !job.is_empty() => Some(format!("{job}_{task}")),
                _ => None,
            },
            slurm_restarts: std::env::var("SLURM_RESTART_COUNT")
                .ok()
                .and_then(|s| s.parse().ok()),
        }
    }

    /// Whether this is the same process as `other` (same host, pid and start time).
    pub fn same_process(&self, other: &Owner) -> bool {
        self.host == other.host && self.pid == other.pid && self.ticks == other.ticks
    }

    /// Why a claim of this owner may be taken over by `me` at time `at`, or `None` while it
    /// holds: `timeout` seconds without a refresh make any claim stale.
    pub fn stale(&self, me: &Owner, at: f64, timeout: f64) -> Option<String> {
        if self.host == me.host && !self.same_process(me) {
            let alive = start_ticks(self.pid).is_some_and(|t| self.ticks.is_none_or(|o| o == t));
            if !alive {
                return Some(format!("its process {} on {} is gone", self.pid, self.host));
            }
        }
        // A requeued job keeps its id and counts up its restarts; processes of one job at one
        // restart (srun steps, several nodes) are peers and keep each other's claims.
        if let (Some(a), Some(b)) = (&self.slurm_job, &me.slurm_job)
            && a == b
            && self.slurm_restarts.unwrap_or(0) < me.slurm_restarts.unwrap_or(0)
        {
            return Some(format!("its Slurm job {a} was requeued"));
        }
        // On this host liveness is known, so a live process's claim holds however long it
        // is silent (stopped, or blocked on a slow filesystem); elsewhere silence is all we see.
        if self.host == me.host {
            return None;
        }
        let silent = at - self.refreshed;
        (silent > timeout).then(|| {
            format!(
                "its owner (pid {} on {}) has been silent for {silent:.0} s",
                self.pid, self.host
            )
        })
    }
}

/// What trying to claim found.
#[derive(Debug)]
pub enum Attempt {
    /// The claim is ours now (with the reason when a stale one was taken over).
    Taken(Option<String>),
    /// Another live process holds it.
    Held(Owner),
}

/// Claims `path` for this process: creates it, or takes over a stale claim. A claim file that
/// cannot be read (being written, or damaged) counts as held until its mtime is `timeout` old.
pub fn try_claim(path: &Path, timeout: f64) -> std::io::Result<Attempt> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let me = Owner::me();
    match create(path, &me) {
        Ok(()) => return Ok(Attempt::Taken(None)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let holder = match read(path) {
        Some(o) => o,
        None => {
            let age = age(path).unwrap_or(0.0);
            Owner {
                host: "?".into(),
                pid: 0,
                ticks: None,
                started: 0.0,
                refreshed: now() - age,
                slurm_job: None,
                slurm_task: None,
                slurm_restarts: None,
            }
        }
    };
    let Some(why) = holder.stale(&me, now(), timeout) else {
        return Ok(Attempt::Held(holder));
    };
    // One taker at a time: a folder made atomically beside the claim. A taker that died leaves
    // it behind; it is cleared once older than the timeout.
    let guard = path.with_extension("takeover");
    if std::fs::create_dir(&guard).is_err() {
        if age(&guard).is_some_and(|a| a > timeout) {
            let _ = std::fs::remove_dir(&guard);
        }
        return Ok(Attempt::Held(holder));
    }
    // Still the stale claim we judged (not one made since by a faster taker)?
    let result = if read(path).is_none_or(|o| o == holder) {
        let _ = std::fs::remove_file(path);
        match create(path, &me) {
            Ok(()) => Ok(Attempt::Taken(Some(why))),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok(Attempt::Held(read(path).unwrap_or(holder)))
            }
            Err(e) => Err(e),
        }
    } else {
        Ok(Attempt::Held(read(path).unwrap_or(holder)))
    };
    let _ = std::fs::remove_dir(&guard);
    result
}

/// Seconds since `path` was last modified.
fn age(path: &Path) -> Option<f64> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let d = SystemTime::now().duration_since(modified).ok()?;
    Some(d.as_secs_f64())
}

fn create(path: &Path, owner: &Owner) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(&serde_json::to_vec(owner).map_err(std::io::Error::other)?)?;
    f.sync_all()
}

/// The owner a claim file names, if it can be read.
pub fn read(path: &Path) -> Option<Owner> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Whether `path` still names this process (a claim taken over while its owner was silent is
/// not its owner's any more).
pub fn is_mine(path: &Path) -> bool {
    read(path).is_some_and(|o| o.same_process(&Owner::me()))
}

/// Refreshes this process's claim at `path` (no-op when it is not ours any more), written
/// atomically so readers never see half of it (only its owner writes it, so the writer's one
/// temporary name is enough).
pub fn refresh(path: &Path) -> anyhow::Result<bool> {
    let Some(mut owner) = read(path).filter(|o| o.same_process(&Owner::me())) else {
        return Ok(false);
    };
    owner.refreshed = now();
    crate::io::write_atomic(path, &serde_json::to_vec(&owner)?)?;
    Ok(true)
}

/// Removes this process's claim at `path` (left alone when another process holds it now).
pub fn release(path: &Path) {
    if is_mine(path) {
        let _ = std::fs::remove_file(path);
    }
}

/// The claim file of run `id` in results folder `dir`.
pub fn path(dir: &Path, id: &str) -> std::path::PathBuf {
    dir.join("claims").join(format!("{id}.json"))
}

/// Seconds without a refresh after which a claim of another host counts as abandoned:
/// `SWEEP_CLAIM_TIMEOUT` if set, else 300. Held claims are refreshed every fifth of it.
pub fn timeout() -> f64 {
    std::env::var("SWEEP_CLAIM_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(300.0)
}

/// The claims this process holds, refreshed by one background thread.
static HELD: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
static HEARTBEAT: std::sync::Once = std::sync::Once::new();

fn start_heartbeat() {
    HEARTBEAT.call_once(|| {
        let every = std::time::Duration::from_secs_f64((timeout() / 5.0).max(0.05));
        let _ = std::thread::Builder::new()
            .name("sweep-claims".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let held = HELD.lock().map(|h| h.clone()).unwrap_or_default();
                    for path in held {
                        // A failed refresh (a full disk, a lost mount) shows as silence, which
                        // is the truth: other processes may take the run over.
                        let _ = refresh(&path);
                    }
                }
            });
    });
}

/// A claim this process holds, refreshed in the background until dropped (then removed).
pub struct Claim {
    path: std::path::PathBuf,
}

impl Claim {
    /// Claims `path` ([`try_claim`] with [`timeout`]): the claim and, when a stale claim was
    /// taken over, why; or the live owner holding it.
    pub fn take(path: &Path) -> std::io::Result<Result<(Claim, Option<String>), Owner>> {
        match try_claim(path, timeout())? {
            Attempt::Held(owner) => Ok(Err(owner)),
            Attempt::Taken(why) => {
                start_heartbeat();
                if let Ok(mut held) = HELD.lock() {
                    held.push(path.to_path_buf());
                }
                Ok(Ok((
                    Claim {
                        path: path.to_path_buf(),
                    },
                    why,
                )))
            }
        }
    }

    /// Whether the claim still names this process (another may have taken it over while this
    /// one was silent).
    pub fn still_mine(&self) -> bool {
        is_mine(&self.path)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut held) = HELD.lock() {
            held.retain(|p| p != &self.path);
        }
        release(&self.path);
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {}", self.pid, self.host)?;
        match (&self.slurm_task, &self.slurm_job) {
            (Some(task), _) => write!(f, ", Slurm job {task}")?,
            (None, Some(job)) => write!(f, ", Slurm job {job}")?,
            _ => {}
        }
        Ok(())
    }
}
