//! digit-scenes' segmentation masks: aligned with the scene pixel for pixel (ink labelled,
//! background 0) and each label inside a box of its class.

use sweep::task::detect::scenes::{self, INK, ScenesConfig};

#[test]
fn digit_scene_masks_label_exactly_the_ink_with_its_digits_class() {
    let cfg = ScenesConfig {
        train_scenes: 30,
        test_scenes: 10,
        ..ScenesConfig::default()
    };
    let mnist = sweep::data::registry::find("mnist-10k")
        .unwrap()
        .load()
        .unwrap();
    let g = scenes::generate_from(&cfg, &mnist).unwrap();
    let sides = [
        (&g.dataset.train, &g.train_placements),
        (&g.dataset.test, &g.test_placements),
    ];
    let mut labelled = 0;
    let mut classes_seen = std::collections::BTreeSet::new();
    for (scenes_, placements) in sides {
        for (scene, placed) in scenes_.iter().zip(placements) {
            let m = scenes::mask(cfg.canvas, &mnist, placed);
            assert_eq!(m.len(), scene.width * scene.height);
            for (i, (&label, &v)) in m.iter().zip(&scene.pixels).enumerate() {
                // Ink and only ink is labelled.
                assert_eq!(
                    label > 0,
                    v > INK,
                    "scene {} pixel {i}: {label} {v}",
                    scene.id
                );
                if label == 0 {
                    continue;
                }
                labelled += 1;
                classes_seen.insert(label);
                let (x, y) = ((i % scene.width) as f32, (i / scene.width) as f32);
                let inside = scene.objects.iter().any(|o| {
                    o.class + 1 == label as usize
                        && x >= o.bbox.x
                        && x < o.bbox.right()
                        && y >= o.bbox.y
                        && y < o.bbox.bottom()
                });
                assert!(
                    inside,
                    "scene {} pixel {i}: label {label} outside its boxes",
                    scene.id
                );
            }
        }
    }
    assert!(labelled > 1000, "{labelled}");
    assert_eq!(classes_seen.len(), 10, "{classes_seen:?}");
}

use sweep::task::segment::formats::{IGNORE, load_masks, read_mask};

/// Writes a PNG mask: `bits`-bit palette (`Some(bits)`), else 8-bit grey, or RGB with `rgb`.
fn write_mask(path: &std::path::Path, w: u32, h: u32, values: &[u8], kind: &str) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut e = png::Encoder::new(file, w, h);
    let data: Vec<u8> = match kind {
        "palette4" => {
            e.set_color(png::ColorType::Indexed);
            e.set_depth(png::BitDepth::Four);
            e.set_palette(
                (0..16u8)
                    .flat_map(|i| [i * 16, 0, 255 - i * 16])
                    .collect::<Vec<_>>(),
            );
            // Two pixels a byte, the first in the high nibble; rows padded to a byte.
            values
                .chunks(w as usize)
                .flat_map(|row| {
                    row.chunks(2)
                        .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0))
                        .collect::<Vec<_>>()
                })
                .collect()
        }
        "palette8" => {
            e.set_color(png::ColorType::Indexed);
            e.set_depth(png::BitDepth::Eight);
            e.set_palette(
                (0..=255u8)
                    .flat_map(|i| [i, i / 2, 255 - i])
                    .collect::<Vec<_>>(),
            );
            values.to_vec()
        }
        "grey" => {
            e.set_color(png::ColorType::Grayscale);
            e.set_depth(png::BitDepth::Eight);
            values.to_vec()
        }
        _ => {
            e.set_color(png::ColorType::Rgb);
            e.set_depth(png::BitDepth::Eight);
            values.iter().flat_map(|&v| [v, v, v]).collect()
        }
    };
    let mut w = e.write_header().unwrap();
    w.write_image_data(&data).unwrap();
}

fn write_image(path: &std::path::Path, w: u32, h: u32) {
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8 * 10, y as u8 * 10, 7]))
        .save(path)
        .unwrap();
}

