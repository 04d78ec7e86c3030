//! `index.html` (opens from disk: no server, no network, no script) and `summary.md`.

use std::fmt::Write;
use std::path::Path;

use super::cells::{Cell, Verdict};
use super::charts::Chart;
use super::table::Runs;
use super::{budget, cell_name};
use crate::io::write_atomic;

/// `s` escaped for HTML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(v: f64) -> String {
    format!("{:.2}", v * 100.0)
}

/// One table row's numbers: mean, std, CI, n, vs scratch, verdict.
fn numbers(c: &Cell) -> [String; 6] {
    let a = c.accuracy;
    let d = c.vs_scratch;
    [
        a.map_or("–".into(), |a| format!("{:.4}", a.mean)),
        a.map_or("–".into(), |a| format!("{:.4}", a.std)),
        a.and_then(|a| a.ci95)
            .map_or("–".into(), |h| format!("± {h:.4}")),
        format!(
            "{}{}",
            c.rows.len(),
            if c.failed > 0 {
                format!(" (+{} failed)", c.failed)
            } else {
                String::new()
            }
        ),
        d.map_or("".into(), |d| {
            format!(
                "{:+.2} pts{}",
                d.mean * 100.0,
                d.ci95.map_or(String::new(), |h| format!(" ± {}", pct(h)))
            )
        }),
        c.verdict.as_str().into(),
    ]
}

fn sorted(cells: &[Cell]) -> Vec<&Cell> {
    let mut v: Vec<&Cell> = cells.iter().collect();
    v.sort_by_key(|c| {
        (
            c.labels_per_class
                .parse::<usize>()
                .map_or(usize::MAX, |b| if b == 0 { usize::MAX } else { b }),
            c.others.clone(),
            c.setting != "scratch",
            c.setting.clone(),
        )
    });
    v
}

/// Writes `index.html`.
pub fn write_index(
    dir: &Path,
    (name, description): &(String, String),
    summary: &str,
    charts: &[Chart],
    cells: &[Cell],
    runs: &Runs,
    extra: &str,
) -> anyhow::Result<()> {
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sweep report: {title}</title>
<style>
body {{ font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 1.6em; }} h2 {{ margin-top: 2em; border-bottom: 1px solid #ccc; }}
pre {{ background: #f5f5f5; padding: 1em; white-space: pre-wrap; }}
.flag {{ background: #fbe3d6; border-left: 6px solid #d55e00; padding: 0.6em 1em; margin: 0.4em 0; }}
.ok {{ background: #e0f0f8; border-left: 6px solid #0072b2; padding: 0.6em 1em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }} td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
td.l, th.l {{ text-align: left; }} tr.neg {{ background: #fbe3d6; }} tr.base {{ background: #f3f3f3; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; border: 1px solid #ddd; }} figcaption {{ color: #555; }}
</style></head><body>
<h1>sweep report: {title}</h1>
<p>{desc}</p>
"#,
        title = esc(name),
        desc = esc(description)
    );
    let flagged: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.verdict == Verdict::NegativeTransfer)
        .collect();
    h.push_str("<h2>Negative transfer</h2>\n");
    if flagged.is_empty() {
        h.push_str("<p class=\"ok\">No cell is flagged: in no cell with at least 3 seeds does the whole 95% interval of (transfer − scratch) lie below 0.</p>\n");
    }
    for c in &flagged {
        let d = c.vs_scratch.expect("judged");
        let _ = writeln!(
            h,
            "<p class=\"flag\"><b>{}</b> at {} {}: {:+.2} points against scratch (95% interval {} to {} points, {} paired seeds).</p>",
            esc(&cell_name(c)),
            esc(&budget(&c.labels_per_class)),
            runs.metric.budget,
            d.mean * 100.0,
            pct(d.interval().0),
            pct(d.interval().1),
            d.n
        );
    }
    let _ = write!(h, "<h2>Summary</h2>\n<pre>{}</pre>\n", esc(summary));
    // A search's section (its own charts are among the charts below).
    h.push_str(extra);
    if !charts.is_empty() {
        h.push_str("<h2>Charts</h2>\n");
    }
    for c in charts {
        let _ = writeln!(
            h,
            "<figure><img src=\"{s}.png\" alt=\"{s}\"><figcaption>{cap} (<a href=\"{s}.svg\">SVG</a>)</figcaption></figure>",
            s = esc(&c.stem),
            cap = esc(&c.caption)
        );
    }
    let _ = write!(
        h,
        "<h2>Every cell</h2>\n<p>Mean, sample standard deviation and 95% Student-t interval of {metric} over seeds; the difference to scratch is paired: each run against the scratch run with the same label budget, seed and other settings.</p>\n<table>\n<tr><th class=\"l\">{budget}</th><th class=\"l\">setting</th><th class=\"l\">other settings</th><th>mean</th><th>std</th><th>95% CI</th><th>seeds</th><th>vs scratch</th><th class=\"l\">verdict</th></tr>\n",
        metric = runs.metric.name,
        budget = runs.metric.budget
    );
    for c in sorted(cells) {
        let class = match c.verdict {
            Verdict::NegativeTransfer => " class=\"neg\"",
            Verdict::Scratch => " class=\"base\"",
            _ => "",
        };
        let n = numbers(c);
        let _ = writeln!(
            h,
            "<tr{class}><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            esc(&budget(&c.labels_per_class)),
            esc(&c.setting),
            esc(&c.others),
            n[0],
            n[1],
            n[2],
            n[3],
            esc(&n[4]),
            n[5]
        );
    }
    h.push_str("</table>\n");
    let failed = runs.failed();
    if !failed.is_empty() {
        h.push_str("<h2>Failed runs</h2>\n<table>\n<tr><th class=\"l\">run</th><th class=\"l\">status</th><th class=\"l\">message</th></tr>\n");
        for r in failed {
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
                esc(runs.get(r, "run_id")),
                esc(runs.get(r, "status")),
                esc(runs.get(r, "error"))
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<p>Rendered by sweep from runs.csv and epochs.csv; charts also as SVG beside this file.</p>\n</body></html>\n");
    write_atomic(&dir.join("index.html"), h.as_bytes())
}

/// Writes `summary.md`: the summary and the table of cells.
pub fn write_markdown(
    dir: &Path,
    (name, description): &(String, String),
    summary: &str,
    cells: &[Cell],
    runs: &Runs,
    extra: &str,
) -> anyhow::Result<()> {
    let mut m = format!("# sweep report: {name}\n\n{description}\n\n```\n{summary}```\n\n");
    m.push_str(&format!("| {} | setting | other settings | mean | std | 95% CI | seeds | vs scratch | verdict |\n|---|---|---|---|---|---|---|---|---|\n", runs.metric.budget));
    for c in sorted(cells) {
        let n = numbers(c);
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            budget(&c.labels_per_class),
            c.setting,
            c.others,
            n[0],
            n[1],
            n[2],
            n[3],
            n[4],
            n[5]
        );
    }
    m.push_str(extra);
    let failed = runs.failed();
    if !failed.is_empty() {
        m.push_str("\n## Failed runs\n\n");
        for r in failed {
            let _ = writeln!(
                m,
                "- {} ({}): {}",
                runs.get(r, "run_id"),
                runs.get(r, "status"),
                runs.get(r, "error")
            );
        }
    }
    write_atomic(&dir.join("summary.md"), m.as_bytes())
}
