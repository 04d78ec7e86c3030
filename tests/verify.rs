//! `sweep verify`'s judgement across machines, and the platform facts a manifest records.

use sweep::sweep::platform::{BURN_VERSION, Platform};
use sweep::sweep::verify::Check;

fn check(recorded: f64, now: f64, exact: bool, platform: &[&str], tol: Option<f64>) -> Check {
    Check {
        id: "a".into(),
        accuracy: (recorded, now),
        metrics_match: exact,
        weights_match: exact,
        platform: platform.iter().map(|s| s.to_string()).collect(),
        tolerance: tol,
    }
}

#[test]
fn a_platform_difference_is_judged_by_the_seed_spread_and_named() {
    let simd = ["SIMD: x86-64-v4 (AVX-512) -> x86-64-v3 (AVX2, FMA)"];
    let same = check(0.80, 0.80, true, &simd, Some(0.02));
    assert!(same.ok() && same.verdict() == "reproduced");

    let near = check(0.80, 0.81, false, &simd, Some(0.02));
    assert!(near.ok(), "{}", near.verdict());
    assert!(
        near.verdict()
            .starts_with("reproduced within float tolerance ±0.0200")
    );
    assert!(
        near.verdict()
            .contains("SIMD: x86-64-v4 (AVX-512) -> x86-64-v3")
    );

    let far = check(0.80, 0.85, false, &simd, Some(0.02));
    assert!(!far.ok());
    assert!(far.verdict().starts_with("MISMATCH beyond float tolerance"));

    let unjudged = check(0.80, 0.80, false, &simd, None);
    assert!(!unjudged.ok() && unjudged.verdict().contains("too few"));

    // On the same platform only bit-for-bit counts, however close.
    let here = check(0.80, 0.8000001, false, &[], Some(0.02));
    assert!(!here.ok() && here.verdict() == "MISMATCH");
}

#[test]
fn the_platform_records_what_floats_depend_on_and_lists_differences() {
    let p = Platform::current(&burn::tensor::Device::flex().autodiff(), 2);
    assert!(
        !p.cpu.is_empty() && !p.simd.is_empty() && !p.os.is_empty(),
        "{p:?}"
    );
    let flex = format!(
        "flex (CPU, kernels {})",
        sweep::model::kernels::FLEX_REVISION
    );
    assert_eq!(
        (p.backend.as_str(), p.device.as_str()),
        (flex.as_str(), "cpu")
    );
    assert_eq!(p.threads, 2);
    assert!(p.differences(&p.clone()).is_empty());
    // Another SIMD level than this machine's (which is either).
    let simd = match p.simd.starts_with("x86-64-v3") {
        true => "x86-64-v4 (AVX-512)",
        false => "x86-64-v3 (AVX2, FMA)",
    };
    let other = Platform {
        simd: simd.into(),
        threads: 1,
        ..p.clone()
    };
    let d = p.differences(&other);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].starts_with("SIMD: ") && d[0].ends_with(&format!("-> {simd}")));
    assert_eq!(d[1], "threads: 2 -> 1");
    // A manifest from before these facts were recorded differs in each of them.
    let old = Platform {
        threads: 2,
        backend: "flex (CPU)".into(),
        ..Default::default()
    };
    assert!(
        old.differences(&p)
            .iter()
            .any(|s| s.contains("not recorded"))
    );
    // A run trained before the kernels' floats last changed: told apart by its backend.
    let before = Platform {
        backend: "flex (CPU)".into(),
        ..p.clone()
    };
    assert_eq!(
        before.differences(&p),
        [format!("backend: flex (CPU) -> {flex}")]
    );
}

#[test]
fn the_recorded_burn_version_is_the_pinned_one() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    let pin = format!("burn = {{ version = \"={BURN_VERSION}\"");
    assert!(manifest.unwrap().contains(&pin), "Cargo.toml pins {pin}");
}
