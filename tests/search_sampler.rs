//! The search samplers (issue 22): bounds, determinism, log spacing, TPE's gain over random
//! search, its startup phase, and pruned/failed trials.

use rand::SeedableRng;
use rand::rngs::StdRng;
use sweep::search::{Direction, Distribution, Observation, State, TpeConfig, Value, random, tpe};

/// One parameter of each kind.
fn mixed_space() -> Vec<Distribution> {
    vec![
        Distribution::Uniform {
            low: -2.0,
            high: 3.0,
        },
        Distribution::LogUniform {
            low: 1e-4,
            high: 1e-1,
        },
        Distribution::Int {
            low: -3,
            high: 7,
            log: false,
        },
        Distribution::Int {
            low: 1,
            high: 1000,
            log: true,
        },
        Distribution::Choice { n: 4 },
    ]
}

/// An objective over `mixed_space`, to build histories with.
fn mixed_objective(v: &[Value]) -> f64 {
    match v {
        [
            Value::Float(a),
            Value::Float(b),
            Value::Int(i),
            Value::Int(j),
            Value::Choice(c),
        ] => {
            (a - 1.0).powi(2)
                + (b.log10() + 2.0).powi(2)
                + ((i - 2) as f64).powi(2)
                + ((*j as f64).ln() - 3.0).powi(2)
                + if *c == 2 { 0.0 } else { 1.0 }
        }
        _ => panic!("unexpected values {v:?}"),
    }
}

fn assert_in_space(space: &[Distribution], values: &[Value]) {
    assert_eq!(space.len(), values.len());
    for (d, v) in space.iter().zip(values) {
        assert!(d.contains(v), "{v:?} is not in {d:?}");
    }
}

/// `n` random trials, evaluated by `f`, as a history.
fn random_history(
    space: &[Distribution],
    n: usize,
    seed: u64,
    f: fn(&[Value]) -> f64,
) -> Vec<Observation> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let params = random(space, &mut rng);
            let value = f(&params);
            Observation {
                params,
                state: State::Complete(value),
            }
        })
        .collect()
}

#[test]
fn random_samples_stay_in_bounds_and_repeat_per_seed() {
    let space = mixed_space();
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..300)
            .map(|_| random(&space, &mut rng))
            .collect::<Vec<_>>()
    };
    let a = draw(7);
    for v in &a {
        assert_in_space(&space, v);
    }
    assert_eq!(a, draw(7), "same seed, same draws");
    assert_ne!(a, draw(8), "another seed, other draws");
    // Every integer and choice is reached, the bounds included.
    for (k, n) in [(2usize, 11usize), (4, 4)] {
        let mut seen: Vec<i64> = a
            .iter()
            .map(|v| match v[k] {
                Value::Int(i) => i,
                Value::Choice(c) => c as i64,
                _ => unreachable!(),
            })
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), n, "parameter {k} reached {seen:?}");
    }
}

#[test]
fn tpe_samples_stay_in_bounds_and_repeat_per_seed() {
    let space = mixed_space();
    let history = random_history(&space, 20, 1, mixed_objective);
    let cfg = TpeConfig::default();
    let propose = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..50)
            .map(|_| tpe(&space, &history, Direction::Minimize, &cfg, &mut rng))
            .collect::<Vec<_>>()
    };
    let a = propose(3);
    for v in &a {
        assert_in_space(&space, v);
    }
    assert_eq!(a, propose(3), "same seed, same proposals");
    assert_ne!(a, propose(4), "another seed, other proposals");
    let mv = TpeConfig {
        multivariate: true,
        ..TpeConfig::default()
    };
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..50 {
        assert_in_space(
            &space,
            &tpe(&space, &history, Direction::Maximize, &mv, &mut rng),
        );
    }
}

#[test]
fn single_point_distributions_give_their_value() {
    let space = vec![
        Distribution::Uniform {
            low: 2.5,
            high: 2.5,
        },
        Distribution::Int {
            low: 4,
            high: 4,
            log: true,
        },
        Distribution::Choice { n: 1 },
    ];
    let want = vec![Value::Float(2.5), Value::Int(4), Value::Choice(0)];
    let mut rng = StdRng::seed_from_u64(0);
    assert_eq!(random(&space, &mut rng), want);
    let history = vec![
        Observation {
            params: want.clone(),
            state: State::Complete(1.0)
        };
        12
    ];
    let got = tpe(
        &space,
        &history,
        Direction::Minimize,
        &TpeConfig::default(),
        &mut rng,
    );
    assert_eq!(got, want);
}

