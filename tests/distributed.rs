//! Many processes on one results folder: per-run claims (no run trained twice, a dead or
//! silent owner's run taken over, a live one's waited for), `--shard`/`--only`, a search shared
//! by two processes, and `sweep submit --dry-run`'s scripts.

#[path = "common/results.rs"]
mod results;
use results::{grid_toml, search_toml, trained, without_seconds};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sweep::spec::Plan;
use sweep::sweep::claim::{self, Claim, Owner};

fn sweep_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sweep"));
    c.args(args);
    c
}

/// `sweep run FILE --out OUT EXTRA...`, not started yet.
fn run_cmd(file: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = sweep_cmd(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    c.args(extra);
    c
}

fn run(file: &Path, out: &Path, extra: &[&str]) -> Output {
    run_cmd(file, out, extra).output().unwrap()
}

fn spawn(file: &Path, out: &Path, extra: &[&str]) -> Child {
    run_cmd(file, out, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn setup(text: &str) -> (tempfile::TempDir, std::path::PathBuf, Plan) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared.toml");
    std::fs::write(&file, text).unwrap();
    let plan = Plan::load(&file, sweep::task::rules).unwrap();
    (dir, file, plan)
}

fn assert_same_results(a: &Path, b: &Path) {
    for csv in ["runs.csv", "epochs.csv"] {
        assert_eq!(
            without_seconds(&a.join(csv)),
            without_seconds(&b.join(csv)),
            "{csv} differs"
        );
    }
}

#[test]
fn two_processes_on_one_folder_train_each_run_once_and_match_one_process() {
    // Runs long enough (about 0.2 s each on the flex kernels of 2026-12-04) that the second
    // process starts before the first has claimed every run.
    let (dir, file, plan) = setup(&grid_toml("shared", 10, 12));
    let reference = dir.path().join("reference");
    let r = run(
        &file,
        &reference,
        &["--jobs", "2", "--threads", "1", "--quiet"],
    );
    assert!(r.status.success(), "{}", text(&r.stderr));

    let out = dir.path().join("shared");
    let a = spawn(&file, &out, &["--jobs", "1", "--threads", "1"]);
    let b = spawn(&file, &out, &["--jobs", "1", "--threads", "1"]);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (la, lb) = (text(&a.stderr), text(&b.stderr));
    assert!(a.status.success() && b.status.success(), "{la}\n---\n{lb}");
    let (ta, tb) = (trained(&la), trained(&lb));
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for id in ta.iter().chain(&tb) {
        *count.entry(id.clone()).or_default() += 1;
    }
    for r in &plan.runs {
        assert_eq!(count.get(&r.id), Some(&1), "run {}: {la}\n---\n{lb}", r.id);
    }
    assert_eq!(count.len(), plan.runs.len());
    // Both took a share (each claims a different run from the start).
    assert!(!ta.is_empty() && !tb.is_empty(), "{ta:?} {tb:?}");
    // The source stage was trained once: the other process waited for it, then reused it.
    let reused = [&la, &lb]
        .iter()
        .filter(|l| l.contains("test accuracy") && l.contains("reusing"))
        .count();
    assert_eq!(reused, 1, "{la}\n---\n{lb}");
    assert_same_results(&reference, &out);
    // Every claim was released.
    let left: Vec<_> = std::fs::read_dir(out.join("claims")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

fn write_claim(path: &Path, owner: &Owner) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec(owner).unwrap()).unwrap();
}

#[test]
fn stale_claims_are_taken_over_and_a_live_one_is_waited_for() {
    let (dir, file, plan) =
        setup(&grid_toml("shared", 3, 3).replace(r#"["scratch", "finetune"]"#, r#""scratch""#));
    let out = dir.path().join("out");
    let ids: Vec<&str> = plan.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 3);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // Run 0: its process on this host has exited.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let mut owner = Owner::me();
    owner.pid = dead;
    write_claim(&claim::path(&out, ids[0]), &owner);
    // Run 1: another host's process, silent for 20 s (timeout 5 s).
    let silent = Owner {
        host: "node-that-died".into(),
        refreshed: now - 20.0,
        ..Owner::me()
    };
    write_claim(&claim::path(&out, ids[1]), &silent);
    // Run 2: this test process holds it, live.
    let held = Claim::take(&claim::path(&out, ids[2])).unwrap().unwrap().0;

    let mut child = run_cmd(&file, &out, &["--jobs", "2"])
        .env("SWEEP_CLAIM_TIMEOUT", "5")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let finished = |id: &str| out.join("runs").join(id).join("outcome.json").exists();
    let start = Instant::now();
    while !(finished(ids[0]) && finished(ids[1])) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "runs 0 and 1 not trained"
        );
        assert!(child.try_wait().unwrap().is_none(), "sweep run ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Run 2 waits for its live owner, longer than the timeout: this process keeps it fresh.
    std::thread::sleep(Duration::from_secs(7));
    assert!(!finished(ids[2]), "a live claim was taken over");
    assert!(child.try_wait().unwrap().is_none());
    drop(held);
    let got = child.wait_with_output().unwrap();
    let log = text(&got.stderr);
    assert!(got.status.success(), "{log}");
    assert!(finished(ids[2]), "{log}");
    assert!(log.contains(&format!("its process {dead} on")), "{log}");
    assert!(log.contains("node-that-died) has been silent for"), "{log}");
    assert!(
        log.contains(&format!("is being trained by pid {}", std::process::id())),
        "{log}"
    );
    assert_eq!(trained(&log).len(), 3, "{log}");
}

#[test]
fn shards_split_a_grid_and_together_equal_one_process() {
    let (dir, file, plan) = setup(&grid_toml("shared", 3, 3));
    let reference = dir.path().join("reference");
    assert!(run(&file, &reference, &["--quiet"]).status.success());
    let out = dir.path().join("sharded");
    let first = run(&file, &out, &["--shard", "1/2", "--jobs", "1"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let done: Vec<bool> = plan
        .runs
        .iter()
        .map(|r| out.join("runs").join(&r.id).join("outcome.json").exists())
        .collect();
    assert_eq!(done, [true, false, true, false, true, false]);
    assert!(text(&first.stdout).contains("3 selected runs finished (3 trained now)"));
    let second = run(&file, &out, &["--shard", "2/2", "--jobs", "1", "--quiet"]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_same_results(&reference, &out);
    // --only names runs; a finished one is read back, not trained.
    let again = run(&file, &out, &["--only", &plan.runs[1].id]);
    assert!(text(&again.stdout).contains("(0 trained now)"));

    // Bad selections fail before anything is written.
    let fresh = dir.path().join("fresh");
    for (args, says) in [
        (&["--shard", "3/2"][..], "is not K/N"),
        (&["--shard", "0/2"][..], "is not K/N"),
        (&["--only", "nosuchrun"][..], "has no run with that id"),
    ] {
        let r = run(&file, &fresh, args);
        assert!(!r.status.success());
        assert!(
            text(&r.stderr).contains(says),
            "{args:?}: {}",
            text(&r.stderr)
        );
        assert!(!fresh.exists(), "{args:?} wrote {}", fresh.display());
    }
}

#[test]
fn two_processes_share_a_search_and_propose_the_same_trials_as_one() {
    let (dir, file, _) = setup(&search_toml("shared-search"));
    let reference = dir.path().join("reference");
    assert!(
        run(&file, &reference, &["--jobs", "1", "--quiet"])
            .status
            .success()
    );
    let out = dir.path().join("shared");
    let a = spawn(&file, &out, &["--jobs", "1"]);
    let b = spawn(&file, &out, &["--jobs", "1"]);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (la, lb) = (text(&a.stderr), text(&b.stderr));
    assert!(a.status.success() && b.status.success(), "{la}\n---\n{lb}");
    let read = |d: &Path| std::fs::read_to_string(d.join("trials.json")).unwrap();
    assert_eq!(read(&reference), read(&out));
    let (ta, tb) = (trained(&la), trained(&lb));
    let mut all: Vec<&String> = ta.iter().chain(&tb).collect();
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (6, 6), "{ta:?} {tb:?}");
    assert!(!ta.is_empty() && !tb.is_empty(), "{ta:?} {tb:?}");
    assert_same_results(&reference, &out);
    // A search cannot be split by --shard: its trials depend on earlier batches.
    let r = run(&file, &dir.path().join("x"), &["--shard", "1/2"]);
    assert!(!r.status.success());
    assert!(
        text(&r.stderr).contains("is a search"),
        "{}",
        text(&r.stderr)
    );
}

/// The `J<k>=$(sbatch ...)` lines of a dry run, by job name (the script's file stem).
fn sbatch_lines(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter(|l| l.starts_with('J') && l.contains("=$(sbatch --parsable"))
        .map(|l| {
            let script = l.rsplit('/').next().unwrap().trim_end_matches("')");
            let name = script.trim_end_matches(".sh").to_string();
            (name, l.to_string())
        })
        .collect()
}

#[test]
fn submit_dry_run_writes_nothing_and_arrays_only_what_is_missing() {
    let (dir, file, plan) = setup(&grid_toml("shared", 3, 3));
    let out = dir.path().join("out");
    let submit = |extra: &[&str]| {
        let mut args = vec![
            "submit",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--dry-run",
        ];
        args.extend_from_slice(extra);
        let o = sweep_cmd(&args).output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let key = {
        let r = plan
            .runs
            .iter()
            .find(|r| r.config.source.is_some())
            .unwrap();
        sweep::sweep::source::key(r.config.source.as_ref().unwrap(), &r.config.model)
    };
    let printed = submit(&[
        "--max-parallel",
        "2",
        "--partition",
        "debug",
        "--time",
        "10",
        "--sbatch-arg=--account=lab",
    ]);
    assert!(!out.exists(), "a dry run wrote {}", out.display());
    let lines = sbatch_lines(&printed);
    let names: Vec<&str> = lines.keys().map(String::as_str).collect();
    let source = format!("source-{key}");
    assert_eq!(names, ["report", "runs-0", "runs-1", source.as_str()]);
    // Scratch runs need nothing; fine-tuned runs wait for their source stage; the report for all.
    assert!(lines["runs-0"].starts_with("J0=$(sbatch --parsable --array=0-2%2 "));
    assert!(lines[&source].starts_with("J1=$(sbatch --parsable '"));
    assert!(
        lines["runs-1"]
            .starts_with("J2=$(sbatch --parsable --dependency=afterok:$J1 --array=0-2%2 ")
    );
    assert!(
        lines["report"].starts_with("J3=$(sbatch --parsable --dependency=afterany:$J0:$J1:$J2 '")
    );
    for opt in [
        "#SBATCH --partition=debug",
        "#SBATCH --time=10",
        "#SBATCH --account=lab",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --requeue",
        "--threads \"${SLURM_CPUS_PER_TASK:-1}\"",
        "--sources-only",
    ] {
        assert!(printed.contains(opt), "{opt}:\n{printed}");
    }
    let scratch: Vec<&str> = plan
        .runs
        .iter()
        .filter(|r| r.config.source.is_none())
        .map(|r| r.id.as_str())
        .collect();
    assert!(printed.contains(&scratch.join("\n")), "{printed}");

    // With the source stage cached and one scratch run finished, only the rest is submitted.
    let r = run(&file, &out, &["--only", scratch[0], "--quiet"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let tuned = plan
        .runs
        .iter()
        .find(|r| r.config.source.is_some())
        .unwrap();
    let r = run(
        &file,
        &out,
        &["--only", &tuned.id, "--sources-only", "--quiet"],
    );
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(
        !out.join("runs").join(&tuned.id).exists(),
        "--sources-only trained a run"
    );
    let printed = submit(&[]);
    let lines = sbatch_lines(&printed);
    assert_eq!(
        lines.keys().collect::<Vec<_>>(),
        ["report", "runs-0", "runs-1"]
    );
    assert!(lines["runs-0"].starts_with("J0=$(sbatch --parsable --array=0-1 "));
    assert!(lines["runs-1"].starts_with("J1=$(sbatch --parsable --array=0-2 "));
    assert!(!printed.contains(&format!("{}\n", scratch[0])), "{printed}");
}
