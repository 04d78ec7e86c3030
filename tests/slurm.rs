//! `sweep submit` against a real Slurm (`scripts/slurm.sh up` brings up a one-node cluster; CI
//! does, and sets SWEEP_REQUIRE_SLURM=1 so a missing cluster fails instead of skipping): a
//! submitted sweep equals `sweep run` of the same file bit for bit (seconds aside), every run is
//! trained exactly once, and a task cancelled midway is trained by the resubmission, with
//! nothing lost or duplicated.

#[path = "common/results.rs"]
mod results;
use results::{grid_toml, search_toml, trained, without_seconds};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sweep::spec::Plan;

/// The tests share one small cluster: one at a time, so neither waits on the other's tasks.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether a Slurm cluster answers; without one the test is skipped unless CI requires it.
fn slurm_up() -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("idle"));
    if !up {
        assert!(
            std::env::var_os("SWEEP_REQUIRE_SLURM").is_none(),
            "SWEEP_REQUIRE_SLURM is set but no idle Slurm node answers sinfo (scripts/slurm.sh up)"
        );
        eprintln!("skipped: no Slurm cluster (scripts/slurm.sh up brings one up, as root)");
    }
    up
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sweep(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args(args)
        .output()
        .unwrap()
}

/// The job ids recorded in the folder's `slurm/jobs.json`.
fn job_ids(out: &Path) -> Vec<String> {
    sweep::sweep::slurm::recorded(out)
        .into_iter()
        .map(|j| j.id)
        .collect()
}

