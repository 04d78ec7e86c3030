//! What both dense tasks check of their settings (each task's rules call this).

use super::schema::RunConfig;
use super::validate::{Problem, problem, range};

/// What detection and segmentation check alike: the dataset's file or folder exists, the budget
/// is counted in images, and the table's (stride, width, canvas, train and test scenes) are in
/// range. `(task, images)`: the task's adjective and what its images are called.
pub fn dense_checks(
    c: &RunConfig,
    (task, images): (&str, &str),
    file: Option<std::path::PathBuf>,
    sizes: [(&'static str, usize); 5],
) -> Result<(), Problem> {
    if let Some(file) = file
        && !file.exists()
    {
        return Err(problem(
            "target.dataset",
            format!("{} does not exist", file.display()),
            "the path is relative to the folder `sweep` runs in",
        ));
    }
    if c.target.labels_per_class > 0 {
        return Err(problem(
            "target.labels_per_class",
            format!("counts images per class, which a {task} dataset does not have"),
            format!("write the budget as `labelled_images = N` (labelled training {images})"),
        ));
    }
    let limits = [
        (1, 64),
        (1, 1024),
        (16, 1024),
        (2, 1_000_000),
        (1, 1_000_000),
    ];
    for ((path, v), (lo, hi)) in sizes.into_iter().zip(limits) {
        range(path, v, lo, hi)?;
    }
    Ok(())
}