/// The median of the draws of parameter 0 of `d`, as f64.
fn median_of(d: Distribution, n: usize) -> f64 {
    let mut rng = StdRng::seed_from_u64(11);
    let mut xs: Vec<f64> = (0..n)
        .map(|_| match random(std::slice::from_ref(&d), &mut rng)[0] {
            Value::Float(x) => x,
            Value::Int(i) => i as f64,
            Value::Choice(_) => unreachable!(),
        })
        .collect();
    xs.sort_by(f64::total_cmp);
    xs[n / 2]
}

#[test]
fn log_distributions_spread_in_log_space() {
    // Geometric mean of [1e-4, 1] is 1e-2; a linear draw would have its median near 0.5.
    let m = median_of(
        Distribution::LogUniform {
            low: 1e-4,
            high: 1.0,
        },
        2000,
    );
    assert!((m.log10() + 2.0).abs() < 0.15, "log-uniform median {m}");
    // Log ints on [1, 1000]: median near the geometric mean ~31.6 (linear: ~500).
    let m = median_of(
        Distribution::Int {
            low: 1,
            high: 1000,
            log: true,
        },
        2000,
    );
    assert!((20.0..50.0).contains(&m), "log-int median {m}");
    let m = median_of(
        Distribution::Int {
            low: 1,
            high: 1000,
            log: false,
        },
        2000,
    );
    assert!((430.0..570.0).contains(&m), "int median {m}");
}

/// The best value after `trials` trials of `sampler` on `f` over `space`.
fn best_after(
    space: &[Distribution],
    f: fn(&[Value]) -> f64,
    trials: usize,
    seed: u64,
    cfg: Option<&TpeConfig>,
) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut history = Vec::new();
    let mut best = f64::INFINITY;
    for _ in 0..trials {
        let params = match cfg {
            Some(cfg) => tpe(space, &history, Direction::Minimize, cfg, &mut rng),
            None => random(space, &mut rng),
        };
        let v = f(&params);
        best = best.min(v);
        history.push(Observation {
            params,
            state: State::Complete(v),
        });
    }
    best
}

fn quadratic(v: &[Value]) -> f64 {
    match v {
        [Value::Float(x), Value::Float(y)] => (x - 1.0).powi(2) + (y + 2.0).powi(2),
        _ => unreachable!(),
    }
}

#[test]
fn tpe_beats_random_on_a_quadratic() {
    let space = vec![
        Distribution::Uniform {
            low: -5.0,
            high: 5.0,
        },
        Distribution::Uniform {
            low: -5.0,
            high: 5.0,
        },
    ];
    let seeds = 0..10;
    let mean = |cfg: Option<&TpeConfig>| {
        seeds
            .clone()
            .map(|s| best_after(&space, quadratic, 50, s, cfg))
            .sum::<f64>()
            / 10.0
    };
    let rand = mean(None);
    let uni = mean(Some(&TpeConfig::default()));
    let multi = mean(Some(&TpeConfig {
        multivariate: true,
        ..TpeConfig::default()
    }));
    assert!(uni < 0.5 * rand, "univariate TPE {uni} vs random {rand}");
    assert!(
        multi < 0.5 * rand,
        "multivariate TPE {multi} vs random {rand}"
    );
}

fn int_choice(v: &[Value]) -> f64 {
    match v {
        [Value::Int(i), Value::Choice(c)] => {
            ((i - 7) as f64).powi(2) + if *c == 2 { 0.0 } else { 5.0 }
        }
        _ => unreachable!(),
    }
}

/// Over 10 seeds of 40 trials, the share of trials 11..40 on the best choice and their mean
/// distance to the best integer.
fn int_choice_focus(cfg: Option<&TpeConfig>) -> (f64, f64) {
    let space = vec![
        Distribution::Int {
            low: 0,
            high: 40,
            log: false,
        },
        Distribution::Choice { n: 5 },
    ];
    let (mut on_best, mut dist, mut n) = (0.0, 0.0, 0.0);
    for seed in 0..10 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut history = Vec::new();
        for t in 0..40 {
            let params = match cfg {
                Some(cfg) => tpe(&space, &history, Direction::Minimize, cfg, &mut rng),
                None => random(&space, &mut rng),
            };
            if t >= 10
                && let [Value::Int(i), Value::Choice(c)] = params[..]
            {
                on_best += f64::from(c == 2);
                dist += (i - 7).abs() as f64;
                n += 1.0;
            }
            let v = int_choice(&params);
            history.push(Observation {
                params,
                state: State::Complete(v),
            });
        }
    }
    (on_best / n, dist / n)
}

