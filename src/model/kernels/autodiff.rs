//! Autodiff's [`Kernels`]: each op runs the inner backend's kernel forward and registers a
//! hand-written backward that calls the inner backend's gradient kernels (one call per layer,
//! where burn's generic backward would decompose it into many small ops).

use burn::backend::AutodiffBackend;
use burn::backend::Backend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;

use super::{Kernels, activate};

#[derive(Debug)]
struct ConvBackward;

impl<B: Backend + Kernels> Backward<B, 2> for ConvBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, w, options) = ops.state;
        match (node_x, node_w) {
            (Some(nx), Some(nw)) => {
                let (gx, gw) = B::conv2d_grads(x, w, grad, options);
                grads.register::<B>(nx.id, gx);
                grads.register::<B>(nw.id, gw);
            }
            (Some(nx), None) => grads.register::<B>(nx.id, B::conv2d_x_grad(x, w, grad, options)),
            (None, Some(nw)) => {
                grads.register::<B>(nw.id, B::conv2d_weight_grad(x, w, grad, options))
            }
            (None, None) => {}
        }
    }
}

#[derive(Debug)]
struct BiasedConvBackward;

impl<B: Backend + Kernels> Backward<B, 3> for BiasedConvBackward {
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        ConvOptions<2>,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, w, b, options) = ops.state;
        match (node_w, node_b) {
            // Weight and bias trained (the common case): one call for all gradients.
            (Some(nw), Some(nb)) => {
                let want_x = node_x.is_some();
                let (gx, gw, gb) = B::conv2d_biased_grads(x, w, b, grad, options, want_x);
                if let Some(nx) = node_x {
                    grads.register::<B>(nx.id, gx);
                }
                grads.register::<B>(nw.id, gw);
                grads.register::<B>(nb.id, gb);
            }
            // A partly frozen layer: each gradient on its own, as burn computes them.
            (nw, nb) => {
                if let Some(nx) = node_x {
                    let gx = B::conv2d_x_grad(x.clone(), w.clone(), grad.clone(), options.clone());
                    grads.register::<B>(nx.id, gx);
                }
                if let Some(nw) = nw {
                    let gw = B::conv2d_weight_grad(x.clone(), w, grad.clone(), options);
                    grads.register::<B>(nw.id, gw);
                }
                if let Some(nb) = nb {
                    grads.register::<B>(nb.id, B::conv2d_bias_backward(x, b, grad));
                }
            }
        }
    }
}

#[derive(Debug)]
struct BnBackward;

impl<B: Backend + Kernels> Backward<B, 3> for BnBackward {
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        f64,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, gamma, mean, kept, epsilon) = ops.state;
        let (gx, ggamma, gbeta) = B::bn_train_grads(x, gamma, mean, kept, epsilon, grad);
        for (node, g) in [(node_x, gx), (node_gamma, ggamma), (node_beta, gbeta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

#[derive(Debug)]
struct BnActBackward;

impl<B: Backend + Kernels> Backward<B, 3> for BnActBackward {
    type State = ([FloatTensor<B>; 6], f64, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let ([x, gamma, beta, mean, kept, out], epsilon, ceiling) = ops.state;
        let (gx, ggamma, gbeta) =
            B::bn_act_train_grads(x, gamma, beta, mean, kept, epsilon, out, ceiling, grad);
        for (node, g) in [(node_x, gx), (node_gamma, ggamma), (node_beta, gbeta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

#[derive(Debug)]
struct ReluBackward;

impl<B: Backend + Kernels> Backward<B, 1> for ReluBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node {
            grads.register::<B>(node.id, B::relu_grad(ops.state, grad));
        }
    }
}

#[derive(Debug)]
struct LinearBackward;

impl<B: Backend + Kernels> Backward<B, 2> for LinearBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, w) = ops.state;
        let (gx, gw) = B::linear_mm_grads(x, w, grad, node_x.is_some(), node_w.is_some());
        if let (Some(node), Some(g)) = (node_x, gx) {
            grads.register::<B>(node.id, g);
        }
        if let (Some(node), Some(g)) = (node_w, gw) {
            grads.register::<B>(node.id, g);
        }
    }
}

#[derive(Debug)]
struct SiluBackward;

impl<B: Backend + Kernels> Backward<B, 1> for SiluBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node {
            grads.register::<B>(node.id, B::silu_grad(ops.state, grad));
        }
    }
}

/// A tensor of the autodiff backend over `B`.
type Tracked<B, C> = FloatTensor<Autodiff<B, C>>;

