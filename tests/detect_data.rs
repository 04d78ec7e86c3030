//! Detection data: the generated digit-scenes, box-aware augmentation, the COCO/YOLO/VOC
//! loaders (and their errors on bad files), and the COCO export read back.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use sweep::task::detect::augment::{self, BoxOp};
use sweep::task::detect::scenes::{self, INK, Placement, ScenesConfig};
use sweep::task::detect::{BBox, DetDataset, Object, Scene, export, formats, yaml};

fn small() -> ScenesConfig {
    ScenesConfig {
        train_scenes: 20,
        test_scenes: 20,
        ..ScenesConfig::default()
    }
}

fn inside(b: &BBox, x: usize, y: usize) -> bool {
    let (x, y) = (x as f32 + 0.5, y as f32 + 0.5);
    x > b.x && x < b.right() && y > b.y && y < b.bottom()
}

#[test]
fn digit_scenes_are_deterministic() {
    let cfg = small();
    let a = scenes::generate(&cfg).unwrap();
    let b = scenes::generate(&cfg).unwrap();
    assert_eq!(a, b);
    assert_eq!(scenes::digit_scenes(&cfg).unwrap(), a.dataset);
    let other = scenes::digit_scenes(&ScenesConfig { seed: 1, ..cfg }).unwrap();
    assert_ne!(other.train, a.dataset.train, "the seed must matter");
    let ds = &a.dataset;
    assert_eq!((ds.train.len(), ds.test.len(), ds.channels), (20, 20, 1));
    assert_eq!(
        ds.classes,
        (0..10).map(|c| c.to_string()).collect::<Vec<_>>()
    );
    let ids: HashSet<u64> = ds.train.iter().chain(&ds.test).map(|s| s.id).collect();
    assert_eq!(ids.len(), 40);
    assert!(!ids.contains(&0), "COCO-like ids start at 1");
}

#[test]
fn digit_scene_boxes_are_inside_and_tight() {
    let ds = scenes::digit_scenes(&small()).unwrap();
    let mut classes = BTreeSet::new();
    for s in ds.train.iter().chain(&ds.test) {
        let c = s.width;
        assert_eq!((s.width, s.height, s.pixels.len()), (64, 64, 64 * 64));
        assert!(
            (1..=5).contains(&s.objects.len()),
            "{} objects",
            s.objects.len()
        );
        let px = |x: usize, y: usize| s.pixels[y * c + x];
        for (k, o) in s.objects.iter().enumerate() {
            classes.insert(o.class);
            let b = o.bbox;
            assert!(b.x >= 0.0 && b.y >= 0.0 && b.right() <= 64.0 && b.bottom() <= 64.0);
            assert!(b.w >= 1.0 && b.h >= 1.0);
            assert_eq!(o.area, b.area());
            assert!(!o.crowd && !o.ignore);
            let (x0, y0) = (b.x as usize, b.y as usize);
            let (x1, y1) = (b.right() as usize, b.bottom() as usize);
            assert_eq!((x0 as f32, x1 as f32), (b.x, b.right()), "whole pixels");
            // Ink on every edge row and column of the box.
            assert!((x0..x1).any(|x| px(x, y0) > INK), "top edge of {b:?} blank");
            assert!((x0..x1).any(|x| px(x, y1 - 1) > INK), "bottom edge blank");
            assert!((y0..y1).any(|y| px(x0, y) > INK), "left edge blank");
            assert!((y0..y1).any(|y| px(x1 - 1, y) > INK), "right edge blank");
            // No ink just outside it, where no other object's box reaches.
            let others = |x: usize, y: usize| {
                s.objects
                    .iter()
                    .enumerate()
                    .any(|(j, p)| j != k && inside(&p.bbox, x, y))
            };
            let mut outside = Vec::new();
            if y0 > 0 {
                outside.extend((x0..x1).map(|x| (x, y0 - 1)));
            }
            if y1 < c {
                outside.extend((x0..x1).map(|x| (x, y1)));
            }
            if x0 > 0 {
                outside.extend((y0..y1).map(|y| (x0 - 1, y)));
            }
            if x1 < c {
                outside.extend((y0..y1).map(|y| (x1, y)));
            }
            for (x, y) in outside {
                if !others(x, y) {
                    assert!(
                        px(x, y) <= INK,
                        "ink {} at ({x}, {y}) outside {b:?}",
                        px(x, y)
                    );
                }
            }
            // Pixels covered by no box at all are background.
        }
        for y in 0..c {
            for x in 0..c {
                if !s.objects.iter().any(|o| inside(&o.bbox, x, y)) {
                    assert!(px(x, y) <= INK, "stray ink at ({x}, {y}) of scene {}", s.id);
                }
            }
        }
        for (i, a) in s.objects.iter().enumerate() {
            for b in &s.objects[i + 1..] {
                assert!(scenes::iou(&a.bbox, &b.bbox) <= scenes::MAX_IOU + 1e-6);
            }
        }
    }
    assert!(classes.len() >= 6, "classes seen: {classes:?}");
}

