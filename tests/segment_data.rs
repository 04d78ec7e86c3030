//! digit-scenes' segmentation masks: aligned with the scene pixel for pixel (ink labelled,
//! background 0) and each label inside a box of its class.

use sweep::detect::scenes::{self, INK, ScenesConfig};

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
