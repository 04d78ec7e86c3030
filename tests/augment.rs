//! Augmentation ops: shapes, value ranges, known pixel results, determinism per (seed, epoch, i).

use rand::SeedableRng;
use rand::rngs::StdRng;
use sweep::data::Prepared;
use sweep::data::augment::{self, Op};

const S: usize = 8;

/// A ramp image: pixel (y, x) of channel c is (c * 64 + y * 8 + x) / 255.
fn ramp(c: usize) -> Vec<f32> {
    (0..c * S * S).map(|v| v as f32 / 255.0).collect()
}

fn apply(op: &Op, img: &[f32], c: usize, seed: u64) -> Vec<f32> {
    let mut out = img.to_vec();
    let mean = vec![0.5; c];
    augment::apply(op, &mut out, c, S, &mean, &mut StdRng::seed_from_u64(seed));
    out
}

fn all_ops() -> Vec<Op> {
    let toml = r#"ops = [
        { op = "crop", padding = 2 }, "resized-crop", { op = "flip", p = 1.0 },
        { op = "vflip", p = 1.0 }, { op = "rotate", degrees = 30 }, "translate",
        { op = "jitter", brightness = 0.4, contrast = 0.4, saturation = 0.4 },
        { op = "noise", std = 0.1 }, { op = "erase", p = 1.0 }, { op = "cutout", size = 4 },
    ]"#;
    #[derive(serde::Deserialize)]
    struct F {
        #[serde(deserialize_with = "augment::deserialize_ops")]
        ops: Vec<Op>,
    }
    toml::from_str::<F>(toml).unwrap().ops
}