#[test]
fn digit_scenes_take_train_and_test_digits_from_their_own_side() {
    let g = scenes::generate(&small()).unwrap();
    let mnist = sweep::data::registry::find("mnist-10k")
        .unwrap()
        .load()
        .unwrap();
    let (pool, test) = mnist.split();
    let (pool, test): (HashSet<usize>, HashSet<usize>) =
        (pool.into_iter().collect(), test.into_iter().collect());
    let check = |scenes: &[Scene], placed: &[Vec<Placement>], side: &HashSet<usize>, what: &str| {
        assert_eq!(scenes.len(), placed.len());
        let mut used = 0;
        for (s, placed) in scenes.iter().zip(placed) {
            assert_eq!(s.objects.len(), placed.len());
            // Redrawn from the reported digits, the canvas is the scene's: the placements
            // are the digits actually pasted, not a separate record that could drift.
            let mut canvas = vec![0.0f32; s.width * s.height];
            for (o, p) in s.objects.iter().zip(placed) {
                assert!(
                    side.contains(&p.digit),
                    "{what} scene {} uses digit {}",
                    s.id,
                    p.digit
                );
                assert_eq!(
                    o.class, mnist.labels[p.digit] as usize,
                    "class is the digit's label"
                );
                let digit = &mnist.pixels[p.digit * 784..][..784];
                let small = scenes::resize_bilinear(digit, 28, p.size);
                for r in 0..p.size {
                    for c in 0..p.size {
                        let v = &mut canvas[(p.y + r) * s.width + p.x + c];
                        *v = v.max(small[r * p.size + c]);
                    }
                }
                assert!(o.bbox.x >= p.x as f32 && o.bbox.right() <= (p.x + p.size) as f32);
                used += 1;
            }
            assert!(
                canvas == s.pixels,
                "{what} scene {} is not its placements",
                s.id
            );
        }
        assert!(used > 20);
    };
    check(&g.dataset.train, &g.train_placements, &pool, "train");
    check(&g.dataset.test, &g.test_placements, &test, "test");
    let train: HashSet<usize> = g
        .train_placements
        .iter()
        .flatten()
        .map(|p| p.digit)
        .collect();
    assert!(
        g.test_placements
            .iter()
            .flatten()
            .all(|p| !train.contains(&p.digit))
    );
}

#[test]
fn digit_scenes_at_full_size_and_bad_settings() {
    let t = std::time::Instant::now();
    let ds = scenes::digit_scenes(&ScenesConfig::default()).unwrap();
    eprintln!("2500 scenes in {:?}", t.elapsed());
    assert_eq!((ds.train.len(), ds.test.len()), (2000, 500));
    let bad = ScenesConfig {
        max_size: 80,
        ..small()
    };
    let err = format!("{:#}", scenes::digit_scenes(&bad).unwrap_err());
    assert!(
        err.contains("80 px digit does not fit a 64 px canvas"),
        "{err}"
    );
    let bad = ScenesConfig {
        min_objects: 6,
        ..small()
    };
    assert!(scenes::digit_scenes(&bad).is_err());
}