/// Waits until none of `ids` is in Slurm's queue.
fn wait_for(ids: &[String], limit: Duration) {
    let start = Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-o", "%i", "-j", &ids.join(",")])
            .output()
            .unwrap();
        if text(&q.stdout).trim().is_empty() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "jobs still queued after {limit:?}:\n{}",
            text(&q.stdout)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// How often each run's log line says it was trained and tested, over every job log.
fn trained_counts(out: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for sub in std::fs::read_dir(out.join("slurm")).unwrap() {
        let logs = sub.unwrap().path().join("logs");
        let Ok(entries) = std::fs::read_dir(&logs) else {
            continue;
        };
        for e in entries {
            let log = std::fs::read_to_string(e.unwrap().path()).unwrap();
            for id in trained(&log) {
                *counts.entry(id).or_default() += 1;
            }
        }
    }
    counts
}

#[test]
fn a_submitted_sweep_equals_a_local_run_and_a_cancelled_task_is_resubmitted() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !slurm_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slurm.toml");
    std::fs::write(&file, grid_toml("slurm", 40, 20)).unwrap();
    let plan = Plan::load(&file, sweep::task::rules).unwrap();
    let (f, d) = (file.to_str().unwrap(), dir.path());
    let reference = d.join("local");
    let local = sweep(&["run", f, "--out", reference.to_str().unwrap(), "--quiet"]);
    assert!(local.status.success(), "{}", text(&local.stderr));

    let out = d.join("cluster");
    let o = out.to_str().unwrap();
    let first = sweep(&["submit", f, "--out", o, "--max-parallel", "1"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("submitted 6 runs"));
    // Cancel the first run task seen training (its claim names its Slurm job).
    let start = Instant::now();
    let (victim, job) = loop {
        let found = plan.runs.iter().find_map(|r| {
            let c = sweep::sweep::claim::read(&sweep::sweep::claim::path(&out, &r.id))?;
            Some((r.id.clone(), c.slurm_task.or(c.slurm_job)?))
        });
        if let Some(f) = found {
            break f;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no run started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let cancel = Command::new("scancel").arg(&job).output().unwrap();
    assert!(cancel.status.success(), "{}", text(&cancel.stderr));
    wait_for(&job_ids(&out), Duration::from_secs(300));
    let finished = |id: &str| out.join("runs").join(id).join("outcome.json").exists();
    assert!(
        !finished(&victim),
        "the cancelled run {victim} finished anyway"
    );
    let others = plan.runs.iter().filter(|r| finished(&r.id)).count();
    assert_eq!(others, 5, "the other runs should have finished");
    // The folder says what is missing, and the cancelled task's claim is stale.
    let status = sweep(&["status", o]);
    let st = text(&status.stdout);
    assert!(st.contains("5 of 6 runs finished"), "{st}");
    assert!(st.contains(&format!("stale     {victim}")), "{st}");
    assert!(st.contains("runs-0") && st.contains("report"), "{st}");

    // Submitting again trains only the cancelled run.
    let again = sweep(&["submit", f, "--out", o]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("submitted 1 runs of `slurm` (5 already finished)"),
        "{}",
        text(&again.stdout)
    );
    wait_for(&job_ids(&out), Duration::from_secs(300));
    let counts = trained_counts(&out);
    for r in &plan.runs {
        assert_eq!(counts.get(&r.id), Some(&1), "run {}: {counts:?}", r.id);
    }
    for csv in ["runs.csv", "epochs.csv"] {
        assert_eq!(
            without_seconds(&reference.join(csv)),
            without_seconds(&out.join(csv)),
            "{csv} differs from the local run's"
        );
    }
    assert!(out.join("report").join("index.html").exists());
    let done = sweep(&["submit", f, "--out", o]);
    assert!(text(&done.stdout).contains("nothing to submit"));
}

#[test]
fn a_search_submitted_as_workers_proposes_the_local_trials_and_survives_a_requeue() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !slurm_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("search.toml");
    std::fs::write(&file, search_toml("slurm-search")).unwrap();
    let (f, d) = (file.to_str().unwrap(), dir.path());
    let reference = d.join("local");
    let local = sweep(&[
        "run",
        f,
        "--out",
        reference.to_str().unwrap(),
        "--jobs",
        "1",
        "--quiet",
    ]);
    assert!(local.status.success(), "{}", text(&local.stderr));

    let out = d.join("cluster");
    let o = out.to_str().unwrap();
    let dry = sweep(&["submit", f, "--out", o, "--max-parallel", "2", "--dry-run"]);
    assert!(
        text(&dry.stdout).contains("--array=0-1 "),
        "{}",
        text(&dry.stdout)
    );
    let first = sweep(&["submit", f, "--out", o, "--max-parallel", "2"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    // Requeue the worker first seen training a trial: Slurm kills it and starts it again.
    let start = Instant::now();
    let task = loop {
        let claims = std::fs::read_dir(out.join("claims")).into_iter().flatten();
        let found = claims.flatten().find_map(|e| {
            let c = sweep::sweep::claim::read(&e.path())?;
            c.slurm_task.or(c.slurm_job)
        });
        if let Some(t) = found {
            break t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no trial started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let requeue = Command::new("scontrol")
        .args(["requeue", &task])
        .output()
        .unwrap();
    assert!(requeue.status.success(), "{}", text(&requeue.stderr));
    // Slurm holds a requeued job back for a while (BeginTime); let it start again in 3 s. Not
    // at once: until the killed step is cleaned up its credential is revoked, and a task started
    // then fails ("Job credential revoked") instead of running.
    for _ in 0..50 {
        let q = Command::new("squeue")
            .args(["-h", "-o", "%T %r", "-j", &task])
            .output()
            .unwrap();
        let q = text(&q.stdout);
        if q.contains("PENDING") {
            let _ = Command::new("scontrol")
                .args(["update", &format!("JobId={task}"), "StartTime=now+3"])
                .output();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for(&job_ids(&out), Duration::from_secs(400));
    // The requeued worker ran twice (its log, appended to, has two banners).
    let logs = out.join("slurm").join("1").join("logs");
    let all: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let banners: usize = all
        .iter()
        .map(|l| l.matches("sweep: up to 6 runs").count())
        .sum();
    assert_eq!(
        banners,
        3,
        "two workers, one of them started twice:\n{}",
        all.join("\n----\n")
    );
    let read = |d: &Path| std::fs::read_to_string(d.join("trials.json")).unwrap();
    assert_eq!(read(&reference), read(&out));
    let counts = trained_counts(&out);
    assert_eq!(counts.len(), 6, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    for csv in ["runs.csv", "epochs.csv"] {
        assert_eq!(
            without_seconds(&reference.join(csv)),
            without_seconds(&out.join(csv)),
            "{csv} differs from the local search's"
        );
    }
}
