//! Claims: a file that says "this process trains this run", so that many processes (on one
//! machine or many sharing a filesystem) can work through one results folder without training a
//! run twice at the same time, and without losing a run whose process died.
//!
//! A claim is created with `create_new` (atomic on local filesystems and NFSv3+), names its
//! owner (host, pid, the process's start time, its Slurm job) and is refreshed by its owner. It
//! is stale, and may be taken over, when its process is gone (same host), when it was not
//! refreshed within the timeout (any host), or when it names an earlier run of the Slurm job of
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
    /// `SLURM_RESTART_COUNT` of the owner: how often its job was requeued (unset: never).
    #[serde(default)]
    pub slurm_restarts: Option<u32>,
}

/// Seconds since the Unix epoch.
fn now() -> f64 {
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
    super::results::write_atomic(path, &serde_json::to_vec(&owner)?)?;
    Ok(true)
}

/// Removes this process's claim at `path` (left alone when another process holds it now).
pub fn release(path: &Path) {
    if is_mine(path) {
        let _ = std::fs::remove_file(path);
    }
}
