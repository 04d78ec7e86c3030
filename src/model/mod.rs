//! Models: a registry of backbones (one name, one constructor) and the network they build.

pub mod densenet;
pub mod download;
pub mod frozen;
pub mod head;
pub mod hub;
pub mod init;
pub mod kernels;
pub mod layers;
pub mod lite;
pub mod mobile;
pub mod predict;
pub mod pyramid;
pub mod registry;
pub mod resnet;
pub mod seqnet;
pub mod transplant;
pub mod weights;

use std::path::Path;

use anyhow::bail;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;

pub use densenet::DenseNet;
pub use lite::Lite;
pub use mobile::MobileNet;
pub use registry::{BACKBONES, BackboneInfo, can_split, find, linear_head, parts};
pub use resnet::{ResNet, ResNetShape};
pub use seqnet::SeqNet;

use crate::schema::ModelSpec;
use crate::seed;

/// A network of any registered family.
// Held inline: burn's derive has no boxed variants, and there is one network per run.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network {
    /// `resnet-mini`, `resnet18`, `resnet34`, `resnet50`.
    ResNet(ResNet),
    /// `vgg11_bn`, `vgg16_bn`, `alexnet`.
    Seq(SeqNet),
    /// `mobilenet_v2`, `efficientnet_b0`.
    Mobile(MobileNet),
    /// `densenet121`.
    Dense(DenseNet),
    /// `efficientnet_lite0`, `efficientnet_lite1`, `efficientnet_lite2`.
    Lite(Lite),
}

/// Builds the network a spec describes, initialised from `seed`.
pub fn build(
    spec: &ModelSpec,
    in_channels: usize,
    classes: usize,
    seed: u64,
    device: &Device,
) -> Network {
    let info = find(&spec.backbone).expect("backbone names are validated");
    let rng = &mut seed::rng(seed, "init", 0);
    let net = (info.build)(spec, in_channels, classes, rng, device);
    match spec.custom_head() {
        Some((head, pool)) => {
            net.with_custom_head(&head, pool, spec.input_size, classes, rng, device)
        }
        None => net,
    }
}

/// The local file of `[model] weights`: the path itself, the cached download of a URL, or the
/// checkpoint a name (`imagenet`) stands for.
pub fn weights_file(spec: &ModelSpec) -> anyhow::Result<Option<std::path::PathBuf>> {
    match &spec.weights {
        None => Ok(None),
        Some(w) if hub::is_tag(w) => {
            let known = hub::find(&spec.backbone, w).map_err(anyhow::Error::msg)?;
            hub::resolve(known).map(Some)
        }
        Some(w) if download::is_url(w) => {
            let sha = spec.sha256.as_deref().unwrap_or_default();
            download::fetch(w, sha, &download::cache_dir().join("weights")).map(Some)
        }
        Some(w) => Ok(Some(std::path::PathBuf::from(w))),
    }
}

/// The normalisation the run's weights were trained with, when they are named weights
/// (`imagenet`); `None`: each dataset's own per-channel mean and std.
pub fn normalisation(spec: &ModelSpec) -> Option<hub::Normalisation> {
    let w = spec.weights.as_deref().filter(|w| hub::is_tag(w))?;
    hub::find(&spec.backbone, w).ok().map(|k| k.normalisation)
}

/// Builds the network and loads PyTorch-named weights into it.
///
/// The head is replaced (initialised from `seed`) since its class count is the target's; weights
/// for 3-channel images fed 1-channel ones, or the reverse, get their first kernel refitted
/// (`layers::adapt_input_channels`). Any
/// other missing or wrongly shaped key is an error unless `allow_partial`.
pub fn pretrained(
    spec: &ModelSpec,
    path: &Path,
    in_channels: usize,
    classes: usize,
    seed: u64,
    allow_partial: bool,
    device: &Device,
) -> anyhow::Result<Network> {
    let (mut net, mut report) =
        weights::load(build(spec, in_channels, classes, seed, device), path)?;
    let first = net.first_conv_key();
    let theirs = report
        .wrong_shape
        .iter()
        .find(|(k, _, _)| *k == first)
        .and_then(|(_, _, got)| got.get(1).copied());
    if let Some(theirs) = theirs.filter(|&t| t != in_channels && (t == 1 || in_channels == 1)) {
        let (other, r) = weights::load(build(spec, theirs, classes, seed, device), path)?;
        (net, report) = (other.adapt_input_channels(in_channels), r);
    }
    let head = net.head_prefix();
    report.missing.retain(|k| !k.starts_with(&head));
    report.wrong_shape.retain(|(k, _, _)| !k.starts_with(&head));
    if !report.is_complete() && !allow_partial {
        bail!(
            "{} does not fit `{}`: {}; fix the file or set `allow_partial = true` in [model]",
            path.display(),
            spec.backbone,
            report.describe()
        );
    }
    Ok(net.with_head(classes, &mut seed::rng(seed, "head", 0), device))
}

