//! `sweep report`: statistics against known values, a report rendered from a CSV fixture, the
//! page opened in a real headless Chromium, and bad inputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use sweep::report::cells::Verdict;
use sweep::report::stats::{Summary, paired, t_quantile};
use sweep::report::{Options, render};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn mean_std_and_student_t_intervals_match_known_values() {
    // t(0.975, 2) = 4.302653, t(0.975, 9) = 2.262157 (standard tables).
    assert!(close(t_quantile(0.975, 2.0), 4.302653, 1e-5));
    assert!(close(t_quantile(0.975, 9.0), 2.262157, 1e-5));
    let s = Summary::of(&[1.0, 2.0, 3.0]);
    assert_eq!((s.n, s.mean, s.std), (3, 2.0, 1.0));
    assert!(close(s.ci95.unwrap(), 4.302653 / 3f64.sqrt(), 1e-5));
    let ten: Vec<f64> = (1..=10).map(f64::from).collect();
    let s = Summary::of(&ten);
    assert!(close(s.std, 3.0276504, 1e-6));
    assert!(close(
        s.ci95.unwrap(),
        2.262157 * 3.0276504 / 10f64.sqrt(),
        1e-5
    ));
    assert_eq!(Summary::of(&[0.5]).ci95, None);
    let d = paired(&[0.9, 0.8, 0.85], &[0.7, 0.75, 0.8]);
    assert!(close(d.mean, 0.1, 1e-12));
    assert!(close(d.std, 0.0075f64.sqrt(), 1e-12));
}

const RUNS_HEADER: &str = "run_id,strategy,freeze_depth,backbone_lr_mult,labels_per_class,seed,train.augment,status,test_accuracy,test_precision,test_recall,test_f1,best_epoch,epochs_run,train_images,seconds,error";

/// A results folder: scratch, finetune (helps), linear-probe (hurts) at 5 and 20 labels per
/// class with 3 seeds; a finetune cell with 2 seeds; one failed run.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut runs = vec![RUNS_HEADER.to_string()];
    let mut epochs = vec![
        "run_id,epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,frozen_parts".to_string(),
    ];
    let mut n = 0;
    let mut add = |strategy: &str,
                   freeze: &str,
                   budget: usize,
                   seed: usize,
                   acc: Option<f64>,
                   runs: &mut Vec<String>| {
        n += 1;
        let id = format!("r{n:03}");
        let mult = if strategy == "finetune" { "1" } else { "" };
        let row = match acc {
            Some(a) => format!(
                "{id},{strategy},{freeze},{mult},{budget},{seed},none,ok,{a},{a},{a},{a},3,3,{},1.0,",
                budget * 10
            ),
            None => format!(
                "{id},{strategy},{freeze},{mult},{budget},{seed},none,failed,,,,,,1,0,0.5,\"shape mismatch, see log\""
            ),
        };
        runs.push(row);
        if acc.is_some() {
            for e in 1..=3 {
                epochs.push(format!(
                    "{id},{e},1.0,0.5,1.0,{},0.001,0",
                    0.5 + 0.1 * e as f64
                ));
            }
            let dir = d.join("runs").join(&id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("confusion.csv"),
                "true\\predicted,0,1,2\n0,8,1,1\n1,0,9,1\n2,2,0,8\n",
            )
            .unwrap();
        }
    };
    for budget in [5, 20] {
        for seed in 0..3 {
            let base = if budget == 5 { 0.70 } else { 0.90 };
            let wobble = seed as f64 * 0.01;
            add("scratch", "", budget, seed, Some(base + wobble), &mut runs);
            add(
                "finetune",
                "0",
                budget,
                seed,
                Some(base + 0.08 + wobble * 0.5),
                &mut runs,
            );
            add(
                "linear-probe",
                "4",
                budget,
                seed,
                Some(base - 0.30 + wobble),
                &mut runs,
            );
        }
        for seed in 0..2 {
            add(
                "finetune",
                "1",
                budget,
                seed,
                Some(base_of(budget) + 0.01),
                &mut runs,
            );
        }
    }
    add("finetune", "1", 20, 2, None, &mut runs);
    std::fs::write(d.join("runs.csv"), runs.join("\n") + "\n").unwrap();
    std::fs::write(d.join("epochs.csv"), epochs.join("\n") + "\n").unwrap();
    std::fs::write(
        d.join("experiment.toml"),
        "[experiment]\nname = \"fixture\"\ndescription = \"a hand-made results folder\"\n",
    )
    .unwrap();
    dir
}

