//! Writes the scenes a detection experiment trains, validates and tests on, exactly as `sweep`
//! holds them (float pixels, boxes, the validation split and every run's labelled subset), so
//! that the PyTorch reference learner (scripts/reference/detect_ref.py) learns from the very same
//! data and a comparison measures the learners, not two draws of the data.
//!
//! `cargo run --release --example dense_scenes -- EXPERIMENT.toml OUT_DIR` writes
//! `OUT_DIR/scenes.safetensors` (`train` and `test`: `[n, channels, h, w]` f32) and
//! `OUT_DIR/scenes.json` (`classes`, per scene its id and objects `[x, y, w, h, class, ignore]`,
//! `val` ids, and `labelled[budget][seed]` ids).

use std::collections::BTreeMap;

use sweep::task::detect::{Scene, run};

fn objects(s: &Scene) -> serde_json::Value {
    let boxes: Vec<serde_json::Value> = s
        .objects
        .iter()
        .map(|o| {
            let b = o.bbox;
            serde_json::json!([b.x, b.y, b.w, b.h, o.class, o.crowd || o.ignore])
        })
        .collect();
    serde_json::json!({"id": s.id, "objects": boxes})
}

fn tensor(scenes: &[Scene]) -> (Vec<u8>, Vec<usize>) {
    let (c, h, w) = (
        scenes[0].pixels.len() / (scenes[0].height * scenes[0].width),
        scenes[0].height,
        scenes[0].width,
    );
    let bytes = scenes
        .iter()
        .flat_map(|s| s.pixels.iter().flat_map(|v| v.to_le_bytes()))
        .collect();
    (bytes, vec![scenes.len(), c, h, w])
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, out] = &args[..] else {
        eprintln!("usage: dense_scenes EXPERIMENT.toml OUT_DIR");
        std::process::exit(2);
    };
    let plan = sweep::spec::Plan::load(std::path::Path::new(file), sweep::task::rules)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let first = &plan.runs[0];
    let ds = run::dataset(first)?;
    let val_fraction = first.config.target.val_fraction;
    let mut labelled: BTreeMap<String, BTreeMap<String, Vec<u64>>> = BTreeMap::new();
    let mut val = Vec::new();
    for r in &plan.runs {
        let c = &r.config;
        let (train, v) = run::split(
            &ds,
            val_fraction,
            c.target.labelled_images,
            c.experiment.seed,
        );
        val = v.iter().map(|s| s.id).collect();
        labelled
            .entry(c.target.labelled_images.to_string())
            .or_default()
            .insert(
                c.experiment.seed.to_string(),
                train.iter().map(|s| s.id).collect(),
            );
    }
    std::fs::create_dir_all(out)?;
    let (train_bytes, train_shape) = tensor(&ds.train);
    let (test_bytes, test_shape) = tensor(&ds.test);
    let views = [
        (
            "train",
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                train_shape,
                &train_bytes,
            )?,
        ),
        (
            "test",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, test_shape, &test_bytes)?,
        ),
    ];
    safetensors::serialize_to_file(
        views,
        None,
        &std::path::Path::new(out).join("scenes.safetensors"),
    )?;
    let json = serde_json::json!({
        "classes": ds.classes.len(),
        "train": ds.train.iter().map(objects).collect::<Vec<_>>(),
        "test": ds.test.iter().map(objects).collect::<Vec<_>>(),
        "val": val,
        "labelled": labelled,
    });
    std::fs::write(
        std::path::Path::new(out).join("scenes.json"),
        serde_json::to_vec(&json)?,
    )?;
    eprintln!(
        "dense_scenes: {} train and {} test scenes, {} budgets into {out}",
        ds.train.len(),
        ds.test.len(),
        labelled.len()
    );
    Ok(())
}
