//! Optimizers with PyTorch's defaults (burn's differ: see ../shared/notes/burn.md).

use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

use crate::schema::Optimizer;

/// Builds an optimizer; `weight_decay` is L2 except for AdamW, where it is decoupled;
/// `grad_clip` > 0 clips each parameter tensor's gradient to that L2 norm.
pub fn build(kind: Optimizer, weight_decay: f64, grad_clip: f64) -> ModuleOptimizer {
    let optim = build_unclipped(kind, weight_decay);
    match grad_clip > 0.0 {
        true => optim.with_grad_clipping(GradientClippingConfig::Norm(grad_clip as f32).init()),
        false => optim,
    }
}

fn build_unclipped(kind: Optimizer, weight_decay: f64) -> ModuleOptimizer {
    let l2 = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
    // PyTorch: momentum 0.9 is the usual choice, dampening 0 (burn defaults to 0.1).
    let momentum = |nesterov| {
        MomentumConfig::new()
            .with_momentum(0.9)
            .with_dampening(0.0)
            .with_nesterov(nesterov)
    };
    match kind {
        Optimizer::Sgd => SgdConfig::new().with_weight_decay(l2).init(),
        Optimizer::Momentum => SgdConfig::new()
            .with_weight_decay(l2)
            .with_momentum(Some(momentum(false)))
            .init(),
        Optimizer::Nesterov => SgdConfig::new()
            .with_weight_decay(l2)
            .with_momentum(Some(momentum(true)))
            .init(),
        Optimizer::Rmsprop => RmsPropConfig::new()
            .with_alpha(0.99)
            .with_momentum(0.0)
            .with_epsilon(1e-8)
            .with_weight_decay(l2)
            .init(),
        Optimizer::Adam => AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(l2)
            .init(),
        Optimizer::Adamw => AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(weight_decay as f32)
            .init(),
    }
}
