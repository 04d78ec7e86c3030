//! Claims on runs: made once, held while their owner lives and refreshes them, taken over when
//! the owner's process is gone or it fell silent past the timeout.

use std::path::Path;

use sweep::sweep::claim::{self, Attempt, Owner};

/// Writes a claim file naming `owner`, as another process would have.
fn plant(path: &Path, owner: &Owner) {
    std::fs::write(path, serde_json::to_vec(owner).unwrap()).unwrap();
}

/// A pid that was this host's a moment ago and is gone now.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_claim_is_made_once_and_released_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims").join("run.json");
    assert!(matches!(
        claim::try_claim(&path, 60.0).unwrap(),
        Attempt::Taken(None)
    ));
    assert!(claim::is_mine(&path));
    // Held by a live process (this one), it is not made again.
    assert!(matches!(
        claim::try_claim(&path, 60.0).unwrap(),
        Attempt::Held(_)
    ));
    let before = claim::read(&path).unwrap().refreshed;
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(claim::refresh(&path).unwrap());
    assert!(claim::read(&path).unwrap().refreshed > before);
    claim::release(&path);
    assert!(!path.exists());

    // Another (live, fresh) owner's claim is neither refreshed nor released by this process.
    let mut other = Owner::me();
    other.host = "elsewhere".into();
    plant(&path, &other);
    assert!(!claim::refresh(&path).unwrap());
    claim::release(&path);
    assert_eq!(claim::read(&path), Some(other));
    assert!(
        matches!(claim::try_claim(&path, 60.0).unwrap(), Attempt::Held(o) if o.host == "elsewhere")
    );
}

#[test]
fn a_stale_claim_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    // Its process on this host is gone.
    let gone = dir.path().join("gone.json");
    let mut owner = Owner::me();
    owner.pid = dead_pid();
    owner.ticks = Some(1);
    plant(&gone, &owner);
    match claim::try_claim(&gone, 3600.0).unwrap() {
        Attempt::Taken(Some(why)) => assert!(why.contains("is gone"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(claim::is_mine(&gone));

    // On another host, silent past the timeout; a fresh one there holds.
    let silent = dir.path().join("silent.json");
    let mut owner = Owner::me();
    owner.host = "elsewhere".into();
    owner.refreshed -= 120.0;
    plant(&silent, &owner);
    assert!(matches!(
        claim::try_claim(&silent, 300.0).unwrap(),
        Attempt::Held(_)
    ));
    match claim::try_claim(&silent, 60.0).unwrap() {
        Attempt::Taken(Some(why)) => assert!(why.contains("silent"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(claim::is_mine(&silent));
}

#[test]
fn an_unreadable_claim_holds_until_its_file_is_old() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.json");
    std::fs::write(&path, b"{\"host\":").unwrap();
    assert!(matches!(
        claim::try_claim(&path, 60.0).unwrap(),
        Attempt::Held(_)
    ));
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert!(matches!(
        claim::try_claim(&path, 60.0).unwrap(),
        Attempt::Taken(Some(_))
    ));
    assert!(claim::is_mine(&path));
}

#[test]
fn a_requeued_slurm_job_takes_over_its_earlier_runs_claim_but_not_a_peers() {
    let mut earlier = Owner::me();
    earlier.host = "node1".into();
    earlier.slurm_job = Some("42".into());
    let mut me = Owner::me();
    me.host = "node2".into();
    me.slurm_job = Some("42".into());
    let at = earlier.refreshed;
    // A peer process of the same job at the same restart (another node of it) holds.
    assert_eq!(earlier.stale(&me, at, 60.0), None);
    // The job requeued: its new process takes over what its first run claimed.
    me.slurm_restarts = Some(1);
    let why = earlier.stale(&me, at, 60.0).expect("stale");
    assert!(why.contains("requeued"), "{why}");
    // Another job's claim is not touched.
    me.slurm_job = Some("43".into());
    assert_eq!(earlier.stale(&me, at, 60.0), None);
}

#[test]
fn a_held_claim_is_refreshed_in_the_background_and_removed_when_dropped() {
    // SAFETY: set before any claim starts the heartbeat; no other test here reads the variable
    // (they pass their timeouts to try_claim).
    unsafe { std::env::set_var("SWEEP_CLAIM_TIMEOUT", "0.5") };
    let dir = tempfile::tempdir().unwrap();
    let path = claim::path(dir.path(), "r1");
    let (held, why) = claim::Claim::take(&path).unwrap().unwrap();
    assert!(why.is_none());
    let first = claim::read(&path).unwrap().refreshed;
    std::thread::sleep(std::time::Duration::from_millis(700));
    let later = claim::read(&path).unwrap();
    assert!(later.refreshed > first, "not refreshed");
    // So another host, which sees nothing but the refresh time, keeps off it.
    let elsewhere = Owner {
        host: "elsewhere".into(),
        ..Owner::me()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(later.stale(&elsewhere, now, 0.5).is_none());
    assert!(held.still_mine());
    // A second take by anyone on this host finds it held.
    assert!(claim::Claim::take(&path).unwrap().is_err());
    drop(held);
    assert!(!path.exists());
}
