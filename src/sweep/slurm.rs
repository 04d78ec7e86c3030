//! `sweep submit`: a sweep as Slurm jobs. One job per source stage still to train, an array
//! job of the runs that need it (`--dependency=afterok:`), an array of the runs that need none,
//! and a last job that renders the report (`afterany:`). Every task is a `sweep run --only ID`
//! of the same results folder, so a killed, cancelled or requeued task loses at most its own
//! run, which the next submission (or the requeue) trains again; nothing else is re-done.
//!
//! A search (`[search]` with trials, or `[search.stop]`) is not split into runs: its trials
//! depend on earlier batches. It is submitted as an array of worker processes that each run the
//! whole search; they claim each batch's runs between them and wait at the end of each batch,
//! so all of them propose the same trials.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{ledger, source};
use crate::spec::Plan;

/// What `sweep submit` asks of Slurm.
#[derive(Debug, Clone, Default)]
pub struct Submit {
    /// Results folder.
    pub out: PathBuf,
    /// `--partition` of every job.
    pub partition: Option<String>,
    /// `--time` of every job.
    pub time: Option<String>,
    /// `--cpus-per-task`, also each run's compute threads.
    pub cpus_per_task: usize,
    /// `--gpus-per-task`.
    pub gpus_per_task: Option<usize>,
    /// `--mem` of every job.
    pub mem: Option<String>,
    /// Most array tasks running at once (`--array=...%K`); for a search, the worker count.
    pub max_parallel: Option<usize>,
    /// Further `#SBATCH` options, written as given (`--account=lab`, `--qos=short`).
    pub sbatch_args: Vec<String>,
}

