//! `sweep status DIR`: what a results folder holds — finished runs by status, runs being
//! trained (by whom, from their claims), runs whose claim went stale, runs still pending — and
//! the Slurm jobs `sweep submit` recorded there.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::claim::{self, Owner};
use super::{ledger, slurm};
use crate::spec::Plan;

/// A run's state as the folder shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Finished, with its status word (`ok`, `failed`, `diverged`, `pruned`).
    Finished(&'static str),
    /// Claimed by a live process.
    Running(Owner),
    /// Claimed by a process that is gone or silent (the next `sweep run` takes it over).
    Stale(Owner, String),
    /// Neither finished nor claimed.
    Pending,
}

/// Every run of the folder's experiment with its state, in plan order.
pub struct Status {
    /// The experiment's name.
    pub name: String,
    /// `(run id, state)`.
    pub runs: Vec<(String, State)>,
    /// The jobs `sweep submit` recorded.
    pub jobs: Vec<slurm::Submitted>,
}

/// Reads a results folder's state.
pub fn read(dir: &Path) -> anyhow::Result<Status> {
    let file = dir.join("experiment.toml");
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "cannot read {}: is {} a results folder of `sweep run` or `sweep submit`?",
            file.display(),
            dir.display()
        )
    })?;
    let plan = Plan::parse(&file, &text, crate::task::rules).map_err(|e| anyhow::anyhow!("{e}"))?;
    // A search's runs are its trials so far.
    let plan = super::search::results_plan(dir, &plan).unwrap_or(plan);
    let me = Owner::me();
    let now = claim::now();
    let runs = plan
        .runs
        .iter()
        .map(|r| {
            let state = match ledger::load(dir, &r.id) {
                Some(o) => State::Finished(o.status.as_str()),
                None => match claim::read(&claim::path(dir, &r.id)) {
                    Some(o) => match o.stale(&me, now, claim::timeout()) {
                        Some(why) => State::Stale(o, why),
                        None => State::Running(o),
                    },
                    None => State::Pending,
                },
            };
            (r.id.clone(), state)
        })
        .collect();
    Ok(Status {
        name: plan.name.clone(),
        runs,
        jobs: slurm::recorded(dir),
    })
}

/// Slurm's state of each job id still in its queue (`squeue`); absent when squeue is not found.
fn queue_states(ids: &[&str]) -> Option<BTreeMap<String, String>> {
    if ids.is_empty() {
        return Some(BTreeMap::new());
    }
    let out = std::process::Command::new("squeue")
        .args(["-h", "-o", "%i %T", "-j", &ids.join(",")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut states = BTreeMap::new();
    for line in text.lines() {
        if let Some((id, state)) = line.split_once(' ') {
            // Array tasks print as JOB_TASK or JOB_[RANGE]: count them under the array's id.
            let job = id.split('_').next().unwrap_or(id).to_string();
            let e: &mut String = states.entry(job).or_default();
            if !e.contains(state) {
                if !e.is_empty() {
                    e.push('+');
                }
                e.push_str(state);
            }
        }
    }
    Some(states)
}

/// The status as text.
pub fn render(s: &Status, dir: &Path) -> String {
    let mut t = String::new();
    let n = s.runs.len();
    let count = |f: &dyn Fn(&State) -> bool| s.runs.iter().filter(|(_, st)| f(st)).count();
    let finished = count(&|st| matches!(st, State::Finished(_)));
    writeln!(
        t,
        "`{}` in {}: {finished} of {n} runs finished",
        s.name,
        dir.display()
    )
    .unwrap();
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, st) in &s.runs {
        if let State::Finished(w) = st {
            *by.entry(w).or_default() += 1;
        }
    }
    for (word, k) in &by {
        writeln!(t, "  {word:<9} {k}").unwrap();
    }
    let running: Vec<_> = s
        .runs
        .iter()
        .filter_map(|(id, st)| match st {
            State::Running(o) => Some((id, o)),
            _ => None,
        })
        .collect();
    writeln!(t, "  running   {}", running.len()).unwrap();
    for (id, o) in &running {
        writeln!(t, "    {id}  {o}").unwrap();
    }
    for (id, st) in &s.runs {
        if let State::Stale(o, why) = st {
            writeln!(
                t,
                "  stale     {id}  {o}: {why}; the next `sweep run` or `sweep submit` takes it over"
            )
            .unwrap();
        }
    }
    writeln!(t, "  pending   {}", count(&|st| *st == State::Pending)).unwrap();
    let failed: Vec<&str> = s
        .runs
        .iter()
        .filter(|(_, st)| matches!(st, State::Finished("failed" | "diverged")))
        .map(|(id, _)| id.as_str())
        .collect();
    if !failed.is_empty() {
        writeln!(
            t,
            "  not well: {} (runs/<id>/outcome.json says why; `sweep run --rerun failed` retries)",
            failed.join(" ")
        )
        .unwrap();
    }
    if !s.jobs.is_empty() {
        let ids: Vec<&str> = s.jobs.iter().map(|j| j.id.as_str()).collect();
        let states = queue_states(&ids);
        writeln!(t, "Slurm jobs submitted by `sweep submit`:").unwrap();
        for j in &s.jobs {
            let state = match &states {
                Some(m) => m.get(&j.id).map_or("ended", String::as_str),
                None => "? (squeue not found)",
            };
            let array = j
                .array
                .as_ref()
                .map_or(String::new(), |a| format!(" array {a}"));
            writeln!(
                t,
                "  {:<3} {:<28} job {}{array}: {state}",
                j.submission, j.name, j.id
            )
            .unwrap();
        }
    }
    t
}
