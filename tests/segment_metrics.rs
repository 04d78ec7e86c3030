//! Segmentation metrics: a case worked by hand, the errors, and (`scripts/parity.sh`, ignored
//! otherwise) parity with the numpy reference of `scripts/parity_segment.py` within 1e-9.

use sweep::task::segment::metrics::Confusion;

#[test]
fn metrics_come_from_one_confusion_matrix_over_the_split() {
    // Two images. Truth/pred pixels: image 1 (0,0) (0,1) (1,1) (255,0); image 2 (1,1) (1,0).
    let mut m = Confusion::new(3, Some(255));
    m.add(&[0, 0, 1, 255], &[0, 1, 1, 0]).unwrap();
    m.add(&[1, 1], &[1, 0]).unwrap();
    let s = m.stats();
    // Confusion: t0 -> p0 1, p1 1; t1 -> p0 1, p1 2. Class 2 absent everywhere.
    assert_eq!(s.pixels, 5);
    assert_eq!(s.pixel_accuracy, 3.0 / 5.0);
    assert_eq!(s.iou, vec![Some(1.0 / 3.0), Some(2.0 / 4.0), None]);
    assert_eq!(s.dice, vec![Some(2.0 / 4.0), Some(4.0 / 6.0), None]);
    assert!((s.miou - (1.0 / 3.0 + 0.5) / 2.0).abs() < 1e-15);
    assert!((s.mean_dice - (0.5 + 4.0 / 6.0) / 2.0).abs() < 1e-15);
    // The mean of per-image mIoUs would differ: image 2 alone has mIoU (0 + 1/2) / 2.
    let mut two = Confusion::new(3, Some(255));
    two.add(&[1, 1], &[1, 0]).unwrap();
    assert_ne!(two.stats().miou, s.miou);
    // Merging shares gives the whole.
    let mut a = Confusion::new(3, Some(255));
    a.add(&[0, 0, 1, 255], &[0, 1, 1, 0]).unwrap();
    a.merge(&two);
    assert_eq!(a, m);
}

#[test]
fn bad_masks_are_errors_that_say_what_is_wrong() {
    let mut m = Confusion::new(3, Some(255));
    let e = m.add(&[0, 1], &[0]).unwrap_err();
    assert!(e.contains("1 pixels and the truth 2"), "{e}");
    let e = m.add(&[0, 7], &[0, 1]).unwrap_err();
    assert!(
        e.contains("true class 7 is out of range: 3 classes (0..2), 255 ignored"),
        "{e}"
    );
    let e = m.add(&[0, 1], &[0, 3]).unwrap_err();
    assert!(e.contains("predicted class 3"), "{e}");
    assert_eq!(m.stats().pixels, 0, "a bad image must not be half counted");
}

#[derive(serde::Deserialize)]
struct Case {
    classes: usize,
    ignore: Option<u32>,
    images: Vec<(Vec<u32>, Vec<u32>)>,
    expected: sweep::task::segment::metrics::Stats,
}

#[test]
#[ignore = "needs scripts/parity_segment.py's cases (scripts/parity.sh)"]
fn metrics_equal_the_numpy_reference() {
    let dir = std::env::var("SWEEP_PARITY_DIR").unwrap_or_else(|_| "target/parity".into());
    let path = std::path::Path::new(&dir)
        .join("segment")
        .join("cases.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/parity.sh", path.display()));
    let cases: Vec<Case> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 30);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9;
    let mut worst: f64 = 0.0;
    for (k, c) in cases.iter().enumerate() {
        let mut m = Confusion::new(c.classes, c.ignore);
        for (t, p) in &c.images {
            m.add(t, p).unwrap();
        }
        let s = m.stats();
        let e = &c.expected;
        assert_eq!(s.pixels, e.pixels, "case {k}");
        for (name, a, b) in [
            ("miou", s.miou, e.miou),
            ("mean_dice", s.mean_dice, e.mean_dice),
            ("pixel_accuracy", s.pixel_accuracy, e.pixel_accuracy),
        ] {
            assert!(close(a, b), "case {k} {name}: {a} vs {b}");
            worst = worst.max((a - b).abs());
        }
        for (name, a, b) in [("iou", &s.iou, &e.iou), ("dice", &s.dice, &e.dice)] {
            assert_eq!(a.len(), b.len());
            for (c, (x, y)) in a.iter().zip(b).enumerate() {
                match (x, y) {
                    (Some(x), Some(y)) => {
                        assert!(close(*x, *y), "case {k} {name}[{c}]: {x} vs {y}");
                        worst = worst.max((x - y).abs());
                    }
                    (None, None) => {}
                    _ => panic!("case {k} {name}[{c}]: {x:?} vs {y:?}"),
                }
            }
        }
    }
    println!(
        "segment metrics: {} cases equal the numpy reference (largest difference {worst:.1e})",
        cases.len()
    );
}