#[test]
fn names_and_tables_parse_with_their_defaults() {
    let ops = all_ops();
    assert_eq!(ops.len(), 10);
    assert_eq!(
        ops[1],
        Op::ResizedCrop {
            scale: [0.08, 1.0],
            ratio: [0.75, 4.0 / 3.0]
        }
    );
    assert_eq!(ops[5], Op::Translate { fraction: 0.1 });
    #[derive(serde::Deserialize, Debug)]
    struct F {
        #[serde(deserialize_with = "augment::deserialize_ops")]
        _ops: Vec<Op>,
    }
    let bad = toml::from_str::<F>(r#"_ops = ["fl1p"]"#).unwrap_err();
    assert!(bad.to_string().contains("unknown variant `fl1p`"), "{bad}");
    assert!(bad.to_string().contains("flip"), "{bad}");
    let bad = toml::from_str::<F>(r#"_ops = [{ op = "crop", pad = 2 }]"#).unwrap_err();
    assert!(bad.to_string().contains("unknown field `pad`"), "{bad}");
}

#[test]
fn every_op_keeps_shape_range_and_is_deterministic_per_seed() {
    for c in [1, 3] {
        let img = ramp(c);
        for op in all_ops() {
            let a = apply(&op, &img, c, 7);
            assert_eq!(a.len(), img.len(), "{op:?}");
            assert!(
                a.iter().all(|v| (0.0..=1.0).contains(v)),
                "{op:?} left [0, 1]"
            );
            assert_eq!(a, apply(&op, &img, c, 7), "{op:?} is not deterministic");
            // Flips with p = 1 are the same every time; every other op is random.
            if !matches!(op, Op::Flip { .. } | Op::Vflip { .. }) {
                let changed = (0..20).any(|seed| apply(&op, &img, c, seed) != a);
                assert!(changed, "{op:?} gives the same result for every seed");
            }
        }
    }
}

#[test]
fn flip_mirrors_columns_and_vflip_rows() {
    let img = ramp(1);
    let f = apply(&Op::Flip { p: 1.0 }, &img, 1, 0);
    assert_eq!(f[0], img[S - 1]);
    assert_eq!(f[3 * S + 2], img[3 * S + S - 1 - 2]);
    assert_eq!(apply(&Op::Flip { p: 0.0 }, &img, 1, 0), img);
    let v = apply(&Op::Vflip { p: 1.0 }, &img, 1, 0);
    assert_eq!(v[2], img[(S - 1) * S + 2]);
    assert_eq!(v[(S - 1) * S + 5], img[5]);
}

#[test]
fn padded_crop_is_a_shift_with_black_fill() {
    let img: Vec<f32> = vec![1.0; S * S];
    for seed in 0..30 {
        let out = apply(&Op::Crop { padding: 2 }, &img, 1, seed);
        // A crop of the padded image: black rows/columns at one side only, at most 2 wide.
        let black_rows: Vec<usize> = (0..S)
            .filter(|&y| out[y * S..(y + 1) * S].iter().all(|&v| v == 0.0))
            .collect();
        assert!(black_rows.len() <= 2);
        assert!(
            black_rows.iter().all(|&y| y < 2) || black_rows.iter().all(|&y| y >= S - 2),
            "{black_rows:?}"
        );
        let ones = out.iter().filter(|&&v| v == 1.0).count();
        assert_eq!(ones + out.iter().filter(|&&v| v == 0.0).count(), S * S);
    }
    // With the ramp, the kept pixels are the original ones moved as a block.
    let img = ramp(1);
    let out = apply(&Op::Crop { padding: 1 }, &img, 1, 3);
    let (dy, dx) = (-1..=1)
        .flat_map(|dy| (-1..=1).map(move |dx| (dy, dx)))
        .find(|&(dy, dx): &(isize, isize)| {
            (0..S as isize).all(|y| {
                (0..S as isize).all(|x| {
                    let (sy, sx) = (y - dy, x - dx);
                    let want = if (0..S as isize).contains(&sy) && (0..S as isize).contains(&sx) {
                        img[sy as usize * S + sx as usize]
                    } else {
                        0.0
                    };
                    out[y as usize * S + x as usize] == want
                })
            })
        })
        .expect("the crop is a shift of at most the padding");
    assert!(dy.abs() <= 1 && dx.abs() <= 1);
}

#[test]
fn cutout_and_erase_fill_with_the_mean() {
    let img = vec![1.0f32; S * S];
    let out = apply(&Op::Cutout { size: 4 }, &img, 1, 1);
    let filled = out.iter().filter(|&&v| v == 0.5).count();
    assert!((4..=16).contains(&filled), "{filled}");
    let out = apply(
        &Op::Erase {
            p: 1.0,
            scale: [0.1, 0.2],
            ratio: [1.0, 1.0],
        },
        &img,
        1,
        2,
    );
    let filled = out.iter().filter(|&&v| v == 0.5).count();
    assert!((4..=16).contains(&filled), "{filled}");
}

#[test]
fn rotation_by_zero_and_translation_by_zero_change_nothing() {
    let img = ramp(3);
    assert_eq!(apply(&Op::Rotate { degrees: 0.0 }, &img, 3, 1), img);
    assert_eq!(apply(&Op::Translate { fraction: 0.0 }, &img, 3, 1), img);
    let bright = apply(
        &Op::Jitter {
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
        },
        &img,
        3,
        1,
    );
    for (a, b) in bright.iter().zip(&img) {
        assert!((a - b).abs() < 1e-6);
    }
}

fn prepared(n: usize) -> Prepared {
    let per = S * S;
    Prepared {
        name: "toy".into(),
        channels: 1,
        size: S,
        classes: 2,
        pixels: (0..n * per).map(|v| (v % 97) as f32 / 97.0 - 0.5).collect(),
        labels: (0..n).map(|i| (i % 2) as u8).collect(),
        pool: (0..n).collect(),
        test: vec![],
        mean: vec![0.3],
        std: vec![0.2],
    }
}

#[test]
fn a_sample_gets_the_same_transform_whatever_batch_it_is_in() {
    let data = prepared(10);
    let ops = all_ops();
    let a = augment::batch(&data, &[3, 4, 5], &ops, 9, 2, 0);
    let b = augment::batch(&data, &[7, 4], &ops, 9, 2, 5);
    let per = S * S;
    assert_eq!(a.pixels[per..2 * per], b.pixels[per..2 * per]);
    // Another epoch or another seed: another transform.
    let c = augment::batch(&data, &[7, 4], &ops, 9, 3, 5);
    let d = augment::batch(&data, &[7, 4], &ops, 10, 2, 5);
    assert_ne!(b.pixels[per..], c.pixels[per..]);
    assert_ne!(b.pixels[per..], d.pixels[per..]);
    // No ops: the prepared pixels as they are.
    let plain = augment::batch(&data, &[1, 2], &[], 9, 2, 0);
    assert_eq!(plain.pixels, data.gather(&[1, 2]).0);
    assert_eq!(plain.mix, None);
}

#[test]
fn mixup_blends_images_and_labels_with_one_weight() {
    let data = prepared(6);
    let idx = [0, 1, 2, 3, 4, 5];
    let b = augment::batch(&data, &idx, &[Op::Mixup { alpha: 0.4 }], 1, 1, 0);
    let (partner, lam) = b.mix.clone().expect("mixed");
    assert!((0.0..=1.0).contains(&lam));
    let per = S * S;
    let (orig, labels) = data.gather(&idx);
    for i in 0..6 {
        // Find the partner image: the one whose blend reproduces the output.
        let j = (0..6)
            .find(|&j| {
                (0..per).all(|p| {
                    let want = lam * orig[i * per + p] + (1.0 - lam) * orig[j * per + p];
                    (b.pixels[i * per + p] - want).abs() < 1e-5
                })
            })
            .expect("each output is a blend of two inputs");
        assert_eq!(partner[i], labels[j]);
    }
    assert_eq!(
        b,
        augment::batch(&data, &idx, &[Op::Mixup { alpha: 0.4 }], 1, 1, 0)
    );
}

#[test]
fn cutmix_weight_is_the_kept_area() {
    let data = prepared(4);
    let idx = [0, 1, 2, 3];
    let (orig, _) = data.gather(&idx);
    let per = S * S;
    for seed in 0..10 {
        let b = augment::batch(&data, &idx, &[Op::Cutmix { alpha: 1.0 }], seed, 1, 0);
        let (_, lam) = b.mix.expect("mixed");
        let kept = (0..per).filter(|&p| b.pixels[p] == orig[p]).count();
        // Pixels equal by chance in the pasted box make `kept` at least the true area.
        assert!(kept as f32 / per as f32 >= lam - 1e-6, "seed {seed}");
    }
}

#[test]
fn out_of_range_settings_are_refused() {
    assert!(Op::Flip { p: 1.5 }.check().is_err());
    assert!(
        Op::ResizedCrop {
            scale: [0.9, 0.1],
            ratio: [0.75, 1.33]
        }
        .check()
        .is_err()
    );
    assert!(Op::Mixup { alpha: 0.0 }.check().is_err());
    assert!(Op::Cutout { size: 4 }.check().is_ok());
}

#[test]
fn preview_grid_has_one_tile_per_image_and_version() {
    let data = prepared(10);
    let img = sweep::data::preview::grid(&data, &all_ops(), 0, 4, 3, 2);
    // 4 columns (original + 3) of 16-pixel tiles with 2-pixel gaps; 4 rows.
    assert_eq!(img.width() as usize, 4 * (16 + 2) + 2);
    assert_eq!(img.height() as usize, 4 * (16 + 2) + 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/preview.png");
    sweep::data::preview::write_png(&img, &path).unwrap();
    let back = image::open(&path).unwrap().to_rgb8();
    assert_eq!(back, img);
    // The original column shows the stored pixels: first tile's top-left pixel.
    let v = data.pixels[0] * 0.2 + 0.3;
    let want = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    assert_eq!(img.get_pixel(2, 2)[0], want);
}
