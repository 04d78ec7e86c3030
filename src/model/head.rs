//! Classifier heads: the family's own (torchvision's), a fresh linear layer or an MLP, after a
//! global average pool or a flatten of the backbone's last feature map.

use burn::module::Module;
use burn::nn::activation::{Gelu, Tanh};
use burn::nn::{Linear, Relu};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;

use super::layers::{Dense, Dropout, dense, linear};

pub use crate::schema::head::{Activation, Head, Pool, deserialize_head};

impl Head {
    /// The problem with this head's settings, if any.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Head::Linear => Ok(()),
            Head::Mlp { hidden, .. } if hidden.is_empty() => {
                Err("an MLP head needs at least one hidden layer".into())
            }
            Head::Mlp { hidden, .. } if hidden.contains(&0) => {
                Err("hidden layer widths must be at least 1".into())
            }
            Head::Mlp { dropout, .. } if !(0.0..1.0).contains(dropout) => {
                Err(format!("dropout {dropout} is out of range (0 to below 1)"))
            }
            Head::Mlp { .. } => Ok(()),
        }
    }

    /// The layers, as an `nn.Sequential` would index them: `Linear, act, [Dropout], ..., Linear`.
    pub fn layers(
        &self,
        d_in: usize,
        classes: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Vec<Dense> {
        let mut out = Vec::new();
        let mut d = d_in;
        if let Head::Mlp {
            hidden,
            activation,
            dropout,
        } = self
        {
            for &h in hidden {
                out.push(Dense::Linear(linear(d, h, rng, device)));
                out.push(match activation {
                    Activation::Relu => Dense::Relu(Relu::new()),
                    Activation::Gelu => Dense::Gelu(Gelu::new()),
                    Activation::Tanh => Dense::Tanh(Tanh::new()),
                });
                if *dropout > 0.0 {
                    out.push(Dense::Dropout(Dropout { p: *dropout }));
                }
                d = h;
            }
        }
        out.push(Dense::Linear(linear(d, classes, rng, device)));
        out
    }

    /// Short label for tables: `linear`, `mlp 256`, `mlp 512-256 gelu p0.5`.
    pub fn label(&self) -> String {
        match self {
            Head::Linear => "linear".into(),
            Head::Mlp {
                hidden,
                activation,
                dropout,
            } => {
                let widths: Vec<String> = hidden.iter().map(|h| h.to_string()).collect();
                let mut s = format!("mlp {}", widths.join("-"));
                if *activation != Activation::Relu {
                    s += &format!(" {activation:?}").to_lowercase();
                }
                if *dropout > 0.0 {
                    s += &format!(" p{dropout}");
                }
                s
            }
        }
    }
}

/// `[batch, features]` from a `[batch, c, h, w]` map.
pub fn pool(x: Tensor<4>, pool: Pool) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    match pool {
        Pool::Avg => x.mean_dim(3).mean_dim(2).reshape([n, c]),
        Pool::Flatten => x.reshape([n, c * h * w]),
    }
}

/// Width of the head's input for a `[c, h, w]` feature map.
pub fn input_width([c, h, w]: [usize; 3], pool: Pool) -> usize {
    match pool {
        Pool::Avg => c,
        Pool::Flatten => c * h * w,
    }
}

/// A classification layer that is one `nn.Linear` (`fc.weight`) or an `nn.Sequential`
/// (`fc.0.weight`, `fc.3.weight`, ...).
#[derive(Module, Debug)]
pub enum Classifier {
    /// torchvision's single linear layer.
    Linear(Linear),
    /// A head of several layers.
    Seq(Vec<Dense>),
}

impl Classifier {
    /// Logits from pooled features; `rng` enables the head's dropout (training).
    pub fn forward(&self, x: Tensor<2>, rng: Option<&mut StdRng>) -> Tensor<2> {
        match self {
            Classifier::Linear(l) => l.forward(x),
            Classifier::Seq(layers) => dense(layers, x, rng),
        }
    }

    /// The same layers re-initialised, the last with `classes` outputs.
    pub fn fresh(self, classes: usize, rng: &mut StdRng, device: &Device) -> Classifier {
        match self {
            Classifier::Linear(l) => {
                Classifier::Linear(linear(l.weight.dims()[0], classes, rng, device))
            }
            Classifier::Seq(layers) => Classifier::Seq(fresh(layers, classes, true, rng, device)),
        }
    }
}

/// `layers` with the last linear layer (or, when `whole`, every linear layer) re-initialised and
/// the last giving `classes` outputs.
pub fn fresh(
    mut layers: Vec<Dense>,
    classes: usize,
    whole: bool,
    rng: &mut StdRng,
    device: &Device,
) -> Vec<Dense> {
    let last = layers
        .iter()
        .rposition(|l| matches!(l, Dense::Linear(_)))
        .unwrap_or(0);
    for (i, l) in layers.iter_mut().enumerate() {
        if let Dense::Linear(lin) = l
            && (whole || i == last)
        {
            let [d_in, d_out] = lin.weight.dims();
            let d_out = if i == last { classes } else { d_out };
            *lin = linear(d_in, d_out, rng, device);
        }
    }
    layers
}
