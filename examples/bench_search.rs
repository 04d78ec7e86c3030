//! The search samplers' benchmark (issue 22): sweep's random search and TPE (univariate, the
//! default, and multivariate) minimising Branin (2-D), Hartmann-6 and Branin + N(0, 1) noise,
//! 20 search seeds each; the best value after 25/50/100 trials, mean ± std per method.
//! `scripts/bench/search.sh` runs it beside Optuna (`scripts/bench/search.py`).
//!
//! `cargo run --release --example bench_search [-- --seeds N --trials N]`. For the noisy
//! function, the trial that is best by its observed (noisy) value is reported by its noise-free
//! value, so luck in the noise does not count as progress. Lines starting `RESULT` are
//! machine-readable: method, function, seed, trials, best.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution as _, Normal};
use sweep::search::{Direction, Distribution, Observation, State, TpeConfig, Value, random, tpe};

/// The trial counts at which the best value so far is reported.
const CHECKPOINTS: [usize; 3] = [25, 50, 100];
/// The noise rng's seed is the search seed plus this (the Python side uses the same).
const NOISE_SEED_OFFSET: u64 = 1_000_000;

/// Branin on [-5, 10] × [0, 15]: minimum 0.397887 at three points.
fn branin(x: &[f64]) -> f64 {
    let (x1, x2) = (x[0], x[1]);
    let pi = std::f64::consts::PI;
    let b = 5.1 / (4.0 * pi * pi);
    let c = 5.0 / pi;
    let t = 1.0 / (8.0 * pi);
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
}

/// Hartmann-6 on [0, 1]^6: minimum -3.32237.
fn hartmann6(x: &[f64]) -> f64 {
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    -(0..4)
        .map(|i| {
            let inner: f64 = (0..6).map(|j| A[i][j] * (x[j] - P[i][j]).powi(2)).sum();
            ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

/// A function to minimise over a box.
struct Problem {
    name: &'static str,
    bounds: Vec<(f64, f64)>,
    f: fn(&[f64]) -> f64,
    noise: f64,
}

/// The methods compared.
const METHODS: [&str; 3] = ["sweep-tpe", "sweep-tpe-mv", "sweep-random"];

/// One study: the best (noise-free) value after each checkpoint.
fn study(p: &Problem, method: &str, seed: u64, trials: usize) -> Vec<(usize, f64)> {
    let space: Vec<Distribution> = p
        .bounds
        .iter()
        .map(|&(low, high)| Distribution::Uniform { low, high })
        .collect();
    let cfg = TpeConfig {
        multivariate: method == "sweep-tpe-mv",
        ..TpeConfig::default()
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut noise_rng = StdRng::seed_from_u64(NOISE_SEED_OFFSET + seed);
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    let mut history: Vec<Observation> = Vec::with_capacity(trials);
    let (mut best_obs, mut best_true) = (f64::INFINITY, f64::INFINITY);
    let mut out = Vec::new();
    for t in 1..=trials {
        let params = match method {
            "sweep-random" => random(&space, &mut rng),
            _ => tpe(&space, &history, Direction::Minimize, &cfg, &mut rng),
        };
        let x: Vec<f64> = params
            .iter()
            .map(|v| match v {
                Value::Float(x) => *x,
                other => panic!("a float space gave {other:?}"),
            })
            .collect();
        let truth = (p.f)(&x);
        let observed = if p.noise > 0.0 {
            truth + p.noise * normal.sample(&mut noise_rng)
        } else {
            truth
        };
        if observed < best_obs {
            (best_obs, best_true) = (observed, truth);
        }
        history.push(Observation {
            params,
            state: State::Complete(observed),
        });
        if CHECKPOINTS.contains(&t) {
            out.push((t, best_true));
        }
    }
    out
}

/// Reads `--seeds N` and `--trials N`.
fn args() -> (u64, usize) {
    let (mut seeds, mut trials) = (20, 100);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--seeds" => seeds = v.parse().expect("--seeds N"),
            "--trials" => trials = v.parse().expect("--trials N"),
            _ => panic!("unknown argument {a} (use --seeds N --trials N)"),
        }
    }
    (seeds, trials)
}

fn main() {
    let (seeds, trials) = args();
    let problems = [
        Problem {
            name: "branin",
            bounds: vec![(-5.0, 10.0), (0.0, 15.0)],
            f: branin,
            noise: 0.0,
        },
        Problem {
            name: "hartmann6",
            bounds: vec![(0.0, 1.0); 6],
            f: hartmann6,
            noise: 0.0,
        },
        Problem {
            name: "branin-noisy",
            bounds: vec![(-5.0, 10.0), (0.0, 15.0)],
            f: branin,
            noise: 1.0,
        },
    ];
    let start = Instant::now();
    let mut summary: BTreeMap<(usize, usize, usize), Vec<f64>> = BTreeMap::new();
    for (pi, p) in problems.iter().enumerate() {
        for (mi, m) in METHODS.iter().enumerate() {
            for seed in 0..seeds {
                for (t, best) in study(p, m, seed, trials) {
                    println!("RESULT\t{m}\t{}\t{seed}\t{t}\t{best:?}", p.name);
                    summary.entry((pi, t, mi)).or_default().push(best);
                }
            }
        }
    }
    println!(
        "# sweep: {} studies in {:.1} s",
        problems.len() * METHODS.len() * seeds as usize,
        start.elapsed().as_secs_f64()
    );
    println!("# best value (minimising), mean ± std over {seeds} seeds");
    println!(
        "# {:<13} {:>6}  {:>20} {:>20} {:>20}",
        "function", "trials", METHODS[0], METHODS[1], METHODS[2]
    );
    for (pi, p) in problems.iter().enumerate() {
        for t in CHECKPOINTS.into_iter().filter(|&t| t <= trials) {
            let cells: Vec<String> = (0..METHODS.len())
                .map(|mi| {
                    let v = &summary[&(pi, t, mi)];
                    let n = v.len() as f64;
                    let mean = v.iter().sum::<f64>() / n;
                    let var =
                        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
                    format!("{mean:.4} ± {:.4}", var.sqrt())
                })
                .collect();
            println!(
                "# {:<13} {t:>6}  {:>20} {:>20} {:>20}",
                p.name, cells[0], cells[1], cells[2]
            );
        }
    }
}