/// A 32x32 grey scene, black but for a bright rectangle that is its only object.
fn rect_scene(x: usize, y: usize, w: usize, h: usize) -> Scene {
    let mut pixels = vec![0.0; 32 * 32];
    for r in y..y + h {
        for c in x..x + w {
            pixels[r * 32 + c] = 1.0;
        }
    }
    let bbox = BBox {
        x: x as f32,
        y: y as f32,
        w: w as f32,
        h: h as f32,
    };
    Scene {
        id: 1,
        file: "r.png".into(),
        width: 32,
        height: 32,
        pixels,
        objects: vec![Object {
            bbox,
            class: 2,
            crowd: false,
            ignore: false,
            area: bbox.area(),
        }],
    }
}

/// Bounds (x0, y0, x1, y1, exclusive) and count of the pixels brighter than 1/2.
fn bright(s: &Scene) -> Option<(f32, f32, f32, f32, usize)> {
    let (mut b, mut n) = ((f32::MAX, f32::MAX, 0f32, 0f32), 0);
    for y in 0..s.height {
        for x in 0..s.width {
            if s.pixels[y * s.width + x] > 0.5 {
                b = (
                    b.0.min(x as f32),
                    b.1.min(y as f32),
                    b.2.max(x as f32 + 1.0),
                    b.3.max(y as f32 + 1.0),
                );
                n += 1;
            }
        }
    }
    (n > 0).then_some((b.0, b.1, b.2, b.3, n))
}

/// The scene's one box covers the bright pixels within a pixel, or the box was dropped
/// because the rectangle left the image. Returns whether the box was kept.
fn box_on_pixels(s: &Scene, what: &str) -> bool {
    match (s.objects.as_slice(), bright(s)) {
        ([o], Some((x0, y0, x1, y1, _))) => {
            let b = o.bbox;
            for (got, want) in [(b.x, x0), (b.y, y0), (b.right(), x1), (b.bottom(), y1)] {
                assert!(
                    (got - want).abs() <= 1.0,
                    "{what}: box {b:?} vs bright pixels {x0} {y0} {x1} {y1}"
                );
            }
            assert!(b.x >= 0.0 && b.y >= 0.0 && b.right() <= 32.0 && b.bottom() <= 32.0);
            assert_eq!(o.class, 2);
            true
        }
        ([o], None) => panic!("{what}: box {:?} kept on a black image", o.bbox),
        ([], None) => false,
        ([], Some((x0, y0, x1, y1, _))) => {
            // Dropped while visible: only when cut by the border.
            let cut = x0 == 0.0 || y0 == 0.0 || x1 == 32.0 || y1 == 32.0;
            assert!(
                cut,
                "{what}: box dropped though the rectangle is inside the image"
            );
            false
        }
        (objects, _) => panic!("{what}: {} objects from one", objects.len()),
    }
}

#[test]
fn flip_resize_scale_translate_and_crop_move_boxes_with_pixels() {
    let s = rect_scene(4, 6, 12, 8);
    let f = augment::hflip(&s);
    assert_eq!(
        f.objects[0].bbox,
        BBox {
            x: 16.0,
            y: 6.0,
            w: 12.0,
            h: 8.0
        }
    );
    assert_eq!(bright(&f).unwrap(), (16.0, 6.0, 28.0, 14.0, 96));
    let r = augment::resize(&s, 64);
    assert_eq!(
        r.objects[0].bbox,
        BBox {
            x: 8.0,
            y: 12.0,
            w: 24.0,
            h: 16.0
        }
    );
    assert_eq!((r.width, r.height, r.pixels.len()), (64, 64, 64 * 64));
    assert_eq!(r.objects[0].area, 4.0 * s.objects[0].area);
    let r = augment::resize(&s, 16);
    assert_eq!(
        r.objects[0].bbox,
        BBox {
            x: 2.0,
            y: 3.0,
            w: 6.0,
            h: 4.0
        }
    );
    // Zoom in, zoom out, shift: the box follows the rectangle.
    for (scale, dx, dy) in [(1.5, -5.0, -3.0), (0.5, 3.0, 7.0), (1.0, 10.0, -2.0)] {
        let t = augment::scale_translate(&s, scale, dx, dy);
        assert!(box_on_pixels(&t, &format!("scale {scale} shift {dx} {dy}")));
    }
    // Shifted until 3 of its 12 columns remain: dropped; until 8 remain: kept and clipped.
    assert!(
        augment::scale_translate(&s, 1.0, 25.0, 0.0)
            .objects
            .is_empty()
    );
    let kept = augment::scale_translate(&s, 1.0, 20.0, 0.0);
    assert_eq!(
        kept.objects[0].bbox,
        BBox {
            x: 24.0,
            y: 6.0,
            w: 8.0,
            h: 8.0
        }
    );
    assert!(box_on_pixels(&kept, "clipped"));
    // A 3-pixel-high rectangle halved is too thin to keep even when whole.
    let thin = augment::scale_translate(&rect_scene(4, 6, 12, 3), 0.5, 0.0, 0.0);
    assert!(thin.objects.is_empty());
    let c = augment::crop(&s, 2.0, 4.0, 16.0, 16.0);
    assert_eq!(
        c.objects[0].bbox,
        BBox {
            x: 4.0,
            y: 4.0,
            w: 24.0,
            h: 16.0
        }
    );
    assert!(box_on_pixels(&c, "crop"));
    assert!(augment::crop(&s, 16.0, 16.0, 16.0, 16.0).objects.is_empty());
}