/// What `freeze_depth` = `depth` freezes, e.g. `stem, layer1: 0.08M of 2.78M backbone parameters`.
pub fn freeze_summary(spec: &ModelSpec, depth: usize) -> String {
    let net = build(spec, 3, 10, 0, &Device::flex());
    let (parts, params) = (net.parts(), net.part_params());
    let frozen: usize = params.iter().take(depth).sum();
    let total: usize = params.iter().sum();
    let names = if depth == 0 {
        "nothing".to_string()
    } else {
        parts[..depth.min(parts.len())].join(", ")
    };
    format!(
        "{names}: {} of {} backbone parameters",
        count(frozen),
        count(total)
    )
}

/// Approximate size in bytes of a classification run's saved weights (`model.safetensors`):
/// every parameter and batch-norm statistic as f32, for `classes` classes and 3-channel input.
pub fn saved_bytes(spec: &ModelSpec, classes: usize) -> usize {
    struct Floats(usize);
    impl burn::module::ModuleVisitor for Floats {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            self.0 += p.shape().num_elements();
        }
    }
    let mut f = Floats(0);
    build(spec, 3, classes.max(1), 0, &Device::flex()).visit(&mut f);
    4 * f.0
}

fn count(n: usize) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

/// What happens to a part: `Freeze` (gradients off, batch norm and dropout in eval mode),
/// `NoGrad` (the `train` BN policy: gradients off, batch norm statistics still updated) or
/// `Thaw` (trainable again, for gradual unfreezing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Gradients off, eval mode.
    Freeze,
    /// Gradients off, training mode.
    NoGrad,
    /// Gradients on, training mode.
    Thaw,
}

impl Stop {
    /// The freezing a BN policy asks for.
    pub fn for_policy(bn_train: bool) -> Stop {
        if bn_train { Stop::NoGrad } else { Stop::Freeze }
    }

    /// Applies to one module.
    pub fn apply<M: Module>(self, m: M) -> M {
        match self {
            Stop::Freeze => m.freeze(),
            Stop::NoGrad => m.no_grad(),
            Stop::Thaw => m.unfreeze(),
        }
    }
}

/// Ids of every float parameter of a module (read only: nothing is cloned or mapped).
pub fn param_ids<M: Module>(m: &M) -> Vec<burn::module::ParamId> {
    struct Ids(Vec<burn::module::ParamId>);
    impl burn::module::ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            self.0.push(p.id);
        }
    }
    let mut v = Ids(Vec::new());
    m.visit(&mut v);
    v.0
}

impl Network {
    /// Logits `[batch, classes]`; `rng` enables dropout (training only).
    pub fn forward(&self, x: Tensor<4>, rng: Option<&mut StdRng>) -> Tensor<2> {
        self.forward_dropout(x, rng, 0.0)
    }

    /// Logits with dropout of probability `p` before the classification layer of a ResNet or
    /// DenseNet (the other families have their own in the classifier).
    pub fn forward_dropout(&self, x: Tensor<4>, mut rng: Option<&mut StdRng>, p: f64) -> Tensor<2> {
        match self {
            Network::ResNet(r) => {
                let x = layers::dropout(r.features(x), rng.as_deref_mut(), p);
                r.fc.forward(x, rng)
            }
            Network::Seq(s) => s.forward(x, rng),
            Network::Mobile(m) => m.forward(x, rng),
            Network::Dense(d) => {
                let x = layers::dropout(d.pooled(x), rng.as_deref_mut(), p);
                d.classifier.forward(x, rng)
            }
            Network::Lite(l) => l.forward_from(x, 0, rng),
        }
    }

    /// Whether [`prefix`](Self::prefix) and [`forward_from`](Self::forward_from) can split
    /// this family (ResNets, VGG, AlexNet and EfficientNet-Lite; the others run whole).
    pub fn can_split(&self) -> bool {
        matches!(
            self,
            Network::ResNet(_) | Network::Seq(_) | Network::Lite(_)
        )
    }