/// One job of a submission.
#[derive(Debug, Clone)]
pub struct Job {
    /// Short name: `source-<key>`, `runs-<k>`, `workers` or `report`.
    pub name: String,
    /// Its script.
    pub script: PathBuf,
    /// The script's text.
    pub text: String,
    /// `--array` range, for an array job.
    pub array: Option<String>,
    /// Jobs (by position in the submission) it waits for, and how (`afterok`, `afterany`).
    pub after: Option<(&'static str, Vec<usize>)>,
    /// Runs whose ids an array job's tasks read, a line each (written beside the script).
    pub runs: Vec<String>,
}

/// A submission: its folder under `DIR/slurm/` and its jobs in submission order.
#[derive(Debug)]
pub struct Submission {
    /// `DIR/slurm/<n>/`.
    pub dir: PathBuf,
    /// The jobs, each depending only on earlier ones.
    pub jobs: Vec<Job>,
    /// Runs of the plan already finished (left out).
    pub finished: usize,
}

/// Quotes a string for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn quote_path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

/// The submission of what `plan` still lacks in `opts.out` (nothing is written).
pub fn prepare(plan: &Plan, opts: &Submit) -> anyhow::Result<Submission> {
    let exe = std::env::current_exe().context("cannot find the sweep binary's path")?;
    let file = std::path::absolute(&plan.file)?;
    let out = std::path::absolute(&opts.out)?;
    let slurm = out.join("slurm");
    let n = (1..)
        .find(|n| !slurm.join(n.to_string()).exists())
        .expect("a free number");
    let dir = slurm.join(n.to_string());
    let done = ledger::finished(&out, plan, ledger::Rerun::None);
    let finished = done.iter().filter(|d| d.is_some()).count();
    let threads = "\"${SLURM_CPUS_PER_TASK:-1}\"";
    let run = format!(
        "{} run {} --out {}",
        quote_path(&exe),
        quote_path(&file),
        quote_path(&out)
    );
    let header = |name: &str, array: bool| {
        let mut h = String::from("#!/bin/bash\n");
        let log = dir
            .join("logs")
            .join(format!("{name}-{}.out", if array { "%A_%a" } else { "%j" }));
        let mut opt = |o: String| writeln!(h, "#SBATCH {o}").expect("a string");
        opt(format!("--job-name=sweep-{}-{name}", plan.name));
        opt(format!("--output={}", log.display()));
        // A requeued task appends to its log rather than replacing what the killed one wrote.
        opt("--open-mode=append".into());
        opt("--requeue".into());
        opt(format!("--cpus-per-task={}", opts.cpus_per_task.max(1)));
        if let Some(p) = &opts.partition {
            opt(format!("--partition={p}"));
        }
        if let Some(t) = &opts.time {
            opt(format!("--time={t}"));
        }
        if let Some(m) = &opts.mem {
            opt(format!("--mem={m}"));
        }
        if let Some(g) = opts.gpus_per_task {
            opt(format!("--gpus-per-task={g}"));
        }
        for a in &opts.sbatch_args {
            opt(a.clone());
        }
        h.push_str("set -euo pipefail\n");
        h
    };
    let array_range = |len: usize| {
        let mut r = format!("0-{}", len - 1);
        if let Some(k) = opts.max_parallel {
            write!(r, "%{k}").expect("a string");
        }
        r
    };
    let mut jobs: Vec<Job> = Vec::new();
    if super::search::batched(plan) {
        let k = opts.max_parallel.unwrap_or(4).max(1);
        let text = format!(
            "{}# Worker ${{SLURM_ARRAY_TASK_ID}} of {k}: every worker runs the whole search, \
             claiming each batch's runs.\nexec {run} --jobs 1 --threads {threads}\n",
            header("workers", true)
        );
        jobs.push(Job {
            name: "workers".into(),
            script: dir.join("workers.sh"),
            text,
            array: Some(format!("0-{}", k - 1)),
            after: None,
            runs: Vec::new(),
        });
    } else {
        // Missing runs by source stage (None: trained from scratch or from a weights file).
        let cache = out.join("cache");
        let mut groups: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        for (r, d) in plan.runs.iter().zip(&done) {
            if d.is_none() {
                let key = r
                    .config
                    .source
                    .as_ref()
                    .map(|s| source::key(s, &r.config.model));
                groups.entry(key).or_default().push(r.id.clone());
            }
        }
        for (k, (key, ids)) in groups.into_iter().enumerate() {
            let mut after = None;
            if let Some(key) = &key
                && !source::paths(&cache, key).0.exists()
            {
                let name = format!("source-{key}");
                let text = format!(
                    "{}exec {run} --only {} --sources-only --jobs 1 --threads {threads}\n",
                    header(&name, false),
                    // Every run of the group uses this stage: one names it.
                    quote(&ids[0])
                );
                jobs.push(Job {
                    script: dir.join(format!("{name}.sh")),
                    name,
                    text,
                    array: None,
                    after: None,
                    runs: Vec::new(),
                });
                after = Some(("afterok", vec![jobs.len() - 1]));
            }
            let name = format!("runs-{k}");
            let list = dir.join(format!("{name}.txt"));
            let text = format!(
                "{}ID=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {})\n\
                 exec {run} --only \"$ID\" --jobs 1 --threads {threads}\n",
                header(&name, true),
                quote_path(&list)
            );
            jobs.push(Job {
                script: dir.join(format!("{name}.sh")),
                name,
                text,
                array: Some(array_range(ids.len())),
                after,
                runs: ids,
            });
        }
    }
    if !jobs.is_empty() {
        let text = format!(
            "{}exec {} report {}\n",
            header("report", false),
            quote_path(&exe),
            quote_path(&out)
        );
        jobs.push(Job {
            name: "report".into(),
            script: dir.join("report.sh"),
            text,
            array: None,
            after: Some(("afterany", (0..jobs.len()).collect())),
            runs: Vec::new(),
        });
    }
    Ok(Submission {
        dir,
        jobs,
        finished,
    })
}

/// The `sbatch` line of job `k`, with earlier jobs' ids as the shell variables `$J0`, `$J1`, ...
pub fn sbatch_line(s: &Submission, k: usize) -> String {
    let mut line = format!("J{k}=$(sbatch --parsable");
    if let Some((how, on)) = &s.jobs[k].after {
        let ids: Vec<String> = on.iter().map(|j| format!("$J{j}")).collect();
        write!(line, " --dependency={how}:{}", ids.join(":")).expect("a string");
    }
    if let Some(a) = &s.jobs[k].array {
        write!(line, " --array={a}").expect("a string");
    }
    write!(line, " {})", quote_path(&s.jobs[k].script)).expect("a string");
    line
}

/// The whole submission as a shell script: what `--dry-run` prints and `submit.sh` holds.
pub fn script(s: &Submission) -> String {
    let mut text = String::from("#!/bin/bash\nset -euo pipefail\n");
    for k in 0..s.jobs.len() {
        writeln!(text, "{}", sbatch_line(s, k)).expect("a string");
        writeln!(text, "J{k}=${{J{k}%%;*}}").expect("a string");
    }
    text
}

/// A submitted job, as `DIR/slurm/jobs.json` records it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Submitted {
    /// Submission number (the folder under `DIR/slurm/`).
    pub submission: usize,
    /// Job name within it (`runs-0`, `report`, ...).
    pub name: String,
    /// Slurm's job id.
    pub id: String,
    /// `--array` range, for an array job.
    pub array: Option<String>,
    /// Runs it trains (array jobs), in task order.
    #[serde(default)]
    pub runs: usize,
    /// Seconds since 1970 when it was submitted.
    pub submitted: u64,
}