#[test]
fn random_box_ops_keep_boxes_on_their_pixels_and_are_deterministic() {
    let s = rect_scene(3, 5, 10, 9);
    let ops = [
        BoxOp::Flip,
        BoxOp::ScaleTranslate { min: 0.6, max: 2.5 },
        BoxOp::Crop { min: 0.4, max: 1.0 },
    ];
    for op in &ops {
        op.check().unwrap();
    }
    assert!(BoxOp::Crop { min: 0.5, max: 1.5 }.check().is_err());
    assert!(
        BoxOp::ScaleTranslate { min: 0.0, max: 1.0 }
            .check()
            .is_err()
    );
    let (mut kept, mut dropped, mut flipped, mut other_epoch) = (0, 0, 0, 0);
    for seed in 0..60 {
        let a = augment::apply(&s, &ops, seed, 3, 7);
        assert!(a == augment::apply(&s, &ops, seed, 3, 7), "seed {seed}");
        if a != augment::apply(&s, &ops, seed, 4, 7) {
            other_epoch += 1;
        }
        assert_eq!((a.width, a.height), (32, 32));
        if box_on_pixels(&a, &format!("seed {seed}")) {
            kept += 1;
        } else {
            dropped += 1;
        }
        for (op, what) in [
            (BoxOp::Flip, "flip"),
            (ops[1].clone(), "zoom"),
            (ops[2].clone(), "crop"),
        ] {
            let one = augment::apply(&s, std::slice::from_ref(&op), seed, 0, 0);
            box_on_pixels(&one, &format!("{what} seed {seed}"));
            if what == "flip" && one != s {
                flipped += 1;
                assert_eq!(one, augment::hflip(&s));
            }
        }
    }
    assert!(kept > 20 && dropped > 0, "kept {kept}, dropped {dropped}");
    assert!(
        other_epoch > 50,
        "the epoch changed only {other_epoch} of 60"
    );
    assert!((15..=45).contains(&flipped), "flipped {flipped} of 60");
    // Out-of-range settings are clamped, never a panic.
    let wild = [
        BoxOp::ScaleTranslate {
            min: f64::NAN,
            max: -3.0,
        },
        BoxOp::Crop { min: 2.0, max: 0.0 },
    ];
    let w = augment::apply(&s, &wild, 1, 0, 0);
    assert_eq!(w.pixels.len(), s.pixels.len());
}