#[test]
fn tpe_focuses_on_good_ints_and_choices() {
    let (rand_share, rand_dist) = int_choice_focus(None);
    let (share, dist) = int_choice_focus(Some(&TpeConfig::default()));
    // Random search: a share of ~0.2 and a mean distance of ~17.
    assert!(
        share > 1.5 * rand_share,
        "best-choice share: TPE {share}, random {rand_share}"
    );
    assert!(
        dist < 0.6 * rand_dist,
        "distance to the best int: TPE {dist}, random {rand_dist}"
    );
}

#[test]
fn tpe_samples_at_random_before_startup_trials() {
    let space = mixed_space();
    let cfg = TpeConfig::default();
    let history = random_history(&space, cfg.startup_trials - 1, 2, mixed_objective);
    let mut a = StdRng::seed_from_u64(9);
    let mut b = StdRng::seed_from_u64(9);
    assert_eq!(
        tpe(&space, &history, Direction::Minimize, &cfg, &mut a),
        random(&space, &mut b),
        "with {} observations TPE is random search",
        history.len()
    );
    // With startup_trials of them, it is not.
    let history = random_history(&space, cfg.startup_trials, 2, mixed_objective);
    let mut a = StdRng::seed_from_u64(9);
    let mut b = StdRng::seed_from_u64(9);
    assert_ne!(
        tpe(&space, &history, Direction::Minimize, &cfg, &mut a),
        random(&space, &mut b)
    );
}

#[test]
fn failed_trials_are_ignored() {
    let space = mixed_space();
    let cfg = TpeConfig::default();
    let history = random_history(&space, 15, 4, mixed_objective);
    let mut with_failed = Vec::new();
    for (i, o) in history.iter().enumerate() {
        with_failed.push(o.clone());
        if i % 3 == 0 {
            // A failed trial and a NaN objective: neither may move the proposal.
            let params = random(&space, &mut StdRng::seed_from_u64(100 + i as u64));
            with_failed.push(Observation {
                params: params.clone(),
                state: State::Failed,
            });
            with_failed.push(Observation {
                params,
                state: State::Complete(f64::NAN),
            });
        }
    }
    for seed in 0..5 {
        let mut a = StdRng::seed_from_u64(seed);
        let mut b = StdRng::seed_from_u64(seed);
        assert_eq!(
            tpe(&space, &history, Direction::Minimize, &cfg, &mut a),
            tpe(&space, &with_failed, Direction::Minimize, &cfg, &mut b)
        );
    }
    // Failed trials do not count towards the startup phase either.
    let mut short = random_history(&space, 9, 4, mixed_objective);
    short.extend(std::iter::repeat_n(
        Observation {
            params: history[0].params.clone(),
            state: State::Failed,
        },
        5,
    ));
    let mut a = StdRng::seed_from_u64(1);
    let mut b = StdRng::seed_from_u64(1);
    assert_eq!(
        tpe(&space, &short, Direction::Minimize, &cfg, &mut a),
        random(&space, &mut b)
    );
}

#[test]
fn pruned_trials_count_but_rank_after_complete_ones() {
    let space = vec![Distribution::Uniform {
        low: -5.0,
        high: 5.0,
    }];
    let cfg = TpeConfig::default();
    let at = |x: f64, state| Observation {
        params: vec![Value::Float(x)],
        state,
    };
    // 10 trials, so one is "good" (gamma(10) = 1): the one complete trial at x = -4, though the
    // pruned trials near +4 reported better (lower) values before they were stopped.
    let mut history = vec![at(-4.0, State::Complete(10.0))];
    for k in 0..9 {
        history.push(at(
            2.0 + 0.3 * k as f64,
            State::Pruned {
                step: 5,
                value: -100.0,
            },
        ));
    }
    let mean = |h: &[Observation], dir| {
        (0..20)
            .map(
                |s| match tpe(&space, h, dir, &cfg, &mut StdRng::seed_from_u64(s))[0] {
                    Value::Float(x) => x,
                    _ => unreachable!(),
                },
            )
            .sum::<f64>()
            / 20.0
    };
    // Pruned trials count towards startup (else this would be random, mean near 0) and are
    // ranked below the complete one whatever their values, for either direction.
    assert!(mean(&history, Direction::Minimize) < -1.5);
    assert!(mean(&history, Direction::Maximize) < -1.5);
    // Among pruned trials only, the one that got furthest is the good one.
    let mut pruned: Vec<Observation> = (0..9)
        .map(|k| {
            at(
                -4.0 + 0.3 * k as f64,
                State::Pruned {
                    step: 2,
                    value: -100.0,
                },
            )
        })
        .collect();
    pruned.push(at(
        4.0,
        State::Pruned {
            step: 9,
            value: 50.0,
        },
    ));
    assert!(mean(&pruned, Direction::Minimize) > 1.5);
}