fn base_of(budget: usize) -> f64 {
    if budget == 5 { 0.70 } else { 0.90 }
}

/// Distinct colours in a PNG and its size.
fn png_stats(path: &Path) -> (u32, u32, usize) {
    let img = image::open(path).unwrap().to_rgb8();
    let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    (img.width(), img.height(), colours.len())
}

/// Every `src="..."` and `href="..."` of a page.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            out.push(part.split('"').next().unwrap().to_string());
        }
    }
    out
}

#[test]
fn a_report_from_a_fixture_has_every_file_and_judges_every_cell() {
    let dir = fixture();
    let report = render(dir.path(), &Options::default()).unwrap();
    let out = dir.path().join("report");
    for stem in [
        "accuracy-vs-labels",
        "learning-curves",
        "gain-freeze_depth-by-backbone_lr_mult",
        "effect-freeze_depth",
        "effect-labels_per_class",
        "confusion",
    ] {
        assert!(
            report.charts.iter().any(|c| c.stem == stem),
            "{stem} listed"
        );
        let (w, h, colours) = png_stats(&out.join(format!("{stem}.png")));
        assert!(
            w >= 500 && h >= 500 || (w, h) == (1000, 600),
            "{stem}: {w}x{h}"
        );
        assert!(colours > 20, "{stem}.png looks blank ({colours} colours)");
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{stem}.svg");
    }
    let (w, h, _) = png_stats(&out.join("accuracy-vs-labels.png"));
    assert_eq!((w, h), (1000, 600));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let refs = references(&html);
    assert!(refs.len() >= 12, "{refs:?}");
    for r in &refs {
        assert!(!r.contains("://"), "no network: {r}");
        assert!(out.join(r).exists(), "{r} is referenced but missing");
    }
    // Negative transfer is at the top, before the charts; the failed run is listed.
    let flag = html.find("class=\"flag\"").expect("a flagged cell");
    assert!(flag < html.find("<h2>Charts").unwrap());
    assert!(html.contains("shape mismatch, see log"));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("| 5 | linear-probe |") && md.contains("NEGATIVE TRANSFER"),
        "{md}"
    );

    let find = |setting: &str, budget: &str| {
        report
            .cells
            .iter()
            .find(|c| c.setting == setting && c.labels_per_class == budget)
            .unwrap_or_else(|| panic!("{setting} {budget}"))
    };
    let probe = find("linear-probe", "5");
    assert_eq!(probe.verdict, Verdict::NegativeTransfer);
    let d = probe.vs_scratch.unwrap();
    assert_eq!(d.n, 3);
    assert!(close(d.mean, -0.30, 1e-9) && close(d.std, 0.0, 1e-9));
    let fine = find("finetune freeze_depth=0", "20");
    assert_eq!(fine.verdict, Verdict::PositiveTransfer);
    assert!(close(fine.vs_scratch.unwrap().mean, 0.08 - 0.005, 1e-9));
    let two = find("finetune freeze_depth=1", "5");
    assert_eq!(two.verdict, Verdict::NotEnoughSeeds);
    assert_eq!(find("finetune freeze_depth=1", "20").failed, 1);
    assert!(
        report
            .summary
            .contains("NEGATIVE TRANSFER: linear-probe at 5 labels/class"),
        "{}",
        report.summary
    );
    assert!(
        report.summary.contains("1 run(s) failed"),
        "{}",
        report.summary
    );
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn headless(chrome: &Path, profile: &Path, args: &[String]) -> std::process::Output {
    Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_page_renders_in_headless_chromium_with_every_image_loaded() {
    let Some(chrome) = chromium() else {
        // .ci/run installs Debian's chromium, so CI always runs this test.
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let dir = fixture();
    render(dir.path(), &Options::default()).unwrap();
    let out = dir.path().join("report");
    let profile = tempfile::tempdir().unwrap();
    // A copy of the page that records, once loaded, how many images failed.
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let probe = html.replace(
        "</body>",
        "<script>window.addEventListener('load', () => { const imgs = [...document.images]; \
         document.body.setAttribute('data-images', imgs.length); \
         document.body.setAttribute('data-broken', imgs.filter(i => !i.complete || i.naturalWidth === 0).length); });</script></body>",
    );
    std::fs::write(out.join("probe.html"), probe).unwrap();
    let dom = headless(
        &chrome,
        profile.path(),
        &[
            "--virtual-time-budget=5000".into(),
            "--dump-dom".into(),
            format!("file://{}", out.join("probe.html").display()),
        ],
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let charts = html.matches("<img ").count();
    assert!(dom.contains(&format!("data-images=\"{charts}\"")), "{dom}");
    assert!(
        dom.contains("data-broken=\"0\""),
        "an image failed to load:\n{dom}"
    );

    let shot = dir.path().join("shot.png");
    let run = headless(
        &chrome,
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,2400".into(),
            format!("file://{}", out.join("index.html").display()),
        ],
    );
    assert!(shot.exists(), "{}", String::from_utf8_lossy(&run.stderr));
    let (w, h, colours) = png_stats(&shot);
    assert_eq!((w, h), (1200, 2400));
    assert!(
        colours > 50,
        "the screenshot looks blank ({colours} colours)"
    );
}

#[test]
fn bad_results_folders_give_clear_errors() {
    let empty = tempfile::tempdir().unwrap();
    let e = format!(
        "{:#}",
        render(empty.path(), &Options::default()).unwrap_err()
    );
    assert!(e.contains("no runs.csv"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runs.csv"),
        "run_id,strategy,seed,status\nx,scratch,0,ok\n",
    )
    .unwrap();
    let e = format!("{:#}", render(dir.path(), &Options::default()).unwrap_err());
    assert!(
        e.contains("runs.csv:1") && e.contains("`labels_per_class`"),
        "{e}"
    );

    std::fs::write(dir.path().join("runs.csv"), format!("{RUNS_HEADER}\n")).unwrap();
    let e = format!("{:#}", render(dir.path(), &Options::default()).unwrap_err());
    assert!(e.contains("no finished runs"), "{e}");

    let fixture = fixture();
    let opts = Options {
        x: "colour".into(),
        ..Options::default()
    };
    let e = format!("{:#}", render(fixture.path(), &opts).unwrap_err());
    assert!(e.contains("`colour`") && e.contains("train.augment"), "{e}");

    // Only failed runs: a report that says so, not a panic.
    std::fs::write(
        dir.path().join("runs.csv"),
        format!("{RUNS_HEADER}\nr1,scratch,,,5,0,none,failed,,,,,,1,0,0.1,out of memory\n"),
    )
    .unwrap();
    let r = render(dir.path(), &Options::default()).unwrap();
    assert!(r.charts.is_empty());
    assert!(r.summary.contains("1 run(s) failed"));
    let html = std::fs::read_to_string(dir.path().join("report/index.html")).unwrap();
    assert!(html.contains("out of memory"));
}

/// Distinct x positions of the point markers (radius 4) in a chart's SVG.
fn marker_xs(svg: &str) -> std::collections::BTreeSet<String> {
    svg.split("<circle")
        .skip(1)
        .filter(|c| c.contains("r=\"4\""))
        .filter_map(|c| c.split("cx=\"").nth(1)?.split('"').next().map(String::from))
        .collect()
}

#[test]
fn at_a_single_budget_the_settings_intervals_stand_side_by_side() {
    // Two budgets: each setting's points sit on the budgets themselves.
    let dir = fixture();
    let report = render(dir.path(), &Options::default()).unwrap();
    let svg = |d: &Path| std::fs::read_to_string(d.join("report/accuracy-vs-labels.svg")).unwrap();
    assert_eq!(marker_xs(&svg(dir.path())).len(), 2);
    let caption = |r: &sweep::report::Report| {
        r.charts
            .iter()
            .find(|c| c.stem == "accuracy-vs-labels")
            .unwrap()
            .caption
            .clone()
    };
    assert!(!caption(&report).contains("side by side"));
    // One budget: the four settings' intervals would share one vertical line; they are dodged.
    let runs = std::fs::read_to_string(dir.path().join("runs.csv")).unwrap();
    let kept: Vec<&str> = runs
        .lines()
        .filter(|l| l.starts_with("run_id") || l.split(',').nth(4) == Some("5"))
        .collect();
    std::fs::write(dir.path().join("runs.csv"), kept.join("\n") + "\n").unwrap();
    let report = render(dir.path(), &Options::default()).unwrap();
    assert_eq!(marker_xs(&svg(dir.path())).len(), 4);
    assert!(
        caption(&report).contains("side by side"),
        "{}",
        caption(&report)
    );
}