/// Writes a small PNG: grey (value 10 * x + y) or RGB (channels x, y, 100).
fn png(path: &Path, w: u32, h: u32, rgb: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if rgb {
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 100]))
            .save(path)
            .unwrap();
    } else {
        image::GrayImage::from_fn(w, h, |x, y| image::Luma([(10 * x + y) as u8]))
            .save(path)
            .unwrap();
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn close(a: BBox, b: [f32; 4]) -> bool {
    [a.x, a.y, a.w, a.h]
        .iter()
        .zip(b)
        .all(|(p, q)| (p - q).abs() < 1e-4)
}

fn err(name: &str) -> String {
    format!("{:#}", formats::load(name).unwrap_err())
}

const COCO_IMAGES: &str = r#""images": [
    {"id": 1, "file_name": "a.png", "width": 20, "height": 10},
    {"id": 2, "file_name": "sub/b.png", "width": 16, "height": 16},
    {"id": 5, "file_name": "c.png", "width": 8, "height": 8}],
  "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}]"#;

#[test]
fn coco_loads_boxes_classes_crowds_and_areas() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    png(&d.join("img/a.png"), 20, 10, false);
    png(&d.join("img/sub/b.png"), 16, 16, true);
    png(&d.join("img/c.png"), 8, 8, false);
    let json = format!(
        r#"{{{COCO_IMAGES}, "annotations": [
        {{"id": 11, "image_id": 1, "category_id": 3, "bbox": [1, 2, 5, 4], "area": 13.5, "iscrowd": 0}},
        {{"id": 12, "image_id": 1, "category_id": 7, "bbox": [0, 0, 20, 10], "iscrowd": 1}},
        {{"id": 13, "image_id": 2, "category_id": 7, "bbox": [15.25, 0, 0.75, 16.3]}}]}}"#
    );
    write(&d.join("ann/train.json"), &json);
    let ds = formats::load(&format!(
        "coco:{}/ann/train.json:{}/img",
        d.display(),
        d.display()
    ))
    .unwrap();
    assert_eq!(
        ds.classes,
        ["cat", "dog"],
        "category ids 3, 7 become classes 0, 1"
    );
    assert_eq!(
        ds.category_ids,
        [3, 7],
        "and are kept for the files sweep writes"
    );
    // An export names the file's own ids, and detections would be written with them too.
    let out = d.join("exported");
    export::export_coco(&ds, &out).unwrap();
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("train.json")).unwrap()).unwrap();
    let cats: Vec<u64> = exported["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(cats, [3, 7]);
    let det = sweep::task::detect::eval::Detection {
        image: 1,
        class: 1,
        bbox: [0.0; 4],
        score: 0.5,
    };
    assert_eq!(det.to_coco(&ds.category_ids)["category_id"], 7);
    assert_eq!(ds.channels, 3);
    assert!(ds.test.is_empty());
    let ids: Vec<u64> = ds.train.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 2, 5]);
    let a = &ds.train[0];
    assert_eq!((a.width, a.height, a.pixels.len()), (20, 10, 3 * 200));
    // Grey expanded to three equal planes, values as written.
    assert_eq!(a.pixels[..200], a.pixels[200..400]);
    assert_eq!(a.pixels[3 * 20 + 4], (10.0 * 4.0 + 3.0) / 255.0);
    let b = &ds.train[1];
    assert_eq!(b.file, "sub/b.png");
    assert_eq!(
        b.pixels[16 * 16 + 2 * 16 + 5],
        2.0 / 255.0,
        "green plane is y"
    );
    assert_eq!(a.objects.len(), 2);
    assert!(close(a.objects[0].bbox, [1.0, 2.0, 5.0, 4.0]));
    assert_eq!(
        (a.objects[0].class, a.objects[0].crowd, a.objects[0].area),
        (0, false, 13.5)
    );
    assert_eq!(
        (a.objects[1].class, a.objects[1].crowd, a.objects[1].area),
        (1, true, 200.0)
    );
    // 0.3 px past the bottom is within the slack, and clipped.
    assert!(close(b.objects[0].bbox, [15.25, 0.0, 0.75, 16.0]));
    assert!(
        ds.train[2].objects.is_empty(),
        "an image without annotations is kept"
    );
    // Without an images folder, file names are relative to the JSON's folder.
    write(&d.join("img/train.json"), &json);
    let beside = formats::load(&format!("coco:{}/img/train.json", d.display())).unwrap();
    assert_eq!(beside.train, ds.train);
}

