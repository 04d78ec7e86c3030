//! `sweep datasets` and `sweep models`: what experiment files can name; and `sweep datasets
//! export`, which writes a detection dataset as COCO files for other tools.

use std::process::ExitCode;

use super::{DatasetsAction, ExportFormat, Failure, Outcome};

/// `sweep datasets`: the named datasets, then the file formats, by task.
pub(super) fn list() -> Outcome {
    for d in sweep::data::registry::DATASETS {
        println!("{:<16} {}", d.name, d.description);
    }
    println!("\nDatasets in files, named `format:path` (path relative to the current folder):");
    for f in sweep::data::formats::FORMATS {
        println!("{:<16} {}", format!("{}:PATH", f.prefix), f.description);
    }
    println!("\nDetection datasets (`sweep datasets export NAME DIR` writes one as COCO):");
    println!(
        "{:<16} {}",
        "digit-scenes",
        sweep::task::detect::scenes::DESCRIPTION
    );
    for (prefix, description) in sweep::task::detect::formats::FORMATS {
        println!("{:<16} {description}", format!("{prefix}:PATH"));
    }
    println!("\nSegmentation datasets (`task = \"segment\"`):");
    println!(
        "{:<16} {}",
        "digit-scenes",
        sweep::task::segment::data::DESCRIPTION
    );
    for (prefix, description) in sweep::task::segment::data::FORMATS {
        println!("{:<16} {description}", format!("{prefix}:PATH"));
    }
    Ok(ExitCode::SUCCESS)
}

/// `sweep datasets export NAME DIR`: the dataset as COCO JSON and PNG images; a bad name or a
/// folder that is not empty exits 2.
pub(super) fn export(action: DatasetsAction) -> Outcome {
    let DatasetsAction::Export {
        name,
        format: ExportFormat::Coco,
        dir,
        canvas,
        train_scenes,
        test_scenes,
    } = action;
    let scenes = sweep::task::detect::scenes::ScenesConfig {
        canvas,
        train_scenes,
        test_scenes,
        ..Default::default()
    };
    let ds = sweep::task::detect::load(&name, &scenes)
        .and_then(|ds| sweep::task::detect::export::export_coco(&ds, &dir).map(|()| ds))
        .map_err(Failure::Input)?;
    println!(
        "wrote {} ({} train and {} test scenes, {} classes) as COCO into {}",
        ds.name,
        ds.train.len(),
        ds.test.len(),
        ds.classes.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `sweep models`: the backbones, then the named weights each can load.
pub(super) fn models() -> Outcome {
    for b in sweep::model::BACKBONES {
        println!("{:<20} {}", b.name, b.description);
    }
    println!("\nNamed weights (`weights = \"NAME\"` in [model]):");
    for k in sweep::model::hub::KNOWN {
        println!("{:<20} {}: {}", k.backbone, k.tag, k.module);
    }
    Ok(ExitCode::SUCCESS)
}
