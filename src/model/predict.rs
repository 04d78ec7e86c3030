//! `sweep predict`: a backbone with named or file weights classifies images, the sanity check a
//! user runs before trusting a checkpoint.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};

use super::{hub, weights};
use crate::schema::ModelSpec;

/// ImageNet-1k's class names in index order (torchvision's `_IMAGENET_CATEGORIES`).
const IMAGENET_CLASSES: &str = include_str!("../../assets/imagenet_classes.txt");

/// The name of ImageNet class `i`.
pub fn imagenet_class(i: usize) -> &'static str {
    IMAGENET_CLASSES.lines().nth(i).unwrap_or("?")
}

/// What the network made of one image.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// The image file.
    pub image: PathBuf,
    /// The raw logits, one per class.
    pub logits: Vec<f32>,
    /// The most probable classes, best first: (index, probability).
    pub top: Vec<(usize, f32)>,
}

/// A network ready to classify: the backbone with its weights, input size and normalisation.
pub struct Predictor {
    net: super::Network,
    size: usize,
    channels: usize,
    mean: Vec<f32>,
    std: Vec<f32>,
    device: Device,
}

impl Predictor {
    /// `backbone` with `weights` (a name such as `imagenet`, or a file: a named checkpoint's
    /// own file keeps its normalisation; any other needs a 1000-class ImageNet head trained on
    /// torchvision's normalisation), at `size` pixels (default: the weights' own, else 224).
    pub fn new(backbone: &str, weights: &str, size: Option<usize>) -> anyhow::Result<Predictor> {
        let Some(info) = super::find(backbone) else {
            let names: Vec<&str> = super::BACKBONES.iter().map(|b| b.name).collect();
            bail!(
                "unknown backbone `{backbone}`; `sweep models` lists them: {}",
                names.join(", ")
            );
        };
        let (path, known) = match hub::is_tag(weights) {
            true => {
                let known = hub::find(backbone, weights).map_err(anyhow::Error::msg)?;
                (hub::resolve(known)?, Some(known))
            }
            false => {
                let path = PathBuf::from(weights);
                let known = hub::by_file(backbone, &path);
                (path, known)
            }
        };
        let classes = known.map_or(1000, |k| k.classes);
        let size = size.or(known.map(|k| k.resolution)).unwrap_or(224);
        if size < info.min_input {
            bail!(
                "`{backbone}` needs images of at least {0}x{0}",
                info.min_input
            );
        }
        let spec = ModelSpec {
            backbone: backbone.into(),
            input_size: size,
            ..ModelSpec::default()
        };
        let device = Device::flex();
        let (net, report) = weights::load(super::build(&spec, 3, classes, 0, &device), &path)?;
        if !report.is_complete() {
            bail!(
                "{} does not fit `{backbone}` with a {classes}-class head: {}",
                path.display(),
                report.describe()
            );
        }
        let n = known.map_or(hub::TORCHVISION_NORMALISATION, |k| k.normalisation);
        Ok(Predictor::with_network(
            net,
            size,
            3,
            n.mean.to_vec(),
            n.std.to_vec(),
        ))
    }

    /// A trained network (a run's) for `channels`-channel `size`-pixel images, normalised by
    /// the per-channel `mean` and `std` of pixels in [0, 1].
    pub fn with_network(
        net: super::Network,
        size: usize,
        channels: usize,
        mean: Vec<f32>,
        std: Vec<f32>,
    ) -> Predictor {
        Predictor {
            net,
            size,
            channels,
            mean,
            std,
            device: Device::flex(),
        }
    }

    /// The input size images are brought to.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Logits of CHW RGB pixels in [0, 1] of `size` x `size` (made grey, ITU-R 601 luma, for a
    /// network of grey images).
    pub fn logits(&self, pixels: &[f32]) -> Vec<f32> {
        let plane = self.size * self.size;
        let grey: Vec<f32>;
        let pixels = match self.channels {
            1 => {
                grey = (0..plane)
                    .map(|i| {
                        0.299 * pixels[i]
                            + 0.587 * pixels[plane + i]
                            + 0.114 * pixels[2 * plane + i]
                    })
                    .collect();
                &grey[..]
            }
            _ => pixels,
        };
        let x: Vec<f32> = pixels
            .iter()
            .enumerate()
            .map(|(i, v)| (v - self.mean[i / plane]) / self.std[i / plane])
            .collect();
        let x = Tensor::<4>::from_data(
            TensorData::new(x, [1, self.channels, self.size, self.size]),
            &self.device,
        );
        let y = self.net.forward(x, None);
        y.into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default()
    }

    /// The `top` most probable classes of an image file.
    pub fn predict(&self, image: &Path, top: usize) -> anyhow::Result<Prediction> {
        let pixels = crate::data::formats::image_rgb(image, self.size)
            .with_context(|| format!("cannot read the image {}", image.display()))?;
        let logits = self.logits(&pixels);
        let probs = softmax(Tensor::<1>::from_floats(logits.as_slice(), &self.device), 0)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let mut order: Vec<usize> = (0..probs.len()).collect();
        // Ties broken by index, so the order is the same everywhere.
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
        Ok(Prediction {
            image: image.to_path_buf(),
            logits,
            top: order.into_iter().take(top).map(|i| (i, probs[i])).collect(),
        })
    }
}