#[test]
fn coco_errors_name_the_file_and_the_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    png(&d.join("a.png"), 20, 10, false);
    png(&d.join("sub/b.png"), 16, 16, true);
    png(&d.join("c.png"), 8, 8, false);
    let cases = [
        (
            r#""image_id": 1, "category_id": 3, "bbox": [15, 0, 10, 5]"#,
            "outside the 20x10 image",
        ),
        (
            r#""image_id": 1, "category_id": 3, "bbox": [-1, 0, 4, 5]"#,
            "outside",
        ),
        (
            r#""image_id": 1, "category_id": 3, "bbox": [1, 1, -3, 2]"#,
            "negative",
        ),
        (
            r#""image_id": 1, "category_id": 3, "bbox": [1, 1, 0, 2]"#,
            "zero",
        ),
        (
            r#""image_id": 1, "category_id": 99, "bbox": [1, 1, 3, 2]"#,
            "category id 99",
        ),
        (
            r#""image_id": 77, "category_id": 3, "bbox": [1, 1, 3, 2]"#,
            "image id 77",
        ),
    ];
    for (k, (ann, want)) in cases.iter().enumerate() {
        let file = d.join(format!("bad{k}.json"));
        write(
            &file,
            &format!(r#"{{{COCO_IMAGES}, "annotations": [{{"id": 42, {ann}}}]}}"#),
        );
        let e = err(&format!("coco:{}", file.display()));
        assert!(e.contains(&format!("bad{k}.json")), "{e}");
        assert!(e.contains("annotation id 42"), "{e}");
        assert!(e.contains(want), "{want}: {e}");
    }
    std::fs::remove_file(d.join("c.png")).unwrap();
    write(&d.join("missing.json"), &format!(r#"{{{COCO_IMAGES}}}"#));
    let e = err(&format!("coco:{}", d.join("missing.json").display()));
    assert!(e.contains("missing.json") && e.contains("c.png"), "{e}");
    assert!(e.contains("does not exist"), "{e}");
    write(&d.join("broken.json"), "{\"images\": [");
    assert!(err(&format!("coco:{}", d.join("broken.json").display())).contains("broken.json"));
}

#[test]
fn yolo_reads_classes_txt_and_data_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    png(&d.join("images/x.png"), 20, 10, true);
    png(&d.join("images/y.png"), 10, 10, false);
    write(
        &d.join("labels/x.txt"),
        "0 0.5 0.5 0.5 0.4\n\n1 0.1 0.2 0.2 0.4\n",
    );
    write(&d.join("classes.txt"), "cat\ndog\n\n");
    let name = format!("yolo:{}", d.display());
    let ds = formats::load(&name).unwrap();
    assert_eq!(ds.classes, ["cat", "dog"]);
    assert_eq!(ds.train.len(), 2);
    let x = &ds.train[0];
    assert_eq!(
        (x.id, x.file.as_str(), x.width, x.height),
        (1, "x.png", 20, 10)
    );
    assert_eq!(x.objects.len(), 2);
    assert!(close(x.objects[0].bbox, [5.0, 3.0, 10.0, 4.0]));
    assert!(close(x.objects[1].bbox, [0.0, 0.0, 4.0, 4.0]));
    assert_eq!((x.objects[0].class, x.objects[1].class), (0, 1));
    assert!(ds.train[1].objects.is_empty(), "no label file: no objects");
    std::fs::remove_file(d.join("classes.txt")).unwrap();
    for yaml_text in [
        "path: ../x\ntrain: images\nnc: 2\nnames: [cat, 'dog']  # two\n",
        "train: images\nnames:\n  0: cat\n  1: \"dog\"\nval: images\n",
        "names:\n- cat\n- dog\n",
        "names: {1: dog, 0: cat}\n",
    ] {
        write(&d.join("data.yaml"), yaml_text);
        assert_eq!(
            formats::load(&name).unwrap().classes,
            ["cat", "dog"],
            "{yaml_text}"
        );
    }
    assert!(
        yaml::names("names:\n  0: a\n  2: b\n")
            .unwrap_err()
            .contains("0..K-1")
    );
    assert!(yaml::names("nc: 3\n").is_err());
    std::fs::remove_file(d.join("data.yaml")).unwrap();
    assert!(err(&name).contains("classes.txt"));
}

#[test]
fn yolo_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    png(&d.join("images/x.png"), 20, 10, true);
    write(&d.join("classes.txt"), "cat\ndog\n");
    let name = format!("yolo:{}", d.display());
    for (second, want) in [
        ("5 0.5 0.5 0.1 0.1", "class 5 is out of range"),
        ("1 0.5 1.5 0.1 0.1", "outside [0, 1]"),
        ("1 0.5 0.5 0.1", "4 fields"),
        ("1 0.5 0.5 0.1 -0.2", "outside [0, 1]"),
        ("1 0.5 0.5 0.0 0.1", "zero or negative"),
        ("1 0.9 0.5 0.4 0.1", "outside the 20x10 image"),
        ("x 0.5 0.5 0.1 0.1", "not a whole number"),
    ] {
        write(
            &d.join("labels/x.txt"),
            &format!("0 0.5 0.5 0.2 0.2\n{second}\n"),
        );
        let e = err(&name);
        assert!(e.contains("x.txt:2"), "{e}");
        assert!(e.contains(want), "{want}: {e}");
    }
}