#[test]
fn mask_files_load_as_class_indices_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (images, masks) = (dir.path().join("img"), dir.path().join("mask"));
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&masks).unwrap();
    // 5x3: an odd width, so 4-bit rows end half a byte short.
    let values: Vec<u8> = (0..15).map(|i| (i % 4) as u8).collect();
    for (name, kind) in [("a", "palette4"), ("b", "palette8"), ("c", "grey")] {
        write_image(&images.join(format!("{name}.png")), 5, 3);
        write_mask(&masks.join(format!("{name}.png")), 5, 3, &values, kind);
        let (w, h, m) = read_mask(&masks.join(format!("{name}.png"))).unwrap();
        assert_eq!((w, h, &m), (5, 3, &values), "{kind}");
    }
    // VOC's edge value is ignored, not a class.
    let mut edged = values.clone();
    edged[7] = IGNORE;
    write_mask(&masks.join("c.png"), 5, 3, &edged, "grey");
    let (samples, classes) = load_masks(&images, &masks, None).unwrap();
    assert_eq!(classes, 4);
    let files: Vec<&str> = samples.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(files, ["a.png", "b.png", "c.png"]);
    assert_eq!(samples[2].mask, edged);
    // Image pixels are channel-major, aligned with the mask: pixel (x=3, y=2) of red is 30.
    assert_eq!(samples[0].pixels[2 * 5 + 3], 30.0 / 255.0);

    let err = |r: anyhow::Result<(Vec<sweep::task::segment::formats::Sample>, usize)>| {
        format!("{:#}", r.unwrap_err())
    };
    let e = err(load_masks(&images, &masks, Some(3)));
    assert!(
        e.contains("a.png holds class 3, but the dataset has 3 classes"),
        "{e}"
    );
    write_mask(&masks.join("b.png"), 5, 3, &values, "rgb");
    let e = err(load_masks(&images, &masks, None));
    assert!(
        e.contains("b.png is a Rgb PNG") && e.contains("palette PNG"),
        "{e}"
    );
    write_mask(&masks.join("b.png"), 4, 3, &values[..12], "grey");
    let e = err(load_masks(&images, &masks, None));
    assert!(
        e.contains("b.png is 4x3 but its image") && e.contains("is 5x3"),
        "{e}"
    );
    std::fs::remove_file(masks.join("b.png")).unwrap();
    let e = err(load_masks(&images, &masks, None));
    assert!(e.contains("b.png has no mask: expected"), "{e}");
}