impl<B: Backend + Kernels, C: CheckpointStrategy> Kernels for Autodiff<B, C> {
    fn conv2d_nobias(
        x: Tracked<B, C>,
        weight: Tracked<B, C>,
        options: ConvOptions<2>,
    ) -> Tracked<B, C> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.into_primitive(), weight.into_primitive());
                let out = B::conv2d_nobias(x.clone(), w.clone(), options.clone());
                prep.finish((x, w, options), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_nobias(
                x.into_primitive(),
                weight.into_primitive(),
                options,
            )),
        }
    }

    fn conv2d_biased(
        x: Tracked<B, C>,
        weight: Tracked<B, C>,
        bias: Tracked<B, C>,
        options: ConvOptions<2>,
    ) -> Tracked<B, C> {
        let prepared = BiasedConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful();
        let (x, w, b) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        match prepared {
            OpsKind::Tracked(prep) => {
                let out = B::conv2d_biased(x.clone(), w.clone(), b.clone(), options.clone());
                prep.finish((x, w, b, options), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_biased(x, w, b, options)),
        }
    }

    fn bn_train(
        x: Tracked<B, C>,
        gamma: Tracked<B, C>,
        beta: Tracked<B, C>,
        epsilon: f64,
    ) -> (Tracked<B, C>, Tracked<B, C>, Tracked<B, C>, Tracked<B, C>) {
        let prepared = BnBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (x, gamma) = (x.into_primitive(), gamma.into_primitive());
        let (out, mean, var, kept) =
            B::bn_train(x.clone(), gamma.clone(), beta.into_primitive(), epsilon);
        let stats = |t| <Autodiff<B, C> as AutodiffBackend>::from_inner(t);
        let out = match prepared {
            OpsKind::Tracked(prep) => {
                prep.finish((x, gamma, mean.clone(), kept.clone(), epsilon), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (out, stats(mean), stats(var), stats(kept))
    }

    fn bn_eval(
        x: Tracked<B, C>,
        gamma: Tracked<B, C>,
        beta: Tracked<B, C>,
        mean: Tracked<B, C>,
        var: Tracked<B, C>,
        epsilon: f64,
    ) -> Tracked<B, C> {
        tracked_eval::<B, C>([x, gamma, beta, mean, var], epsilon, None)
    }

    fn bn_act_train(
        x: Tracked<B, C>,
        gamma: Tracked<B, C>,
        beta: Tracked<B, C>,
        epsilon: f64,
        ceiling: f64,
    ) -> (Tracked<B, C>, Tracked<B, C>, Tracked<B, C>, Tracked<B, C>) {
        let prepared = BnActBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let [x, gamma, beta] = [x, gamma, beta].map(|t| t.into_primitive());
        let (out, mean, var, kept) =
            B::bn_act_train(x.clone(), gamma.clone(), beta.clone(), epsilon, ceiling);
        let stats = |t| <Autodiff<B, C> as AutodiffBackend>::from_inner(t);
        let out = match prepared {
            OpsKind::Tracked(prep) => {
                let kept_all = [x, gamma, beta, mean.clone(), kept.clone(), out.clone()];
                prep.finish((kept_all, epsilon, ceiling), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (out, stats(mean), stats(var), stats(kept))
    }

    fn bn_act_eval(
        x: Tracked<B, C>,
        gamma: Tracked<B, C>,
        beta: Tracked<B, C>,
        mean: Tracked<B, C>,
        var: Tracked<B, C>,
        epsilon: f64,
        ceiling: f64,
    ) -> Tracked<B, C> {
        tracked_eval::<B, C>([x, gamma, beta, mean, var], epsilon, Some(ceiling))
    }

    fn linear_mm(x: Tracked<B, C>, w: Tracked<B, C>) -> Tracked<B, C> {
        match LinearBackward
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.into_primitive(), w.into_primitive());
                prep.finish((x.clone(), w.clone()), B::linear_mm(x, w))
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::linear_mm(x.into_primitive(), w.into_primitive()))
            }
        }
    }

    fn silu_op(x: Tracked<B, C>) -> Tracked<B, C> {
        match SiluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                prep.finish(x.clone(), B::silu_op(x))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::silu_op(x.into_primitive())),
        }
    }

    fn relu_op(x: Tracked<B, C>) -> Tracked<B, C> {
        match ReluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::relu_op(x.into_primitive());
                prep.finish(out.clone(), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::relu_op(x.into_primitive())),
        }
    }
}

/// Eval-mode batch norm of `[x, gamma, beta, mean, var]` on the autodiff backend, with
/// clamp(·, 0, ceiling) after it when there is one.
fn tracked_eval<B: Backend + Kernels, C: CheckpointStrategy>(
    [x, gamma, beta, mean, var]: [Tracked<B, C>; 5],
    epsilon: f64,
    ceiling: Option<f64>,
) -> Tracked<B, C> {
    // A gradient through an eval-mode layer (a frozen layer's statistics, trained layers
    // around it) takes burn's differentiable ops; a frozen prefix takes the native kernel.
    if x.is_tracked() || gamma.is_tracked() || beta.is_tracked() {
        let y = <Autodiff<B, C> as ModuleOps<Autodiff<B, C>>>::batch_norm(
            x, gamma, beta, mean, var, epsilon,
        );
        return match ceiling {
            Some(c) => activate::<Autodiff<B, C>>(y, c),
            None => y,
        };
    }
    let [x, gamma, beta, mean, var] = [x, gamma, beta, mean, var].map(|t| t.into_primitive());
    let out = match ceiling {
        Some(c) => B::bn_act_eval(x, gamma, beta, mean, var, epsilon, c),
        None => B::bn_eval(x, gamma, beta, mean, var, epsilon),
    };
    <Autodiff<B, C> as AutodiffBackend>::from_inner(out)
}