const VOC_A: &str = r#"<?xml version="1.0"?>
<!-- written by hand, tags out of order -->
<annotation verified="yes">
  <size>
    <height>10</height>  <width>20</width> <depth>3</depth>
  </size>
  <object>
    <bndbox><ymax>5</ymax><xmin>1</xmin>
      <ymin>1</ymin>
      <xmax>10</xmax></bndbox>
    <name>dog</name>
  </object>
  <filename>
    a.png
  </filename>
  <object><name> cat </name><difficult>1</difficult><truncated>0</truncated>
    <bndbox><xmin>11</xmin><ymin>3</ymin><xmax>20</xmax><ymax>10</ymax></bndbox>
  </object>
</annotation>
"#;

#[test]
fn voc_reads_difficult_and_one_based_boxes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    png(&d.join("JPEGImages/a.png"), 20, 10, false);
    png(&d.join("JPEGImages/b.png"), 8, 8, true);
    write(&d.join("Annotations/a.xml"), VOC_A);
    write(
        &d.join("Annotations/b.xml"),
        "<annotation><filename>b.png</filename><object><name>bird</name>\
         <bndbox><xmin>2</xmin><ymin>2</ymin><xmax>8</xmax><ymax>8</ymax></bndbox></object></annotation>",
    );
    let ds = formats::load(&format!("voc:{}", d.display())).unwrap();
    assert_eq!(ds.classes, ["bird", "cat", "dog"]);
    let a = &ds.train[0];
    assert_eq!((a.id, a.file.as_str(), a.pixels.len()), (1, "a.png", 600));
    assert!(
        close(a.objects[0].bbox, [0.0, 0.0, 10.0, 5.0]),
        "{:?}",
        a.objects[0]
    );
    assert_eq!((a.objects[0].class, a.objects[0].ignore), (2, false));
    assert!(close(a.objects[1].bbox, [10.0, 2.0, 10.0, 8.0]));
    assert_eq!((a.objects[1].class, a.objects[1].ignore), (1, true));
    assert_eq!(a.objects[1].area, 80.0);
    let b = &ds.train[1];
    assert!(close(b.objects[0].bbox, [1.0, 1.0, 7.0, 7.0]));
    assert_eq!(b.objects[0].class, 0);
}