#[test]
fn a_voc_folder_loads_train_and_val_with_21_classes() {
    let dir = tempfile::tempdir().unwrap();
    let voc = dir.path().join("VOC2012");
    let sets = voc.join("ImageSets").join("Segmentation");
    for d in [
        &sets,
        &voc.join("JPEGImages"),
        &voc.join("SegmentationClass"),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(sets.join("train.txt"), "2007_000032\n2007_000039\n").unwrap();
    std::fs::write(sets.join("val.txt"), "2007_000033\n").unwrap();
    // Person (15) on background with an ignored edge, as VOC draws them.
    let values: Vec<u8> = (0..12)
        .map(|i| match i % 4 {
            0 => 0,
            1 => IGNORE,
            _ => 15,
        })
        .collect();
    for id in ["2007_000032", "2007_000039", "2007_000033"] {
        image::RgbImage::from_pixel(4, 3, image::Rgb([90, 120, 30]))
            .save(voc.join("JPEGImages").join(format!("{id}.jpg")))
            .unwrap();
        write_mask(
            &voc.join("SegmentationClass").join(format!("{id}.png")),
            4,
            3,
            &values,
            "palette8",
        );
    }
    let (train, val) = sweep::task::segment::formats::load_voc_seg(&voc).unwrap();
    assert_eq!((train.len(), val.len()), (2, 1));
    assert_eq!(train[1].file, "2007_000039.jpg");
    assert_eq!(val[0].mask, values);
    // A class VOC does not have, and a listed image without its files, are named.
    let mut bad = values.clone();
    bad[0] = 21;
    write_mask(
        &voc.join("SegmentationClass").join("2007_000033.png"),
        4,
        3,
        &bad,
        "palette8",
    );
    let e = format!(
        "{:#}",
        sweep::task::segment::formats::load_voc_seg(&voc).unwrap_err()
    );
    assert!(
        e.contains("2007_000033.png holds class 21, but the dataset has 21 classes"),
        "{e}"
    );
    std::fs::write(sets.join("val.txt"), "2007_009999\n").unwrap();
    let e = format!(
        "{:#}",
        sweep::task::segment::formats::load_voc_seg(&voc).unwrap_err()
    );
    assert!(e.contains("2007_009999.jpg does not exist"), "{e}");
    std::fs::remove_file(sets.join("val.txt")).unwrap();
    let e = format!(
        "{:#}",
        sweep::task::segment::formats::load_voc_seg(&voc).unwrap_err()
    );
    assert!(
        e.contains("val.txt") && e.contains("ImageSets/Segmentation/"),
        "{e}"
    );
}

/// `coco-seg:` rasterises each image's annotations into one mask (category order + 1,
/// background 0, a later annotation over an earlier, crowds ignored where nothing else is),
/// holds out a fixed fifth for testing, and names the file and annotation of a bad one.
#[test]
fn coco_segmentation_files_load_as_masks_and_bad_annotations_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let mut entries = Vec::new();
    let mut anns = Vec::new();
    for i in 0..10u64 {
        write_image(&images.join(format!("{i}.png")), 8, 6);
        entries.push(serde_json::json!({"id": i + 1, "file_name": format!("{i}.png"), "width": 8, "height": 6}));
        // Category 7 (class 1) fills x 0..4, y 0..3; category 3 (class 2) covers x 2..6 of it
        // after; a crowd RLE marks column 7.
        anns.push(
            serde_json::json!({"id": 3 * i + 1, "image_id": i + 1, "category_id": 7, "iscrowd": 0,
            "segmentation": [[0.0, 0.0, 4.0, 0.0, 4.0, 3.0, 0.0, 3.0]]}),
        );
        anns.push(
            serde_json::json!({"id": 3 * i + 2, "image_id": i + 1, "category_id": 3, "iscrowd": 0,
            "segmentation": [[2.0, 0.0, 6.0, 0.0, 6.0, 3.0, 2.0, 3.0]]}),
        );
        anns.push(
            serde_json::json!({"id": 3 * i + 3, "image_id": i + 1, "category_id": 3, "iscrowd": 1,
            "segmentation": {"size": [6, 8], "counts": [42, 6]}}),
        );
    }
    let coco = serde_json::json!({
        "images": entries,
        "annotations": anns,
        "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}],
    });
    let json = dir.path().join("ann.json");
    std::fs::write(&json, coco.to_string()).unwrap();
    let name = format!("coco-seg:{}:{}", json.display(), images.display());
    let ds = sweep::task::segment::data::load(&name, &Default::default()).unwrap();
    assert_eq!(ds.classes, ["background", "cat", "dog"]);
    assert_eq!((ds.train.len(), ds.test.len()), (8, 2));
    let m = &ds.train[0].mask;
    for y in 0..6 {
        for x in 0..8 {
            let want = match (x, y) {
                (7, _) => IGNORE,
                (0..=1, 0..=2) => 1,
                (2..=5, 0..=2) => 2,
                _ => 0,
            };
            assert_eq!(m[y * 8 + x], want, "pixel ({x}, {y})");
        }
    }
    // The split is by file name, so the same images are held out when the file is reordered.
    let again = sweep::task::segment::data::load(&name, &Default::default()).unwrap();
    assert_eq!(again.test, ds.test);

    let mut bad = coco.clone();
    bad["annotations"][4]["category_id"] = serde_json::json!(99);
    std::fs::write(&json, bad.to_string()).unwrap();
    let e = format!(
        "{:#}",
        sweep::task::segment::data::load(&name, &Default::default()).unwrap_err()
    );
    assert!(
        e.contains("ann.json annotation 4") && e.contains("99"),
        "{e}"
    );
    let mut bad = coco.clone();
    bad["annotations"][2]["segmentation"] = serde_json::json!({"size": [6, 8], "counts": [40]});
    std::fs::write(&json, bad.to_string()).unwrap();
    let e = format!(
        "{:#}",
        sweep::task::segment::data::load(&name, &Default::default()).unwrap_err()
    );
    assert!(e.contains("annotation 2") && e.contains("sum to 40"), "{e}");
    std::fs::remove_file(images.join("3.png")).unwrap();
    std::fs::write(&json, coco.to_string()).unwrap();
    let e = format!(
        "{:#}",
        sweep::task::segment::data::load(&name, &Default::default()).unwrap_err()
    );
    assert!(e.contains("3.png"), "{e}");
}
