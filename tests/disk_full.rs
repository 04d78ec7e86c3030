//! A sweep whose results folder runs out of space: it fails with a clear message, leaves a
//! consistent folder (whole run folders, no temporary files, a runs.csv of finished runs only),
//! and once there is room the next `sweep run` trains the rest, to the results of a sweep that
//! never ran short. Needs root, to mount a small tmpfs; skipped otherwise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sweep::spec::Plan;

/// Three cheap runs, no source stage: nothing is written but the results folder.
const EXPERIMENT: &str = r#"
[experiment]
name = "full"
seeds = [0, 1, 2]

[target]
dataset = "uci-digits"
labels_per_class = 3

[model]
backbone = "resnet-mini"
width = 8
stages = 2

[train]
epochs = 1
patience = 0
"#;

/// A mounted tmpfs, unmounted when dropped (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, bytes: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, bytes: u64) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn sweep_run(file: &Path, out: &Path, cache: &Path, quiet: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sweep"));
    cmd.arg("run")
        .arg(file)
        .arg("--out")
        .arg(out)
        .arg("--cache")
        .arg(cache)
        .args(["--jobs", "1", "--threads", "1"]);
    if quiet {
        cmd.arg("--quiet");
    }
    cmd.output().unwrap()
}

fn page_size() -> u64 {
    Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(4096)
}

/// Pages a file takes on tmpfs.
fn pages(path: &Path, page: u64) -> u64 {
    std::fs::metadata(path).unwrap().len().div_ceil(page)
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let h = r.headers().unwrap().clone();
    let t = h.iter().position(|c| c == "seconds");
    r.records()
        .map(|row| {
            let row = row.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            row.iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != t)
                .map(|(_, v)| v.to_string())
                .collect()
        })
        .collect()
}

/// Checks the folder is consistent and returns the ids of its finished runs.
fn consistent(out: &Path) -> BTreeSet<String> {
    for entry in walkdir::WalkDir::new(out) {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        assert!(!name.contains(".tmp"), "temporary file left: {name}");
    }
    let mut finished = BTreeSet::new();
    if let Ok(dirs) = std::fs::read_dir(out.join("runs")) {
        for d in dirs {
            let d = d.unwrap().path();
            for f in ["config.toml", "outcome.json", "confusion.csv"] {
                let text = std::fs::read_to_string(d.join(f))
                    .unwrap_or_else(|e| panic!("half a run folder {}: {f}: {e}", d.display()));
                assert!(!text.is_empty(), "{}/{f} is empty", d.display());
            }
            let outcome = std::fs::read_to_string(d.join("outcome.json")).unwrap();
            serde_json::from_str::<serde_json::Value>(&outcome).unwrap();
            finished.insert(d.file_name().unwrap().to_string_lossy().to_string());
        }
    }
    let listed = |csv: &str| -> BTreeSet<String> {
        let path = out.join(csv);
        if !path.exists() {
            return BTreeSet::new();
        }
        csv_rows(&path).into_iter().map(|r| r[0].clone()).collect()
    };
    assert_eq!(
        listed("runs.csv"),
        finished,
        "runs.csv lists the finished runs"
    );
    assert!(listed("epochs.csv").is_subset(&finished));
    finished
}

#[test]
fn a_full_disk_fails_the_sweep_cleanly_and_the_next_run_trains_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    let Some(tmpfs) = Tmpfs::mount(&mnt, 1 << 20) else {
        println!("skipped: needs root to mount a tmpfs");
        return;
    };
    let file = dir.path().join("full.toml");
    std::fs::write(&file, EXPERIMENT).unwrap();
    let cache = dir.path().join("cache");
    let plan = Plan::parse(&file, EXPERIMENT, sweep::task::rules).unwrap();
    assert_eq!(plan.runs.len(), 3);

    // Where a run fits and where it does not.
    let reference = dir.path().join("reference");
    let out = sweep_run(&file, &reference, &cache, true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Room for the lock, experiment.toml, two run folders and the CSVs (plus one page while a
    // CSV is replaced, one to spare), not for the third run's four files.
    let page = page_size();
    let run_pages = |id: &str| -> u64 {
        let d = reference.join("runs").join(id);
        [
            "config.toml",
            "outcome.json",
            "confusion.csv",
            "model.safetensors",
        ]
        .iter()
        .map(|f| pages(&d.join(f), page))
        .sum()
    };
    let files = ["experiment.toml", "runs.csv", "epochs.csv"];
    let needed = 1
        + files
            .iter()
            .map(|f| pages(&reference.join(f), page))
            .sum::<u64>()
        + run_pages(&plan.runs[0].id)
        + run_pages(&plan.runs[1].id)
        + 2;
    assert!(run_pages(&plan.runs[2].id) > 2);

    tmpfs.resize(needed * page);
    let out_dir = mnt.join("out");
    let full = sweep_run(&file, &out_dir, &cache, true);
    let err = String::from_utf8_lossy(&full.stderr);
    println!("{err}");
    assert_eq!(full.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("no space left on the disk: 2 of 3 runs are saved in")
            && err.contains("run the same `sweep run` again, which trains only the other 1")
            && err.contains("(the disk is full)"),
        "{err}"
    );
    let finished = consistent(&out_dir);
    let first_two: BTreeSet<String> = plan.runs[..2].iter().map(|r| r.id.clone()).collect();
    assert_eq!(finished, first_two);

    // With room again the same command trains only the third run.
    tmpfs.resize(64 << 20);
    let again = sweep_run(&file, &out_dir, &cache, false);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(err.contains("2 of 3 runs already finished"), "{err}");
    assert_eq!(consistent(&out_dir).len(), 3);
    assert_eq!(
        csv_rows(&out_dir.join("runs.csv")),
        csv_rows(&reference.join("runs.csv"))
    );
    assert_eq!(
        std::fs::read(out_dir.join("epochs.csv")).unwrap(),
        std::fs::read(reference.join("epochs.csv")).unwrap()
    );
}