    /// Output of the first `k` ≥ 1 parts, in inference; `None` for a family that cannot split.
    pub fn prefix(&self, x: Tensor<4>, k: usize) -> Option<Tensor<4>> {
        match self {
            Network::ResNet(r) if k >= 1 => Some(r.prefix(x, k)),
            Network::Seq(s) if k >= 1 => Some(s.prefix(x, k)),
            Network::Lite(l) if k >= 1 => Some(l.prefix(x, k)),
            _ => None,
        }
    }

    /// Logits from `x`, the output of the first `k` parts (`k` = 0: the images themselves).
    /// `k` > 0 only for families that [`can_split`](Self::can_split).
    pub fn forward_from(
        &self,
        x: Tensor<4>,
        k: usize,
        mut rng: Option<&mut StdRng>,
        p: f64,
    ) -> Tensor<2> {
        match self {
            _ if k == 0 => self.forward_dropout(x, rng, p),
            Network::ResNet(r) => {
                let x = layers::dropout(r.features_from(x, k), rng.as_deref_mut(), p);
                r.fc.forward(x, rng)
            }
            Network::Seq(s) => s.forward_from(x, k, rng),
            Network::Lite(l) => l.forward_from(x, k, rng),
            _ => panic!("forward_from({k}) on a network that cannot split"),
        }
    }

    /// Output of every freezable part, in order (for parity checks).
    pub fn stages(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        match self {
            Network::ResNet(r) => r.stages(x),
            Network::Seq(s) => s.stages(x),
            Network::Mobile(m) => m.stages(x),
            Network::Dense(d) => d.stages(x),
            Network::Lite(l) => l.stages(x),
        }
    }

    /// Names of the freezable parts.
    pub fn parts(&self) -> Vec<String> {
        match self {
            Network::ResNet(r) => r.parts(),
            Network::Seq(s) => s.parts(),
            Network::Mobile(m) => m.parts(),
            Network::Dense(d) => d.parts(),
            Network::Lite(l) => l.parts(),
        }
    }

    /// Parameter count of each freezable part.
    pub fn part_params(&self) -> Vec<usize> {
        match self {
            Network::ResNet(r) => r.part_params(),
            Network::Seq(s) => s.part_params(),
            Network::Mobile(m) => m.part_params(),
            Network::Dense(d) => d.part_params(),
            Network::Lite(l) => l.part_params(),
        }
    }

    /// Freezes the first `k` parts: no gradients; batch norm in eval mode with fixed statistics,
    /// unless `bn_train` lets the frozen parts' batch norms keep updating their statistics.
    pub fn freeze_leading(self, k: usize, bn_train: bool) -> Network {
        self.apply_leading(k, Stop::for_policy(bn_train))
    }

    /// Makes exactly the first `k` parts frozen (the others trainable), for gradual unfreezing.
    pub fn set_frozen(self, k: usize, bn_train: bool) -> Network {
        let n = self.parts().len();
        self.apply_leading(n, Stop::Thaw)
            .freeze_leading(k, bn_train)
    }

    /// Parameter ids of every part, in order (for per-part learning rates).
    pub fn part_param_ids(&self) -> Vec<Vec<burn::module::ParamId>> {
        match self {
            Network::ResNet(r) => r.part_ids(),
            Network::Seq(s) => s.part_ids(),
            Network::Mobile(m) => m.part_ids(),
            Network::Dense(d) => d.part_ids(),
            Network::Lite(l) => l.part_ids(),
        }
    }

    fn apply_leading(self, k: usize, stop: Stop) -> Network {
        match self {
            Network::ResNet(r) => Network::ResNet(r.freeze_leading(k, stop)),
            Network::Seq(s) => Network::Seq(s.freeze_leading(k, stop)),
            Network::Mobile(m) => Network::Mobile(m.freeze_leading(k, stop)),
            Network::Dense(d) => Network::Dense(d.freeze_leading(k, stop)),
            Network::Lite(l) => Network::Lite(l.freeze_leading(k, stop)),
        }
    }