#[test]
fn voc_errors_name_the_file_and_object() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    png(&d.join("JPEGImages/a.png"), 20, 10, false);
    let name = format!("voc:{}", d.display());
    let bad = VOC_A.replace("<xmax>10</xmax>", "<xmax>30</xmax>");
    write(&d.join("Annotations/a.xml"), &bad);
    let e = err(&name);
    assert!(
        e.contains("a.xml") && e.contains("object 1 `dog`") && e.contains("outside"),
        "{e}"
    );
    let bad = VOC_A.replace("<xmax>10</xmax>", "<xmax>0</xmax>");
    write(&d.join("Annotations/a.xml"), &bad);
    assert!(err(&name).contains("zero or negative"));
    write(
        &d.join("Annotations/a.xml"),
        &VOC_A.replace("a.png", "gone.jpg"),
    );
    let e = err(&name);
    assert!(
        e.contains("a.xml") && e.contains("gone.jpg") && e.contains("does not exist"),
        "{e}"
    );
    write(&d.join("Annotations/a.xml"), &VOC_A.replace("</size>", ""));
    let e = err(&name);
    assert!(e.contains("a.xml") && e.contains("bad XML"), "{e}");
}

#[test]
fn split_test_is_fixed_by_scene_id() {
    let scene = |id| Scene {
        id,
        file: String::new(),
        width: 1,
        height: 1,
        pixels: vec![0.0; 3],
        objects: vec![],
    };
    let all: Vec<Scene> = (1..=20).map(scene).collect();
    let (train, test) = formats::split_test(all.clone(), 0.25);
    assert_eq!((train.len(), test.len()), (15, 5));
    let ids = |v: &[Scene]| v.iter().map(|s| s.id).collect::<Vec<_>>();
    let reversed = formats::split_test(all.into_iter().rev().collect(), 0.25);
    assert_eq!(
        (ids(&reversed.0), ids(&reversed.1)),
        (ids(&train), ids(&test))
    );
    assert!(ids(&test).windows(2).all(|w| w[0] < w[1]));
    assert_ne!(ids(&test), [1, 2, 3, 4, 5], "not simply the first ids");
}

#[test]
fn export_reads_back_through_coco() {
    let ds = scenes::digit_scenes(&ScenesConfig {
        train_scenes: 6,
        test_scenes: 4,
        ..ScenesConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    export::export_coco(&ds, &out).unwrap();
    for (split, scenes) in [("train", &ds.train), ("test", &ds.test)] {
        let back = formats::load(&format!("coco:{}/{split}.json", out.display())).unwrap();
        assert_eq!(back.classes, ds.classes);
        assert_eq!(back.train.len(), scenes.len());
        for (a, b) in scenes.iter().zip(&back.train) {
            assert_eq!((a.id, a.width, a.height), (b.id, b.width, b.height));
            assert_eq!(b.file, format!("{split}/{:06}.png", a.id));
            assert_eq!(a.objects, b.objects, "boxes, classes and areas exact");
            let plane = a.width * a.height;
            for (p, q) in a.pixels.iter().zip(&b.pixels[..plane]) {
                assert!((p - q).abs() <= 0.5 / 255.0 + 1e-6, "{p} vs {q}");
            }
        }
    }
    let files: Vec<String> = walkdir::WalkDir::new(&out)
        .into_iter()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!files.iter().any(|f| f.ends_with(".tmp")), "{files:?}");
    let e = format!("{:#}", export::export_coco(&ds, &out).unwrap_err());
    assert!(e.contains("not empty"), "{e}");
}

#[test]
fn export_keeps_crowd_ignore_and_fractional_boxes() {
    let mut s = rect_scene(3, 5, 10, 9);
    s.objects[0].crowd = true;
    s.objects.push(Object {
        bbox: BBox {
            x: 1.25,
            y: 2.5,
            w: 3.125,
            h: 7.75,
        },
        class: 0,
        crowd: false,
        ignore: true,
        area: 11.0,
    });
    let ds = DetDataset {
        name: "t".into(),
        channels: 1,
        classes: vec!["a".into(), "b".into(), "c".into()],
        category_ids: vec![1, 2, 3],
        train: vec![s.clone()],
        test: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    export::export_coco(&ds, dir.path()).unwrap();
    let back = formats::load(&format!("coco:{}/train.json", dir.path().display())).unwrap();
    assert_eq!(back.train[0].objects, s.objects);
    let mut bad = ds.clone();
    bad.train[0].objects[0].class = 3;
    let e = format!(
        "{:#}",
        export::export_coco(&bad, &dir.path().join("new")).unwrap_err()
    );
    assert!(e.contains("class 3"), "{e}");
}