/// The jobs `sweep submit` recorded in a results folder.
pub fn recorded(out: &Path) -> Vec<Submitted> {
    std::fs::read(out.join("slurm").join("jobs.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes the submission's scripts and submits them with `sbatch`, in order, recording each
/// job id in `DIR/slurm/jobs.json` as soon as Slurm gives it.
pub fn submit(s: &Submission, out: &Path, log: &dyn Fn(String)) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(s.dir.join("logs"))
        .with_context(|| format!("cannot create {}", s.dir.display()))?;
    let write = crate::io::write_atomic;
    for j in &s.jobs {
        write(&j.script, j.text.as_bytes())?;
        if !j.runs.is_empty() {
            write(
                &j.script.with_extension("txt"),
                format!("{}\n", j.runs.join("\n")).as_bytes(),
            )?;
        }
    }
    write(&s.dir.join("submit.sh"), script(s).as_bytes())?;
    let number: usize = s
        .dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut ids: Vec<String> = Vec::new();
    let mut record = recorded(out);
    for (k, j) in s.jobs.iter().enumerate() {
        let mut cmd = std::process::Command::new("sbatch");
        cmd.arg("--parsable");
        if let Some((how, on)) = &j.after {
            let on: Vec<&str> = on.iter().map(|&d| ids[d].as_str()).collect();
            cmd.arg(format!("--dependency={how}:{}", on.join(":")));
        }
        if let Some(a) = &j.array {
            cmd.arg(format!("--array={a}"));
        }
        cmd.arg(&j.script);
        let got = cmd.output().with_context(|| {
            "cannot run sbatch: `sweep submit` needs Slurm's client commands on PATH \
             (`sweep submit --dry-run` prints the scripts without them)"
        })?;
        if !got.status.success() {
            bail!(
                "sbatch refused {} ({} of {} jobs submitted, listed in {}): {}",
                j.script.display(),
                k,
                s.jobs.len(),
                out.join("slurm").join("jobs.json").display(),
                String::from_utf8_lossy(&got.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&got.stdout);
        let id = text.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() {
            bail!("sbatch printed no job id for {}", j.script.display());
        }
        log(format!(
            "submitted {} as job {id}{}",
            j.name,
            j.array
                .as_ref()
                .map_or(String::new(), |a| format!(" (array {a})"))
        ));
        record.push(Submitted {
            submission: number,
            name: j.name.clone(),
            id: id.clone(),
            array: j.array.clone(),
            runs: j.runs.len(),
            submitted: super::run::unix_now(),
        });
        write(
            &out.join("slurm").join("jobs.json"),
            &serde_json::to_vec_pretty(&record)?,
        )?;
        ids.push(id);
    }
    Ok(ids)
}
