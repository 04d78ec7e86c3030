//! `sweep predict` (a pretrained backbone's ImageNet classes, or a trained run's classes) and
//! `sweep coco-eval` (COCO's twelve box numbers of a results file): checks on single files,
//! outside any sweep.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sweep::sweep as engine;

use super::{Command, Failure, Outcome};

/// `sweep predict`: with `--backbone` a pretrained network, with `--results` a trained run.
pub(super) fn predict(cmd: Command) -> Outcome {
    let Command::Predict {
        backbone,
        results,
        run,
        out,
        weights,
        images,
        top,
        size,
        logits,
    } = cmd
    else {
        unreachable!("the dispatch hands `predict` only its own verb")
    };
    match (backbone, results) {
        (Some(b), _) => predict_pretrained(&b, &weights, &images, top, size, logits),
        (None, Some(dir)) => {
            predict_run(&dir, &run, &images, top, out.as_deref()).map_err(Failure::Sweep)?;
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => unreachable!("clap requires one"),
    }
}

/// `sweep predict --backbone B`: each image's top ImageNet classes, or its raw logits.
fn predict_pretrained(
    backbone: &str,
    weights: &str,
    images: &[PathBuf],
    top: usize,
    size: Option<usize>,
    logits: bool,
) -> Outcome {
    use sweep::model::predict::{Predictor, imagenet_class};
    // Weights that will not load are a bad input (exit 2); an image that will not classify
    // stops there, after the images before it were printed (exit 1).
    let predictor = Predictor::new(backbone, weights, size).map_err(Failure::Input)?;
    for image in images {
        let p = predictor.predict(image, top).map_err(Failure::Image)?;
        if logits {
            let v: Vec<String> = p.logits.iter().map(|l| format!("{l:e}")).collect();
            println!("{}", v.join(" "));
        } else {
            println!("{}", image.display());
            for (i, prob) in p.top {
                println!("  {:5.1}%  {:>3}  {}", 100.0 * prob, i, imagenet_class(i));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sweep predict --results DIR`: a trained run's classes for image files, printed and, with
/// `out`, written as CSV (every image is read before anything is written).
fn predict_run(
    dir: &Path,
    run: &str,
    images: &[PathBuf],
    top: usize,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let (predictor, ids, id) = engine::export::predictor(dir, run)?;
    let name = |i: usize| ids.get(i).map_or(i.to_string(), u64::to_string);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["image", "class", "probability"])?;
    println!("run {id}");
    for image in images {
        let p = predictor.predict(image, top.max(1))?;
        println!("{}", image.display());
        for &(i, prob) in p.top.iter().take(top) {
            println!("  {:5.1}%  class {}", 100.0 * prob, name(i));
        }
        let (i, prob) = p.top[0];
        w.write_record([image.display().to_string(), name(i), format!("{prob:.6}")])?;
    }
    if let Some(out) = out {
        sweep::io::write_atomic(out, &w.into_inner()?)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// `sweep coco-eval TRUTH DETECTIONS`: a bad file exits 2, as a bad experiment file does.
pub(super) fn coco_eval(truth: &Path, detections: &Path, json: bool) -> Outcome {
    coco_stats(truth, detections, json).map_err(Failure::Input)?;
    Ok(ExitCode::SUCCESS)
}

/// The twelve COCO numbers of a results file, as a table or one JSON object.
fn coco_stats(truth: &Path, detections: &Path, json: bool) -> anyhow::Result<()> {
    use sweep::task::detect::eval;
    let (images, cats, gt) = eval::read_truth(truth)?;
    let dets = eval::read_detections(detections, &cats)?;
    let stats = eval::evaluate(&images, cats.len(), &gt, &dets)
        .map_err(|e| anyhow::anyhow!("{}: {e}", detections.display()))?;
    if json {
        println!("{}", serde_json::to_string(&stats)?);
        return Ok(());
    }
    const NAMES: [&str; 12] = [
        "AP    @[IoU=0.50:0.95 | area=   all | maxDets=100]",
        "AP    @[IoU=0.50      | area=   all | maxDets=100]",
        "AP    @[IoU=0.75      | area=   all | maxDets=100]",
        "AP    @[IoU=0.50:0.95 | area= small | maxDets=100]",
        "AP    @[IoU=0.50:0.95 | area=medium | maxDets=100]",
        "AP    @[IoU=0.50:0.95 | area= large | maxDets=100]",
        "AR    @[IoU=0.50:0.95 | area=   all | maxDets=  1]",
        "AR    @[IoU=0.50:0.95 | area=   all | maxDets= 10]",
        "AR    @[IoU=0.50:0.95 | area=   all | maxDets=100]",
        "AR    @[IoU=0.50:0.95 | area= small | maxDets=100]",
        "AR    @[IoU=0.50:0.95 | area=medium | maxDets=100]",
        "AR    @[IoU=0.50:0.95 | area= large | maxDets=100]",
    ];
    for (name, v) in NAMES.iter().zip(stats.to_array()) {
        println!("{name} = {v:.3}");
    }
    Ok(())
}