    /// Replaces the classification layer with a fresh one of `classes` outputs.
    pub fn with_head(self, classes: usize, rng: &mut StdRng, device: &Device) -> Network {
        match self {
            Network::ResNet(r) => Network::ResNet(r.with_head(classes, rng, device)),
            Network::Seq(s) => Network::Seq(s.with_head(classes, rng, device)),
            Network::Mobile(m) => Network::Mobile(m.with_head(classes, rng, device)),
            Network::Dense(d) => Network::Dense(d.with_head(classes, rng, device)),
            Network::Lite(l) => Network::Lite(l.with_head(classes, rng, device)),
        }
    }

    /// Replaces torchvision's head by `head` after `pool`, sized for `input_size` images.
    pub fn with_custom_head(
        self,
        head: &head::Head,
        pool: head::Pool,
        input_size: usize,
        classes: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Network {
        // An inference copy: a probe through the training network would move batch norm's
        // running statistics.
        let inner = device.clone().inner();
        let probe = Tensor::<4>::zeros([1, self.in_channels(), input_size, input_size], &inner);
        let [_, c, h, w] = self
            .valid()
            .stages(probe)
            .pop()
            .expect("a backbone has parts")
            .dims();
        let layers = head.layers(head::input_width([c, h, w], pool), classes, rng, device);
        let classifier = || match layers.as_slice() {
            [layers::Dense::Linear(l)] => head::Classifier::Linear(l.clone()),
            _ => head::Classifier::Seq(layers.clone()),
        };
        match self {
            Network::ResNet(mut r) => {
                r.fc = classifier();
                r.custom = Some(pool);
                Network::ResNet(r)
            }
            Network::Dense(mut d) => {
                d.classifier = classifier();
                d.custom = Some(pool);
                Network::Dense(d)
            }
            Network::Seq(mut s) => {
                s.set_head(layers, pool);
                Network::Seq(s)
            }
            Network::Mobile(mut m) => {
                m.classifier = layers;
                m.custom = Some(pool);
                Network::Mobile(m)
            }
            Network::Lite(mut l) => {
                l._fc = classifier();
                l.custom = Some(pool);
                Network::Lite(l)
            }
        }
    }

    /// Moves the head's gradients out of `grads` (the rest is the backbone's).
    pub fn head_grads(&self, grads: &mut burn::tensor::Gradients) -> GradientsParams {
        match self {
            Network::ResNet(r) => GradientsParams::from_module(grads, &r.fc),
            Network::Seq(s) => GradientsParams::from_module(grads, &s.classifier),
            Network::Mobile(m) => GradientsParams::from_module(grads, &m.classifier),
            Network::Dense(d) => GradientsParams::from_module(grads, &d.classifier),
            Network::Lite(l) => GradientsParams::from_module(grads, &l._fc),
        }
    }

    /// Key prefix of the classification layer replaced for a new class count.
    pub fn head_prefix(&self) -> String {
        match self {
            Network::ResNet(_) => "fc.".into(),
            Network::Seq(s) if s.custom.is_some() => "classifier.".into(),
            Network::Mobile(m) if m.custom.is_some() => "classifier.".into(),
            Network::Seq(s) => format!("classifier.{}.", s.classifier.len() - 1),
            Network::Mobile(m) => format!("classifier.{}.", m.classifier.len() - 1),
            Network::Dense(_) => "classifier.".into(),
            Network::Lite(_) => "_fc.".into(),
        }
    }

    fn first_conv_key(&self) -> String {
        match self {
            Network::ResNet(_) => "conv1.weight".into(),
            Network::Seq(_) => "features.0.weight".into(),
            Network::Mobile(_) => "features.0.0.weight".into(),
            Network::Dense(_) => "features.conv0.weight".into(),
            Network::Lite(_) => "_conv_stem.weight".into(),
        }
    }

    fn adapt_input_channels(self, to: usize) -> Network {
        match self {
            Network::ResNet(r) => Network::ResNet(r.adapt_input_channels(to)),
            Network::Seq(s) => Network::Seq(s.adapt_input_channels(to)),
            Network::Mobile(m) => Network::Mobile(m.adapt_input_channels(to)),
            Network::Dense(d) => Network::Dense(d.adapt_input_channels(to)),
            Network::Lite(l) => Network::Lite(l.adapt_input_channels(to)),
        }
    }

    /// Input channels the network takes.
    pub fn in_channels(&self) -> usize {
        match self {
            Network::ResNet(r) => r.in_channels(),
            Network::Seq(s) => s.in_channels(),
            Network::Mobile(m) => m.in_channels(),
            Network::Dense(d) => d.in_channels(),
            Network::Lite(l) => l.in_channels(),
        }
    }
}
